import { ADMIN_PAGE_RENDER } from './render.js';

/**
 * The admin page's behaviour: plain browser JavaScript, inlined under the page's CSP nonce. It
 * keeps the admin key in sessionStorage (this tab only; never a cookie, never in a URL), sends it
 * as a bearer token on every call, and shows the admin API's own messages, 422 details beside
 * their fields, so the page and the API never disagree about what is valid. Paths are relative
 * to the page (/admin/ui), so the page also works behind a proxy that adds a path prefix.
 * Rendering (cards, meters, the audit feed) lives in render.ts, in the same scope: a function
 * name used in both would silently replace one of them.
 */
export const ADMIN_PAGE_SCRIPT = String.raw`
(function () {
'use strict';
var KEY_STORAGE = 'budget-gateway.admin-key';
var REFRESH_MS = 10000;
var TENANT_PAGE = 500;
var GRANT_FIELDS = { override_amount: 'grant-amount', duration: 'grant-duration', reason: 'grant-reason' };
var $ = function (id) { return document.getElementById(id); };
var state = { tenants: [], truncated: false, timer: undefined, seq: 0, focusKey: undefined, grantFor: undefined, confirmRun: undefined };

class ApiError extends Error {
  constructor(status, message, details) { super(message); this.status = status; this.details = details || []; }
}

function adminKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(method, path, body) {
  var headers = { authorization: 'Bearer ' + adminKey(), accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  var response;
  try {
    response = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    throw new ApiError(0, 'Could not reach the gateway (' + err.message + '). The page tries again shortly.');
  }
  var payload = await response.json().catch(function () { return null; });
  if (response.ok) return payload;
  var error = (payload && payload.error) || {};
  if (response.status === 401) {
    signOut('The admin key was not accepted (401). Check the ADMIN_API_KEY the gateway runs with, then sign in again.');
  }
  throw new ApiError(response.status, error.message || 'The gateway answered ' + response.status + '.', error.details);
}

function tenantPath(tenantId, rest) { return 'tenants/' + encodeURIComponent(tenantId) + rest; }

// ---- session ----

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  clearTimeout(state.timer);
  state.seq++;
  state.tenants = [];
  ['grant-dialog', 'confirm-dialog'].forEach(function (id) { if ($(id).open) $(id).close(); });
  $('tenants').replaceChildren();
  $('audit').replaceChildren();
  $('console').hidden = true;
  $('sign-out').hidden = true;
  $('refresh').hidden = true;
  $('refreshed').textContent = '';
  $('sign-in').hidden = false;
  $('admin-key-error').textContent = message || '';
  $('admin-key').setAttribute('aria-invalid', message ? 'true' : 'false');
  $('admin-key').focus();
}

async function start() {
  $('sign-in').hidden = true;
  await refresh();
  if (!adminKey()) return;
  $('console').hidden = false;
  $('sign-out').hidden = false;
  $('refresh').hidden = false;
  // Keyboard and screen-reader users land on the content they signed in for.
  $('tenants-title').focus();
}

$('sign-in-form').addEventListener('submit', function (event) {
  event.preventDefault();
  var key = $('admin-key').value.trim();
  if (key === '') {
    $('admin-key-error').textContent = 'Type the admin key first.';
    return;
  }
  $('admin-key').value = '';
  $('admin-key-error').textContent = '';
  sessionStorage.setItem(KEY_STORAGE, key);
  start();
});
$('sign-out').addEventListener('click', function () { signOut(''); });
$('refresh').addEventListener('click', function () { refresh(); });

// ---- refreshing ----

async function refresh() {
  clearTimeout(state.timer);
  var seq = ++state.seq;
  try {
    var answers = await Promise.all([api('GET', 'tenants?limit=' + TENANT_PAGE), api('GET', 'audit?limit=50')]);
    if (seq !== state.seq) return;
    state.tenants = answers[0].data;
    state.truncated = answers[0].next_cursor !== null;
    renderTenants();
    renderAudit(answers[1].data);
    $('notice').textContent = '';
    $('refreshed').textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshes every ' + REFRESH_MS / 1000 + ' s';
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    $('notice').textContent = err.message;
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

$('filter').addEventListener('input', function () { renderTenants(); });
$('sort').addEventListener('change', function () { renderTenants(); });

// ---- actions on a tenant ----

$('tenants').addEventListener('click', function (event) {
  var button = event.target.closest('button[data-action]');
  if (!button) return;
  var view = state.tenants.find(function (t) { return t.tenant_id === button.dataset.tenant; });
  if (!view) return;
  state.focusKey = button.dataset.focus;
  if (button.dataset.action === 'grant') openGrant(view);
  if (button.dataset.action === 'remove') {
    openConfirm('Remove the override?', 'End the ' + money(view.override.override_amount) + ' override of ' + view.tenant_id +
      ' now; its budget goes back to ' + money(view.max_budget) + '.', 'Remove override',
      function () { return api('DELETE', tenantPath(view.tenant_id, '/budget-override')); });
  }
  if (button.dataset.action === 'reset') {
    openConfirm('Reset the budget?', 'Start a new period for ' + view.tenant_id + ' now: its spend goes back to $0 (' +
      money(view.spend) + ' spent so far). This cannot be undone.', 'Reset budget',
      function () { return api('POST', tenantPath(view.tenant_id, '/budget-reset')); });
  }
});

function openGrant(view) {
  state.grantFor = view.tenant_id;
  $('grant-form').reset();
  showProblems('grant', GRANT_FIELDS, undefined);
  $('grant-tenant').textContent = 'Tenant ' + view.tenant_id + ': budget ' + money(view.max_budget) +
    (view.override ? '; an override of ' + money(view.override.override_amount) + ' is active' : '') + '.';
  $('grant-replace-row').hidden = !view.override;
  $('grant-dialog').showModal();
  $('grant-amount').focus();
}

$('grant-form').addEventListener('submit', async function (event) {
  event.preventDefault();
  var body = { override_amount: typedAmount($('grant-amount').value), duration: $('grant-duration').value.trim(), reason: $('grant-reason').value };
  var query = $('grant-replace').checked && !$('grant-replace-row').hidden ? '?replace=true' : '';
  try {
    await api('POST', tenantPath(state.grantFor, '/budget-override' + query), body);
    $('grant-dialog').close();
    refresh();
  } catch (err) {
    if (err.status !== 401) showProblems('grant', GRANT_FIELDS, err);
  }
});

/** The typed amount as a number when it is one; otherwise as typed, so the API names the problem. */
function typedAmount(text) {
  var trimmed = text.trim();
  if (trimmed === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** Puts each 422 detail beside its field; what no field claims goes to the form's own message. */
function showProblems(form, fields, err) {
  var unplaced = [];
  Object.keys(fields).forEach(function (path) {
    $(fields[path] + '-error').textContent = '';
    $(fields[path]).setAttribute('aria-invalid', 'false');
  });
  var first;
  ((err && err.details) || []).forEach(function (detail) {
    var id = fields[detail.path];
    if (!id) return unplaced.push(detail.path + ': ' + detail.message);
    $(id + '-error').textContent = detail.message;
    $(id).setAttribute('aria-invalid', 'true');
    first = first || $(id);
  });
  $(form + '-error').textContent = !err ? '' : unplaced.length > 0 ? unplaced.join('; ') : first ? '' : err.message;
  if (first) first.focus();
}

function openConfirm(title, text, label, run) {
  state.confirmRun = run;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = label;
  $('confirm-error').textContent = '';
  $('confirm-dialog').showModal();
  $('confirm-ok').focus();
}

$('confirm-form').addEventListener('submit', async function (event) {
  event.preventDefault();
  try {
    await state.confirmRun();
    $('confirm-dialog').close();
    refresh();
  } catch (err) {
    if (err.status !== 401) $('confirm-error').textContent = err.message;
  }
});

document.querySelectorAll('dialog').forEach(function (dialog) {
  dialog.querySelector('[data-close]').addEventListener('click', function () { dialog.close(); });
  // The button that opened the dialog may have been re-rendered meanwhile: find it by its key.
  dialog.addEventListener('close', restoreFocus);
});

${ADMIN_PAGE_RENDER}

if (adminKey()) start(); else $('admin-key').focus();
})();
`;
