// verify.jsx — verify a certificate: scan its QR with the camera, upload a
// photo, or paste the text. Online: valid, superseded or invalid from the
// register. Offline (or when the register cannot be reached): the signature
// checked with the keys the certificates service publishes
// (GET /api/v1/certificates/keys, no login), fetched whenever this page opens
// online and kept on the device; the page itself is kept by a service worker
// (verify-sw.js), so that one visit is enough to verify offline.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../common/api.js';
import { t } from '../common/i18n.js';
import { indianDate, indianDateTime } from '../common/format.js';
import { Field, Notice } from '../common/ui.jsx';

// The kept keys: {keys: [{keyId, publicKey, validFrom, validUntil}], fetchedAt}.
const KEYS_STORE = 'nagar.certificateKeys';
const KEYS_MAX = 64;
function keptKeys() {
  try { return JSON.parse(localStorage.getItem(KEYS_STORE) || 'null'); } catch { return null; }
}
// Only well-formed keys are kept (bounded: a service answering nonsense
// cannot fill the device's storage).
function wellFormed(list) {
  const day = /^\d{4}-\d{2}-\d{2}$/;
  return (Array.isArray(list) ? list : []).slice(0, KEYS_MAX).filter((k) => k
    && typeof k.keyId === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(k.keyId)
    && (k.algorithm || 'Ed25519') === 'Ed25519' && /^[0-9a-f]{64}$/.test(k.publicKey || '')
    && day.test(k.validFrom || '') && (!k.validUntil || day.test(k.validUntil)))
    .map(({ keyId, publicKey, validFrom, validUntil }) => ({ keyId, publicKey, validFrom, validUntil: validUntil || '' }));
}
let fetching = null;
export function fetchKeys() {
  if (!fetching) {
    fetching = api('GET', '/api/v1/certificates/keys').then((r) => {
      const kept = { keys: wellFormed(r.keys), fetchedAt: new Date().toISOString() };
      try { localStorage.setItem(KEYS_STORE, JSON.stringify(kept)); } catch { /* private mode: this visit only */ }
      return kept;
    }).finally(() => { fetching = null; });
  }
  return fetching;
}

async function decodeImage(source, width, height) {
  const { default: jsQR } = await import('jsqr');
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, width, height);
  const image = ctx.getImageData(0, 0, width, height);
  const code = jsQR(image.data, width, height);
  return code ? code.data : null;
}

export function Verify() {
  const [text, setText] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState('');
  const [camera, setCamera] = useState(false);
  const [keys, setKeys] = useState(keptKeys);
  useEffect(() => {
    fetchKeys().then(setKeys, () => { /* offline: the kept ones */ });
    // The page itself, kept for opening without the network (verify-sw.js).
    navigator.serviceWorker?.register('/verify-sw.js', { scope: '/verify' }).catch(() => { /* online only */ });
  }, []);

  async function check(payload) {
    setError(''); setResult(null);
    const value = (payload || '').trim();
    if (!value) { setError(t('verify.empty')); return; }
    const { verifyOffline } = await import('../common/seal.js');
    // A key id not among the kept keys may be a new one: ask once more.
    let known = keys;
    const keyId = value.split('.')[1];
    if (!known || !known.keys.some((k) => k.keyId === keyId)) {
      known = await fetchKeys().catch(() => known);
      setKeys(known);
    }
    const offline = await verifyOffline(value, known ? known.keys : []);
    try {
      const online = await api('GET', '/api/v1/certificates/verify', { query: { payload: value } });
      setResult({ source: 'online', status: online.status === 'UNKNOWN' ? 'INVALID' : online.status, seal: offline.seal, online });
    } catch (e) {
      if (e.code === 'NETWORK' || e.status >= 500 || e.status === 0) setResult({ source: 'offline', keptOn: known && known.fetchedAt, ...offline });
      else setResult({ source: 'online', status: 'INVALID' });
    }
  }
  async function onPhoto(e) {
    const file = e.currentTarget.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
      const data = await decodeImage(bitmap, Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
      if (!data) { setError(t('verify.noqr')); return; }
      setText(data); check(data);
    } catch { setError(t('verify.noqr')); }
  }
  return (
    <>
      <h1>{t('verify.title')}</h1>
      <p>{t('verify.intro')}</p>
      <div class="actions">
        <button type="button" onClick={() => setCamera(!camera)}>{camera ? t('verify.camera.stop') : t('verify.camera')}</button>
        <label class="button secondary" for="qr-photo">{t('verify.photo')}</label>
        <input id="qr-photo" class="visually-hidden" type="file" accept="image/*" onChange={onPhoto} />
      </div>
      {camera && <Camera onCode={(code) => { setCamera(false); setText(code); check(code); }} onError={() => { setCamera(false); setError(t('verify.camera.error')); }} />}
      <form onSubmit={(e) => { e.preventDefault(); check(text); }}>
        <Field label={t('verify.paste')} type="textarea" value={text} onInput={setText} rows={3} spellcheck={false} />
        <button type="submit">{t('verify.check')}</button>
      </form>
      <Notice kind="error">{error}</Notice>
      {result && <Result result={result} />}
    </>
  );
}

function Result({ result }) {
  const kind = result.status === 'VALID' ? 'success' : result.status === 'SUPERSEDED' ? 'warning' : 'error';
  const seal = result.seal || {};
  const online = result.online || {};
  return (
    <section class={'verdict ' + kind} aria-live="polite" data-testid="verdict" data-status={result.status}>
      <h2>{t('verify.status.' + result.status)}</h2>
      <p>{result.source === 'offline' ? t('verify.offline') : t('verify.online')}</p>
      {result.reason === 'OUTSIDE_VALIDITY' && <p>{t('verify.outsideValidity')}</p>}
      {result.source === 'offline' && (result.keptOn
        ? <p data-testid="keys-kept">{t('verify.keysKept', { date: indianDateTime(result.keptOn) })}</p>
        : <p>{t('verify.noKeys')}</p>)}
      {(seal.registrationNumber || online.registrationNumber) && (
        <dl class="facts">
          <dt>{t('cert.regno')}</dt><dd>{online.registrationNumber || seal.registrationNumber}</dd>
          {seal.subjectName && <><dt>{t('cert.subject')}</dt><dd>{seal.subjectName}</dd></>}
          <dt>{t('cert.eventDate')}</dt><dd>{indianDate(online.eventDate || seal.eventDate)}</dd>
          <dt>{t('cert.version')}</dt><dd>{online.version || seal.version}</dd>
          {online.supersededBy && <><dt>{t('verify.supersededBy')}</dt><dd>{online.supersededBy}</dd></>}
        </dl>
      )}
    </section>
  );
}

function Camera({ onCode, onError }) {
  const video = useRef(null);
  useEffect(() => {
    let stream = null, timer = null, live = true;
    navigator.mediaDevices?.getUserMedia({ video: { facingMode: 'environment' } }).then((s) => {
      stream = s;
      if (!live) return;
      video.current.srcObject = s;
      video.current.play();
      const tick = async () => {
        const v = video.current;
        if (v && v.videoWidth) {
          const code = await decodeImage(v, v.videoWidth, v.videoHeight);
          if (code) { onCode(code); return; }
        }
        timer = setTimeout(tick, 250);
      };
      tick();
    }, onError) ?? onError();
    return () => { live = false; clearTimeout(timer); stream?.getTracks().forEach((tr) => tr.stop()); };
  }, []);
  return <video ref={video} class="camera" muted playsInline aria-label={t('verify.camera.view')} />;
}
