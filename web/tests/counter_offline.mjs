// counter_offline.mjs — acceptance: the counter offline drill. A clerk is at
// the counter when the gateway stops (the test stops it); the page is
// reloaded and the service worker still serves the app; three payments are
// taken on numbered offline slips (IndexedDB); the gateway comes back (the
// test starts it), the session is restored from the refresh cookie and the
// slips are replayed once each; replaying all again records nothing.
//
//   NAGAR_WEB_CLERK ("username:password"), NAGAR_WEB_PROPERTY
import { join } from 'node:path';
import { artifacts, base, english, expect, launchBrowser, report, screen, staffLogin, step } from './lib.mjs';

const [user, password] = process.env.NAGAR_WEB_CLERK.split(':');
const propertyId = process.env.NAGAR_WEB_PROPERTY;
const PAYMENTS = [
  { amount: '100', mode: 'CASH', ref: '' },
  { amount: '250.50', mode: 'CHEQUE', ref: '004512' },
  { amount: '75.25', mode: 'UPI', ref: 'UPI-REF-9911' },
];
const out = { consoleErrors: [], payments: PAYMENTS };

const { newContext, close } = await launchBrowser();
const context = await newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => {
  // While the gateway is down the browser logs the refused connections: expected.
  if (m.type() === 'error' && (m.location().url || '').startsWith(base) && !/ERR_CONNECTION_REFUSED|Failed to fetch|Failed to load resource/.test(m.text())) out.consoleErrors.push(m.text());
});

async function slipRows() {
  return page.getByTestId('slips').locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
}

try {
  await page.goto(base + '/staff/');
  await english(page);
  await page.reload();
  await staffLogin(page, user, password);
  // The app is installed: its service worker controls the page.
  // (Installing precaches every bundle: on a loaded machine that takes a while.)
  out.controlled = await page.evaluate(() => new Promise((resolve) => {
    if (navigator.serviceWorker.controller) resolve(true);
    navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true));
    setTimeout(() => resolve(!!navigator.serviceWorker.controller), 90000);
  }));
  if (!out.controlled) {
    out.registrations = await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations())
      .map((r) => ({ scope: r.scope, active: r.active?.state, installing: r.installing?.state, waiting: r.waiting?.state })));
  }
  await page.getByRole('link', { name: 'Counter' }).click();
  await page.getByLabel('Property id').fill(propertyId);
  await page.getByRole('button', { name: 'Show dues' }).click();
  out.payableBefore = (await page.getByTestId('counter-payable').textContent()).trim();

  // ---- mid-shift, the gateway stops ------------------------------------------
  await step('stop-gateway');
  await page.reload();                        // served by the service worker
  await page.getByTestId('offline').waitFor();
  out.offlineBanner = (await page.getByTestId('offline').textContent()).trim();
  out.slips = [];
  for (const p of PAYMENTS) {
    await page.getByLabel('Property id').fill(propertyId);
    await page.getByLabel('Amount (₹)').fill(p.amount);
    await page.getByLabel('Mode of payment').selectOption(p.mode);
    if (p.ref) await page.getByLabel('Cheque/DD number or UPI reference').fill(p.ref);
    await page.getByRole('button', { name: 'Take payment on an offline slip' }).click();
    const slip = page.getByTestId('slip-no');
    await slip.getByText(new RegExp(`: ₹${p.amount.replace('.', '\\.')}`)).waitFor();
    out.slips.push((await slip.textContent()).trim());
  }
  out.pending = await slipRows();
  await screen(page, 'staff-counter-offline-slips', out);
  await page.screenshot({ path: join(artifacts, 'flow-counter-offline-slips.png'), fullPage: true });

  // ---- the gateway is back: the slips go, each once --------------------------
  await step('start-gateway');
  await page.getByTestId('offline').waitFor({ state: 'detached', timeout: 30000 });
  await page.getByTestId('whoami').waitFor({ timeout: 30000 });     // session restored
  await page.getByRole('heading', { name: 'Offline slips (0 waiting)' }).waitFor({ timeout: 30000 });
  out.replayed = await slipRows();
  await screen(page, 'staff-counter-slips-replayed', out);
  await page.screenshot({ path: join(artifacts, 'flow-counter-replayed.png'), fullPage: true });
  // Replaying every slip again records nothing.
  await page.getByRole('button', { name: 'Replay all slips' }).click();
  for (let i = 0; i < 100; i++) {
    const rows = await slipRows();
    if (rows.every((r) => r[4].startsWith('Already recorded'))) break;
    await page.waitForTimeout(200);
  }
  out.replayedAgain = await slipRows();
  await screen(page, 'staff-counter-slips-replayed-again', out);
  await page.getByLabel('Property id').fill(propertyId);
  await page.getByRole('button', { name: 'Show dues' }).click();
  await page.getByTestId('counter-payable').waitFor();
  out.payableAfter = (await page.getByTestId('counter-payable').textContent()).trim();
  expect(out.replayedAgain.length === 3, 'three slips');
  report(out);
} catch (e) {
  await page.screenshot({ path: join(artifacts, 'failure-counter_offline.png'), fullPage: true }).catch(() => {});
  throw e;
} finally {
  await close();
}
