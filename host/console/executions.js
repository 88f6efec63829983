// The executions: a filtered, paged list bound to the URL, and one execution with its timeline,
// its step runs and the actions a client may take on it. Both follow the server live.
// Also exports the small pieces records.js and admin.js share (paging, record links, the
// executions table), since the console serves only its listed files.

import {
  h, fill, api, can, link, time, duration, bytes, count, jsonView, badge, errorBox, empty,
  header, facts, table, actionButton, watchChanges, debounce, qs,
} from './lib.js';
import { timeline } from './timeline.js';

const STATUSES = ['queued', 'running', 'waiting', 'paused', 'completed', 'failed', 'cancelled'];
const CAUSES = ['api', 'trigger', 'schedule', 'webhook', 'workflow'];
const ENDED = new Set(['completed', 'failed', 'cancelled']);
const FILTERS = ['workflow', 'status', 'record_object', 'record_id', 'since', 'until', 'cause'];
const PAGE = 50;

const enc = encodeURIComponent;

// ---- Shared helpers -------------------------------------------------------------------------

/** An id shortened for tables (a UUIDv7 starts with its time: keep both ends), full on hover. */
export function shortId(id) {
  const s = String(id || '');
  return s.length > 16 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s;
}

/** A link to a record's page, or a dash. `r`: `{object, id}`. */
export function recordLink(r) {
  if (!r || !r.object) return h('span', { class: 'muted' }, '—');
  return link(`/ui/records/${enc(r.object)}/${enc(r.id)}`, `${r.object}/${r.id}`);
}

/** A link to an execution, shown by its short id. */
export function executionLink(id) {
  if (!id) return h('span', { class: 'muted' }, '—');
  const a = link(`/ui/executions/${enc(id)}`, h('code', {}, shortId(id)));
  a.title = id;
  a.setAttribute('aria-label', `execution ${id}`);
  return a;
}

/**
 * The stack of cursors behind the current page, kept in the URL's `cursor` (each cursor
 * escaped, joined by commas): the last one loads this page, popping one goes back.
 */
export function parseStack(text) {
  return text ? text.split(',').filter(Boolean).map(decodeURIComponent) : [];
}

export function stackText(stack) {
  return stack.length ? stack.map(enc).join(',') : '';
}

/** Previous / Next buttons and the page number, with a live status line in reserved space. */
export function pager({ onPrev, onNext }) {
  const prev = h('button', { type: 'button', class: 'btn', onclick: onPrev }, '← Previous');
  const next = h('button', { type: 'button', class: 'btn', onclick: onNext }, 'Next →');
  const where = h('span', { class: 'pager-where muted' });
  const status = h('span', { class: 'pager-status muted', role: 'status', 'aria-live': 'polite' });
  prev.disabled = true;
  next.disabled = true;
  const el = h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, where, next, status);
  return {
    el,
    set({ page, hasPrev, hasNext, shown }) {
      prev.disabled = !hasPrev;
      next.disabled = !hasNext;
      where.textContent = `Page ${page}${shown !== undefined ? ` · ${count(shown)} shown` : ''}`;
    },
    busy(on) { status.textContent = on ? 'Loading…' : ''; },
  };
}

/**
 * Swap `fresh` (a `.table-wrap` built by `table()` with keyed rows) into `current` without
 * blanking it: rows whose key and signature are unchanged stay (so focus and scroll stay), the
 * others are replaced. Answers the node that is now in the page.
 */
export function patchTable(current, fresh) {
  if (!current || !current.isConnected || !current.querySelector('tbody')) {
    if (current && current.parentNode) current.replaceWith(fresh);
    return fresh;
  }
  const body = current.querySelector('tbody');
  const keep = new Map([...body.children].map((tr) => [tr.dataset.key, tr]));
  const want = [...fresh.querySelector('tbody').children].map((tr) => {
    const old = keep.get(tr.dataset.key);
    if (!old || old.dataset.sig !== tr.dataset.sig) return tr;
    // Same row: only cells that tick (an elapsed time) are refreshed.
    old.querySelectorAll('td.live').forEach((td, i) => fill(td, ...tr.querySelectorAll('td.live')[i].childNodes));
    return old;
  });
  for (const tr of [...body.children]) if (!want.includes(tr)) tr.remove();
  want.forEach((tr, i) => {
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  return current;
}

/** How long something has taken so far; `tick` keeps it current. */
export function soFar(since) {
  const start = Date.parse(since);
  return h('span', { class: 'muted', dataset: { since: String(start) } }, `${duration(Math.max(0, Date.now() - start))} so far`);
}

/** Every second, bring the `soFar` times under `root` up to date, until `signal` aborts. */
export function tick(root, signal) {
  const t = setInterval(() => {
    root.querySelectorAll('[data-since]').forEach((el) => {
      el.textContent = `${duration(Math.max(0, Date.now() - Number(el.dataset.since)))} so far`;
    });
  }, 1000);
  signal.addEventListener('abort', () => clearInterval(t), { once: true });
}

/** How long an execution took, or has taken so far. */
function took(e) {
  if (e.ended_at) return duration(Date.parse(e.ended_at) - Date.parse(e.created_at));
  return soFar(e.created_at);
}

/** The executions table (list page, record page). */
export function executionsTable(rows, { showRecord = true } = {}) {
  const cols = [
    { label: 'Execution', class: 'c-id', cell: (e) => executionLink(e.id) },
    { label: 'Workflow', class: 'c-wf', cell: (e) => link(`/ui/workflows/${enc(e.workflow)}?version=${e.version}`, `${e.workflow}@${e.version}`) },
    { label: 'Status', class: 'c-status', cell: (e) => statusCell(e) },
    showRecord && { label: 'Record', class: 'c-record', cell: (e) => recordLink(e.record) },
    { label: 'Cause', class: 'c-cause', cell: (e) => (e.cause && e.cause.kind) || h('span', { class: 'muted' }, '—') },
    { label: 'Created', class: 'c-time', cell: (e) => time(e.created_at) },
    { label: 'Duration', class: 'c-num live', cell: (e) => took(e) },
  ].filter(Boolean);
  const wrap = table(cols, rows, {
    rowAttrs: (e) => ({ dataset: { key: e.id, sig: `${e.status}|${e.updated_at}|${e.ended_at}` } }),
  });
  wrap.classList.add('fixed-table', 'exec-table');
  return wrap;
}

function statusCell(e) {
  const b = badge(e.status);
  if (e.pause_requested) return [b, h('span', { class: 'muted small' }, ' pausing')];
  if (e.cancel_requested) return [b, h('span', { class: 'muted small' }, ' cancelling')];
  return b;
}

/** A `datetime-local` value (browser's zone) from RFC 3339, and back to RFC 3339 UTC. */
export function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** Run `fn` after each change the server commits, showing (not swallowing) a failed refresh. */
export function follow(signal, fn, problemSlot) {
  watchChanges(signal, async () => {
    try {
      await fn();
      if (problemSlot) fill(problemSlot);
    } catch (e) {
      if (signal.aborted || e.name === 'AbortError') return;
      if (problemSlot) fill(problemSlot, errorBox(e));
    }
  });
}

// ---- The list -------------------------------------------------------------------------------

/** `/ui/executions`: the filtered, paged list with counts per status. */
export async function list(params, query, ctx) {
  const { signal } = ctx;
  const state = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, query[k] || ''])),
    stack: parseStack(query.cursor),
    next: null,
    seq: 0,
  };
  const problem = h('div', { class: 'problem' });
  const countsEl = h('div', { class: 'counts', role: 'group', 'aria-label': 'Executions by status' });
  const results = h('div', { class: 'results' });
  let current = null; // the table (or empty state) now shown
  const pages = pager({
    onPrev: () => { state.stack.pop(); syncUrl(false); load(); },
    onNext: () => { if (state.next) { state.stack.push(state.next); syncUrl(false); load(); } },
  });

  const [workflows, objects] = await Promise.all([
    api('GET', '/v1/workflows', { signal }).then((r) => r.workflows || []).catch((e) => e),
    api('GET', '/v1/objects', { signal }).then((r) => r.objects || []).catch((e) => e),
  ]);
  const lookupErrors = [workflows, objects].filter((x) => x instanceof Error).map(errorBox);

  const form = filterForm(state.filters, Array.isArray(workflows) ? workflows : [], Array.isArray(objects) ? objects : [], (filters) => {
    state.filters = filters;
    state.stack = [];
    syncUrl(true);
    load();
  });

  // The URL is the state: filters replace it (a shareable URL), paging pushes (Back goes back).
  function syncUrl(replace) {
    const url = `/ui/executions${qs({ ...state.filters, cursor: stackText(state.stack) })}`;
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }

  async function load() {
    const mine = ++state.seq;
    pages.busy(true);
    const f = state.filters;
    const cursor = state.stack[state.stack.length - 1];
    const countFilter = { ...f, status: '' }; // counts are per status: every status counted
    const [page, counts] = await Promise.allSettled([
      api('GET', '/v1/executions', { query: { ...f, limit: PAGE, cursor }, signal }),
      api('GET', '/v1/executions/counts', { query: countFilter, signal }),
    ]);
    if (mine !== state.seq || signal.aborted) return;
    pages.busy(false);
    const problems = [];
    if (page.status === 'fulfilled') {
      state.next = page.value.next_cursor || null;
      showRows(page.value.executions || []);
    } else if (page.reason.name !== 'AbortError') {
      problems.push(errorBox(page.reason));
    }
    if (counts.status === 'fulfilled') {
      fill(countsEl, countButtons(counts.value, f.status, (s) => form.setStatus(s)));
    } else if (counts.reason.name !== 'AbortError') {
      if (!countsEl.firstChild) fill(countsEl, countButtons(null, f.status, (s) => form.setStatus(s)));
      problems.push(errorBox(counts.reason));
    }
    fill(problem, ...problems);
    pages.set({
      page: state.stack.length + 1,
      hasPrev: state.stack.length > 0,
      hasNext: !!state.next,
      shown: page.status === 'fulfilled' ? (page.value.executions || []).length : undefined,
    });
  }

  function showRows(rows) {
    let fresh;
    if (rows.length) {
      fresh = executionsTable(rows);
      if (current && current.classList.contains('exec-table')) {
        current = patchTable(current, fresh);
        return;
      }
    } else {
      fresh = emptyState();
    }
    if (current) current.replaceWith(fresh);
    else results.append(fresh);
    current = fresh;
  }

  function emptyState() {
    const filtered = FILTERS.some((k) => state.filters[k]);
    if (state.stack.length) {
      return empty('No more executions.', 'This page is past the last one. ', link('/ui/executions', 'Start from the first page.'));
    }
    if (filtered) {
      return empty('No executions match these filters.', 'Widen the time range or ',
        h('button', { type: 'button', class: 'btn link', onclick: () => form.clear() }, 'clear the filters'), '.');
    }
    return empty('No executions yet.', 'Start one with ', h('code', {}, 'flowbox run WORKFLOW'), ' or from a ',
      link('/ui/workflows', "workflow's page"), '.');
  }

  await load();
  follow(signal, load, null);
  tick(results, signal);
  return h('div', { class: 'executions-page' },
    header('Executions'),
    lookupErrors,
    form.el,
    countsEl,
    problem,
    results,
    pages.el);
}

/** The filter form; calls `onChange(filters)` on each change (text inputs debounced). */
function filterForm(initial, workflows, objects, onChange) {
  const select = (name, options, value) => {
    const names = options.map((o) => (Array.isArray(o) ? o[0] : o));
    if (value && !names.includes(value)) options = [...options, value]; // e.g. a deleted workflow
    return h('select', { id: `f-${name}`, name },
      options.map((o) => {
        const [v, text] = Array.isArray(o) ? o : [o, o];
        return h('option', { value: v, selected: v === value }, text);
      }));
  };
  const wf = select('workflow', [['', 'All workflows'], ...workflows.map((w) => w.name)], initial.workflow);
  const st = select('status', [['', 'Any status'], ...STATUSES], initial.status);
  const obj = select('record_object', [['', 'Any type'], ...objects.map((o) => o.name)], initial.record_object);
  const rid = h('input', { id: 'f-record_id', name: 'record_id', type: 'search', value: initial.record_id, placeholder: 'record id', autocomplete: 'off', spellcheck: 'false' });
  const since = h('input', { id: 'f-since', name: 'since', type: 'datetime-local', value: toLocalInput(initial.since) });
  const until = h('input', { id: 'f-until', name: 'until', type: 'datetime-local', value: toLocalInput(initial.until) });
  const cause = select('cause', [['', 'Any cause'], ...CAUSES], initial.cause);
  const read = () => ({
    workflow: wf.value,
    status: st.value,
    record_object: obj.value,
    record_id: rid.value.trim(),
    since: fromLocalInput(since.value),
    until: fromLocalInput(until.value),
    cause: cause.value,
  });
  const changed = () => onChange(read());
  const typed = debounce(changed, 350);
  const field = (label, input) => h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
  const clearBtn = h('button', { type: 'button', class: 'btn link' }, 'Clear filters');
  const el = h('form', {
    class: 'filters', role: 'search', 'aria-label': 'Filter executions',
    onsubmit: (e) => { e.preventDefault(); changed(); },
    onchange: (e) => { if (e.target !== rid) changed(); },
  },
  field('Workflow', wf), field('Status', st), field('Record type', obj), field('Record id', rid),
  field('Created since', since), field('Created before', until), field('Cause', cause),
  h('div', { class: 'field field-actions' }, clearBtn));
  rid.addEventListener('input', typed);
  // On a phone the form folds away behind a summary that says how many filters are set.
  const active = h('span', { class: 'muted' });
  const showActive = () => {
    const n = Object.values(read()).filter(Boolean).length;
    active.textContent = n ? ` · ${n} set` : '';
  };
  showActive();
  el.addEventListener('change', showActive);
  el.addEventListener('input', showActive);
  const box = h('details', { class: 'filter-box', open: !window.matchMedia('(max-width: 760px)').matches || active.textContent !== '' },
    h('summary', {}, 'Filters', active), el);
  const clear = () => {
    [wf, st, obj, cause].forEach((s) => { s.value = ''; });
    [rid, since, until].forEach((i) => { i.value = ''; });
    showActive();
    changed();
  };
  clearBtn.addEventListener('click', clear);
  return {
    el: box,
    clear,
    setStatus(s) { st.value = s; showActive(); changed(); },
  };
}

/** A button per status with its count (and All); the current one is pressed. */
function countButtons(answer, current, choose) {
  const counts = (answer && answer.counts) || {};
  const button = (status, label, n) => h('button', {
    type: 'button',
    class: `count-btn count-${status || 'all'}`,
    'aria-pressed': String((current || '') === status),
    onclick: () => choose(status),
  }, h('span', { class: 'count-label' }, label), h('span', { class: 'count-n' }, answer ? count(n || 0) : '—'));
  return [
    button('', 'All', answer ? answer.total : null),
    STATUSES.map((s) => button(s, s, counts[s])),
  ];
}

// ---- One execution ----------------------------------------------------------------------------

/** `/ui/executions/:id`: one execution, live until it ends. */
export async function show(params, query, ctx) {
  const problem = h('div', { class: 'problem' });
  const content = h('div', { class: 'execution' });
  const root = h('div', { class: 'execution-page' }, problem, content);
  const live = new AbortController();
  ctx.signal.addEventListener('abort', () => live.abort(), { once: true });

  let last = null;
  const kept = { key: null, nodes: [] }; // the action buttons, kept while the same actions apply
  const render = async () => {
    const [ex, kids] = await Promise.all([
      api('GET', `/v1/executions/${enc(params.id)}`, { signal: ctx.signal }),
      api('GET', '/v1/executions', { query: { parent: params.id, limit: 50 }, signal: ctx.signal }),
    ]);
    ex.children = kids.executions; // the executions it started (the first 50)
    if (ctx.signal.aborted) return;
    fill(problem);
    // Most commits are other executions': leave the page (and a button about to be clicked) be.
    const sig = JSON.stringify(ex);
    if (sig === last) return;
    last = sig;
    const open = openState(content);
    fill(content, executionView(ex, open, render, kept));
    if (ENDED.has(ex.status)) live.abort(); // an ended execution never changes again
  };
  await render(); // a failure here is the page's error (shown by the router)
  if (!live.signal.aborted) follow(live.signal, render, problem);
  tick(root, ctx.signal);
  return root;
}

/** Which step sections the user opened or closed, to keep them so across re-renders. */
function openState(container) {
  const m = new Map();
  container.querySelectorAll('details.step-run').forEach((d) => m.set(d.dataset.seq, d.open));
  return m;
}

function executionView(ex, open, rerender, kept) {
  const status = badge(ex.status);
  status.setAttribute('data-test', 'execution-status');
  const title = ['Execution ', h('code', { class: 'exec-id', title: ex.id }, shortId(ex.id)), ' ', status];
  const steps = [...(ex.steps || [])].sort((a, b) => a.seq - b.seq);
  return [
    header(title, ...keptActions(ex, rerender, kept)),
    notes(ex),
    ex.error ? failure(ex.error) : null,
    facts(summary(ex, steps)),
    h('section', { class: 'section', 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Timeline'), timeline(ex)),
    h('section', { class: 'section io' },
      h('div', {}, h('h2', {}, 'Input'), jsonView(ex.input, { label: 'Input' })),
      h('div', {}, h('h2', {}, 'Output'), ex.output === null ? h('p', { class: 'muted' }, ENDED.has(ex.status) ? 'No output.' : 'Not finished yet.') : jsonView(ex.output, { label: 'Output' })),
      ex.variables && Object.keys(ex.variables).length
        ? h('div', {}, h('h2', {}, 'Variables'), jsonView(ex.variables, { label: 'Variables' }))
        : null),
    h('section', { class: 'section', 'aria-labelledby': 'steps-h' },
      h('h2', { id: 'steps-h' }, `Step runs (${steps.length})`),
      steps.length
        ? h('div', { class: 'step-runs' }, steps.map((s) => stepRun(s, open)))
        : empty('No step has run yet.', ex.status === 'queued' ? 'It is queued: it starts when a worker takes it.' : '')),
    (ex.notifications || []).length ? notifications(ex.notifications) : null,
  ];
}

/** The actions, reusing the buttons already shown when the same ones apply. */
function keptActions(ex, rerender, kept) {
  const w = ex.waiting;
  const key = [ex.status, ex.pause_requested, ex.cancel_requested, w && w.kind === 'goal' ? w.step : ''].join('|');
  if (key !== kept.key) {
    kept.key = key;
    kept.nodes = actions(ex, rerender);
  }
  return kept.nodes;
}

/** The actions that make sense for the execution's status, for clients and up. */
function actions(ex, rerender) {
  if (!can('client')) return [];
  const post = (path) => async () => {
    await api('POST', `/v1/executions/${enc(ex.id)}${path}`);
    await rerender();
  };
  const out = [];
  const w = ex.waiting;
  if (ex.status === 'waiting' && w && w.kind === 'goal') {
    out.push(actionButton('Meet goal', post(`/goals/${enc(w.step)}/meet`), { kind: 'primary', title: `Take the met path of goal ${w.step}` }));
  }
  if (['running', 'waiting', 'queued'].includes(ex.status) && !ex.pause_requested) {
    out.push(actionButton('Pause', post('/pause'), { title: 'Stop before its next step' }));
  }
  if (ex.status === 'paused') out.push(actionButton('Resume', post('/resume'), { kind: 'primary', title: 'Continue where it stopped' }));
  if (!ENDED.has(ex.status) && !ex.cancel_requested) {
    out.push(actionButton('Cancel', post('/cancel'), { kind: 'danger', title: 'Stop it for good (a running step is stopped at once)' }));
  }
  return out;
}

/** Requests still to happen and why it is paused or waiting, in one line each. */
function notes(ex) {
  const lines = [];
  if (ex.pause_requested) lines.push('Pause requested: it stops before its next step.');
  if (ex.cancel_requested) lines.push('Cancel requested: its running step is being stopped.');
  if (ex.status === 'paused' && ex.pause_reason) lines.push(`Paused: ${ex.pause_reason}.`);
  if (ex.status === 'waiting' && ex.waiting) lines.push(['Waiting: ', waitingText(ex)]);
  if (!lines.length) return null;
  return h('ul', { class: 'notes' }, lines.map((l) => h('li', {}, l)));
}

function waitingText(ex) {
  const w = ex.waiting;
  if (!w) return '—';
  if (w.kind === 'delay') return ['delay step ', h('code', {}, w.step), ' until ', time(ex.wake_at)];
  if (w.kind === 'goal') {
    return ['goal ', h('code', {}, w.step), ' (since ', time(w.since), ex.wake_at ? [', its window closes ', time(ex.wake_at)] : null, ')'];
  }
  if (w.kind === 'retry') return ['the backoff before retrying ', h('code', {}, w.step), ', next attempt ', time(ex.wake_at)];
  return h('code', {}, JSON.stringify(w));
}

/** The execution's error, prominent. */
function failure(err) {
  const e = typeof err === 'object' && err ? err : { message: String(err) };
  return h('div', { class: 'error exec-error', role: 'alert' },
    h('strong', {}, e.message || 'failed'),
    e.code ? h('span', { class: 'code' }, ` (${e.code})`) : null,
    e.step ? h('div', { class: 'muted' }, 'at step ', h('a', { href: `#step-${e.step}`, onclick: (ev) => { ev.preventDefault(); reveal(e.step); } }, e.step)) : null);
}

/** Open and scroll to the last run of a step (a fragment link would re-route the page). */
function reveal(step) {
  const runs = [...document.querySelectorAll('details.step-run')].filter((d) => d.dataset.step === step);
  const d = runs[runs.length - 1];
  if (!d) return;
  d.open = true;
  d.scrollIntoView({ block: 'start' });
  d.querySelector('summary').focus({ preventScroll: true });
}

function summary(ex, steps) {
  const children = steps.filter((s) => s.detail && (s.detail.child || s.detail.resumed));
  const named = new Set(children.map((s) => s.detail.child || s.detail.resumed));
  const started = (ex.children || []).filter((c) => !named.has(c.id));
  const ended = ex.ended_at ? Date.parse(ex.ended_at) : null;
  return [
    ['Id', h('code', {}, ex.id)],
    ['Workflow', [link(`/ui/workflows/${enc(ex.workflow)}?version=${ex.version}&execution=${enc(ex.id)}`, `${ex.workflow}@${ex.version}`),
      h('span', { class: 'muted' }, ' · the path it took')]],
    ['Record', recordLink(ex.record)],
    ['Cause', causeView(ex.cause)],
    ex.parent_id && ['Parent', executionLink(ex.parent_id)],
    (children.length || started.length) && ['Children', h('ul', { class: 'plain' },
      children.map((s) => h('li', {},
        executionLink(s.detail.child || s.detail.resumed),
        ' ', s.detail.workflow ? `${s.detail.workflow}${s.detail.version ? `@${s.detail.version}` : ''}` : '',
        h('span', { class: 'muted' }, s.detail.resumed ? ` (resumed by step ${s.step_id})` : ` (started by step ${s.step_id})`))),
      started.map((c) => h('li', {}, executionLink(c.id), ` ${c.workflow}@${c.version} `, badge(c.status))))],
    ex.trace_id && ['Trace', h('code', {}, ex.trace_id)],
    ['Created', time(ex.created_at)],
    ex.event_at && ex.event_at !== ex.created_at && ['Event at', time(ex.event_at)],
    ['Updated', time(ex.updated_at)],
    ['Ended', time(ex.ended_at)],
    ['Duration', ended ? duration(ended - Date.parse(ex.created_at)) : soFar(ex.created_at)],
    !ENDED.has(ex.status) && ex.position && ['Next step', h('code', {}, ex.position)],
  ];
}

/** What started it, with the chain of workflows that led to it. */
function causeView(c) {
  if (!c) return h('span', { class: 'muted' }, '—');
  const parts = [h('strong', {}, c.kind)];
  if (c.kind === 'api') parts.push(' by token ', h('code', {}, c.name || c.token || '?'));
  if (c.kind === 'trigger') parts.push(' ', h('code', {}, c.trigger), c.event !== undefined ? [' on record event #', String(c.event)] : null);
  if (c.kind === 'schedule') parts.push(c.trigger ? [' ', h('code', {}, c.trigger)] : null, c.scheduled_at ? [' due ', time(c.scheduled_at)] : null);
  if (c.kind === 'webhook') parts.push(' ', h('code', {}, c.trigger || '?'));
  if (c.kind === 'workflow') parts.push(' step ', h('code', {}, c.step || '?'), ' of ', executionLink(c.parent));
  const chain = Array.isArray(c.chain) && c.chain.length > 1 ? c.chain : null;
  return [parts, chain ? h('ol', { class: 'chain', 'aria-label': 'Chain of workflows' }, chain.map((l) => h('li', {},
    l.workflow, l.object ? h('span', { class: 'muted' }, ` on ${l.object}/${l.id}`) : null))) : null];
}

function stepRun(s, open) {
  const key = String(s.seq);
  const isOpen = open.has(key) ? open.get(key) : s.status === 'failed';
  const took = s.duration_ms !== null && s.duration_ms !== undefined
    ? duration(s.duration_ms)
    : (s.started_at && !s.ended_at ? soFar(s.started_at) : '—');
  const d = s.detail;
  const calls = d && (Array.isArray(d.calls) ? d : (d.llm && Array.isArray(d.llm.calls) ? d.llm : null));
  return h('details', { class: `step-run st-${s.status}`, open: isOpen, id: `run-${s.seq}`, dataset: { seq: key, step: s.step_id } },
    h('summary', {},
      h('span', { class: 'seq muted' }, `#${s.seq}`),
      h('code', { class: 'step-id' }, s.step_id),
      h('span', { class: 'kind muted' }, s.kind),
      badge(s.status),
      s.attempt > 1 ? h('span', { class: 'attempt' }, `attempt ${s.attempt}`) : null,
      h('span', { class: 'took' }, took instanceof Node ? took.cloneNode(true) : took)),
    h('div', { class: 'step-body' },
      s.error ? stepError(s.error) : null,
      facts([
        ['Kind', s.kind],
        ['Attempt', String(s.attempt)],
        ['Started', time(s.started_at)],
        ['Ended', time(s.ended_at)],
        ['Duration', took],
        s.fuel_used !== null && s.fuel_used !== undefined && ['Fuel', count(s.fuel_used)],
        s.memory_peak_bytes !== null && s.memory_peak_bytes !== undefined && ['Peak memory', bytes(s.memory_peak_bytes)],
        d && d.child && ['Child', executionLink(d.child)],
        d && d.resumed && ['Resumed', executionLink(d.resumed)],
        d && d.execution && !d.child && ['Execution', executionLink(d.execution)],
      ]),
      h('div', { class: 'io' },
        h('div', {}, h('h3', {}, 'Input'), s.input === null ? h('p', { class: 'muted' }, 'None.') : jsonView(s.input, { label: 'Input' })),
        h('div', {}, h('h3', {}, 'Output'), s.output === null ? h('p', { class: 'muted' }, 'None.') : jsonView(s.output, { label: 'Output' }))),
      Array.isArray(s.logs) && s.logs.length ? [h('h3', {}, `Logs (${s.logs.length})`), logs(s.logs)] : null,
      calls ? [h('h3', {}, 'Model calls'), llmCalls(calls)] : null,
      d !== null && d !== undefined ? [h('h3', {}, 'Detail'), jsonView(d, { label: 'Detail' })] : null));
}

/** A step's error: the guest's message first. */
function stepError(err) {
  const e = typeof err === 'object' && err ? err : { message: String(err) };
  return h('div', { class: 'error' },
    h('strong', {}, e.message || 'failed'),
    e.code ? h('span', { class: 'code' }, ` (${e.code})`) : null,
    e.retryable !== undefined ? h('div', { class: 'muted' }, e.retryable ? 'retryable' : 'not retryable') : null);
}

function logs(lines) {
  return h('ol', { class: 'logs' }, lines.map((l) => {
    const line = typeof l === 'object' && l ? l : { message: String(l) };
    const level = String(line.level || 'info').toLowerCase();
    return h('li', { class: `log log-${level}` },
      h('span', { class: 'log-level' }, level),
      line.source ? h('span', { class: 'log-source muted' }, line.source) : null,
      h('span', { class: 'log-message' }, typeof line.message === 'string' ? line.message : JSON.stringify(line.message)));
  }));
}

/** The model calls of an AI step with their tokens (`detail.llm` or `detail`). */
function llmCalls(d) {
  const num = (v) => (v === undefined || v === null ? '—' : count(v));
  const t = table([
    { label: 'Kind', cell: (c) => c.kind || '—' },
    { label: 'Provider', cell: (c) => c.provider || '—' },
    { label: 'Model', cell: (c) => (c.model ? h('code', {}, c.model) : '—') },
    { label: 'Prompt tokens', class: 'c-num', cell: (c) => num(c.prompt_tokens) },
    { label: 'Completion tokens', class: 'c-num', cell: (c) => num(c.completion_tokens) },
    { label: 'Latency', class: 'c-num', cell: (c) => (c.latency_ms !== undefined ? duration(c.latency_ms) : '—') },
    { label: 'Attempts', class: 'c-num', cell: (c) => num(c.attempts) },
    { label: 'Error', cell: (c) => (c.error ? h('span', { class: 'inline-error' }, c.error) : '') },
  ], d.calls);
  const totals = d.prompt_tokens !== undefined || d.completion_tokens !== undefined
    ? h('p', { class: 'muted' }, `Total: ${num(d.prompt_tokens)} prompt + ${num(d.completion_tokens)} completion tokens`)
    : null;
  return [t, totals];
}

function notifications(list) {
  return h('section', { class: 'section' },
    h('h2', {}, `Failure notifications (${list.length})`),
    table([
      { label: 'Kind', cell: (n) => n.kind },
      { label: 'Target', cell: (n) => h('code', {}, n.target || '—') },
      { label: 'Step', cell: (n) => (n.step_id ? h('code', {}, n.step_id) : '—') },
      { label: 'Status', cell: (n) => badge(n.status) },
      { label: 'Attempts', class: 'c-num', cell: (n) => count(n.attempts) },
      { label: 'Last error', cell: (n) => n.last_error || '' },
      { label: 'Next attempt', cell: (n) => time(n.next_attempt_at) },
      { label: 'Sent', cell: (n) => time(n.sent_at) },
    ], list));
}
