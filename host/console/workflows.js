// The workflows: the list, and one workflow with its graph (and an execution's path through it),
// triggers, timers, webhooks, versions with a diff, and the controls the signed-in role may use.

import {
  h, fill, api, can, link, go, time, jsonView, badge, errorBox, empty, header, facts, table,
  actionButton, watchChanges, ApiError,
} from './lib.js';
import { graph } from './graph.js';

const ENDED = new Set(['completed', 'failed', 'cancelled']);

const enc = encodeURIComponent;
const wfPath = (name) => `/v1/workflows/${enc(name)}`;
const wfPage = (name) => `/ui/workflows/${enc(name)}`;

/** A console link styled as a button. */
function buttonLink(href, text, kind = '') {
  const a = link(href, text);
  a.className = `btn ${kind}`.trim();
  return a;
}

/** On/off as a small badge. */
function onOff(on, onText, offText) {
  return h('span', { class: `badge wf-${on ? 'on' : 'off'}` }, on ? onText : offText);
}

// ---- The list --------------------------------------------------------------------------------

export async function list(params, query, ctx) {
  const body = h('div', { class: 'wf-list' });
  const load = async () => {
    const r = await api('GET', '/v1/workflows', { signal: ctx.signal });
    fill(body, r.workflows.length ? workflowTable(r.workflows) : noWorkflows());
  };
  await load();
  watchChanges(ctx.signal, () => load().catch((e) => {
    if (!ctx.signal.aborted && e.name !== 'AbortError') fill(body, errorBox(e));
  }));
  return h('section', { class: 'wf-page' },
    header('Workflows', can('developer') ? buttonLink('/ui/workflows/new', 'New workflow', 'primary') : null),
    body);
}

function workflowTable(rows) {
  return table([
    { label: 'Name', cell: (w) => link(wfPage(w.name), w.name) },
    { label: 'Latest version', class: 'num', cell: (w) => w.latest_version },
    { label: 'Triggers', cell: (w) => onOff(w.enabled, 'on', 'off') },
    { label: 'Kill switch', cell: (w) => (w.kill_switch ? h('span', { class: 'badge wf-killed' }, 'on') : h('span', { class: 'muted' }, 'off')) },
    { label: 'Updated', cell: (w) => time(w.updated_at) },
  ], rows, { rowAttrs: (w) => ({ 'data-workflow': w.name }) });
}

function noWorkflows() {
  return empty('No workflows yet.',
    'Save one with ', h('code', {}, 'flowbox workflow apply FILE'),
    can('developer') ? [' or ', link('/ui/workflows/new', 'New workflow')] : null, '.');
}

// ---- One workflow ----------------------------------------------------------------------------

export async function show(params, query, ctx) {
  const { name } = params;
  const { signal } = ctx;
  // The execution first: its path is drawn on the version it ran on.
  let exec = null;
  let execError = null;
  if (query.execution) {
    try {
      exec = await api('GET', `/v1/executions/${enc(query.execution)}`, { signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      execError = e;
    }
  }
  const onThis = exec && exec.workflow === name;
  const version = query.version || (onThis ? exec.version : undefined);
  // The side sections load alongside the definition; each shows its own failure.
  const timers = settle(timersSection(name, signal));
  const hooks = settle(can('developer') ? webhooksSection(name, signal) : Promise.resolve(null));
  // Rejected only when the page is left; then nobody waits for them.
  timers.catch(() => {});
  hooks.catch(() => {});
  const [wf, heads, versions] = await Promise.all([
    api('GET', wfPath(name), { query: { version }, signal }),
    settle(api('GET', '/v1/workflows', { signal })),
    settle(api('GET', `${wfPath(name)}/versions`, { signal })),
  ]);
  const head = heads.ok ? heads.value.workflows.find((w) => w.name === name) : null;
  const def = wf.definition || {};
  const latest = head ? head.latest_version : wf.version;

  const graphBox = h('div', { class: 'wf-graph-box' });
  const stepBox = h('div', { class: 'wf-step-detail', 'aria-live': 'polite' });
  const banner = h('div', { class: 'wf-banner-box' });
  const drawPath = () => {
    const path = onThis ? executionPath(exec) : undefined;
    fill(banner, execBanner(name, query, exec, execError, onThis));
    fill(graphBox, wf.graph
      ? graph(wf.graph, { path, onSelect: (id) => fill(stepBox, stepDetail(def, id, onThis ? exec : null)) })
      : h('p', { class: 'muted' }, 'The server sent no graph for this workflow.'));
  };
  drawPath();
  if (onThis && !ENDED.has(exec.status)) followExecution(exec.id, signal, (e) => { exec = e; drawPath(); });

  const page = h('section', { class: 'wf-page wf-show' },
    header(name,
      can('developer') ? buttonLink(`${wfPage(name)}/edit`, 'Edit') : null,
      buttonLink(`/ui/executions?workflow=${enc(name)}`, 'Executions')),
    banner,
    summary(wf, def, latest, name),
    controls(name, head, wf),
    // Wide screens: the graph beside what starts the workflow; narrow ones: one column.
    h('div', { class: 'wf-grid' },
      h('section', { class: 'wf-section wf-steps' }, h('h2', {}, 'Steps'),
        h('p', { class: 'muted wf-hint' }, 'Select a step to see its definition.'),
        graphBox, stepBox),
      h('div', { class: 'wf-aside' },
        startForm(name, def),
        triggersSection(def),
        sectionOf(await timers),
        sectionOf(await hooks))),
    versionsSection(name, wf.version, versions));
  return page;
}

function sectionOf(outcome) {
  return outcome.ok ? outcome.value : errorBox(outcome.error);
}

/** A promise's outcome, so that one failed side request does not fail the page. */
async function settle(p) {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return { ok: false, error: e };
  }
}

/** The steps an execution ran through, in order, and whether it reached End. */
function executionPath(exec) {
  const runs = (exec.steps || []).slice().sort((a, b) => a.seq - b.seq);
  const path = runs.map((r) => r.step_id);
  // A completed execution keeps its last step as `position`, so completed alone means it ended.
  path.ended = exec.status === 'completed'
    || (ENDED.has(exec.status) && (exec.position === null || exec.position === undefined));
  return path;
}

/** Redraw the path as an unfinished execution goes on, until it ends or the page is left. */
function followExecution(id, signal, onUpdate) {
  const follow = new AbortController();
  signal.addEventListener('abort', () => follow.abort(), { once: true });
  watchChanges(follow.signal, async () => {
    try {
      const e = await api('GET', `/v1/executions/${enc(id)}`, { signal: follow.signal });
      if (follow.signal.aborted) return;
      onUpdate(e);
      if (ENDED.has(e.status)) follow.abort(); // nothing more will change on its path
    } catch {
      // The banner keeps the last state; the next change tries again.
    }
  });
}

function execBanner(name, query, exec, execError, onThis) {
  if (execError) return h('div', { class: 'wf-banner' }, errorBox(execError));
  if (!exec) return null;
  const back = link(`/ui/executions/${enc(exec.id)}`, `execution ${exec.id}`);
  if (!onThis) {
    return h('div', { class: 'wf-banner wf-banner-warn', role: 'status' },
      'Execution ', back, ` runs workflow ${exec.workflow}, not this one: no path shown.`);
  }
  return h('div', { class: 'wf-banner', role: 'status', 'data-test': 'path-banner' },
    'Showing the path of ', back, ' (', badge(exec.status), ')', ` on version ${exec.version}. `,
    link(query.version ? `${wfPage(name)}?version=${enc(query.version)}` : wfPage(name), 'Hide the path'));
}

function summary(wf, def, latest, name) {
  const scope = def.scope && typeof def.scope === 'object' ? `records of type ${def.scope.object}` : (def.scope || 'global');
  const settings = def.settings && Object.keys(def.settings).length ? jsonView(def.settings) : null;
  return facts([
    ['Version', h('span', {}, `${wf.version}`,
      wf.version !== latest ? [' (the latest is ', link(wfPage(name), `version ${latest}`), ')'] : ' (latest)')],
    def.description ? ['Description', def.description] : null,
    ['Runs on', scope],
    def.variables && def.variables.length ? ['Variables', def.variables.map((v) => v.name).join(', ')] : null,
    settings ? ['Settings', settings] : null,
  ]);
}

function stepDetail(def, id, exec) {
  const step = (def.steps || []).find((s) => s.id === id);
  const runs = exec ? (exec.steps || []).filter((r) => r.step_id === id) : [];
  return h('div', { class: 'wf-step-card', 'data-test': 'step-detail' },
    h('h3', {}, `Step ${id}`),
    exec ? h('p', { class: 'muted' }, runs.length
      ? `${runs.length} run${runs.length > 1 ? 's' : ''} in this execution; the last ${runs[runs.length - 1].status}.`
      : 'Not run in this execution.') : null,
    step ? jsonView(step, { label: 'Definition' }) : h('p', { class: 'muted' }, 'Not in this version\'s definition.'));
}

// ---- Controls --------------------------------------------------------------------------------

/** The switches the role may use; a client sees their state in the summary only. */
function controls(name, head, wf) {
  const box = h('div', { class: 'wf-controls', 'aria-label': 'Controls' });
  let enabled = head ? head.enabled : null;
  let killed = !!wf.kill_switch;
  const note = h('span', { class: 'muted wf-control-note', 'aria-live': 'polite' });
  const render = () => fill(box,
    h('div', { class: 'wf-control' },
      h('span', { class: 'wf-control-label' }, 'Triggers '),
      enabled === null ? h('span', { class: 'muted' }, 'unknown') : onOff(enabled, 'on', 'off'),
      can('developer') && enabled !== null
        ? actionButton(enabled ? 'Switch off' : 'Switch on', async () => {
          const r = await api('PUT', `${wfPath(name)}/enabled`, { body: { on: !enabled } });
          enabled = r.enabled;
          note.textContent = enabled ? 'Triggers switched on.' : 'Triggers switched off: they start nothing until switched on.';
          render();
        }, { title: 'Switch the workflow\'s triggers (schedules, record events, webhooks)' })
        : null),
    h('div', { class: 'wf-control' },
      h('span', { class: 'wf-control-label' }, 'Kill switch '),
      killed ? h('span', { class: 'badge wf-killed' }, 'on') : onOff(false, 'on', 'off'),
      can('admin')
        ? actionButton(killed ? 'Turn kill switch off' : 'Turn kill switch on', async () => {
          if (!killed && !window.confirm(`Refuse new starts of ${name} and pause its unfinished executions?`)) return;
          const r = await api('PUT', `${wfPath(name)}/kill-switch`, { body: { on: !killed } });
          killed = !killed;
          note.textContent = r.message || '';
          render();
        }, { kind: killed ? '' : 'danger' })
        : null),
    note);
  render();
  return box;
}

function startForm(name, def) {
  const recordScoped = def.scope && typeof def.scope === 'object';
  const input = h('textarea', { id: 'start-input', class: 'wf-mono', rows: 4, spellcheck: 'false', value: '{}' });
  const record = recordScoped ? h('input', { id: 'start-record', type: 'text', autocomplete: 'off', required: true }) : null;
  const out = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Start');
  const form = h('form', {
    class: 'wf-start',
    onsubmit: async (e) => {
      e.preventDefault();
      fill(out);
      let value;
      try {
        value = input.value.trim() ? JSON.parse(input.value) : null;
      } catch (err) {
        fill(out, h('div', { class: 'error', role: 'alert' }, `The input is not JSON: ${err.message}`));
        return;
      }
      const body = { input: value };
      if (record && record.value.trim()) body.record_id = record.value.trim();
      submit.disabled = true;
      try {
        const r = await api('POST', `${wfPath(name)}/executions`, { body });
        go(`/ui/executions/${enc(r.id)}`);
      } catch (err) {
        fill(out, errorBox(err));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', { for: 'start-input' }, 'Input (JSON)'),
  input,
  record ? [h('label', { for: 'start-record' }, `Record id (${def.scope.object})`), record] : null,
  h('div', {}, submit),
  out);
  return h('section', { class: 'wf-section' }, h('h2', {}, 'Start an execution'), form);
}

// ---- Triggers, timers, webhooks ------------------------------------------------------------

function triggersSection(def) {
  const triggers = def.triggers || [];
  return h('section', { class: 'wf-section' }, h('h2', {}, 'Triggers'),
    triggers.length
      ? h('ul', { class: 'wf-triggers' }, triggers.map(triggerItem))
      : h('p', { class: 'muted' }, 'None: it starts only through the API, or from another workflow.'));
}

/** A trigger as written (`{id?, <kind>: {...}}`), told in words where the kind is known. */
function triggerItem(t) {
  const kind = Object.keys(t).find((k) => k !== 'id') || 'trigger';
  const opts = t[kind] && typeof t[kind] === 'object' ? t[kind] : {};
  const when = opts.when || t.when;
  const rest = Object.entries(opts).filter(([k]) => k !== 'when' && !(kind in WORDS && WORDS[kind].keys.includes(k)));
  return h('li', { class: 'wf-trigger' },
    h('span', { class: 'wf-trigger-kind' }, kind.replace(/_/g, ' ')),
    t.id ? h('code', { class: 'wf-trigger-id' }, t.id) : null,
    h('span', { class: 'wf-trigger-what' }, WORDS[kind] ? WORDS[kind].say(opts) : ''),
    rest.map(([k, v]) => h('span', { class: 'wf-chip' }, `${k.replace(/_/g, ' ')}: `, h('code', {}, typeof v === 'string' ? v : JSON.stringify(v)))),
    when ? h('span', { class: 'wf-chip' }, 'when ', h('code', {}, when)) : null);
}

const fieldChange = (o) => [o.field ? `field ${o.field}` : 'any field',
  o.from !== undefined ? ` from ${JSON.stringify(o.from)}` : '', o.to !== undefined ? ` to ${JSON.stringify(o.to)}` : ''].join('');

const WORDS = {
  schedule: { keys: ['cron', 'timezone'], say: (o) => `cron ${o.cron || '?'} (${o.timezone || 'UTC'})` },
  date: {
    keys: ['field', 'days', 'time', 'timezone'],
    say: (o) => {
      const d = Number(o.days || 0);
      const when = d === 0 ? 'on' : `${Math.abs(d)} day${Math.abs(d) === 1 ? '' : 's'} ${d < 0 ? 'before' : 'after'}`;
      return `${when} ${o.field || '?'}, at ${o.time || '09:00'} (${o.timezone || 'UTC'})`;
    },
  },
  field_updated: { keys: ['field', 'from', 'to'], say: fieldChange },
  stage_updated: { keys: ['field', 'from', 'to'], say: (o) => fieldChange({ ...o, field: o.field || undefined }).replace('any field', 'any stage') },
  record_created: { keys: ['on'], say: (o) => `on ${o.on || 'create'}` },
  activity_logged: { keys: ['type'], say: (o) => `activity ${o.type || '?'}` },
  activity_past_due: { keys: ['type'], say: (o) => `activity ${o.type || '?'} past due` },
  form_submitted: { keys: ['form'], say: (o) => `form ${o.form || '?'}` },
  webhook: { keys: ['methods', 'auth'], say: (o) => `${(o.methods || ['POST']).join(', ')}, auth ${o.auth || 'secret'}` },
};

async function timersSection(name, signal) {
  const sec = h('section', { class: 'wf-section' }, h('h2', {}, 'Timers'));
  let r;
  try {
    r = await api('GET', `${wfPath(name)}/timers`, { signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    sec.append(errorBox(e));
    return sec;
  }
  const schedules = r.schedules || [];
  const dates = r.date_runs || [];
  if (!schedules.length && !dates.length) {
    sec.append(h('p', { class: 'muted' }, 'No timed run is due: it has no schedule or date trigger, or no record has a date to run on.'));
    return sec;
  }
  if (schedules.length) {
    sec.append(h('h3', {}, 'Schedules'), table([
      { label: 'Trigger', cell: (s) => h('code', {}, s.trigger) },
      { label: 'Next run', cell: (s) => time(s.next_at) },
    ], schedules));
  }
  if (dates.length) {
    sec.append(h('h3', {}, 'Date runs'), table([
      { label: 'Trigger', cell: (d) => h('code', {}, d.trigger) },
      { label: 'Record', cell: (d) => link(`/ui/records/${enc(d.record.object)}/${enc(d.record.id)}`, `${d.record.object}/${d.record.id}`) },
      { label: 'Runs at', cell: (d) => time(d.run_at) },
    ], dates));
  }
  return sec;
}

/** The webhooks' URLs; never the secret, which belongs in the caller's configuration. */
async function webhooksSection(name, signal) {
  let r;
  try {
    r = await api('GET', `${wfPath(name)}/webhooks`, { signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    if (e instanceof ApiError && e.status === 403) return null;
    return h('section', { class: 'wf-section' }, h('h2', {}, 'Webhooks'), errorBox(e));
  }
  const hooks = r.webhooks || [];
  if (!hooks.length) return null;
  return h('section', { class: 'wf-section', 'data-test': 'webhooks' }, h('h2', {}, 'Webhooks'),
    hooks.map((w) => h('div', { class: 'wf-hook', 'data-trigger': w.trigger },
      h('h3', {}, 'Trigger ', h('code', {}, w.trigger)),
      facts([
        ['URL', h('code', { class: 'wf-url' }, `${location.origin}${w.path}`)],
        ['Methods', (w.methods || []).join(', ')],
        ['Auth', w.auth === 'hmac' ? 'hmac (X-Flowbox-Signature)' : `${w.auth} (X-Flowbox-Secret)`],
        ['Secret', h('span', { class: 'muted' }, 'secret hidden')],
      ]))),
    h('p', { class: 'muted' }, 'The console never shows a secret: a developer reads it with ',
      h('code', {}, `GET /v1/workflows/${name}/webhooks`), '.'));
}

// ---- Versions and their diff -----------------------------------------------------------------

function versionsSection(name, shown, versions) {
  const sec = h('section', { class: 'wf-section' }, h('h2', {}, 'Versions'));
  if (!versions.ok) {
    sec.append(errorBox(versions.error));
    return sec;
  }
  const rows = (versions.value.versions || []).slice().sort((a, b) => b.version - a.version);
  sec.append(table([
    {
      label: 'Version',
      cell: (v) => (v.version === shown
        ? h('strong', {}, `${v.version} (shown)`)
        : link(`${wfPage(name)}?version=${v.version}`, String(v.version))),
    },
    { label: 'Saved', cell: (v) => time(v.created_at) },
  ], rows));
  if (rows.length < 2) {
    sec.append(h('p', { class: 'muted' }, 'Only one version: nothing to compare yet.'));
    return sec;
  }
  sec.append(diffPicker(name, rows.map((v) => v.version)));
  return sec;
}

function diffPicker(name, numbers) {
  const pick = (id, selected) => h('select', { id }, numbers.map((n) => {
    const o = h('option', { value: String(n) }, `version ${n}`);
    if (n === selected) o.selected = true;
    return o;
  }));
  const from = pick('diff-from', numbers[1]);
  const to = pick('diff-to', numbers[0]);
  const out = h('div', { class: 'wf-diff-out', 'aria-live': 'polite' });
  let run = 0;
  const compare = async () => {
    const mine = run += 1;
    fill(out, h('p', { class: 'muted' }, 'Comparing…'));
    try {
      const [a, b] = await Promise.all([from.value, to.value].map((v) => api('GET', wfPath(name), { query: { version: v } })));
      if (mine !== run) return;
      fill(out, diffView(lines(a.definition), lines(b.definition), from.value, to.value));
    } catch (e) {
      if (mine === run) fill(out, errorBox(e));
    }
  };
  from.addEventListener('change', compare);
  to.addEventListener('change', compare);
  compare();
  return h('div', { class: 'wf-diff' },
    h('h3', {}, 'Compare'),
    h('div', { class: 'wf-diff-pick' },
      h('label', { for: 'diff-from' }, 'From'), from,
      h('label', { for: 'diff-to' }, 'to'), to),
    out);
}

/** A definition as lines of JSON with sorted keys, so that moved keys are no change. */
function lines(value) {
  return JSON.stringify(sortKeys(value), null, 2).split('\n');
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

/**
 * A line diff by longest common subsequence: `[{op: ' ' | '+' | '-', text}]`. The common head
 * and tail are cut first, so the table is only as big as the changed middle.
 */
export function lineDiff(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre += 1;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf += 1;
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const ops = a.slice(0, pre).map((text) => ({ op: ' ', text }));
  const n = A.length;
  const m = B.length;
  if (n * m > 8e6) {
    // Too big to compare line by line in the browser: show it all as replaced.
    A.forEach((text) => ops.push({ op: '-', text }));
    B.forEach((text) => ops.push({ op: '+', text }));
  } else {
    const w = m + 1;
    const L = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        L[i * w + j] = A[i] === B[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (A[i] === B[j]) { ops.push({ op: ' ', text: A[i] }); i += 1; j += 1; } else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) { ops.push({ op: '-', text: A[i] }); i += 1; } else { ops.push({ op: '+', text: B[j] }); j += 1; }
    }
    for (; i < n; i += 1) ops.push({ op: '-', text: A[i] });
    for (; j < m; j += 1) ops.push({ op: '+', text: B[j] });
  }
  a.slice(a.length - suf).forEach((text) => ops.push({ op: ' ', text }));
  return ops;
}

const CONTEXT = 3;

function diffView(a, b, va, vb) {
  const ops = lineDiff(a, b);
  const added = ops.filter((o) => o.op === '+').length;
  const removed = ops.filter((o) => o.op === '-').length;
  if (!added && !removed) return h('p', { class: 'muted' }, `Versions ${va} and ${vb} have the same definition.`);
  // Number the lines of each side as they go.
  let na = 0;
  let nb = 0;
  const rows = ops.map((o) => {
    if (o.op !== '+') na += 1;
    if (o.op !== '-') nb += 1;
    return { ...o, na: o.op === '+' ? '' : na, nb: o.op === '-' ? '' : nb };
  });
  const row = (r) => h('div', { class: `wf-dl wf-dl-${{ ' ': 'same', '+': 'add', '-': 'del' }[r.op]}` },
    h('span', { class: 'wf-dl-n' }, r.na), h('span', { class: 'wf-dl-n' }, r.nb),
    h('span', { class: 'wf-dl-op', 'aria-label': { ' ': 'unchanged', '+': 'added', '-': 'removed' }[r.op] }, r.op),
    h('span', { class: 'wf-dl-t' }, r.text));
  const out = [];
  // Long unchanged runs fold away, keeping a little context around each change.
  for (let i = 0; i < rows.length;) {
    if (rows[i].op !== ' ') { out.push(row(rows[i])); i += 1; continue; }
    let j = i;
    while (j < rows.length && rows[j].op === ' ') j += 1;
    const run = rows.slice(i, j);
    const head = i === 0 ? 0 : CONTEXT;
    const tail = j === rows.length ? 0 : CONTEXT;
    if (run.length > head + tail + 2) {
      out.push(...run.slice(0, head).map(row));
      const hidden = run.slice(head, run.length - tail);
      out.push(h('details', { class: 'wf-dl-fold' }, h('summary', {}, `${hidden.length} unchanged lines`), hidden.map(row)));
      out.push(...run.slice(run.length - tail).map(row));
    } else {
      out.push(...run.map(row));
    }
    i = j;
  }
  return h('div', { class: 'wf-diff-view' },
    h('p', { class: 'wf-diff-sum' }, `Version ${va} → ${vb}: `,
      h('span', { class: 'wf-diff-added' }, `+${added}`), ' ',
      h('span', { class: 'wf-diff-removed' }, `−${removed}`), ' lines'),
    h('div', { class: 'wf-diff-lines', 'aria-label': `Changes from version ${va} to ${vb}` }, out));
}
