// services.js — the start page's list of services: [link, title key, hint key].
// (build.mjs renders the start page into index.html through prerender.jsx.)
export const SERVICES = [
  ['/property', 'home.property', 'home.property.hint'],
  ['/water', 'home.water', 'home.water.hint'],
  ['/certificates', 'home.certificates', 'home.certificates.hint'],
  ['/verify', 'home.verify', 'home.verify.hint'],
  ['/settings', 'home.settings', 'home.settings.hint'],
];
