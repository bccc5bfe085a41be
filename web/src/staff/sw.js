// sw.js — the staff app's service worker: keeps the app itself (HTML,
// bundles, manifest) so the counter opens and works without the network.
// API calls are never cached: offline payments go to numbered slips in
// IndexedDB (counter.jsx), replayed once the gateway answers again.
/* global __PRECACHE__, __VERSION__ */
const CACHE = 'nagar-staff-' + __VERSION__;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(__PRECACHE__)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith('nagar-staff-') && n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

// A page loaded while this worker was installing asks to be taken over.
self.addEventListener('message', (event) => {
  if (event.data === 'claim') event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (event.request.mode === 'navigate') {
    // Network first for the page (new releases), the cached app when offline.
    event.respondWith(fetch(event.request).catch(() => caches.match('/staff/')));
    return;
  }
  event.respondWith(caches.match(event.request).then((hit) => hit || fetch(event.request)));
});
