// Users (admin): GET/POST /api/users, PUT /api/users/{name},
// PUT /api/users/{name}/password, DELETE /api/users/{name}.
import { api } from './api.js';
import { button, confirmAction, el, errorRow, fillTable, initPage, notice, showError, showSecret } from './ui.js';
import { confirmScope, describeScope, fillScope, readScope } from './scope.js';

const tbody = document.getElementById('users');
const addForm = document.getElementById('add');
const editForm = document.getElementById('edit');
const secretBox = document.getElementById('secret');
let me = null;
let editing = null; // the user name being edited

const userPath = (name) => `/api/users/${encodeURIComponent(name)}`;

function checkedRoles(form) {
  return [...form.querySelectorAll('input[name="role"]:checked')].map((box) => box.value);
}

function setRoles(form, roles) {
  for (const box of form.querySelectorAll('input[name="role"]')) box.checked = roles.includes(box.value);
}

async function act(promise, done) {
  try {
    await promise;
    notice(done, 'ok');
    await load();
  } catch (err) {
    showError(err);
  }
}

function startEdit(user) {
  editing = user.username;
  document.getElementById('edit-title').textContent = `Edit ${user.username}`;
  setRoles(editForm, user.roles);
  editForm.elements.enabled.checked = user.enabled;
  editForm.elements.enabled.disabled = user.username === me.name;
  fillScope(editForm, user.scope);
  editForm.hidden = false;
  editForm.querySelector('input').focus();
}

async function resetPassword(user) {
  if (!confirmAction(`Give ${user.username} a new generated password? The old one stops working.`)) return;
  try {
    const out = await api.put(`${userPath(user.username)}/password`, {});
    showSecret(secretBox, `New password for ${user.username}:`, out.password);
    notice('');
  } catch (err) {
    showError(err);
  }
}

function row(user) {
  const self = user.username === me.name;
  const actions = el('div', { class: 'actions' },
    button('Edit', () => startEdit(user), 'secondary', `Edit ${user.username}`),
    self ? null : button(user.enabled ? 'Disable' : 'Enable',
      () => act(api.put(userPath(user.username), { enabled: !user.enabled }),
        `${user.username} ${user.enabled ? 'disabled' : 'enabled'}.`), 'secondary'),
    button('Reset password', () => resetPassword(user), 'secondary', `Reset the password of ${user.username}`),
    self ? null : button('Remove', () => {
      if (confirmAction(`Remove ${user.username} and all of their API tokens?`))
        act(api.del(userPath(user.username)), `${user.username} removed.`);
    }, 'danger', `Remove ${user.username}`));
  return el('tr', {},
    el('td', {}, user.username, self ? ' (you)' : ''),
    el('td', {}, ...user.roles.map((r) => el('span', { class: 'tag' }, r))),
    el('td', {}, el('span', { class: user.enabled ? 'tag good' : 'tag bad' }, user.enabled ? 'enabled' : 'disabled')),
    el('td', {}, describeScope(user.scope)),
    el('td', {}, actions));
}

async function load() {
  try {
    const users = await api.get('/api/users');
    fillTable(tbody, users, row, 5, 'No users.');
  } catch (err) {
    errorRow(tbody, 5, err);
    showError(err);
  }
}

async function addUser(event) {
  event.preventDefault();
  if (!addForm.reportValidity()) return;
  const body = { username: addForm.elements.username.value.trim(), roles: checkedRoles(addForm) };
  if (!body.roles.length) return notice('Choose at least one role.');
  if (addForm.elements.password.value) body.password = addForm.elements.password.value;
  body.scope = readScope(addForm);
  if (!confirmScope(body.scope)) return;
  try {
    const out = await api.post('/api/users', body);
    addForm.reset();
    if (out.password) showSecret(secretBox, `Password for ${out.username}:`, out.password);
    notice(`${out.username} added.`, 'ok');
    await load();
  } catch (err) {
    showError(err);
  }
}

async function saveEdit(event) {
  event.preventDefault();
  const body = { roles: checkedRoles(editForm), scope: readScope(editForm) };
  if (!body.roles.length) return notice('Choose at least one role.');
  if (!editForm.elements.enabled.disabled) body.enabled = editForm.elements.enabled.checked;
  if (!confirmScope(body.scope)) return;
  const name = editing;
  editForm.hidden = true;
  await act(api.put(userPath(name), body), `${name} saved.`);
}

async function main() {
  me = await initPage('admin');
  if (!me) return;
  addForm.addEventListener('submit', addUser);
  editForm.addEventListener('submit', saveEdit);
  document.getElementById('edit-cancel').addEventListener('click', () => {
    editForm.hidden = true;
  });
  await load();
}

main();
