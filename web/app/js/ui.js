// DOM helpers shared by Tresor's pages. Contract: data reaches the page only
// as text (textContent / text nodes), never as HTML; no inline styles.
import { ApiError, clearSession, getMe, goToLogin, logout, notice, watchLogout } from './api.js';

export { notice };

// el('td', {class: 'mono', title: x}, 'text', childNode, ...): strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else if (key === 'hidden' || key === 'disabled' || key === 'checked') node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function button(text, onClick, kind = 'secondary', label = undefined) {
  return el('button', { type: 'button', class: `${kind} small`, onclick: onClick, 'aria-label': label }, text);
}

// Replaces the rows of `tbody`: one row per item from rowOf(item), or one
// "empty" row spanning `columns` cells.
export function fillTable(tbody, items, rowOf, columns, emptyText = 'Nothing to show.') {
  tbody.replaceChildren();
  if (!items.length) {
    tbody.append(el('tr', {}, el('td', { colspan: columns, class: 'empty' }, emptyText)));
    return;
  }
  for (const item of items) tbody.append(rowOf(item));
}

export function errorRow(tbody, columns, err) {
  tbody.replaceChildren(el('tr', {}, el('td', { colspan: columns, class: 'empty' }, `Could not load: ${messageOf(err)}`)));
}

export function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

// Shows an error in #notice unless the page is already leaving for log-in
// (401) or api.js has already said "Not permitted" (403).
export function showError(err, prefix = '') {
  if (err instanceof ApiError && (err.redirecting || err.status === 403)) return;
  notice(prefix + messageOf(err), 'error');
}

export function confirmAction(text) {
  return window.confirm(text);
}

// "2025-01-31 14:05" in the browser's time zone, from unix seconds or an ISO string.
export function formatTime(value) {
  const d = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value ?? '');
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A box showing a secret once, with a copy button. Appended to `container`.
export function showSecret(container, label, secret) {
  const code = el('code', { class: 'mono' }, secret);
  const status = el('span', { role: 'status', 'aria-live': 'polite' });
  const copy = button('Copy', async () => {
    try {
      await navigator.clipboard.writeText(secret);
      status.textContent = 'Copied.';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = 'Press Ctrl+C (or Cmd+C) to copy the selected text.';
    }
  }, 'secondary');
  const dismiss = button('I have saved it', () => box.remove(), 'secondary');
  const box = el('div', { class: 'secret' },
    el('strong', {}, label), code, copy, dismiss, status,
    el('span', { class: 'hint' }, 'It is shown only this once.'));
  container.replaceChildren(box);
  copy.focus();
}

const NAV = [
  { href: '/app/index.html', text: 'Home' },
  { href: '/', text: 'Studies (viewer)' },
  { href: '/app/admin/users.html', text: 'Users', op: 'admin' },
  { href: '/app/admin/peers.html', text: 'Peers', op: 'admin' },
  { href: '/app/admin/quarantine.html', text: 'Quarantine', op: 'admin' },
  { href: '/app/admin/studies.html', text: 'Studies', op: 'admin' },
  { href: '/app/admin/security.html', text: 'Security', op: 'admin' },
  { href: '/app/admin/audit.html', text: 'Audit', op: 'audit' },
  { href: '/app/admin/tokens.html', text: 'My API tokens' },
];

export function may(me, operation) {
  return Boolean(me && Array.isArray(me.operations) && me.operations.includes(operation));
}

function fillHeader(me) {
  const nav = document.getElementById('nav');
  if (nav) {
    const here = location.pathname === '/app/' ? '/app/index.html' : location.pathname;
    nav.replaceChildren(...NAV.filter((item) => !item.op || may(me, item.op)).map((item) =>
      el('li', {}, el('a', { href: item.href, 'aria-current': item.href === here ? 'page' : undefined }, item.text))));
  }
  const who = document.getElementById('who');
  if (who && me) who.textContent = `Signed in as ${me.name}`;
}

// Every logged-in page calls this first: wires the Log out button, follows
// log-outs in other tabs, loads /api/me and fills the header. If `need` names
// an operation the user lacks, says "Not permitted" and keeps #page hidden.
// Resolves to /api/me's answer, or null when the page must not be used.
export async function initPage(need = null) {
  const out = document.getElementById('logout');
  if (out) out.addEventListener('click', () => logout());
  watchLogout(() => {
    clearSession();
    goToLogin();
  });
  let me;
  try {
    me = await getMe();
  } catch (err) {
    showError(err);
    return null;
  }
  fillHeader(me);
  if (need && !may(me, need)) {
    notice('Not permitted', 'error');
    return null;
  }
  const page = document.getElementById('page');
  if (page) page.hidden = false;
  return me;
}
