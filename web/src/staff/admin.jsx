// admin.jsx — staff and roles per town (state and town admins), and the
// read-only operations page (service readiness).
import { useState } from 'preact/hooks';
import { api, currentSession, newKey } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
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
    if (!/^[a-z0-9._-]{3,64}$/.test(f.username)) local.username = t('admin.username.rule');
    if (!f.fullName.trim()) local.fullName = t('rule.required');
    if (f.password.length < 12) local.password = t('admin.password.rule');
    setErrors(local); setFormError(null); setCreated('');
    if (Object.keys(local).length) return;
    try {
      const s = await api('POST', '/api/v1/staff', { key: newKey(), body: { ...f, fullName: f.fullName.trim(), ulb: f.role === 'STATE_ADMIN' ? '' : ulb } });
      setCreated(t('admin.created', { username: s.username })); reload();
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
        <thead><tr><th scope="col">{t('login.username')}</th><th scope="col">{t('admin.name')}</th><th scope="col">{t('admin.role')}</th><th scope="col">{t('jobs.ulb')}</th><th scope="col">{t('admin.status')}</th></tr></thead>
        <tbody>{(list?.staff || []).map((s) => <tr key={s.userId}><td>{s.username}</td><td>{s.fullName}</td><td>{t('role.' + s.role)}</td><td>{s.ulb}</td><td>{s.disabled ? t('admin.disabled') : t('admin.active')}</td></tr>)}</tbody>
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

export function Operations() {
  const [state, error, reload] = useLoad(async () => {
    const r = await fetch('/readyz', { cache: 'no-store' });
    return { ok: r.ok, body: await r.json().catch(() => ({})) };
  }, []);
  return (
    <>
      <h1>{t('staff.operations')}</h1>
      <p>{t('ops.readonly')}</p>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {state && (
        <dl class="facts">
          <dt>{t('ops.ready')}</dt><dd data-testid="ready">{state.ok ? t('ops.yes') : t('ops.no')}</dd>
          {state.body.missing && <><dt>{t('ops.missing')}</dt><dd>{[].concat(state.body.missing).join(', ')}</dd></>}
          {state.body.message && <><dt>{t('ops.detail')}</dt><dd>{state.body.message}</dd></>}
        </dl>
      )}
      <button type="button" class="secondary" onClick={reload}>{t('common.refresh')}</button>
      <p class="muted">{t('ops.pending')}</p>
    </>
  );
}
