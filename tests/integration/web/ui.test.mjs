// The web UI in Debian's chromium (playwright-core, headless) against a real
// Tresor over HTTPS, started and seeded by tests/integration/test_web_ui.py:
//   node --test ui.test.mjs   (env: TRESOR_URL, TRESOR_CA, TRESOR_USERS, TRESOR_STUDIES, TRESOR_ARTIFACTS)
//
// Scenarios (issue 4), run in order, one browser, a fresh context (no cookies,
// no storage) per user:
//  1. without a session every viewer / page URL leads to the log-in page and
//     every API URL answers 401; a wrong password shows the lock-out message;
//     logging in lands on the study list (OHIF's WorkList) with the seeded studies;
//  2. the list's filters by patient name, patient ID (MRN), date range and modality;
//  3. a CT, an MR and a JPEG-LS study in the OHIF viewer: the viewport is not
//     blank and a window/level drag changes it, without CSP violations;
//  4. a user scoped to one institution sees only its studies; a non-admin
//     cannot use the admin pages or the admin API (403), an admin can;
//  5. log-out in one tab ends the session in every tab (viewer and Tresor's pages);
//  6. an ended session sends the viewer to log-in, and log-in brings the user back.
// Screenshots: $TRESOR_ARTIFACTS/*.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  APP_TIMEOUT, BASE, STUDIES, USERS, endSessionElsewhere, expectListed, filterInput, isLoginUrl, launchBrowser,
  listName, logIn, loggedIn, newContext, nextOf, pixelStats, request, sessionCookie, shot, viewportBox,
  waitForImage, windowLevelDrag,
} from './ui-helpers.mjs';

const ALL = Object.values(STUDIES).map(listName);
let browser;
let clin = null; // { ctx, page }: the clinician's session, shared by scenarios 1-3

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function clinician() {
  if (!clin) clin = await loggedIn(browser, 'clinician');
  return clin;
}

function assertNoProblems(ctx) {
  assert.deepEqual(ctx.problems, [], 'CSP violations or failed DICOMweb requests');
}

test('without a session: pages go to log-in, the API answers 401; logging in shows the study list', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const viewerPath = `/viewer?StudyInstanceUIDs=${STUDIES.ct.uid}`;
  for (const p of ['/', viewerPath, '/app/index.html', '/app/admin/users.html']) {
    await page.goto(p);
    assert.ok(isLoginUrl(page.url()), `${p} → ${page.url()}`);
    assert.equal(nextOf(page.url()), p, `the log-in page returns to ${p}`);
    await page.locator('#login').waitFor();
  }
  for (const p of ['/dicom-web/studies', `/dicom-web/studies/${STUDIES.ct.uid}/metadata`, '/api/me', '/api/users',
    '/wado?requestType=WADO&studyUID=1&seriesUID=1&objectUID=1']) {
    const r = await ctx.request.get(p, { maxRedirects: 0 });
    assert.equal(r.status(), 401, p);
  }
  // Asked from the page (a browser fetch): 401 without a Basic challenge, so no password dialog.
  const fromPage = await page.evaluate(async () => {
    const r = await fetch('/dicom-web/studies', { credentials: 'same-origin' });
    return { status: r.status, challenge: r.headers.get('www-authenticate') };
  });
  assert.deepEqual(fromPage, { status: 401, challenge: null });

  await page.goto('/');
  await page.locator('#username').fill(USERS.clinician.user);
  await page.locator('#password').fill('not-the-password-1234');
  await page.locator('#submit').click();
  await page.locator('#notice').filter({ hasText: /Wrong user name or password|locked/ }).waitFor();
  assert.ok(isLoginUrl(page.url()));
  await shot(page, '01-login-wrong-password');

  await logIn(page, 'clinician');
  assert.equal(new URL(page.url()).pathname, '/');
  await expectListed(page, ALL);
  const { cookie } = await sessionCookie(ctx);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  await shot(page, '01-study-list');
  assertNoProblems(ctx);
  clin = { ctx, page };
});

test('the study list filters by patient name, patient ID, date range and modality', async () => {
  const { page } = await clinician();
  if (new URL(page.url()).pathname !== '/') await page.goto('/');
  await expectListed(page, ALL);
  const { ct, mr, jls } = STUDIES;

  // Patient name: part of the family-given name, as typed (OHIF wraps it in *...*).
  const name = await filterInput(page, 'Patient');
  await name.fill(jls.patientName.split('^')[1]);
  await expectListed(page, [listName(jls)], (u) => u.searchParams.get('patientName') === jls.patientName.split('^')[1]);
  await shot(page, '02-filter-patient-name');
  await name.fill('Webui');
  await expectListed(page, ALL);
  await name.fill('Nobody-Like-This');
  await expectListed(page, []);
  await name.fill('');
  await expectListed(page, ALL, (u) => !u.searchParams.has('patientName'));

  // Patient ID (the MRN column).
  const mrn = await filterInput(page, 'MRN');
  await mrn.fill(mr.patientId);
  await expectListed(page, [listName(mr)], (u) => u.searchParams.get('mrn') === mr.patientId);
  await shot(page, '02-filter-patient-id');
  await mrn.fill('');
  await expectListed(page, ALL, (u) => !u.searchParams.has('mrn'));

  // Date range: only the MR's year; then from the MR's date on (MR and JPEG-LS).
  const iso = (d) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
  const year = mr.date.slice(0, 4);
  await page.locator('#studyDateTime-start').fill(`${year}-01-01`);
  await page.keyboard.press('Escape');
  await page.locator('#studyDateTime-end').fill(`${year}-12-31`);
  await page.keyboard.press('Escape');
  await expectListed(page, [listName(mr)],
    (u) => u.searchParams.get('startDate') === `${year}0101` && u.searchParams.get('endDate') === `${year}1231`);
  await shot(page, '02-filter-date-range');
  await page.locator('#studyDateTime-end').fill(iso(jls.date));
  await page.keyboard.press('Escape');
  await expectListed(page, [listName(mr), listName(jls)]);
  await page.getByRole('button', { name: 'Reset filters' }).click();
  await expectListed(page, ALL, (u) => !u.searchParams.has('startDate') && !u.searchParams.has('endDate'));

  // Modality: the multi-select offers the modalities present; CT, then MR.
  const modality = page.getByRole('combobox', { name: 'Filter Modalities' });
  await modality.click();
  await page.locator('[role=option]', { hasText: /^CT$/ }).click();
  await page.keyboard.press('Escape');
  await expectListed(page, [listName(ct)], (u) => u.searchParams.get('modalities') === 'CT');
  await shot(page, '02-filter-modality-ct');
  await page.getByRole('button', { name: 'Reset filters' }).click();
  await expectListed(page, ALL, (u) => !u.searchParams.has('modalities'));
  await modality.click();
  await page.locator('[role=option]', { hasText: /^MR$/ }).click();
  await page.keyboard.press('Escape');
  await expectListed(page, [listName(mr), listName(jls)], (u) => u.searchParams.get('modalities') === 'MR');
  await page.getByRole('button', { name: 'Reset filters' }).click();
  await expectListed(page, ALL);
  assertNoProblems(clin.ctx);
});

for (const key of ['ct', 'mr', 'jls']) {
  test(`the viewer shows the ${key.toUpperCase()} study and window/level changes it`, async (t) => {
    const { ctx, page } = await clinician();
    const study = STUDIES[key];
    ctx.problems.length = 0;
    await page.goto(`/viewer?StudyInstanceUIDs=${study.uid}`);
    assert.equal(new URL(page.url()).pathname, '/viewer');
    const box = await viewportBox(page);
    const before = await waitForImage(page, box);
    const stats = pixelStats(before);
    await shot(page, `03-viewer-${key}`);
    // This study is the one on screen (its description in the study panel).
    await page.getByText(study.description, { exact: true }).first().waitFor();
    const { img: after, changed, wlBefore, wlAfter } = await windowLevelDrag(page, box, before);
    await shot(page, `03-viewer-${key}-window-level`);
    assert.ok(changed > 0.05, `window/level changed ${changed}`);
    assert.ok(wlBefore && wlAfter && wlBefore !== wlAfter, `overlay ${wlBefore} → ${wlAfter}`);
    t.diagnostic(`${key}: ${JSON.stringify(stats)} → ${JSON.stringify(pixelStats(after))}, ${wlBefore} → ${wlAfter}`);
    assertNoProblems(ctx);
  });
}

test('a scoped user sees only its institution; only admins use the admin pages and API', async () => {
  const { ct, mr, jls } = STUDIES;
  const scoped = await loggedIn(browser, 'scoped');
  try {
    await expectListed(scoped.page, [listName(ct), listName(jls)]);
    await shot(scoped.page, '04-scoped-study-list');
    // Retrieval of the other institution's study: 404; searches for it: nothing.
    assert.equal((await scoped.ctx.request.get(`/dicom-web/studies/${mr.uid}/metadata`)).status(), 404);
    for (const p of [`/dicom-web/studies?StudyInstanceUID=${mr.uid}`, `/dicom-web/studies/${mr.uid}/series`,
      `/dicom-web/studies?PatientID=${mr.patientId}`]) {
      const r = await scoped.ctx.request.get(p);
      assert.ok([200, 204, 404].includes(r.status()), `${p}: ${r.status()}`);
      if (r.status() === 200) assert.deepEqual(await r.json(), [], p);
    }
    const own = await scoped.ctx.request.get(`/dicom-web/studies/${ct.uid}/metadata`);
    assert.equal(own.status(), 200);
    // The MR in the viewer: OHIF finds nothing (Tresor answers as if it did not exist).
    await scoped.page.goto(`/viewer?StudyInstanceUIDs=${mr.uid}`);
    await scoped.page.waitForURL((u) => u.pathname === '/notfoundstudy', { timeout: APP_TIMEOUT });
    await shot(scoped.page, '04-scoped-other-study');
  } finally {
    await scoped.ctx.close();
  }

  // A clinician: no admin entries, "Not permitted" on the admin pages, 403 from the admin API.
  const { ctx, page } = await clinician();
  await page.goto('/app/index.html');
  await page.locator('#who').filter({ hasText: USERS.clinician.user }).waitFor();
  assert.equal(await page.locator('#admin').isHidden(), true);
  assert.equal(await page.locator('#nav a[href="/app/admin/users.html"]').count(), 0);
  for (const p of ['users', 'peers', 'quarantine', 'security']) {
    await page.goto(`/app/admin/${p}.html`);
    await page.locator('#notice').filter({ hasText: 'Not permitted' }).waitFor();
    assert.equal(await page.locator('#page').isHidden(), true, p);
    if (p === 'users') await shot(page, '04-clinician-admin-page');
  }
  const me = await (await ctx.request.get('/api/me')).json();
  for (const p of ['/api/users', '/api/peers', '/api/quarantine', '/api/exposure', '/api/audit']) {
    const r = await ctx.request.get(p);
    assert.equal(r.status(), 403, p);
  }
  const add = await ctx.request.post('/api/users', { headers: { 'X-CSRF-Token': me.csrf_token },
    data: { username: 'intruder', roles: ['admin'], password: 'intruder-Long-Passphrase-1' } });
  assert.equal(add.status(), 403);

  // The admin: the same page lists the users.
  const admin = await loggedIn(browser, 'admin', '/app/admin/users.html');
  try {
    assert.equal(new URL(admin.page.url()).pathname, '/app/admin/users.html');
    await admin.page.locator('#users tr', { hasText: USERS.scoped.user }).waitFor();
    await admin.page.locator('#users tr', { hasText: USERS.scoped.institution }).waitFor();
    assert.equal(await admin.page.locator('#users tr', { hasText: 'intruder' }).count(), 0);
    await shot(admin.page, '04-admin-users');
    assert.equal((await admin.ctx.request.get('/api/users')).status(), 200);
    // Everyone's API tokens: the admin sees them, the clinician's ?all=true only their own.
    const adminMe = await (await admin.ctx.request.get('/api/me')).json();
    const made = await admin.ctx.request.post('/api/tokens', { headers: { 'X-CSRF-Token': adminMe.csrf_token },
      data: { name: 'admin-only-token', days: 1 } });
    assert.equal(made.status(), 201);
    const names = async (c) => (await (await c.request.get('/api/tokens?all=true')).json()).map((x) => x.name);
    assert.ok((await names(admin.ctx)).includes('admin-only-token'));
    assert.ok(!(await names(ctx)).includes('admin-only-token'));
  } finally {
    await admin.ctx.close();
  }
});

test('log-out in one tab ends the session in every tab', async () => {
  const { ctx, page } = await loggedIn(browser, 'clinician');
  try {
    const list = page; // tab 1: OHIF's study list
    await expectListed(list, ALL);
    // The viewer's header links to Tresor's pages and to the log-out page.
    assert.equal(await list.locator('[data-cy="tresor-logout"]').first().getAttribute('href'), '/app/logout.html');
    assert.equal(await list.locator('[data-cy="tresor-home"]').first().getAttribute('href'), '/app/index.html');
    const home = await ctx.newPage(); // tab 2: Tresor's start page
    await home.goto('/app/index.html');
    await home.locator('#who').filter({ hasText: USERS.clinician.user }).waitFor();
    const out = await ctx.newPage(); // tab 3: the log-out page, as the viewer's link opens it
    await out.goto('/app/logout.html');
    const { header } = await sessionCookie(ctx);

    await out.locator('#logout').click();
    await out.waitForURL((u) => u.pathname === '/app/login.html');
    await shot(out, '05-logged-out');
    // The other tabs follow at once (BroadcastChannel), to the log-in page, which
    // would bring each back to where it was.
    await list.waitForURL((u) => u.pathname === '/app/login.html', { timeout: 20_000 });
    assert.equal(new URL(nextOf(list.url()), BASE).pathname, '/');
    await home.waitForURL((u) => u.pathname === '/app/login.html', { timeout: 20_000 });
    assert.equal(nextOf(home.url()), '/app/index.html');
    // ... and the server ended the session: the old cookie is refused everywhere.
    for (const p of ['/api/me', '/dicom-web/studies', `/dicom-web/studies/${STUDIES.ct.uid}/metadata`]) {
      const r = await request('GET', p, { Cookie: header, Accept: 'application/json' });
      assert.equal(r.status, 401, p);
    }
    assert.equal((await ctx.request.get('/dicom-web/studies')).status(), 401);
    const fresh = await ctx.newPage();
    await fresh.goto(`/viewer?StudyInstanceUIDs=${STUDIES.ct.uid}`);
    assert.ok(isLoginUrl(fresh.url()));
  } finally {
    await ctx.close();
  }
});

test('an ended session sends the user to log-in and back to where they were', async () => {
  const { ctx, page } = await loggedIn(browser, 'clinician');
  try {
    const { mr, jls } = STUDIES;
    const given = mr.patientName.split('^')[1];
    // (a) In the study list: the next query gets 401 and the page goes to
    // log-in with its own URL (filters included) as `next`; log-in comes back there.
    await expectListed(page, ALL);
    await endSessionElsewhere((await sessionCookie(ctx)).header);
    await (await filterInput(page, 'Patient')).fill(given);
    await page.waitForURL((u) => u.pathname === '/app/login.html', { timeout: APP_TIMEOUT });
    assert.equal(nextOf(page.url()), `/?patientName=${given}`);
    await page.locator('#expired').waitFor({ state: 'visible' });
    await shot(page, '06-session-ended-login');
    await logIn(page, 'clinician');
    await expectListed(page, [listName(mr)], (u) => u.pathname === '/' && u.searchParams.get('patientName') === given);

    // (b) Opening a study with an ended session: the server sends the browser
    // to log-in (303), and log-in opens that study.
    await endSessionElsewhere((await sessionCookie(ctx)).header);
    const viewerPath = `/viewer?StudyInstanceUIDs=${jls.uid}`;
    await page.goto(viewerPath);
    assert.ok(isLoginUrl(page.url()), page.url());
    assert.equal(nextOf(page.url()), viewerPath);
    await logIn(page, 'clinician');
    assert.equal(page.url(), BASE + viewerPath);
    await waitForImage(page, await viewportBox(page));
    await shot(page, '06-back-in-the-viewer');
  } finally {
    await ctx.close();
  }
});

test('the log-in page forwards only to same-origin paths', async () => {
  const ctx = await newContext(browser);
  try {
    const page = await ctx.newPage();
    await page.goto(`/app/login.html?next=${encodeURIComponent('//evil.example/x')}`);
    await logIn(page, 'clinician');
    assert.equal(page.url(), `${BASE}/`);
    // The same rule (web/app/js/api.js safeNext) for the other tricks, in the page.
    const got = await page.evaluate(async (cases) => {
      const { safeNext } = await import('/app/js/api.js');
      return cases.map((c) => safeNext(c));
    }, ['https://evil.example/', '/\\evil.example', '/\tevil', 'javascript:alert(1)', '/viewer?StudyInstanceUIDs=1.2']);
    assert.deepEqual(got, ['/', '/', '/', '/', '/viewer?StudyInstanceUIDs=1.2']);
  } finally {
    await ctx.close();
  }
});
