// officer_demand.mjs — acceptance: a revenue officer sets the year's
// property-tax rates in the master-data editor (a reason for each save, the
// versions listed, an old one shown again), then starts the annual demand
// from the Jobs page and follows its progress bar to the final count.
//
//   NAGAR_WEB_OFFICER ("username:password"), NAGAR_WEB_FY
import { join } from 'node:path';
import { artifacts, base, english, expect, launchBrowser, report, screen, staffLogin } from './lib.mjs';

const [user, password] = process.env.NAGAR_WEB_OFFICER.split(':');
const fy = process.env.NAGAR_WEB_FY;
const out = { consoleErrors: [], progress: [] };

const { newContext, close } = await launchBrowser();
const context = await newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error' && (m.location().url || '').startsWith(base)) out.consoleErrors.push(m.text()); });

try {
  await page.goto(base + '/staff/');
  await english(page);
  await page.reload();
  await staffLogin(page, user, password);

  // ---- master data: the year's rates, two saved versions -----------------------
  await page.getByRole('link', { name: 'Master data' }).click();
  await page.getByLabel('Financial year').fill(fy);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.getByRole('heading', { name: 'Built-in defaults' }).waitFor();
  out.defaultRebate = await page.getByLabel('Rebate for paying on time (%)').inputValue();
  // No ALV rate in the defaults: add zone A, RCC, residential at Rs 15.00 a sq ft.
  await page.getByRole('button', { name: /^Add a row to Annual letting value rates/ }).click();
  const row = 'Annual letting value rates (per sq ft per year) 1';
  await page.getByLabel(`${row}: Zone`).fill('A');
  await page.getByLabel(`${row}: Construction`).selectOption('RCC');
  await page.getByLabel(`${row}: Use`).selectOption('RESIDENTIAL');
  await page.getByLabel(`${row}: Rate per sq ft (₹)`).fill('15');
  await page.getByLabel('Rebate for paying on time (%)').fill('5');
  // A save needs a reason; a malformed percentage is refused at its field.
  await page.getByLabel('Maintenance deduction (%)').fill('ten');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await page.getByText('A reason is required.').waitFor();
  out.percentError = (await page.getByText('Write a percentage').first().textContent()).trim();
  await screen(page, 'staff-masterdata-rates-errors', out);
  await page.getByLabel('Maintenance deduction (%)').fill('10');
  await page.getByLabel('Reason for the change').fill('Council resolution 14/2026');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await page.getByText('Version 1 saved.').waitFor();
  await page.getByLabel('Rebate for paying on time (%)').fill('4.5');
  await page.getByLabel('Reason for the change').fill('Council resolution 15/2026: rebate 4.5%');
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await page.getByText('Version 2 saved.').waitFor();
  await screen(page, 'staff-masterdata-rates-saved', out);
  out.versions = await page.getByTestId('md-versions').locator('tbody tr')
    .evaluateAll((rows) => rows.map((r) => [...r.cells].slice(0, 4).map((c) => c.textContent.trim())));
  await page.getByRole('button', { name: 'Show version 1' }).click();
  await page.getByRole('heading', { name: 'Version 1' }).waitFor();
  out.version1Rebate = await page.getByLabel('Rebate for paying on time (%)').inputValue();
  await screen(page, 'staff-masterdata-rates-version1', out);
  await page.screenshot({ path: join(artifacts, 'flow-masterdata-versions.png'), fullPage: true });

  // ---- the annual demand, started here, followed to its count ------------------
  await page.getByRole('link', { name: 'Jobs' }).click();
  await page.getByLabel('Financial year').fill(fy);
  await page.getByRole('button', { name: 'Start or resume' }).click();
  const job = page.getByTestId('job');
  await job.waitFor();
  out.jobTitle = (await job.getByRole('heading').textContent()).trim();
  for (let i = 0; i < 600; i++) {
    const p = await page.locator('#job-progress').evaluate((el) => [el.value, el.max]);
    const status = await job.getAttribute('data-status');
    const last = out.progress[out.progress.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.progress.push(p);
    if (status === 'DONE') break;
    await page.waitForTimeout(100);
  }
  await page.getByTestId('job-done').waitFor({ timeout: 60000 });
  out.done = (await page.getByTestId('job-done').textContent()).trim();
  out.progressLabel = (await page.locator('label[for=job-progress]').textContent()).trim();
  await screen(page, 'staff-job-done', out);
  await page.screenshot({ path: join(artifacts, 'flow-demand-done.png'), fullPage: true });
  expect(out.done.startsWith('Done'), out.done);
  report(out);
} catch (e) {
  await page.screenshot({ path: join(artifacts, 'failure-officer_demand.png'), fullPage: true }).catch(() => {});
  throw e;
} finally {
  await close();
}
