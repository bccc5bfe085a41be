// api.js — the one way the apps talk to the gateway.
//
// The access token lives in this module's memory only (never in storage).
// The refresh token is an HttpOnly cookie the gateway sets on login
// (X-Nagar-Session: cookie); refreshing sends the CSRF token the gateway put
// in the readable nagar_csrf cookie as X-CSRF-Token (double submit).

let session = null; // {accessToken, userId, role, ulb, expiresAt}
const listeners = new Set();

export function onSession(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function currentSession() { return session; }
function setSession(s) { session = s; listeners.forEach((fn) => fn(s)); }

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'NETWORK' : 'HTTP_' + status);
    this.field = e.field || '';
    this.requestId = e.requestId || '';
  }
}

export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function cookie(name) {
  const m = document.cookie.split('; ').find((c) => c.startsWith(name + '='));
  return m ? decodeURIComponent(m.slice(name.length + 1)) : '';
}

function adopt(pair) {
  setSession({
    accessToken: pair.accessToken, userId: pair.userId, role: pair.role, ulb: pair.ulb || '',
    expiresAt: Date.now() + (Number(pair.accessExpiresInSeconds || 900) - 30) * 1000,
  });
  return session;
}

async function raw(method, path, { body, key, query, headers = {}, signal } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    Object.entries(query).forEach(([k, v]) => { if (v !== undefined && v !== '' && v !== null) q.set(k, v); });
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (key) h['Idempotency-Key'] = key;
  if (session && !h.Authorization) h.Authorization = 'Bearer ' + session.accessToken;
  let response;
  try {
    response = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', signal });
  } catch (e) {
    throw new ApiError(0, { error: { code: 'NETWORK', message: String(e && e.message || e) } });
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { json = null; }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

// Whether a session may be restored from the refresh cookie (the gateway
// sets the readable nagar_csrf cookie next to it): without one there is
// nothing to wait for before showing a page.
export function mayRestore() { return !!cookie('nagar_csrf'); }

let refreshing = null;
export async function refresh() {
  if (!cookie('nagar_csrf')) return null;
  if (!refreshing) {
    refreshing = raw('POST', '/api/v1/auth/refresh', { body: {}, headers: { 'X-CSRF-Token': cookie('nagar_csrf'), Authorization: '' } })
      .then(adopt)
      .catch((e) => { if (e.status === 401 || e.status === 403) setSession(null); return null; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function api(method, path, options = {}) {
  if (session && Date.now() > session.expiresAt) await refresh();
  try {
    return await raw(method, path, options);
  } catch (e) {
    if (e.status === 401 && session && await refresh()) return raw(method, path, options);
    throw e;
  }
}

export async function loginOtp(mobile, otp) {
  return adopt(await raw('POST', '/api/v1/auth/otp/verify', { body: { mobile, otp }, key: newKey(), headers: { 'X-Nagar-Session': 'cookie' } }));
}

export async function loginStaff(username, password) {
  return adopt(await raw('POST', '/api/v1/auth/staff/login', { body: { username, password }, key: newKey(), headers: { 'X-Nagar-Session': 'cookie' } }));
}

export async function logout() {
  try {
    if (session) await raw('POST', '/api/v1/auth/logout', { body: {}, key: newKey(), headers: { 'X-CSRF-Token': cookie('nagar_csrf') } });
  } finally {
    setSession(null);
  }
}

// The PDF routes answer {"pdf": base64}: save it as a file.
export function downloadPdf(base64, fileName) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/pdf' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
