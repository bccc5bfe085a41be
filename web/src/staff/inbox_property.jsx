// inbox_property.jsx — the property-tax part of an officer's inbox: the
// citizens' mutation applications waiting in the town (CLERK,
// REVENUE_OFFICER, COMMISSIONER: approve — the mutation is recorded as at the
// counter and its fee joins the year's dues — or reject with a reason), and
// the self-assessment returns filed and not yet decided (REVENUE_OFFICER:
// accept here, or open the return to re-assess it: return.jsx). Oldest
// first, as the service lists them.
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDateTime, rupees } from '../common/format.js';
import { Busy, Field, Link, Notice, useLoad } from '../common/ui.jsx';

const share = (bp) => `${(Number(bp || 0) / 100).toFixed(2).replace(/\.00$/, '')}%`;
const owners = (list) => (list || []).map((o) => `${o.name} (${share(o.shareBp)})`).join(', ');

export function MutationInbox({ onDone }) {
  const [list, error, reload, loading] = useLoad(() => api('GET', '/api/v1/property-tax/mutation-applications', { query: { status: 'PENDING', pageSize: 100 } }), []);
  return (
    <section aria-labelledby="inbox-mutations">
      <h2 id="inbox-mutations">{t('inbox.mutations')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {list && !(list.applications || []).length && <p>{t('inbox.empty')}</p>}
      {(list?.applications || []).map((a) => <MutationCard key={a.applicationId} a={a} onDone={(m) => { onDone(m); reload(); }} />)}
    </section>
  );
}

function MutationCard({ a, onDone }) {
  const [reason, setReason] = useState('');
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function decide(decision) {
    if (decision === 'REJECT' && reason.trim().length < 3) { setErrors({ reason: msg('rule.reason') }); return; }
    setErrors({}); setError(null); setBusy(true);
    try {
      const r = await api('POST', `/api/v1/property-tax/mutation-applications/${encodeURIComponent(a.applicationId)}/decision`,
        { key: newKey(), body: { decision, reason: decision === 'REJECT' ? reason.trim() : '' } });
      onDone(r.status === 'APPROVED'
        ? msg('inbox.mutation.approved', { id: String(a.applicationId), property: a.propertyId, fee: rupees(r.mutation?.feePaise) })
        : msg('inbox.mutation.rejected', { id: String(a.applicationId), property: a.propertyId }));
    } catch (err) { setError(err); if (err.field === 'reason') setErrors({ reason: err.message }); } finally { setBusy(false); }
  }
  return (
    <article class="card" aria-label={t('inbox.mutation', { property: a.propertyId })}>
      <h3>{t('inbox.mutation', { property: a.propertyId })}</h3>
      <dl class="facts">
        <dt>{t('mutation.transfer')}</dt><dd>{t('transfer.' + a.transfer)}</dd>
        <dt>{t('inbox.mutation.from')}</dt><dd>{owners(a.ownersAtApply)}</dd>
        <dt>{t('mutation.newOwners')}</dt><dd data-testid="new-owners">{owners(a.newOwners)}</dd>
        <dt>{t('mutation.deedRef')}</dt><dd>{a.deedRef}</dd>
        <dt>{t('mutation.documents')}</dt><dd>{(a.documents || []).map((d) => `${t('document.' + d.kind)}: ${d.ref}`).join('; ')}</dd>
        {a.statement && <><dt>{t('mutation.statement')}</dt><dd>{a.statement}</dd></>}
        <dt>{t('inbox.submitted')}</dt><dd>{indianDateTime(a.appliedAt)}</dd>
      </dl>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <button type="button" disabled={busy} onClick={() => decide('APPROVE')}>{t('inbox.mutation.approve')}</button>
      <Field label={t('inbox.reject.reason')} value={reason} onInput={setReason} error={errors.reason} maxLength={500} />
      <button type="button" class="secondary" disabled={busy} onClick={() => decide('REJECT')}>{t('inbox.reject')}</button>
    </article>
  );
}

export function ReturnsInbox({ onDone }) {
  const [list, error, reload, loading] = useLoad(() => api('GET', '/api/v1/property-tax/assessments', { query: { status: 'FILED', pageSize: 100 } }), []);
  return (
    <section aria-labelledby="inbox-returns">
      <h2 id="inbox-returns">{t('inbox.returns')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {list && !(list.assessments || []).length && <p>{t('inbox.empty')}</p>}
      {(list?.assessments || []).map((a) => <ReturnCard key={a.assessmentId} a={a} onDone={(m) => { onDone(m); reload(); }} />)}
    </section>
  );
}

function ReturnCard({ a, onDone }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function accept() {
    setError(null); setBusy(true);
    try {
      await api('POST', `/api/v1/property-tax/assessments/${encodeURIComponent(a.assessmentId)}/decision`, { key: newKey(), body: { decision: 'ACCEPT' } });
      onDone(msg('inbox.return.accepted', { id: String(a.assessmentId), property: a.propertyId }));
    } catch (err) { setError(err); } finally { setBusy(false); }
  }
  const area = (a.floors || []).reduce((n, fl) => n + Number(fl.areaSqft || 0), 0);
  return (
    <article class="card" aria-label={t('inbox.return', { id: String(a.assessmentId), property: a.propertyId })}>
      <h3>{t('inbox.return', { id: String(a.assessmentId), property: a.propertyId })}</h3>
      <dl class="facts">
        <dt>{t('common.fy')}</dt><dd>{a.fy}</dd>
        <dt>{t('inbox.return.revision')}</dt><dd>{a.revision || 1}</dd>
        <dt>{t('inbox.return.declared')}</dt><dd>{t('inbox.return.line', { zone: a.zone, usage: t('usage.' + a.usage), construction: t('construction.' + a.construction), occupancy: t('occupancy.' + a.occupancy), area: String(area) })}</dd>
        <dt>{t('inbox.return.alv')}</dt><dd>{rupees(a.alvPaise)}</dd>
        <dt>{t('inbox.submitted')}</dt><dd>{indianDateTime(a.filedAt)}</dd>
      </dl>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <button type="button" disabled={busy} onClick={accept}>{t('inbox.return.accept')}</button>
      <Link href={`/staff/returns/${encodeURIComponent(a.assessmentId)}`} class="button secondary">{t('inbox.return.open')}</Link>
    </article>
  );
}
