// main.jsx — the citizen app: mobile first, Hindi by default.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../common/style.css';
import { currentSession, mayRestore, onSession, refresh } from '../common/api.js';
import { t } from '../common/i18n.js';
import { lazy, useLanguage, useRoute } from '../common/ui.jsx';
import { Home, TownPicker, loadTowns } from './home.jsx';
import { Layout } from './layout.jsx';
import { Login } from './login.jsx';

// Every page but the start page, the town picker and the login is its own
// chunk, loaded when first opened.
const property = () => import('./property.jsx');
const PropertyTax = lazy(property, 'PropertyTax');
const PropertyPage = lazy(property, 'PropertyPage');
const PayReturn = lazy(property, 'PayReturn');
const ApplyMutation = lazy(() => import('./mutation.jsx'), 'ApplyMutation');
const assessment = () => import('./assessment.jsx');
const FileAssessment = lazy(assessment, 'FileAssessment');
const AssessmentPage = lazy(assessment, 'AssessmentPage');
const water = () => import('./water.jsx');
const Water = lazy(water, 'Water');
const WaterConnection = lazy(water, 'WaterConnection');
const Certificates = lazy(() => import('./certificates.jsx'), 'Certificates');
const Verify = lazy(() => import('./verify.jsx'), 'Verify');
const Settings = lazy(() => import('./settings.jsx'), 'Settings');

function useSession() {
  const [s, set] = useState(currentSession());
  useEffect(() => onSession(set), []);
  return s;
}

const protectedPrefixes = ['/property', '/water', '/certificates', '/settings', '/pay'];

function App() {
  useLanguage();
  const route = useRoute();
  const session = useSession();
  const [restored, setRestored] = useState(() => !mayRestore());
  useEffect(() => { refresh().finally(() => setRestored(true)); }, []);
  const path = route.split('?')[0];
  const needsLogin = protectedPrefixes.some((p) => path === p || path.startsWith(p + '/'));
  useEffect(() => {
    document.title = t('app.citizen.title');
  });
  let page;
  if (needsLogin && !session) {
    page = restored ? <Login next={route} /> : <p role="status">{t('common.loading')}</p>;
  } else if (path === '/login') page = <Login next="/" />;
  else if (path === '/town') page = <TownPicker />;
  else if (path === '/property') page = <PropertyTax />;
  else if (path.startsWith('/property/')) {
    // /property/<id>, /property/<id>/mutation, /property/<id>/assessment, /property/<id>/assessment/<return>
    const [id, sub, returnId] = path.slice(10).split('/').map(decodeURIComponent);
    if (sub === 'mutation') page = <ApplyMutation propertyId={id} />;
    else if (sub === 'assessment' && returnId) page = <AssessmentPage propertyId={id} assessmentId={returnId} />;
    else if (sub === 'assessment') page = <FileAssessment propertyId={id} />;
    else page = <PropertyPage id={id} />;
  }
  else if (path === '/pay/return') page = <PayReturn />;
  else if (path === '/water') page = <Water />;
  else if (path.startsWith('/water/')) page = <WaterConnection id={decodeURIComponent(path.slice(7))} />;
  else if (path === '/certificates' || path.startsWith('/certificates/')) page = <Certificates path={path} />;
  else if (path === '/verify') page = <Verify />;
  else if (path === '/settings') page = <Settings />;
  else page = <Home />;
  return <Layout session={session}>{page}</Layout>;
}

// The page the app opens on is in the HTML already (build.mjs renders the
// start page, the town search, the login and the verify page into it, see
// prerender.jsx) and the verify page's chunk (the town list's, for /town)
// preloaded: the first render waits for that chunk, so that it draws the
// same page over the one shown rather than a "loading" line.
Promise.resolve((location.pathname === '/verify' && Verify.preload()) || (location.pathname === '/town' && loadTowns().catch(() => {})))
  .then(() => render(<App />, document.getElementById('app')));
