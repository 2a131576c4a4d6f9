// Quarantine (admin): GET /api/quarantine, POST /api/quarantine/{id}/release,
// DELETE /api/quarantine/{id}.
import { api } from './api.js';
import { button, confirmAction, el, errorRow, fillTable, formatTime, initPage, notice, showError } from './ui.js';

const tbody = document.getElementById('held');

function act(promise, done) {
  promise.then(() => notice(done, 'ok')).then(load).catch((err) => showError(err));
}

function release(item) {
  if (!confirmAction(`Release instance #${item.id} into the archive?`)) return;
  act(api.post(`/api/quarantine/${encodeURIComponent(item.id)}/release`), `Instance #${item.id} released.`);
}

function drop(item) {
  if (!confirmAction(`Drop instance #${item.id}? It is deleted and cannot be recovered.`)) return;
  act(api.del(`/api/quarantine/${encodeURIComponent(item.id)}`), `Instance #${item.id} dropped.`);
}

function row(item) {
  return el('tr', {},
    el('td', {}, String(item.id)),
    el('td', { title: item.received_at }, formatTime(item.received_at)),
    el('td', {}, item.reason),
    el('td', {}, item.patient_id),
    el('td', {}, item.patient_name),
    el('td', { class: 'mono' }, item.study_uid),
    el('td', { class: 'mono' }, item.sop_instance_uid),
    el('td', {}, el('div', { class: 'actions' },
      button('Release', () => release(item), 'secondary', `Release instance ${item.id}`),
      button('Drop', () => drop(item), 'danger', `Drop instance ${item.id}`))));
}

async function load() {
  try {
    fillTable(tbody, await api.get('/api/quarantine'), row, 8, 'Nothing is held.');
  } catch (err) {
    errorRow(tbody, 8, err);
    showError(err);
  }
}

async function main() {
  if (!(await initPage('admin'))) return;
  document.getElementById('reload').addEventListener('click', () => {
    notice('');
    load();
  });
  await load();
}

main();
