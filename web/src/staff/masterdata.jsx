// masterdata.jsx — the master data a town's officers edit: property-tax rate
// schedules and water tariffs (per ULB and financial year) and the
// certificate fee schedule (per ULB, from an effective date). Every save is a
// new version on the service; this page shows the versions and loads any of
// them into the form (to read it, or to save it again as the newest).
//
// One generic editor: each schedule is described by its fields (scalars,
// tables of rows, sets of flags) with a type that says how it is shown and
// sent — percentages for basis points, rupees for paise (exact, no floating
// point), whole numbers, dates, choices.
import { useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { financialYear, indianDate, indianDateTime, parseRupees, rupees, today } from '../common/format.js';
import { Busy, Field, Notice, TableWrap } from '../common/ui.jsx';

// Choices: their values and the catalog prefix of their labels.
const CATEGORIES = { prefix: 'water.cat.', values: ['DOMESTIC', 'COMMERCIAL', 'INDUSTRIAL', 'INSTITUTIONAL'] };
const CONSTRUCTIONS = { prefix: 'construction.', values: ['RCC', 'RBC', 'TIN_SHED', 'KACHCHA'] };
const USAGES = { prefix: 'usage.', values: ['RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED'] };
const SLAB_MODES = { prefix: 'md.opt.', values: ['MARGINAL', 'FLAT'] };
const EXEMPTIONS = { prefix: 'md.opt.', values: ['WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL'] };
const OFFICERS = ['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'];

// type: bp (int32 basis points, shown as %), paise (int64, shown as rupees),
// int (int32/uint32), int64 (string in JSON), date, text, enum (with options).
const SCHEMAS = {
  rates: {
    byYear: true, reason: true, editors: OFFICERS,
    path: (ulb, fy) => `/api/v1/property-tax/rates/${encodeURIComponent(ulb)}/${encodeURIComponent(fy)}`,
    fields: [
      ['maintenanceBp', 'bp'], ['slabMode', 'enum', SLAB_MODES], ['educationCessBp', 'bp'],
      ['urbanDevelopmentCessBp', 'bp'], ['samekitPaise', 'paise'], ['rebateBp', 'bp'], ['rebateLastDay', 'date'],
      ['surchargeBpPerMonth', 'bp'], ['surchargeThresholdPaise', 'paise'], ['selfOccupiedRebateBp', 'bp'],
      ['exemptionThresholdPaise', 'paise'], ['mutationFeePaise', 'paise'],
    ],
    tables: [
      ['slabs', [['uptoPaise', 'paise'], ['rateBp', 'bp']]],
      ['alvRates', [['zone', 'text'], ['construction', 'enum', CONSTRUCTIONS], ['usage', 'enum', USAGES], ['ratePaisePerSqft', 'paise']]],
    ],
    sets: [['exemptCategories', EXEMPTIONS]],
  },
  tariff: {
    byYear: true, reason: true, editors: OFFICERS,
    path: (ulb, fy) => `/api/v1/water-tax/tariffs/${encodeURIComponent(ulb)}/${encodeURIComponent(fy)}`,
    fields: [
      ['sewerageBp', 'bp'], ['surchargeBp', 'bp'], ['advanceRebateBp', 'bp'], ['dueDays', 'int'],
      ['maxMonthlyKl', 'int64'], ['estimateDefaultKl', 'int64'], ['disconnectionFeePaise', 'paise'], ['reconnectionFeePaise', 'paise'],
    ],
    tables: [
      ['flatRates', [['category', 'enum', CATEGORIES], ['pipeSizeMm', 'int'], ['monthlyPaise', 'paise']]],
      ['meteredSlabs', [['category', 'enum', CATEGORIES], ['uptoKl', 'int64'], ['ratePaisePerKl', 'paise']]],
      ['meteredMinimum', [['category', 'enum', CATEGORIES], ['paise', 'paise']]],
      ['solidWaste', [['category', 'enum', CATEGORIES], ['paise', 'paise']]],
      ['connectionFees', [['category', 'enum', CATEGORIES], ['pipeSizeMm', 'int'], ['feePaise', 'paise']]],
    ],
    sets: [],
  },
  fees: {
    byYear: false, reason: true, editors: ['COMMISSIONER', 'STATE_ADMIN'],
    fields: [
      ['effectiveFrom', 'date'], ['freeDays', 'int'], ['lateDays', 'int'], ['lateFeePaise', 'paise'],
      ['permissionDays', 'int'], ['permissionFeePaise', 'paise'], ['orderFeePaise', 'paise'],
      ['marriageFeePaise', 'paise'], ['childNameDays', 'int'],
    ],
    tables: [],
    sets: [],
  },
};

// ---- values: API <-> form text, exact --------------------------------------
function percent(bp) {
  const n = Number(bp || 0);
  return `${Math.trunc(n / 100)}.${String(Math.abs(n % 100)).padStart(2, '0')}`;
}
const plainRupees = (paise) => rupees(paise).replace(/[₹,]/g, '');

function show(type, value, options) {
  if (type === 'bp') return percent(value);
  if (type === 'paise') return plainRupees(value);
  if (type === 'int' || type === 'int64') return String(value ?? 0);
  if (type === 'enum') return value || options.values[0];
  return value ?? '';
}

// -> [value for the API, error text or '']
function read(type, text) {
  const s = String(text ?? '').trim();
  if (type === 'bp') {
    const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(s);
    return m ? [Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0')), ''] : [0, msg('md.rule.percent')];
  }
  if (type === 'paise') {
    const p = parseRupees(s);
    return p === null ? ['0', msg('rule.amount')] : [p, ''];
  }
  if (type === 'int' || type === 'int64') {
    if (!/^\d{1,9}$/.test(s)) return [0, msg('md.rule.whole')];
    return [type === 'int' ? Number(s) : s, ''];
  }
  if (type === 'date') return /^\d{4}-\d{2}-\d{2}$/.test(s) ? [s, ''] : ['', msg('md.rule.date')];
  if (type === 'text') return s ? [s, ''] : ['', msg('rule.required')];
  return [s, ''];
}

function toForm(schema, data) {
  const form = { fields: {}, tables: {}, sets: {}, reason: '' };
  schema.fields.forEach(([k, type, options]) => { form.fields[k] = show(type, data[k], options); });
  schema.tables.forEach(([k, columns]) => {
    form.tables[k] = (data[k] || []).map((row) => Object.fromEntries(columns.map(([c, type, options]) => [c, show(type, row[c], options)])));
  });
  schema.sets.forEach(([k]) => { form.sets[k] = [...(data[k] || [])]; });
  return form;
}

// -> [body, {errorKey: text}]
function fromForm(schema, form) {
  const body = {}, errors = {};
  schema.fields.forEach(([k, type]) => {
    const [v, e] = read(type, form.fields[k]);
    body[k] = v;
    if (e) errors[k] = e;
  });
  schema.tables.forEach(([k, columns]) => {
    body[k] = form.tables[k].map((row, i) => Object.fromEntries(columns.map(([c, type]) => {
      const [v, e] = read(type, row[c]);
      if (e) errors[`${k}.${i}.${c}`] = e;
      return [c, v];
    })));
  });
  schema.sets.forEach(([k]) => { body[k] = form.sets[k]; });
  if (schema.reason) {
    body.reason = form.reason.trim();
    if (!body.reason) errors.reason = msg('rule.reason');
  }
  return [body, errors];
}

// The service names a field by its JSON path: "slabs[1].rateBp",
// "schedule.lateFeePaise" -> the editor's key "slabs.1.rateBp", "lateFeePaise".
const errorKey = (field) => String(field || '').replace(/^schedule\./, '').replace(/\[(\d+)\]/g, '.$1');

// ---- versions ----------------------------------------------------------------
async function loadVersions(kind, ulb, fy, newest) {
  const schema = SCHEMAS[kind];
  if (kind === 'fees') {
    // The town's own schedules, each version read back (?version=N) with who
    // saved it, when and why; none while the state default applies.
    const top = Number(newest.version || 0);
    const wanted = [];
    for (let v = top; v >= 1 && wanted.length < 10; v--) wanted.push(v);
    const rows = await Promise.all(wanted.map((v) => (v === top ? newest
      : api('GET', '/api/v1/certificates/fees', { query: { ulb, version: v } }).catch(() => null))));
    return rows.filter(Boolean).map((d) => ({ version: Number(d.version || 0), by: d.savedBy, at: d.savedAt, reason: d.reason || '', data: d }));
  }
  const list = [{ version: Number(newest.version || 0), by: newest.createdBy, at: newest.createdAt, reason: newest.reason, data: newest }];
  const older = [];
  for (let v = list[0].version - 1; v >= 1 && older.length < 9; v--) older.push(v);
  const rows = await Promise.all(older.map((v) => api('GET', schema.path(ulb, fy), { query: { version: v } }).catch(() => null)));
  rows.forEach((d) => { if (d) list.push({ version: Number(d.version || 0), by: d.createdBy, at: d.createdAt, reason: d.reason, data: d }); });
  return list.filter((v) => v.version > 0);
}

export function MasterData() {
  const session = currentSession();
  const stateAdmin = session.role === 'STATE_ADMIN';
  const [kind, setKind] = useState('rates');
  const [ulb, setUlb] = useState(session.ulb || '');
  const [fy, setFy] = useState(financialYear());
  const [loaded, setLoaded] = useState(null);       // {kind, ulb, fy, newest, showing}
  const [versions, setVersions] = useState([]);
  const [form, setForm] = useState(null);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const schema = SCHEMAS[kind];
  const canEdit = schema.editors.includes(session.role);

  async function load(e) {
    if (e) e.preventDefault();
    setError(null); setSaved(''); setErrors({}); setBusy(true);
    try {
      const target = ulb.trim();
      const newest = kind === 'fees'
        ? await api('GET', '/api/v1/certificates/fees', { query: { ulb: target } })
        : await api('GET', schema.path(target, fy.trim()));
      const data = kind === 'fees' && newest.ulb !== target ? { ...newest, effectiveFrom: today(), version: 0 } : newest;
      setLoaded({ kind, ulb: target, fy: fy.trim(), newest: data, showing: Number(data.version || 0) });
      setForm(toForm(schema, data));
      setVersions(await loadVersions(kind, target, fy.trim(), data).catch(() => []));
    } catch (err) { setError(err); setForm(null); setLoaded(null); } finally { setBusy(false); }
  }

  function showVersion(v) {
    setForm(toForm(schema, v.data));
    setLoaded({ ...loaded, showing: v.version });
    setErrors({}); setSaved('');
    document.getElementById('md-form-title')?.focus();
  }

  async function save(e) {
    e.preventDefault();
    setError(null); setSaved('');
    const [body, local] = fromForm(schema, form);
    setErrors(local);
    if (Object.keys(local).length) {
      setTimeout(() => document.querySelector('#md-form [aria-invalid="true"]')?.focus(), 0);
      return;
    }
    setBusy(true);
    try {
      const r = kind === 'fees'
        ? await api('PUT', '/api/v1/certificates/fees', { key: newKey(), body: { schedule: { ...body, ulb: loaded.ulb } } })
        : await api('PUT', schema.path(loaded.ulb, loaded.fy), { key: newKey(), body });
      const list = await loadVersions(kind, loaded.ulb, loaded.fy, r).catch(() => versions);
      setLoaded({ ...loaded, newest: r, showing: Number(r.version) });
      setForm(toForm(schema, r));
      setVersions(list);
      setSaved(msg('md.saved', { version: String(r.version) }));
    } catch (err) {
      setError(err);
      if (err.field) setErrors({ [errorKey(err.field)]: err.message });
    } finally { setBusy(false); }
  }

  const setField = (k) => (v) => setForm({ ...form, fields: { ...form.fields, [k]: v } });
  const setCell = (k, i, c) => (v) => setForm({ ...form, tables: { ...form.tables, [k]: form.tables[k].map((row, j) => (j === i ? { ...row, [c]: v } : row)) } });
  const addRow = (k, columns) => setForm({ ...form, tables: { ...form.tables, [k]: [...form.tables[k], Object.fromEntries(columns.map(([c, type, options]) => [c, show(type, undefined, options)]))] } });
  const removeRow = (k, i) => setForm({ ...form, tables: { ...form.tables, [k]: form.tables[k].filter((_, j) => j !== i) } });
  const toggle = (k, flag) => setForm({ ...form, sets: { ...form.sets, [k]: form.sets[k].includes(flag) ? form.sets[k].filter((f) => f !== flag) : [...form.sets[k], flag] } });
  const label = (k) => t('md.' + k);
  const fieldLabel = (k, type) => label(k) + (type === 'bp' ? ' (%)' : type === 'paise' ? ' (₹)' : '');
  const current = loaded && loaded.kind === kind;

  return (
    <>
      <h1>{t('staff.masterdata')}</h1>
      <form class="inline" onSubmit={load}>
        <Field label={t('md.kind')} value={kind} onInput={(v) => { setKind(v); setForm(null); setLoaded(null); setVersions([]); setError(null); setSaved(''); }}>
          {Object.keys(SCHEMAS).map((k) => <option key={k} value={k}>{t('md.kind.' + k)}</option>)}
        </Field>
        <Field label={t('jobs.ulb')} hint={kind === 'fees' && stateAdmin ? t('md.fees.state') : undefined} value={ulb} onInput={setUlb} readOnly={!stateAdmin} inputMode="numeric" />
        {schema.byYear && <Field label={t('jobs.fy')} value={fy} onInput={setFy} />}
        <button type="submit" disabled={busy}>{t('md.load')}</button>
      </form>
      <Busy when={busy} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Notice kind="success">{saved}</Notice>
      {current && form && (
        <>
          <section aria-labelledby="md-versions-title">
            <h2 id="md-versions-title">{t('md.versions')}</h2>
            {versions.length ? (
              <TableWrap label={t('md.versions')}><table data-testid="md-versions">
                <thead><tr><th scope="col">{t('cert.version')}</th><th scope="col">{t('md.savedAt')}</th><th scope="col">{t('md.savedBy')}</th>
                  {schema.reason && <th scope="col">{t('md.reason')}</th>}{kind === 'fees' && <th scope="col">{t('md.effectiveFrom')}</th>}<th scope="col"><span class="visually-hidden">{t('md.show')}</span></th></tr></thead>
                <tbody>{versions.map((v) => (
                  <tr key={v.version} aria-current={v.version === loaded.showing ? 'true' : undefined}>
                    <td>{v.version}</td><td>{indianDateTime(v.at)}</td><td>{v.by}</td>
                    {schema.reason && <td>{v.reason}</td>}{kind === 'fees' && <td>{indianDate(v.data.effectiveFrom)}</td>}
                    <td><button type="button" class="secondary" aria-label={t('md.show.version', { version: String(v.version) })} onClick={() => showVersion(v)}>{t('md.show')}</button></td>
                  </tr>
                ))}</tbody>
              </table></TableWrap>
            ) : <p>{t('md.defaults')}</p>}
          </section>
          <form id="md-form" onSubmit={save} noValidate aria-labelledby="md-form-title">
            <h2 id="md-form-title" tabIndex={-1}>{loaded.showing
              ? t('md.showing', { version: String(loaded.showing) })
              : t('md.showing.defaults')}</h2>
            {canEdit && <p class="muted">{t('md.saving.makes', { version: String(Math.max(Number(loaded.newest.version || 0), versions[0]?.version || 0) + 1) })}</p>}
            <fieldset disabled={!canEdit}>
              <legend>{t('md.kind.' + kind)}{schema.byYear ? ' ' + loaded.fy : ''} — {loaded.ulb || t('staff.state')}</legend>
              <div class="md-grid">
                {schema.fields.map(([k, type, options]) => (
                  <Field key={k} label={fieldLabel(k, type)} value={form.fields[k]} onInput={setField(k)} error={errors[k]}
                    type={type === 'date' ? 'date' : 'text'} inputMode={type === 'date' || type === 'enum' ? undefined : 'decimal'}>
                    {type === 'enum' ? options.values.map((o) => <option key={o} value={o}>{t(options.prefix + o)}</option>) : undefined}
                  </Field>
                ))}
              </div>
              {schema.sets.map(([k, flags]) => (
                <fieldset key={k}>
                  <legend>{label(k)}</legend>
                  {flags.values.map((f) => <label key={f}><input type="checkbox" checked={form.sets[k].includes(f)} onChange={() => toggle(k, f)} /> {t(flags.prefix + f)}</label>)}
                </fieldset>
              ))}
              {schema.tables.map(([k, columns]) => (
                <div key={k}>
                  <TableWrap label={label(k)}><table class="md-table" data-testid={'md-' + k}>
                    <caption>{label(k)}</caption>
                    <thead><tr><th scope="col">#</th>{columns.map(([c, type]) => <th key={c} scope="col">{fieldLabel('col.' + c, type)}</th>)}<th scope="col"><span class="visually-hidden">{t('md.row.remove')}</span></th></tr></thead>
                    <tbody>{form.tables[k].map((row, i) => (
                      <tr key={i}>
                        <th scope="row">{i + 1}</th>
                        {columns.map(([c, type, options]) => {
                          const id = `md-${k}-${i}-${c}`, err = errors[`${k}.${i}.${c}`];
                          const name = `${label(k)} ${i + 1}: ${fieldLabel('col.' + c, type)}`;
                          return (
                            <td key={c}>
                              {type === 'enum'
                                ? <select id={id} aria-label={name} value={row[c]} onChange={(e) => setCell(k, i, c)(e.currentTarget.value)}>{options.values.map((o) => <option key={o} value={o}>{t(options.prefix + o)}</option>)}</select>
                                : <input id={id} aria-label={name} value={row[c]} onInput={(e) => setCell(k, i, c)(e.currentTarget.value)} inputMode={type === 'text' ? undefined : 'decimal'}
                                  aria-invalid={err ? 'true' : undefined} aria-describedby={err ? id + '-error' : undefined} />}
                              {err && <p class="error" id={id + '-error'}>{String(err)}</p>}
                            </td>
                          );
                        })}
                        <td><button type="button" class="secondary" aria-label={t('md.row.remove.n', { n: String(i + 1), table: label(k) })} onClick={() => removeRow(k, i)}>−</button></td>
                      </tr>
                    ))}</tbody>
                  </table></TableWrap>
                  {errors[k] && <p class="error" role="alert">{String(errors[k])}</p>}
                  {canEdit && <button type="button" class="secondary" onClick={() => addRow(k, columns)}>{t('md.row.add', { table: label(k) })}</button>}
                </div>
              ))}
            </fieldset>
            {canEdit && (
              <>
                <Field label={t('md.reason')} hint={t('md.reason.hint')} type="textarea" rows={2} value={form.reason} onInput={(v) => setForm({ ...form, reason: v })} error={errors.reason} maxLength={500} />
                <button type="submit" disabled={busy}>{t('md.save')}</button>
              </>
            )}
            {!canEdit && <p class="muted">{t('md.readonly')}</p>}
          </form>
        </>
      )}
    </>
  );
}
