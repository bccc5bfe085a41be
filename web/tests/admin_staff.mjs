// admin_staff.mjs — acceptance: a town's commissioner, on the staff app's
// Administration page, changes a clerk's role to registrar and disables
// another clerk's account, while both are logged in elsewhere. What each of
// them then sees: the re-roled clerk's session has ended, and logging in
// again gives the registrar's role, menu and pages (no counter); the
// disabled account's session has ended and its password no longer logs in.
// The caller checks the same through the API (old tokens, new logins).
//
//   NAGAR_WEB_ADMIN, NAGAR_WEB_MOVED, NAGAR_WEB_LEAVER ("username:password")
import { join } from 'node:path';
import { artifacts, base, english, launchBrowser, report, screen, staffLogin } from './lib.mjs';

const account = (name) => { const [user, ...rest] = process.env[name].split(':'); return { user, password: rest.join(':') }; };
const admin = account('NAGAR_WEB_ADMIN');
const moved = account('NAGAR_WEB_MOVED');
const leaver = account('NAGAR_WEB_LEAVER');
const out = { consoleErrors: [] };

const { newContext, close } = await launchBrowser();
const pages = {};
async function open(name, who, width) {
  const context = await newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  // The 401s of a revoked session are expected here: the app answers them
  // by showing the login page.
  page.on('console', (m) => {
    if (m.type() === 'error' && (m.location().url || '').startsWith(base) && !/status of 401/.test(m.text())) out.consoleErrors.push(`${name}: ${m.text()}`);
  });
  await page.goto(base + '/staff/');
  await english(page);
  await page.reload();
  await staffLogin(page, who.user, who.password);
  pages[name] = page;
  return page;
}
const whoami = (page) => page.getByTestId('whoami').textContent();
const menu = (page) => page.getByRole('navigation').getByRole('link').allTextContents();
const cells = (row) => row.getByRole('cell').allTextContents();

try {
  // ---- both clerks at work ---------------------------------------------------
  const m = await open('moved', moved, 1280);
  out.movedBefore = await whoami(m);
  out.movedMenuBefore = await menu(m);
  const l = await open('leaver', leaver, 1280);
  await l.getByRole('link', { name: 'Counter' }).click();
  await l.getByRole('heading', { name: 'Payment counter', level: 1 }).waitFor();
  out.leaverBefore = await whoami(l);

  // ---- the commissioner: Administration ---------------------------------------
  const a = await open('admin', admin, 1280);
  out.adminWhoami = await whoami(a);
  await a.getByRole('link', { name: 'Administration' }).click();
  const rowOf = (user) => a.getByRole('row').filter({ has: a.getByRole('cell', { name: user, exact: true }) });
  await rowOf(moved.user).waitFor();
  out.movedRowBefore = await cells(rowOf(moved.user));

  // Role: clerk -> registrar.
  let row = rowOf(moved.user);
  await row.getByRole('button', { name: `Change the role of ${moved.user} or disable the account` }).click();
  await row.getByLabel('Role').selectOption({ label: 'Registrar' });
  await row.getByRole('button', { name: 'Save the role' }).click();
  await a.getByText(`${moved.user} is now Registrar.`).waitFor();
  out.roleSaved = await a.getByRole('status').filter({ hasText: 'is now' }).textContent();
  await screen(a, 'staff-admin-role-saved', out);
  await rowOf(moved.user).getByRole('cell', { name: 'Registrar', exact: true }).waitFor();
  out.movedRowAfter = await cells(rowOf(moved.user));

  // Disable: a reason is asked for first.
  row = rowOf(leaver.user);
  await row.getByRole('button', { name: `Change the role of ${leaver.user} or disable the account` }).click();
  await row.getByRole('button', { name: 'Disable the account' }).click();
  out.reasonError = await row.getByRole('alert').textContent();
  await screen(a, 'staff-admin-reason-error', out);
  await row.getByLabel('Reason for disabling').fill('transferred to the district office');
  await row.getByRole('button', { name: 'Disable the account' }).click();
  await a.getByText(`The account of ${leaver.user} is disabled; its sessions have ended.`).waitFor();
  await rowOf(leaver.user).getByRole('cell', { name: 'Disabled', exact: true }).waitFor();
  out.leaverRowAfter = await cells(rowOf(leaver.user));
  // A disabled account has nothing more to change.
  out.leaverChangeButtons = await rowOf(leaver.user).getByRole('button', { name: /^Change the role of/ }).count();
  await screen(a, 'staff-admin-disabled', out);
  await a.screenshot({ path: join(artifacts, 'flow-admin-staff.png'), fullPage: true });

  // ---- the re-roled clerk: the session ended; the new role on logging in -------
  await m.reload();
  await m.getByRole('heading', { name: 'Staff log in' }).waitFor();
  out.movedAfterReload = await m.getByRole('heading', { level: 1 }).textContent();
  await staffLogin(m, moved.user, moved.password);
  out.movedAfter = await whoami(m);
  out.movedMenuAfter = await menu(m);
  await m.goto(base + '/staff/counter');
  await m.getByTestId('whoami').waitFor();
  out.movedCounterPage = await m.getByRole('main').textContent();
  await screen(m, 'staff-not-for-your-role', out);
  await m.screenshot({ path: join(artifacts, 'flow-admin-moved-registrar.png'), fullPage: true });

  // ---- the disabled clerk: the session ended; the password no longer works ----
  await l.reload();
  await l.getByRole('heading', { name: 'Staff log in' }).waitFor();
  out.leaverAfterReload = await l.getByRole('heading', { level: 1 }).textContent();
  await l.getByLabel('Username').fill(leaver.user);
  await l.getByLabel('Password').fill(leaver.password);
  await l.getByRole('button', { name: 'Log in' }).click();
  out.leaverLoginError = await l.getByRole('alert').textContent();
  out.leaverWhoamiCount = await l.getByTestId('whoami').count();
  await screen(l, 'staff-login-refused', out);
  await l.screenshot({ path: join(artifacts, 'flow-admin-disabled-login.png'), fullPage: true });
  report(out);
} catch (e) {
  for (const [name, page] of Object.entries(pages)) {
    await page.screenshot({ path: join(artifacts, `failure-admin_staff-${name}.png`), fullPage: true }).catch(() => {});
  }
  throw e;
} finally {
  await close();
}
