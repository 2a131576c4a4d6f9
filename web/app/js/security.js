// Security (admin): GET /api/exposure, GET /api/security/blocked
// ([{source, until: unix seconds}], "not available" when the route is
// missing) and GET /api/audit?type=security_alert.
import { ApiError, api } from './api.js';
import { el, errorRow, fillTable, formatTime, initPage, showError } from './ui.js';

async function loadExposure() {
  const tbody = document.getElementById('exposure');
  const status = document.getElementById('exposure-status');
  status.textContent = 'Checking…';
  try {
    const findings = await api.get('/api/exposure');
    fillTable(tbody, findings, (f) => el('tr', {}, el('td', {}, f.what), el('td', {}, f.fix)), 2, 'No exposure found.');
    status.textContent = findings.length ? `${findings.length} finding(s) at ${formatTime(Date.now() / 1000)}.`
      : `No exposure found at ${formatTime(Date.now() / 1000)}.`;
  } catch (err) {
    status.textContent = '';
    errorRow(tbody, 2, err);
    showError(err);
  }
}

function remaining(until) {
  const minutes = Math.ceil((until * 1000 - Date.now()) / 60000);
  return minutes <= 0 ? 'ending' : minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

async function loadBlocked() {
  const tbody = document.getElementById('blocked');
  try {
    const blocked = await api.get('/api/security/blocked');
    blocked.sort((a, b) => a.until - b.until);
    fillTable(tbody, blocked, (b) => el('tr', {},
      el('td', { class: 'mono' }, b.account ? `${b.account}${b.source ? ' from ' + b.source : ' (account)'}` : b.source),
      el('td', {}, formatTime(b.until)),
      el('td', {}, remaining(b.until))), 3, 'No address is blocked.');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      fillTable(tbody, [], null, 3, 'Not available on this server.');
      return;
    }
    errorRow(tbody, 3, err);
    showError(err);
  }
}

async function loadAlerts() {
  const tbody = document.getElementById('alerts');
  try {
    const events = await api.get('/api/audit?type=security_alert&limit=50');
    fillTable(tbody, events, (e) => el('tr', {},
      el('td', { title: e.time }, formatTime(e.time)),
      el('td', {}, String(e.outcome ?? '')),
      el('td', {}, String(e.actor ?? '')),
      el('td', { class: 'mono' }, String(e.source ?? '')),
      el('td', {}, String(e.reason ?? ''))), 5, 'No security alerts.');
  } catch (err) {
    errorRow(tbody, 5, err);
    showError(err);
  }
}

async function main() {
  if (!(await initPage('admin'))) return;
  document.getElementById('exposure-run').addEventListener('click', loadExposure);
  await Promise.all([loadExposure(), loadBlocked(), loadAlerts()]);
}

main();
