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

export function TownPicker() {
  const [query, setQuery] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const timer = setTimeout(() => {
      api('GET', '/api/v1/ulbs', { query: { query: query.trim(), pageSize: 20 } })
        .then((r) => { setResult(r); setError(null); }, setError);
    }, 200);
    return () => clearTimeout(timer);
  }, [query]);
  return (
    <>
      <h1>{t('town.title')}</h1>
      <Field label={t('town.search')} hint={t('town.search.hint')} value={query} onInput={setQuery} type="search" autocomplete="off" />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {result && <p role="status">{t('town.count', { count: String(result.total ?? (result.ulbs || []).length) })}</p>}
      <ul class="list">
        {(result?.ulbs || []).map((u) => (
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
