// every_page.mjs — every page of one app (NAGAR_WEB_APP = citizen | staff), in
// Hindi and in English: a screenshot at 360 px and at 1280 px wide
// (<app>-<page>-<lang>-<width>.png in the artifacts) and axe-core's serious
// and critical findings at both widths (also: no sideways scrolling at 360 px;
// every control reached with the Tab key).
//
// The pages are shown with data in them (made by tests/system/test_web.py and
// passed in NAGAR_WEB_DATA as JSON) and, for forms, also with their errors.
import { join } from 'node:path';
import { artifacts, base, capture, citizenLogin, expect, launchBrowser, report, staffLogin, unreachableByKeyboard } from './lib.mjs';

const app = process.env.NAGAR_WEB_APP;
const data = JSON.parse(process.env.NAGAR_WEB_DATA || '{}');
// NAGAR_WEB_LANGS: the languages to show each page in (default both).
const langs = (process.env.NAGAR_WEB_LANGS || 'hi,en').split(',');
const out = { findings: [], pages: [], consoleErrors: [] };

const { newContext, close } = await launchBrowser();
const context = await newContext();
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error' && (m.location().url || '').startsWith(base)) out.consoleErrors.push(`${page.url()}: ${m.text()}`); });

async function settle() {
  await page.locator('main h1').first().waitFor();
  await page.waitForFunction(() => !document.querySelector('.busy'), null, { timeout: 20000 });
}

// Visits one page in both languages; `ready` waits for its data, `act` brings
// it to the state worth showing (errors, results).
async function visit(name, path, { ready, act } = {}) {
  for (const lang of langs) {
    await page.evaluate((l) => localStorage.setItem('nagar.lang', l), lang);
    if (path) await page.goto(base + path); else await page.reload();
    await settle();
    if (ready) await page.locator(ready).first().waitFor();
    if (act) await act(lang);
    const html = await page.evaluate(() => document.documentElement.lang);
    expect(html === lang, `${name}: <html lang> is ${html}, not ${lang}`);
    await capture(page, `${app}-${name}`, lang, out.findings);
    if (lang === 'en') {
      await page.setViewportSize({ width: 1280, height: 900 });
      for (const missed of await unreachableByKeyboard(page)) out.findings.push({ page: `${app}-${name}`, lang, width: 1280, id: 'not-reachable-by-keyboard', impact: 'serious', help: missed });
      await page.setViewportSize({ width: 360, height: 780 });
    }
  }
  out.pages.push(name);
}

async function english() {
  await page.evaluate(() => localStorage.setItem('nagar.lang', 'en'));
  await page.reload();
  await settle();
}

const submit = (label) => async () => { await page.locator('main form button[type=submit]').last().click(); await page.locator('[aria-invalid="true"]').first().waitFor(); };

try {
  await page.goto(base + (app === 'citizen' ? '/' : '/staff/'));
  if (app === 'citizen') {
    await page.evaluate((town) => localStorage.setItem('nagar.town', JSON.stringify(town)), data.town);
    await visit('home', '/');
    await visit('town', '/town', { act: async () => { await page.locator('input[type=search]').fill('Bad'); await page.locator('main .list button').first().waitFor(); } });
    await visit('login', '/login');
    await visit('login-error', '/login', { act: async () => { await page.locator('input[type=tel]').fill('12345'); await page.locator('main form button[type=submit]').click(); await page.locator('[aria-invalid="true"]').waitFor(); } });
    await visit('verify', '/verify', { act: async () => { await page.locator('textarea').fill(data.payload); await page.locator('main form button[type=submit]').click(); await page.getByTestId('verdict').waitFor(); } });
    await page.goto(base + '/login');
    await english();
    await citizenLogin(page, data.mobile);
    await visit('property-mine', '/property', { ready: `main a[href="/property/${data.propertyId}"]` });
    await visit('property', `/property/${data.propertyId}`, { ready: '[data-testid=payable]' });
    await visit('assessment-form', `/property/${data.propertyId}/assessment`, { ready: 'main form' });
    await visit('assessment-form-errors', `/property/${data.propertyId}/assessment`, {
      ready: 'main form', act: async () => { await page.locator('main input').nth(1).fill('??'); await submit()(); },
    });
    await visit('assessment', `/property/${data.propertyId}/assessment/${data.assessmentId}`, { ready: '[data-testid=assessment-status]' });
    await visit('mutation-form', `/property/${data.propertyId}/mutation`, { ready: 'main form' });
    await visit('mutation-form-errors', `/property/${data.propertyId}/mutation`, {
      ready: 'main form', act: async () => { await page.locator('main input[inputmode=decimal]').first().fill(''); await submit()(); },
    });
    await visit('pay-return', `/pay/return?kind=property&order=${data.orderId}&id=${data.propertyId}`, { ready: 'main [role=status]' });
    await visit('water', '/water', { ready: `main a[href="/water/${data.connectionId}"]` });
    await visit('water-connection', `/water/${data.connectionId}`, { ready: 'main table' });
    await visit('certificates', '/certificates', { ready: 'main .list a' });
    for (const kind of ['birth', 'death', 'marriage']) {
      await visit(`apply-${kind}`, `/certificates/apply/${kind}`, { ready: 'main form' });
      await visit(`apply-${kind}-errors`, `/certificates/apply/${kind}`, { ready: 'main form', act: submit() });
    }
    await visit('application', `/certificates/app/${data.applicationId}`, { ready: '[data-testid=regno]' });
    // One waiting for the registrar, its fee due (paid online from here) or paid.
    await visit('application-fee', `/certificates/app/${data.waitingApplicationId}`, { ready: '[data-testid=fee-note]' });
    await visit('settings', '/settings');
  } else {
    await visit('login', '/staff/');
    const as = async (account) => {
      if (await page.getByTestId('whoami').count()) {
        await page.locator('header button.secondary').click();
        await page.getByTestId('whoami').waitFor({ state: 'detached' });
        await page.locator('input[autocomplete=username]').waitFor();
      }
      await english();
      const [user, password] = account.split(':');
      await staffLogin(page, user, password);
    };
    await as(data.registrar);
    await visit('inbox', '/staff/', { ready: 'main article' });
    // The fee of the application waiting for the registrar, taken in cash on
    // its card (in the first language's run; the next one finds it paid).
    await visit('inbox-fee-paid', '/staff/', {
      ready: 'main article',
      act: async () => {
        const card = page.locator('main article').filter({ hasText: 'Ravi Verma' });
        if (!(await card.getByTestId('fee-receipt').count())) {
          await card.locator('form').first().locator('button[type=submit]').click();
          await card.getByTestId('fee-receipt').waitFor();
        }
        out.inboxFeeReceipt = (await card.getByTestId('fee-receipt').textContent()).trim();
      },
    });
    await visit('masterdata-fees', '/staff/masterdata', {
      act: async () => { await page.locator('main select').first().selectOption('fees'); await page.locator('main form button[type=submit]').first().click(); await page.locator('#md-form').waitFor(); },
    });
    await as(data.clerk);
    await visit('counter', '/staff/counter', {
      act: async () => {
        await page.locator('main form input').nth(1).fill(data.propertyId);
        await page.locator('main form button[type=submit]').first().click();
        await page.getByTestId('counter-payable').waitFor();
        await page.locator('main form').nth(1).locator('input').first().fill('1');
        await page.locator('main form').nth(1).locator('button[type=submit]').click();
        await page.getByTestId('receipt-no').waitFor();
        await page.locator('#close-title ~ button').click();
        await page.getByTestId('day-total').waitFor();
      },
    });
    await visit('counter-water', '/staff/counter', {
      act: async () => {
        await page.locator('main form select').first().selectOption('water');
        await page.locator('main form input').nth(1).fill(data.connectionId);
        await page.locator('main form button[type=submit]').first().click();
        await page.getByTestId('counter-payable').waitFor();
        await page.locator('main form').nth(1).locator('input').first().fill('500');
        await page.locator('main form').nth(1).locator('button[type=submit]').click();
        await page.getByTestId('receipt-no').waitFor();               // a water receipt
        if (!out.waterReceipt) {                                       // and its PDF, once
          const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('receipt-pdf').click()]);
          const pdf = join(artifacts, 'staff-counter-water-receipt.pdf');
          await download.saveAs(pdf);
          out.waterReceipt = { pdf, receiptNo: (await page.getByTestId('receipt-no').textContent()).trim() };
        }
      },
    });
    await visit('counter-errors', '/staff/counter', { act: async () => { await page.locator('main form').nth(1).locator('button[type=submit]').click(); await page.locator('[aria-invalid="true"]').first().waitFor(); } });
    await visit('reports', '/staff/reports', {
      act: async () => {
        for (let i = 0; i < 3; i++) await page.locator('main section').nth(i).locator('button').first().click();
        await page.locator('main canvas').waitFor();
        await page.locator('main section').nth(1).locator('table').waitFor();
        await page.locator('main section').nth(2).locator('tfoot').waitFor();
        await page.waitForTimeout(300);                          // the chart draws
      },
    });
    await as(data.officer);
    await visit('inbox-officer', '/staff/', { ready: 'main article' });
    // A return opened from the inbox (left FILED: accepting and re-assessing
    // are in mutation_returns.mjs), and its re-assessment refused at the fields.
    await visit('return', `/staff/returns/${data.assessmentId}`, { ready: '[data-testid=return-status]' });
    await visit('return-errors', `/staff/returns/${data.assessmentId}`, {
      ready: '#return-reassess',
      act: async () => {
        const form = page.locator('section[aria-labelledby=return-reassess] form');
        await form.locator('input').first().fill('');
        await form.locator('button[type=submit]').click();
        await form.locator('[aria-invalid="true"]').nth(1).waitFor();
      },
    });
    await visit('jobs', '/staff/jobs', { act: async () => { await page.locator('main form button[type=submit]').first().click(); await page.getByTestId('job-done').waitFor({ timeout: 60000 }); } });
    for (const kind of ['rates', 'tariff']) {
      await visit(`masterdata-${kind}`, '/staff/masterdata', {
        act: async () => { await page.locator('main select').first().selectOption(kind); await page.locator('main form button[type=submit]').first().click(); await page.locator('#md-form').waitFor(); },
      });
    }
    await visit('masterdata-errors', '/staff/masterdata', {
      act: async () => {
        await page.locator('main form button[type=submit]').first().click();
        await page.locator('#md-form input').first().fill('x');
        await page.locator('#md-form button[type=submit]').click();
        await page.locator('[aria-invalid="true"]').first().waitFor();
      },
    });
    await as(data.commissioner);
    await visit('admin', '/staff/admin', { ready: 'main tbody tr' });
    await visit('admin-errors', '/staff/admin', { ready: 'main tbody tr', act: async () => { await page.locator('main form button[type=submit]').click(); await page.locator('[aria-invalid="true"]').first().waitFor(); } });
    // A commissioner saves the town's certificate fees with a reason: listed with its version.
    await visit('masterdata-fees-edit', '/staff/masterdata', {
      act: async (lang) => {
        await page.locator('main select').first().selectOption('fees');
        await page.locator('main form button[type=submit]').first().click();
        await page.locator('#md-form button[type=submit]').waitFor();
        const reason = `Council resolution 21/2026 (${lang})`;
        await page.locator('#md-form textarea').fill(reason);
        await page.locator('#md-form button[type=submit]').click();
        await page.getByTestId('md-versions').locator('tbody tr').filter({ hasText: reason }).waitFor();
        out.feeVersions = await page.getByTestId('md-versions').locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
      },
    });
    await visit('operations', '/staff/operations', { ready: '[data-testid=ops-checkpoint]' });
    out.ops = {
      checkpoint: await page.getByTestId('ops-checkpoint').getAttribute('data-status'),
      services: await page.getByTestId('ops-services').locator('tbody tr').evaluateAll((rows) => rows.map((r) => [r.cells[0].textContent.trim(), r.getAttribute('data-worker'), r.getAttribute('data-quarantine')])),
    };
  }
  report(out);
} catch (e) {
  await page.screenshot({ path: `${artifacts}/failure-every_page-${app}.png`, fullPage: true }).catch(() => {});
  throw e;
} finally {
  await close();
}
