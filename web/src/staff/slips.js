// slips.js — numbered offline slips in IndexedDB (database "nagar-counter").
//
// A slip is taken when the gateway cannot be reached: its key
// "<ulb>-<counter>-<yyyymmdd>-<nnnn>" is numbered per counter and day and
// never reused; it is for a property (kind "property") or a water connection
// ("water"). Replaying sends each slip through the existing offline-receipt
// path: the service's payment.record with Idempotency-Key "offline:<key>" (as
// `nagarctl receipts replay` does), so a slip is recorded exactly once however
// often it is replayed; the receipt it got is stored on the slip.
const DB = 'nagar-counter';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore('slips', { keyPath: 'key' });
      db.createObjectStore('counters', { keyPath: 'id' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(stores, mode, fn) {
  return open().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(stores, mode);
    let result;
    Promise.resolve(fn(t)).then((r) => { result = r; });
    t.oncomplete = () => { db.close(); resolve(result); };
    t.onerror = () => { db.close(); reject(t.error); };
    t.onabort = () => { db.close(); reject(t.error); };
  }));
}
const wrap = (req) => new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });

// Takes a slip: numbers it and stores it in one transaction.
export function takeSlip({ ulb, counter, kind, accountId, amountPaise, mode, instrumentRef }) {
  const d = new Date();
  const day = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
  const id = `${ulb}-${counter}-${day}`;
  return tx(['slips', 'counters'], 'readwrite', async (t) => {
    const counters = t.objectStore('counters');
    const row = (await wrap(counters.get(id))) || { id, next: 1 };
    const key = `${id}-${String(row.next).padStart(4, '0')}`;
    row.next += 1;
    counters.put(row);
    // kind: property or water; accountId: the property's or the connection's id.
    const slip = { key, ulb, counter, kind, accountId, amountPaise, mode, instrumentRef: instrumentRef || '', takenAt: d.toISOString(), receiptNo: '', outcome: 'PENDING' };
    t.objectStore('slips').put(slip);
    return slip;
  });
}

export function listSlips() {
  return tx(['slips'], 'readonly', (t) => wrap(t.objectStore('slips').getAll()))
    .then((list) => list.sort((a, b) => a.key.localeCompare(b.key)));
}

export function saveSlip(slip) {
  return tx(['slips'], 'readwrite', (t) => { t.objectStore('slips').put(slip); });
}
