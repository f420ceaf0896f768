import { ADMIN_PAGE_SCRIPT } from './script.js';
import { ADMIN_PAGE_STYLE } from './style.js';

/**
 * The admin page (CONTRACT section 12): one HTML document with its style and script inline, so it
 * needs nothing from outside the gateway. The markup holds no data: the script fills it from the
 * admin API once the admin has typed the key.
 */
export function adminPageHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>budget-gateway admin</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${ADMIN_PAGE_STYLE}</style>
</head>
<body>
<header class="topbar">
  <h1>budget-gateway admin</h1>
  <p id="refreshed"></p>
  <button type="button" id="refresh" hidden>Refresh now</button>
  <button type="button" id="sign-out" hidden>Sign out</button>
</header>
<main>
  <section id="sign-in" class="sign-in" aria-labelledby="sign-in-title">
    <h2 id="sign-in-title">Sign in</h2>
    <form id="sign-in-form" novalidate>
      <div class="field">
        <label for="admin-key">Admin key</label>
        <input id="admin-key" name="admin_key" type="password" autocomplete="off" spellcheck="false"
          aria-describedby="admin-key-help admin-key-error">
        <p id="admin-key-help" class="help">The gateway's ADMIN_API_KEY. This tab keeps it until you sign out or close the tab.</p>
        <p id="admin-key-error" class="error" role="alert"></p>
      </div>
      <button type="submit" class="primary">Sign in</button>
    </form>
  </section>
  <div id="console" hidden>
    <p id="notice" class="notice" role="alert"></p>
    <section aria-labelledby="tenants-title">
      <div class="section-head">
        <h2 id="tenants-title" tabindex="-1">Tenants</h2>
        <div class="inline-field"><label for="filter">Filter</label><input id="filter" type="search" placeholder="tenant id or name"></div>
        <div class="inline-field"><label for="sort">Sort by</label>
          <select id="sort"><option value="utilization">Utilization, highest first</option><option value="tenant_id">Tenant id</option></select>
        </div>
      </div>
      <ul id="tenants" class="tenants"></ul>
      <p id="tenants-note" class="help"></p>
    </section>
    <section aria-labelledby="audit-title">
      <div class="section-head"><h2 id="audit-title">Audit log, newest first</h2></div>
      <ol id="audit" class="audit"></ol>
    </section>
  </div>
</main>
<dialog id="grant-dialog" aria-labelledby="grant-title">
  <form id="grant-form" novalidate>
    <h2 id="grant-title">Grant a budget override</h2>
    <p id="grant-tenant" class="help"></p>
    <div class="field">
      <label for="grant-amount">Amount (USD)</label>
      <input id="grant-amount" name="override_amount" inputmode="decimal" autocomplete="off" aria-describedby="grant-amount-error">
      <p id="grant-amount-error" class="error"></p>
    </div>
    <div class="field">
      <label for="grant-duration">Duration</label>
      <input id="grant-duration" name="duration" autocomplete="off" value="24h" aria-describedby="grant-duration-help grant-duration-error">
      <p id="grant-duration-help" class="help">For example 24h, 7d or 2w.</p>
      <p id="grant-duration-error" class="error"></p>
    </div>
    <div class="field">
      <label for="grant-reason">Reason</label>
      <textarea id="grant-reason" name="reason" aria-describedby="grant-reason-error"></textarea>
      <p id="grant-reason-error" class="error"></p>
    </div>
    <label class="check" id="grant-replace-row"><input id="grant-replace" type="checkbox"> Replace the active override</label>
    <p id="grant-error" class="error" role="alert"></p>
    <div class="actions"><button type="submit" class="primary">Grant override</button><button type="button" data-close>Cancel</button></div>
  </form>
</dialog>
<dialog id="confirm-dialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <form id="confirm-form" novalidate>
    <h2 id="confirm-title"></h2>
    <p id="confirm-text"></p>
    <p id="confirm-error" class="error" role="alert"></p>
    <div class="actions"><button type="submit" class="danger" id="confirm-ok"></button><button type="button" data-close>Cancel</button></div>
  </form>
</dialog>
<script nonce="${nonce}">${ADMIN_PAGE_SCRIPT}</script>
</body>
</html>
`;
}
