// Drives dicomweb-client (a real DICOMweb client, as OHIF uses) against a
// running Tresor. Called by tests/integration/test_dicomweb_client.py:
//   TRESOR_URL=https://127.0.0.1:PORT/dicom-web  AUTH_HEADERS='{"Authorization": "..."}'
//   STUDY=... SERIES=... INSTANCE=... STOW_FILE=path  NODE_EXTRA_CA_CERTS=ca.crt  node dicomweb_client.cjs
// Prints one JSON object {check: "ok" | "error text"} and exits 1 if any check failed.
'use strict';
const fs = require('fs');
const XHR = require('xhr2');
// Browsers send the session cookie themselves; xhr2 forbids setting it, so the
// test lifts that restriction to act like a browser holding the cookie.
delete XHR.prototype._restrictedHeaders.cookie;
global.XMLHttpRequest = XHR;
const { api } = require('dicomweb-client');

const url = process.env.TRESOR_URL;
const headers = JSON.parse(process.env.AUTH_HEADERS || '{}');
const study = process.env.STUDY;
const series = process.env.SERIES;
const instance = process.env.INSTANCE;
const client = new api.DICOMwebClient({ url, headers });
const results = {};

function tag(obj, t) {
  const v = obj[t] && obj[t].Value;
  return v ? v[0] : undefined;
}

async function check(name, fn) {
  try {
    await fn();
    results[name] = 'ok';
  } catch (e) {
    results[name] = String((e && (e.message || e.status)) || e);
  }
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}

(async () => {
  await check('searchForStudies', async () => {
    const all = await client.searchForStudies();
    assert(all.some((s) => tag(s, '0020000D') === study), 'study not found');
    const byId = await client.searchForStudies({ queryParams: { PatientID: process.env.PATIENT_ID } });
    assert(byId.length === 1 && tag(byId[0], '0020000D') === study, 'PatientID match');
    const paged = await client.searchForStudies({ queryParams: { limit: 1, offset: 0 } });
    assert(paged.length === 1, 'limit');
  });
  await check('searchForSeries', async () => {
    const s = await client.searchForSeries({ studyInstanceUID: study });
    assert(s.length >= 1 && s.some((x) => tag(x, '0020000E') === series), 'series');
  });
  await check('searchForInstances', async () => {
    const i = await client.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: series });
    assert(i.some((x) => tag(x, '00080018') === instance), 'instance');
  });
  await check('retrieveStudyMetadata', async () => {
    const m = await client.retrieveStudyMetadata({ studyInstanceUID: study });
    assert(m.length >= 1 && m.some((x) => tag(x, '00080018') === instance), 'metadata');
  });
  await check('retrieveInstance', async () => {
    const buf = await client.retrieveInstance({ studyInstanceUID: study, seriesInstanceUID: series,
                                                sopInstanceUID: instance });
    const bytes = new Uint8Array(buf);
    assert(String.fromCharCode(...bytes.slice(128, 132)) === 'DICM', 'DICM magic');
  });
  await check('retrieveInstanceFrames', async () => {
    const frames = await client.retrieveInstanceFrames({ studyInstanceUID: study, seriesInstanceUID: series,
                                                         sopInstanceUID: instance, frameNumbers: [1] });
    assert(frames.length === 1 && frames[0].byteLength > 0, 'one frame');
  });
  await check('retrieveInstanceRendered', async () => {
    const r = await client.retrieveInstanceRendered({ studyInstanceUID: study, seriesInstanceUID: series,
                                                      sopInstanceUID: instance,
                                                      mediaTypes: [{ mediaType: 'image/png' }] });
    const buf = Array.isArray(r) ? r[0] : r;
    const bytes = new Uint8Array(buf);
    assert(bytes[0] === 0x89 && bytes[1] === 0x50, 'PNG signature');
  });
  if (process.env.STOW_FILE) {
    await check('storeInstances', async () => {
      const data = fs.readFileSync(process.env.STOW_FILE);
      const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      await client.storeInstances({ datasets: [ab] });
      const found = await client.searchForInstances({ queryParams: { SOPInstanceUID: process.env.STOW_SOP } });
      assert(found.length === 1, 'stored instance found again');
    });
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exit(Object.values(results).every((v) => v === 'ok') ? 0 : 1);
})();
