// settings.jsx — language and notification preferences, and the messages
// sent to the signed-in citizen (GET /api/v1/notifications/my-messages: only
// theirs, newest first, never an OTP; the titles in the language shown, each
// text as it was sent).
import { useEffect, useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, setLanguage, t } from '../common/i18n.js';
import { indianDateTime } from '../common/format.js';
import { Notice, useLanguage } from '../common/ui.jsx';

export function Settings() {
  const lang = useLanguage();
  const [saved, setSaved] = useState('');
  const [error, setError] = useState(null);
  async function optOut(value) {
    setError(null); setSaved('');
    try {
      await api('PUT', '/api/v1/notifications/opt-out', { key: newKey(), body: { optedOut: value } });
      setSaved(value ? 'settings.optedout' : 'settings.optedin');   // a key: shown in the language chosen later too
    } catch (e) { setError(e); }
  }
  return (
    <>
      <h1>{t('settings.title')}</h1>
      <fieldset>
        <legend>{t('settings.language')}</legend>
        <label><input type="radio" name="lang" checked={lang === 'hi'} onChange={() => setLanguage('hi')} /> हिन्दी</label>
        <label><input type="radio" name="lang" checked={lang === 'en'} onChange={() => setLanguage('en')} /> English</label>
      </fieldset>
      <h2>{t('settings.messages')}</h2>
      <p>{t('settings.messages.hint')}</p>
      <Notice kind="error">{error && errorText(error)}</Notice>
      <Notice kind="success">{saved && t(saved)}</Notice>
      <div class="actions">
        <button type="button" class="secondary" onClick={() => optOut(true)}>{t('settings.optout')}</button>
        <button type="button" class="secondary" onClick={() => optOut(false)}>{t('settings.optin')}</button>
      </div>
      <MyMessages lang={lang} />
    </>
  );
}

function MyMessages({ lang }) {
  const [list, setList] = useState([]);
  const [next, setNext] = useState('');
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  async function load(token) {
    setError(null); setLoading(true);
    try {
      const r = await api('GET', '/api/v1/notifications/my-messages', { query: { pageSize: 20, pageToken: token, language: lang } });
      setList((old) => (token ? [...old, ...(r.messages || [])] : r.messages || []));
      setNext(r.nextPageToken || '');
    } catch (e) { setError(e); } finally { setLoading(false); }
  }
  useEffect(() => { load(''); }, [lang]);
  return (
    <section aria-labelledby="my-messages">
      <h2 id="my-messages">{t('messages.title')}</h2>
      <Notice kind="error">{error && errorText(error)}</Notice>
      {loading && <p class="busy" role="status">{t('common.loading')}</p>}
      {!loading && !error && !list.length && <p>{t('messages.none')}</p>}
      <ul class="list" data-testid="my-messages">
        {list.map((m) => (
          <li key={m.messageId} data-status={m.status}>
            <strong>{m.title || m.type}</strong>
            <br /><small>{indianDateTime(m.createdAt)} — {t('messages.channel.' + (m.channel || 'SMS'), { address: m.address || '' })} — {t('messages.status.' + (m.status || 'QUEUED'))}</small>
            {m.subject && <><br /><span lang={m.language || undefined}>{m.subject}</span></>}
            <p lang={m.language || undefined} data-testid="message-text">{m.text}</p>
          </li>
        ))}
      </ul>
      {next && <button type="button" class="secondary" disabled={loading} onClick={() => load(next)}>{t('messages.more')}</button>}
    </section>
  );
}
