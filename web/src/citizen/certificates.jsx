// certificates.jsx — apply for a birth registration (with the rules the API
// enforces, errors at the field), track applications, download the
// certificate, ask for a correction.
import { useState } from 'preact/hooks';
import { api, downloadPdf, newKey } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { indianDate, rupees, today } from '../common/format.js';
import { Busy, Field, Link, Notice, fieldErrors, navigate, useLoad } from '../common/ui.jsx';
import { currentTown } from './home.jsx';

export function Certificates({ path }) {
  if (path === '/certificates/apply/birth') return <ApplyBirth />;
  if (path.startsWith('/certificates/app/')) return <ApplicationPage id={decodeURIComponent(path.slice(18))} />;
  const [data, error, , loading] = useLoad(() => api('GET', '/api/v1/certificates/applications', { query: { pageSize: 50 } }), []);
  return (
    <>
      <h1>{t('cert.title')}</h1>
      <p><Link href="/certificates/apply/birth" class="button">{t('cert.apply.birth')}</Link></p>
      <p class="muted">{t('cert.other.kinds')}</p>
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

const emptyBirth = { dateOfBirth: '', sex: 'FEMALE', childName: '', fatherName: '', motherName: '', addressAtBirth: '', permanentAddress: '', placeKind: 'HOSPITAL', placeName: '', informantName: '', informantRelation: '', informantAddress: '', informantMobile: '' };

// The checks the certificates service makes, in the chosen language.
function checkBirth(f) {
  const e = {};
  const req = ['dateOfBirth', 'fatherName', 'motherName', 'addressAtBirth', 'permanentAddress', 'placeName', 'informantName', 'informantRelation', 'informantAddress'];
  req.forEach((k) => { if (!f[k].trim()) e[k] = t('rule.required'); });
  if (f.dateOfBirth && f.dateOfBirth > today()) e.dateOfBirth = t('rule.future');
  if (f.informantMobile && !/^[6-9]\d{9}$/.test(f.informantMobile)) e.informantMobile = t('login.mobile.invalid');
  return e;
}

function ApplyBirth() {
  const town = currentTown();
  const [f, setF] = useState(emptyBirth);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  async function submit(e) {
    e.preventDefault();
    const local = checkBirth(f);
    setErrors(local); setError(null);
    if (!town) { setError({ code: 'NO_TOWN', message: t('town.required') }); return; }
    if (Object.keys(local).length) { document.querySelector('[aria-invalid="true"]')?.focus(); return; }
    setBusy(true);
    try {
      const a = await api('POST', '/api/v1/certificates/applications/birth', { key: newKey(), body: { ulb: town.code, birth: {
        dateOfBirth: f.dateOfBirth, sex: f.sex, childName: f.childName.trim(), fatherName: f.fatherName.trim(), motherName: f.motherName.trim(),
        addressAtBirth: f.addressAtBirth.trim(), permanentAddress: f.permanentAddress.trim(), placeKind: f.placeKind, placeName: f.placeName.trim(),
        informant: { name: f.informantName.trim(), relation: f.informantRelation.trim(), address: f.informantAddress.trim(), mobile: f.informantMobile } } } });
      navigate('/certificates/app/' + encodeURIComponent(a.applicationId));
    } catch (err) {
      setError(err);
      const fe = fieldErrors(err, { 'birth.informant.name': 'informantName', 'birth.informant.relation': 'informantRelation', 'birth.informant.address': 'informantAddress', 'birth.informant.mobile': 'informantMobile' });
      setErrors(fe);
    } finally { setBusy(false); }
  }
  const F = (k, type = 'text', extra = {}) => <Field label={t('birth.' + k)} value={f[k]} onInput={set(k)} type={type} error={errors[k]} {...extra} />;
  return (
    <>
      <h1>{t('cert.apply.birth')}</h1>
      <p>{town ? t('cert.town', { town: town.name }) : <Link href="/town">{t('town.choose')}</Link>}</p>
      <Notice kind="error">{error && (error.code === 'NO_TOWN' ? error.message : errorText(error))}</Notice>
      <form onSubmit={submit} noValidate>
        {F('dateOfBirth', 'date', { max: today() })}
        <Field label={t('birth.sex')} value={f.sex} onInput={set('sex')}>
          {['FEMALE', 'MALE', 'TRANSGENDER'].map((s) => <option key={s} value={s}>{t('sex.' + s)}</option>)}
        </Field>
        {F('childName', 'text', { hint: t('birth.childName.hint') })}
        {F('fatherName')}{F('motherName')}{F('addressAtBirth')}{F('permanentAddress')}
        <Field label={t('birth.placeKind')} value={f.placeKind} onInput={set('placeKind')}>
          {['HOSPITAL', 'HOUSE', 'OTHER_PLACE'].map((s) => <option key={s} value={s}>{t('place.' + s)}</option>)}
        </Field>
        {F('placeName')}
        <fieldset><legend>{t('birth.informant')}</legend>
          {F('informantName')}{F('informantRelation')}{F('informantAddress')}{F('informantMobile', 'tel')}
        </fieldset>
        <button type="submit" disabled={busy}>{t('cert.submit')}</button>
      </form>
    </>
  );
}

function ApplicationPage({ id }) {
  const [a, error, reload, loading] = useLoad(() => api('GET', '/api/v1/certificates/applications/' + encodeURIComponent(id)), [id]);
  const [actionError, setActionError] = useState(null);
  return (
    <>
      <h1>{t('cert.application')}</h1>
      <Busy when={loading} />
      <Notice kind="error">{(error || actionError) && errorText(error || actionError)}</Notice>
      {a && (
        <>
          <dl class="facts">
            <dt>{t('cert.kind')}</dt><dd>{t('kind.' + a.kind)}</dd>
            <dt>{t('cert.subject')}</dt><dd>{a.subjectName || '—'}</dd>
            <dt>{t('cert.eventDate')}</dt><dd>{indianDate(a.eventDate)}</dd>
            <dt>{t('cert.state')}</dt><dd data-testid="state">{t('state.' + a.state)}</dd>
            <dt>{t('cert.delay')}</dt><dd>{t('cert.days', { days: String(a.delayDays || 0) })} — {t('late.' + (a.lateWindow || 'IN_TIME'))}</dd>
            <dt>{t('cert.fee')}</dt><dd>{rupees(a.feePaise)}</dd>
            {a.permissionRequired && <><dt>{t('cert.permission')}</dt><dd>{a.permissionReference || t('cert.permission.pending')}</dd></>}
            {a.registrationNumber && <><dt>{t('cert.regno')}</dt><dd>{a.registrationNumber}</dd></>}
            {a.rejectionReason && <><dt>{t('cert.rejected')}</dt><dd>{a.rejectionReason}</dd></>}
          </dl>
          {BigInt(a.feePaise || '0') > 0n && <p class="muted">{t('cert.fee.pending')}</p>}
          {a.certificateId && <CertificateActions certificateId={a.certificateId} onError={setActionError} onChange={reload} />}
        </>
      )}
      <p><Link href="/certificates">{t('common.back')}</Link></p>
    </>
  );
}

function CertificateActions({ certificateId, onError, onChange }) {
  const [reason, setReason] = useState('');
  const [childName, setChildName] = useState('');
  const [sent, setSent] = useState(null);
  const [errors, setErrors] = useState({});
  async function download() {
    try {
      const r = await api('GET', `/api/v1/certificates/${encodeURIComponent(certificateId)}/pdf`);
      downloadPdf(r.pdf, r.fileName || 'certificate.pdf');
    } catch (e) { onError(e); }
  }
  async function correct(e) {
    e.preventDefault();
    const local = {};
    if (!reason.trim()) local.reason = t('rule.required');
    if (!childName.trim()) local.childName = t('rule.required');
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      const cert = await api('GET', '/api/v1/certificates/' + encodeURIComponent(certificateId));
      const birth = { ...cert.birth, childName: childName.trim() };
      const c = await api('POST', `/api/v1/certificates/${encodeURIComponent(certificateId)}/corrections`, { key: newKey(), body: { reason: reason.trim(), birth } });
      setSent(c); onChange();
    } catch (err) { onError(err); setErrors(fieldErrors(err)); }
  }
  return (
    <>
      <button type="button" onClick={download}>{t('cert.download')}</button>
      <section aria-labelledby="correction">
        <h2 id="correction">{t('cert.correction')}</h2>
        {sent ? <Notice kind="success">{t('cert.correction.sent')}</Notice> : (
          <form onSubmit={correct}>
            <Field label={t('birth.childName')} value={childName} onInput={setChildName} error={errors.childName} />
            <Field label={t('cert.correction.reason')} value={reason} onInput={setReason} error={errors.reason} />
            <button type="submit" class="secondary">{t('cert.correction.submit')}</button>
          </form>
        )}
      </section>
    </>
  );
}
