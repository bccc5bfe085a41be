// water.jsx — water and sanitation: my connections, dues, monthly bills (PDF),
// pay online, receipts (PDF), apply for a connection.
import { useState } from 'preact/hooks';
import { api, downloadPdf, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { rupees } from '../common/format.js';
import { Busy, Field, Link, Notice, fieldErrors, useLoad } from '../common/ui.jsx';
import { currentTown } from './home.jsx';
import { Receipts, payOnline } from './property.jsx';

export function Water() {
  // Connections are listed per town: those of the chosen town.
  const town = currentTown();
  const [data, error, reload, loading] = useLoad(() => (town
    ? api('GET', '/api/v1/water-tax/connections', { query: { ulb: town.code, pageSize: 50 } }) : Promise.resolve(null)), [town?.code]);
  return (
    <>
      <h1>{t('water.title')}</h1>
      <p>{town ? t('home.town', { town: town.name }) : <Link href="/town">{t('town.choose')}</Link>}</p>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {data && !(data.connections || []).length && <p>{t('water.none')}</p>}
      <ul class="list">
        {(data?.connections || []).map((c) => (
          <li key={c.connectionId}><Link href={'/water/' + encodeURIComponent(c.connectionId)}>{c.connectionId}</Link> — {t('water.status.' + c.status)}</li>
        ))}
      </ul>
      <Receipts kind="water" />
      <Apply onDone={reload} />
    </>
  );
}

export function WaterConnection({ id }) {
  const [dues, error, , loading] = useLoad(() => api('GET', `/api/v1/water-tax/connections/${encodeURIComponent(id)}/dues`), [id]);
  const [payError, setPayError] = useState(null);
  // A bill per month billed ("2026-05"); connection fees ("FEE:...") have none.
  const bills = [...new Set((dues?.lines || []).map((l) => l.ref).filter((r) => /^\d{4}-\d{2}$/.test(r)))];
  async function bill(period) {
    setPayError(null);
    try {
      const r = await api('GET', `/api/v1/water-tax/connections/${encodeURIComponent(id)}/bills/${encodeURIComponent(period)}/pdf`);
      downloadPdf(r.pdf, r.fileName || `water-bill-${period}.pdf`);
    } catch (e) { setPayError(e); }
  }
  return (
    <>
      <h1>{t('water.one', { id })}</h1>
      <Busy when={loading} />
      <Notice kind="error">{(error || payError) && (payError?.code === 'NO_PAYMENT_PAGE' ? t('pay.unavailable') : errorText(error || payError))}</Notice>
      {dues && (
        <>
          <table>
            <caption>{t('water.dues')}</caption>
            <thead><tr><th scope="col">{t('water.period')}</th><th scope="col">{t('dues.head')}</th><th scope="col" class="num">{t('dues.demand')}</th><th scope="col" class="num">{t('dues.outstanding')}</th></tr></thead>
            <tbody>{(dues.lines || []).map((l) => (
              <tr key={l.ref + l.head}><td>{l.ref}</td><td>{t('whead.' + l.head)}</td><td class="num">{rupees(l.chargedPaise)}</td><td class="num">{rupees(l.outstandingPaise)}</td></tr>
            ))}</tbody>
          </table>
          {bills.length > 0 && (
            <section aria-labelledby="water-bills">
              <h2 id="water-bills">{t('water.bills')}</h2>
              <ul class="list">{bills.map((period) => (
                <li key={period}>{period} <button type="button" class="secondary" aria-label={t('water.bill.download.for', { period })} onClick={() => bill(period)}>{t('water.bill.download')}</button></li>
              ))}</ul>
            </section>
          )}
          <p>{t('dues.payable')}: <strong>{rupees(dues.payablePaise)}</strong></p>
          {BigInt(dues.payablePaise || '0') > 0n && (
            <button type="button" onClick={() => payOnline('water', id, dues.payablePaise).catch(setPayError)}>{t('pay.online', { amount: rupees(dues.payablePaise) })}</button>
          )}
        </>
      )}
    </>
  );
}

function Apply({ onDone }) {
  const town = currentTown();
  const [f, setF] = useState({ ward: '', propertyId: '', consumerName: '', mobile: '', address: '', category: 'DOMESTIC', pipeSizeMm: '15' });
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  async function submit(e) {
    e.preventDefault();
    const local = {};
    if (!town) local.town = msg('town.required');
    if (!/^\d{1,3}$/.test(f.ward) || Number(f.ward) < 1) local.ward = msg('rule.ward');
    if (!f.propertyId.trim()) local.propertyId = msg('rule.required');
    if (!f.consumerName.trim()) local.consumerName = msg('rule.required');
    if (!f.address.trim()) local.address = msg('rule.required');
    if (f.mobile && !/^[6-9]\d{9}$/.test(f.mobile)) local.mobile = msg('login.mobile.invalid');
    setErrors(local); setError(null);
    if (Object.keys(local).length) return;
    try {
      const c = await api('POST', '/api/v1/water-tax/connections', { key: newKey(), body: {
        ulb: town.code, ward: Number(f.ward), propertyId: f.propertyId.trim(), consumerName: f.consumerName.trim(),
        mobile: f.mobile, address: f.address.trim(), category: f.category, pipeSizeMm: Number(f.pipeSizeMm), metered: false } });
      setDone(c); onDone();
    } catch (err) { setError(err); setErrors(fieldErrors(err)); }
  }
  return (
    <section aria-labelledby="water-apply">
      <h2 id="water-apply">{t('water.apply')}</h2>
      <Notice kind="error">{errors.town || (error && errorText(error))}</Notice>
      {done && <Notice kind="success">{t('water.applied', { id: done.connectionId })}</Notice>}
      <form onSubmit={submit}>
        <Field label={t('property.ward')} value={f.ward} onInput={set('ward')} inputMode="numeric" error={errors.ward} />
        <Field label={t('water.property')} value={f.propertyId} onInput={set('propertyId')} error={errors.propertyId} />
        <Field label={t('water.consumer')} value={f.consumerName} onInput={set('consumerName')} error={errors.consumerName} autocomplete="name" />
        <Field label={t('login.mobile')} value={f.mobile} onInput={set('mobile')} type="tel" error={errors.mobile} />
        <Field label={t('property.address')} value={f.address} onInput={set('address')} error={errors.address} />
        <Field label={t('water.category')} value={f.category} onInput={set('category')}>
          {['DOMESTIC', 'COMMERCIAL', 'INDUSTRIAL', 'INSTITUTIONAL'].map((c) => <option key={c} value={c}>{t('water.cat.' + c)}</option>)}
        </Field>
        <Field label={t('water.pipe')} value={f.pipeSizeMm} onInput={set('pipeSizeMm')}>
          {['15', '20', '25', '40', '50'].map((c) => <option key={c} value={c}>{c} mm</option>)}
        </Field>
        <button type="submit">{t('water.apply.submit')}</button>
      </form>
    </section>
  );
}
