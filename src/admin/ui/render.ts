/**
 * The admin page's rendering: tenant cards with their budget meters, and the audit feed. Plain
 * browser JavaScript sharing the scope of script.ts. Every value from the API goes in as text
 * (textContent, attribute values), never as markup: tenant names and override reasons are
 * typed by people. Widths are set through the CSSOM, which the page's CSP allows, rather than
 * style attributes, which it refuses.
 */
export const ADMIN_PAGE_RENDER = String.raw`
var STATUS_TEXT = { ok: 'OK', alert: 'Alert', grace: 'Grace', blocked: 'Blocked' };
var usdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 });

function money(usd) { return usdFormat.format(usd); }

function el(tag, attributes, children) {
  var node = document.createElement(tag);
  Object.keys(attributes || {}).forEach(function (name) {
    var value = attributes[name];
    if (value === undefined || value === null || value === false) return;
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  });
  (children || []).forEach(function (child) { if (child !== undefined && child !== null) node.append(child); });
  return node;
}

function timeEl(iso) {
  return el('time', { datetime: iso, title: iso, text: new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) });
}

function span(ms) {
  var minutes = Math.floor(ms / 60000);
  if (minutes < 1) return 'under a minute';
  var days = Math.floor(minutes / 1440);
  var hours = Math.floor((minutes % 1440) / 60);
  if (days > 0) return days + ' d ' + hours + ' h';
  if (hours > 0) return hours + ' h ' + (minutes % 60) + ' min';
  return minutes + ' min';
}

function timeLeft(iso) {
  var ms = Date.parse(iso) - Date.now();
  return ms > 0 ? span(ms) + ' left' : 'ended';
}

function visibleTenants() {
  var filter = $('filter').value.trim().toLowerCase();
  var shown = state.tenants.filter(function (t) {
    return filter === '' || t.tenant_id.toLowerCase().includes(filter) || (t.name || '').toLowerCase().includes(filter);
  });
  if ($('sort').value === 'utilization') shown.sort(function (a, b) { return b.utilization - a.utilization; });
  return shown;
}

function renderTenants() {
  var shown = visibleTenants();
  $('tenants').replaceChildren.apply($('tenants'), shown.map(tenantCard));
  var notes = [];
  if (state.tenants.length === 0) notes.push('No tenants yet: create one with the admin API or "budget-gateway tenant create".');
  else if (shown.length === 0) notes.push('No tenant matches the filter.');
  if (state.truncated) notes.push('Showing the first ' + TENANT_PAGE + ' tenants; "budget-gateway tenant list" lists them all.');
  $('tenants-note').textContent = notes.join(' ');
  if (!$('grant-dialog').open && !$('confirm-dialog').open) restoreFocus();
}

function restoreFocus() {
  if (state.focusKey === undefined || document.activeElement !== document.body) return;
  var target = Array.from(document.querySelectorAll('[data-focus]')).find(function (node) { return node.dataset.focus === state.focusKey; });
  if (target) target.focus();
}

function tenantCard(view) {
  return el('li', { class: 'tenant', 'data-tenant': view.tenant_id }, [
    el('div', { class: 'tenant-head' }, [
      el('h3', { text: view.tenant_id }),
      el('span', { class: 'name', text: view.name || '' }),
      el('span', { class: 'status status-' + view.status, text: STATUS_TEXT[view.status] || view.status }),
    ]),
    el('div', { class: 'budgets' }, budgetsOf(view).map(budgetMeter)),
    facts(view),
    el('div', { class: 'actions' }, actions(view)),
  ]);
}

/**
 * Every budget the tenant's requests are checked against (CONTRACT section 11): its own first, from
 * the view's top-level fields, then the others the view lists (global cap, tokens, requests,
 * models). The tenant's thresholds apply to all but the global cap, whose own are not in the view.
 */
function budgetsOf(view) {
  var lines = { alert: view.alert_thresholds ? Math.min.apply(null, view.alert_thresholds) : view.alert_threshold, grace: view.grace_threshold };
  var own = { label: 'Tenant budget', unit: 'usd', spend: view.spend, reserved: view.reserved, limit: view.effective_budget,
    status: view.status, lines: lines, own: true };
  var others = (view.budgets || []).filter(function (b) { return !(b.scope === 'tenant' && b.unit === 'usd'); }).map(function (b) {
    return { label: budgetLabel(b), unit: b.unit, spend: b.spend, reserved: b.reserved, limit: b.limit, status: b.status,
      lines: b.scope === 'global' ? undefined : lines, own: false };
  });
  return [own].concat(others);
}

function budgetLabel(b) {
  var scope = b.scope === 'global' ? 'Global cap' : b.scope === 'tenant' ? 'Tenant' : b.scope.replace(/^model:/, 'Model ').replace(/^key:/, 'Key ');
  return scope + (b.unit === 'tokens' ? ' tokens' : b.unit === 'requests' ? ' requests' : '');
}

function quantity(value, unit) {
  if (unit === 'usd') return money(value);
  // Lines of whole tokens or requests round up, as the gateway computes them.
  var whole = Math.ceil(value);
  return whole.toLocaleString('en-US') + ' ' + (whole === 1 ? unit.slice(0, -1) : unit);
}

function budgetMeter(b) {
  var alertLine = b.lines ? (b.limit * b.lines.alert) / 100 : undefined;
  var blockLine = b.lines ? (b.limit * b.lines.grace) / 100 : undefined;
  var scale = Math.max(blockLine || b.limit, b.spend);
  var at = function (value) { return (scale > 0 ? Math.min(100, (value / scale) * 100) : 0) + '%'; };
  var used = b.limit > 0 ? Math.round((b.spend / b.limit) * 1000) / 10 + ' %' : 'no budget';
  var fill = el('div', { class: 'fill' });
  fill.style.width = at(b.spend);
  var parts = [fill, mark('budget', at(b.limit))];
  if (b.lines) parts.push(mark('alert line', at(alertLine)), mark('block line', 'calc(' + at(blockLine) + ' - 3px)', 'block'));
  var summary = quantity(b.spend, b.unit) + ' of ' + quantity(b.limit, b.unit) + ' (' + used + ')' + (b.own ? '' : ' · ' + STATUS_TEXT[b.status]);
  var where = b.lines ? 'Alert at ' + quantity(alertLine, b.unit) + ' · blocked at ' + quantity(blockLine, b.unit) : 'Shared by all tenants';
  return el('div', { class: 'budget' }, [
    el('div', { class: 'budget-figures' }, [el('span', { text: b.label }), el('span', { class: 'spend', text: summary })]),
    el('div', { class: 'meter ' + b.status, role: 'img', 'aria-label': b.label + ': ' + summary + '; ' + where }, parts),
    el('p', { class: 'lines', text: where + (b.reserved > 0 ? ' · ' + quantity(b.reserved, b.unit) + ' in flight' : '') }),
  ]);
}

function mark(title, left, kind) {
  var node = el('div', { class: 'mark' + (kind ? ' ' + kind : ''), title: title });
  node.style.left = left;
  return node;
}

function facts(view) {
  var override = view.override;
  return el('dl', { class: 'facts' }, [
    el('dt', { text: 'Period ends' }),
    el('dd', {}, [timeEl(view.budget_reset_at), ' (in ' + span(Date.parse(view.budget_reset_at) - Date.now()) + ')']),
    el('dt', { text: 'Override' }),
    override
      ? el('dd', { class: 'override' }, [money(override.override_amount) + ' until ', timeEl(override.expires_at),
          ' (' + timeLeft(override.expires_at) + '), by ' + override.created_by + ': ' + override.reason])
      : el('dd', { class: 'override', text: 'none' }),
  ]);
}

function actions(view) {
  var button = function (action, text, label) {
    return el('button', { type: 'button', 'data-action': action, 'data-tenant': view.tenant_id,
      'data-focus': action + ' ' + view.tenant_id, 'aria-label': text + ' ' + label + ' ' + view.tenant_id, text: text });
  };
  return [button('grant', 'Grant override', 'to'), view.override ? button('remove', 'Remove override', 'of') : null,
    button('reset', 'Reset budget', 'of')];
}

function renderAudit(entries) {
  $('audit').replaceChildren.apply($('audit'), entries.map(function (entry) {
    return el('li', {}, [
      el('span', { class: 'event', text: entry.event }),
      el('span', { class: 'meta' }, [timeEl(entry.at), ' · ' + (entry.tenant_id || 'gateway') + ' · ' + entry.actor]),
      el('span', { class: 'details', text: describe(entry.details) }),
    ]);
  }));
  if (entries.length === 0) $('audit').append(el('li', { class: 'empty', text: 'Nothing recorded yet.' }));
}

function describe(details) {
  return Object.keys(details || {}).map(function (key) {
    var value = details[key];
    return key + ': ' + (typeof value === 'object' ? JSON.stringify(value) : String(value));
  }).join(', ');
}
`;
