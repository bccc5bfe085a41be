// lib.mjs — what the browser acceptance tests share: Debian's Chromium driven
// by playwright-core (no browser download), axe-core, screenshots.
//
// Environment (set by tests/system/test_web.py):
//   NAGAR_WEB_URL        the gateway, e.g. http://127.0.0.1:PORT
//   NAGAR_WEB_ARTIFACTS  where screenshots and downloads go
//   NAGAR_WEB_CHROMIUM   the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const base = process.env.NAGAR_WEB_URL;
export const artifacts = process.env.NAGAR_WEB_ARTIFACTS || join(tmpdir(), 'nagar-web-artifacts');
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'nagar-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.NAGAR_WEB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    acceptDownloads: true,
    viewport: { width: 360, height: 780 },
  });
  context.setDefaultTimeout(20000);
  const close = async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); };
  return { context, close };
}

// A browser for tests that need several sessions at once (citizen and
// registrar): each newContext() has its own cookies and storage.
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.NAGAR_WEB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const newContext = async (options = {}) => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 360, height: 780 }, locale: 'en-IN', timezoneId: 'Asia/Kolkata', ...options });
    context.setDefaultTimeout(20000);
    return context;
  };
  return { browser, newContext, close: () => browser.close() };
}

// The pages of a flow with several sessions, each in a browser context of
// its own: open(width) answers a new page whose console errors from the
// portal go to out.consoleErrors, unless expected(text) says they belong to
// the story (a request refused offline, a 404 once a property changed
// hands); failureShots(name) screenshots every page opened, after a failure.
export function flowPages(newContext, out, expected = () => false) {
  const pages = [];
  async function open(width) {
    const context = await newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && (m.location().url || '').startsWith(base) && !expected(m.text())) out.consoleErrors.push(m.text());
    });
    pages.push(page);
    return page;
  }
  async function failureShots(name) {
    for (const [i, p] of pages.entries()) await p.screenshot({ path: join(artifacts, `failure-${name}-${i}.png`), fullPage: true }).catch(() => {});
  }
  return { open, failureShots };
}

// Pauses for the Python side (tests/system/test_web.py) to do something the
// browser cannot (stop the gateway, start it): prints "STEP name" and waits
// for a line on stdin.
let stdinLines = null, stdinReader = null;
export async function step(name) {
  if (!stdinLines) {
    const { createInterface } = await import('node:readline');
    stdinReader = createInterface({ input: process.stdin });
    stdinLines = stdinReader[Symbol.asyncIterator]();
  }
  console.log('STEP ' + name);
  const { value, done } = await stdinLines.next();
  if (done || value.trim() !== 'GO') throw new Error(`step ${name}: the test said ${done ? 'nothing' : value}`);
}

// The code in an SMS body, only if the body is the login OTP message (its
// Hindi or English template): a demand or receipt SMS to the same mobile
// carries a ULB code, which is six digits too.
export function otpIn(body) {
  const m = /(?:OTP is|ओटीपी) (\d{6})\b/.exec(body);
  return m ? m[1] : null;
}

// The newest OTP the SMS sink got for a mobile after line `after`.
export function sinkLines() {
  try { return readFileSync(process.env.NAGAR_WEB_OTP_SINK, 'utf8').trim().split('\n'); } catch { return []; }
}
export async function otpFor(page, mobile, after) {
  for (let i = 0; i < 150; i++) {
    for (const line of sinkLines().slice(after).reverse()) {
      if (!line.includes(mobile)) continue;
      let text = line;
      try { const j = JSON.parse(line); text = j.text || j.body || line; } catch { /* plain line */ }
      const otp = otpIn(text);
      if (otp) return otp;
    }
    await page.waitForTimeout(200);
  }
  throw new Error(`no OTP for ${mobile} reached the SMS sink`);
}

// Logs a citizen in on the login page the app is showing (English labels).
export async function citizenLogin(page, mobile) {
  await page.getByLabel('Mobile number').fill(mobile);
  const after = sinkLines().length;
  await page.getByRole('button', { name: 'Send OTP' }).click();
  await page.getByLabel('OTP (6 digits)').fill(await otpFor(page, mobile, after));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

// Logs staff in on the staff login page (English labels).
export async function staffLogin(page, username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').waitFor();
}

export async function english(page) {
  await page.evaluate(() => localStorage.setItem('nagar.lang', 'en'));
}

// Runs axe-core on the page; returns the serious and critical violations.
export async function axe(page) {
  // Injected once per document (the CSP forbids an inline script tag, so the
  // source is evaluated through the DevTools protocol instead).
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result;
}

// Walks the page with the Tab key from the top and answers the interactive
// elements (links, buttons, fields, summaries, tabindex >= 0) that are shown
// but never got the focus. Radio buttons count as reached when one of their
// group was (arrows move within a group).
export async function unreachableByKeyboard(page) {
  const { total, want } = await page.evaluate(() => {
    const shown = (e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden';
    const all = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')]
      .filter((e) => !e.disabled && e.tabIndex >= 0 && !e.closest('fieldset[disabled]') && (shown(e) || e.classList.contains('visually-hidden')));
    all.forEach((e, i) => e.setAttribute('data-kb', String(i)));
    // What got the focus, recorded in the page (no round trip per key).
    window.__kbSeen = new Set();
    document.addEventListener('focusin', (event) => {
      const e = event.target;
      const id = e.type === 'radio' ? `radio:${e.name}` : e.getAttribute && e.getAttribute('data-kb');
      if (id) window.__kbSeen.add(id);
    }, true);
    // Start from the first one (this also moves the browser's starting point).
    if (all.length) all[0].focus();
    const radios = all.filter((e) => e.type === 'radio');
    return { total: all.length, want: all.length - radios.length + new Set(radios.map((e) => e.name)).size };
  });
  // A date field takes three stops (day, month, year): room for that.
  for (let i = 0; i < total * 3 + 5; i += 10) {
    if (await page.evaluate(() => window.__kbSeen.size) >= want) break;
    for (let k = 0; k < 10; k++) await page.keyboard.press('Tab');
  }
  return page.evaluate(() => [...document.querySelectorAll('[data-kb]')]
    .filter((e) => !window.__kbSeen.has(e.getAttribute('data-kb')) && !(e.type === 'radio' && window.__kbSeen.has(`radio:${e.name}`)))
    .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${(e.getAttribute('aria-label') || e.textContent || e.value || '').trim().slice(0, 40)}"`));
}

// The errors and notices shown (at a field, on the page) that are not in the
// language shown: in Hindi, text with Latin words and no Devanagari; in
// English, any Devanagari.
export async function notInLanguage(page, lang) {
  return page.evaluate((l) => [...document.querySelectorAll('main .error, main .notice, main [role=alert]')]
    .map((e) => e.textContent.trim())
    .filter((text) => text && (l === 'hi' ? /[A-Za-z]{3,}/.test(text) && !/[\u0900-\u097F]/.test(text) : /[\u0900-\u097F]/.test(text))), lang);
}

// A screen a flow has reached, checked in both languages without leaving it:
// axe-core's serious and critical findings and a screenshot
// (flow-<name>-<lang>.png) in the language shown, then the app's own language
// button switches it in place (the state the flow reached — a receipt, an
// error at its field — stays), the same again, and the button switches back.
// Findings go to flow.axe (also an error or notice not in the language
// shown), the screen's name to flow.screens (the caller checks that every
// screen it expects was checked).
export async function screen(page, name, flow) {
  flow.axe = flow.axe || [];
  flow.screens = flow.screens || [];
  const shown = () => page.evaluate(() => document.documentElement.lang);
  const painted = () => page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true)))));
  const first = await shown();
  const order = [first, first === 'hi' ? 'en' : 'hi'];
  for (const [i, lang] of order.entries()) {
    if (i > 0) {
      await page.locator('button.lang').first().click();
      await page.waitForFunction((l) => document.documentElement.lang === l, lang);
      await painted();
    }
    await page.screenshot({ path: join(artifacts, `flow-${name}-${lang}.png`), fullPage: true });
    for (const v of await axe(page)) flow.axe.push({ screen: name, lang, ...v });
    for (const text of await notInLanguage(page, lang)) {
      flow.axe.push({ screen: name, lang, id: 'message-not-in-the-language', impact: 'serious', help: 'an error or notice kept in the language it was made in', nodes: [text] });
    }
  }
  await page.locator('button.lang').first().click();
  await page.waitForFunction((l) => document.documentElement.lang === l, first);
  await painted();
  flow.screens.push(name);
}

export async function setLanguage(page, lang) {
  await page.evaluate((l) => localStorage.setItem('nagar.lang', l), lang);
}

// Screenshot at 360 and 1280 px, named <name>-<lang>-<width>.png; axe at both.
export async function capture(page, name, lang, findings) {
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: width === 360 ? 780 : 900 });
    await page.waitForTimeout(50);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (width === 360 && overflow > 1) findings.push({ page: name, lang, id: 'horizontal-scroll-at-360px', impact: 'serious', overflow });
    await page.screenshot({ path: join(artifacts, `${name}-${lang}-${width}.png`), fullPage: true });
    for (const v of await axe(page)) findings.push({ page: name, lang, width, ...v });
  }
  await page.setViewportSize({ width: 360, height: 780 });
}

export function report(result) {
  console.log('RESULT ' + JSON.stringify(result));
  if (stdinReader) { stdinReader.close(); process.stdin.destroy(); }   // nothing more to wait for
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}
