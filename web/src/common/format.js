// format.js — money and dates the Indian way, exactly (no floating point).
//
// Money is int64 paise, carried in JSON as a string: "12345678" -> ₹1,23,456.78
// (lakh/crore grouping). Dates are ISO (YYYY-MM-DD) -> 04/12/2026 (DD/MM/YYYY).

export function groupIndian(digits) {
  if (digits.length <= 3) return digits;
  const last3 = digits.slice(-3);
  let rest = digits.slice(0, -3);
  const parts = [];
  while (rest.length > 2) {
    parts.unshift(rest.slice(-2));
    rest = rest.slice(0, -2);
  }
  if (rest) parts.unshift(rest);
  return parts.join(',') + ',' + last3;
}

export function rupees(paise) {
  let text = String(paise ?? '0').trim();
  if (!/^-?\d+$/.test(text)) text = '0';
  const negative = text.startsWith('-');
  if (negative) text = text.slice(1);
  text = text.replace(/^0+(?=\d)/, '').padStart(3, '0');
  const whole = text.slice(0, -2).replace(/^0+(?=\d)/, '');
  return (negative ? '-' : '') + '₹' + groupIndian(whole) + '.' + text.slice(-2);
}

// "1,234.50" / "1234.5" / "1234" -> "123450" (paise), or null when not money.
export function parseRupees(text) {
  const clean = String(text || '').replace(/[₹,\s]/g, '');
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(clean);
  if (!m) return null;
  const paise = BigInt(m[1]) * 100n + BigInt((m[2] || '0').padEnd(2, '0'));
  return paise.toString();
}

export function indianDate(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || '');
  return m ? `${m[3]}/${m[2]}/${m[1]}` : (iso || '');
}

export function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// Financial year of a date: April-March, written 2026-27.
export function financialYear(iso = today()) {
  const [y, m] = iso.split('-').map(Number);
  const start = m >= 4 ? y : y - 1;
  return `${start}-${String((start + 1) % 100).padStart(2, '0')}`;
}

// A timestamp (ISO 8601 or PostgreSQL's "2026-12-04 21:22:10.5+00") in India
// Standard Time: 05/12/2026 02:52.
export function indianDateTime(text) {
  const iso = String(text || '').replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return text || '';
  const d = new Date(ms + 330 * 60000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}
