// property.jsx — property tax: my properties or one by id, dues by year and
// head, pay online through the provider's page and back, receipts.
import { useState } from 'preact/hooks';
import { api, downloadPdf, newKey } from '../common/api.js';
import { config } from '../common/config.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDate, rupees } from '../common/format.js';
import { Busy, Field, Link, Notice, TableWrap, navigate, useLoad } from '../common/ui.jsx';
import { MutationApplications } from './mutation.jsx';

const RECEIPTS = 'nagar.receipts';
export function rememberReceipt(kind, receiptNo) {
  try {
    const list = JSON.parse(localStorage.getItem(RECEIPTS) || '[]').filter((r) => r.receiptNo !== receiptNo);
    list.unshift({ kind, receiptNo });
    localStorage.setItem(RECEIPTS, JSON.stringify(list.slice(0, 20)));
  } catch { /* private mode */ }
}
function remembered(kind) {
  try { return JSON.parse(localStorage.getItem(RECEIPTS) || '[]').filter((r) => r.kind === kind); } catch { return []; }
}

export async function downloadReceipt(kind, receiptNo) {
  const base = kind === 'water' ? '/api/v1/water-tax' : '/api/v1/property-tax';
  const r = await api('GET', base + '/receipts/pdf', { query: { receiptNo } });
  downloadPdf(r.pdf, (r.fileName || 'receipt-' + receiptNo.replace(/\W+/g, '-') + '.pdf'));
}

export function PropertyTax() {
  const [id, setId] = useState('');
  const [idError, setIdError] = useState('');
  const [data, error, , loading] = useLoad(() => api('GET', '/api/v1/property-tax/properties', { query: { pageSize: 50 } }), []);
  function find(e) {
    e.preventDefault();
    const v = id.trim();
    if (!/^\d{6}-\d{3}-\d{6}$/.test(v)) { setIdError(msg('property.id.invalid')); return; }
    navigate('/property/' + encodeURIComponent(v));
  }
  return (
    <>
      <h1>{t('property.title')}</h1>
      <form onSubmit={find} class="inline">
        <Field label={t('property.id')} hint={t('property.id.hint')} value={id} onInput={setId} error={idError} autocomplete="off" />
        <button type="submit">{t('property.find')}</button>
      </form>
      <h2>{t('property.mine')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {data && !(data.properties || []).length && <p>{t('property.none')}</p>}
      <ul class="list">
        {(data?.properties || []).map((p) => (
          <li key={p.propertyId}><Link href={'/property/' + encodeURIComponent(p.propertyId)}>{p.propertyId}</Link> — {p.address}</li>
        ))}
      </ul>
      <Receipts kind="property" />
    </>
  );
}

export function Receipts({ kind }) {
  const list = remembered(kind);
  const [no, setNo] = useState('');
  const [error, setError] = useState(null);
  async function get(receiptNo) {
    setError(null);
    try { await downloadReceipt(kind, receiptNo); } catch (e) { setError(e); }
  }
  return (
    <section aria-labelledby={'receipts-' + kind}>
      <h2 id={'receipts-' + kind}>{t('receipts.title')}</h2>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <ul class="list">
        {list.map((r) => (
          <li key={r.receiptNo}>{r.receiptNo} <button type="button" class="secondary" onClick={() => get(r.receiptNo)}>{t('receipts.download')}</button></li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); if (no.trim()) get(no.trim()); }}>
        <Field label={t('receipts.number')} value={no} onInput={setNo} autocomplete="off" />
        <button type="submit" class="secondary">{t('receipts.download')}</button>
      </form>
    </section>
  );
}

export function DuesTable({ dues }) {
  const years = {};
  (dues.lines || []).forEach((l) => { (years[l.fy] = years[l.fy] || []).push(l); });
  return (
    <TableWrap label={t('dues.caption', { date: indianDate(dues.asOf) })}><table>
      <caption>{t('dues.caption', { date: indianDate(dues.asOf) })}</caption>
      <thead><tr><th scope="col">{t('dues.year')}</th><th scope="col">{t('dues.head')}</th><th scope="col" class="num">{t('dues.demand')}</th><th scope="col" class="num">{t('dues.paid')}</th><th scope="col" class="num">{t('dues.outstanding')}</th></tr></thead>
      <tbody>
        {Object.entries(years).map(([fy, lines]) => lines.map((l, i) => (
          <tr key={fy + l.head}>
            {i === 0 ? <th scope="row" rowSpan={lines.length}>{fy}</th> : null}
            <td>{t('head.' + l.head)}</td>
            <td class="num">{rupees(l.demandPaise)}</td><td class="num">{rupees(l.settledPaise)}</td><td class="num">{rupees(l.outstandingPaise)}</td>
          </tr>
        )))}
      </tbody>
    </table></TableWrap>
  );
}

// What an online payment of each kind talks to: where the order is made
// (and with what), the provider's callback, the order's status.
const ONLINE = {
  property: { start: (id, amountPaise) => ['/api/v1/property-tax/online-payments', { propertyId: id, amountPaise }], callback: '/api/v1/property-tax/online-payments/callback', order: '/api/v1/property-tax/online-payments/' },
  water: { start: (id, amountPaise) => ['/api/v1/water-tax/online-payments', { connectionId: id, amountPaise }], callback: '/api/v1/water-tax/online-payments/callback', order: '/api/v1/water-tax/online-payments/' },
  // A certificate fee: the order names no amount, the service's fee is charged.
  certificate: { start: (id) => [`/api/v1/certificates/applications/${encodeURIComponent(id)}/fee/online-payments`, {}], callback: '/api/v1/certificates/fee-payments/callback', order: '/api/v1/certificates/fee-payments/' },
};

// Starts an online payment and goes to the provider's page.
export async function payOnline(kind, id, amountPaise) {
  const cfg = await config();
  if (!cfg.paymentPageUrl) throw Object.assign(new Error('no payment page'), { code: 'NO_PAYMENT_PAGE' });
  const [path, body] = ONLINE[kind].start(id, amountPaise);
  const order = await api('POST', path, { body, key: newKey() });
  const back = `${location.origin}/pay/return?kind=${kind}&order=${encodeURIComponent(order.orderId)}&id=${encodeURIComponent(id)}`;
  const q = new URLSearchParams({ orderId: order.orderId, amountPaise: order.amountPaise, merchantSignature: order.merchantSignature,
    callbackUrl: `${location.origin}${ONLINE[kind].callback}`, returnUrl: back });
  location.assign(cfg.paymentPageUrl + (cfg.paymentPageUrl.includes('?') ? '&' : '?') + q.toString());
}

// The receipt of an application's fee (paid online or at a counter), as a PDF.
export async function downloadFeeReceipt(applicationId) {
  const r = await api('GET', `/api/v1/certificates/applications/${encodeURIComponent(applicationId)}/fee/receipt/pdf`);
  downloadPdf(r.pdf, r.fileName || 'fee-receipt-' + (r.receiptNo || applicationId).replace(/\W+/g, '-') + '.pdf');
}

export function PropertyPage({ id }) {
  const [property, perror] = useLoad(() => api('GET', '/api/v1/property-tax/properties/' + encodeURIComponent(id)), [id]);
  const [dues, derror, , loading] = useLoad(() => api('GET', `/api/v1/property-tax/properties/${encodeURIComponent(id)}/dues`), [id]);
  const [payError, setPayError] = useState(null);
  const [paying, setPaying] = useState(false);
  // A demand notice per year with a demand ("2026-27"), newest first.
  const years = [...new Set((dues?.lines || []).map((l) => l.fy).filter(Boolean))].sort().reverse();
  async function notice(fy) {
    setPayError(null);
    try {
      const r = await api('GET', `/api/v1/property-tax/properties/${encodeURIComponent(id)}/demand-notices/${encodeURIComponent(fy)}/pdf`);
      downloadPdf(r.pdf, r.fileName || `demand-notice-${fy}.pdf`);
    } catch (e) { setPayError(e); }
  }
  async function pay() {
    setPayError(null); setPaying(true);
    try { await payOnline('property', id, dues.payablePaise); } catch (e) { setPayError(e); setPaying(false); }
  }
  return (
    <>
      <h1>{t('property.one', { id })}</h1>
      <Notice kind="error">{(perror || derror) && errorText(perror || derror)}</Notice>
      {property && (
        <dl class="facts">
          <dt>{t('property.address')}</dt><dd>{property.address}</dd>
          <dt>{t('property.ward')}</dt><dd>{property.ward}</dd>
          <dt>{t('property.owners')}</dt><dd>{(property.owners || []).map((o) => o.name).join(', ')}</dd>
          <dt>{t('property.area')}</dt><dd>{t('property.sqft', { area: String(property.totalAreaSqft || 0) })}</dd>
        </dl>
      )}
      <Busy when={loading} />
      {dues && (
        <>
          <DuesTable dues={dues} />
          <dl class="facts total">
            <dt>{t('dues.total')}</dt><dd>{rupees(dues.outstandingPaise)}</dd>
            <dt>{t('dues.rebate')}</dt><dd>{rupees(dues.rebatePaise)}</dd>
            <dt>{t('dues.advance')}</dt><dd>{rupees(dues.advancePaise)}</dd>
            <dt>{t('dues.payable')}</dt><dd data-testid="payable">{rupees(dues.payablePaise)}</dd>
          </dl>
          <Notice kind="error">{payError && (payError.code === 'NO_PAYMENT_PAGE' ? t('pay.unavailable') : errorText(payError))}</Notice>
          {BigInt(dues.payablePaise || '0') > 0n
            ? <button type="button" onClick={pay} disabled={paying}>{t('pay.online', { amount: rupees(dues.payablePaise) })}</button>
            : <p>{t('dues.nothing')}</p>}
          {years.length > 0 && (
            <section aria-labelledby="notices">
              <h2 id="notices">{t('notice.title')}</h2>
              <ul class="list">{years.map((fy) => (
                <li key={fy}>{fy} <button type="button" class="secondary" data-testid={'notice-' + fy} aria-label={t('notice.download.for', { fy })} onClick={() => notice(fy)}>{t('notice.download')}</button></li>
              ))}</ul>
            </section>
          )}
        </>
      )}
      <p><Link href={`/property/${encodeURIComponent(id)}/assessment`}>{t('assess.link')}</Link></p>
      <MutationApplications propertyId={id} owner={!!property} />
    </>
  );
}

// Back from the provider: wait for the order to be PAID, show the receipt.
export function PayReturn() {
  const params = new URLSearchParams(location.search);
  const kind = ONLINE[params.get('kind')] ? params.get('kind') : 'property';
  const orderId = params.get('order') || '';
  const id = params.get('id') || '';
  const [order, error, reload] = useLoad(() => api('GET', ONLINE[kind].order + encodeURIComponent(orderId)), [orderId]);
  const [dlError, setDlError] = useState(null);
  if (order && order.status === 'CREATED') setTimeout(reload, 1000);
  if (order && order.receiptNo && kind !== 'certificate') rememberReceipt(kind, order.receiptNo);
  const download = () => (kind === 'certificate' ? downloadFeeReceipt(order.applicationId || id) : downloadReceipt(kind, order.receiptNo)).catch(setDlError);
  const back = kind === 'water' ? '/water' : kind === 'certificate' ? '/certificates/app/' + encodeURIComponent(id) : '/property/' + encodeURIComponent(id);
  return (
    <>
      <h1>{t('pay.return.title')}</h1>
      <Notice kind="error">{(error || dlError) && errorText(error || dlError)}</Notice>
      {!order && !error && <p role="status">{t('common.loading')}</p>}
      {order && order.status === 'CREATED' && <p role="status">{t('pay.waiting')}</p>}
      {order && order.status === 'FAILED' && <Notice kind="error">{t('pay.failed')}</Notice>}
      {order && order.status === 'REFUND_DUE' && <Notice kind="error">{t('pay.refund', { amount: rupees(order.amountPaise) })}</Notice>}
      {order && order.status === 'PAID' && (
        <>
          <Notice kind="success">{t('pay.done', { amount: rupees(order.amountPaise), receipt: order.receiptNo })}</Notice>
          {kind !== 'water' && <button type="button" onClick={download}>{t(kind === 'certificate' ? 'cert.fee.receipt' : 'receipts.download')}</button>}
        </>
      )}
      <p><Link href={back}>{t('common.back')}</Link></p>
    </>
  );
}
