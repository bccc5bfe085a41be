// seal.js — offline check of a certificate's QR payload, as
// common/certificate_seal.h defines it:
//   "NC1." key_id "." base64url(nagar.certificates.Seal) "." base64url(Ed25519 signature)
// The signature covers everything before the last '.'. Needs only the
// public keys the certificates service publishes (GET /api/v1/certificates/keys,
// kept on the device by verify.jsx) with the days each was valid for.
import { verifyAsync } from '@noble/ed25519';

function b64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('bad base64url');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
function hex(text) {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new Error('bad key');
  return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
}

// The Seal protobuf: strings 1,3,4,6,7,8; varints 2 (kind), 5 (version).
export function decodeSeal(bytes) {
  const out = {};
  const names = { 1: 'certificateId', 2: 'kind', 3: 'ulb', 4: 'registrationNumber', 5: 'version', 6: 'subjectName', 7: 'eventDate', 8: 'issuedOn' };
  let i = 0;
  const varint = () => { let v = 0, s = 0, b; do { b = bytes[i++]; if (b === undefined) throw new Error('truncated'); v += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return v; };
  while (i < bytes.length) {
    const tag = varint(); const field = Math.floor(tag / 8); const wire = tag & 7;
    if (wire === 0) out[names[field] || field] = varint();
    else if (wire === 2) { const n = varint(); out[names[field] || field] = new TextDecoder('utf-8', { fatal: true }).decode(bytes.slice(i, i + n)); i += n; }
    else throw new Error('unexpected wire type');
  }
  out.kind = ['', 'BIRTH', 'DEATH', 'MARRIAGE'][out.kind] || 'UNKNOWN';
  return out;
}

// keys: the list GET /api/v1/certificates/keys answers, [{keyId, publicKey
// (hex), validFrom, validUntil ('' or absent: the key still signs)}].
// -> {status: 'VALID'|'INVALID'|'UNKNOWN_KEY', seal?, reason?}; reason
// 'OUTSIDE_VALIDITY' when the signature checks but the seal's date of issue
// lies outside the days its key was valid for (a retired key that leaked
// cannot vouch for a certificate dated after its retirement).
export async function verifyOffline(payload, keys) {
  const text = String(payload || '').trim();
  const parts = text.split('.');
  if (parts.length !== 4 || parts[0] !== 'NC1') return { status: 'INVALID' };
  const key = (keys || []).find((k) => k.keyId === parts[1]);
  if (!key) return { status: 'UNKNOWN_KEY' };
  try {
    const signed = new TextEncoder().encode(text.slice(0, text.lastIndexOf('.')));
    const ok = await verifyAsync(b64url(parts[3]), signed, hex(key.publicKey));
    if (!ok) return { status: 'INVALID' };
    const seal = decodeSeal(b64url(parts[2]));
    const issued = String(seal.issuedOn || '');
    if (!issued || issued < (key.validFrom || '') || (key.validUntil && issued > key.validUntil)) {
      return { status: 'INVALID', reason: 'OUTSIDE_VALIDITY', seal };
    }
    return { status: 'VALID', seal };
  } catch {
    return { status: 'INVALID' };
  }
}
