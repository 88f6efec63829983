// flowbox: what a JavaScript code step can reach of the host.
//
// User code gets these as parameters already (`inputs`, `outputs`, `variables`, `record`,
// `context`, `log`, `http`) and as the global `flowbox`:
//
//     flowbox.log.info("text")              one line in the step's log (also: debug, warn, error)
//     flowbox.variables.n                   the execution's variables (JSON values)
//     flowbox.records.get(object, id)       any record's fields; updateFields, createRelated
//     flowbox.http.get(url, {...})          HTTP through the host (fetch() is the same)
//     flowbox.now()                         the host's clock as a Date
//
// Every host call is made only when the code uses it. A refused or failed call throws a
// `flowbox.HostError` subclass: Unavailable, InvalidRequest, NotFound, Denied or Failed.
// Throw `flowbox.RetryableError` to ask for a retry, `flowbox.InvalidInputError` to fail the step
// as invalid input; any other uncaught exception fails the step for good.

import * as host from './host.js';


// --- errors ---------------------------------------------------------------------------------------

/** Uncaught, it fails the step as `retryable`: the engine may run it again later. */
export class RetryableError extends Error {
  get retryable() {
    return true;
  }
}
RetryableError.prototype.name = 'RetryableError';

/** Uncaught, it fails the step as `invalid-input`: a retry cannot help. */
export class InvalidInputError extends Error {}
InvalidInputError.prototype.name = 'InvalidInputError';

/** A host call failed. `kind` is the host's reason: unavailable, invalid, not-found, denied or
 * failed. */
export class HostError extends Error {
  get kind() {
    return 'failed';
  }
}
HostError.prototype.name = 'HostError';

/** The host does not provide this capability (not configured, or not granted). */
export class Unavailable extends HostError {
  get kind() {
    return 'unavailable';
  }
}
Unavailable.prototype.name = 'Unavailable';

/** The host refused the request as malformed. */
export class InvalidRequest extends HostError {
  get kind() {
    return 'invalid';
  }
}
InvalidRequest.prototype.name = 'InvalidRequest';

/** The thing asked for does not exist. */
export class NotFound extends HostError {
  get kind() {
    return 'not-found';
  }
}
NotFound.prototype.name = 'NotFound';

/** Policy refused the request (a host not on the allow-list, a budget spent). */
export class Denied extends HostError {
  get kind() {
    return 'denied';
  }
}
Denied.prototype.name = 'Denied';

/** The call was valid but failed on the way; uncaught, the step is retryable. */
export class Failed extends HostError {
  get kind() {
    return 'failed';
  }
  get retryable() {
    return true;
  }
}
Failed.prototype.name = 'Failed';

/** Uncaught, it fails the step for good with its message (any other error does too, with its
 * stack). */
export class Permanent extends Error {}
Permanent.prototype.name = 'Permanent';

// The names a step module throws (`throw new flowbox.InvalidInput("...")`).
export { InvalidInputError as InvalidInput, RetryableError as Retryable };

/** A host interface this component imports; a missing one (a step project gets the interfaces
 * its code uses) is an Unavailable error naming what to add. */
export function iface(name) {
  const m = host[name];
  if (!m) {
    throw new Unavailable(
      `this component was built without the \`${name}\` interface: a step project gets the ` +
        `interfaces its code names (flowbox.${name}); rebuild it with \`flowbox step build\` and ` +
        `list \`${name}\` in step.toml`,
    );
  }
  return m;
}

const logWrite = (level, text) => iface('log').write(level, text);
const variableGet = (name) => iface('variables').get(name);
const variableSet = (name, text) => iface('variables').set(name, text);
const recordGet = (ref) => iface('records').get(ref);
const recordUpdateFields = (ref, text) => iface('records').updateFields(ref, text);
const recordCreateRelated = (ref, object, relation, text) =>
  iface('records').createRelated(ref, object, relation, text);
const clockNowMillis = () => iface('clock').nowMillis();

const KINDS = {
  unavailable: Unavailable,
  invalid: InvalidRequest,
  'not-found': NotFound,
  denied: Denied,
  failed: Failed,
};

/** The error for a host call's `err(host-error)` (componentize-js throws it as an Error whose
 * `payload` is `{tag, val}`); `classes` maps a kind to another class. Anything else is rethrown. */
export function hostError(e, what, classes) {
  const payload = e && typeof e === 'object' && 'payload' in e ? e.payload : undefined;
  if (!payload || typeof payload.tag !== 'string') return e;
  const cls = (classes && classes[payload.tag]) || KINDS[payload.tag] || HostError;
  return new cls(`${what}: ${payload.val ?? payload.tag}`);
}

/** Call the host; its error becomes a HostError naming `what`. */
export function call(what, fn) {
  try {
    return fn();
  } catch (e) {
    throw hostError(e, what);
  }
}

// --- JSON -----------------------------------------------------------------------------------------

/** A value that cannot be written as JSON: `path` says where it is. */
export class NotJsonError extends TypeError {
  constructor(path, reason) {
    if (path.length > 200) path = `${path.slice(0, 120)}…${path.slice(-40)}`;
    super(`${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}
NotJsonError.prototype.name = 'TypeError';

function childPath(path, key) {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function typeName(v) {
  if (v === null) return 'null';
  if (typeof v !== 'object' && typeof v !== 'function') return typeof v;
  const ctor = Object.getPrototypeOf(v)?.constructor;
  return (ctor && ctor.name) || 'Object';
}

const MAX_DEPTH = 1000;

/**
 * `value` as plain JSON data, as the step's output and variables are written: what
 * JSON.stringify keeps (toJSON() is called, so a Date is ISO 8601 text; an undefined property is
 * left out, an undefined array item is null), a Set as an array and a Map as an object. Refused,
 * naming the path: NaN and the infinities, BigInt, functions, symbols, binary data, promises and
 * circular references.
 */
export function toPlain(value, path = 'value') {
  const seen = new Set();
  function walk(v, p, key, depth) {
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof v.toJSON === 'function') {
      v = v.toJSON(String(key));
    }
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'undefined':
        return undefined;
      case 'number':
        if (!Number.isFinite(v)) throw new NotJsonError(p, `${v} is not a JSON number`);
        return v;
      case 'bigint':
        throw new NotJsonError(p, `the BigInt ${v}n is not JSON (convert it with Number() or String())`);
      case 'function':
        throw new NotJsonError(p, `a function (${v.name || 'anonymous'}) is not JSON`);
      case 'symbol':
        throw new NotJsonError(p, `a symbol is not JSON`);
    }
    if (v === null) return null;
    if (depth > MAX_DEPTH) throw new NotJsonError(p, `nested more than ${MAX_DEPTH} levels`);
    if (seen.has(v)) throw new NotJsonError(p, 'a circular reference');
    if (typeof v.then === 'function') {
      throw new NotJsonError(p, 'a Promise is not JSON (did you forget `await`?)');
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
      throw new NotJsonError(p, `a ${typeName(v)} is not JSON (decode it to text first, e.g. new TextDecoder().decode(bytes), or base64)`);
    }
    seen.add(v);
    let out;
    if (Array.isArray(v) || v instanceof Set) {
      out = [];
      let i = 0;
      for (const item of v) {
        const x = walk(item, childPath(p, i), i, depth + 1);
        out.push(x === undefined ? null : x);
        i++;
      }
    } else if (v instanceof Map) {
      out = {};
      for (const [k, item] of v) {
        if (typeof k !== 'string' && typeof k !== 'number') {
          throw new NotJsonError(childPath(p, String(k)), `the key is a ${typeName(k)} (keys must be strings)`);
        }
        const x = walk(item, childPath(p, String(k)), k, depth + 1);
        if (x !== undefined) out[String(k)] = x;
      }
    } else if (v instanceof Error) {
      throw new NotJsonError(p, `an ${typeName(v)} is not JSON (use its .message)`);
    } else {
      out = {};
      for (const k of Object.keys(v)) {
        const x = walk(v[k], childPath(p, k), k, depth + 1);
        if (x !== undefined) out[k] = x;
      }
    }
    seen.delete(v);
    return out;
  }
  return walk(value, path, '', 0);
}

/** `value` as JSON text (see toPlain); `undefined` is null. */
export function toJson(value, path = 'value') {
  const plain = toPlain(value, path);
  return JSON.stringify(plain === undefined ? null : plain);
}

// --- formatting values for the log ----------------------------------------------------------------

/** Objects that describe themselves in the log (the variables and record proxies). */
export const described = new WeakMap();

/** A stack trace rewriter set by the runner, so that an Error shows the user's lines. */
let formatError = (e) => String(e && e.stack ? `${e.name}: ${e.message}\n${e.stack}` : e);
export function setErrorFormatter(fn) {
  formatError = fn;
}

function quote(s) {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function keyText(k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}

/** A value as text, much as Node's console shows it. */
export function inspect(v, depth = 0, seen = new Set()) {
  if ((typeof v === 'object' || typeof v === 'function') && v !== null && described.has(v)) return described.get(v)();
  switch (typeof v) {
    case 'string':
      return depth === 0 ? v : quote(v);
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(v);
    case 'symbol':
      return v.toString();
    case 'function':
      return v.prototype && /^class[\s{]/.test(Function.prototype.toString.call(v))
        ? `[class ${v.name || '(anonymous)'}]`
        : `[Function: ${v.name || '(anonymous)'}]`;
  }
  if (v === null) return 'null';
  if (v instanceof Error) {
    const text = formatError(v);
    return depth === 0 ? text : `[${text.split('\n')[0]}]`;
  }
  if (seen.has(v)) return '[Circular]';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (v instanceof RegExp) return String(v);
  if (typeof v.then === 'function') return 'Promise { <pending> }';
  if (depth > 2) return Array.isArray(v) ? '[Array]' : `[${typeName(v)}]`;
  seen.add(v);
  try {
    const inner = (items, open, close, prefix = '') => {
      if (items.length === 0) return `${prefix}${open}${close}`;
      const shown = items.length > 100 ? [...items.slice(0, 100), `... ${items.length - 100} more items`] : items;
      const flat = `${prefix}${open} ${shown.join(', ')} ${close}`;
      return flat;
    };
    if (Array.isArray(v)) return inner(v.map((x) => inspect(x, depth + 1, seen)), '[', ']');
    if (ArrayBuffer.isView(v)) {
      return inner(Array.from(v.length > 100 ? v.subarray(0, 101) : v, (x) => String(x)), '[', ']', `${typeName(v)}(${v.length}) `);
    }
    if (v instanceof Map) {
      return inner([...v].map(([k, x]) => `${inspect(k, depth + 1, seen)} => ${inspect(x, depth + 1, seen)}`), '{', '}', `Map(${v.size}) `);
    }
    if (v instanceof Set) {
      return inner([...v].map((x) => inspect(x, depth + 1, seen)), '{', '}', `Set(${v.size}) `);
    }
    const name = typeName(v);
    return inner(
      Object.keys(v).map((k) => `${keyText(k)}: ${inspect(v[k], depth + 1, seen)}`),
      '{',
      '}',
      name === 'Object' ? '' : `${name} `,
    );
  } finally {
    seen.delete(v);
  }
}

/** console.log's arguments as one line: printf-style %s %d %i %f %j %o %O %c %% in a first
 * string argument, the rest joined by spaces. */
export function format(args) {
  let rest = args;
  let head = '';
  if (typeof args[0] === 'string' && args[0].includes('%') && args.length > 1) {
    let i = 1;
    head = args[0].replace(/%([sdifjoOc%])/g, (m, c) => {
      if (c === '%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      switch (c) {
        case 's':
          return typeof a === 'string' ? a : inspect(a, 1);
        case 'd':
        case 'i': {
          if (typeof a === 'bigint') return `${a}n`;
          const n = Number(a);
          return String(c === 'i' ? Math.trunc(n) : n);
        }
        case 'f':
          return String(Number(a));
        case 'j':
          try {
            return JSON.stringify(a);
          } catch {
            return '[Circular]';
          }
        case 'c':
          return '';
        default:
          return inspect(a, 1);
      }
    });
    rest = args.slice(i);
    return [head, ...rest.map((a) => inspect(a))].join(' ');
  }
  return rest.map((a) => inspect(a)).join(' ');
}

// --- log ------------------------------------------------------------------------------------------

const LEVELS = { debug: 'debug', info: 'info', log: 'info', warn: 'warn', warning: 'warn', error: 'error' };

/** One log line at `level` (debug, info, warn, error). */
export function writeLog(level, ...args) {
  const lvl = LEVELS[String(level).toLowerCase()];
  if (!lvl) throw new RangeError(`unknown log level ${JSON.stringify(level)}: debug, info, warn or error`);
  logWrite(lvl, format(args));
}

/** `log("a", 1)` writes the info line `a 1`; log.debug, log.info, log.warn, log.error. */
export const log = Object.assign((...args) => writeLog('info', ...args), {
  debug: (...args) => writeLog('debug', ...args),
  info: (...args) => writeLog('info', ...args),
  warn: (...args) => writeLog('warn', ...args),
  warning: (...args) => writeLog('warn', ...args),
  error: (...args) => writeLog('error', ...args),
  write: (level, ...args) => writeLog(level, ...args),
});
described.set(log, () => '[flowbox log: log(...), log.info(...), log.warn(...), log.error(...), log.debug(...)]');

/** The console: log and info are info lines, debug debug, warn warn, error error. */
export function makeConsole() {
  const counts = new Map();
  const timers = new Map();
  let indent = '';
  const line = (level) => (...args) => logWrite(level, indent + format(args));
  return {
    log: line('info'),
    info: line('info'),
    debug: line('debug'),
    trace: (...args) => {
      const stack = formatError(new Error(format(args))).split('\n').slice(1).join('\n');
      logWrite('debug', `${indent}Trace: ${format(args)}${stack ? `\n${stack}` : ''}`);
    },
    warn: line('warn'),
    error: line('error'),
    dir: (v) => logWrite('info', indent + inspect(v, 1)),
    table: line('info'),
    assert: (cond, ...args) => {
      if (!cond) logWrite('error', `${indent}Assertion failed${args.length ? `: ${format(args)}` : ''}`);
    },
    count: (label = 'default') => {
      const n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      logWrite('info', `${indent}${label}: ${n}`);
    },
    countReset: (label = 'default') => counts.delete(label),
    time: (label = 'default') => timers.set(label, Date.now()),
    timeLog: (label = 'default', ...args) => {
      if (timers.has(label)) logWrite('info', `${indent}${label}: ${Date.now() - timers.get(label)}ms ${format(args)}`.trimEnd());
    },
    timeEnd: (label = 'default') => {
      if (timers.has(label)) logWrite('info', `${indent}${label}: ${Date.now() - timers.get(label)}ms`);
      timers.delete(label);
    },
    group: (...args) => {
      if (args.length) logWrite('info', indent + format(args));
      indent += '  ';
    },
    groupCollapsed: (...args) => {
      if (args.length) logWrite('info', indent + format(args));
      indent += '  ';
    },
    groupEnd: () => {
      indent = indent.slice(2);
    },
  };
}

// --- variables ------------------------------------------------------------------------------------

const MISSING = Symbol('missing');

function checkName(name, what) {
  if (typeof name !== 'string') throw new TypeError(`${what} names are strings, not ${typeName(name)}`);
}

/**
 * The execution's variables, read lazily: `variables.n` (undefined if unset),
 * `variables.get("n", 0)`, `variables.has("n")`, `"n" in variables`. `variables.n = value` (or
 * `.set(name, value)`, `.update({...})`) writes one (JSON); writes are kept only if the step
 * succeeds. Changing a value read from here in place does not write it: assign it back.
 * A variable named get, set, has, update or toJSON is read with `variables.get("name")`.
 */
export function makeVariables() {
  const cache = new Map();
  const read = (name) => {
    checkName(name, 'variable');
    if (!cache.has(name)) {
      const raw = variableGet(name);
      cache.set(name, raw === undefined || raw === null ? MISSING : JSON.parse(raw));
    }
    return cache.get(name);
  };
  const write = (name, value) => {
    checkName(name, 'variable');
    const text = toJson(value, `variables.${name}`);
    call(`setting variable ${JSON.stringify(name)}`, () => variableSet(name, text));
    cache.set(name, JSON.parse(text));
  };
  const known = () => {
    const out = {};
    for (const [k, v] of cache) if (v !== MISSING) out[k] = v;
    return out;
  };
  const api = {
    get(name, fallback = undefined) {
      const v = read(name);
      return v === MISSING ? fallback : v;
    },
    set(name, value) {
      write(name, value);
    },
    has(name) {
      return read(name) !== MISSING;
    },
    update(values) {
      for (const [k, v] of Object.entries(values || {})) write(k, v);
    },
    toJSON() {
      return known();
    },
  };
  const proxy = new Proxy(Object.create(null), {
    get(_t, prop) {
      if (typeof prop === 'symbol') return prop === Symbol.toStringTag ? 'flowbox variables' : undefined;
      if (Object.hasOwn(api, prop)) return api[prop];
      if (prop === 'then') return undefined; // `await variables` must not read a variable "then"
      const v = read(prop);
      return v === MISSING ? undefined : v;
    },
    set(_t, prop, value) {
      if (typeof prop === 'symbol') throw new TypeError('variable names are strings, not symbols');
      write(prop, value);
      return true;
    },
    has(_t, prop) {
      return typeof prop === 'string' && read(prop) !== MISSING;
    },
    deleteProperty() {
      throw new TypeError('a variable cannot be deleted; set it to null instead');
    },
    defineProperty(_t, prop, desc) {
      if (typeof prop === 'string' && 'value' in desc) {
        write(prop, desc.value);
        return true;
      }
      throw new TypeError('variables hold JSON values only');
    },
    ownKeys() {
      throw new TypeError('variables cannot be listed; read one by name');
    },
  });
  described.set(proxy, () => `[flowbox variables, read so far: ${inspect(known(), 1)}]`);
  return proxy;
}

// --- records --------------------------------------------------------------------------------------

function toRef(record, id) {
  if (id !== undefined) return { object: String(record), id: String(id) };
  if (record && typeof record === 'object') {
    const r = refs.get(record) || record;
    if (typeof r.object === 'string' && r.id !== undefined) return { object: r.object, id: String(r.id) };
    if (Array.isArray(record) && record.length === 2) return { object: String(record[0]), id: String(record[1]) };
  }
  throw new TypeError('a record is given as (object, id), {object, id}, [object, id] or a record');
}

function fieldsText(fields, what) {
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new TypeError(`${what} must be an object of field name to value`);
  }
  return toJson(fields, what);
}

const refs = new WeakMap();

/**
 * One record's fields, fetched from the host the first time they are read.
 *
 * `record.amount`, `record.get("stage")`, `{...record}`, `Object.keys(record)` read;
 * `record.stage = "won"` and `record.update({...})` write through to the host at once
 * (committed with the step's result). `record.id` and `record.object` name it;
 * `record.createRelated(object, relation, fields)` adds a related record and returns
 * `{object, id}`; `record.refresh()` reads it again. A field named like one of these is read with
 * `record.get("name")`.
 */
export function makeRecord(ref) {
  ref = { object: ref.object, id: ref.id };
  let fields = null;
  const where = `record ${ref.object}/${ref.id}`;
  const load = () => {
    if (fields === null) {
      const parsed = JSON.parse(call(`reading ${where}`, () => recordGet(ref)));
      fields = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
    }
    return fields;
  };
  const update = (values) => {
    const text = fieldsText(values, 'record fields');
    if (text === '{}') return;
    call(`updating ${where}`, () => recordUpdateFields(ref, text));
    if (fields !== null) Object.assign(fields, JSON.parse(text));
  };
  const api = {
    get(name, fallback = undefined) {
      const f = load();
      return Object.hasOwn(f, name) ? f[name] : fallback;
    },
    has(name) {
      return Object.hasOwn(load(), name);
    },
    update,
    set(name, value) {
      update({ [name]: value });
    },
    refresh() {
      fields = null;
      return proxy;
    },
    createRelated(object, relation, values = {}) {
      return records.createRelated(ref, object, relation, values);
    },
    toJSON() {
      return { ...load() };
    },
  };
  const proxy = new Proxy(Object.create(null), {
    get(_t, prop) {
      if (typeof prop === 'symbol') return prop === Symbol.toStringTag ? 'flowbox record' : undefined;
      if (prop === 'id' || prop === 'object') return ref[prop];
      if (Object.hasOwn(api, prop)) return api[prop];
      if (prop === 'then') return undefined; // `await record` must not read a field "then"
      const f = load();
      return Object.hasOwn(f, prop) ? f[prop] : undefined;
    },
    set(_t, prop, value) {
      if (typeof prop === 'symbol') throw new TypeError('record fields are named by strings');
      update({ [prop]: value });
      return true;
    },
    has(_t, prop) {
      return typeof prop === 'string' && (prop === 'id' || prop === 'object' || Object.hasOwn(load(), prop));
    },
    deleteProperty() {
      throw new TypeError('a record field cannot be deleted; set it to null instead');
    },
    defineProperty(_t, prop, desc) {
      if (typeof prop === 'string' && 'value' in desc) {
        update({ [prop]: desc.value });
        return true;
      }
      throw new TypeError('record fields hold JSON values only');
    },
    ownKeys() {
      return Object.keys(load());
    },
    getOwnPropertyDescriptor(_t, prop) {
      const f = load();
      if (typeof prop !== 'string' || !Object.hasOwn(f, prop)) return undefined;
      return { value: f[prop], writable: true, enumerable: true, configurable: true };
    },
  });
  refs.set(proxy, ref);
  described.set(proxy, () =>
    fields === null ? `[record ${ref.object}/${ref.id} (not read yet)]` : `[record ${ref.object}/${ref.id}] ${inspect(fields, 1)}`,
  );
  return proxy;
}

/** Any record by type and id (needs the records grant, and the host's permission). */
export const records = {
  /** get(object, id) or get({object, id}): the record's fields. */
  get(object, id) {
    const ref = toRef(object, id);
    return JSON.parse(call(`reading record ${ref.object}/${ref.id}`, () => recordGet(ref)));
  },
  /** record(object, id): a lazy record, as `record` is. */
  record(object, id) {
    return makeRecord(toRef(object, id));
  },
  /** updateFields(record, fields) or updateFields(object, id, fields). */
  updateFields(...args) {
    let ref;
    let values;
    if (args.length === 3) [ref, values] = [toRef(args[0], args[1]), args[2]];
    else if (args.length === 2) [ref, values] = [toRef(args[0]), args[1]];
    else throw new TypeError('updateFields(record, fields) or updateFields(object, id, fields)');
    const text = fieldsText(values, 'record fields');
    call(`updating record ${ref.object}/${ref.id}`, () => recordUpdateFields(ref, text));
  },
  /** createRelated(parent, object, relation, fields): the new record's {object, id}. */
  createRelated(parent, object, relation, values = {}) {
    const ref = toRef(parent);
    const text = fieldsText(values ?? {}, 'the related record\'s fields');
    const created = call(`creating a ${object} related to ${ref.object}/${ref.id}`, () =>
      recordCreateRelated(ref, String(object), String(relation), text),
    );
    return { object: created.object, id: created.id };
  },
};

// --- clock ----------------------------------------------------------------------------------------

/** The host's clock: milliseconds since the Unix epoch. */
export function nowMillis() {
  return Number(clockNowMillis());
}

/** The host's clock as a Date. */
export function now() {
  return new Date(nowMillis());
}

// --- files, teams, email, llm, audio --------------------------------------------------------------

/** Files the host keeps (uploads, attachments), by id. */
export const files = {
  /** {id, name, contentType, size} */
  info(id) {
    const i = call(`reading file ${id}`, () => iface('files').info(String(id)));
    return { id: i.id, name: i.name, contentType: i.contentType, size: Number(i.size) };
  },
  /** The file's bytes, as a Uint8Array. */
  read(id) {
    return call(`reading file ${id}`, () => iface('files').read(String(id)));
  },
};

/** Teams: members, round-robin rotation, channel notifications. */
export const teams = {
  /** The members' user ids, in rotation order. */
  members(team) {
    return call(`reading team ${team}`, () => iface('teams').members(String(team)));
  },
  /** The next member in the team's rotation (the rotation advances). */
  nextMember(team) {
    return call(`rotating team ${team}`, () => iface('teams').nextMember(String(team)));
  },
  /** Notify the team on a channel; `data` is any JSON value sent along. */
  notify(team, channel, text, data) {
    const extra = data === undefined || data === null ? undefined : toJson(data);
    call(`notifying team ${team}`, () => iface('teams').notify(String(team), String(channel), String(text), extra));
  },
};

/** Email through the server's SMTP relay. */
export const email = {
  /** send({to, subject, text, cc?, html?, replyTo?}): the message id. `to` is one address or a list. */
  send({ to, subject, text, cc = [], html, replyTo }) {
    const msg = {
      to: typeof to === 'string' ? [to] : Array.from(to, String),
      cc: Array.from(cc, String),
      subject: String(subject),
      text: String(text),
      html: html ?? undefined,
      replyTo: replyTo ?? undefined,
    };
    return call('sending email', () => iface('email').send(msg));
  },
};

/** Chat completion through the server's configured provider (the key stays on the host). */
export const llm = {
  /** chat(messages or prompt, {provider, model, schema, temperature, maxTokens}):
   * {content, model, usage: {promptTokens, completionTokens}}; with `schema`, content is parsed. */
  chat(messages, { provider, model, schema, temperature, maxTokens } = {}) {
    const list = typeof messages === 'string' ? [{ role: 'user', content: messages }] : messages;
    const req = {
      provider: provider ?? undefined,
      model: model ?? undefined,
      messages: list.map((m) => ({ role: String(m.role), content: String(m.content) })),
      responseSchema: schema === undefined ? undefined : toJson(schema),
      temperature: temperature ?? undefined,
      maxTokens: maxTokens ?? undefined,
    };
    const r = call('calling the LLM', () => iface('llm').chat(req));
    return {
      content: schema === undefined ? r.content : JSON.parse(r.content),
      model: r.model,
      usage: { promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens },
    };
  },
};

/** Speech to text through the server's configured provider. */
export const audio = {
  /** transcribe(fileId, {provider, model, language, prompt}): {text, language, durationSeconds, model} */
  transcribe(fileId, { provider, model, language, prompt } = {}) {
    const req = {
      provider: provider ?? undefined,
      model: model ?? undefined,
      fileId: String(fileId),
      language: language ?? undefined,
      prompt: prompt ?? undefined,
    };
    const t = call(`transcribing file ${fileId}`, () => iface('audio').transcribe(req));
    return { text: t.text, language: t.language, durationSeconds: t.durationSeconds, model: t.model };
  },
};

// --- for step projects (flowbox/mod.js is what they import as 'flowbox') ----------------------------

/** The execution's variables: read when first used, written by assignment. */
export const variables = makeVariables();
