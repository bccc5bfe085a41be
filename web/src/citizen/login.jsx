// login.jsx — mobile OTP login.
import { useState } from 'preact/hooks';
import { api, loginOtp, newKey } from '../common/api.js';
import { errorText, t } from '../common/i18n.js';
import { Field, Notice, navigate } from '../common/ui.jsx';

export function Login({ next }) {
  const [mobile, setMobile] = useState('');
  const [otp, setOtp] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState(null);
  const [fieldError, setFieldError] = useState({});
  const [busy, setBusy] = useState(false);

  async function send(e) {
    e.preventDefault();
    if (!/^[6-9]\d{9}$/.test(mobile)) { setFieldError({ mobile: 'login.mobile.invalid' }); return; }
    setFieldError({}); setError(null); setBusy(true);
    try {
      await api('POST', '/api/v1/auth/otp', { body: { mobile }, key: newKey() });
      setSent(true);
    } catch (err) { setError(err); } finally { setBusy(false); }
  }
  async function verify(e) {
    e.preventDefault();
    if (!/^\d{6}$/.test(otp)) { setFieldError({ otp: 'login.otp.invalid' }); return; }
    setFieldError({}); setError(null); setBusy(true);
    try {
      await loginOtp(mobile, otp);
      navigate(next && next !== '/login' ? next : '/');
    } catch (err) { setError(err.code === 'UNAUTHENTICATED' ? { code: 'LOCAL', key: 'login.otp.refused' } : err); } finally { setBusy(false); }
  }
  return (
    <>
      <h1>{t('login.title')}</h1>
      <Notice kind="error">{error && (error.code === 'LOCAL' ? t(error.key) : errorText(error))}</Notice>
      {!sent ? (
        <form onSubmit={send}>
          <Field label={t('login.mobile')} hint={t('login.mobile.hint')} value={mobile} onInput={setMobile} type="tel" inputMode="numeric" autocomplete="tel-national" maxLength={10} error={fieldError.mobile && t(fieldError.mobile)} />
          <button type="submit" disabled={busy}>{t('login.send')}</button>
        </form>
      ) : (
        <form onSubmit={verify}>
          <p role="status">{t('login.sent', { mobile })}</p>
          <Field label={t('login.otp')} value={otp} onInput={setOtp} inputMode="numeric" autocomplete="one-time-code" maxLength={6} error={fieldError.otp && t(fieldError.otp)} />
          <button type="submit" disabled={busy}>{t('login.verify')}</button>
          <button type="button" class="secondary" onClick={() => { setSent(false); setOtp(''); }}>{t('login.change')}</button>
        </form>
      )}
    </>
  );
}
