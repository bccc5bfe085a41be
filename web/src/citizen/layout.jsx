// layout.jsx — the citizen app's frame around every page: the skip link, the
// header (brand, language, town, log in/out), <main>, the footer. Shared by
// main.jsx and by prerender.jsx, which renders the first pages into their
// HTML at build time with it.
import { logout } from '../common/api.js';
import { t } from '../common/i18n.js';
import { LanguageSwitch, Link, navigate } from '../common/ui.jsx';
import { useTown } from './home.jsx';

export function Layout({ session, children }) {
  return (
    <>
      <a class="skip" href="#main">{t('common.skip')}</a>
      <Header session={session} />
      <main id="main" tabIndex={-1}>{children}</main>
      <footer><p>{t('app.footer')}</p></footer>
    </>
  );
}

function Header({ session }) {
  const town = useTown();
  return (
    <header>
      <div class="bar">
        <Link href="/" class="brand">{t('app.citizen.name')}</Link>
        <LanguageSwitch />
      </div>
      <nav aria-label={t('nav.label')}>
        <Link href="/town">{town ? town.name : t('town.choose')}</Link>
        {session ? (
          <button type="button" class="link" onClick={() => logout().then(() => navigate('/'))}>{t('login.logout')}</button>
        ) : (
          <Link href="/login">{t('login.title')}</Link>
        )}
      </nav>
    </header>
  );
}
