// bench_web.mjs — the load of the portal's pages in Chromium under the
// DevTools "Slow 3G" network (2000 ms latency per request, 500 kbit/s each
// way) and a 4x CPU slowdown: largest contentful paint (LCP), first
// contentful paint and the bytes that came over the network, for a first
// visit (empty cache) and a repeat visit (the hashed bundles cached), median
// of NAGAR_BENCH_RUNS runs. Run by tests/bench/bench_web.py (make bench-web).
//
//   NAGAR_BENCH_PAGES  JSON [[name, url], ...]
import { launchBrowser, report } from './lib.mjs';

const pages = JSON.parse(process.env.NAGAR_BENCH_PAGES);
const runs = Number(process.env.NAGAR_BENCH_RUNS || 3);
// Chrome DevTools' "Slow 3G" preset (SDK NetworkManager): 500 kbit/s x 0.8, 400 ms x 5.
const SLOW_3G = { offline: false, latency: 2000, downloadThroughput: (500 * 1000) / 8 * 0.8, uploadThroughput: (500 * 1000) / 8 * 0.8 };
const CPU_SLOWDOWN = Number(process.env.NAGAR_BENCH_CPU || 4);

// Collected in the page from the start: the last LCP candidate (its time and
// element), FCP.
function observe() {
  window.__lcp = 0;
  window.__lcpElement = '';
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      window.__lcp = e.startTime;
      window.__lcpElement = e.element ? `<${e.element.tagName.toLowerCase()}> ${(e.element.textContent || '').trim().slice(0, 40)}` : e.url || '(removed)';
    }
  }).observe({ type: 'largest-contentful-paint', buffered: true });
}

async function measure(page, client, url) {
  await page.goto(url, { waitUntil: 'load', timeout: 120000 });
  await page.waitForLoadState('networkidle', { timeout: 120000 }).catch(() => {});
  // LCP is final at the first input or when the page is hidden; nothing
  // paints later here, so the last candidate so far is it.
  return page.evaluate(() => {
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    const bytes = [nav, ...performance.getEntriesByType('resource')].reduce((n, e) => n + (e ? e.transferSize : 0), 0);
    return { lcp: Math.round(window.__lcp), element: window.__lcpElement, fcp: Math.round(fcp ? fcp.startTime : 0), html: Math.round(nav ? nav.responseEnd : 0), bytes, requests: performance.getEntriesByType('resource').length + 1 };
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const { newContext, close } = await launchBrowser();
const results = {};
try {
  for (const [name, url] of pages) {
    const first = [], repeat = [];
    for (let i = 0; i < runs; i++) {
      const context = await newContext({ viewport: { width: 360, height: 780 }, isMobile: true, hasTouch: true });
      await context.addInitScript(observe);
      const page = await context.newPage();
      if (process.env.NAGAR_BENCH_BLOCK) await page.route(new RegExp(process.env.NAGAR_BENCH_BLOCK), (r) => r.abort());
      const client = await context.newCDPSession(page);
      await client.send('Network.enable');
      await client.send('Network.emulateNetworkConditions', SLOW_3G);
      await client.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
      first.push(await measure(page, client, url));
      repeat.push(await measure(page, client, url));
      await context.close();
    }
    const pick = (list) => ({ lcp: median(list.map((r) => r.lcp)), fcp: median(list.map((r) => r.fcp)), html: median(list.map((r) => r.html)), bytes: median(list.map((r) => r.bytes)), requests: median(list.map((r) => r.requests)), runs: list.map((r) => r.lcp), element: list.map((r) => r.element).sort((a, b) => list.filter((r) => r.element === b).length - list.filter((r) => r.element === a).length)[0] });
    results[name] = { first: pick(first), repeat: pick(repeat) };
    console.error(`bench-web: ${name}: LCP ${results[name].first.lcp} ms first visit, ${results[name].repeat.lcp} ms repeat`);
  }
  report(results);
} finally {
  await close();
}
