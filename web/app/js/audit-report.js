// "Who saw what" (audit permission): GET /api/audit/report?patient&since&until
// (JSON) rendered as two tables, and a link to the same report as a
// self-contained printable HTML page (format=html) for a data-protection
// officer. The date range is taken in the browser's time zone and sent as
// UTC instants. The patient and dates live in the page URL.
import { api } from './api.js';
import { el, errorRow, fillTable, formatTime, initPage, notice, showError } from './ui.js';

const PAGE_KEYS = ['patient', 'from', 'to'];
const form = document.getElementById('report-form');
const parties = document.getElementById('parties');
const entries = document.getElementById('entries');
const summary = document.getElementById('summary');
const printable = document.getElementById('printable');

function localDay(value, plusDays = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plusDays).getTime() : null;
}

function cell(text, cls) {
  return el('td', { class: cls }, text === undefined || text === null ? '' : String(text));
}

function who(actor, user) {
  return !user || user === actor ? actor : `${user} (via ${actor})`;
}

function partyRow(p) {
  const accesses = Object.entries(p.accesses || {}).map(([what, n]) => `${n} × ${what}`).join(', ');
  return el('tr', {},
    cell(who(p.actor, p.user)),
    cell(p.source, 'mono'),
    cell(accesses),
    el('td', { title: p.first }, formatTime(p.first)),
    el('td', { title: p.last }, formatTime(p.last)));
}

function entryRow(e) {
  const outcome = el('span', { class: e.outcome === 'success' ? 'tag good' : 'tag bad' }, String(e.outcome ?? ''));
  return el('tr', {},
    el('td', { title: e.time }, formatTime(e.time)),
    cell(e.what),
    el('td', {}, outcome),
    cell(who(e.actor, e.user)),
    cell(e.source, 'mono'),
    cell(e.count),
    cell(e.study_uid, 'mono'),
    cell(e.detail));
}

function formToUrl() {
  const params = new URLSearchParams();
  for (const key of PAGE_KEYS) {
    const value = form.elements[key].value.trim();
    if (value) params.set(key, value);
  }
  const query = params.toString();
  history.replaceState(null, '', location.pathname + (query ? `?${query}` : ''));
}

function urlToForm() {
  const params = new URLSearchParams(location.search);
  for (const key of PAGE_KEYS) if (params.has(key)) form.elements[key].value = params.get(key);
}

async function show() {
  const patient = form.elements.patient.value.trim();
  if (!patient) return;
  const from = localDay(form.elements.from.value);
  const to = localDay(form.elements.to.value, 1);
  if (from !== null && to !== null && from >= to) return notice('The “From” date is after the “To” date.');
  notice('');
  formToUrl();
  const query = new URLSearchParams({ patient });
  if (from !== null) query.set('since', new Date(from).toISOString());
  if (to !== null) query.set('until', new Date(to).toISOString());
  summary.textContent = 'Loading…';
  printable.hidden = true;
  try {
    const report = await api.get(`/api/audit/report?${query}`);
    fillTable(parties, report.parties, partyRow, 5, 'No access recorded in this period.');
    fillTable(entries, report.entries, entryRow, 8, 'No event recorded in this period.');
    summary.textContent = `${report.entries.length} events for patient ${report.patient_id}` +
      `${report.truncated ? ' (truncated)' : ''}, from ${report.records_read} audit records.`;
    query.set('format', 'html');
    printable.href = `/api/audit/report?${query}`;
    printable.hidden = false;
  } catch (err) {
    summary.textContent = '';
    errorRow(entries, 8, err);
    showError(err);
  }
}

async function main() {
  if (!(await initPage('audit'))) return;
  urlToForm();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
  if (form.elements.patient.value.trim()) await show();
}

main();
