// settings.jsx — language and notification preferences.
import { useState } from 'preact/hooks';
import { api, newKey } from '../common/api.js';
import { errorText, setLanguage, t } from '../common/i18n.js';
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
      <p class="muted">{t('settings.inbox.pending')}</p>
    </>
  );
}
