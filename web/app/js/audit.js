// Audit events (audit permission): GET /api/audit?limit&type&actor&patient_id
// &study_uid&outcome&source&since&until (exact matches, newest first). The
// date range is taken in the browser's time zone (local midnight to local
// midnight after "To") and sent as UTC instants, so the server searches the
// whole trail for it. The filters live in the page URL so reload and log-in
// keep them.
import { api } from './api.js';
import { el, errorRow, fillTable, formatTime, initPage, notice, showError } from './ui.js';

const SERVER_KEYS = ['actor', 'patient_id', 'study_uid', 'source', 'type', 'outcome'];
const PAGE_KEYS = [...SERVER_KEYS, 'from', 'to', 'limit'];
const COLUMNS = 10;
const form = document.getElementById('filters');
const tbody = document.getElementById('events');
const summary = document.getElementById('summary');

// "2025-01-31" -> local midnight of that day (ms), or null.
function localDay(value, plusDays = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays).getTime() : null;
}

function cell(text, cls) {
  return el('td', { class: cls }, text === undefined || text === null ? '' : String(text));
}

function details(event) {
  if (!event.details || typeof event.details !== 'object') return '';
  return Object.entries(event.details).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('; ');
}

function row(event) {
  const outcome = el('span', { class: event.outcome === 'success' ? 'tag good' : 'tag bad' }, String(event.outcome ?? ''));
  return el('tr', {},
    el('td', { title: event.time }, formatTime(event.time)),
    cell(event.type),
    el('td', {}, outcome),
    cell(event.actor),
    cell(event.user),
    cell(event.source, 'mono'),
    cell(event.patient_id),
    cell(event.study_uid, 'mono'),
    cell(event.reason),
    cell(details(event), 'mono'));
}

function formToUrl() {
  const params = new URLSearchParams();
  for (const key of PAGE_KEYS) {
    const value = form.elements[key].value.trim();
    if (value && !(key === 'limit' && value === '100')) params.set(key, value);
  }
  const query = params.toString();
  history.replaceState(null, '', location.pathname + (query ? `?${query}` : ''));
}

function urlToForm() {
  const params = new URLSearchParams(location.search);
  for (const key of PAGE_KEYS) if (params.has(key)) form.elements[key].value = params.get(key);
}

async function search() {
  const limit = Number(form.elements.limit.value || '100');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return notice('“At most” must be 1..1000.');
  const from = localDay(form.elements.from.value);
  const to = localDay(form.elements.to.value, 1);
  if (from !== null && to !== null && from >= to) return notice('The “From” date is after the “To” date.');
  notice('');
  formToUrl();
  const query = new URLSearchParams({ limit: String(limit) });
  for (const key of SERVER_KEYS) {
    const value = form.elements[key].value.trim();
    if (value) query.set(key, value);
  }
  if (from !== null) query.set('since', new Date(from).toISOString());
  if (to !== null) query.set('until', new Date(to).toISOString());
  summary.textContent = 'Loading…';
  try {
    const events = await api.get(`/api/audit?${query}`);
    fillTable(tbody, events, row, COLUMNS, 'No matching events.');
    summary.textContent = `${events.length} events, newest first${events.length === limit ? ` (the newest ${limit}; raise “At most” for more)` : ''}.`;
  } catch (err) {
    summary.textContent = '';
    errorRow(tbody, COLUMNS, err);
    showError(err);
  }
}

async function main() {
  if (!(await initPage('audit'))) return;
  urlToForm();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    search();
  });
  document.getElementById('clear').addEventListener('click', () => {
    form.reset();
    search();
  });
  await search();
}

main();
