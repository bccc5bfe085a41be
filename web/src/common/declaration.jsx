// declaration.jsx — the description of a property a self-assessment return
// declares (zone, use, construction, occupancy, floors and their areas), as a
// form: the citizen's return and its revision (citizen/assessment.jsx) and a
// revenue officer's re-assessment of a return (staff/return.jsx) are the same
// fields under the same rules (services/property_tax/sql/property.sql:
// pt_zone_arg, pt_floors). The rules are checked here first, at their fields;
// what the service still refuses is shown at the field it names, in the
// language shown.
import { useState } from 'preact/hooks';
import { errorText, msg, t } from './i18n.js';
import { Field, Notice } from './ui.jsx';

export const USAGES = ['RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED'];
export const CONSTRUCTIONS = ['RCC', 'RBC', 'TIN_SHED', 'KACHCHA'];
export const OCCUPANCIES = ['SELF_OCCUPIED', 'RENTED'];

// The form's values from a property or a return (fy: the year to show).
export const fromRecord = (r, fy) => ({
  fy, zone: r.zone || '', usage: r.usage || 'RESIDENTIAL', construction: r.construction || 'RCC', occupancy: r.occupancy || 'SELF_OCCUPIED',
  floors: (r.floors || []).map((fl) => ({ floor: String(fl.floor || 0), areaSqft: String(fl.areaSqft || '') })),
  reason: '',
});

// The floors as one line: "floor 0: 900 sq ft; floor 1: 400 sq ft".
export const floorsLine = (floors) => (floors || []).map((fl) => t('assess.floor.line', { floor: String(fl.floor || 0), area: String(fl.areaSqft) })).join('; ');

function check(f, { withYear, reasonLabel }) {
  const e = {};
  if (withYear && !/^\d{4}-\d{2}$/.test(f.fy.trim())) e.fy = msg('assess.rule.fy');
  if (!/^[A-Z0-9]{1,8}$/.test(f.zone.trim().toUpperCase())) e.zone = msg('assess.rule.zone');
  if (!f.floors.length) e.floors = msg('assess.rule.floors');
  if (f.floors.length > 50) e.floors = msg('assess.rule.floors.max');
  const seen = new Set();
  f.floors.forEach((fl, i) => {
    const floor = String(fl.floor).trim();
    if (!/^-?\d{1,3}$/.test(floor) || Number(floor) < -5 || Number(floor) > 200) e[`floors.${i}.floor`] = msg('assess.rule.floor');
    else if (seen.has(Number(floor))) e[`floors.${i}.floor`] = msg('assess.rule.floor.twice', { floor });
    seen.add(Number(floor));
    if (!/^\d{1,8}$/.test(String(fl.areaSqft).trim()) || Number(fl.areaSqft) < 1 || Number(fl.areaSqft) > 10000000) e[`floors.${i}.areaSqft`] = msg('assess.rule.area');
  });
  if (reasonLabel) {
    const reason = f.reason.trim();
    if (reason.length < 3) e.reason = msg('rule.reason');
    else if (reason.length > 500) e.reason = msg('rule.toolong', { max: '500' });
  }
  return e;
}

// A refusal of the service at a field ("floors[1].areaSqft") -> {"floors.1.areaSqft": text}:
// the rule in the language shown when it is one of the form's own, else the
// service's words (errorText).
function serviceFieldError(err) {
  if (!err.field) return {};
  const key = err.field.replace(/\[(\d+)\]/g, '.$1');
  const twice = /^floor (-?\d+) is listed twice/.exec(err.message || '');
  const rule = err.code !== 'INVALID_ARGUMENT' ? null
    : key === 'zone' ? msg('assess.rule.zone')
      : key === 'floors' ? msg('assess.rule.floors')
        : /^floors\.\d+\.floor$/.test(key) ? (twice ? msg('assess.rule.floor.twice', { floor: twice[1] }) : msg('assess.rule.floor'))
          : /^floors\.\d+\.areaSqft$/.test(key) ? msg('assess.rule.area')
            : key === 'fy' ? msg('assess.rule.fy')
              : key === 'reason' ? msg('rule.reason') : null;
  return { [key]: rule || { toString: () => errorText(err) } };
}

// initial: fromRecord(...); withYear: the year is asked (a first return);
// reasonLabel: a reason is asked (3..500 characters: a re-assessment);
// note: a line above the submit button; onSubmit(values) posts them.
export function Declaration({ initial, submitLabel, onSubmit, withYear, reasonLabel, note }) {
  const [f, setF] = useState(initial);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const setFloor = (i, k) => (e) => setF({ ...f, floors: f.floors.map((fl, j) => (j === i ? { ...fl, [k]: e.currentTarget.value } : fl)) });
  const focusFirstError = () => setTimeout(() => document.querySelector('form [aria-invalid="true"]')?.focus(), 0);
  async function submit(e) {
    e.preventDefault();
    const local = check(f, { withYear, reasonLabel });
    setErrors(local); setError(null);
    if (Object.keys(local).length) { focusFirstError(); return; }
    setBusy(true);
    try {
      await onSubmit({
        fy: f.fy.trim(), zone: f.zone.trim().toUpperCase(), usage: f.usage, construction: f.construction, occupancy: f.occupancy,
        floors: f.floors.map((fl) => ({ floor: Number(fl.floor), areaSqft: String(Number(fl.areaSqft)) })),
        ...(reasonLabel ? { reason: f.reason.trim() } : {}),
      });
    } catch (err) {
      setError(err);
      setErrors(serviceFieldError(err));
      focusFirstError();
    } finally { setBusy(false); }
  }
  return (
    <form onSubmit={submit} noValidate>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {withYear && <Field label={t('common.fy')} hint={t('assess.fy.hint')} value={f.fy} onInput={set('fy')} error={errors.fy} />}
      <Field label={t('assess.zone')} value={f.zone} onInput={set('zone')} error={errors.zone} maxLength={8} />
      <Field label={t('assess.usage')} value={f.usage} onInput={set('usage')} error={errors.usage}>{USAGES.map((u) => <option key={u} value={u}>{t('usage.' + u)}</option>)}</Field>
      <Field label={t('assess.construction')} value={f.construction} onInput={set('construction')} error={errors.construction}>{CONSTRUCTIONS.map((c) => <option key={c} value={c}>{t('construction.' + c)}</option>)}</Field>
      <Field label={t('assess.occupancy')} value={f.occupancy} onInput={set('occupancy')} error={errors.occupancy}>{OCCUPANCIES.map((o) => <option key={o} value={o}>{t('occupancy.' + o)}</option>)}</Field>
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
      {reasonLabel && <Field label={reasonLabel} type="textarea" value={f.reason} onInput={set('reason')} error={errors.reason} maxLength={500} rows={3} />}
      {note && <p class="muted">{note}</p>}
      <button type="submit" disabled={busy}>{submitLabel}</button>
    </form>
  );
}
