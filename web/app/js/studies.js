// Studies (admin): find studies with QIDO-RS, put them under legal hold
// (POST / DELETE /api/studies/{uid}/hold) or delete them
// (DELETE /api/studies/{uid} with {reason, confirm_patient_name}). The delete
// dialog enables its button only once a reason is given and the patient's
// name is typed as stored (components compared case-insensitively, as the
// server checks again); for a patient without a name, the patient ID.
import { api } from './api.js';
import { button, el, errorRow, fillTable, initPage, notice, showError } from './ui.js';

const tbody = document.getElementById('studies');
const dialog = document.getElementById('delete-dialog');
const reasonInput = document.getElementById('delete-reason');
const confirmInput = document.getElementById('delete-confirm');
const go = document.getElementById('delete-go');
let current = null;  // the study the dialog is about
let held = new Set();

function value(ds, tag) {
  const v = ds && ds[tag] && Array.isArray(ds[tag].Value) ? ds[tag].Value[0] : undefined;
  if (v && typeof v === 'object') return typeof v.Alphabetic === 'string' ? v.Alphabetic : '';
  return v === undefined || v === null ? '' : String(v);
}

// PN components of the alphabetic group, upper-cased (deletion.h patient_name_matches).
export function nameTokens(text) {
  return String(text).split('=')[0].split(/[\^,\s]+/).filter(Boolean).map((t) => t.toUpperCase());
}

export function confirmationMatches(study, typed) {
  const stored = nameTokens(study.name);
  if (stored.length === 0) return typed === study.patientId;
  const got = nameTokens(typed);
  return got.length === stored.length && got.every((t, i) => t === stored[i]);
}

function study(ds) {
  return {
    uid: value(ds, '0020000D'), name: value(ds, '00100010'), patientId: value(ds, '00100020'),
    date: value(ds, '00080020'), description: value(ds, '00081030'), instances: value(ds, '00201208'),
  };
}

function refreshGo() {
  go.disabled = !(current && reasonInput.value.trim() && confirmationMatches(current, confirmInput.value));
}

function openDelete(s) {
  current = s;
  document.getElementById('delete-uid').textContent = s.uid;
  document.getElementById('delete-patient').textContent = s.name || s.patientId;
  document.getElementById('delete-confirm-label').textContent =
    s.name ? "Type the patient's name to confirm" : "Type the patient's ID to confirm (the patient has no name)";
  reasonInput.value = '';
  confirmInput.value = '';
  refreshGo();
  dialog.showModal();
  reasonInput.focus();
}

async function doDelete() {
  if (!current || go.disabled) return;
  const s = current;
  go.disabled = true;
  try {
    await api.del(`/api/studies/${encodeURIComponent(s.uid)}`,
      { body: { reason: reasonInput.value.trim(), confirm_patient_name: confirmInput.value } });
    dialog.close();
    notice(`Study ${s.uid} deleted.`, 'ok');
    await search();
  } catch (err) {
    dialog.close();
    showError(err, 'Not deleted: ');
  }
}

async function toggleHold(s) {
  const on = !held.has(s.uid);
  try {
    if (on) await api.post(`/api/studies/${encodeURIComponent(s.uid)}/hold`, {});
    else await api.del(`/api/studies/${encodeURIComponent(s.uid)}/hold`);
    notice(on ? `Study ${s.uid} is under legal hold.` : `Legal hold of study ${s.uid} lifted.`, 'ok');
    await search();
  } catch (err) {
    showError(err);
  }
}

function row(s) {
  const isHeld = held.has(s.uid);
  return el('tr', { 'data-uid': s.uid },
    el('td', {}, s.name),
    el('td', {}, s.patientId),
    el('td', {}, s.date),
    el('td', {}, s.description),
    el('td', { class: 'mono' }, s.uid),
    el('td', {}, s.instances),
    el('td', {}, isHeld ? 'held' : ''),
    el('td', {}, el('div', { class: 'actions' },
      button(isHeld ? 'Lift hold' : 'Hold', () => toggleHold(s), 'secondary',
        `${isHeld ? 'Lift the legal hold of' : 'Put under legal hold'} study ${s.uid}`),
      button('Delete…', () => openDelete(s), 'danger', `Delete study ${s.uid}`))));
}

async function search() {
  const params = new URLSearchParams();
  const name = document.getElementById('q-name').value.trim();
  const id = document.getElementById('q-id').value.trim();
  const uid = document.getElementById('q-uid').value.trim();
  if (name) params.set('PatientName', `${name}*`);
  if (id) params.set('PatientID', id);
  if (uid) params.set('StudyInstanceUID', uid);
  params.set('includefield', '00081030,00201208');
  params.set('limit', '200');
  try {
    const [rows, holds] = await Promise.all([api.get(`/dicom-web/studies?${params}`), api.get('/api/holds')]);
    held = new Set((holds || []).map((h) => h.study_uid));
    fillTable(tbody, (rows || []).map(study), row, 8, 'No study matches.');
  } catch (err) {
    errorRow(tbody, 8, err);
    showError(err);
  }
}

async function main() {
  if (!(await initPage('admin'))) return;
  document.getElementById('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    notice('');
    search();
  });
  reasonInput.addEventListener('input', refreshGo);
  confirmInput.addEventListener('input', refreshGo);
  go.addEventListener('click', doDelete);
  document.getElementById('delete-cancel').addEventListener('click', () => dialog.close());
  await search();
}

main();
