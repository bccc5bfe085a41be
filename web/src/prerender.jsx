// prerender.jsx — build time only (build.mjs bundles it for Node; never
// shipped): the pages a visitor may open first, rendered to HTML with the
// apps' own components as they first draw them (no session, no town chosen,
// Hindi), so that each paints when its HTML arrives, before any script has
// run; the app then draws the same page over it. The citizen start page, the
// town search, the login and the verify page; the staff login.
import { renderToString } from 'preact-render-to-string';
import { addEntries } from './common/strings.js';
import { Home, TownPicker, loadTowns } from './citizen/home.jsx';
import { Layout } from './citizen/layout.jsx';
import { Login } from './citizen/login.jsx';
import { Verify } from './citizen/verify.jsx';
import { Login as StaffLogin, StaffFrame } from './staff/frame.jsx';
import { staffEntries } from './staff/strings.js';

// -> {path: html of #app's content}
export async function prerender() {
  await loadTowns();                      // the town search shows the list at once
  const citizen = (Page) => renderToString(<Layout session={null}><Page /></Layout>);
  const pages = {
    '/': citizen(Home),
    '/town': citizen(TownPicker),
    '/login': citizen(() => <Login next="/" />),
    '/verify': citizen(Verify),
  };
  addEntries(staffEntries);
  pages['/staff/'] = renderToString(<StaffFrame session={null}><StaffLogin /></StaffFrame>);
  return pages;
}
