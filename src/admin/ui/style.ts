/**
 * The admin page's stylesheet, inlined under the page's CSP nonce. Colours are picked for at least
 * 4.5:1 contrast of text on its background (WCAG AA); status is always spelled out, never shown
 * by colour alone. One column of cards on a phone, a grid on a wider screen.
 */
export const ADMIN_PAGE_STYLE = String.raw`
:root {
  color-scheme: light;
  --text: #1f2328; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa; --page: #ffffff;
  --accent: #0969da; --danger: #b42318;
  --ok: #116329; --ok-bg: #dafbe1; --alert: #7d4e00; --alert-bg: #fff8c5;
  --grace: #953800; --grace-bg: #fff1e5; --blocked: #a40e26; --blocked-bg: #ffebe9;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 16px; line-height: 1.45; color: var(--text); background: var(--page);
}
* { box-sizing: border-box; }
body { margin: 0; }
h1, h2, h3 { line-height: 1.2; margin: 0; }
h1 { font-size: 1.25rem; }
h2 { font-size: 1.15rem; }
h3 { font-size: 1.05rem; overflow-wrap: anywhere; }
.topbar { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .75rem 1rem;
  border-bottom: 1px solid var(--line); background: var(--panel); }
.topbar h1 { margin-right: auto; }
.topbar p { margin: 0; color: var(--muted); font-size: .9rem; }
main { padding: 1rem; max-width: 90rem; margin: 0 auto; }
section { margin-bottom: 2rem; }
.section-head { display: flex; flex-wrap: wrap; align-items: end; gap: .5rem 1rem; margin-bottom: .75rem; }
.section-head h2 { margin-right: auto; }
.section-head h2:focus { outline: none; }
label { font-weight: 600; }
.inline-field { display: flex; flex-direction: column; gap: .15rem; font-size: .9rem; flex: 1 1 12rem; max-width: 20rem; }
input, select, textarea, button { font: inherit; color: inherit; }
input, select, textarea { border: 1px solid #8c959f; border-radius: 6px; padding: .4rem .55rem; background: var(--page);
  width: 100%; min-height: 2.5rem; }
textarea { min-height: 5rem; resize: vertical; }
button { border: 1px solid #8c959f; border-radius: 6px; padding: .4rem .8rem; background: var(--panel);
  cursor: pointer; min-height: 2.5rem; }
button.primary { background: var(--accent); border-color: var(--accent); color: #ffffff; }
button.danger { background: var(--danger); border-color: var(--danger); color: #ffffff; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
[aria-invalid="true"] { border-color: var(--danger); border-width: 2px; }
.help { margin: .2rem 0 0; color: var(--muted); font-size: .875rem; }
.error { margin: .2rem 0 0; color: var(--danger); font-weight: 600; font-size: .9rem; }
.error:empty, .notice:empty { display: none; }
.notice { padding: .6rem .8rem; border: 1px solid var(--blocked); background: var(--blocked-bg);
  color: var(--blocked); border-radius: 6px; }
.sign-in { max-width: 28rem; }
.field { margin-bottom: .9rem; display: flex; flex-direction: column; gap: .2rem; }
.check { display: flex; gap: .5rem; align-items: center; font-weight: 400; margin-bottom: .9rem; }
.check input { width: auto; min-height: 0; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; }
.tenants { list-style: none; margin: 0; padding: 0; display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 24rem), 1fr)); }
.tenant { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; display: flex; flex-direction: column; gap: .75rem; }
.budgets { display: flex; flex-direction: column; gap: .6rem; }
.tenant-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem .75rem; }
.tenant-head .name { color: var(--muted); margin-right: auto; overflow-wrap: anywhere; }
.status { font-weight: 700; font-size: .85rem; padding: .1rem .55rem; border-radius: 999px; border: 1px solid currentColor; }
.status-ok { color: var(--ok); background: var(--ok-bg); }
.status-alert { color: var(--alert); background: var(--alert-bg); }
.status-grace { color: var(--grace); background: var(--grace-bg); }
.status-blocked { color: var(--blocked); background: var(--blocked-bg); }
.budget-figures { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 .75rem; font-size: .95rem; }
.meter { position: relative; height: 1rem; margin: .35rem 0; border-radius: 4px; background: #eaeef2;
  border: 1px solid #8c959f; overflow: hidden; }
.meter .fill { position: absolute; inset: 0 auto 0 0; background: var(--ok); }
.meter.alert .fill { background: #9a6700; }
.meter.grace .fill { background: var(--grace); }
.meter.blocked .fill { background: var(--blocked); }
.meter .mark { position: absolute; top: 0; bottom: 0; width: 2px; background: var(--text); box-shadow: 0 0 0 1px #ffffff; }
.meter .mark.block { width: 3px; background: var(--blocked); }
.lines { margin: 0; color: var(--muted); font-size: .875rem; }
dl.facts { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: .2rem .75rem; font-size: .95rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.audit { list-style: none; margin: 0; padding: 0; border-top: 1px solid var(--line); }
.audit li { padding: .5rem 0; border-bottom: 1px solid var(--line); display: grid; gap: .1rem; }
.audit .event { font-weight: 700; }
.audit .meta, .audit .details { color: var(--muted); font-size: .875rem; overflow-wrap: anywhere; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1.25rem; width: min(32rem, calc(100vw - 2rem)); }
dialog::backdrop { background: rgb(31 35 40 / 45%); }
dialog h2 { margin-bottom: .75rem; }
.empty { color: var(--muted); }
@media (max-width: 40rem) { .section-head h2 { flex-basis: 100%; } .inline-field { max-width: none; } }
`;
