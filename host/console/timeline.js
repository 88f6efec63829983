// The timeline of one execution: its step runs drawn to scale on a horizontal time axis, one row
// per step, retries side by side in their step's row, waits hatched. Long idle stretches (a day's
// delay, a goal's window, a queue) are drawn with a fixed width and a break marker, so that the
// short steps around them stay readable.

import { h, duration } from './lib.js';

// A stretch without work longer than this share of the whole span is compressed.
const LONG = 0.2;
// The width (in % of the track) of one compressed stretch.
const BREAK_PCT = 8;
// Nothing shorter than this (ms) is drawn as a break.
const MIN_BREAK = 10;
// Step kinds whose run is a wait rather than work.
const WAIT_KINDS = new Set(['delay', 'goal']);

const ms = (t) => (t ? Date.parse(t) : NaN);

/** The timeline of `execution` (as `GET /v1/executions/{id}` answers it). */
export function timeline(execution) {
  const now = Date.now();
  const bars = collectBars(execution, now);
  const root = h('div', { class: 'timeline', 'data-test': 'timeline' });
  if (!bars.length) {
    root.append(h('p', { class: 'muted' }, execution.status === 'queued' ? 'Queued: no step has run yet.' : 'No step has run.'));
    return root;
  }
  const created = ms(execution.created_at);
  const t0 = Math.min(Number.isNaN(created) ? Infinity : created, ...bars.map((b) => b.start));
  const ended = ms(execution.ended_at);
  const t1 = Math.max(Number.isNaN(ended) ? now : ended, ...bars.map((b) => b.end), t0 + 1);
  const scale = makeScale(bars, t0, t1);
  const rows = groupRows(bars);
  root.append(h('div', { class: 'tl-scroll' },
    h('div', { class: 'tl-grid', role: 'list', 'aria-label': `Timeline: ${rows.length} steps over ${duration(t1 - t0)}` },
      axisRow(scale, t0),
      rows.map((r) => stepRow(r, scale)))),
  legend());
  return root;
}

/** Every bar to draw: one per step run, plus the backoff before each retry. */
function collectBars(ex, now) {
  const runs = [...(ex.steps || [])].sort((a, b) => a.seq - b.seq);
  const exEnd = ms(ex.ended_at);
  const bars = [];
  const lastOf = new Map();
  for (const s of runs) {
    const start = ms(s.started_at);
    if (Number.isNaN(start)) continue;
    // A run without an end is still going, unless the execution ended (then it stopped there).
    let end = ms(s.ended_at);
    let open = false;
    if (Number.isNaN(end)) {
      open = Number.isNaN(exEnd);
      end = open ? now : exEnd;
    }
    end = Math.max(end, start);
    const prev = lastOf.get(s.step_id);
    if (prev && s.attempt > prev.attempt && prev.status === 'failed' && start > prev.end) {
      bars.push(backoff(s.step_id, s.kind, prev.end, start, s.attempt, false));
    }
    const status = s.status || 'running';
    const bar = {
      step: s.step_id, kind: s.kind, seq: s.seq, attempt: s.attempt, status, start, end, open,
      wait: WAIT_KINDS.has(s.kind) || s.status === 'waiting',
    };
    bars.push(bar);
    lastOf.set(s.step_id, bar);
  }
  // A step running on another node has no run in the history until it ends: draw it from the
  // last commit.
  if (ex.status === 'running' && ex.position && !ex.ended_at && !runs.some((s) => s.status === 'running')) {
    const since = Math.max(ms(ex.updated_at) || 0, ...bars.map((b) => b.end));
    if (since && now >= since) {
      const prev = lastOf.get(ex.position);
      bars.push({
        step: ex.position, kind: prev ? prev.kind : 'step', attempt: prev && prev.status === 'failed' ? prev.attempt + 1 : 1,
        status: 'running', start: since, end: now, open: true, wait: false,
      });
    }
  }
  // Waiting for the next attempt of a step: its backoff runs until now.
  const w = ex.waiting;
  if (w && w.kind === 'retry' && !ex.ended_at) {
    const prev = lastOf.get(w.step);
    if (prev && now > prev.end) bars.push(backoff(w.step, prev.kind, prev.end, now, prev.attempt + 1, true, ex.wake_at));
  }
  return bars;
}

function backoff(step, kind, start, end, attempt, open, wakeAt) {
  return { step, kind, attempt, status: 'backoff', start, end, open, wait: true, backoff: true, wakeAt };
}

/** Rows in the order the steps first ran. */
function groupRows(bars) {
  const rows = new Map();
  for (const b of bars) {
    if (!rows.has(b.step)) rows.set(b.step, { step: b.step, kind: b.kind, bars: [] });
    rows.get(b.step).bars.push(b);
  }
  return [...rows.values()];
}

/**
 * A piecewise-linear map from time to % of the track: stretches where nothing works (no bar but
 * waits) and that are longer than LONG of the span get a fixed width; the rest shares what is left.
 */
function makeScale(bars, t0, t1) {
  const span = t1 - t0;
  const busy = mergeIntervals(bars.filter((b) => !b.wait).map((b) => [b.start, Math.max(b.end, b.start)]));
  const pieces = [];
  let at = t0;
  const idle = (a, b) => {
    if (b > a) pieces.push({ a, b, idle: true, compressed: false });
  };
  for (const [a, b] of busy) {
    idle(at, Math.max(at, a));
    if (b > Math.max(at, a)) pieces.push({ a: Math.max(at, a), b, idle: false, compressed: false });
    at = Math.max(at, b);
  }
  idle(at, t1);
  // Compress, then look again at what is left: once a day's wait is drawn short, a minute's
  // queue may be what hides the steps.
  // (Only while there is work to show: steps that took no time gain nothing from it.)
  const work = busy.reduce((n, [a, b]) => n + (b - a), 0);
  let threshold = LONG * span;
  for (let round = 0; round < (work >= 1 ? 3 : 1); round += 1) {
    let more = false;
    for (const p of pieces) {
      if (p.idle && !p.compressed && p.b - p.a > threshold && p.b - p.a >= MIN_BREAK) {
        p.compressed = true;
        more = true;
      }
    }
    if (!more) break;
    threshold = LONG * pieces.filter((p) => !p.compressed).reduce((n, p) => n + (p.b - p.a), 0);
  }
  const breaks = pieces.filter((p) => p.compressed).length;
  const normal = pieces.filter((p) => !p.compressed).reduce((n, p) => n + (p.b - p.a), 0);
  const breakPct = normal === 0 ? 100 / Math.max(breaks, 1) : Math.min(BREAK_PCT, 50 / Math.max(breaks, 1));
  const rest = 100 - breaks * breakPct;
  let x = 0;
  for (const p of pieces) {
    p.x0 = x;
    p.w = p.compressed ? breakPct : (rest * (p.b - p.a)) / normal;
    x += p.w;
  }
  const toX = (t) => {
    if (t <= t0) return 0;
    for (const p of pieces) {
      if (t <= p.b) return p.x0 + (p.b === p.a ? 0 : (p.w * (t - p.a)) / (p.b - p.a));
    }
    return 100;
  };
  const toT = (xp) => {
    for (const p of pieces) {
      if (xp <= p.x0 + p.w) return { t: p.a + (p.w ? ((xp - p.x0) / p.w) * (p.b - p.a) : 0), compressed: p.compressed };
    }
    return { t: t1, compressed: false };
  };
  return { toX, toT, pieces, t0, t1 };
}

function mergeIntervals(list) {
  const sorted = list.sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The axis: offsets from the start at a few places, and a marker on each compressed stretch. */
function axisRow(scale, t0) {
  const track = h('div', { class: 'tl-track tl-axis-track' });
  const breaks = scale.pieces.filter((p) => p.compressed);
  // Labels as precise as the drawn (uncompressed) time needs, so neighbours differ.
  const drawn = scale.pieces.filter((p) => !p.compressed).reduce((n, p) => n + (p.b - p.a), 0);
  let last = null;
  for (const xp of [0, 20, 40, 60, 80, 100]) {
    const { t, compressed } = scale.toT(xp);
    if (compressed) continue;
    if (breaks.some((p) => Math.abs(p.x0 + p.w / 2 - xp) < 9)) continue;
    const label = xp === 0 ? '0' : `+${offset(t - t0, drawn)}`;
    if (label === last) continue;
    last = label;
    track.append(h('span', { class: `tl-tick${xp === 100 ? ' tl-tick-end' : ''}`, style: { left: `${xp}%` } }, label));
  }
  for (const p of breaks) {
    track.append(h('span', { class: 'tl-break-label', style: { left: `${p.x0 + p.w / 2}%` }, title: `${duration(p.b - p.a)} drawn short` }, `⋯ ${duration(p.b - p.a)}`));
  }
  return h('div', { class: 'tl-row tl-axis', 'aria-hidden': 'true' }, h('div', { class: 'tl-label muted' }, 'step'), track);
}

/** An offset from the start, with a precision fit for `span` (both in ms). */
function offset(ms, span) {
  if (ms < 1000) return span < 20 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(span < 2000 ? 3 : span < 20000 ? 2 : 1)} s`;
  return duration(ms);
}

function stepRow(row, scale) {
  const track = h('div', { class: 'tl-track' });
  for (const p of scale.pieces.filter((q) => q.compressed)) {
    track.append(h('div', { class: 'tl-gap', style: { left: `${p.x0}%`, width: `${p.w}%` } }));
  }
  for (const b of row.bars) track.append(bar(b, scale));
  const retries = row.bars.filter((b) => !b.backoff).length;
  return h('div', { class: 'tl-row', role: 'listitem' },
    h('div', { class: 'tl-label', title: `${row.step} (${row.kind})` },
      h('span', { class: 'tl-step' }, row.step),
      retries > 1 ? h('span', { class: 'tl-retries muted' }, ` ×${retries}`) : null),
    track);
}

function bar(b, scale) {
  const x0 = scale.toX(b.start);
  const x1 = scale.toX(b.end);
  const took = b.end - b.start;
  const what = b.backoff ? `backoff before attempt ${b.attempt}` : `attempt ${b.attempt} · ${b.status}`;
  const until = b.open ? (b.backoff && b.wakeAt ? `next attempt at ${local(Date.parse(b.wakeAt))}` : 'now') : local(b.end);
  const title = `${b.step} (${b.kind}) · ${what} · ${duration(took)}${b.open ? ' so far' : ''}\n${local(b.start)} → ${until}`;
  const cls = ['tl-bar', `st-${b.status}`];
  if (b.wait) cls.push('tl-wait');
  if (b.open) cls.push('tl-open');
  const el = h('div', {
    class: cls.join(' '), 'data-test': 'bar', title, role: 'img', 'aria-label': title.replace('\n', ', '),
    style: { left: `${x0}%`, width: `${Math.max(x1 - x0, 0)}%` },
  });
  if (x1 - x0 > 9) el.append(h('span', { class: 'tl-bar-text' }, duration(took)));
  return el;
}

function local(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

function legend() {
  const item = (cls, label) => h('li', {}, h('span', { class: `tl-swatch ${cls}`, 'aria-hidden': 'true' }), label);
  return h('ul', { class: 'tl-legend', 'aria-label': 'Legend' },
    item('st-completed', 'completed'),
    item('st-running', 'running'),
    item('st-failed', 'failed'),
    item('st-cancelled', 'cancelled'),
    item('st-waiting tl-wait', 'waiting (delay, goal, backoff)'),
    item('tl-gap-swatch', 'long stretch drawn short'));
}
