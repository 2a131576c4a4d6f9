// An archive like a new user's first import, in Debian's chromium
// (playwright-core) against a real Tresor, started and filled by
// tests/integration/test_web_archive.py:
//   node --test archive.test.mjs
//   (env: TRESOR_URL, TRESOR_CA, TRESOR_USERS, TRESOR_ARCHIVE, TRESOR_ARTIFACTS)
// TRESOR_ARCHIVE: { total, buckets: [{ start, end, count }], undated: [{ uid, filter, expected, text }],
//                   open: [{ uid, label, panel }], imageless: [sop uid] },
// computed by the Python side from the archive.
// Scenarios:
//  1. OHIF's study list loads (no "Data Source Connection Error") and, as its
//     list stops at 100 studies ("of 101"), every study is counted through
//     date ranges of at most 100 studies plus the undated ones by a filter of
//     their own: the counts add up to the archive's total;
//  2. each study of a sample (every pydicom-derived one, a few generated ones)
//     opens in the viewer: the study panel shows it, no request to Tresor
//     fails and no error message shows, except where OHIF's own decoder
//     cannot handle the pixel format (KNOWN_VIEWER_LIMITS: Cornerstone's RLE
//     decoder has no 32-bit RGB), recorded as diagnostics.
// Screenshots: $TRESOR_ARTIFACTS/archive-*.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { APP_TIMEOUT, dismissTour, launchBrowser, loggedIn, shot } from './ui-helpers.mjs';

const ARCHIVE = JSON.parse(process.env.TRESOR_ARCHIVE || '{}');
// What OHIF shows when a data source call or a study fails.
const ERROR_TEXT = /Data Source Connection Error|Cannot read properties|An error (has )?occurred|Something went wrong|is not supported|Failed to (load|fetch)|Error:/i;

let browser;
let session;

before(async () => {
  browser = await launchBrowser();
  session = await loggedIn(browser, 'clinician');
});

after(async () => {
  await session?.ctx.close();
  await browser?.close();
});

async function bodyText(page) {
  return page.locator('body').innerText().catch(() => '');
}

// The total OHIF's study list shows ("1-50 of 90": 90); OHIF asks for at most
// 101 studies, so 101 means "more than 100".
async function listedTotal(page) {
  const m = /\b\d+\s*-\s*\d+\s+of\s+(\d+)\b/.exec(await bodyText(page));
  return m ? Number(m[1]) : null;
}

// Waits until OHIF's study list shows `want` studies in all; fails early on
// an error message. Bounded; polls.
async function expectCount(page, want, what) {
  const deadline = Date.now() + APP_TIMEOUT;
  let got = null;
  for (;;) {
    const m = ERROR_TEXT.exec(await bodyText(page));
    if (m) throw new Error(`${what}: the study list shows "${m[0]}"`);
    got = await listedTotal(page);
    if (got === want) {
      await page.waitForTimeout(300);
      if ((await listedTotal(page)) === want) return;
    }
    if (Date.now() > deadline) throw new Error(`${what}: OHIF shows ${got} studies, expected ${want}`);
    await page.waitForTimeout(250);
  }
}

test('the study list loads and shows every study of the archive', async (t) => {
  const { page } = session;
  assert.ok(ARCHIVE.total > 100, 'the archive must hold more studies than one OHIF list shows');
  await page.goto('/');
  await expectCount(page, 101, 'the whole list');
  assert.ok((await page.locator('tr[aria-selected]').count()) > 0, 'no rows in the study list');
  await shot(page, 'archive-01-study-list');

  let counted = 0;
  for (const b of ARCHIVE.buckets) {
    await page.goto(`/?startDate=${b.start}&endDate=${b.end}`);
    await expectCount(page, b.count, `${b.start}-${b.end}`);
    counted += b.count;
  }
  for (const u of ARCHIVE.undated) {
    await page.goto(`/?${u.filter}`);
    await expectCount(page, u.expected, u.filter);
    if (u.text) await page.locator('tr[aria-selected]', { hasText: u.text }).first().waitFor({ timeout: APP_TIMEOUT });
    counted += 1;
  }
  t.diagnostic(`${ARCHIVE.buckets.length} date ranges and ${ARCHIVE.undated.length} undated studies: ${counted} studies`);
  assert.equal(counted, ARCHIVE.total);
});

// Pixel formats OHIF 3.13.2's own decoders refuse (the frames Tresor sends are
// the stored ones, as OHIF asks with transfer-syntax=*).
const KNOWN_VIEWER_LIMITS = [/unsupported pixel format for RLE/];

test('every study opens in the viewer without an error', async (t) => {
  const { ctx, page } = session;
  const failures = [];
  let decoderErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /decode/i.test(msg.text())) decoderErrors.push(msg.text().slice(0, 200));
  });
  ctx.problems.length = 0;
  for (const s of ARCHIVE.open) {
    const started = Date.now();
    decoderErrors = [];
    await page.goto(`/viewer?StudyInstanceUIDs=${s.uid}`);
    await dismissTour(page);
    // Loaded: the study panel shows the study (its modality, else its date).
    const panel = page.getByText(s.panel, { exact: true }).first();
    const ok = await panel.waitFor({ state: 'visible', timeout: APP_TIMEOUT }).then(() => true, () => false);
    // Let the first images arrive and be decoded before looking for an error message.
    await page.waitForLoadState('networkidle', { timeout: 15_000 }).catch(() => {});
    await page.waitForTimeout(500);
    const m = ERROR_TEXT.exec(await bodyText(page));
    const where = new URL(page.url()).pathname;
    const viewerLimit = m && decoderErrors.length > 0 &&
      decoderErrors.every((e) => KNOWN_VIEWER_LIMITS.some((re) => re.test(e)));
    if (viewerLimit) t.diagnostic(`${s.label}: OHIF's decoder: ${decoderErrors[0]}`);
    if (!ok || (m && !viewerLimit) || where !== '/viewer') {
      failures.push(`${s.label} (${s.uid}): ${ok ? '' : 'not shown'} ${m ? `"${m[0]}"` : ''} at ${where}`);
      await shot(page, `archive-02-failed-${s.label.replace(/[^\w.-]+/g, '_')}`);
    }
    t.diagnostic(`${s.label}: ${Date.now() - started} ms`);
  }
  await shot(page, 'archive-02-last-study');
  assert.deepEqual(failures, []);
  // Frames of an instance without pixel data (an image SOP class without
  // Pixel Data, in pydicom's DICOMDIR tests) are rightly 404.
  const imageless = new Set(ARCHIVE.imageless);
  const rightly404 = (p) => {
    const m = /^HTTP 404 .*\/instances\/([\d.]+)\/frames\/\d+$/.exec(p);
    return m && imageless.has(m[1]);
  };
  assert.deepEqual(ctx.problems.filter((p) => !rightly404(p)), [], 'CSP violations or failed DICOMweb requests');
});
