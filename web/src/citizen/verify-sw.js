// verify-sw.js — the citizen verify page's service worker (scope /verify):
// keeps the page and every script it runs (the app's first load, the verify
// page's chunks, the seal check, the QR decoder), so that after one visit a
// certificate can be verified with no network at all — the page opens from
// here and checks the seal with the keys it kept on the device. It controls
// /verify only; API calls are never cached (network, or the page's own
// offline path).
/* global __PRECACHE__, __VERSION__ */
const CACHE = 'nagar-verify-' + __VERSION__;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(__PRECACHE__)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith('nagar-verify-') && n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (event.request.mode === 'navigate') {
    // Network first for the page (new releases), the kept one without it.
    event.respondWith(fetch(event.request).catch(() => caches.match('/verify')));
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request)));
});
