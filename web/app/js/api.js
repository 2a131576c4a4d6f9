// Fetch wrapper for Tresor's JSON API (docs/http-api.md). Contract:
//  - same-origin paths only ("/api/..."), cookies sent (credentials 'same-origin'),
//    JSON request and response bodies;
//  - POST/PUT/DELETE carry X-CSRF-Token from sessionStorage "tresor.csrf";
//  - 401 sends the browser to /app/login.html?next=<current path+query>;
//  - 403 shows "Not permitted" in the page's #notice;
//  - every failure rejects with an ApiError {status, message}; 204 resolves to null.
// This module touches the DOM only through notice(), which sets textContent.

export const CSRF_KEY = 'tresor.csrf';
export const LOGIN_PAGE = '/app/login.html';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CHANNEL = 'tresor.session';

export class ApiError extends Error {
  constructor(status, message, redirecting = false) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.redirecting = redirecting; // true when the page is already leaving for log-in
  }
}

// ---- session storage (the CSRF token lives only for this tab) ----

export function csrfToken() {
  try {
    return sessionStorage.getItem(CSRF_KEY) || '';
  } catch {
    return '';
  }
}

export function setCsrfToken(token) {
  try {
    if (typeof token === 'string' && token) sessionStorage.setItem(CSRF_KEY, token);
  } catch {
    /* storage disabled: state-changing requests will get 403 */
  }
}

export function clearSession() {
  try {
    sessionStorage.clear();
  } catch {
    /* nothing stored */
  }
}

// ---- redirects ----

// The `next` target after log-in: a same-origin path ("/..." but not "//..."
// nor "/\..."), else "/". Never an absolute URL, so no open redirect.
export function safeNext(raw, origin = location.origin) {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return '/';
  if (raw[0] !== '/' || raw[1] === '/' || raw.includes('\\')) return '/';
  if (/[\u0000-\u001f\u007f]/.test(raw)) return '/';
  try {
    const url = new URL(raw, origin);
    if (url.origin !== origin) return '/';
    if (url.pathname === LOGIN_PAGE) return '/';
    return url.pathname + url.search + url.hash;
  } catch {
    return '/';
  }
}

export function loginUrl(next) {
  return `${LOGIN_PAGE}?next=${encodeURIComponent(next)}`;
}

function currentPath() {
  return location.pathname + location.search;
}

export function goToLogin() {
  location.assign(loginUrl(currentPath()));
}

// ---- page notice ----

// Shows `text` in the page's #notice element (kind: error | ok | info); "" hides it.
export function notice(text, kind = 'error') {
  const box = document.getElementById('notice');
  if (!box) return;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.className = `notice ${kind}`;
  box.hidden = !text;
  box.textContent = text;
}

// ---- requests ----

async function readBody(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    if (res.ok) throw new ApiError(res.status, 'The server sent an unexpected answer.');
    return null;
  }
}

let mePromise = null;

// GET /api/me, once per page. If the server includes a csrf_token (for a
// session opened in another tab) and this tab has none, it is kept.
export function getMe() {
  if (!mePromise) {
    mePromise = request('GET', '/api/me').then((me) => {
      if (me && typeof me.csrf_token === 'string' && !csrfToken()) setCsrfToken(me.csrf_token);
      return me;
    });
    mePromise.catch(() => {
      mePromise = null;
    });
  }
  return mePromise;
}

// options.body: a value sent as JSON; options.on401: 'redirect' (default) or 'throw'.
export async function request(method, path, options = {}) {
  if (typeof path !== 'string' || path[0] !== '/' || path[1] === '/') throw new ApiError(0, 'bad path');
  const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  const init = { method, headers, credentials: 'same-origin', mode: 'same-origin', cache: 'no-store' };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  if (STATE_CHANGING.has(method)) {
    if (!csrfToken()) await getMe().catch(() => null);
    const token = csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }

  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'Cannot reach Tresor. Check the connection and try again.');
  }
  if (res.status === 401 && options.on401 !== 'throw') {
    goToLogin();
    throw new ApiError(401, 'Your session has ended. Opening the log-in page…', true);
  }
  const data = await readBody(res);
  if (res.ok) return data;

  const reason = data && typeof data.error === 'string' ? data.error : '';
  if (res.status === 403) {
    const message = /csrf/i.test(reason)
      ? 'Not permitted: this tab has no valid security token. Log out and log in again.'
      : 'Not permitted';
    notice(message);
    throw new ApiError(403, message);
  }
  if (res.status === 429 || res.status === 503) {
    throw new ApiError(res.status, 'Tresor is busy. Wait a moment and try again.');
  }
  throw new ApiError(res.status, reason || `The request failed (HTTP ${res.status}).`);
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options = {}) => request('POST', path, { ...options, body }),
  put: (path, body, options = {}) => request('PUT', path, { ...options, body }),
  del: (path, options) => request('DELETE', path, options),
};

// ---- log-out (every tab) ----

function channel() {
  try {
    return typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
  } catch {
    return null;
  }
}

// Ends the session on the server, forgets this tab's token, tells the other
// Tresor tabs, then opens the log-in page. Stays on the page if the server
// refused (the session would still be alive).
export async function logout() {
  try {
    await request('POST', '/api/logout', { on401: 'throw' });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) {
      notice(`Log-out failed: ${err.message} Close the browser to end the session.`);
      return;
    }
  }
  clearSession();
  const ch = channel();
  if (ch) {
    ch.postMessage('logout');
    ch.close();
  }
  location.assign(LOGIN_PAGE);
}

// Calls `onLogout` when another tab of this browser logs out.
export function watchLogout(onLogout) {
  const ch = channel();
  if (ch) ch.onmessage = (ev) => {
    if (ev.data === 'logout') onLogout();
  };
}
