// The console's shell: sign-in, the navigation, and the router that maps each URL under /ui/ to
// a page module. Every view has its own URL, so it can be shared and reloaded.

import { h, fill, api, session, can, go, link, errorBox, ApiError } from './lib.js';
import * as executions from './executions.js';
import * as workflows from './workflows.js';
import * as editor from './editor.js';
import * as records from './records.js';
import * as admin from './admin.js';

// [pattern, page, least role]. `:name` matches one path segment.
const ROUTES = [
  ['/ui/executions', executions.list, 'client'],
  ['/ui/executions/:id', executions.show, 'client'],
  ['/ui/workflows', workflows.list, 'client'],
  ['/ui/workflows/new', editor.show, 'developer'],
  ['/ui/workflows/:name', workflows.show, 'client'],
  ['/ui/workflows/:name/edit', editor.show, 'developer'],
  ['/ui/records', records.objects, 'client'],
  ['/ui/records/:object', records.list, 'client'],
  ['/ui/records/:object/:id', records.show, 'client'],
  ['/ui/admin', admin.show, 'admin'],
];

const NAV = [
  ['/ui/executions', 'Executions', 'client'],
  ['/ui/workflows', 'Workflows', 'client'],
  ['/ui/records', 'Records', 'client'],
  ['/ui/admin', 'Admin', 'admin'],
];

const root = document.getElementById('app');

// Errors the page met, kept for the browser tests (which fail on any) and for a look in devtools.
window.__errors = [];
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason && e.reason.message ? e.reason.message : e.reason)));
let leave = null; // aborts the current page's live updates when another page opens

function match(path) {
  const parts = path.replace(/\/+$/, '').split('/');
  for (const [pattern, page, role] of ROUTES) {
    const want = pattern.split('/');
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length; i += 1) {
      if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(parts[i]);
      else if (want[i] !== parts[i]) { ok = false; break; }
    }
    if (ok) return { page, params, role };
  }
  return null;
}

async function route() {
  if (leave) leave.abort();
  leave = new AbortController();
  const signal = leave.signal;
  const path = location.pathname;
  if (!session.token) return signIn();
  if (!session.me) {
    try {
      session.me = await api('GET', '/v1/whoami', { noSignOut: true });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { session.token = null; return signIn('That token was not accepted (unknown or revoked).'); }
      return fill(root, shell(h('main', { id: 'main' }, errorBox(e))));
    }
  }
  if (path === '/ui' || path === '/ui/' || path === '/ui/signin') return go('/ui/executions', { replace: true });
  const m = match(path);
  const main = h('main', { id: 'main', tabindex: '-1' });
  fill(root, shell(main));
  if (!m) {
    fill(main, h('h1', {}, 'Not found'), h('p', {}, 'The console has no page at ', h('code', {}, path), '. ', link('/ui/executions', 'Go to the executions.')));
    return;
  }
  if (!can(m.role)) {
    fill(main, h('h1', {}, 'Not allowed'), h('p', {}, `This page needs a ${m.role} token; yours is ${session.me.role}.`));
    return;
  }
  const query = Object.fromEntries(new URLSearchParams(location.search));
  try {
    const node = await m.page(m.params, query, { signal, main });
    if (!signal.aborted && node) fill(main, node);
  } catch (e) {
    if (!signal.aborted && e.name !== 'AbortError') fill(main, errorBox(e));
  }
  document.title = `${(main.querySelector('h1') || {}).textContent || 'flowbox'} · flowbox`;
}

function shell(main) {
  const here = location.pathname;
  return [
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '/ui/executions', onclick: (e) => { e.preventDefault(); go('/ui/executions'); } }, 'flowbox'),
      h('nav', { 'aria-label': 'Main' }, NAV.filter(([, , role]) => can(role)).map(([href, label]) => {
        const a = link(href, label);
        if (here.startsWith(href)) a.setAttribute('aria-current', 'page');
        return a;
      })),
      h('div', { class: 'who' },
        h('span', { class: 'who-name', title: `token ${session.me.id}` }, session.me.name, ' · ', h('span', { class: 'role' }, session.me.role)),
        h('button', { type: 'button', class: 'btn link', onclick: signOut }, 'Sign out'))),
    main,
  ];
}

function signOut() {
  session.token = null;
  session.me = null;
  history.pushState(null, '', '/ui/signin');
  signIn();
}

function signIn(problem) {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, placeholder: 'fbx_…', 'aria-describedby': 'token-help' });
  const out = h('div', { 'aria-live': 'polite' }, problem ? h('div', { class: 'error', role: 'alert' }, problem) : null);
  const form = h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    session.token = input.value.trim();
    try {
      session.me = await api('GET', '/v1/whoami', { noSignOut: true });
    } catch (err) {
      session.token = null;
      fill(out, err instanceof ApiError && err.status === 401
        ? h('div', { class: 'error', role: 'alert' }, 'That token was not accepted (unknown or revoked).')
        : errorBox(err));
      return;
    }
    const back = location.pathname.startsWith('/ui/') && location.pathname !== '/ui/signin' ? location.pathname + location.search : '/ui/executions';
    go(back, { replace: true });
  } },
  h('h1', {}, 'Sign in to flowbox'),
  h('label', { for: 'token' }, 'API token'),
  input,
  h('p', { id: 'token-help', class: 'muted' }, 'Kept for this browser tab only. ', h('code', {}, 'scripts/demo.sh'), ' prints one; admins make more with ', h('code', {}, 'flowbox token create NAME --role client'), '.'),
  h('button', { type: 'submit', class: 'btn primary' }, 'Sign in'),
  out);
  fill(root, h('main', { id: 'main', class: 'signin-page' }, form));
  input.focus();
}

window.addEventListener('popstate', route);
window.addEventListener('flowbox:navigate', route);
window.addEventListener('flowbox:signed-out', () => signIn('Your token is no longer accepted: sign in again.'));
route();
