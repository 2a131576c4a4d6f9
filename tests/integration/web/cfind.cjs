// A study-level C-FIND with dcmjs-dimse over mutual TLS, with a DICOM user
// identity (username + passcode), for comparing C-FIND with QIDO-RS.
//   HOST PORT CALLING CALLED KEY CERT CA USER PASSWORD  node cfind.cjs
// Prints a JSON array of the StudyInstanceUIDs found; exits 1 on failure.
'use strict';
const fs = require('fs');
const path = require('path');
const dimse = require('dcmjs-dimse');
// dcmjs logs every unknown private tag; keep the output to our JSON line.
require(require.resolve('dcmjs', { paths: [path.dirname(require.resolve('dcmjs-dimse'))] })).log.setLevel('error');
const { Client, requests, constants } = dimse;
const env = process.env;
const client = new Client();
const request = requests.CFindRequest.createStudyFindRequest({ StudyInstanceUID: '', PatientID: '' });
const found = [];
let failed = null;
request.on('response', (response) => {
  const status = response.getStatus();
  if (status === constants.Status.Pending && response.hasDataset()) {
    found.push(response.getDataset().getElement('StudyInstanceUID'));
  } else if (status !== constants.Status.Success) {
    failed = 'C-FIND status ' + status;
  }
});
client.addRequest(request);
client.on('associationRejected', () => { failed = 'association rejected'; });
client.on('networkError', (e) => { failed = 'network error: ' + e.message; });
const timer = setTimeout(() => { failed = 'timeout'; done(); }, 30000);
client.on('closed', done);
function done() {
  clearTimeout(timer);
  if (failed) {
    process.stderr.write(failed + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(found.sort()) + '\n');
  process.exit(0);
}
client.send(env.HOST, Number(env.PORT), env.CALLING, env.CALLED, {
  connectTimeout: 10000, associationTimeout: 10000, pduTimeout: 20000,
  userIdentity: { type: constants.UserIdentityType.UsernameAndPasscode, primaryField: env.USER,
                  secondaryField: env.PASSWORD },
  securityOptions: { key: fs.readFileSync(env.KEY), cert: fs.readFileSync(env.CERT), ca: fs.readFileSync(env.CA),
                     rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: 'localhost' },
});
