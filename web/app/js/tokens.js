// API tokens: GET /api/tokens (?all=true for an admin), POST /api/tokens
// {name, days} (the secret is shown once), DELETE /api/tokens/{id}.
import { api } from './api.js';
import { button, confirmAction, el, errorRow, fillTable, formatTime, initPage, may, notice, showError, showSecret } from './ui.js';

const tbody = document.getElementById('tokens');
const form = document.getElementById('create');
const allBox = document.getElementById('all');
const secretBox = document.getElementById('secret');

function status(token) {
  if (token.revoked) return el('span', { class: 'tag bad' }, 'revoked');
  if (token.expires * 1000 <= Date.now()) return el('span', { class: 'tag bad' }, 'expired');
  return el('span', { class: 'tag good' }, 'active');
}

function revoke(token) {
  if (!confirmAction(`Revoke the token "${token.name}" of ${token.username}? Scripts using it stop working.`)) return;
  api.del(`/api/tokens/${encodeURIComponent(token.id)}`)
    .then(() => notice(`Token "${token.name}" revoked.`, 'ok'))
    .then(load)
    .catch((err) => showError(err));
}

function row(token) {
  return el('tr', {},
    el('td', {}, token.name),
    el('td', {}, token.username),
    el('td', {}, formatTime(token.created)),
    el('td', {}, formatTime(token.expires)),
    el('td', {}, status(token)),
    el('td', { class: 'mono' }, token.id),
    el('td', {}, token.revoked ? '' : button('Revoke', () => revoke(token), 'danger', `Revoke ${token.name}`)));
}

async function load() {
  const all = allBox.checked;
  document.getElementById('title').textContent = all ? "Everyone's API tokens" : 'My API tokens';
  try {
    const tokens = await api.get(all ? '/api/tokens?all=true' : '/api/tokens');
    tokens.sort((a, b) => b.created - a.created);
    fillTable(tbody, tokens, row, 7, 'No tokens.');
  } catch (err) {
    errorRow(tbody, 7, err);
    showError(err);
  }
}

async function create(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const days = Number(form.elements.days.value);
  if (!Number.isInteger(days) || days < 1) return notice('Days must be a whole number of at least 1.');
  try {
    const out = await api.post('/api/tokens', { name: form.elements.name.value.trim(), days });
    form.reset();
    showSecret(secretBox, `Token "${out.name}":`, out.secret);
    notice(`Token created; it expires ${formatTime(out.expires)}.`, 'ok');
    await load();
  } catch (err) {
    showError(err);
  }
}

function toggleAll() {
  const url = new URL(location.href);
  if (allBox.checked) url.searchParams.set('all', 'true');
  else url.searchParams.delete('all');
  history.replaceState(null, '', url.pathname + url.search);
  load();
}

async function main() {
  const me = await initPage();
  if (!me) return;
  if (may(me, 'admin')) {
    document.getElementById('all-label').hidden = false;
    allBox.checked = new URLSearchParams(location.search).get('all') === 'true';
    allBox.addEventListener('change', toggleAll);
  }
  form.addEventListener('submit', create);
  await load();
}

main();
