// main.jsx — the staff app (desktop and tablet): inbox (and a return opened
// from it), counter (also offline), jobs, reports, master data, administration.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../common/style.css';
import { addEntries } from '../common/strings.js';
import { staffEntries } from './strings.js';
import { currentSession, mayRestore, onSession, refresh } from '../common/api.js';
import { t } from '../common/i18n.js';
import { Link, useLanguage, useRoute } from '../common/ui.jsx';
import { Login, StaffFrame } from './frame.jsx';
import { Inbox } from './inbox.jsx';
import { ReturnPage } from './return.jsx';
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
  const [restored, setRestored] = useState(() => !mayRestore());
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
  // /staff/returns/<id>: a return opened from the inbox (the inbox stays the current page).
  const returnId = /^\/staff\/returns\/(\d{1,19})$/.exec(path)?.[1];
  const current = visible.find(([p]) => p === path) || (path === '/staff' || returnId ? visible[0] : null);
  let content;
  if (!session && !restored) content = <p role="status">{t('common.loading')}</p>;
  else if (!session && unreachable && path === '/staff/counter') content = <Counter unreachable onBack={() => setUnreachable(false)} />;
  else if (!session && unreachable) content = <Unreachable />;
  else if (!session) content = <Login />;
  else if (returnId) content = <ReturnPage assessmentId={returnId} />;
  else content = current ? h(current[2]) : <p>{t('staff.nopage')}</p>;
  return <StaffFrame session={session} nav={visible} current={current && current[0]}>{content}</StaffFrame>;
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
