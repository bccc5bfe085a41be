// frame.jsx — the staff app's frame (the skip link, the header with the
// user's role and town, the menu of the pages their role may open, <main>)
// and its login page. Shared by main.jsx and by prerender.jsx, which renders
// the login page into staff/index.html at build time.
import { useState } from 'preact/hooks';
import { loginStaff, logout } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { Field, LanguageSwitch, Link, Notice, navigate } from '../common/ui.jsx';

// nav: [[href, label key, ...], ...] the pages of the user's role; current: the open one's href.
export function StaffFrame({ session, nav = [], current, children }) {
  return (
    <>
      <a class="skip" href="#main">{t('common.skip')}</a>
      <header>
        <div class="bar">
          <Link href="/staff/" class="brand">{t('app.staff.name')}</Link>
          {session && <span data-testid="whoami">{t('staff.whoami', { role: t('role.' + session.role), ulb: session.ulb || t('staff.state') })}</span>}
          <LanguageSwitch />
          {session && <button type="button" class="secondary" onClick={() => logout().then(() => navigate('/staff/'))}>{t('login.logout')}</button>}
        </div>
        {session && (
          <nav aria-label={t('nav.label')} class="staff-nav">
            {nav.map(([href, label]) => <Link key={href} href={href} aria-current={current === href ? 'page' : undefined}>{t(label)}</Link>)}
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>{children}</main>
    </>
  );
}

export function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    // A refused login (wrong password, unknown or disabled account: the
    // service answers all three alike) is no ended session.
    try { await loginStaff(username.trim(), password); } catch (err) { setError(err.code === 'UNAUTHENTICATED' ? { code: 'LOCAL', key: 'staff.login.refused' } : err); }
  }
  return (
    <>
      <h1>{t('staff.login')}</h1>
      <Notice kind="error">{error && (error.code === 'LOCAL' ? t(error.key) : errorText(error))}</Notice>
      <form onSubmit={submit}>
        <Field label={t('login.username')} value={username} onInput={setUsername} autocomplete="username" />
        <Field label={t('login.password')} type="password" value={password} onInput={setPassword} autocomplete="current-password" />
        <button type="submit">{t('login.verify')}</button>
      </form>
    </>
  );
}

