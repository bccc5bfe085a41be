// i18n.js — Hindi by default, English one tap away, the choice remembered
// (localStorage "nagar.lang"). Every string the apps show comes from
// strings.js; build.mjs fails when the two catalogs do not have the same keys.
import { catalogs } from './strings.js';

const STORE = 'nagar.lang';
let lang = 'hi';
try { lang = localStorage.getItem(STORE) === 'en' ? 'en' : 'hi'; } catch { /* private mode */ }
const listeners = new Set();

export function language() { return lang; }
export function onLanguage(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'hi';
  try { localStorage.setItem(STORE, lang); } catch { /* private mode */ }
  document.documentElement.lang = lang;
  listeners.forEach((fn) => fn(lang));
}
document.documentElement.lang = lang;

// t('dues.total', {amount: '₹1.00'}) -> the catalog's text with {amount} filled.
export function t(key, params) {
  let text = catalogs[lang][key] ?? catalogs.en[key] ?? key;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (params[name] ?? m));
  return text;
}

// A message kept for later (in a page's state: an error at a field, what was
// just done), as its key: drawn in the language shown when it is drawn, not
// the one chosen when it was made. Field and Notice take it as it is;
// elsewhere String(m).
export function msg(key, params) {
  return { key, params, toString: () => t(key, params) };
}

// An API error in the chosen language: a known code gets its own words; the
// service's message (English) is kept as detail.
export function errorText(e) {
  if (!e) return '';
  const known = catalogs[lang]['error.' + e.code];
  return known || catalogs[lang]['error.generic'].replace('{message}', e.message || String(e));
}
