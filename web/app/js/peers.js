// DICOM peers (admin): GET/POST /api/peers, DELETE /api/peers/{ae}.
import { api } from './api.js';
import { button, confirmAction, el, errorRow, fillTable, initPage, notice, showError } from './ui.js';
import { confirmScope, describeScope, fillScope, readScope, splitList } from './scope.js';

const tbody = document.getElementById('peers');
const form = document.getElementById('peer');
const FLAGS = ['require_user_identity', 'allow_plaintext', 'unlimited_find'];
const FLAG_TEXT = { require_user_identity: 'user identity required', allow_plaintext: 'plaintext allowed', unlimited_find: 'unlimited find' };

function edit(peer) {
  form.reset();
  form.elements.ae_title.value = peer.ae_title;
  form.elements.hosts.value = peer.hosts.join(', ');
  form.elements.port.value = String(peer.port);
  for (const box of form.querySelectorAll('input[name="operation"]')) box.checked = peer.operations.includes(box.value);
  form.elements.cert_sha256.value = peer.cert_sha256 || '';
  for (const flag of FLAGS) form.elements[flag].checked = Boolean(peer[flag]);
  fillScope(form, peer.scope);
  form.elements.ae_title.focus();
}

function remove(peer) {
  if (!confirmAction(`Remove the peer ${peer.ae_title}? It can no longer associate.`)) return;
  api.del(`/api/peers/${encodeURIComponent(peer.ae_title)}`)
    .then(() => notice(`${peer.ae_title} removed.`, 'ok'))
    .then(load)
    .catch((err) => showError(err));
}

function row(peer) {
  const flags = FLAGS.filter((f) => peer[f]).map((f) =>
    el('span', { class: f === 'allow_plaintext' ? 'tag bad' : 'tag' }, FLAG_TEXT[f]));
  return el('tr', {},
    el('td', { class: 'mono' }, peer.ae_title),
    el('td', { class: 'mono' }, peer.hosts.join(', ')),
    el('td', {}, peer.port ? String(peer.port) : '–'),
    el('td', {}, ...peer.operations.map((o) => el('span', { class: 'tag' }, o))),
    el('td', { class: 'mono', title: peer.cert_sha256 || undefined },
      peer.cert_sha256 ? `${peer.cert_sha256.slice(0, 16)}…` : 'CN = AE title'),
    el('td', {}, ...flags),
    el('td', {}, describeScope(peer.scope)),
    el('td', {}, el('div', { class: 'actions' },
      button('Edit', () => edit(peer), 'secondary', `Edit ${peer.ae_title}`),
      button('Remove', () => remove(peer), 'danger', `Remove ${peer.ae_title}`))));
}

async function load() {
  try {
    fillTable(tbody, await api.get('/api/peers'), row, 8, 'No peers: no DICOM node may connect.');
  } catch (err) {
    errorRow(tbody, 8, err);
    showError(err);
  }
}

async function save(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const port = Number(form.elements.port.value || '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) return notice('The port must be 0..65535.');
  const cert = form.elements.cert_sha256.value.replace(/[\s:]/g, '').toLowerCase();
  if (cert && !/^[0-9a-f]{64}$/.test(cert)) return notice('The certificate SHA-256 must be 64 hex digits.');
  const body = {
    ae_title: form.elements.ae_title.value.trim(),
    hosts: splitList(form.elements.hosts.value),
    port,
    operations: [...form.querySelectorAll('input[name="operation"]:checked')].map((box) => box.value),
    cert_sha256: cert,
    scope: readScope(form),
  };
  for (const flag of FLAGS) body[flag] = form.elements[flag].checked;
  if (!body.hosts.length) return notice('List at least one IPv4 address.');
  if (body.allow_plaintext && !confirmAction('Plaintext DICOM sends patient data unencrypted. Allow it for this peer?')) return;
  if (!confirmScope(body.scope)) return;
  try {
    const saved = await api.post('/api/peers', body);
    notice(`${saved.ae_title} saved.`, 'ok');
    form.reset();
    await load();
  } catch (err) {
    showError(err);
  }
}

async function main() {
  if (!(await initPage('admin'))) return;
  form.addEventListener('submit', save);
  await load();
}

main();
