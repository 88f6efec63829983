// A workflow drawn as a graph: Start, the steps, End, and the edges between them, in layers from
// top to bottom. The server sends the graph (`{nodes, edges}`, nodes in definition order); the
// layout is done here, so that the API stays a plain description of the definition.
//
// The layout is a small Sugiyama-style one: a layer per step (the longest path from Start over
// forward edges), dummy points where an edge spans several layers (so it runs between steps,
// not through them), a few barycentre sweeps to cut crossings, then x positions pulled towards
// neighbours. Edges to a step defined earlier (goto loops) are back edges: they leave by the
// side and curve up a lane of their own.

import { h } from './lib.js';

const NODE_W = 184;
const NODE_H = 50;
const TERM_W = 88;
const TERM_H = 30;
const DUMMY_W = 12;
const ROW_GAP = 58;
const COL_GAP = 28;
const MARGIN = 24;
const LANE_GAP = 16;
const LANE_OUT = 26;
const ID_CHARS = 20;
const LABEL_CHARS = 26;
const EDGE_LABEL_CHARS = 24;

const START = '^start';
const END = '^end';

let instances = 0; // marker ids must be unique when a page shows more than one graph

/**
 * Draw a workflow graph. `g`: `{nodes: [{id, kind, label}], edges: [{from, to, kind, label}]}`.
 * `path`: step ids an execution ran through, in order (`path.ended`: it reached End); those
 * nodes and the edges between them are highlighted, the rest dimmed. `onSelect(id)`: called
 * when a step is clicked or activated with the keyboard.
 * Answers a scrollable `div` holding the SVG and a legend.
 */
export function graph(g, { path, onSelect } = {}) {
  if (!g || !Array.isArray(g.nodes) || g.nodes.length === 0) {
    return h('div', { class: 'wfg wfg-none' }, h('p', { class: 'muted' }, 'No steps to draw.'));
  }
  const model = build(g);
  assignLayers(model);
  addDummies(model);
  orderLayers(model);
  placeX(model);
  routeBackEdges(model);
  finishCoordinates(model);
  const taken = takenSets(model, path);
  return h('div', { class: 'wfg' },
    h('div', { class: 'wfg-scroll' }, draw(model, taken, onSelect)),
    legend());
}

// ---- The model --------------------------------------------------------------------------------

function build(g) {
  const items = new Map();
  const add = (it) => { items.set(it.key, it); it.up = []; it.down = []; return it; };
  const steps = g.nodes.map((n, i) => add({ key: `s:${n.id}`, type: 'step', node: n, index: i, w: NODE_W, h: NODE_H }));
  const start = add({ key: START, type: 'start', index: -1, w: TERM_W, h: TERM_H });
  const end = add({ key: END, type: 'end', index: steps.length, w: TERM_W, h: TERM_H });
  const edges = [{ from: start, to: steps[0], kind: 'start', label: '', back: false, synthetic: true }];
  for (const e of g.edges || []) {
    const from = items.get(`s:${e.from}`);
    const to = e.to === 'end' ? end : items.get(`s:${e.to}`);
    if (!from || !to) continue; // an edge to nowhere: the validator reports it, the drawing skips it
    edges.push({ from, to, kind: e.kind || 'next', label: e.label || '', raw: e, back: to !== end && to.index <= from.index });
  }
  return { items, steps, start, end, edges, layers: [], lanes: [] };
}

/** Longest path from Start over forward edges; definition order is a topological order of them. */
function assignLayers(m) {
  const out = new Map();
  for (const e of m.edges) {
    if (e.back || e.synthetic) continue;
    if (!out.has(e.from)) out.set(e.from, []);
    out.get(e.from).push(e.to);
  }
  m.start.layer = 0;
  let prev = 0;
  for (const s of m.steps) {
    // A step no forward edge reaches (only a loop jumps to it) goes below the one before it.
    if (s.layer === undefined) s.layer = prev + 1;
    prev = s.layer;
    for (const t of out.get(s) || []) {
      if (t !== m.end) t.layer = Math.max(t.layer || 0, s.layer + 1);
    }
  }
  m.end.layer = Math.max(...m.steps.map((s) => s.layer)) + 1;
}

/** Split forward edges spanning several layers with dummy points, one per layer crossed. */
function addDummies(m) {
  let n = 0;
  for (const e of m.edges) {
    if (e.back) { e.chain = [e.from, e.to]; continue; }
    const chain = [e.from];
    for (let l = e.from.layer + 1; l < e.to.layer; l += 1) {
      const d = { key: `d:${n += 1}`, type: 'dummy', index: e.from.index + 0.5, layer: l, w: DUMMY_W, h: NODE_H, up: [], down: [] };
      m.items.set(d.key, d);
      chain.push(d);
    }
    chain.push(e.to);
    for (let i = 1; i < chain.length; i += 1) {
      chain[i - 1].down.push(chain[i]);
      chain[i].up.push(chain[i - 1]);
    }
    e.chain = chain;
  }
  const count = m.end.layer + 1;
  m.layers = Array.from({ length: count }, () => []);
  for (const it of m.items.values()) m.layers[it.layer].push(it);
  for (const layer of m.layers) {
    layer.sort((a, b) => a.index - b.index);
    layer.forEach((it, i) => { it.pos = i; });
  }
}

// ---- Ordering within layers ------------------------------------------------------------------

function orderLayers(m) {
  let best = m.layers.map((l) => l.slice());
  let bestCrossings = crossings(m.layers);
  for (let round = 0; round < 8 && bestCrossings > 0; round += 1) {
    for (let l = 1; l < m.layers.length; l += 1) sortByBarycentre(m.layers[l], 'up');
    for (let l = m.layers.length - 2; l >= 0; l -= 1) sortByBarycentre(m.layers[l], 'down');
    const c = crossings(m.layers);
    if (c < bestCrossings) {
      bestCrossings = c;
      best = m.layers.map((l) => l.slice());
    }
  }
  m.layers = best;
  for (const layer of m.layers) layer.forEach((it, i) => { it.pos = i; });
}

function sortByBarycentre(layer, side) {
  const bary = new Map();
  for (const it of layer) {
    const ns = it[side];
    bary.set(it, ns.length ? ns.reduce((a, n) => a + n.pos, 0) / ns.length : it.pos);
  }
  // Stable: ties keep their order, so definition order wins when nothing else decides.
  layer.sort((a, b) => bary.get(a) - bary.get(b));
  layer.forEach((it, i) => { it.pos = i; });
}

function crossings(layers) {
  let total = 0;
  for (const layer of layers) {
    const segs = [];
    for (const a of layer) for (const b of a.down) segs.push([a.pos, b.pos]);
    for (let i = 0; i < segs.length; i += 1) {
      for (let j = i + 1; j < segs.length; j += 1) {
        const [a1, b1] = segs[i];
        const [a2, b2] = segs[j];
        if ((a1 - a2) * (b1 - b2) < 0) total += 1;
      }
    }
  }
  return total;
}

// ---- Coordinates -----------------------------------------------------------------------------

function gap(a, b) {
  return (a.w + b.w) / 2 + (a.type === 'dummy' && b.type === 'dummy' ? COL_GAP / 2 : COL_GAP);
}

/** Centres pulled towards their neighbours' centres, keeping each layer's order and spacing. */
function placeX(m) {
  for (const layer of m.layers) {
    let x = 0;
    layer.forEach((it, i) => {
      x += i === 0 ? it.w / 2 : gap(layer[i - 1], it);
      it.x = x;
    });
    const shift = x / 2;
    for (const it of layer) it.x -= shift;
  }
  const sides = ['up', 'down', 'up', 'down', 'up', 'down', 'both', 'both'];
  for (const side of sides) {
    const order = side === 'down' ? m.layers.slice().reverse() : m.layers;
    for (const layer of order) {
      const want = layer.map((it) => {
        const ns = side === 'both' ? it.up.concat(it.down) : it[side];
        return ns.length ? ns.reduce((a, n) => a + n.x, 0) / ns.length : it.x;
      });
      settle(layer, want);
    }
  }
  straighten(m);
}

/** A long edge's dummy points lined up on one x where their neighbours leave room: no wiggles. */
function straighten(m) {
  for (let round = 0; round < 3; round += 1) {
    for (const e of m.edges) {
      const ds = e.chain.filter((it) => it.type === 'dummy');
      if (ds.length < 2) continue;
      const xs = ds.map((d) => d.x).sort((a, b) => a - b);
      const target = xs[Math.floor(xs.length / 2)];
      for (const d of ds) {
        const layer = m.layers[d.layer];
        const i = d.pos;
        const lo = i > 0 ? layer[i - 1].x + gap(layer[i - 1], d) : -Infinity;
        const hi = i < layer.length - 1 ? layer[i + 1].x - gap(d, layer[i + 1]) : Infinity;
        d.x = Math.min(hi, Math.max(lo, target));
      }
    }
  }
}

/**
 * Put a layer's items as near as they can be to `want`, in order and spaced: one pass pushing
 * right, one pushing left; both keep the spacing, so their average does too.
 */
function settle(layer, want) {
  const n = layer.length;
  const right = want.slice();
  for (let i = 1; i < n; i += 1) right[i] = Math.max(right[i], right[i - 1] + gap(layer[i - 1], layer[i]));
  const left = want.slice();
  for (let i = n - 2; i >= 0; i -= 1) left[i] = Math.min(left[i], left[i + 1] - gap(layer[i], layer[i + 1]));
  layer.forEach((it, i) => { it.x = (right[i] + left[i]) / 2; });
}

/** Each back edge gets a vertical lane beside the layers it spans, left or right. */
function routeBackEdges(m) {
  for (const it of m.items.values()) {
    it.y = MARGIN + it.layer * (NODE_H + ROW_GAP) + (NODE_H - it.h) / 2;
  }
  const back = m.edges.filter((e) => e.back)
    .sort((a, b) => (a.from.layer - a.to.layer) - (b.from.layer - b.to.layer));
  for (const e of back) {
    const layer = m.layers[e.from.layer];
    // Leave by the side the step is nearer to, so the lane does not cross its neighbours.
    const side = e.from.pos === 0 && layer.length > 1 ? 'left' : 'right';
    const lo = e.to.layer;
    const hi = e.from.layer;
    let bound = side === 'right' ? -Infinity : Infinity;
    for (let l = lo; l <= hi; l += 1) {
      for (const it of m.layers[l]) {
        bound = side === 'right' ? Math.max(bound, it.x + it.w / 2) : Math.min(bound, it.x - it.w / 2);
      }
    }
    const dir = side === 'right' ? 1 : -1;
    let x = bound + dir * LANE_OUT;
    const clash = () => m.lanes.some((o) => o.side === side && o.lo <= hi && lo <= o.hi && Math.abs(o.x - x) < LANE_GAP);
    while (clash()) x += dir * LANE_GAP;
    const lane = { side, lo, hi, x };
    m.lanes.push(lane);
    e.lane = lane;
  }
}

/** Shift everything right of the margin and size the canvas. */
function finishCoordinates(m) {
  let minX = Infinity;
  let maxX = -Infinity;
  for (const it of m.items.values()) {
    minX = Math.min(minX, it.x - it.w / 2);
    maxX = Math.max(maxX, it.x + it.w / 2);
  }
  for (const lane of m.lanes) {
    // Room for the lane's label beside it.
    minX = Math.min(minX, lane.x - (lane.side === 'left' ? 70 : 0));
    maxX = Math.max(maxX, lane.x + (lane.side === 'right' ? 70 : 0));
  }
  const shift = MARGIN - minX;
  for (const it of m.items.values()) it.x += shift;
  for (const lane of m.lanes) lane.x += shift;
  m.width = Math.ceil(maxX - minX + 2 * MARGIN);
  m.height = Math.ceil(MARGIN * 2 + m.layers.length * NODE_H + (m.layers.length - 1) * ROW_GAP);
}

// ---- The path an execution took --------------------------------------------------------------

function takenSets(m, path) {
  if (!Array.isArray(path)) return null;
  const ids = [];
  for (const id of path) {
    // Consecutive repeats are retries of one step, not a loop.
    if (ids[ids.length - 1] !== id && m.items.has(`s:${id}`)) ids.push(id);
  }
  const nodes = new Set(ids.map((id) => `s:${id}`));
  const pairs = new Set();
  if (ids.length) {
    nodes.add(START);
    pairs.add(`${START}>s:${ids[0]}`);
  }
  for (let i = 1; i < ids.length; i += 1) pairs.add(`s:${ids[i - 1]}>s:${ids[i]}`);
  if (path.ended && ids.length) {
    nodes.add(END);
    pairs.add(`s:${ids[ids.length - 1]}>${END}`);
  }
  return { nodes, pairs };
}

// ---- Drawing ---------------------------------------------------------------------------------

function draw(m, taken, onSelect) {
  const uid = `wfg${instances += 1}`;
  const markers = ['plain', 'taken', 'fail', 'loop'];
  const svg = h('svg', {
    class: `wfg-svg${taken ? ' wfg-has-path' : ''}${onSelect ? ' wfg-selectable' : ''}`,
    width: m.width,
    height: m.height,
    viewBox: `0 0 ${m.width} ${m.height}`,
    role: 'group',
    'aria-label': `Workflow graph: ${m.steps.length} steps`,
  },
  h('defs', {}, markers.map((k) => h('marker', {
    id: `${uid}-${k}`, class: `wfg-arrow wfg-arrow-${k}`, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
  }, h('path', { d: 'M0,0 L10,5 L0,10 z' })))),
  h('g', { class: 'wfg-edges' }, m.edges.map((e) => drawEdge(m, e, taken, uid))),
  h('g', { class: 'wfg-nodes' }, [m.start, ...m.steps, m.end].map((it) => drawNode(it, taken, onSelect))));
  return svg;
}

function drawNode(it, taken, onSelect) {
  const isTaken = taken && taken.nodes.has(it.key);
  const x = it.x - it.w / 2;
  if (it.type !== 'step') {
    const name = it.type === 'start' ? 'Start' : 'End';
    return h('g', {
      class: `wfg-terminal wfg-${it.type}${isTaken ? ' taken' : ''}`,
      'data-test': 'terminal', transform: `translate(${x},${it.y})`,
    },
    h('rect', { class: 'wfg-box', width: it.w, height: it.h, rx: it.h / 2 }),
    h('text', { class: 'wfg-term-text', x: it.w / 2, y: it.h / 2 + 4, 'text-anchor': 'middle' }, name));
  }
  const { id, kind, label } = it.node;
  const sub = [kind, label].filter(Boolean).join(' · ');
  const full = `${id} (${kind}${label ? `: ${label}` : ''})`;
  const activate = onSelect ? () => onSelect(id) : null;
  return h('g', {
    class: `node wfg-kind-${kind}${isTaken ? ' taken' : ''}`,
    'data-test': 'node',
    'data-step': id,
    tabindex: 0,
    'aria-label': `Step ${full}${isTaken ? ', on the execution path' : ''}`,
    transform: `translate(${x},${it.y})`,
    onclick: activate,
    onkeydown: activate ? (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); activate(); }
    } : null,
  },
  h('title', {}, full),
  h('rect', { class: 'wfg-focus', x: -4, y: -4, width: it.w + 8, height: it.h + 8, rx: 11 }),
  h('rect', { class: 'wfg-box', width: it.w, height: it.h, rx: 8 }),
  h('rect', { class: 'wfg-stripe', width: 6, height: it.h - 8, x: 3, y: 4, rx: 3 }),
  h('text', { class: 'wfg-id', x: 16, y: 21 }, truncate(id, ID_CHARS)),
  h('text', { class: 'wfg-sub', x: 16, y: 38 }, truncate(sub, LABEL_CHARS)));
}

function drawEdge(m, e, taken, uid) {
  const isTaken = !!taken && taken.pairs.has(`${e.from.key}>${e.to.key}`);
  const text = edgeText(e);
  const d = e.back ? backPath(m, e) : forwardPath(m, e);
  const marker = isTaken ? 'taken' : e.kind === 'on_failure' ? 'fail' : e.back ? 'loop' : 'plain';
  const toName = e.to === m.end ? 'end' : e.to.node.id;
  const attrs = e.synthetic
    ? { class: `wfg-start-edge${isTaken ? ' taken' : ''}`, 'data-test': 'start-edge' }
    : {
      class: `edge wfg-k-${e.kind}${e.back ? ' wfg-back' : ''}${isTaken ? ' taken' : ''}`,
      'data-test': 'edge', 'data-from': e.from.node.id, 'data-to': toName, 'data-kind': e.kind,
    };
  return h('g', attrs,
    e.synthetic ? null : h('title', {}, `${e.from.node.id} → ${toName}${text ? ` (${text})` : ''}`),
    h('path', { class: 'wfg-hit', d: d.path }),
    h('path', { class: 'wfg-line', d: d.path, 'marker-end': `url(#${uid}-${marker})` }),
    text ? h('text', { class: 'wfg-elabel', x: d.lx, y: d.ly, 'text-anchor': d.anchor || 'middle' }, truncate(text, EDGE_LABEL_CHARS)) : null);
}

/** What an edge says: its kind, and its label when that adds something. */
function edgeText(e) {
  const base = { next: '', start: '', then: 'then', else: 'else', met: 'met', not_met: 'not met', goto: 'goto', branch: '', on_failure: 'on failure' }[e.kind];
  const b = base === undefined ? e.kind.replace(/_/g, ' ') : base;
  const label = String(e.label || '').trim();
  if (!label || label.toLowerCase().replace(/_/g, ' ') === b) return b;
  return b ? `${b} ${label}` : label;
}

/** Where an edge leaves its source (bottom) or enters its target (top): spread when several. */
function port(it, others, edge) {
  const list = others.get(it) || [edge];
  const i = list.indexOf(edge);
  if (list.length === 1 || it.type === 'dummy') return it.x;
  const span = Math.min(it.w - 24, (list.length - 1) * 34);
  return it.x - span / 2 + (span * i) / (list.length - 1);
}

/** Out and in ports of every item, ordered by where the edge goes, so they do not cross. */
function ports(m) {
  if (m.ports) return m.ports;
  const outs = new Map();
  const ins = new Map();
  for (const e of m.edges) {
    if (e.back) continue;
    const a = e.chain[0];
    const b = e.chain[e.chain.length - 1];
    if (!outs.has(a)) outs.set(a, []);
    if (!ins.has(b)) ins.set(b, []);
    outs.get(a).push(e);
    ins.get(b).push(e);
  }
  for (const list of outs.values()) list.sort((p, q) => p.chain[1].x - q.chain[1].x);
  for (const list of ins.values()) list.sort((p, q) => p.chain[p.chain.length - 2].x - q.chain[q.chain.length - 2].x);
  m.ports = { outs, ins };
  return m.ports;
}

function forwardPath(m, e) {
  const { outs, ins } = ports(m);
  const chain = e.chain;
  const first = chain[0];
  const last = chain[chain.length - 1];
  const pts = [[port(first, outs, e), first.y + first.h]];
  for (const d of chain.slice(1, -1)) {
    pts.push([d.x, d.y]);
    pts.push([d.x, d.y + d.h]);
  }
  pts.push([port(last, ins, e), last.y]);
  let path = `M${pts[0][0]},${pts[0][1]}`;
  for (let i = 1; i < pts.length; i += 1) {
    const [px, py] = pts[i - 1];
    const [x, y] = pts[i];
    // Pairs of points inside a dummy are straight; between layers a vertical S-curve.
    if (i % 2 === 0 && i < pts.length - 1) path += ` L${x},${y}`;
    else {
      const dy = (y - py) / 2;
      path += ` C${px},${py + dy} ${x},${y - dy} ${x},${y}`;
    }
  }
  // The label sits on the first curve, a little below the source.
  const [x0, y0] = pts[0];
  const [x1, y1] = pts[1];
  const t = 0.32;
  const lx = bezier(x0, x0, x1, x1, t);
  const ly = bezier(y0, y0 + (y1 - y0) / 2, y1 - (y1 - y0) / 2, y1, t) + 4;
  return { path, lx, ly };
}

function bezier(a, b, c, d, t) {
  const u = 1 - t;
  return u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * d;
}

function backPath(m, e) {
  const { lane } = e;
  const right = lane.side === 'right';
  const sx = right ? e.from.x + e.from.w / 2 : e.from.x - e.from.w / 2;
  const tx = right ? e.to.x + e.to.w / 2 : e.to.x - e.to.w / 2;
  const sy = e.from.y + e.from.h / 2 + 8;
  const ty = e.to.y + e.to.h / 2 - 8;
  const r = Math.max(2, Math.min(14, Math.abs(lane.x - sx) / 2, (sy - ty) / 2));
  const dir = right ? 1 : -1;
  const path = [
    `M${sx},${sy}`,
    `H${lane.x - dir * r}`,
    `Q${lane.x},${sy} ${lane.x},${sy - r}`,
    `V${ty + r}`,
    `Q${lane.x},${ty} ${lane.x - dir * r},${ty}`,
    `H${tx}`,
  ].join(' ');
  return { path, lx: lane.x + dir * 5, ly: (sy + ty) / 2 + 4, anchor: right ? 'start' : 'end' };
}

function truncate(s, n) {
  const t = String(s);
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function legend() {
  const item = (cls, text) => h('span', { class: `wfg-legend-item ${cls}` }, h('span', { class: 'wfg-legend-line', 'aria-hidden': 'true' }), text);
  return h('div', { class: 'wfg-legend', 'aria-label': 'Legend' },
    item('wfg-lg-next', 'next / then / met / branch'),
    item('wfg-lg-else', 'else / not met'),
    item('wfg-lg-fail', 'on failure'),
    item('wfg-lg-loop', 'goto (back)'),
    item('wfg-lg-taken', 'execution path'));
}
