// Shared helpers of the console: DOM building, the API client, times, and small widgets.
// Every page builds its DOM with `h`; nothing is written as HTML text, so nothing a step or a
// user wrote can become markup.

const TOKEN_KEY = 'flowbox.token';

/** The signed-in session: the token (kept for this browser session only) and who it is. */
export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); },
  /** `{id, name, role}` from `GET /v1/whoami`, set by the app once signed in. */
  me: null,
};

const RANK = { client: 1, developer: 2, admin: 3 };

/** Whether the signed-in token has at least `role` (`client`, `developer`, `admin`). */
export function can(role) {
  return !!session.me && RANK[session.me.role] >= RANK[role];
}

/**
 * Build an element. `attrs`: properties and attributes; `on*` functions become listeners,
 * `class`, `style` (an object), `dataset` (an object), booleans toggle attributes.
 * Children: nodes, strings (as text), numbers, arrays (flattened), null/undefined/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && !svg) el.value = v;
    else if (k === 'checked' && !svg) el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

const SVG_TAGS = new Set(['svg', 'g', 'rect', 'line', 'path', 'text', 'circle', 'polygon', 'defs', 'marker', 'title', 'tspan']);

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An error the API answered: `status`, `code`, `message`, `details`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * Call the API. `opts`: `query` (an object; empty values dropped), `body` (JSON, or a string sent
 * as is with `contentType`), `signal`. Answers the parsed JSON; throws `ApiError`. A 401 signs out.
 */
export async function api(method, path, opts = {}) {
  const url = path + qs(opts.query);
  const headers = { Authorization: `Bearer ${session.token || ''}` };
  let body;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string') {
      body = opts.body;
      headers['Content-Type'] = opts.contentType || 'text/plain';
    } else {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', `the server could not be reached (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && !opts.noSignOut) {
      session.token = null;
      session.me = null;
      window.dispatchEvent(new CustomEvent('flowbox:signed-out'));
    }
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.details);
  }
  return data;
}

/** `?a=1&b=2` from an object (skipping empty values), or ''. */
export function qs(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Go to a console URL (`/ui/...`) without reloading. */
export function go(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new CustomEvent('flowbox:navigate'));
}

/** A link inside the console (followed without a reload; a new tab works too). */
export function link(href, ...children) {
  return h('a', {
    href,
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(href);
    },
  }, ...children);
}

/** A time in the browser's zone, with UTC on hover. `t`: RFC 3339 text or null. */
export function time(t) {
  if (!t) return h('span', { class: 'muted' }, '—');
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(t));
  const local = d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  return h('time', { datetime: t, title: `${d.toISOString()} (UTC)` }, local);
}

/** A duration in ms as `850 ms`, `2.4 s`, `3 min 05 s`, `2 h 10 min`, `3 d 4 h`. */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/** A byte count as `512 B`, `3.2 KiB`, `12 MiB`. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** A large count with separators. */
export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString();
}

/** JSON shown as indented text (collapsed when long). */
export function jsonView(value, { label } = {}) {
  if (value === undefined) return h('span', { class: 'muted' }, '—');
  const text = JSON.stringify(value, null, 2);
  const pre = h('pre', { class: 'json' }, text);
  if (text.length < 600) return pre;
  return h('details', { class: 'json-long' }, h('summary', {}, label || `JSON (${bytes(text.length)})`), pre);
}

/** A status as a coloured badge. */
export function badge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

/** An API error shown to the user: its message, code and details. */
export function errorBox(err) {
  if (!(err instanceof ApiError)) {
    return h('div', { class: 'error', role: 'alert' }, String(err && err.message ? err.message : err));
  }
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, err.message),
    h('span', { class: 'code' }, ` (${err.code})`),
    Array.isArray(err.details) && err.details.length
      ? h('ul', {}, err.details.map((d) => h('li', {}, d.path ? h('code', {}, d.path) : null, d.path ? ': ' : null, d.message || JSON.stringify(d))))
      : null);
}

/** An empty state: what is missing and what to do next. */
export function empty(title, ...hint) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', {}, ...hint));
}

/** A page title and an optional row of actions. */
export function header(title, ...actions) {
  return h('div', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'actions' }, ...actions));
}

/** A two-column list of facts: [[label, value], ...]. */
export function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A table: `cols` [{label, cell(row) -> node}], `rows`. */
export function table(cols, rows, { rowAttrs } = {}) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, cols.map((c) => h('td', { class: c.class }, c.cell(r))))))));
}

/** A button that runs `action`, disabled while it runs, showing an error beside it if it fails. */
export function actionButton(label, action, { kind = '', title } = {}) {
  const btn = h('button', { type: 'button', class: `btn ${kind}`, title });
  btn.textContent = label;
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    const prev = btn.nextElementSibling;
    if (prev && prev.classList.contains('inline-error')) prev.remove();
    try {
      await action();
    } catch (e) {
      btn.after(h('span', { class: 'inline-error', role: 'alert' }, e.message || String(e)));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

/**
 * Call `onChange` each time the server commits something, until `signal` aborts: a long poll on
 * `GET /v1/changes` (no reload loop). At most once a second, so a busy server does not make the
 * console refetch all the time.
 */
export async function watchChanges(signal, onChange) {
  let after = null;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      const r = await api('GET', '/v1/changes', { query: { after, wait: 25 }, signal });
      const changed = after !== null && r.version !== after;
      after = r.version;
      if (changed && !signal.aborted) await onChange();
    } catch (e) {
      if (signal.aborted || e.name === 'AbortError') return;
      await sleep(3000, signal);
    }
    const spent = Date.now() - started;
    if (spent < 1000) await sleep(1000 - spent, signal);
  }
}

/** Resolve after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** Wait `ms` after the last call before running `fn` (for validation as you type). */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
