// The definition editor: a plain textarea with a line-number gutter, checked by the server as
// you type (`POST /v1/workflows/validate`), each problem listed at its step, a live graph of the
// last definition that was valid, and Save.

import { h, fill, api, link, errorBox, header, debounce, ApiError } from './lib.js';
import { graph } from './graph.js';

const LINE_H = 20; // px; the same in workflows.css, so gutter and text stay aligned

const STARTER = {
  name: 'my-workflow',
  description: 'What it does, in a sentence.',
  triggers: [],
  steps: [
    { id: 'check', condition: 'input.amount > 100', then: 'big', else: 'small' },
    { id: 'big', set: { size: 'big' }, next: 'end' },
    { id: 'small', set: { size: 'small' } },
  ],
};

// Keys in the order an author writes them; the server keeps them sorted.
const TOP_KEYS = ['name', 'description', 'scope', 'triggers', 'settings', 'variables', 'steps'];

const enc = encodeURIComponent;

/** The server reads JSON when the text starts with `{`, YAML otherwise; say the same. */
function contentType(text) {
  return text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml';
}

export async function show(params, query, ctx) {
  const { signal } = ctx;
  const name = params.name || null;
  let text = pretty(STARTER);
  if (name) {
    const wf = await api('GET', `/v1/workflows/${enc(name)}`, { signal });
    text = pretty(wf.definition);
  }
  return editorPage(name, text, signal);
}

/** A definition as 2-space JSON, with the top keys and each step's `id` first. */
function pretty(def) {
  const out = {};
  for (const k of TOP_KEYS) if (def[k] !== undefined) out[k] = def[k];
  for (const k of Object.keys(def)) if (!(k in out)) out[k] = def[k];
  if (Array.isArray(out.steps)) {
    out.steps = out.steps.map((s) => (s && typeof s === 'object' && 'id' in s ? { id: s.id, ...s } : s));
  }
  return JSON.stringify(out, null, 2);
}

function editorPage(name, text, signal) {
  const area = h('textarea', {
    id: 'definition', class: 'wfe-text', wrap: 'off', spellcheck: 'false', autocomplete: 'off',
    autocapitalize: 'off', 'aria-label': 'Workflow definition (JSON or YAML)',
    'aria-describedby': 'wfe-status', value: text,
  });
  const gutterLines = h('div', { class: 'wfe-gutter-lines' });
  const gutter = h('div', { class: 'wfe-gutter', 'aria-hidden': 'true' }, gutterLines);
  const status = h('div', { id: 'wfe-status', class: 'wfe-status', 'aria-live': 'polite' });
  const errorList = h('ul', { class: 'wfe-errors', 'data-test': 'validation-errors' });
  const saved = h('div', { class: 'wfe-saved', 'aria-live': 'polite' });
  const preview = h('div', { class: 'wfe-preview' });
  const state = { lastGraph: null, marks: new Map(), lines: 0 };

  const ed = { area, gutter, gutterLines, state };
  const syncGutter = () => { gutterLines.style.transform = `translateY(${-area.scrollTop}px)`; };
  area.addEventListener('scroll', syncGutter);
  renderGutter(ed);

  const check = validator({ ed, status, errorList, preview, signal });
  const later = debounce(check, 400);
  area.addEventListener('input', () => {
    renderGutter(ed);
    later();
  });

  const save = async () => {
    fill(saved);
    const body = area.value;
    if (!body.trim()) { fill(saved, h('div', { class: 'error', role: 'alert' }, 'Write a definition first.')); return; }
    try {
      const r = await api('POST', '/v1/workflows', { body, contentType: contentType(body), signal });
      fill(saved, h('p', { class: 'wfe-saved-msg', 'data-test': 'saved', role: 'status' },
        r.created ? `Saved version ${r.version}` : `Unchanged: still version ${r.version}`,
        ' of ', link(`/ui/workflows/${enc(r.name)}`, r.name), '.'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.code === 'invalid_definition') showProblems(ed, errorList, status, e.details, e.message);
      fill(saved, errorBox(e));
    }
  };
  const saveBtn = h('button', { type: 'button', class: 'btn primary' }, 'Save');
  saveBtn.addEventListener('click', async () => {
    saveBtn.disabled = true;
    try { await save(); } finally { saveBtn.disabled = false; }
  });
  area.addEventListener('keydown', (e) => {
    // Ctrl/Cmd+S saves instead of saving the page.
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') { e.preventDefault(); saveBtn.click(); }
  });

  ed.onSelectStep = (id) => goToLine(ed, findStepLine(area.value, id));
  check();

  return h('section', { class: 'wf-page wfe' },
    header(name ? `Edit ${name}` : 'New workflow',
      name ? link(`/ui/workflows/${enc(name)}`, 'Back to the workflow') : link('/ui/workflows', 'Back to the workflows')),
    h('p', { class: 'muted wfe-help' }, 'JSON or YAML (', h('code', {}, 'docs/workflows.md'),
      '). Checked as you type; Save makes a new version when the definition changed (Ctrl+S).'),
    h('div', { class: 'wfe-layout' },
      h('div', { class: 'wfe-main' },
        h('div', { class: 'wfe-editor' }, gutter, area),
        status,
        errorList,
        h('div', { class: 'wfe-actions' }, saveBtn, saved)),
      h('div', { class: 'wfe-side' }, h('h2', {}, 'Preview'), preview)));
}

// ---- Validation ------------------------------------------------------------------------------

/** The check as you type: the newest text wins; an older answer arriving late is dropped. */
function validator({ ed, status, errorList, preview, signal }) {
  let run = 0;
  let inflight = null;
  return async () => {
    const mine = run += 1;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const stop = inflight;
    signal.addEventListener('abort', () => stop.abort(), { once: true });
    const text = ed.area.value;
    if (!text.trim()) {
      setMarks(ed, new Map());
      fill(errorList);
      fill(status, h('span', { class: 'muted' }, 'Empty: write a definition.'));
      drawPreview(ed, preview, null);
      return;
    }
    fill(status, h('span', { class: 'muted' }, 'Checking…'));
    try {
      const r = await api('POST', '/v1/workflows/validate', { body: text, contentType: contentType(text), signal: stop.signal });
      if (mine !== run) return;
      setMarks(ed, new Map());
      fill(errorList);
      fill(status, h('span', { class: 'wfe-ok' }, `Valid: ${r.name}, ${plural(r.steps, 'step')}, ${plural(r.triggers, 'trigger')}.`));
      if (r.graph) ed.state.lastGraph = r.graph;
      drawPreview(ed, preview, r.graph || null);
    } catch (e) {
      if (mine !== run || e.name === 'AbortError') return;
      if (e instanceof ApiError && e.code === 'invalid_definition') {
        showProblems(ed, errorList, status, e.details, e.message);
      } else {
        setMarks(ed, new Map());
        fill(errorList);
        fill(status, errorBox(e));
      }
      drawPreview(ed, preview, null);
    }
  };
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The live graph, or the last good one greyed out while the text does not validate. */
function drawPreview(ed, preview, g) {
  const shown = g || ed.state.lastGraph;
  if (!shown) {
    fill(preview, h('p', { class: 'muted' }, 'The graph appears once the definition is valid.'));
    return;
  }
  const drawing = graph(shown, { onSelect: ed.onSelectStep });
  if (!g) {
    drawing.classList.add('wfe-stale');
    fill(preview, h('p', { class: 'muted wfe-stale-note' }, 'The last valid definition, while this one has problems.'), drawing);
  } else {
    fill(preview, drawing);
  }
}

function showProblems(ed, errorList, status, details, message) {
  const list = Array.isArray(details) && details.length ? details : [{ path: '', message }];
  const text = ed.area.value;
  const marks = new Map();
  const items = list.map((d) => {
    const where = locate(text, d.path || '', d.message || '', ed.state.lastGraph);
    if (where.line) {
      if (!marks.has(where.line)) marks.set(where.line, []);
      marks.get(where.line).push(d.message);
    }
    return h('li', { class: 'wfe-error', 'data-test': 'validation-error', 'data-step': where.step || '' },
      h('button', {
        type: 'button',
        class: 'wfe-error-go',
        disabled: !where.line,
        title: where.line ? `Go to line ${where.line}` : null,
        onclick: () => goToLine(ed, where.line),
      },
      h('span', { class: 'wfe-error-where' }, where.step ? `Step ${where.step}` : (d.path || 'The definition')),
      where.line ? h('span', { class: 'wfe-error-line' }, `line ${where.line}`) : null),
      h('span', { class: 'wfe-error-msg' }, d.message),
      d.path ? h('code', { class: 'wfe-error-path' }, d.path) : null);
  });
  setMarks(ed, marks);
  fill(errorList, items);
  fill(status, h('span', { class: 'wfe-bad' }, `${plural(list.length, 'problem')}: nothing would be saved.`));
}

// ---- From an error's path to a line ---------------------------------------------------------

/**
 * Where a problem is: the step it names (`steps[1] (id "b").then`; by position when the path
 * has no id) and the line to show, 1-based (0: none found).
 */
export function locate(text, path, message, lastGraph) {
  const m = /^steps\[(\d+)\](?: \(id "((?:[^"\\]|\\.)*)"\))?/.exec(path);
  if (m) {
    let step = m[2] !== undefined ? unquote(m[2]) : stepIdAt(text, Number(m[1]), lastGraph);
    const line = step ? findStepLine(text, step) : 0;
    if (!step) step = '';
    return { step, line: line || findKeyLine(text, 'steps') };
  }
  const key = /^[A-Za-z_]+/.exec(path);
  if (key) return { step: '', line: findKeyLine(text, key[0]) };
  // A parse error names its place: "... at line 5 column 3".
  const at = /line (\d+)/.exec(message);
  return { step: '', line: at ? Number(at[1]) : 0 };
}

function unquote(s) {
  try { return JSON.parse(`"${s}"`); } catch { return s; }
}

/** The id of the n-th step: from the text when it is JSON, else from the last good graph. */
function stepIdAt(text, n, lastGraph) {
  try {
    const def = JSON.parse(text);
    const s = def && Array.isArray(def.steps) ? def.steps[n] : null;
    if (s && typeof s.id === 'string') return s.id;
  } catch {
    // YAML, or JSON not yet complete: fall through.
  }
  const node = lastGraph && lastGraph.nodes && lastGraph.nodes[n];
  return node ? node.id : '';
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The line of a step's `"id": "b"` (JSON) or `id: b` (YAML), looked for after `steps`. */
export function findStepLine(text, id) {
  const lines = text.split('\n');
  const e = escapeRe(id);
  const json = new RegExp(`"id"\\s*:\\s*"${e}"`);
  const yaml = new RegExp(`(^|[\\s{,-])id\\s*:\\s*(["']?)${e}\\2\\s*(,|}|#|$)`);
  const from = Math.max(0, findKeyLine(text, 'steps') - 1);
  for (const start of [from, 0]) {
    for (let i = start; i < lines.length; i += 1) {
      if (json.test(lines[i]) || yaml.test(lines[i])) return i + 1;
    }
  }
  return 0;
}

/** The line of a top-level key (`"name":` or `name:`), the least indented one. */
function findKeyLine(text, key) {
  const lines = text.split('\n');
  const re = new RegExp(`^(\\s*)(["']?)${escapeRe(key)}\\2\\s*:`);
  let best = 0;
  let bestIndent = Infinity;
  lines.forEach((l, i) => {
    const m = re.exec(l);
    if (m && m[1].length < bestIndent) { best = i + 1; bestIndent = m[1].length; }
  });
  return best;
}

// ---- The gutter and the caret ----------------------------------------------------------------

/** One number per line; only the difference is added or removed as lines come and go. */
function renderGutter(ed) {
  const n = ed.area.value.split('\n').length;
  const box = ed.gutterLines;
  while (box.childElementCount < n) {
    const i = box.childElementCount + 1;
    box.append(lineNumber(ed, i));
  }
  while (box.childElementCount > n) box.lastElementChild.remove();
  ed.state.lines = n;
  box.style.transform = `translateY(${-ed.area.scrollTop}px)`;
}

function lineNumber(ed, i) {
  const el = h('div', { class: 'wfe-ln' }, String(i));
  const msgs = ed.state.marks.get(i);
  if (msgs) mark(el, msgs);
  return el;
}

function mark(el, msgs) {
  el.classList.add('wfe-ln-err');
  el.title = msgs.join('\n');
}

function setMarks(ed, marks) {
  for (const line of ed.state.marks.keys()) {
    const el = ed.gutterLines.children[line - 1];
    if (el) { el.classList.remove('wfe-ln-err'); el.removeAttribute('title'); }
  }
  ed.state.marks = marks;
  for (const [line, msgs] of marks) {
    const el = ed.gutterLines.children[line - 1];
    if (el) mark(el, msgs);
  }
}

/** Put the caret on a line (1-based), select its text, and scroll it into view. */
function goToLine(ed, line) {
  if (!line) return;
  const { area } = ed;
  const lines = area.value.split('\n');
  const n = Math.min(line, lines.length);
  let pos = 0;
  for (let i = 0; i < n - 1; i += 1) pos += lines[i].length + 1;
  const indent = lines[n - 1].length - lines[n - 1].trimStart().length;
  area.focus();
  area.setSelectionRange(pos + indent, pos + lines[n - 1].length);
  area.scrollTop = Math.max(0, (n - 1) * LINE_H - area.clientHeight / 3);
  ed.gutterLines.style.transform = `translateY(${-area.scrollTop}px)`;
}
