// Scope fields shared by the user and peer forms. A form holds a checkbox
// "scoped" and text inputs "institutions", "referring_physicians", "labels"
// (comma separated). Unchecked = null = every study; checked = only studies
// matching any listed value (an empty scope admits none), as the API defines.

const KEYS = ['institutions', 'referring_physicians', 'labels'];

// "a, b ,, a" -> ["a", "b"]
export function splitList(text) {
  return [...new Set(String(text).split(',').map((s) => s.trim()).filter(Boolean))];
}

export function readScope(form) {
  if (!form.elements.scoped.checked) return null;
  const scope = {};
  for (const key of KEYS) scope[key] = splitList(form.elements[key].value);
  return scope;
}

export function isEmptyScope(scope) {
  return scope !== null && KEYS.every((key) => scope[key].length === 0);
}

export function fillScope(form, scope) {
  form.elements.scoped.checked = scope !== null && scope !== undefined;
  for (const key of KEYS) form.elements[key].value = scope && Array.isArray(scope[key]) ? scope[key].join(', ') : '';
}

// "every study" or "institutions: A, B; labels: x" (for table cells).
export function describeScope(scope) {
  if (scope === null || scope === undefined) return 'every study';
  const parts = [];
  const names = { institutions: 'institutions', referring_physicians: 'referring physicians', labels: 'labels' };
  for (const key of KEYS) {
    if (Array.isArray(scope[key]) && scope[key].length) parts.push(`${names[key]}: ${scope[key].join(', ')}`);
  }
  return parts.length ? parts.join('; ') : 'no study (empty scope)';
}

// Asks before saving a present but empty scope, which admits no study.
export function confirmScope(scope) {
  return !isEmptyScope(scope) || window.confirm('The scope is empty: this account will see no study at all. Save anyway?');
}
