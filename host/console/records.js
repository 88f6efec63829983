// Records: the object types, the records of one type (filtered, paged), and one record with its
// fields, its executions and its events, each event saying which workflows it started and why
// the others did not.

import {
  h, fill, api, link, time, jsonView, errorBox, empty, header, facts, table, qs,
} from './lib.js';
import {
  executionLink, executionsTable, pager, parseStack, stackText, patchTable, follow, tick,
} from './executions.js';

const PAGE = 50;
const EVENTS = 100;
const enc = encodeURIComponent;

// ---- Object types ---------------------------------------------------------------------------

/** `/ui/records`: the object types and their fields. */
export async function objects(params, query, ctx) {
  const r = await api('GET', '/v1/objects', { signal: ctx.signal });
  const list = r.objects || [];
  if (!list.length) {
    return h('div', {}, header('Records'),
      empty('No object types yet.', 'Create one with ', h('code', {}, 'flowbox object apply FILE'), ' (or ', h('code', {}, 'POST /v1/objects'), ').'));
  }
  return h('div', {}, header('Records'),
    h('p', { class: 'muted' }, 'Each object type lists the fields its records carry. Open one to see its records.'),
    table([
      { label: 'Object type', cell: (o) => link(`/ui/records/${enc(o.name)}`, o.name) },
      { label: 'Description', cell: (o) => o.description || h('span', { class: 'muted' }, '—') },
      { label: 'Fields', cell: (o) => fieldChips(o.fields) },
    ], list));
}

function fieldChips(fields) {
  const entries = Object.entries(fields || {});
  if (!entries.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'chips' }, entries.map(([name, f]) => h('li', { class: 'chip', title: fieldTitle(name, f) },
    h('span', { class: 'chip-name' }, name), ' ', h('span', { class: 'muted' }, fieldType(f)),
    f.required ? h('span', { class: 'flag', title: 'required' }, '*') : null)));
}

function fieldType(f) {
  if (f.type === 'relation' && f.object) return `→ ${f.object}`;
  return f.type;
}

function fieldTitle(name, f) {
  const bits = [`${name}: ${f.type}`];
  if (f.required) bits.push('required');
  if (f.unique) bits.push('unique');
  if (f.choices && f.choices.length) bits.push(`one of ${f.choices.join(', ')}`);
  if (f.stages && f.stages.length) bits.push(`stages ${f.stages.join(' → ')}`);
  if (f.object) bits.push(`a ${f.object} record`);
  if (f.description) bits.push(f.description);
  return bits.join(' · ');
}

/** A field's value for a table cell or a fact, by the field's type. */
function value(field, v) {
  if (v === null || v === undefined || v === '') return h('span', { class: 'muted' }, '—');
  const type = field && field.type;
  if (type === 'relation' && field.object && typeof v === 'string') return link(`/ui/records/${enc(field.object)}/${enc(v)}`, v);
  if (type === 'datetime') return time(v);
  if (type === 'boolean') return v ? 'yes' : 'no';
  if (type === 'number') return h('span', { class: 'num' }, String(v));
  if (type === 'stage' || type === 'choice') return h('span', { class: 'chip' }, String(v));
  if (typeof v === 'object') return h('code', { class: 'clip', title: JSON.stringify(v) }, JSON.stringify(v));
  const text = String(v);
  return h('span', { class: 'clip', title: text.length > 40 ? text : undefined }, text);
}

// ---- Records of a type ----------------------------------------------------------------------

/** `/ui/records/:object`: its records in id order, filtered by an expression, paged. */
export async function list(params, query, ctx) {
  const { signal } = ctx;
  const object = params.object;
  const type = await api('GET', `/v1/objects/${enc(object)}`, { signal });
  const fields = type.fields || {};
  const state = {
    filter: query.filter || '',
    archived: query.archived || '',
    stack: parseStack(query.cursor),
    next: null,
    seq: 0,
  };
  const problem = h('div', { class: 'problem' });
  const results = h('div', { class: 'results' });
  let current = null;
  const pages = pager({
    onPrev: () => { state.stack.pop(); syncUrl(false); load(); },
    onNext: () => { if (state.next) { state.stack.push(state.next); syncUrl(false); load(); } },
  });

  const input = h('input', {
    id: 'f-filter', name: 'filter', type: 'search', value: state.filter, spellcheck: 'false', autocomplete: 'off',
    placeholder: firstNumber(fields) ? `record.${firstNumber(fields)} > 100` : 'record.stage == \'won\'',
    'aria-describedby': 'filter-help',
  });
  const archived = h('select', { id: 'f-archived', name: 'archived' },
    [['', 'Not archived'], ['true', 'Archived only'], ['any', 'Any']].map(([v, t]) => h('option', { value: v, selected: v === state.archived }, t)));
  const apply = () => {
    state.filter = input.value.trim();
    state.archived = archived.value;
    state.stack = [];
    syncUrl(true);
    load();
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': `Filter ${object} records`, onsubmit: (e) => { e.preventDefault(); apply(); } },
    h('div', { class: 'field field-wide' }, h('label', { for: 'f-filter' }, 'Filter'), input,
      h('small', { id: 'filter-help', class: 'muted' }, 'An expression over ', h('code', {}, 'record'), ', e.g. ', h('code', {}, 'record.amount > 100 and record.stage == \'won\''), '.')),
    h('div', { class: 'field' }, h('label', { for: 'f-archived' }, 'Archived'), archived),
    h('div', { class: 'field field-actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Apply')));
  archived.addEventListener('change', apply);

  function syncUrl(replace) {
    const url = `/ui/records/${enc(object)}${qs({ filter: state.filter, archived: state.archived, cursor: stackText(state.stack) })}`;
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
  }

  async function load() {
    const mine = ++state.seq;
    pages.busy(true);
    let page;
    try {
      page = await api('GET', `/v1/records/${enc(object)}`, {
        query: { filter: state.filter, archived: state.archived, limit: PAGE, cursor: state.stack[state.stack.length - 1] },
        signal,
      });
    } catch (e) {
      if (mine !== state.seq || signal.aborted || e.name === 'AbortError') return;
      pages.busy(false);
      fill(problem, errorBox(e));
      state.refused = e.status >= 400 && e.status < 500; // the same request would fail again
      if (e.code === 'invalid_filter' || e.code === 'expression_limit') input.setAttribute('aria-invalid', 'true');
      pages.set({ page: state.stack.length + 1, hasPrev: state.stack.length > 0, hasNext: false });
      return;
    }
    if (mine !== state.seq || signal.aborted) return;
    pages.busy(false);
    state.refused = false;
    input.removeAttribute('aria-invalid');
    fill(problem);
    const rows = page.records || [];
    state.next = page.next_cursor || null;
    show(rows);
    pages.set({ page: state.stack.length + 1, hasPrev: state.stack.length > 0, hasNext: !!state.next, shown: rows.length });
  }

  function show(rows) {
    let fresh;
    if (rows.length) {
      fresh = recordsTable(object, fields, rows);
      if (current && current.classList.contains('records-table')) {
        current = patchTable(current, fresh);
        return;
      }
    } else if (state.stack.length) {
      fresh = empty('No more records.', link(`/ui/records/${enc(object)}`, 'Back to the first page.'));
    } else if (state.filter || state.archived) {
      fresh = empty(`No ${object} records match.`, 'Change the filter, or clear it to see every record.');
    } else {
      fresh = empty(`No ${object} records yet.`, 'Create one with ', h('code', {}, `POST /v1/records/${object}`), ' or import some with ', h('code', {}, `POST /v1/records/${object}/import`), '.');
    }
    if (current) current.replaceWith(fresh);
    else results.append(fresh);
    current = fresh;
  }

  await load();
  follow(signal, () => (state.refused ? null : load()), null);
  return h('div', { class: 'records-page' },
    header([h('span', { class: 'muted' }, link('/ui/records', 'Records'), ' / '), object]),
    type.description ? h('p', { class: 'muted' }, type.description) : null,
    form, problem, results, pages.el);
}

function firstNumber(fields) {
  return Object.keys(fields).find((k) => fields[k].type === 'number');
}

function recordsTable(object, fields, rows) {
  const names = Object.keys(fields);
  const wrap = table([
    { label: 'Id', class: 'c-rid', cell: (r) => [link(`/ui/records/${enc(object)}/${enc(r.id)}`, r.id), r.archived ? h('span', { class: 'muted small' }, ' archived') : null] },
    ...names.map((n) => ({ label: n, class: `c-field${fields[n].type === 'number' ? ' c-num' : ''}`, cell: (r) => value(fields[n], (r.fields || {})[n]) })),
    { label: 'Updated', class: 'c-time', cell: (r) => time(r.updated_at) },
  ], rows, { rowAttrs: (r) => ({ dataset: { key: r.id, sig: `${r.updated_at}|${r.archived}` } }) });
  wrap.classList.add('records-table');
  return wrap;
}

// ---- One record -----------------------------------------------------------------------------

/** `/ui/records/:object/:id`: its fields, executions and events, live. */
export async function show(params, query, ctx) {
  const { signal } = ctx;
  const { object, id } = params;
  const base = `/v1/records/${enc(object)}/${enc(id)}`;
  const problem = h('div', { class: 'problem' });
  const content = h('div', { class: 'record' });
  const state = { events: EVENTS, type: null };

  const render = async () => {
    const limit = Math.min(state.events, 1000);
    const [record, type, events, execs] = await Promise.allSettled([
      api('GET', base, { signal }),
      state.type ? Promise.resolve(state.type) : api('GET', `/v1/objects/${enc(object)}`, { signal }),
      api('GET', `${base}/events`, { query: { limit }, signal }),
      api('GET', '/v1/executions', { query: { record_object: object, record_id: id, limit: 20 }, signal }),
    ]);
    if (signal.aborted) return;
    if (record.status === 'rejected') throw record.reason;
    if (type.status === 'fulfilled') state.type = type.value;
    // Most commits are elsewhere: redraw only when something shown changed.
    const sig = JSON.stringify([record, events, execs, limit].map((r) => r.value || (r.reason && r.reason.message) || r));
    if (sig === state.sig) return;
    state.sig = sig;
    fill(content, recordView(record.value, type, events, execs, limit, () => { state.events += EVENTS; render().catch((e) => fill(problem, errorBox(e))); }));
    fill(problem);
  };
  await render();
  follow(signal, render, problem);
  tick(content, signal);
  return h('div', { class: 'record-page' }, problem, content);
}

function recordView(record, type, events, execs, limit, more) {
  const fields = type.status === 'fulfilled' ? type.value.fields || {} : {};
  const names = [...Object.keys(fields), ...Object.keys(record.fields || {}).filter((k) => !(k in fields))];
  const obj = record.object;
  return [
    header([h('span', { class: 'muted' }, link('/ui/records', 'Records'), ' / ', link(`/ui/records/${enc(obj)}`, obj), ' / '), record.id,
      record.archived ? [' ', h('span', { class: 'badge status-cancelled' }, 'archived')] : null]),
    type.status === 'rejected' ? errorBox(type.reason) : null,
    h('section', { class: 'section', 'aria-labelledby': 'fields-h' },
      h('h2', { id: 'fields-h' }, 'Fields'),
      wide(facts([
        ...names.map((n) => [n, value(fields[n], (record.fields || {})[n])]),
        ['Created', time(record.created_at)],
        ['Updated', time(record.updated_at)],
        record.archived && ['Archived', time(record.archived_at)],
      ]))),
    h('section', { class: 'section', 'aria-labelledby': 'execs-h' },
      h('h2', { id: 'execs-h' }, 'Executions'),
      execsView(obj, record.id, execs)),
    h('section', { class: 'section', 'aria-labelledby': 'events-h' },
      h('h2', { id: 'events-h' }, 'Events'),
      h('p', { class: 'muted' }, 'Newest first. Each says which workflows it started, and why the others did not.'),
      eventsView(events, limit, more)),
  ];
}

/** Facts laid out as pairs side by side. */
function wide(dl) {
  dl.classList.add('facts-wide');
  return dl;
}

function execsView(object, id, execs) {
  if (execs.status === 'rejected') return errorBox(execs.reason);
  const rows = execs.value.executions || [];
  const all = link(`/ui/executions${qs({ record_object: object, record_id: id })}`, 'All executions of this record →');
  if (!rows.length) return empty('No executions on this record yet.', 'A workflow whose trigger watches this object type starts one when the record changes.');
  return [executionsTable(rows, { showRecord: false }), execs.value.next_cursor ? h('p', {}, all) : h('p', { class: 'small' }, all)];
}

function eventsView(events, limit, more) {
  if (events.status === 'rejected') return errorBox(events.reason);
  const list = events.value.events || [];
  if (!list.length) return empty('No events.', 'Every write to the record records one.');
  return [
    h('ol', { class: 'events' }, list.map(eventView)),
    list.length >= limit && limit < 1000 ? h('button', { type: 'button', class: 'btn', onclick: more }, 'Show older events') : null,
  ];
}

function eventView(e) {
  return h('li', { class: 'event', id: `event-${e.id}` },
    h('div', { class: 'event-head' },
      h('strong', { class: 'event-kind' }, e.kind.replace(/_/g, ' ')),
      h('span', { class: 'muted' }, ` #${e.id} · `), time(e.at), ' ',
      h('span', { class: 'event-cause' }, causeText(e.cause))),
    changes(e.changes),
    e.detail && Object.keys(e.detail).length ? detail(e.detail) : null,
    outcome(e));
}

/** An event's detail: one line when short. */
function detail(d) {
  const line = JSON.stringify(d);
  if (line.length <= 120) return h('p', { class: 'event-detail muted' }, 'Detail: ', h('code', {}, line));
  return jsonView(d, { label: 'Detail' });
}

function causeText(c) {
  if (!c) return null;
  if (c.kind === 'api') return ['by ', h('code', {}, c.name || c.token || 'a token')];
  if (c.kind === 'execution') {
    return ['by step ', h('code', {}, c.step || '?'), ' of ', c.workflow ? `${c.workflow} ` : '', executionLink(c.execution)];
  }
  return ['by ', c.kind];
}

function changes(ch) {
  if (!ch || typeof ch !== 'object' || !Object.keys(ch).length) return null;
  const show = (v) => (v === null || v === undefined || v === '' ? h('span', { class: 'muted' }, 'empty') : h('code', {}, typeof v === 'string' ? v : JSON.stringify(v)));
  return h('ul', { class: 'changes' }, Object.entries(ch).map(([field, c]) => h('li', {},
    h('span', { class: 'chip-name' }, field), ': ',
    c && typeof c === 'object' && ('old' in c || 'new' in c) ? [show(c.old), ' → ', show(c.new)] : show(c))));
}

const CODES = {
  switched_off: 'switched off',
  no_trigger_matched: 'no trigger matched',
  condition_false: 'condition false',
  kill_switch: 'kill switch',
  reentry: 'already in it',
  loop_guard: 'loop guard',
};

/** What the triggers did with an event: started, skipped (why) and stopped, per workflow. */
function outcome(e) {
  if (!e.evaluated_at && !e.outcome) return h('p', { class: 'outcome muted' }, 'Not evaluated by the triggers yet.');
  const o = e.outcome || {};
  const items = [];
  for (const s of o.started || []) {
    items.push(h('li', { class: 'verdict verdict-started' },
      h('span', { class: 'verdict-mark', 'aria-hidden': 'true' }, '▶'),
      h('span', {}, 'Started ', workflowLink(s.workflow), s.trigger ? [' (trigger ', h('code', {}, s.trigger), ')'] : null, ': ', executionLink(s.execution)),
      s.throttled ? h('div', { class: 'muted small' }, s.throttled) : null));
  }
  for (const s of o.skipped || []) items.push(notStarted(s, 'skipped'));
  for (const s of o.stopped || []) items.push(notStarted(s, 'stopped'));
  for (const g of o.goals_met || []) {
    items.push(h('li', { class: 'verdict verdict-goal' },
      h('span', { class: 'verdict-mark', 'aria-hidden': 'true' }, '◎'),
      h('span', {}, 'Met goal ', h('code', {}, g.step), ' of ', executionLink(g.execution))));
  }
  for (const err of o.errors || []) {
    items.push(h('li', { class: 'verdict verdict-error' },
      h('span', { class: 'verdict-mark', 'aria-hidden': 'true' }, '!'),
      h('span', {}, err.workflow ? [workflowLink(err.workflow), ' '] : null,
        err.trigger ? ['trigger ', h('code', {}, err.trigger), ': '] : null,
        err.step ? ['goal ', h('code', {}, err.step), ' of ', executionLink(err.execution), ': '] : null,
        err.message || err.code)));
  }
  if (!items.length) return h('p', { class: 'outcome muted' }, 'No workflow watches this object type: nothing to start.');
  return h('ul', { class: 'outcome' }, items);
}

function notStarted(s, result) {
  const label = CODES[s.code] || s.code;
  const triggers = Array.isArray(s.triggers) && s.triggers.length
    ? h('ul', { class: 'triggers' }, s.triggers.map((t) => h('li', {},
      h('code', {}, t.trigger), ': ', t.reason,
      t.values && Object.keys(t.values).length ? valuesTable(t.values) : null)))
    : null;
  return h('li', { class: `verdict verdict-${result}` },
    h('span', { class: 'verdict-mark', 'aria-hidden': 'true' }, result === 'stopped' ? '■' : '–'),
    h('span', {},
      workflowLink(s.workflow), result === 'stopped' ? ' was stopped: ' : ' did not start: ',
      h('span', { class: `verdict-code code-${s.code}` }, label),
      s.reason ? [' — ', s.reason] : null,
      s.trigger ? [' (trigger ', h('code', {}, s.trigger), ')'] : null,
      s.execution ? [' ', executionLink(s.execution)] : null),
    triggers);
}

/** The values a false condition read. */
function valuesTable(values) {
  return h('table', { class: 'values' },
    h('caption', { class: 'muted small' }, 'The condition read'),
    h('tbody', {}, Object.entries(values).map(([k, v]) => h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, k)),
      h('td', {}, h('code', {}, JSON.stringify(v)))))));
}

function workflowLink(name) {
  return link(`/ui/workflows/${enc(name)}`, h('strong', {}, name));
}
