// build.mjs — builds the citizen and staff apps into OUT (default ../build/web):
//
//   OUT/index.html                        the citizen start page, rendered (no inline script)
//   OUT/town.html, login.html, verify.html the citizen pages a visit may start on, rendered
//                                         (the gateway serves /x from x.html when there is one)
//   OUT/app.html                          the citizen app's other routes
//   OUT/staff/index.html                  the staff app, its login page rendered
//   OUT/csp-style-hashes.txt              the CSP hashes of the inline stylesheets
//   OUT/assets/<name>-<hash>.js|.css      content-hashed bundles and lazy chunks
//   OUT/staff/sw.js                       the staff app's service worker (offline counter)
//   OUT/verify-sw.js                      the citizen verify page's (verifying offline)
//   OUT/staff/manifest.webmanifest, OUT/icon.svg
//   every text file also as .br and .gz   (the gateway serves them precompressed)
//   OUT/sizes.json                        first-load JS+CSS per app, raw/gzip/brotli
//
// It fails when the Hindi and English catalogs differ or a t('key') has no entry.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { catalogs, entries as commonEntries } from './src/common/strings.js';
import { staffEntries } from './src/staff/strings.js';

const here = dirname(new URL(import.meta.url).pathname);
const out = resolve(process.argv[2] || join(here, '..', 'build', 'web'));

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// ---- catalogs -------------------------------------------------------------
const problems = [];
const both = (set) => Object.entries(set).forEach(([key, pair]) => {
  if (!Array.isArray(pair) || pair.length !== 2) problems.push(`${key} is not [Hindi, English]`);
  else if (!pair[0]) problems.push(`no Hindi text for ${key}`);
  else if (!pair[1]) problems.push(`no English text for ${key}`);
});
both(commonEntries);
both(staffEntries);
for (const key of Object.keys(staffEntries)) if (key in commonEntries) problems.push(`${key} is in both catalogs`);
// A file of the staff app may use the common and the staff strings; any other
// file only the common ones (the citizen app never loads the staff catalog).
for (const file of walk(join(here, 'src')).filter((f) => /\.(jsx?|mjs)$/.test(f) && !f.endsWith('strings.js'))) {
  const text = readFileSync(file, 'utf8');
  const staff = relative(here, file).startsWith('src/staff/');
  for (const m of text.matchAll(/\bt\('([a-zA-Z0-9_.]+)'[,)]/g)) {
    if (!(m[1] in commonEntries) && !(staff && m[1] in staffEntries)) problems.push(`${relative(here, file)}: t('${m[1]}') has no catalog entry${staff ? '' : ' in common/strings.js'}`);
  }
}
if (problems.length) {
  console.error('web build: the string catalogs are incomplete:\n  ' + problems.join('\n  '));
  process.exit(1);
}

// ---- bundles --------------------------------------------------------------
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'staff'), { recursive: true });
// The LGD list of ULBs (a CSV of the identity service's seed data) as a
// module: [{code, name, districtName}] by name, code (as the API orders them).
const csvModule = {
  name: 'lgd-csv',
  setup(build) {
    build.onLoad({ filter: /\.csv$/ }, (args) => {
      const rows = readFileSync(args.path, 'utf8').trim().split('\n').map((line) => {
        const cells = [];
        for (const m of line.trim().matchAll(/("([^"]|"")*"|[^,]*)(,|$)/g)) {
          if (m.index === line.trim().length && cells.length) break;
          cells.push(m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
        }
        return cells;
      });
      const [header, ...body] = rows;
      const at = (name) => { const i = header.indexOf(name); if (i < 0) throw new Error(`${args.path}: no ${name} column`); return i; };
      const [code, name, district] = [at('lgd_code'), at('name'), at('district_name')];
      const ulbs = body.map((r) => ({ code: r[code], name: r[name], districtName: r[district] }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.code < b.code ? -1 : 1));
      return { contents: 'export default ' + JSON.stringify(ulbs) + ';', loader: 'js' };
    });
  },
};
const common = {
  plugins: [csvModule],
  bundle: true, minify: true, sourcemap: false, legalComments: 'none', target: ['es2020', 'chrome80', 'safari14', 'firefox78'],
  jsx: 'automatic', jsxImportSource: 'preact', define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
};
const result = await esbuild.build({
  ...common,
  entryPoints: { citizen: join(here, 'src/citizen/main.jsx'), staff: join(here, 'src/staff/main.jsx') },
  outdir: out, entryNames: 'assets/[name]-[hash]', chunkNames: 'assets/chunk-[hash]', assetNames: 'assets/[name]-[hash]',
  format: 'esm', splitting: true, metafile: true,
});
const outputs = result.metafile.outputs;
const url = (p) => '/' + relative(out, resolve(p)).split('\\').join('/');

function firstLoad(entryName) {
  const entry = Object.keys(outputs).find((p) => outputs[p].entryPoint && outputs[p].entryPoint.endsWith(`src/${entryName}/main.jsx`));
  const files = new Set([entry]);
  const stack = [entry];
  while (stack.length) {
    for (const imp of outputs[stack.pop()].imports || []) {
      if (imp.kind === 'import-statement' && !files.has(imp.path)) { files.add(imp.path); stack.push(imp.path); }
    }
  }
  const css = outputs[entry].cssBundle;
  // The pages the entry loads on first use (import() in main.jsx) with what
  // they import in turn, less what the first load has already.
  const pages = new Set();
  for (const imp of outputs[entry].imports || []) {
    if (imp.kind !== 'dynamic-import') continue;
    const pageStack = [imp.path];
    while (pageStack.length) {
      const file = pageStack.pop();
      if (files.has(file) || pages.has(file)) continue;
      pages.add(file);
      for (const sub of outputs[file].imports || []) if (sub.kind === 'import-statement') pageStack.push(sub.path);
    }
  }
  return { entry, js: [...files], css: css ? [css] : [], pages: [...pages] };
}

const apps = { citizen: firstLoad('citizen'), staff: firstLoad('staff') };

// The chunk of a page loaded on first use (src/...) with what it imports
// statically, less what the app's first load has already: what its HTML
// preloads next to the entry.
function pageChunks(app, source) {
  const chunk = Object.keys(outputs).find((p) => outputs[p].entryPoint && outputs[p].entryPoint.endsWith(source));
  if (!chunk) throw new Error(`no chunk for ${source}`);
  const files = new Set();
  const stack = [chunk];
  while (stack.length) {
    const file = stack.pop();
    if (files.has(file) || app.js.includes(file)) continue;
    files.add(file);
    for (const imp of outputs[file].imports || []) if (imp.kind === 'import-statement') stack.push(imp.path);
  }
  return [...files];
}
const escape = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

// The stylesheet goes inline (one request less before the first paint on a
// slow network); the gateway's CSP admits it by its hash (csp-style-hashes.txt).
const styleHashes = new Set();
function inlineStyle(app) {
  return app.css.map((f) => {
    const css = readFileSync(f, 'utf8').trim();
    if (css.includes('</')) throw new Error(`${f}: cannot inline a stylesheet containing "</"`);
    styleHashes.add(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
    return `<style>${css}</style>`;
  }).join('');
}

// The pages a visit may start on, rendered by the apps' own components
// (src/prerender.jsx, bundled for Node here and run once) as they first draw
// them: each paints when its HTML arrives, before any script runs. The
// components run under stand-ins for the browser's globals: no storage, no
// session, the default language (Hindi).
async function prerendered() {
  const dir = mkdtempSync(join(tmpdir(), 'nagar-prerender-'));
  try {
    const file = join(dir, 'prerender.mjs');
    await esbuild.build({
      ...common, minify: false, entryPoints: [join(here, 'src/prerender.jsx')], outfile: file,
      platform: 'node', format: 'esm', target: 'node18', splitting: false,
      loader: { '.css': 'empty' },
    });
    const storage = { getItem: () => null, setItem() {}, removeItem() {} };
    const stand = { localStorage: storage, window: { addEventListener() {} }, document: { documentElement: {}, cookie: '' }, location: { pathname: '/', search: '' }, history: {} };
    const saved = Object.fromEntries(Object.keys(stand).map((k) => [k, globalThis[k]]));
    Object.assign(globalThis, stand);
    try {
      return await (await import(pathToFileURL(file).href)).prerender();
    } finally {
      Object.assign(globalThis, saved);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const rendered = await prerendered();
for (const [path, html] of Object.entries(rendered)) {
  if (/<script/i.test(html)) throw new Error(`prerendered ${path} holds a script`);
}

// lazyPages: also preload the chunks of the pages loaded on first use — for
// app.html, opened on a deep link, whose page would otherwise wait for one
// more round trip after the entry has run; more: the chunks of the one page
// the HTML is.
function page({ title, app, manifest, body = '', lazyPages = false, more = [] }) {
  const preloads = [...app.js.filter((f) => f !== app.entry), ...(lazyPages ? app.pages : []), ...more]
    .map((f) => `<link rel="modulepreload" href="${url(f)}">`).join('');
  return `<!doctype html>
<html lang="hi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="theme-color" content="#0b4f6c">
<title>${escape(title)}</title>
<link rel="icon" href="/icon.svg" type="image/svg+xml">
${manifest ? `<link rel="manifest" href="${manifest}">` : ''}
${inlineStyle(app)}
${preloads}
<script type="module" src="${url(app.entry)}"></script>
</head>
<body>
<div id="app">${body}<noscript>इस पोर्टल के लिए JavaScript चालू करें। / Turn on JavaScript to use this portal.</noscript></div>
</body>
</html>
`;
}

// index.html is the start page (/), app.html every other citizen route (the
// gateway serves it for them); staff/index.html the staff app.
// town.html, login.html and verify.html the pages of those names (the
// gateway answers /town with town.html), each rendered in its HTML.
const citizenTitle = catalogs.hi['app.citizen.title'];
writeFileSync(join(out, 'index.html'), page({ title: citizenTitle, app: apps.citizen, body: rendered['/'] }));
writeFileSync(join(out, 'town.html'), page({ title: citizenTitle, app: apps.citizen, body: rendered['/town'], more: pageChunks(apps.citizen, 'src/citizen/ulbs.js') }));
writeFileSync(join(out, 'login.html'), page({ title: citizenTitle, app: apps.citizen, body: rendered['/login'] }));
writeFileSync(join(out, 'verify.html'), page({ title: citizenTitle, app: apps.citizen, body: rendered['/verify'], more: pageChunks(apps.citizen, 'src/citizen/verify.jsx') }));
writeFileSync(join(out, 'app.html'), page({ title: citizenTitle, app: apps.citizen, lazyPages: true }));
writeFileSync(join(out, 'staff', 'index.html'), page({ title: catalogs.hi['app.staff.title'], app: apps.staff, manifest: '/staff/manifest.webmanifest', body: rendered['/staff/'] }));
writeFileSync(join(out, 'csp-style-hashes.txt'), [...styleHashes].join(' ') + '\n');
writeFileSync(join(out, 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0b4f6c"/><path d="M14 50V26l18-12 18 12v24H38V36H26v14z" fill="#fff"/></svg>\n');
writeFileSync(join(out, 'staff', 'manifest.webmanifest'), JSON.stringify({
  name: catalogs.hi['app.staff.title'], short_name: catalogs.hi['app.staff.name'], start_url: '/staff/', scope: '/staff/',
  display: 'standalone', background_color: '#ffffff', theme_color: '#0b4f6c', lang: 'hi',
  icons: [{ src: '/icon.svg', sizes: 'any', type: 'image/svg+xml' }],
}, null, 1));

// The service worker: not hashed (its URL must stay), its precache list is.
const staffFiles = Object.keys(outputs).map(url).filter((u) => u.startsWith('/assets/'));
const version = createHash('sha256').update(staffFiles.join('\n')).digest('hex').slice(0, 12);
await esbuild.build({
  ...common, entryPoints: [join(here, 'src/staff/sw.js')], outfile: join(out, 'staff', 'sw.js'), format: 'iife',
  define: { ...common.define, __PRECACHE__: JSON.stringify(['/staff/', '/staff/manifest.webmanifest', '/icon.svg', ...staffFiles]), __VERSION__: JSON.stringify(version) },
});

// The verify page's service worker (/verify-sw.js, scope /verify): the page
// and everything it loads, static and on demand (seal check, QR decoder).
const verifyFiles = new Set(apps.citizen.js);
for (const stack = [Object.keys(outputs).find((p) => outputs[p].entryPoint && outputs[p].entryPoint.endsWith('src/citizen/verify.jsx'))]; stack.length;) {
  const file = stack.pop();
  if (verifyFiles.has(file)) continue;
  verifyFiles.add(file);
  for (const imp of outputs[file].imports || []) stack.push(imp.path);
}
const verifyPrecache = ['/verify', '/icon.svg', ...[...verifyFiles].map(url)];
await esbuild.build({
  ...common, entryPoints: [join(here, 'src/citizen/verify-sw.js')], outfile: join(out, 'verify-sw.js'), format: 'iife',
  define: { ...common.define, __PRECACHE__: JSON.stringify(verifyPrecache), __VERSION__: JSON.stringify(createHash('sha256').update(verifyPrecache.join('\n') + readFileSync(join(out, 'verify.html'))).digest('hex').slice(0, 12)) },
});

// ---- precompressed variants and sizes -------------------------------------
for (const file of walk(out)) {
  if (!/\.(html|js|css|svg|json|webmanifest)$/.test(file)) continue;
  const data = readFileSync(file);
  writeFileSync(file + '.gz', gzipSync(data, { level: 9 }));
  writeFileSync(file + '.br', brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
}
const size = (f, ext = '') => statSync(resolve(f) + ext).size;
const sizes = {};
for (const [name, app] of Object.entries(apps)) {
  const files = [...app.js, ...app.css];
  sizes[name] = {
    files: files.map(url),
    raw: files.reduce((n, f) => n + size(f), 0),
    gzip: files.reduce((n, f) => n + size(f, '.gz'), 0),
    brotli: files.reduce((n, f) => n + size(f, '.br'), 0),
  };
}
writeFileSync(join(out, 'sizes.json'), JSON.stringify(sizes, null, 1));
for (const [name, s] of Object.entries(sizes)) {
  console.log(`web build: ${name} first load ${(s.raw / 1024).toFixed(1)} KB raw, ${(s.gzip / 1024).toFixed(1)} KB gzip, ${(s.brotli / 1024).toFixed(1)} KB brotli (JS+CSS)`);
}
