// Administration, one tab per concern, the tab in the URL (`?tab=`): step modules, teams, model
// providers, tokens, kill switches and the audit log.

import {
  h, fill, api, session, link, time, bytes, count, jsonView, errorBox, empty, header, facts,
  table, actionButton, qs,
} from './lib.js';
import { pager, parseStack, stackText, follow } from './executions.js';

const TABS = [
  ['modules', 'Step modules'],
  ['teams', 'Teams'],
  ['providers', 'LLM providers'],
  ['tokens', 'Tokens'],
  ['switches', 'Kill switches'],
  ['audit', 'Audit log'],
];
const PANELS = { modules, teams, providers, tokens, switches, audit };
const enc = encodeURIComponent;

/** `/ui/admin`: the tabs, the chosen one's panel below. */
export async function show(params, query, ctx) {
  let tab = PANELS[query.tab] ? query.tab : 'modules';
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel', tabindex: '0' });
  const tabs = TABS.map(([id, label]) => h('button', {
    type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': 'admin-panel', class: 'tab',
    onclick: () => select(id, false),
  }, label));
  panel.id = 'admin-panel';
  const list = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Administration', onkeydown: keys });
  list.append(...tabs);
  let panelCtl = null; // aborts the previous panel's fetches and live updates

  // Arrow keys move between tabs (and select), Home and End go to the ends.
  function keys(e) {
    const i = TABS.findIndex(([id]) => id === tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    select(TABS[(to + TABS.length) % TABS.length][0], true);
  }

  async function select(id, focus, first = false) {
    tab = id;
    tabs.forEach((t, i) => {
      const on = TABS[i][0] === id;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
    });
    if (focus) tabs[TABS.findIndex(([t]) => t === id)].focus();
    panel.setAttribute('aria-labelledby', `tab-${id}`);
    if (!first) {
      // Another tab: a fresh URL query (each tab keeps its own parameters).
      history.replaceState(null, '', `/ui/admin${qs({ tab: id === 'modules' ? '' : id })}`);
      query = {};
    }
    if (panelCtl) panelCtl.abort();
    panelCtl = new AbortController();
    ctx.signal.addEventListener('abort', () => panelCtl.abort(), { once: true });
    const signal = panelCtl.signal;
    if (!first) fill(panel, h('p', { class: 'loading' }, 'Loading…'));
    try {
      const node = await PANELS[id](query, { signal });
      if (!signal.aborted) fill(panel, node);
    } catch (e) {
      if (!signal.aborted && e.name !== 'AbortError') fill(panel, errorBox(e));
    }
  }

  await select(tab, false, true);
  return h('div', { class: 'admin-page' }, header('Admin'), list, panel);
}

/** Set one of the current tab's URL parameters (keeping the tab). */
function setParams(params) {
  const cur = Object.fromEntries(new URLSearchParams(location.search));
  history.replaceState(null, '', `/ui/admin${qs({ ...cur, ...params })}`);
}

// ---- Step modules ---------------------------------------------------------------------------

async function modules(query, { signal }) {
  const root = h('div', {});
  const detail = h('div', { class: 'module-detail' });
  const r = await api('GET', '/v1/steps', { signal });
  const list = r.steps || [];
  const open = async (name) => {
    setParams({ module: name });
    fill(detail, h('p', { class: 'loading' }, `Loading ${name}…`));
    try {
      fill(detail, moduleDetail(await api('GET', `/v1/steps/${enc(name)}`, { signal }), () => { setParams({ module: '' }); fill(detail); }));
      detail.querySelector('h2')?.focus();
    } catch (e) {
      if (!signal.aborted) fill(detail, errorBox(e));
    }
  };
  if (!list.length) {
    return empty('No step modules yet.', 'Upload one with ', h('code', {}, 'flowbox step upload NAME FILE.wasm'), ' (or ', h('code', {}, 'PUT /v1/steps/NAME'), ').');
  }
  root.append(
    h('p', { class: 'muted' }, 'WebAssembly components workflows run as action steps, with the capabilities granted to each.'),
    table([
      { label: 'Module', cell: (m) => h('button', { type: 'button', class: 'btn link', onclick: () => open(m.name) }, m.name) },
      { label: 'Grants', cell: (m) => grants(m.grants) },
      { label: 'HTTP hosts', cell: (m) => (m.http_hosts || []).length ? m.http_hosts.map((x) => h('code', { class: 'chip' }, x)) : h('span', { class: 'muted' }, '—') },
      { label: 'Hash', cell: (m) => h('code', { title: m.hash }, (m.hash || '').slice(0, 12)) },
      { label: 'Size', class: 'c-num', cell: (m) => bytes(m.info && m.info.size) },
      { label: 'Uploaded', class: 'c-time', cell: (m) => time(m.created_at) },
    ], list),
    detail);
  if (query.module) open(query.module);
  return root;
}

function grants(list) {
  return (list || []).length ? h('ul', { class: 'chips' }, list.map((g) => h('li', { class: 'chip' }, g))) : h('span', { class: 'muted' }, 'none');
}

function moduleDetail(m, close) {
  return h('section', { class: 'section', 'aria-labelledby': 'module-h' },
    h('div', { class: 'section-head' },
      h('h2', { id: 'module-h', tabindex: '-1' }, 'Module ', h('code', {}, m.name)),
      h('button', { type: 'button', class: 'btn', onclick: close }, 'Close')),
    facts([
      ['Grants', grants(m.grants)],
      ['HTTP hosts', (m.http_hosts || []).length ? m.http_hosts.map((x) => h('code', { class: 'chip' }, x)) : h('span', { class: 'muted' }, 'none')],
      ['Hash', h('code', { class: 'wrap' }, m.hash)],
      ['Size', bytes(m.info && m.info.size)],
      ['Uploaded', time(m.created_at)],
      ['Used by', (m.used_by || []).length ? h('ul', { class: 'plain' }, m.used_by.map((u) => h('li', {}, usedBy(u)))) : h('span', { class: 'muted' }, 'no workflow')],
    ]),
    h('h3', {}, `Versions (${(m.versions || []).length})`),
    table([
      { label: 'Hash', cell: (v) => h('code', { class: 'wrap' }, v.hash) },
      { label: 'Uploaded', class: 'c-time', cell: (v) => time(v.created_at) },
    ], m.versions || []),
    m.info && m.info.imports ? [h('h3', {}, 'Imports'), h('ul', { class: 'plain mono' }, m.info.imports.map((i) => h('li', {}, i.name || JSON.stringify(i))))] : null,
    m.info && m.info.exports ? [h('h3', {}, 'Exports'), h('ul', { class: 'plain mono' }, m.info.exports.map((x) => h('li', {}, String(x))))] : null);
}

/** A workflow that uses a module: a name, or `{workflow, version, step}`. */
function usedBy(u) {
  if (typeof u === 'string') return link(`/ui/workflows/${enc(u)}`, u);
  const name = u.workflow || u.name;
  if (!name) return JSON.stringify(u);
  return [link(`/ui/workflows/${enc(name)}${u.version ? `?version=${u.version}` : ''}`, u.version ? `${name}@${u.version}` : name),
    u.step ? h('span', { class: 'muted' }, ` step ${u.step}`) : null,
    u.steps ? h('span', { class: 'muted' }, ` steps ${[].concat(u.steps).join(', ')}`) : null];
}

// ---- Teams ----------------------------------------------------------------------------------

async function teams(query, { signal }) {
  const r = await api('GET', '/v1/teams', { signal });
  const list = r.teams || [];
  if (!list.length) return empty('No teams yet.', 'Create one with ', h('code', {}, 'PUT /v1/teams/NAME {"members": ["ana", "ben"]}'), '.');
  return table([
    { label: 'Team', cell: (t) => h('strong', {}, t.name) },
    { label: 'Members (round-robin order)', cell: (t) => h('ol', { class: 'chips' }, (t.members || []).map((m) => h('li', { class: 'chip' }, m))) },
    { label: 'Channels', cell: (t) => h('ul', { class: 'chips' }, (t.channels || []).map((c) => h('li', { class: 'chip' }, c))) },
    { label: 'Picks made', class: 'c-num', cell: (t) => count(t.rotation) },
    { label: 'Updated', class: 'c-time', cell: (t) => time(t.updated_at) },
  ], list);
}

// ---- LLM providers --------------------------------------------------------------------------

async function providers(query, { signal }) {
  const r = await api('GET', '/v1/llm/providers', { signal });
  const list = r.providers || [];
  if (!list.length) return empty('No model providers yet.', 'Add one with ', h('code', {}, 'PUT /v1/llm/providers/NAME'), ' (its key comes from an environment variable of the server).');
  const opt = (v) => (v === null || v === undefined ? h('span', { class: 'muted' }, '—') : count(v));
  return [
    h('p', { class: 'muted' }, 'Keys are never shown: the server only says whether one is set.'),
    table([
      { label: 'Provider', cell: (p) => h('strong', {}, p.name) },
      { label: 'Base URL', cell: (p) => h('code', {}, p.base_url) },
      { label: 'Key', cell: (p) => [p.api_key_set ? h('span', { class: 'badge status-completed' }, 'set') : h('span', { class: 'badge status-failed' }, 'not set'),
        p.api_key_env ? h('span', { class: 'muted small' }, ' from ', h('code', {}, p.api_key_env)) : null] },
      { label: 'Default model', cell: (p) => h('code', {}, p.default_model) },
      { label: 'Transcription', cell: (p) => (p.transcription_model ? h('code', {}, p.transcription_model) : h('span', { class: 'muted' }, 'whisper-1')) },
      { label: 'Timeout', class: 'c-num', cell: (p) => (p.timeout_ms ? `${count(p.timeout_ms)} ms` : '—') },
      { label: 'Retries', class: 'c-num', cell: (p) => opt(p.max_retries) },
      { label: 'Req/min', class: 'c-num', cell: (p) => opt(p.requests_per_minute) },
      { label: 'Daily tokens / workflow', class: 'c-num', cell: (p) => opt(p.workflow_daily_tokens) },
      { label: 'Updated', class: 'c-time', cell: (p) => time(p.updated_at) },
    ], list),
  ];
}

// ---- Tokens ---------------------------------------------------------------------------------

async function tokens(query, { signal }) {
  const listEl = h('div', {});
  const created = h('div', { 'aria-live': 'polite' });
  const reload = async () => {
    const r = await api('GET', '/v1/tokens', { signal });
    fill(listEl, tokensTable(r.tokens || [], reload));
  };
  const name = h('input', { id: 'tok-name', name: 'name', required: true, maxlength: '100', autocomplete: 'off', placeholder: 'ci' });
  const role = h('select', { id: 'tok-role', name: 'role' }, ['client', 'developer', 'admin'].map((r) => h('option', { value: r }, r)));
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Create token');
  const form = h('form', {
    class: 'filters',
    'aria-label': 'Create a token',
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        const t = await api('POST', '/v1/tokens', { body: { name: name.value.trim(), role: role.value } });
        fill(created, newToken(t));
        name.value = '';
        await reload();
      } catch (err) {
        fill(created, errorBox(err));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'tok-name' }, 'Name'), name),
  h('div', { class: 'field' }, h('label', { for: 'tok-role' }, 'Role'), role),
  h('div', { class: 'field field-actions' }, submit));
  await reload();
  return [h('h2', {}, 'New token'), form, created, h('h2', {}, 'Tokens'), listEl];
}

/** A token just made: shown this once, with a copy button. */
function newToken(t) {
  const out = h('input', { type: 'text', readonly: true, value: t.token, class: 'token-value mono', id: 'new-token', 'aria-label': 'The new token', onfocus: (e) => e.target.select() });
  const copied = h('span', { class: 'muted', role: 'status' });
  const copy = h('button', {
    type: 'button', class: 'btn',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(t.token);
        copied.textContent = ' Copied.';
      } catch (e) {
        out.select();
        copied.textContent = ' Press Ctrl+C to copy.';
      }
    },
  }, 'Copy');
  return h('div', { class: 'callout', role: 'alert' },
    h('p', {}, h('strong', {}, `Token “${t.name}” (${t.role}) created.`), ' It is shown only now: copy it before leaving this page (only its SHA-256 is kept).'),
    h('div', { class: 'token-row' }, out, copy, copied));
}

function tokensTable(list, reload) {
  if (!list.length) return empty('No tokens.', 'Create one above.');
  const me = session.me && session.me.id;
  return table([
    { label: 'Name', cell: (t) => [h('strong', {}, t.name), t.id === me ? h('span', { class: 'muted small' }, ' (you)') : null] },
    { label: 'Role', cell: (t) => h('span', { class: 'role' }, t.role) },
    { label: 'Id', cell: (t) => h('code', { class: 'small' }, t.id) },
    { label: 'Created', class: 'c-time', cell: (t) => time(t.created_at) },
    { label: 'Status', cell: (t) => (t.revoked_at ? [h('span', { class: 'badge status-cancelled' }, 'revoked'), ' ', time(t.revoked_at)] : h('span', { class: 'badge status-completed' }, 'active')) },
    {
      label: 'Actions',
      cell: (t) => (t.revoked_at ? null : actionButton('Revoke', async () => {
        const mine = t.id === me ? ' This is the token you are signed in with: you will be signed out.' : '';
        if (!window.confirm(`Revoke the token “${t.name}” (${t.role})? Clients using it are refused at once.${mine}`)) return;
        await api('DELETE', `/v1/tokens/${enc(t.id)}`);
        await reload();
      }, { kind: 'danger', title: `Revoke ${t.name}` })),
    },
  ], list);
}

// ---- Kill switches --------------------------------------------------------------------------

async function switches(query, { signal }) {
  const root = h('div', { class: 'switches' });
  const message = h('div', { 'aria-live': 'polite' });
  const problem = h('div', { class: 'problem' });
  let last = null;
  const render = async () => {
    const [global, workflows] = await Promise.allSettled([
      api('GET', '/v1/kill-switch', { signal }),
      api('GET', '/v1/workflows', { signal }),
    ]);
    if (signal.aborted) return;
    // Redraw only on a change, so that a button about to be clicked stays.
    const sig = JSON.stringify([global.value, workflows.value, global.reason && global.reason.message, workflows.reason && workflows.reason.message]);
    if (sig === last) return;
    last = sig;
    fill(root,
      problem,
      global.status === 'fulfilled' ? globalSwitch(global.value, render, message) : errorBox(global.reason),
      message,
      h('h2', {}, 'Per workflow'),
      workflows.status === 'fulfilled' ? workflowSwitches(workflows.value.workflows || [], render, message) : errorBox(workflows.reason));
  };
  await render();
  follow(signal, render, problem);
  return root;
}

function globalSwitch(answer, rerender, message) {
  const on = !!(answer.kill_switch ?? answer.on);
  const flip = actionButton(`Turn the global kill switch ${on ? 'off' : 'on'}`, async () => {
    const r = await api('PUT', '/v1/kill-switch', { body: { on: !on } });
    fill(message, h('p', { class: 'callout' }, r.message || `The global kill switch is ${r.kill_switch ? 'on' : 'off'}.`));
    await rerender();
  }, { kind: on ? 'primary' : 'danger' });
  return h('section', { class: `kill-switch ${on ? 'is-on' : 'is-off'}`, 'aria-labelledby': 'ks-h' },
    h('h2', { id: 'ks-h' }, 'Global kill switch: ', h('span', { class: 'ks-state', 'data-test': 'kill-switch-state' }, on ? 'ON' : 'OFF')),
    h('p', {}, on
      ? 'Every workflow refuses new starts; unfinished executions pause before their next step. Turning it off resumes what it paused.'
      : 'Workflows start normally. Turning it on refuses new starts everywhere and pauses unfinished executions before their next step.'),
    flip);
}

function workflowSwitches(list, rerender, message) {
  if (!list.length) return empty('No workflows.', 'Save one first.');
  return table([
    { label: 'Workflow', cell: (w) => link(`/ui/workflows/${enc(w.name)}`, w.name) },
    { label: 'Triggers', cell: (w) => (w.enabled ? 'on' : h('span', { class: 'muted' }, 'switched off')) },
    { label: 'Kill switch', cell: (w) => (w.kill_switch ? h('span', { class: 'badge status-failed' }, 'ON') : h('span', { class: 'muted' }, 'off')) },
    {
      label: 'Actions',
      cell: (w) => {
        const b = actionButton(w.kill_switch ? 'Turn off' : 'Turn on', async () => {
          const r = await api('PUT', `/v1/workflows/${enc(w.name)}/kill-switch`, { body: { on: !w.kill_switch } });
          fill(message, h('p', { class: 'callout' }, `${w.name}: ${r.message || (r.kill_switch ? 'on' : 'off')}`));
          await rerender();
        }, { kind: w.kill_switch ? '' : 'danger' });
        b.setAttribute('aria-label', `Turn ${w.kill_switch ? 'off' : 'on'} the kill switch of ${w.name}`);
        return b;
      },
    },
  ], list);
}

// ---- Audit log ------------------------------------------------------------------------------

async function audit(query, { signal }) {
  const state = { action: query.action || '', actor: query.actor || '', stack: parseStack(query.cursor), next: null, seq: 0 };
  const problem = h('div', { class: 'problem' });
  const results = h('div', {});
  const pages = pager({
    onPrev: () => { state.stack.pop(); sync(); load(); },
    onNext: () => { if (state.next) { state.stack.push(state.next); sync(); load(); } },
  });
  const action = h('input', { id: 'a-action', name: 'action', type: 'search', value: state.action, placeholder: 'workflow, token.create…', autocomplete: 'off' });
  const actor = h('input', { id: 'a-actor', name: 'actor', type: 'search', value: state.actor, placeholder: 'token id or name', autocomplete: 'off' });
  const form = h('form', {
    class: 'filters', role: 'search', 'aria-label': 'Filter the audit log',
    onsubmit: (e) => {
      e.preventDefault();
      state.action = action.value.trim();
      state.actor = actor.value.trim();
      state.stack = [];
      sync();
      load();
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'a-action' }, 'Action (or family)'), action),
  h('div', { class: 'field' }, h('label', { for: 'a-actor' }, 'Actor'), actor),
  h('div', { class: 'field field-actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Filter')));

  function sync() {
    setParams({ action: state.action, actor: state.actor, cursor: stackText(state.stack) });
  }

  async function load() {
    const mine = ++state.seq;
    pages.busy(true);
    try {
      const r = await api('GET', '/v1/audit', {
        query: { action: state.action, actor: state.actor, limit: 100, cursor: state.stack[state.stack.length - 1] },
        signal,
      });
      if (mine !== state.seq) return;
      const rows = r.entries || [];
      state.next = r.next_cursor || null;
      fill(problem);
      fill(results, rows.length ? auditTable(rows) : empty('No audit entries match.', state.action || state.actor ? 'Change the filter.' : 'Admin actions appear here.'));
      pages.set({ page: state.stack.length + 1, hasPrev: state.stack.length > 0, hasNext: !!state.next, shown: rows.length });
    } catch (e) {
      if (mine === state.seq && !signal.aborted && e.name !== 'AbortError') fill(problem, errorBox(e));
    } finally {
      if (mine === state.seq) pages.busy(false);
    }
  }
  await load();
  return [form, problem, results, pages.el];
}

function auditTable(rows) {
  const wrap = table([
    { label: 'When', class: 'c-time', cell: (a) => time(a.at) },
    { label: 'Actor', cell: (a) => actor(a.actor) },
    { label: 'Action', cell: (a) => h('code', {}, a.action) },
    { label: 'Target', cell: (a) => h('code', { class: 'clip', title: a.target }, a.target) },
    { label: 'Detail', class: 'c-detail', cell: (a) => compactJson(a.detail) },
  ], rows);
  wrap.classList.add('audit-table');
  return wrap;
}

/** `token:ID (name)` as the name, the id on hover. */
function actor(text) {
  const m = /^token:(\S+) \((.*)\)$/.exec(text || '');
  if (!m) return text;
  return h('span', { title: `token ${m[1]}` }, m[2]);
}

/** JSON on one line, unfolding into the indented form when it is long. */
function compactJson(v) {
  if (v === null || v === undefined) return '';
  const line = JSON.stringify(v);
  if (line.length <= 90) return h('code', { class: 'json-line' }, line);
  return h('details', { class: 'json-fold' }, h('summary', {}, h('code', { class: 'json-line' }, `${line.slice(0, 88)}…`)), jsonView(v));
}
