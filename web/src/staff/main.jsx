// main.jsx — the staff app (desktop and tablet): inbox, counter (also
// offline), jobs, reports, master data, administration.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../common/style.css';
import { addEntries } from '../common/strings.js';
import { staffEntries } from './strings.js';
import { currentSession, loginStaff, logout, onSession, refresh } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { Field, LanguageSwitch, Link, Notice, navigate, useLanguage, useRoute } from '../common/ui.jsx';
import { Inbox } from './inbox.jsx';
import { Counter } from './counter.jsx';
import { Jobs } from './jobs.jsx';
import { Reports } from './reports.jsx';
import { Admin, Operations } from './admin.jsx';
import { MasterData } from './masterdata.jsx';

addEntries(staffEntries);

const pages = [
  ['/staff/', 'staff.inbox', Inbox, null],
  ['/staff/counter', 'staff.counter', Counter, ['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER']],
  ['/staff/jobs', 'staff.jobs', Jobs, ['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN']],
  ['/staff/reports', 'staff.reports', Reports, ['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN']],
  ['/staff/masterdata', 'staff.masterdata', MasterData, ['REGISTRAR', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN']],
  ['/staff/admin', 'staff.admin', Admin, ['COMMISSIONER', 'STATE_ADMIN']],
  ['/staff/operations', 'staff.operations', Operations, null],
];

function useSession() {
  const [s, set] = useState(currentSession());
  useEffect(() => onSession(set), []);
  return s;
}

function App() {
  useLanguage();
  const route = useRoute();
  const session = useSession();
  const [restored, setRestored] = useState(false);
  // Unreachable gateway (or no network): the session cannot be restored, but
  // the counter still works on offline slips (the service worker serves the app).
  const [unreachable, setUnreachable] = useState(!navigator.onLine);
  useEffect(() => {
    refresh().then(async (s) => {
      if (s) return;
      try { await fetch('/healthz', { cache: 'no-store' }); } catch { setUnreachable(true); }
    }).finally(() => setRestored(true));
  }, []);
  useEffect(() => { document.title = t('app.staff.title'); });
  const path = route.split('?')[0];
  const visible = pages.filter(([, , , roles]) => !roles || (session && roles.includes(session.role)));
  const current = visible.find(([p]) => p === path) || (path === '/staff' ? visible[0] : null);
  let content;
  if (!session && !restored) content = <p role="status">{t('common.loading')}</p>;
  else if (!session && unreachable && path === '/staff/counter') content = <Counter unreachable onBack={() => setUnreachable(false)} />;
  else if (!session && unreachable) content = <Unreachable />;
  else if (!session) content = <Login />;
  else content = current ? h(current[2]) : <p>{t('staff.nopage')}</p>;
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
            {visible.map(([href, label]) => <Link key={href} href={href} aria-current={current && current[0] === href ? 'page' : undefined}>{t(label)}</Link>)}
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>{content}</main>
    </>
  );
}
const h = (C) => <C />;

function Unreachable() {
  return (
    <>
      <h1>{t('staff.unreachable')}</h1>
      <p>{t('staff.unreachable.hint')}</p>
      <p><Link href="/staff/counter" class="button">{t('staff.counter')}</Link></p>
    </>
  );
}

function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    // A refused login (wrong password, unknown or disabled account: the
    // service answers all three alike) is no ended session.
    try { await loginStaff(username.trim(), password); } catch (err) { setError(err.code === 'UNAUTHENTICATED' ? { code: 'LOCAL', message: t('staff.login.refused') } : err); }
  }
  return (
    <>
      <h1>{t('staff.login')}</h1>
      <Notice kind="error">{error && (error.code === 'LOCAL' ? error.message : errorText(error))}</Notice>
      <form onSubmit={submit}>
        <Field label={t('login.username')} value={username} onInput={setUsername} autocomplete="username" />
        <Field label={t('login.password')} type="password" value={password} onInput={setPassword} autocomplete="current-password" />
        <button type="submit">{t('login.verify')}</button>
      </form>
    </>
  );
}

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/staff/sw.js', { scope: '/staff/' }).catch(() => { /* offline counter unavailable */ });
  // A page whose load began while the worker was still installing is not
  // among those its activation claimed: ask it to claim this one too, so the
  // counter works offline from the first visit.
  navigator.serviceWorker.ready.then((registration) => {
    if (!navigator.serviceWorker.controller && registration.active) registration.active.postMessage('claim');
  });
}
render(<App />, document.getElementById('app'));
