// counter.jsx — the counter: find a property, take cash/cheque/DD/UPI, print
// the receipt, close the day; offline, numbered slips replayed exactly once.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, currentSession, downloadPdf, newKey, refresh } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { indianDate, parseRupees, rupees, today } from '../common/format.js';
import { Field, Notice, TableWrap } from '../common/ui.jsx';
import { listSlips, saveSlip, takeSlip } from './slips.js';

const MODES = ['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI'];
let counterCode = 'C1';
try { counterCode = localStorage.getItem('nagar.counter') || 'C1'; } catch { /* */ }

async function replaySlip(slip) {
  try {
    const receipt = await api('POST', '/api/v1/property-tax/payments', {
      key: 'offline:' + slip.key,
      body: { propertyId: slip.propertyId, amountPaise: slip.amountPaise, mode: slip.mode, instrumentRef: slip.instrumentRef, counter: slip.counter },
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
  const [propertyId, setPropertyId] = useState('');
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
      const d = await api('GET', `/api/v1/property-tax/properties/${encodeURIComponent(propertyId.trim())}/dues`);
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
    if (!/^\d{6}-\d{3}-\d{6}$/.test(propertyId.trim())) local.propertyId = t('property.id.invalid');
    if (!amountPaise || amountPaise === '0') local.amount = t('rule.amount');
    if (mode !== 'CASH' && !instrument.trim()) local.instrument = t('rule.instrument');
    if (!/^[A-Z0-9]{1,16}$/.test(counter)) local.counter = t('counter.code.invalid');
    setErrors(local); setError(null); setReceipt(null); setSlip(null);
    if (Object.keys(local).length) return;
    try { localStorage.setItem('nagar.counter', counter); } catch { /* */ }
    const body = { propertyId: propertyId.trim(), amountPaise, mode, instrumentRef: instrument.trim(), counter };
    if (!offline) {
      try {
        const r = await api('POST', '/api/v1/property-tax/payments', { key: newKey(), body });
        setReceipt(r); setDues(null); setAmount(''); setInstrument('');
        return;
      } catch (err) {
        if (err.code !== 'NETWORK') { setError(err); return; }
        setOffline(true);
      }
    }
    const s = await takeSlip({ ulb: ulb || propertyId.slice(0, 6), counter, propertyId: body.propertyId, amountPaise, mode, instrumentRef: body.instrumentRef });
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
    try { setReport(await api('GET', '/api/v1/property-tax/reports/daily-collection', { query: { ulb, date: today() } })); } catch (err) { setError(err); }
  }
  async function pdf(no) {
    try { const r = await api('GET', '/api/v1/property-tax/receipts/pdf', { query: { receiptNo: no } }); downloadPdf(r.pdf, r.fileName || 'receipt.pdf'); } catch (err) { setError(err); }
  }
  const pending = slips.filter((s) => s.outcome === 'PENDING').length;
  return (
    <>
      <h1>{t('counter.title')}</h1>
      {offline && <p class="offline-banner" role="status" data-testid="offline">{t('counter.offline')}</p>}
      <Notice kind="error">{error && errorText(error)}</Notice>
      <form class="inline no-print" onSubmit={find}>
        <Field label={t('counter.code')} value={counter} onInput={(v) => setCounter(v.toUpperCase())} error={errors.counter} maxLength={16} />
        <Field label={t('property.id')} value={propertyId} onInput={setPropertyId} error={errors.propertyId} autocomplete="off" />
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
            <dt>{t('property.id')}</dt><dd>{receipt.propertyId}</dd>
            <dt>{t('counter.amount')}</dt><dd>{rupees(receipt.amountPaise)}</dd>
            <dt>{t('counter.mode')}</dt><dd>{t('mode.' + receipt.mode)} {receipt.instrumentRef}</dd>
            <dt>{t('counter.date')}</dt><dd>{indianDate(receipt.paidOn)}</dd>
          </dl>
          <button type="button" onClick={() => window.print()}>{t('counter.print')}</button>
          <button type="button" class="secondary" onClick={() => pdf(receipt.receiptNo)}>{t('receipts.download')}</button>
        </section>
      )}
      {slip && <Notice kind="warning"><span data-testid="slip-no">{t('counter.slip.taken', { key: slip.key, amount: rupees(slip.amountPaise) })}</span></Notice>}
      <section aria-labelledby="slips-title">
        <h2 id="slips-title">{t('counter.slips', { pending: String(pending) })}</h2>
        {slips.length ? (
          <TableWrap label={t('counter.slips', { pending: String(pending) })}><table data-testid="slips">
            <thead><tr><th scope="col">{t('counter.slip')}</th><th scope="col">{t('property.id')}</th><th scope="col" class="num">{t('counter.amount')}</th><th scope="col">{t('counter.mode')}</th><th scope="col">{t('counter.outcome')}</th><th scope="col">{t('receipts.number')}</th></tr></thead>
            <tbody>{slips.map((s) => (
              <tr key={s.key}><td>{s.key}</td><td>{s.propertyId}</td><td class="num">{rupees(s.amountPaise)}</td><td>{t('mode.' + s.mode)}</td><td>{t('outcome.' + s.outcome)}{s.message ? ' — ' + s.message : ''}</td><td>{s.receiptNo}</td></tr>
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
            <table>
              <caption>{t('report.daily.caption', { date: indianDate(report.date) })}</caption>
              <thead><tr><th scope="col">{t('counter.code')}</th><th scope="col">{t('counter.mode')}</th><th scope="col" class="num">{t('report.receipts')}</th><th scope="col" class="num">{t('counter.amount')}</th></tr></thead>
              <tbody>{(report.rows || []).map((r) => <tr key={r.counter + r.mode}><td>{r.counter}</td><td>{t('mode.' + r.mode)}</td><td class="num">{r.receipts}</td><td class="num">{rupees(r.amountPaise)}</td></tr>)}</tbody>
              <tfoot><tr><th scope="row" colSpan={3}>{t('report.total')}</th><td class="num" data-testid="day-total">{rupees(report.totalPaise)}</td></tr></tfoot>
            </table>
            <button type="button" onClick={() => window.print()}>{t('counter.print')}</button>
          </>
        )}
      </section>
    </>
  );
}
export { ApiError };
