// mutation.jsx — a property's owner applies online for a mutation (the
// register's owners changed after a sale, gift, inheritance, partition or
// court order), naming the new owners with their shares, the deed and the
// documents by their references; it waits for an officer of the town, who
// approves it (the mutation is recorded and its fee joins the year's dues)
// or rejects it with a reason. MutationApplications lists the citizen's
// applications for a property, with their state, on the property's page
// (also once a mutation has made them no longer an owner, who then may not
// see the property itself, nor apply again).
// Rules: services/property_tax/sql/mutation_application.sql (the form
// checks the same before sending; what the service refuses is shown at its field).
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDateTime } from '../common/format.js';
import { Busy, Field, Link, Notice, useLoad } from '../common/ui.jsx';

const TRANSFERS = ['SALE', 'GIFT', 'INHERITANCE', 'PARTITION', 'COURT_ORDER'];
const DOCUMENTS = ['SALE_DEED', 'GIFT_DEED', 'WILL', 'SUCCESSION_CERTIFICATE', 'DEATH_CERTIFICATE', 'PARTITION_DEED', 'COURT_ORDER', 'REGISTRY_EXTRACT', 'OTHER'];
const OWNERS_MAX = 20;
const DOCUMENTS_MAX = 10;

// "50" / "33.33" -> basis points, or null.
function shareBp(text) {
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(String(text || '').trim());
  return m ? Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0')) : null;
}
const percent = (bp) => `${Math.floor(bp / 100)}${bp % 100 ? '.' + String(bp % 100).padStart(2, '0').replace(/0$/, '') : ''}%`;
const ownerLine = (o) => `${o.name} (${percent(o.shareBp || 0)})`;

function check(f) {
  const e = {};
  if (!f.owners.length) e.owners = msg('mutation.rule.owners');
  let total = 0;
  f.owners.forEach((o, i) => {
    if (!o.name.trim()) e[`owners.${i}.name`] = msg('rule.required');
    else if (o.name.trim().length > 100) e[`owners.${i}.name`] = msg('rule.toolong', { max: '100' });
    if (o.mobile && !/^[6-9]\d{9}$/.test(o.mobile)) e[`owners.${i}.mobile`] = msg('login.mobile.invalid');
    const bp = shareBp(o.share);
    if (bp === null || bp < 1 || bp > 10000) e[`owners.${i}.share`] = msg('mutation.rule.share');
    else total += bp;
  });
  if (f.owners.length && !Object.keys(e).some((k) => k.endsWith('.share')) && total !== 10000) e.owners = msg('mutation.rule.total', { total: percent(total) });
  if (!f.deedRef.trim()) e.deedRef = msg('rule.required');
  else if (f.deedRef.trim().length > 64) e.deedRef = msg('rule.toolong', { max: '64' });
  if (!f.documents.length) e.documents = msg('mutation.rule.documents');
  f.documents.forEach((d, i) => {
    if (!d.ref.trim()) e[`documents.${i}.ref`] = msg('rule.required');
    else if (d.ref.trim().length > 128) e[`documents.${i}.ref`] = msg('rule.toolong', { max: '128' });
  });
  if (f.statement.trim().length > 500) e.statement = msg('rule.toolong', { max: '500' });
  return e;
}

// "newOwners[1].shareBp" -> "owners.1.share"
function formKey(field) {
  return String(field || '').replace(/^newOwners/, 'owners').replace(/\[(\d+)\]/g, '.$1')
    .replace(/\.shareBp$/, '.share').replace(/^deed_?[rR]ef$/, 'deedRef');
}

export function ApplyMutation({ propertyId }) {
  const [property, perror] = useLoad(() => api('GET', '/api/v1/property-tax/properties/' + encodeURIComponent(propertyId)), [propertyId]);
  const [f, setF] = useState({ transfer: 'SALE', owners: [{ name: '', mobile: '', share: '100' }], deedRef: '', documents: [{ kind: 'SALE_DEED', ref: '' }], statement: '' });
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(null);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const setRow = (list, i, k) => (v) => setF({ ...f, [list]: f[list].map((r, j) => (j === i ? { ...r, [k]: v } : r)) });
  const drop = (list, i) => setF({ ...f, [list]: f[list].filter((_, j) => j !== i) });
  async function submit(e) {
    e.preventDefault();
    const local = check(f);
    setErrors(local); setError(null);
    if (Object.keys(local).length) { setTimeout(() => document.querySelector('main [aria-invalid="true"], main .error')?.closest('.field, fieldset')?.querySelector('input, select, textarea')?.focus(), 0); return; }
    setBusy(true);
    try {
      const body = {
        transfer: f.transfer, deedRef: f.deedRef.trim(), statement: f.statement.trim(),
        newOwners: f.owners.map((o) => ({ name: o.name.trim(), mobile: o.mobile.trim(), shareBp: shareBp(o.share) })),
        documents: f.documents.map((d) => ({ kind: d.kind, ref: d.ref.trim() })),
      };
      setSent(await api('POST', `/api/v1/property-tax/properties/${encodeURIComponent(propertyId)}/mutation-applications`, { key: newKey(), body }));
    } catch (err) {
      setError(err);
      if (err.field) setErrors({ [formKey(err.field)]: err.message });
    } finally { setBusy(false); }
  }
  const back = <p><Link href={'/property/' + encodeURIComponent(propertyId)}>{t('common.back')}</Link></p>;
  if (sent) {
    return (
      <>
        <h1>{t('mutation.apply.title')}</h1>
        <Notice kind="success"><span data-testid="mutation-sent">{t('mutation.sent', { id: String(sent.applicationId) })}</span></Notice>
        {back}
      </>
    );
  }
  return (
    <>
      <h1>{t('mutation.apply.title')}</h1>
      <p>{t('property.one', { id: propertyId })}{property ? ' — ' + t('mutation.owners.now', { owners: (property.owners || []).map(ownerLine).join(', ') }) : ''}</p>
      <p class="muted">{t('mutation.apply.intro')}</p>
      <Notice kind="error">{(perror || error) && errorText(perror || error)}</Notice>
      <form onSubmit={submit} noValidate>
        <Field label={t('mutation.transfer')} value={f.transfer} onInput={set('transfer')}>{TRANSFERS.map((x) => <option key={x} value={x}>{t('transfer.' + x)}</option>)}</Field>
        <fieldset>
          <legend>{t('mutation.newOwners')}</legend>
          {errors.owners && <p class="error" role="alert">{String(errors.owners)}</p>}
          {f.owners.map((o, i) => (
            <fieldset key={i} class="row">
              <legend>{t('mutation.owner.n', { n: String(i + 1) })}</legend>
              <Field label={t('mutation.owner.name')} value={o.name} onInput={setRow('owners', i, 'name')} error={errors[`owners.${i}.name`]} maxLength={100} />
              <Field label={t('mutation.owner.mobile')} hint={t('common.optional')} type="tel" inputMode="numeric" maxLength={10} value={o.mobile} onInput={setRow('owners', i, 'mobile')} error={errors[`owners.${i}.mobile`]} />
              <Field label={t('mutation.owner.share')} inputMode="decimal" value={o.share} onInput={setRow('owners', i, 'share')} error={errors[`owners.${i}.share`]} />
              {f.owners.length > 1 && <button type="button" class="secondary" onClick={() => drop('owners', i)}>{t('mutation.owner.remove', { n: String(i + 1) })}</button>}
            </fieldset>
          ))}
          {f.owners.length < OWNERS_MAX && <button type="button" class="secondary" onClick={() => setF({ ...f, owners: [...f.owners, { name: '', mobile: '', share: '' }] })}>{t('mutation.owner.add')}</button>}
        </fieldset>
        <Field label={t('mutation.deedRef')} hint={t('mutation.deedRef.hint')} value={f.deedRef} onInput={set('deedRef')} error={errors.deedRef} maxLength={64} />
        <fieldset>
          <legend>{t('mutation.documents')}</legend>
          {errors.documents && <p class="error" role="alert">{String(errors.documents)}</p>}
          {f.documents.map((d, i) => (
            <fieldset key={i} class="row">
              <legend>{t('mutation.document.n', { n: String(i + 1) })}</legend>
              <Field label={t('mutation.document.kind')} value={d.kind} onInput={setRow('documents', i, 'kind')}>{DOCUMENTS.map((x) => <option key={x} value={x}>{t('document.' + x)}</option>)}</Field>
              <Field label={t('mutation.document.ref')} hint={t('mutation.document.ref.hint')} value={d.ref} onInput={setRow('documents', i, 'ref')} error={errors[`documents.${i}.ref`]} maxLength={128} />
              {f.documents.length > 1 && <button type="button" class="secondary" onClick={() => drop('documents', i)}>{t('mutation.document.remove', { n: String(i + 1) })}</button>}
            </fieldset>
          ))}
          {f.documents.length < DOCUMENTS_MAX && <button type="button" class="secondary" onClick={() => setF({ ...f, documents: [...f.documents, { kind: 'OTHER', ref: '' }] })}>{t('mutation.document.add')}</button>}
        </fieldset>
        <Field label={t('mutation.statement')} hint={t('common.optional')} type="textarea" rows={3} value={f.statement} onInput={set('statement')} error={errors.statement} maxLength={500} />
        <button type="submit" disabled={busy}>{t('mutation.send')}</button>
      </form>
      {back}
    </>
  );
}

export function MutationApplications({ propertyId, owner }) {
  const [list, error, , loading] = useLoad(() => api('GET', '/api/v1/property-tax/mutation-applications', { query: { propertyId, pageSize: 20 } }), [propertyId]);
  const apps = list?.applications || [];
  return (
    <section aria-labelledby="mutations">
      <h2 id="mutations">{t('mutation.title')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {list && !apps.length && <p>{t('mutation.none')}</p>}
      <ul class="list" data-testid="mutations">
        {apps.map((a) => (
          <li key={a.applicationId} data-status={a.status}>
            <strong>{t('mutation.number', { id: String(a.applicationId) })}</strong>: {t('transfer.' + a.transfer)} — <span data-testid="mutation-status">{t('mutation.status.' + a.status)}</span>
            <br /><small>{t('mutation.applied', { when: indianDateTime(a.appliedAt) })}; {t('mutation.to', { owners: (a.newOwners || []).map(ownerLine).join(', ') })}</small>
            {a.status === 'REJECTED' && a.decisionReason && <><br /><small>{t('mutation.reason', { reason: a.decisionReason })}</small></>}
          </li>
        ))}
      </ul>
      {!owner && apps.some((a) => a.status === 'APPROVED') && <p data-testid="no-longer-owner">{t('mutation.noLongerOwner')}</p>}
      {owner && !apps.some((a) => a.status === 'PENDING') && <p><Link href={`/property/${encodeURIComponent(propertyId)}/mutation`} class="button secondary">{t('mutation.apply')}</Link></p>}
    </section>
  );
}
