// inbox.jsx — what waits for this officer: certificate applications to
// register or reject (with the legal window they fall in and its end),
// corrections to approve (REGISTRAR); citizens' mutation applications and
// self-assessment returns (inbox_property.jsx, by role).
import { useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDate, rupees } from '../common/format.js';
import { Busy, Field, Notice, useLoad } from '../common/ui.jsx';
import { MutationInbox, ReturnsInbox } from './inbox_property.jsx';

const MUTATION_ROLES = ['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'];

function addDays(iso, days) {
  const d = new Date(iso + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + Number(days || 0));
  return d.toISOString().slice(0, 10);
}

// The end of the window an application's report falls in (RBD Act s.13,
// from the ULB's fee schedule): free, late fee, District Registrar permission.
function deadline(a, fees) {
  if (!fees || !a.eventDate) return '';
  const w = a.lateWindow;
  if (w === 'IN_TIME') return addDays(a.eventDate, fees.freeDays);
  if (w === 'LATE_TO_30_DAYS') return addDays(a.eventDate, fees.lateDays);
  if (w === 'LATE_TO_1_YEAR') return addDays(a.eventDate, fees.permissionDays);
  return '';
}

export function Inbox() {
  const session = currentSession();
  const registrar = session.role === 'REGISTRAR';
  const [apps, error, reload, loading] = useLoad(() => registrar
    ? api('GET', '/api/v1/certificates/applications', { query: { state: 'SUBMITTED', pageSize: 100 } }) : Promise.resolve(null), []);
  const [corrections, cerror, creload] = useLoad(() => registrar
    ? api('GET', '/api/v1/certificates/corrections', { query: { state: 'PENDING' } }).catch(() => ({ corrections: [] })) : Promise.resolve(null), []);
  const [fees] = useLoad(() => api('GET', '/api/v1/certificates/fees', { query: { ulb: session.ulb } }).catch(() => null), []);
  // What was just done stays in view after its card leaves the list.
  const [done, setDone] = useState('');
  const mutations = MUTATION_ROLES.includes(session.role);
  const returns = session.role === 'REVENUE_OFFICER';
  if (!registrar && !mutations) return (<><h1>{t('staff.inbox')}</h1><p>{t('inbox.role.none')}</p></>);
  const doneNotice = done && <Notice kind="success"><span data-testid="inbox-done">{String(done)}</span></Notice>;
  if (!registrar) {
    return (
      <>
        <h1>{t('staff.inbox')}</h1>
        {doneNotice}
        <MutationInbox onDone={setDone} />
        {returns && <ReturnsInbox onDone={setDone} />}
      </>
    );
  }
  return (
    <>
      <h1>{t('staff.inbox')}</h1>
      <Busy when={loading} />
      <Notice kind="error">{(error || cerror) && errorText(error || cerror)}</Notice>
      {doneNotice}
      <h2>{t('inbox.applications')}</h2>
      {apps && !(apps.applications || []).length && <p>{t('inbox.empty')}</p>}
      {(apps?.applications || []).map((a) => <ApplicationCard key={a.applicationId} a={a} due={deadline(a, fees)} onDone={(m) => { setDone(m); reload(); }} />)}
      <h2>{t('inbox.corrections')}</h2>
      {corrections && !(corrections.corrections || []).length && <p>{t('inbox.empty')}</p>}
      {(corrections?.corrections || []).map((c) => <CorrectionCard key={c.correctionId} c={c} onDone={(m) => { setDone(m); creload(); reload(); }} />)}
    </>
  );
}

function ApplicationCard({ a, due, onDone }) {
  const [permission, setPermission] = useState(a.permissionReference || '');
  // A fee-bearing application is registered once its fee is paid (or waived).
  const [fee, setFee] = useState(a.feeSettlement || null);
  const [counter, setCounter] = useState('C1');
  const feeDue = a.feeStatus === 'DUE' && !fee;
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [errors, setErrors] = useState({});
  const [done, setDone] = useState('');
  async function register(e) {
    e.preventDefault();
    if (a.permissionRequired && !permission.trim()) { setErrors({ permission: msg('rule.required') }); return; }
    setErrors({}); setError(null);
    try {
      const c = await api('POST', `/api/v1/certificates/applications/${encodeURIComponent(a.applicationId)}/register`, { key: newKey(), body: { permissionReference: permission.trim() } });
      const m = msg('inbox.registered', { number: c.registrationNumber });
      setDone(m); onDone(m);
    } catch (err) { setError(err); if (err.field) setErrors({ permission: err.message }); }
  }
  async function payFee(e) {
    e.preventDefault();
    const c = counter.trim().toUpperCase();
    if (!/^[A-Z0-9]{1,12}$/.test(c)) { setErrors({ counter: msg('inbox.fee.counter.rule') }); return; }
    setErrors({}); setError(null);
    try {
      setFee(await api('POST', `/api/v1/certificates/applications/${encodeURIComponent(a.applicationId)}/fee/payment`, { key: newKey(), body: { amountPaise: a.feePaise, mode: 'CASH', counter: c } }));
    } catch (err) { setError(err); if (err.field === 'counter') setErrors({ counter: err.message }); }
  }
  async function reject() {
    if (!reason.trim()) { setErrors({ reason: msg('rule.reason') }); return; }
    try {
      await api('POST', `/api/v1/certificates/applications/${encodeURIComponent(a.applicationId)}/reject`, { key: newKey(), body: { reason: reason.trim() } });
      setDone(msg('state.REJECTED')); onDone(msg('state.REJECTED'));
    } catch (err) { setError(err); }
  }
  return (
    <article class="card" aria-label={t('kind.' + a.kind) + ': ' + (a.subjectName || a.applicationId)}>
      <h3>{t('kind.' + a.kind)}: {a.subjectName || '—'}</h3>
      <dl class="facts">
        <dt>{t('cert.eventDate')}</dt><dd>{indianDate(a.eventDate)}</dd>
        <dt>{t('inbox.submitted')}</dt><dd>{indianDate(a.submittedAt)}</dd>
        <dt>{t('cert.delay')}</dt><dd>{t('cert.days', { days: String(a.delayDays || 0) })} — {t('late.' + (a.lateWindow || 'IN_TIME'))}</dd>
        {due && <><dt>{t('inbox.deadline')}</dt><dd data-testid="deadline">{indianDate(due)}</dd></>}
        <dt>{t('cert.fee')}</dt><dd>{rupees(a.feePaise)}</dd>
        {fee?.receiptNo && <><dt>{t('cert.fee')}</dt><dd data-testid="fee-receipt">{t('inbox.fee.paid', { receipt: fee.receiptNo })}</dd></>}
        {fee?.status === 'WAIVED' && <><dt>{t('cert.fee')}</dt><dd>{t('inbox.fee.waived', { reason: fee.reason })}</dd></>}
      </dl>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {!done && feeDue && (
        <form onSubmit={payFee}>
          <p>{t('inbox.fee.due', { amount: rupees(a.feePaise) })}</p>
          <Field label={t('inbox.fee.counter')} value={counter} onInput={setCounter} error={errors.counter} />
          <button type="submit">{t('inbox.fee.pay', { amount: rupees(a.feePaise) })}</button>
        </form>
      )}
      {done ? <Notice kind="success">{done}</Notice> : !feeDue && (
        <form onSubmit={register}>
          {a.permissionRequired && <Field label={t('cert.permission')} value={permission} onInput={setPermission} error={errors.permission} />}
          <button type="submit">{t('inbox.register')}</button>
          <Field label={t('inbox.reject.reason')} value={reason} onInput={setReason} error={errors.reason} />
          <button type="button" class="secondary" onClick={reject}>{t('inbox.reject')}</button>
        </form>
      )}
    </article>
  );
}

function CorrectionCard({ c, onDone }) {
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');
  async function approve() {
    try {
      await api('POST', `/api/v1/certificates/corrections/${encodeURIComponent(c.correctionId)}/approve`, { key: newKey(), body: { note: '' } });
      setDone(msg('inbox.approved')); onDone(msg('inbox.approved'));
    } catch (err) { setError(err); }
  }
  return (
    <article class="card" aria-label={t('inbox.correction') + ' ' + c.correctionId}>
      <p>{t('inbox.correction')}: {c.reason}</p>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {done ? <Notice kind="success">{done}</Notice> : <button type="button" onClick={approve}>{t('inbox.approve')}</button>}
    </article>
  );
}
