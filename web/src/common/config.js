// config.js — the deployment's settings for the apps (/config.json, served
// by the gateway from NAGAR_GATEWAY_WEB_CONFIG): the payment provider's page.
// Absent means "not offered". (The certificate verification keys come from
// the certificates service's public route; see citizen/verify.jsx.)
let loaded = null;
export function config() {
  if (!loaded) {
    loaded = fetch('/config.json', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : {}))
      .then((c) => { try { localStorage.setItem('nagar.config', JSON.stringify(c)); } catch { /* */ } return c; })
      .catch(() => { try { return JSON.parse(localStorage.getItem('nagar.config') || '{}'); } catch { return {}; } });
  }
  return loaded;
}
