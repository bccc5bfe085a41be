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

// Runs axe-core on the page; returns the serious and critical violations.
export async function axe(page) {
  await page.addScriptTag({ content: axeSource }).catch(async () => {
    // The CSP forbids inline script: evaluate it instead.
    await page.evaluate(axeSource);
  });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result;
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
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}
