// admin.jsx — staff and roles per town (state and town admins), and the
// read-only operations page (service readiness).
import { useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDateTime } from '../common/format.js';
import { Busy, Field, Notice, TableWrap, useLoad } from '../common/ui.jsx';

const ROLES = ['CLERK', 'REGISTRAR', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'];

export function Admin() {
  const session = currentSession();
  const [ulb, setUlb] = useState(session.ulb || '');
  const [list, error, reload, loading] = useLoad(() => api('GET', '/api/v1/staff', { query: { ulb, pageSize: 200 } }), [ulb]);
  const [f, setF] = useState({ username: '', fullName: '', role: 'CLERK', password: '', mobile: '' });
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [created, setCreated] = useState('');
  const set = (k) => (v) => setF({ ...f, [k]: v });
  async function create(e) {
    e.preventDefault();
    const local = {};
    if (!/^[a-z0-9._-]{3,64}$/.test(f.username)) local.username = msg('admin.username.rule');
    if (!f.fullName.trim()) local.fullName = msg('rule.required');
    if (f.password.length < 12) local.password = msg('admin.password.rule');
    setErrors(local); setFormError(null); setCreated('');
    if (Object.keys(local).length) return;
    try {
      const s = await api('POST', '/api/v1/staff', { key: newKey(), body: { ...f, fullName: f.fullName.trim(), ulb: f.role === 'STATE_ADMIN' ? '' : ulb } });
      setCreated(msg('admin.created', { username: s.username })); reload();
    } catch (err) { setFormError(err); if (err.field) setErrors({ [err.field]: err.message }); }
  }
  return (
    <>
      <h1>{t('staff.admin')}</h1>
      <Field label={t('jobs.ulb')} value={ulb} onInput={setUlb} readOnly={session.role !== 'STATE_ADMIN'} />
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      <TableWrap label={t('admin.staff')}><table>
        <caption>{t('admin.staff')}</caption>
        <thead><tr><th scope="col">{t('login.username')}</th><th scope="col">{t('admin.name')}</th><th scope="col">{t('admin.role')}</th><th scope="col">{t('jobs.ulb')}</th><th scope="col">{t('admin.status')}</th><th scope="col"><span class="visually-hidden">{t('admin.actions')}</span></th></tr></thead>
        <tbody>{(list?.staff || []).map((s) => <StaffRow key={s.userId} s={s} self={s.userId === session.userId} roles={ROLES.filter((r) => session.role === 'STATE_ADMIN' || r !== 'STATE_ADMIN')} onDone={(m) => { setCreated(m); reload(); }} />)}</tbody>
      </table></TableWrap>
      <h2>{t('admin.create')}</h2>
      <Notice kind="error">{formError && errorText(formError)}</Notice>
      <Notice kind="success">{created}</Notice>
      <form onSubmit={create}>
        <Field label={t('login.username')} value={f.username} onInput={set('username')} error={errors.username} autocomplete="off" />
        <Field label={t('admin.name')} value={f.fullName} onInput={set('fullName')} error={errors.fullName} />
        <Field label={t('admin.role')} value={f.role} onInput={set('role')}>
          {ROLES.filter((r) => session.role === 'STATE_ADMIN' || r !== 'STATE_ADMIN').map((r) => <option key={r} value={r}>{t('role.' + r)}</option>)}
        </Field>
        <Field label={t('login.mobile')} value={f.mobile} onInput={set('mobile')} type="tel" error={errors.mobile} />
        <Field label={t('admin.password')} type="password" value={f.password} onInput={set('password')} error={errors.password} autocomplete="new-password" />
        <button type="submit">{t('admin.create')}</button>
      </form>
    </>
  );
}

// One account: change its role (and town) or disable it (which also ends its
// sessions); a reason is asked for the disabling.
function StaffRow({ s, self, roles, onDone }) {
  const [role, setRole] = useState(s.role);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(false);
  async function saveRole() {
    setError(null);
    try {
      await api('PUT', `/api/v1/staff/${encodeURIComponent(s.userId)}/role`, { key: newKey(), body: { role, ulb: role === 'STATE_ADMIN' ? '' : s.ulb } });
      onDone(msg('admin.role.saved', { username: s.username, role: t('role.' + role) }));
    } catch (e) { setError(e); }
  }
  async function disable() {
    if (!reason.trim()) { setError({ code: 'LOCAL', message: msg('rule.reason') }); return; }
    setError(null);
    try {
      await api('POST', `/api/v1/staff/${encodeURIComponent(s.userId)}/disable`, { key: newKey(), body: { reason: reason.trim() } });
      onDone(msg('admin.disabled.done', { username: s.username }));
    } catch (e) { setError(e); }
  }
  return (
    <tr>
      <td>{s.username}</td><td>{s.fullName}</td><td>{t('role.' + s.role)}</td><td>{s.ulb}</td><td>{s.disabled ? t('admin.disabled') : t('admin.active')}</td>
      <td>
        {!s.disabled && !self && !open && <button type="button" class="secondary" aria-label={t('admin.change.for', { username: s.username })} onClick={() => setOpen(true)}>{t('admin.change')}</button>}
        {open && (
          <div class="row-actions">
            <label for={'role-' + s.userId}>{t('admin.role')}</label>
            <select id={'role-' + s.userId} value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {roles.map((r) => <option key={r} value={r}>{t('role.' + r)}</option>)}
            </select>
            <button type="button" onClick={saveRole}>{t('admin.role.save')}</button>
            <label for={'reason-' + s.userId}>{t('admin.disable.reason')}</label>
            <input id={'reason-' + s.userId} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            <button type="button" class="secondary" onClick={disable}>{t('admin.disable')}</button>
            {error && <p class="error" role="alert">{error.code === 'LOCAL' ? String(error.message) : errorText(error)}</p>}
          </div>
        )}
      </td>
    </tr>
  );
}

// The operations page: the gateway's readiness (/readyz) for everyone; for
// state and town admins also GET /api/v1/operations — each routed service's
// worker as the gateway sees it and whether an operator has quarantined it
// (as the brokers say; unknown when they cannot), and the latest checkpoint
// (verified or not, when, how many chain heads it pins).
const OPS_ROLES = ['STATE_ADMIN', 'COMMISSIONER'];

export function Operations() {
  const session = currentSession();
  const [state, error, reload] = useLoad(async () => {
    const r = await fetch('/readyz', { cache: 'no-store' });
    return { ok: r.ok, body: await r.json().catch(() => ({})) };
  }, []);
  const admin = session && OPS_ROLES.includes(session.role);
  const [ops, opsError, opsReload] = useLoad(() => (admin ? api('GET', '/api/v1/operations') : Promise.resolve(null)), []);
  const cp = ops?.checkpoint || {};
  return (
    <>
      <h1>{t('staff.operations')}</h1>
      <p>{t('ops.readonly')}</p>
      <Notice kind="error">{(error || opsError) && errorText(error || opsError)}</Notice>
      {state && (
        <dl class="facts">
          <dt>{t('ops.ready')}</dt><dd data-testid="ready">{state.ok ? t('ops.yes') : t('ops.no')}</dd>
          {state.body.missing && <><dt>{t('ops.missing')}</dt><dd>{[].concat(state.body.missing).join(', ')}</dd></>}
          {state.body.message && <><dt>{t('ops.detail')}</dt><dd>{state.body.message}</dd></>}
        </dl>
      )}
      {ops && (
        <>
          <section aria-labelledby="ops-services">
            <h2 id="ops-services">{t('ops.services')}</h2>
            <p data-testid="ops-broker">{ops.brokerReachable ? t('ops.broker.ok') : t('ops.broker.down')}</p>
            <TableWrap label={t('ops.services')}><table data-testid="ops-services">
              <thead><tr><th scope="col">{t('ops.service')}</th><th scope="col">{t('ops.worker')}</th><th scope="col">{t('ops.quarantine')}</th></tr></thead>
              <tbody>{(ops.services || []).map((s) => (
                <tr key={s.name} data-worker={s.worker} data-quarantine={s.quarantine}><th scope="row">{s.name}</th><td>{t('ops.worker.' + (s.worker || 'NOT_PROBED'))}</td><td>{t('ops.quarantine.' + (s.quarantine || 'UNKNOWN'))}</td></tr>
              ))}</tbody>
            </table></TableWrap>
            {!ops.quarantineKnown && <p class="muted">{t('ops.quarantine.unknown')}</p>}
          </section>
          <section aria-labelledby="ops-checkpoint">
            <h2 id="ops-checkpoint">{t('ops.checkpoint')}</h2>
            <dl class="facts">
              <dt>{t('ops.checkpoint.status')}</dt><dd data-testid="ops-checkpoint" data-status={cp.status}>{t('ops.checkpoint.' + (cp.status || 'NONE'))}</dd>
              {cp.createdAt && <><dt>{t('ops.checkpoint.signed')}</dt><dd>{indianDateTime(cp.createdAt)} ({t('ops.checkpoint.age', { minutes: String(Math.floor(Number(cp.ageSeconds || 0) / 60)) })})</dd></>}
              {cp.status === 'VERIFIED' && <><dt>{t('ops.checkpoint.pins')}</dt><dd>{t('ops.checkpoint.heads', { heads: String(cp.heads || 0), chains: String(cp.chains || 0) })}</dd></>}
              {cp.detail && <><dt>{t('ops.detail')}</dt><dd>{cp.detail}</dd></>}
              <dt>{t('ops.checked')}</dt><dd>{indianDateTime(ops.checkedAt)}</dd>
            </dl>
          </section>
        </>
      )}
      <button type="button" class="secondary" onClick={() => { reload(); opsReload(); }}>{t('common.refresh')}</button>
      {!admin && <p class="muted">{t('ops.admins')}</p>}
    </>
  );
}
