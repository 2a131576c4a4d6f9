// Helpers for ui.test.mjs: the browser, log-in, OHIF's study list and viewport,
// screenshot pixel statistics (a small PNG decoder: WebGL canvases cannot be
// read back from the page, so the pixels come from Chromium's own screenshots),
// and a direct HTTPS client that verifies Tresor's certificate against its CA.
// Contract: every wait is bounded; nothing here sleeps for a fixed time to
// "let things settle" except between polls of a condition.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through tests/integration/test_web_ui.py`);
  return v;
}

export const BASE = required('TRESOR_URL').replace(/\/$/, '');
export const CA = fs.readFileSync(required('TRESOR_CA'));
export const USERS = JSON.parse(required('TRESOR_USERS'));
export const STUDIES = JSON.parse(required('TRESOR_STUDIES'));
export const ARTIFACTS = process.env.TRESOR_ARTIFACTS || path.resolve('test-artifacts', 'web-ui');
fs.mkdirSync(ARTIFACTS, { recursive: true });

export const LOGIN_PATH = '/app/login.html';
// OHIF's first paint parses a 17 MB bundle: slow on a loaded 2-core machine
// (and slower still under the sanitizers: TRESOR_TIMEOUT_SCALE).
export const SCALE = Math.max(1, Number(process.env.TRESOR_TIMEOUT_SCALE) || 1);
export const APP_TIMEOUT = 90_000 * SCALE;

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

// launch() gives Chromium a fresh, empty --user-data-dir of its own and deletes it on close.
export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

// A fresh context (no cookies, no storage) that records console errors and
// Content-Security-Policy violations of every page it opens.
export async function newContext(browser) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1920, height: 1080 },
    baseURL: BASE });
  ctx.setDefaultTimeout(30_000 * SCALE);
  ctx.setDefaultNavigationTimeout(APP_TIMEOUT);
  ctx.problems = [];
  ctx.on('page', (page) => watchPage(ctx, page));
  return ctx;
}

function watchPage(ctx, page) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|EvalError/i.test(text)) ctx.problems.push(`CSP: ${text.slice(0, 300)}`);
  });
  page.on('pageerror', (err) => {
    if (/Content Security Policy|EvalError/i.test(String(err))) ctx.problems.push(`CSP: ${String(err).slice(0, 300)}`);
  });
  page.on('response', (res) => {
    const url = res.url();
    if (url.includes('/dicom-web/') && res.status() >= 400 && res.status() !== 401)
      ctx.problems.push(`HTTP ${res.status()} ${url.replace(BASE, '')}`);
  });
}

export function url(p) {
  return BASE + p;
}

export function isLoginUrl(u) {
  return new URL(u).pathname === LOGIN_PATH;
}

// The `next` target of a log-in page URL, decoded.
export function nextOf(u) {
  return new URL(u).searchParams.get('next');
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// Fills and submits the log-in form; resolves once the browser left the log-in page.
export async function logIn(page, who) {
  const user = USERS[who];
  await page.locator('#username').fill(user.user);
  await page.locator('#password').fill(user.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname !== LOGIN_PATH, { timeout: APP_TIMEOUT, waitUntil: 'commit' }),
    page.locator('#submit').click(),
  ]);
}

// A new context, logged in as `who` through the form, left on `start` (default: the study list).
export async function loggedIn(browser, who, start = '/') {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await page.goto(start);
  if (!isLoginUrl(page.url())) throw new Error(`expected the log-in page for ${start}, got ${page.url()}`);
  await logIn(page, who);
  return { ctx, page };
}

// ---- OHIF study list

// Display form of a DICOM person name in OHIF's list: "Family, Given".
export function listName(study) {
  const [family, given] = study.patientName.split('^');
  return given ? `${family}, ${given}` : family;
}

// Patient names of the rows of the study list (the filter row excluded).
export async function listedPatients(page) {
  const texts = await page.locator('tr[aria-selected]').allInnerTexts();
  return texts.map((t) => t.split(/\t|\n/)[0].trim()).filter(Boolean).sort();
}

// Waits until the study list shows exactly `expected` (sorted names) and the
// URL satisfies `urlCheck`; returns the names. Bounded; polls.
export async function expectListed(page, expected, urlCheck = () => true, timeout = APP_TIMEOUT) {
  const want = [...expected].sort();
  const deadline = Date.now() + timeout;
  let got = [];
  for (;;) {
    got = await listedPatients(page).catch(() => []);
    if (JSON.stringify(got) === JSON.stringify(want) && urlCheck(new URL(page.url()))) {
      // Still the same a moment later: not a transient state between two queries.
      await page.waitForTimeout(400);
      const again = await listedPatients(page).catch(() => []);
      if (JSON.stringify(again) === JSON.stringify(want)) return again;
    }
    if (Date.now() > deadline) {
      throw new Error(`study list shows ${JSON.stringify(got)} at ${page.url()}, expected ${JSON.stringify(want)}`);
    }
    await page.waitForTimeout(300);
  }
}

// The text input of the filter row under the column headed `header` (Patient, MRN, ...).
export async function filterInput(page, header) {
  const heads = (await page.locator('thead th').allInnerTexts()).map((t) => t.trim());
  const i = heads.indexOf(header);
  if (i < 0) throw new Error(`no "${header}" column in the study list (columns: ${heads.join(', ')})`);
  return page.locator('tr[data-filter-row="true"] > td').nth(i).locator('input').first();
}

// ---- OHIF viewer

// OHIF's first-visit tour dims the viewport: closed when it shows. True if it was open.
export async function dismissTour(page) {
  const skip = page.getByRole('button', { name: /skip all/i });
  if (!(await skip.isVisible().catch(() => false))) return false;
  await skip.click().catch(() => {});
  await skip.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {});
  return true;
}

// The window/level OHIF shows in the viewport's overlay ("W: 400 L: 40"), or null.
export async function windowLevelText(page) {
  const text = await page.locator('body').innerText().catch(() => '');
  const m = /W:\s*(-?[\d.]+)\s*L:\s*(-?[\d.]+)/.exec(text);
  return m ? `W:${m[1]} L:${m[2]}` : null;
}

// The first viewport's canvas and the central part of it (corners hold OHIF's text overlays).
export async function viewportBox(page) {
  const canvas = page.locator('canvas.cornerstone-canvas').first();
  await canvas.waitFor({ state: 'visible', timeout: APP_TIMEOUT });
  const box = await canvas.boundingBox();
  if (!box || box.width < 100 || box.height < 100) throw new Error(`viewport too small: ${JSON.stringify(box)}`);
  return box;
}

function centre(box, fraction = 0.5) {
  const w = box.width * fraction;
  const h = box.height * fraction;
  return { x: Math.round(box.x + (box.width - w) / 2), y: Math.round(box.y + (box.height - h) / 2),
    width: Math.round(w), height: Math.round(h) };
}

export async function viewportPixels(page, box) {
  return decodePng(await page.screenshot({ clip: centre(box), type: 'png' }));
}

// Waits until the viewport shows an image (not blank) that no longer changes;
// returns its pixels. Fails with the last statistics otherwise.
export async function waitForImage(page, box, timeout = APP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  let prev = null;
  let stats = null;
  for (;;) {
    if (await dismissTour(page)) prev = null;
    const img = await viewportPixels(page, box);
    stats = pixelStats(img);
    if (notBlank(stats) && prev && changedFraction(prev, img) < 0.01) return img;
    prev = notBlank(stats) ? img : null;
    if (Date.now() > deadline) throw new Error(`viewport still blank or changing: ${JSON.stringify(stats)}`);
    await page.waitForTimeout(700);
  }
}

export function notBlank(stats) {
  return stats.litFraction > 0.05 && stats.stddev > 8;
}

// A window/level drag with the left button (OHIF's default primary tool is
// WindowLevel); returns the pixels once they differ from `before`, and the
// overlay's window/level before and after.
export async function windowLevelDrag(page, box, before, timeout = 20_000 * SCALE) {
  await dismissTour(page);
  const wlBefore = await windowLevelText(page);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 160, cy + 110, { steps: 20 });
  await page.mouse.up();
  const deadline = Date.now() + timeout;
  for (;;) {
    const img = await viewportPixels(page, box);
    const changed = changedFraction(before, img);
    const wlAfter = await windowLevelText(page);
    if (changed > 0.05 && wlAfter !== wlBefore) return { img, changed, wlBefore, wlAfter };
    if (Date.now() > deadline) {
      throw new Error(`window/level drag changed ${(changed * 100).toFixed(2)}% of the pixels; overlay ${wlBefore} → ${wlAfter}`);
    }
    await page.waitForTimeout(500);
  }
}

// ---- pixels

// Decodes an 8-bit, non-interlaced PNG (what Chromium writes): {width, height, channels, data}.
export function decodePng(buf) {
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  if (!buf.subarray(0, 8).equals(sig)) throw new Error('not a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    pos += 12 + len;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const colour = data[9];
      const interlace = data[12];
      channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colour];
      if (depth !== 8 || !channels || interlace !== 0) throw new Error(`unsupported PNG: depth ${depth} colour ${colour}`);
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? out.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels] : 0;
      const b = up ? up[x] : 0;
      const c = up && x >= channels ? up[x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      row[x] = v & 255;
    }
  }
  return { width, height, channels, data: out };
}

function luma(img, i) {
  const d = img.data;
  const o = i * img.channels;
  if (img.channels < 3) return d[o];
  return (d[o] * 299 + d[o + 1] * 587 + d[o + 2] * 114) / 1000;
}

// Share of lit pixels (luma > 30), mean and standard deviation of the luma.
export function pixelStats(img) {
  const n = img.width * img.height;
  let lit = 0;
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const l = luma(img, i);
    if (l > 30) lit++;
    sum += l;
    sq += l * l;
  }
  const mean = sum / n;
  return { litFraction: lit / n, mean: Math.round(mean * 10) / 10,
    stddev: Math.round(Math.sqrt(Math.max(0, sq / n - mean * mean)) * 10) / 10 };
}

// Share of pixels whose luma differs by more than 12 between two same-sized images.
export function changedFraction(a, b) {
  if (a.width !== b.width || a.height !== b.height) return 1;
  const n = a.width * a.height;
  let changed = 0;
  for (let i = 0; i < n; i++) if (Math.abs(luma(a, i) - luma(b, i)) > 12) changed++;
  return changed / n;
}

// ---- direct HTTPS (outside the browser), the server certificate verified against Tresor's CA

export function request(method, p, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const u = new URL(p, BASE);
    const req = https.request(u, { method, ca: CA, headers, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${p}`)));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// The browser context's session cookie as a Cookie header value.
export async function sessionCookie(ctx) {
  const cookies = await ctx.cookies(BASE);
  const c = cookies.find((x) => x.name === '__Host-tresor_session');
  if (!c) throw new Error(`no __Host-tresor_session cookie (have: ${cookies.map((x) => x.name).join(', ')})`);
  return { header: `${c.name}=${c.value}`, cookie: c };
}

// Ends the session on the server from outside the browser (as an expiry
// would): the browser keeps its now-dead cookie.
export async function endSessionElsewhere(cookieHeader) {
  const me = await request('GET', '/api/me', { Cookie: cookieHeader, Accept: 'application/json' });
  if (me.status !== 200) throw new Error(`GET /api/me with the session: ${me.status} ${me.body}`);
  const csrf = JSON.parse(me.body).csrf_token;
  const out = await request('POST', '/api/logout', { Cookie: cookieHeader, 'X-CSRF-Token': csrf,
    'Content-Length': '0' });
  if (out.status !== 200 && out.status !== 204) throw new Error(`POST /api/logout: ${out.status} ${out.body}`);
  const after = await request('GET', '/api/me', { Cookie: cookieHeader, Accept: 'application/json' });
  if (after.status !== 401) throw new Error(`the session is still alive after log-out: ${after.status}`);
}
