// Log-in page: POST /api/login {username, password}. On 200 keeps the CSRF
// token for this tab and goes to ?next= (a same-origin path) or "/".
import { clearSession, notice, safeNext, setCsrfToken } from './api.js';

const WRONG = 'Wrong user name or password.';
const BUSY = 'Too many log-in attempts for this account or from here, or Tresor is busy. Wait a little and try again.';

const form = document.getElementById('login');
const submit = document.getElementById('submit');
const next = new URLSearchParams(location.search).get('next');
if (next) document.getElementById('expired').hidden = false;

function messageFor(status) {
  if (status === 401) return WRONG;
  if (status === 429 || status === 503) return BUSY;  // throttled (Retry-After): never a lock
  if (status === 400) return 'Enter a user name and a password.';
  return `Log-in failed (HTTP ${status}). Try again later.`;
}

async function logIn(event) {
  event.preventDefault();
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    notice('Enter a user name and a password.');
    (username ? form.elements.password : form.elements.username).focus();
    return;
  }
  notice('');
  submit.disabled = true;
  try {
    const res = await fetch('/api/login', {
      method: 'POST',
      credentials: 'same-origin',
      mode: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (res.status === 200) {
      const data = await res.json().catch(() => ({}));
      clearSession();
      setCsrfToken(data.csrf_token);
      location.replace(safeNext(next));
      return;
    }
    notice(messageFor(res.status));
    form.elements.password.value = '';
    form.elements.password.focus();
  } catch {
    notice('Cannot reach Tresor. Check the connection and try again.');
  } finally {
    submit.disabled = false;
  }
}

form.addEventListener('submit', logIn);

// A link from another site arrives without the SameSite=Strict cookie, so the
// server sends an already logged-in user here. If the session is in fact
// alive, go on to `next` (once per tab and minute, so this can never loop).
async function forwardIfLoggedIn() {
  if (!next) return;
  const key = 'tresor.forwarded';
  const last = Number(sessionStorage.getItem(key) || '0');
  if (Date.now() - last < 60000) return;
  try {
    const res = await fetch('/api/me', { credentials: 'same-origin', mode: 'same-origin', cache: 'no-store',
      headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' } });
    if (res.status !== 200) return;
    const me = await res.json().catch(() => ({}));
    if (typeof me.csrf_token === 'string') setCsrfToken(me.csrf_token);
    sessionStorage.setItem(key, String(Date.now()));
    location.replace(safeNext(next));
  } catch {
    /* stay on the form */
  }
}

forwardIfLoggedIn();
