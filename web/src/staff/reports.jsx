// reports.jsx — DCB by ward as a chart (Chart.js, loaded on demand) and a
// table, defaulters with CSV export, the daily collection.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, currentSession } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { financialYear, indianDate, rupees, today } from '../common/format.js';
import { Field, Notice, TableWrap } from '../common/ui.jsx';

const toRupees = (p) => Number(BigInt(p || '0') / 100n);

function DcbChart({ rows }) {
  const canvas = useRef(null);
  useEffect(() => {
    let chart = null, live = true;
    import('chart.js/auto').then(({ default: Chart }) => {
      if (!live) return;
      chart = new Chart(canvas.current, {
        type: 'bar',
        data: {
          labels: rows.map((r) => t('report.ward', { ward: String(r.ward) })),
          datasets: [
            { label: t('report.demand'), data: rows.map((r) => toRupees(r.currentDemandPaise) + toRupees(r.arrearDemandPaise)), backgroundColor: '#0b4f6c' },
            { label: t('report.collection'), data: rows.map((r) => toRupees(r.currentCollectionPaise) + toRupees(r.arrearCollectionPaise)), backgroundColor: '#1b5e20' },
            { label: t('report.balance'), data: rows.map((r) => toRupees(r.currentBalancePaise) + toRupees(r.arrearBalancePaise)), backgroundColor: '#b00020' },
          ],
        },
        options: { responsive: true, maintainAspectRatio: false, animation: false },
      });
    });
    return () => { live = false; chart?.destroy(); };
  }, [rows]);
  return <div class="chart"><canvas ref={canvas} role="img" aria-label={t('report.dcb.chart')} /></div>;
}

export function Reports() {
  const session = currentSession();
  const [ulb, setUlb] = useState(session.ulb || '');
  const [fy, setFy] = useState(financialYear());
  const [date, setDate] = useState(today());
  const [dcb, setDcb] = useState(null);
  const [defaulters, setDefaulters] = useState(null);
  const [daily, setDaily] = useState(null);
  const [error, setError] = useState(null);
  const run = (fn) => (e) => { e.preventDefault(); setError(null); fn().catch(setError); };
  // Ward 0 is the whole town (zero values are left out of the JSON).
  const wards = (dcb?.rows || []).filter((r) => r.head === 'TOTAL' && Number(r.ward || 0) !== 0);
  function csv() {
    const lines = [['property_id', 'ward', 'owner', 'mobile', 'outstanding_rupees', 'oldest_fy'].join(',')];
    (defaulters.defaulters || []).forEach((d) => lines.push([d.propertyId, d.ward, '"' + (d.ownerName || '').replace(/"/g, '""') + '"', d.ownerMobile, rupees(d.outstandingPaise).replace(/[₹,]/g, ''), d.oldestFy].join(',')));
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([lines.join('\n') + '\n'], { type: 'text/csv' }));
    a.download = `defaulters-${ulb}.csv`;
    document.body.appendChild(a); a.click(); a.remove();
  }
  return (
    <>
      <h1>{t('staff.reports')}</h1>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Field label={t('jobs.ulb')} value={ulb} onInput={setUlb} readOnly={!!session.ulb} />
      <section aria-labelledby="dcb-title">
        <h2 id="dcb-title">{t('report.dcb')}</h2>
        <form class="inline" onSubmit={run(async () => setDcb(await api('GET', '/api/v1/property-tax/reports/dcb', { query: { ulb, fy } })))}>
          <Field label={t('jobs.fy')} value={fy} onInput={setFy} />
          <button type="submit">{t('report.show')}</button>
        </form>
        {dcb && <>
          {wards.length ? <DcbChart rows={wards} /> : null}
          <TableWrap label={t('report.dcb.caption', { fy: dcb.fy })}><table>
            <caption>{t('report.dcb.caption', { fy: dcb.fy })}</caption>
            <thead><tr><th scope="col">{t('property.ward')}</th><th scope="col">{t('dues.head')}</th><th scope="col" class="num">{t('report.demand')}</th><th scope="col" class="num">{t('report.collection')}</th><th scope="col" class="num">{t('report.balance')}</th></tr></thead>
            <tbody>{(dcb.rows || []).map((r) => (
              <tr key={r.ward + r.head}><td>{Number(r.ward || 0) === 0 ? t('report.all') : r.ward}</td><td>{r.head === 'TOTAL' ? t('report.total') : t('head.' + r.head)}</td>
                <td class="num">{rupees(String(BigInt(r.arrearDemandPaise || 0) + BigInt(r.currentDemandPaise || 0)))}</td>
                <td class="num">{rupees(String(BigInt(r.arrearCollectionPaise || 0) + BigInt(r.currentCollectionPaise || 0)))}</td>
                <td class="num">{rupees(String(BigInt(r.arrearBalancePaise || 0) + BigInt(r.currentBalancePaise || 0)))}</td></tr>
            ))}</tbody>
          </table></TableWrap>
        </>}
      </section>
      <section aria-labelledby="def-title">
        <h2 id="def-title">{t('report.defaulters')}</h2>
        <button type="button" onClick={run(async () => setDefaulters(await api('GET', '/api/v1/property-tax/reports/defaulters', { query: { ulb, limit: 200 } })))}>{t('report.show')}</button>
        {defaulters && <>
          <button type="button" class="secondary" onClick={csv}>{t('report.csv')}</button>
          <TableWrap label={t('report.defaulters')}><table>
            <thead><tr><th scope="col">{t('property.id')}</th><th scope="col">{t('property.ward')}</th><th scope="col">{t('property.owners')}</th><th scope="col" class="num">{t('dues.outstanding')}</th><th scope="col">{t('report.oldest')}</th></tr></thead>
            <tbody>{(defaulters.defaulters || []).map((d) => <tr key={d.propertyId}><td>{d.propertyId}</td><td>{d.ward}</td><td>{d.ownerName}</td><td class="num">{rupees(d.outstandingPaise)}</td><td>{d.oldestFy}</td></tr>)}</tbody>
          </table></TableWrap>
        </>}
      </section>
      <section aria-labelledby="daily-title">
        <h2 id="daily-title">{t('report.daily')}</h2>
        <form class="inline" onSubmit={run(async () => setDaily(await api('GET', '/api/v1/property-tax/reports/daily-collection', { query: { ulb, date } })))}>
          <Field label={t('counter.date')} type="date" value={date} onInput={setDate} />
          <button type="submit">{t('report.show')}</button>
        </form>
        {daily && <table>
          <caption>{t('report.daily.caption', { date: indianDate(daily.date) })}</caption>
          <thead><tr><th scope="col">{t('counter.code')}</th><th scope="col">{t('counter.mode')}</th><th scope="col" class="num">{t('report.receipts')}</th><th scope="col" class="num">{t('counter.amount')}</th></tr></thead>
          <tbody>{(daily.rows || []).map((r) => <tr key={r.counter + r.mode}><td>{r.counter}</td><td>{t('mode.' + r.mode)}</td><td class="num">{r.receipts}</td><td class="num">{rupees(r.amountPaise)}</td></tr>)}</tbody>
          <tfoot><tr><th scope="row" colSpan={3}>{t('report.total')}</th><td class="num">{rupees(daily.totalPaise)}</td></tr></tfoot>
        </table>}
      </section>
    </>
  );
}
