// assessment.jsx — a property owner's self-assessment return for a financial
// year: what they declare (zone, use, construction, occupancy, floors and
// areas), filed once per year and revised after; an officer accepts it or
// re-assesses. The form starts from the register's particulars.
// The property's returns (every year, every revision) are listed from the
// service (GET /api/v1/property-tax/assessments?propertyId=).
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { financialYear, indianDate, rupees } from '../common/format.js';
import { Busy, Field, Link, Notice, navigate, useLoad } from '../common/ui.jsx';

const USAGES = ['RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED'];
const CONSTRUCTIONS = ['RCC', 'RBC', 'TIN_SHED', 'KACHCHA'];
const OCCUPANCIES = ['SELF_OCCUPIED', 'RENTED'];

// The property's returns, newest first: year, revision, state, ALV.
function Returns({ propertyId }) {
  const [list, error, , loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments', { query: { propertyId, pageSize: 50 } }), [propertyId]);
  const returns = list?.assessments || [];
  return (
    <section aria-labelledby="assess-earlier">
      <h2 id="assess-earlier">{t('assess.earlier')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {list && !returns.length && <p>{t('assess.none')}</p>}
      <ul class="list" data-testid="returns">{returns.map((a) => (
        <li key={a.assessmentId} data-status={a.status}>
          <Link href={`/property/${encodeURIComponent(propertyId)}/assessment/${a.assessmentId}`}>{t('assess.number', { id: String(a.assessmentId) })}</Link>
          {' — '}{a.fy}, {t('assess.revision')} {a.revision || 1}: {t('assess.status.' + a.status)}; {t('assess.alv')} {rupees(a.alvPaise)}
        </li>
      ))}</ul>
    </section>
  );
}

function check(f) {
  const e = {};
  if (!/^\d{4}-\d{2}$/.test(f.fy.trim())) e.fy = msg('assess.rule.fy');
  if (!/^[A-Z0-9]{1,8}$/.test(f.zone.trim().toUpperCase())) e.zone = msg('assess.rule.zone');
  if (!f.floors.length) e.floors = msg('assess.rule.floors');
  f.floors.forEach((fl, i) => {
    if (!/^-?\d{1,3}$/.test(String(fl.floor).trim())) e[`floors.${i}.floor`] = msg('assess.rule.floor');
    if (!/^\d{1,7}$/.test(String(fl.areaSqft).trim()) || Number(fl.areaSqft) < 1) e[`floors.${i}.areaSqft`] = msg('assess.rule.area');
  });
  return e;
}

function Declaration({ initial, submitLabel, onSubmit, withYear }) {
  const [f, setF] = useState(initial);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const setFloor = (i, k) => (e) => setF({ ...f, floors: f.floors.map((fl, j) => (j === i ? { ...fl, [k]: e.currentTarget.value } : fl)) });
  async function submit(e) {
    e.preventDefault();
    const local = check(f);
    setErrors(local); setError(null);
    if (Object.keys(local).length) { setTimeout(() => document.querySelector('form [aria-invalid="true"]')?.focus(), 0); return; }
    setBusy(true);
    try {
      await onSubmit({ fy: f.fy.trim(), zone: f.zone.trim().toUpperCase(), usage: f.usage, construction: f.construction, occupancy: f.occupancy,
        floors: f.floors.map((fl) => ({ floor: Number(fl.floor), areaSqft: String(Number(fl.areaSqft)) })) });
    } catch (err) {
      setError(err);
      if (err.field) setErrors({ [err.field.replace(/\[(\d+)\]/g, '.$1')]: err.message });
    } finally { setBusy(false); }
  }
  return (
    <form onSubmit={submit} noValidate>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {withYear && <Field label={t('common.fy')} hint={t('assess.fy.hint')} value={f.fy} onInput={set('fy')} error={errors.fy} />}
      <Field label={t('assess.zone')} value={f.zone} onInput={set('zone')} error={errors.zone} maxLength={8} />
      <Field label={t('assess.usage')} value={f.usage} onInput={set('usage')}>{USAGES.map((u) => <option key={u} value={u}>{t('usage.' + u)}</option>)}</Field>
      <Field label={t('assess.construction')} value={f.construction} onInput={set('construction')}>{CONSTRUCTIONS.map((c) => <option key={c} value={c}>{t('construction.' + c)}</option>)}</Field>
      <Field label={t('assess.occupancy')} value={f.occupancy} onInput={set('occupancy')}>{OCCUPANCIES.map((o) => <option key={o} value={o}>{t('occupancy.' + o)}</option>)}</Field>
      <fieldset>
        <legend>{t('assess.floors')}</legend>
        {errors.floors && <p class="error" role="alert">{String(errors.floors)}</p>}
        <table>
          <thead><tr><th scope="col">{t('assess.floor')}</th><th scope="col">{t('assess.area')}</th><th scope="col"><span class="visually-hidden">{t('assess.floor.remove')}</span></th></tr></thead>
          <tbody>{f.floors.map((fl, i) => {
            const fe = errors[`floors.${i}.floor`], ae = errors[`floors.${i}.areaSqft`];
            return (
              <tr key={i}>
                <td><input aria-label={t('assess.floor.n', { n: String(i + 1) })} value={fl.floor} onInput={setFloor(i, 'floor')} inputMode="numeric" aria-invalid={fe ? 'true' : undefined} aria-describedby={fe ? `fl-${i}-e` : undefined} />{fe && <p class="error" id={`fl-${i}-e`}>{String(fe)}</p>}</td>
                <td><input aria-label={t('assess.area.n', { n: String(i + 1) })} value={fl.areaSqft} onInput={setFloor(i, 'areaSqft')} inputMode="numeric" aria-invalid={ae ? 'true' : undefined} aria-describedby={ae ? `ar-${i}-e` : undefined} />{ae && <p class="error" id={`ar-${i}-e`}>{String(ae)}</p>}</td>
                <td><button type="button" class="secondary" aria-label={t('assess.floor.remove.n', { n: String(i + 1) })} onClick={() => setF({ ...f, floors: f.floors.filter((_, j) => j !== i) })}>−</button></td>
              </tr>
            );
          })}</tbody>
        </table>
        <button type="button" class="secondary" onClick={() => setF({ ...f, floors: [...f.floors, { floor: String(f.floors.length), areaSqft: '' }] })}>{t('assess.floor.add')}</button>
      </fieldset>
      <p class="muted">{t('assess.declare')}</p>
      <button type="submit" disabled={busy}>{submitLabel}</button>
    </form>
  );
}

const fromRecord = (r, fy) => ({
  fy, zone: r.zone || '', usage: r.usage || 'RESIDENTIAL', construction: r.construction || 'RCC', occupancy: r.occupancy || 'SELF_OCCUPIED',
  floors: (r.floors || []).map((fl) => ({ floor: String(fl.floor || 0), areaSqft: String(fl.areaSqft || '') })),
});

export function FileAssessment({ propertyId }) {
  const [property, error] = useLoad(() => api('GET', '/api/v1/property-tax/properties/' + encodeURIComponent(propertyId)), [propertyId]);
  return (
    <>
      <h1>{t('assess.title')}</h1>
      <p>{t('property.one', { id: propertyId })}</p>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Returns propertyId={propertyId} />
      {property && (
        <Declaration initial={fromRecord(property, financialYear())} withYear submitLabel={t('assess.file')}
          onSubmit={async (decl) => {
            const a = await api('POST', '/api/v1/property-tax/assessments', { key: newKey(), body: { propertyId, ...decl } });
            navigate(`/property/${encodeURIComponent(propertyId)}/assessment/${a.assessmentId}`);
          }} />
      )}
      <p><Link href={'/property/' + encodeURIComponent(propertyId)}>{t('common.back')}</Link></p>
    </>
  );
}

export function AssessmentPage({ propertyId, assessmentId }) {
  const [a, error, reload, loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments/' + encodeURIComponent(assessmentId)), [assessmentId]);
  const [revising, setRevising] = useState(false);
  const [done, setDone] = useState('');
  const open = a && (a.status === 'FILED');
  return (
    <>
      <h1>{t('assess.number', { id: assessmentId })}</h1>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Notice kind="success">{done}</Notice>
      {a && (
        <>
          <dl class="facts">
            <dt>{t('property.id')}</dt><dd>{a.propertyId}</dd>
            <dt>{t('common.fy')}</dt><dd>{a.fy}</dd>
            <dt>{t('assess.revision')}</dt><dd>{a.revision}</dd>
            <dt>{t('cert.state')}</dt><dd data-testid="assessment-status">{t('assess.status.' + a.status)}</dd>
            <dt>{t('assess.zone')}</dt><dd>{a.zone}</dd>
            <dt>{t('assess.usage')}</dt><dd>{t('usage.' + a.usage)}</dd>
            <dt>{t('assess.construction')}</dt><dd>{t('construction.' + a.construction)}</dd>
            <dt>{t('assess.occupancy')}</dt><dd>{t('occupancy.' + a.occupancy)}</dd>
            <dt>{t('assess.floors')}</dt><dd>{(a.floors || []).map((fl) => t('assess.floor.line', { floor: String(fl.floor || 0), area: String(fl.areaSqft) })).join('; ')}</dd>
            <dt>{t('assess.alv')}</dt><dd data-testid="assessment-alv">{rupees(a.alvPaise)}</dd>
            <dt>{t('assess.filed')}</dt><dd>{indianDate(a.filedAt)}</dd>
            {a.reason && <><dt>{t('assess.reason')}</dt><dd>{a.reason}</dd></>}
          </dl>
          {open && !revising && <button type="button" class="secondary" onClick={() => setRevising(true)}>{t('assess.revise')}</button>}
          {revising && (
            <section aria-labelledby="assess-revise">
              <h2 id="assess-revise">{t('assess.revise')}</h2>
              <Declaration initial={fromRecord(a, a.fy)} submitLabel={t('assess.revise.file')}
                onSubmit={async (decl) => {
                  const { fy, ...rest } = decl;
                  const r = await api('POST', `/api/v1/property-tax/assessments/${encodeURIComponent(assessmentId)}/revise`, { key: newKey(), body: rest });
                  setRevising(false); setDone(msg('assess.revised', { id: String(r.assessmentId) }));
                  navigate(`/property/${encodeURIComponent(a.propertyId)}/assessment/${r.assessmentId}`);
                  reload();
                }} />
            </section>
          )}
        </>
      )}
      <p><Link href={'/property/' + encodeURIComponent(propertyId)}>{t('common.back')}</Link></p>
    </>
  );
}
