// counter.jsx — the counter: find a property or a water connection, take
// cash/cheque/DD/UPI, print the receipt, close the day with the collection of
// both; offline, numbered slips replayed exactly once.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, currentSession, downloadPdf, newKey, refresh } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDate, parseRupees, rupees, today } from '../common/format.js';
import { Field, Notice, TableWrap } from '../common/ui.jsx';
import { listSlips, saveSlip, takeSlip } from './slips.js';

const MODES = ['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI'];
// What the counter takes payments for: its routes, its id and how it looks.
const ACCOUNTS = {
  property: { base: '/api/v1/property-tax', dues: 'properties', idField: 'propertyId', label: 'property.id', pattern: /^\d{6}-\d{3}-\d{6}$/, invalid: 'property.id.invalid' },
  water: { base: '/api/v1/water-tax', dues: 'connections', idField: 'connectionId', label: 'counter.connection', pattern: /^[A-Z0-9-]{1,64}$/, invalid: 'counter.connection.invalid' },
};
const slipKind = (slip) => (slip.kind === 'water' ? 'water' : 'property');
const slipAccount = (slip) => slip.accountId || slip.propertyId;
let counterCode = 'C1';
try { counterCode = localStorage.getItem('nagar.counter') || 'C1'; } catch { /* */ }

async function replaySlip(slip) {
  try {
    const account = ACCOUNTS[slipKind(slip)];
    const receipt = await api('POST', account.base + '/payments', {
      key: 'offline:' + slip.key,
      body: { [account.idField]: slipAccount(slip), amountPaise: slip.amountPaise, mode: slip.mode, instrumentRef: slip.instrumentRef, counter: slip.counter },
    });
    const again = slip.receiptNo && slip.receiptNo === receipt.receiptNo;
    const next = { ...slip, receiptNo: receipt.receiptNo, outcome: again ? 'DUPLICATE' : 'RECORDED', message: '' };
    await saveSlip(next);
    return next;
  } catch (e) {
    // Not an answer about the slip (away, busy, logged out): it stays PENDING.
    if (e.code === 'NETWORK' || [401, 429, 503, 504].includes(e.status)) throw e;
    const next = { ...slip, outcome: e.status === 409 ? 'CONFLICT' : 'FAILED', message: e.message };
    await saveSlip(next);
    return next;
  }
}

export function Counter({ unreachable, onBack }) {
  const session = currentSession();
  const ulb = session?.ulb || '';
  const [counter, setCounter] = useState(counterCode);
  const [kind, setKind] = useState('property');
  const [propertyId, setPropertyId] = useState('');     // the property's or the connection's id
  const account = ACCOUNTS[kind];
  const [dues, setDues] = useState(null);
  const [amount, setAmount] = useState('');
  const [mode, setMode] = useState('CASH');
  const [instrument, setInstrument] = useState('');
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [receipt, setReceipt] = useState(null);
  const [slip, setSlip] = useState(null);
  const [slips, setSlips] = useState([]);
  const [offline, setOffline] = useState(!navigator.onLine || !!unreachable);
  const [replaying, setReplaying] = useState(false);
  const [report, setReport] = useState(null);

  const reloadSlips = () => listSlips().then(setSlips).catch(() => setSlips([]));
  useEffect(() => { reloadSlips(); }, []);
  useEffect(() => {
    // While slips wait or we are offline, look for the gateway every 3 s.
    const timer = setInterval(async () => {
      if (!offline && !slips.some((s) => s.outcome === 'PENDING')) return;
      try {
        const r = await fetch('/healthz', { cache: 'no-store' });
        if (r.ok && offline) setOffline(false);
      } catch { setOffline(true); }
    }, 3000);
    return () => clearInterval(timer);
  }, [offline, slips]);

  async function find(e) {
    e.preventDefault();
    setError(null); setDues(null); setReceipt(null); setSlip(null);
    try {
      const d = await api('GET', `${account.base}/${account.dues}/${encodeURIComponent(propertyId.trim())}/dues`);
      setDues(d); setOffline(false);
      setAmount(rupees(d.payablePaise).replace('₹', ''));
    } catch (err) {
      if (err.code === 'NETWORK') setOffline(true); else setError(err);
    }
  }
  async function pay(e) {
    e.preventDefault();
    const amountPaise = parseRupees(amount);
    const local = {};
    if (!account.pattern.test(propertyId.trim())) local.propertyId = t(account.invalid);
    if (!amountPaise || amountPaise === '0') local.amount = msg('rule.amount');
    if (mode !== 'CASH' && !instrument.trim()) local.instrument = msg('rule.instrument');
    if (!/^[A-Z0-9]{1,16}$/.test(counter)) local.counter = msg('counter.code.invalid');
    setErrors(local); setError(null); setReceipt(null); setSlip(null);
    if (Object.keys(local).length) return;
    try { localStorage.setItem('nagar.counter', counter); } catch { /* */ }
    const body = { [account.idField]: propertyId.trim(), amountPaise, mode, instrumentRef: instrument.trim(), counter };
    if (!offline) {
      try {
        const r = await api('POST', account.base + '/payments', { key: newKey(), body });
        setReceipt({ ...r, kind }); setDues(null); setAmount(''); setInstrument('');
        return;
      } catch (err) {
        if (err.code !== 'NETWORK') { setError(err); return; }
        setOffline(true);
      }
    }
    const s = await takeSlip({ ulb: ulb || propertyId.slice(0, 6), counter, kind, accountId: propertyId.trim(), amountPaise, mode, instrumentRef: body.instrumentRef });
    setSlip(s); setAmount(''); setInstrument('');
    reloadSlips();
  }
  const replayingNow = useRef(false);
  async function replay(all) {
    if (replayingNow.current) return;
    replayingNow.current = true;
    setReplaying(true); setError(null);
    try {
      for (const s of await listSlips()) {
        if (!all && s.outcome !== 'PENDING') continue;
        await replaySlip(s);
      }
      setOffline(false);
    } catch (err) {
      // Gateway or service away: keep the slips, look again every 3 s.
      if (err.code === 'NETWORK' || err.status === 503 || err.status === 504) setOffline(true); else setError(err);
    } finally { replayingNow.current = false; setReplaying(false); reloadSlips(); }
  }
  // The gateway answers again: restore the session (the refresh cookie
  // survived) and send the waiting slips, each once.
  useEffect(() => {
    if (offline || !slips.some((s) => s.outcome === 'PENDING')) return;
    (async () => {
      if (!currentSession() && !(await refresh())) {
        // Not restored: either the gateway is still away, or the clerk must
        // log in again (the slips wait in IndexedDB until then).
        try { if ((await fetch('/healthz', { cache: 'no-store' })).ok && onBack) onBack(); } catch { setOffline(true); }
        return;
      }
      replay(false);
    })();
  }, [offline, slips]);
  async function closeDay() {
    setError(null);
    try {
      const query = { query: { ulb, date: today() } };
      const [property, water] = await Promise.all(['property', 'water'].map((k) => api('GET', ACCOUNTS[k].base + '/reports/daily-collection', query)));
      setReport({ date: property.date || today(), property, water, totalPaise: String(BigInt(property.totalPaise || 0) + BigInt(water.totalPaise || 0)) });
    } catch (err) { setError(err); }
  }
  async function pdf(k, no) {
    try { const r = await api('GET', ACCOUNTS[k].base + '/receipts/pdf', { query: { receiptNo: no } }); downloadPdf(r.pdf, r.fileName || 'receipt.pdf'); } catch (err) { setError(err); }
  }
  const pending = slips.filter((s) => s.outcome === 'PENDING').length;
  return (
    <>
      <h1>{t('counter.title')}</h1>
      {offline && <p class="offline-banner" role="status" data-testid="offline">{t('counter.offline')}</p>}
      <Notice kind="error">{error && errorText(error)}</Notice>
      <form class="inline no-print" onSubmit={find}>
        <Field label={t('counter.code')} value={counter} onInput={(v) => setCounter(v.toUpperCase())} error={errors.counter} maxLength={16} />
        <Field label={t('counter.kind')} value={kind} onInput={(v) => { setKind(v); setDues(null); setErrors({}); }}>
          {Object.keys(ACCOUNTS).map((k) => <option key={k} value={k}>{t('counter.kind.' + k)}</option>)}
        </Field>
        <Field label={t(account.label)} value={propertyId} onInput={(v) => setPropertyId(kind === 'water' ? v.toUpperCase() : v)} error={errors.propertyId} autocomplete="off" />
        <button type="submit" disabled={offline}>{t('counter.dues')}</button>
      </form>
      {dues && <p>{t('dues.payable')}: <strong data-testid="counter-payable">{rupees(dues.payablePaise)}</strong> ({t('dues.total')} {rupees(dues.outstandingPaise)})</p>}
      <form class="no-print" onSubmit={pay}>
        <Field label={t('counter.amount')} value={amount} onInput={setAmount} inputMode="decimal" error={errors.amount} />
        <Field label={t('counter.mode')} value={mode} onInput={setMode}>
          {MODES.map((m) => <option key={m} value={m}>{t('mode.' + m)}</option>)}
        </Field>
        {mode !== 'CASH' && <Field label={t('counter.instrument')} value={instrument} onInput={setInstrument} error={errors.instrument} />}
        <button type="submit">{offline ? t('counter.take.slip') : t('counter.take')}</button>
      </form>
      {receipt && (
        <section class="receipt" aria-labelledby="receipt-title">
          <h2 id="receipt-title">{t('counter.receipt')}</h2>
          <dl class="facts">
            <dt>{t('receipts.number')}</dt><dd data-testid="receipt-no">{receipt.receiptNo}</dd>
            <dt>{t(ACCOUNTS[receipt.kind].label)}</dt><dd>{receipt.propertyId || receipt.connectionId}</dd>
            <dt>{t('counter.amount')}</dt><dd>{rupees(receipt.amountPaise)}</dd>
            <dt>{t('counter.mode')}</dt><dd>{t('mode.' + receipt.mode)} {receipt.instrumentRef}</dd>
            <dt>{t('counter.date')}</dt><dd>{indianDate(receipt.paidOn)}</dd>
          </dl>
          <button type="button" onClick={() => window.print()}>{t('counter.print')}</button>
          <button type="button" class="secondary" data-testid="receipt-pdf" onClick={() => pdf(receipt.kind, receipt.receiptNo)}>{t('receipts.download')}</button>
        </section>
      )}
      {slip && <Notice kind="warning"><span data-testid="slip-no">{t('counter.slip.taken', { key: slip.key, amount: rupees(slip.amountPaise) })}</span></Notice>}
      <section aria-labelledby="slips-title">
        <h2 id="slips-title">{t('counter.slips', { pending: String(pending) })}</h2>
        {slips.length ? (
          <TableWrap label={t('counter.slips', { pending: String(pending) })}><table data-testid="slips">
            <thead><tr><th scope="col">{t('counter.slip')}</th><th scope="col">{t('counter.account')}</th><th scope="col" class="num">{t('counter.amount')}</th><th scope="col">{t('counter.mode')}</th><th scope="col">{t('counter.outcome')}</th><th scope="col">{t('receipts.number')}</th></tr></thead>
            <tbody>{slips.map((s) => (
              <tr key={s.key}><td>{s.key}</td><td>{t('counter.kind.' + slipKind(s))}: {slipAccount(s)}</td><td class="num">{rupees(s.amountPaise)}</td><td>{t('mode.' + s.mode)}</td><td>{t('outcome.' + s.outcome)}{s.message ? ' — ' + s.message : ''}</td><td>{s.receiptNo}</td></tr>
            ))}</tbody>
          </table></TableWrap>
        ) : <p>{t('counter.slips.none')}</p>}
        <button type="button" class="secondary" disabled={replaying || offline || !slips.length} onClick={() => replay(true)}>{t('counter.replay')}</button>
      </section>
      <section aria-labelledby="close-title">
        <h2 id="close-title">{t('counter.close')}</h2>
        <button type="button" class="secondary" disabled={offline} onClick={closeDay}>{t('counter.close.report')}</button>
        {report && (
          <>
            {['property', 'water'].map((k) => (
              <table key={k}>
                <caption>{t('counter.kind.' + k)}: {t('report.daily.caption', { date: indianDate(report.date) })}</caption>
                <thead><tr><th scope="col">{t('counter.code')}</th><th scope="col">{t('counter.mode')}</th><th scope="col" class="num">{t('report.receipts')}</th><th scope="col" class="num">{t('counter.amount')}</th></tr></thead>
                <tbody>{(report[k].rows || []).map((r) => <tr key={r.counter + r.mode}><td>{r.counter}</td><td>{t('mode.' + r.mode)}</td><td class="num">{r.receipts}</td><td class="num">{rupees(r.amountPaise)}</td></tr>)}</tbody>
                <tfoot><tr><th scope="row" colSpan={3}>{t('report.total')}</th><td class="num">{rupees(report[k].totalPaise)}</td></tr></tfoot>
              </table>
            ))}
            <p><strong>{t('counter.day.total')}: <span data-testid="day-total">{rupees(report.totalPaise)}</span></strong></p>
            <button type="button" onClick={() => window.print()}>{t('counter.print')}</button>
          </>
        )}
      </section>
    </>
  );
}
export { ApiError };
