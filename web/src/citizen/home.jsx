// home.jsx — the start page and the town picker (search among the ULBs).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { Field, Link, Notice, navigate } from '../common/ui.jsx';
import { SERVICES } from './services.js';

const STORE = 'nagar.town';
let town = null;
try { town = JSON.parse(localStorage.getItem(STORE) || 'null'); } catch { town = null; }
const listeners = new Set();

export function currentTown() { return town; }
export function useTown() {
  const [value, set] = useState(town);
  useEffect(() => { listeners.add(set); return () => listeners.delete(set); }, []);
  return value;
}
function chooseTown(ulb) {
  town = { code: ulb.code, name: ulb.name, district: ulb.districtName };
  try { localStorage.setItem(STORE, JSON.stringify(town)); } catch { /* private mode */ }
  listeners.forEach((fn) => fn(town));
}

export function Home() {
  const town = useTown();
  return (
    <>
      <h1>{t('home.title')}</h1>
      <p>{town ? t('home.town', { town: town.name }) : <Link href="/town">{t('town.choose')}</Link>}</p>
      <ul class="cards">
        {SERVICES.map(([href, title, hint]) => (
          <li key={href}><Link href={href}><strong>{t(title)}</strong><span>{t(hint)}</span></Link></li>
        ))}
      </ul>
    </>
  );
}

// The towns come with the app (ulbs.js, a chunk of their own, preloaded by
// town.html): searched here as the service searches them (a part of the
// name, any case), no round trip. A town added since this build (ulb.create)
// is asked of the service when the list has no match.
let towns = null;
export function loadTowns() {
  return towns ? Promise.resolve(towns) : import('./ulbs.js').then((m) => (towns = m.ULBS));
}
const SHOWN = 20;

export function TownPicker() {
  const [query, setQuery] = useState('');
  const [list, setList] = useState(towns);
  const [remote, setRemote] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { if (!list) loadTowns().then(setList, setError); }, []);
  const q = query.trim().toLowerCase();
  const found = list ? list.filter((u) => !q || u.name.toLowerCase().includes(q)) : null;
  useEffect(() => {
    setRemote(null);
    if (!found || found.length || !q) return undefined;
    const timer = setTimeout(() => {
      api('GET', '/api/v1/ulbs', { query: { query: query.trim(), pageSize: SHOWN } })
        .then((r) => { setRemote(r); setError(null); }, setError);
    }, 200);
    return () => clearTimeout(timer);
  }, [q, list]);
  const shown = found && found.length ? found : (remote?.ulbs || []);
  const count = found && found.length ? found.length : (remote ? remote.total ?? shown.length : found ? 0 : null);
  return (
    <>
      <h1>{t('town.title')}</h1>
      <Field label={t('town.search')} hint={t('town.search.hint')} value={query} onInput={setQuery} type="search" autocomplete="off" />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {count !== null && <p role="status">{t('town.count', { count: String(count) })}</p>}
      <ul class="list">
        {shown.slice(0, SHOWN).map((u) => (
          <li key={u.code}>
            <button type="button" class="link" onClick={() => { chooseTown(u); navigate('/'); }}>
              {u.name} <small>({u.districtName}, {u.code})</small>
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
