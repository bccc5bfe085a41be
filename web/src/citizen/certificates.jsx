// certificates.jsx — a citizen's registrations: apply (apply.jsx), track the
// applications, download the certificate, ask for a correction (the whole
// corrected report goes to the registrar, as the service requires).
import { useState } from 'preact/hooks';
import { api, downloadPdf, newKey } from '../common/api.js';
import { errorText, msg, t } from '../common/i18n.js';
import { indianDate, rupees } from '../common/format.js';
import { Busy, Field, Link, Notice, useLoad } from '../common/ui.jsx';
import { Apply, localKey } from './apply.jsx';
import { downloadFeeReceipt, payOnline } from './property.jsx';

export function Certificates({ path }) {
  const m = /^\/certificates\/apply\/(birth|death|marriage)$/.exec(path);
  if (m) return <Apply key={m[1]} kind={m[1]} />;
  if (path.startsWith('/certificates/app/')) return <ApplicationPage id={decodeURIComponent(path.slice(18))} />;
  return <MyApplications />;
}

function MyApplications() {
  const [data, error, , loading] = useLoad(() => api('GET', '/api/v1/certificates/applications', { query: { pageSize: 50 } }), []);
  return (
    <>
      <h1>{t('cert.title')}</h1>
      <ul class="cards">
        {['birth', 'death', 'marriage'].map((k) => (
          <li key={k}><Link href={'/certificates/apply/' + k}><strong>{t('cert.apply.' + k)}</strong><span>{t('cert.apply.' + k + '.hint')}</span></Link></li>
        ))}
      </ul>
      <h2>{t('cert.mine')}</h2>
      <Busy when={loading} />
      <Notice kind="error">{error && errorText(error)}</Notice>
      {data && !(data.applications || []).length && <p>{t('cert.none')}</p>}
      <ul class="list">
        {(data?.applications || []).map((a) => (
          <li key={a.applicationId}>
            <Link href={'/certificates/app/' + encodeURIComponent(a.applicationId)}>{t('kind.' + a.kind)}: {a.subjectName || '—'}</Link>
            {' '}<span class={'state ' + a.state}>{t('state.' + a.state)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}

function ApplicationPage({ id }) {
  const [a, error, reload, loading] = useLoad(() => api('GET', '/api/v1/certificates/applications/' + encodeURIComponent(id)), [id]);
  const [actionError, setActionError] = useState(null);
  const [paying, setPaying] = useState(false);
  // The fee through the provider's page and back (/pay/return).
  async function payFee() {
    setActionError(null); setPaying(true);
    try { await payOnline('certificate', a.applicationId); } catch (e) { setActionError(e.code === 'NO_PAYMENT_PAGE' ? { code: 'LOCAL', message: msg('pay.unavailable') } : e); setPaying(false); }
  }
  const feeReceipt = () => downloadFeeReceipt(a.applicationId).catch(setActionError);
  const shown = actionError?.code === 'LOCAL' ? actionError.message : (error || actionError) && errorText(error || actionError);
  return (
    <>
      <h1>{t('cert.application')}</h1>
      <Busy when={loading} />
      <Notice kind="error">{shown}</Notice>
      {a && (
        <>
          <dl class="facts">
            <dt>{t('cert.kind')}</dt><dd>{t('kind.' + a.kind)}</dd>
            <dt>{t('cert.subject')}</dt><dd>{a.subjectName || '—'}</dd>
            <dt>{t('cert.eventDate')}</dt><dd>{indianDate(a.eventDate)}</dd>
            <dt>{t('cert.state')}</dt><dd data-testid="state">{t('state.' + a.state)}</dd>
            {a.kind !== 'MARRIAGE' && <><dt>{t('cert.delay')}</dt><dd data-testid="delay">{t('cert.days', { days: String(a.delayDays || 0) })} — {t('late.' + (a.lateWindow || 'IN_TIME'))}</dd></>}
            <dt>{a.kind === 'MARRIAGE' ? t('cert.fee.marriage') : t('cert.fee')}</dt><dd data-testid="fee">{rupees(a.feePaise)}</dd>
            {a.permissionRequired && <><dt>{t('cert.permission')}</dt><dd>{a.permissionReference || t('cert.permission.pending')}</dd></>}
            {a.registrationNumber && <><dt>{t('cert.regno')}</dt><dd data-testid="regno">{a.registrationNumber}</dd></>}
            {a.rejectionReason && <><dt>{t('cert.rejected')}</dt><dd>{a.rejectionReason}</dd></>}
          </dl>
          {a.feeStatus === 'DUE' && (
            <>
              <p class="muted" data-testid="fee-note">{t('cert.fee.pending')}</p>
              <button type="button" onClick={payFee} disabled={paying}>{t('cert.fee.pay', { amount: rupees(a.feePaise) })}</button>
            </>
          )}
          {a.feeStatus === 'PAID' && (
            <>
              <p class="muted" data-testid="fee-note">{t('cert.fee.paid', { receipt: a.feeSettlement?.receiptNo || '' })}</p>
              <button type="button" class="secondary" onClick={feeReceipt}>{t('cert.fee.receipt')}</button>
            </>
          )}
          {a.feeStatus === 'WAIVED' && <p class="muted" data-testid="fee-note">{t('cert.fee.waived', { reason: a.feeSettlement?.reason || '' })}</p>}
          {a.certificateId && <CertificateActions key={a.certificateId} certificateId={a.certificateId} onError={setActionError} onChange={reload} />}
        </>
      )}
      <p><Link href="/certificates">{t('common.back')}</Link></p>
    </>
  );
}

// What a citizen may correct, per kind (the rest of the report is sent as it is).
const CORRECTABLE = {
  BIRTH: ['childName', 'fatherName', 'motherName'],
  DEATH: ['deceasedName', 'fatherOrSpouseName'],
  MARRIAGE: ['groom.name', 'bride.name', 'placeOfMarriage'],
};
const get = (obj, path) => path.split('.').reduce((o, k) => (o ? o[k] : undefined), obj);
function put(obj, path, value) {
  const copy = JSON.parse(JSON.stringify(obj || {}));
  const parts = path.split('.');
  let node = copy;
  parts.slice(0, -1).forEach((p) => { node = node[p] = node[p] || {}; });
  node[parts[parts.length - 1]] = value;
  return copy;
}

function CertificateActions({ certificateId, onError, onChange }) {
  const [cert, error] = useLoad(() => api('GET', '/api/v1/certificates/' + encodeURIComponent(certificateId)), [certificateId]);
  const [values, setValues] = useState(null);
  const [reason, setReason] = useState('');
  const [sent, setSent] = useState(null);
  const [errors, setErrors] = useState({});
  const kind = cert?.kind;
  const report = kind && cert[kind.toLowerCase()];
  const fields = kind ? CORRECTABLE[kind] : [];
  const shown = values || Object.fromEntries(fields.map((f) => [f, get(report, f) || '']));
  async function download() {
    try {
      const r = await api('GET', `/api/v1/certificates/${encodeURIComponent(certificateId)}/pdf`);
      downloadPdf(r.pdf, r.fileName || 'certificate.pdf');
    } catch (e) { onError(e); }
  }
  async function correct(e) {
    e.preventDefault();
    const local = {};
    if (!reason.trim()) local.reason = msg('rule.reason');
    if (fields.every((f) => (shown[f] || '').trim() === (get(report, f) || ''))) local[fields[0]] = msg('cert.correction.nochange');
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      let corrected = report;
      fields.forEach((f) => { corrected = put(corrected, f, shown[f].trim()); });
      const c = await api('POST', `/api/v1/certificates/${encodeURIComponent(certificateId)}/corrections`, { key: newKey(), body: { reason: reason.trim(), [kind.toLowerCase()]: corrected } });
      setSent(c); onChange();
    } catch (err) { onError(err); if (err.field) setErrors({ [localKey(err.field, kind.toLowerCase())]: err.message }); }
  }
  return (
    <>
      {cert && <p>{t('cert.version')}: <span data-testid="version">{cert.version}</span>{cert.supersededBy ? ' — ' + t('verify.status.SUPERSEDED') : ''}</p>}
      <button type="button" onClick={download}>{t('cert.download')}</button>
      {cert?.qrPayload && (
        <details>
          <summary>{t('cert.qr.text')}</summary>
          <p class="qr-text" data-testid="qr-payload">{cert.qrPayload}</p>
        </details>
      )}
      <Notice kind="error">{error && errorText(error)}</Notice>
      {kind && (
        <section aria-labelledby="correction">
          <h2 id="correction">{t('cert.correction')}</h2>
          {sent ? <Notice kind="success">{t('cert.correction.sent')}</Notice> : (
            <form onSubmit={correct} noValidate>
              {fields.map((f) => (
                <Field key={f} label={t('correct.' + kind.toLowerCase() + '.' + f)} value={shown[f]} error={errors[f]}
                  onInput={(v) => setValues({ ...shown, [f]: v })} />
              ))}
              <Field label={t('cert.correction.reason')} value={reason} onInput={setReason} error={errors.reason} />
              <button type="submit" class="secondary">{t('cert.correction.submit')}</button>
            </form>
          )}
        </section>
      )}
    </>
  );
}
