// ui.jsx — the small set of components both apps are made of: labelled
// fields with their error, buttons, the language switch, notices, a router.
import { useEffect, useState } from 'preact/hooks';
import { language, onLanguage, setLanguage, t } from './i18n.js';

export function useLanguage() {
  const [lang, set] = useState(language());
  useEffect(() => onLanguage(set), []);
  return lang;
}

let routeListeners = new Set();
export function navigate(path) {
  history.pushState(null, '', path);
  routeListeners.forEach((fn) => fn(location.pathname + location.search));
  window.scrollTo(0, 0);
  const main = document.getElementById('main');
  if (main) main.focus();
}
window.addEventListener('popstate', () => routeListeners.forEach((fn) => fn(location.pathname + location.search)));

export function useRoute() {
  const [path, set] = useState(location.pathname + location.search);
  useEffect(() => { routeListeners.add(set); return () => routeListeners.delete(set); }, []);
  return path;
}

export function Link({ href, children, ...rest }) {
  return (
    <a href={href} onClick={(e) => { if (e.ctrlKey || e.metaKey || e.button) return; e.preventDefault(); navigate(href); }} {...rest}>
      {children}
    </a>
  );
}

export function LanguageSwitch() {
  const lang = useLanguage();
  const other = lang === 'hi' ? 'en' : 'hi';
  return (
    <button type="button" class="lang" lang={other} onClick={() => setLanguage(other)} aria-label={t('lang.switch')}>
      {other === 'en' ? 'English' : 'हिन्दी'}
    </button>
  );
}

let fieldCounter = 0;
// A labelled input; error is shown under it and tied with aria-describedby.
export function Field({ label, error, hint, value, onInput, type = 'text', id, children, ...rest }) {
  const [fid] = useState(() => id || 'f' + (++fieldCounter));
  const described = [hint ? fid + '-hint' : '', error ? fid + '-error' : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={'field' + (error ? ' invalid' : '')}>
      <label for={fid}>{label}</label>
      {hint && <small id={fid + '-hint'}>{hint}</small>}
      {children ? (
        <select id={fid} value={value} onChange={(e) => onInput(e.currentTarget.value)} aria-invalid={error ? 'true' : undefined} aria-describedby={described} {...rest}>{children}</select>
      ) : type === 'textarea' ? (
        <textarea id={fid} value={value} onInput={(e) => onInput(e.currentTarget.value)} aria-invalid={error ? 'true' : undefined} aria-describedby={described} {...rest} />
      ) : (
        <input id={fid} type={type} value={value} onInput={(e) => onInput(e.currentTarget.value)} aria-invalid={error ? 'true' : undefined} aria-describedby={described} {...rest} />
      )}
      {error && <p class="error" id={fid + '-error'} role="alert">{String(error)}</p>}
    </div>
  );
}

export function Notice({ kind = 'info', children }) {
  if (!children) return null;
  const text = children.key && children.toString ? String(children) : children;   // a msg()
  return <div class={'notice ' + kind} role={kind === 'error' ? 'alert' : 'status'}>{text}</div>;
}

export function Busy({ when }) {
  return when ? <p class="busy" role="status">{t('common.loading')}</p> : null;
}

// Loads once per deps change; returns [data, error, reload].
export function useLoad(fn, deps) {
  const [state, set] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    set((s) => ({ ...s, loading: true }));
    Promise.resolve().then(fn).then((data) => live && set({ data, error: null, loading: false }),
      (error) => live && set({ data: null, error, loading: false }));
    return () => { live = false; };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((n) => n + 1), state.loading];
}

// A table that may scroll sideways on a narrow screen: a labelled region the
// keyboard can reach (and scroll), so nothing is out of reach.
export function TableWrap({ label, children }) {
  return <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>{children}</div>;
}

// A page loaded on first use (its own chunk): load() is a dynamic import,
// name the component it exports. Keeps the first load to what the start page
// needs. Lazy.preload() loads it ahead (the app waits for the page it opens
// on, whose chunk the HTML preloads, so that its first render replaces the
// page the build put in the HTML with the same page, not a "loading" line).
export function lazy(load, name) {
  let Component = null;
  let loading = null;
  const start = () => (loading = loading || load().then((m) => { Component = m[name]; }));
  Lazy.preload = () => start().catch(() => { loading = null; });
  return Lazy;
  function Lazy(props) {
    const [, setReady] = useState(false);
    const [failed, setFailed] = useState(null);
    useEffect(() => {
      if (Component) return undefined;
      let live = true;
      start().then(() => live && setReady(true), (e) => { loading = null; if (live) setFailed(e); });
      return () => { live = false; };
    }, []);
    if (Component) return <Component {...props} />;
    if (failed) return <Notice kind="error">{t('error.NETWORK')}</Notice>;
    return <p class="busy" role="status">{t('common.loading')}</p>;
  }
}

// Field errors from an API error: {field: message}.
export function fieldErrors(e, map = {}) {
  if (!e || !e.field) return {};
  const key = map[e.field] || e.field.replace(/^.*\./, '');
  return { [key]: e.message };
}
