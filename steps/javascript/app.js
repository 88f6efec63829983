// The JavaScript code step: runs the user's JavaScript source, given as data.
//
// Input:  {"code": "<javascript source>", "inputs": {...}}
// Output: the `outputs` object the code filled (or the value it returned), as JSON.
//
// Input {"check": "<javascript source>"} (no "code") only compiles the source, for the host's
// check of a definition: the output is {"checked": true, "error": null or the syntax error}.
// Nothing runs.
//
// The code is the body of an async function (so `await` and `return` work) whose parameters are
// `inputs` (the input's "inputs"), `outputs` (an object to fill), `variables` (the execution's
// variables, read lazily, written by assignment), `record` (the execution's record, read lazily;
// null for a global workflow), `context` (execution/workflow/step ids, attempt), `log` and `http`
// (a small requests-style client). The globals `console` (to the step's log), `fetch` (over the
// host's http) and `flowbox` (records, errors, the clock) are set too.
//
// Failures: a SyntaxError is `invalid-input`; an uncaught exception is `permanent` (or `retryable`
// for flowbox.RetryableError and anything with `retryable === true`, `invalid-input` for
// flowbox.InvalidInputError) with the stack of the user's code only, line numbers counted from
// its first line.
//
// componentize-js runs this module when it builds the component and snapshots the engine, so
// everything here is set up before a run starts; each run is a fresh instance of that snapshot.

import * as fb from './flowbox/index.js';
import { http, fetch } from './flowbox/http.js';
import { timers, watch as watchTimers, NEVER_SETTLES } from './flowbox/timers.js';

/** The name the user's code has in stack traces. */
const CODE_FILE = '<code>';
const PARAMS = ['inputs', 'outputs', 'variables', 'record', 'context', 'log', 'http'];
const AsyncFunction = async function () {}.constructor;

/** The user's code as an async function of PARAMS. */
function compileBody(source) {
  return new AsyncFunction(...PARAMS, `${source}\n//# sourceURL=${CODE_FILE}`);
}

// --- stack traces ---------------------------------------------------------------------------------

/** SpiderMonkey's stack text as frames: `name@file:line:column`, `async*name@...` after an await. */
function parseStack(stack) {
  const frames = [];
  for (const text of String(stack || '').split('\n')) {
    const m = /^(?:(async\*)?(.*?)@)?(.*):(\d+):(\d+)$/.exec(text);
    if (m) frames.push({ async: !!m[1], name: m[2] || '', file: m[3], line: +m[4], column: +m[5] });
  }
  return frames;
}

/** How many lines the engine's function wrapper puts before the user's first line, for a running
 * frame and for a SyntaxError: measured once, when the component is built. */
const OFFSETS = (() => {
  const offsets = { run: 2, syntax: 2 };
  try {
    const probe = {};
    compileBody('inputs.stack = new Error().stack;')(probe);
    const frame = parseStack(probe.stack).find((f) => f.file === CODE_FILE);
    if (frame) offsets.run = frame.line - 1;
  } catch {
    // keep the default
  }
  try {
    compileBody('=');
  } catch (e) {
    if (typeof e.lineNumber === 'number' && e.lineNumber > 0) offsets.syntax = e.lineNumber - 1;
  }
  return offsets;
})();

/** The innermost frames a stack trace shows at most. */
const MAX_FRAMES = 100;

/** Frames of the user's code only, with their lines counted from the code's first line. */
function userFrames(stack) {
  const out = [];
  for (const f of parseStack(stack)) {
    let file = f.file;
    if (file === CODE_FILE) {
      out.push({ ...f, line: f.line - OFFSETS.run });
    } else if (file.startsWith(`${CODE_FILE} line `)) {
      // code the user's code evaluated: `<code> line 3 > eval`
      file = file.replace(/^(\S+) line (\d+)/, (_, name, line) => `${name} line ${+line - OFFSETS.run}`);
      out.push({ ...f, file });
    }
  }
  return out;
}

function frameText(f) {
  const where = `${f.file}:${f.line}:${f.column}`;
  const prefix = f.async ? 'async ' : '';
  // The outermost frame is the wrapper: the code's top level. SpiderMonkey names a function
  // inside it `anonymous/name` (`anonymous/<` when it has no name).
  if (!f.name || (f.name === 'anonymous' && f.file === CODE_FILE)) return `    at ${prefix}${where}`;
  let name = f.name.startsWith('anonymous/') ? f.name.slice('anonymous/'.length) : f.name;
  if (/^[</]*$/.test(name)) name = '<anonymous>';
  return `    at ${prefix}${name} (${where})`;
}

/** Frames as text; a frame repeated more than 3 times in a row (a recursion) is shown 3 times. */
function framesText(frames) {
  const lines = [];
  let previous = null;
  let repeats = 0;
  const flush = () => {
    if (repeats > 3) lines.push(`    ... the frame above repeated ${repeats - 3} more times`);
  };
  for (const f of frames) {
    const text = frameText(f);
    if (text === previous) {
      repeats++;
      if (repeats <= 3) lines.push(text);
      continue;
    }
    flush();
    previous = text;
    repeats = 1;
    lines.push(text);
  }
  flush();
  return lines.join('\n');
}

function errorName(e) {
  let name = e.name;
  const ctor = e.constructor && e.constructor.name;
  if ((!name || name === 'Error') && ctor && ctor !== 'Error' && ctor !== 'Object') name = ctor;
  return String(name || 'Error');
}

const HINTS = {
  require: 'a flowbox JavaScript step has no modules: use `http` or `fetch` for HTTP, `flowbox` for records, the clock and errors',
  process: 'a flowbox JavaScript step has no process: `inputs`, `variables` and `context` are its data',
  Buffer: 'use TextEncoder/TextDecoder, Uint8Array, atob and btoa instead of Buffer',
  Intl: 'this JavaScript engine has no Intl: format numbers and dates yourself (toFixed, toISOString)',
};

/** `Name: message` and the user's frames (innermost first), then the causes. */
function formatException(e, depth = 0) {
  if (!(e instanceof Error) && !(e && typeof e === 'object' && 'stack' in e && 'message' in e)) {
    return `Uncaught ${fb.inspect(e, 1)}`;
  }
  const message = String(e.message ?? '');
  let text = message ? `${errorName(e)}: ${message}` : errorName(e);
  const frames = userFrames(e.stack);
  const shown = frames.length > MAX_FRAMES ? frames.slice(0, MAX_FRAMES) : frames;
  if (shown.length) text += `\n${framesText(shown)}`;
  if (frames.length > MAX_FRAMES) text += `\n    ... ${frames.length - MAX_FRAMES} more frames`;
  if (e instanceof ReferenceError) {
    const m = /^(\w+) is not defined$/.exec(message);
    if (m && HINTS[m[1]]) text += `\n(${HINTS[m[1]]})`;
  }
  if (depth < 5 && Array.isArray(e.errors) && e.errors.length) {
    text += e.errors
      .slice(0, 10)
      .map((inner, i) => `\n  [errors[${i}]] ${formatException(inner, depth + 1).split('\n').join('\n  ')}`)
      .join('');
  }
  if (depth < 5 && e.cause !== undefined) text += `\nCaused by: ${formatException(e.cause, depth + 1)}`;
  return text;
}

fb.setErrorFormatter((e) => formatException(e));

function formatSyntaxError(e, source) {
  const lines = source.split(/\r\n|\r|\n|\u2028|\u2029/);
  const line = (typeof e.lineNumber === 'number' ? e.lineNumber : 0) - OFFSETS.syntax;
  let text = `SyntaxError: ${e.message}`;
  if (line >= 1 && line <= lines.length) {
    const column = Math.max(1, e.columnNumber || 1);
    const code = lines[line - 1];
    text += ` (${CODE_FILE} line ${line}, column ${column})`;
    if (code.length <= 200) {
      text += `\n    ${code}\n    ${code.slice(0, column - 1).replace(/[^\t]/g, ' ')}^`;
    }
  } else if (line > lines.length) {
    text += ` (${CODE_FILE}: at the end of the code, line ${lines.length}: is something not closed?)`;
  }
  if (/redeclaration of formal parameter/.test(e.message)) {
    text += `\n(${PARAMS.join(', ')} are given to the code: assign to them, or pick another name)`;
  }
  if (/\b(import|export)\b/.test(e.message)) {
    text += '\n(the code is the body of a function, not a module: there is nothing to import; use `http`, `fetch` and `flowbox`)';
  }
  return text;
}

// --- failures -------------------------------------------------------------------------------------

/** How the step failed: thrown out of `run` as its `step-error`. */
class StepFailure {
  constructor(kind, message) {
    this.tag = kind;
    this.val = message;
  }
}

function errorKind(e) {
  if (e instanceof fb.InvalidInputError) return 'invalid-input';
  if (e instanceof fb.RetryableError || (e && typeof e === 'object' && e.retryable === true)) return 'retryable';
  return 'permanent';
}

// --- timers ---------------------------------------------------------------------------------------

/** Await the code's promise; fails if nothing is left that could settle it (flowbox/timers.js). */
function watch(promise) {
  return watchTimers(promise, () => new StepFailure('permanent', `the code never finished: ${NEVER_SETTLES}`));
}

// --- what the code sees ---------------------------------------------------------------------------

const variables = fb.makeVariables();

const flowbox = Object.freeze({
  log: fb.log,
  variables,
  records: fb.records,
  http,
  fetch,
  now: fb.now,
  nowMillis: fb.nowMillis,
  toJson: (value) => fb.toJson(value),
  RetryableError: fb.RetryableError,
  InvalidInputError: fb.InvalidInputError,
  HostError: fb.HostError,
  Unavailable: fb.Unavailable,
  InvalidRequest: fb.InvalidRequest,
  NotFound: fb.NotFound,
  Denied: fb.Denied,
  Failed: fb.Failed,
});

const globals = {
  console: fb.makeConsole(),
  fetch,
  flowbox,
  ...timers,
};
for (const [name, value] of Object.entries(globals)) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

function makeContext(ctx) {
  const ref = ctx.record;
  const context = {
    execution_id: ctx.executionId,
    workflow_id: ctx.workflowId,
    step_id: ctx.stepId,
    attempt: ctx.attempt,
    record: ref ? { object: ref.object, id: ref.id } : null,
  };
  // camelCase names too, for JavaScript habits (not in the JSON form)
  for (const [alias, key] of [['executionId', 'execution_id'], ['workflowId', 'workflow_id'], ['stepId', 'step_id']]) {
    Object.defineProperty(context, alias, { value: context[key], enumerable: false });
  }
  return Object.freeze(context);
}

// --- the run --------------------------------------------------------------------------------------

const USAGE = 'the input must be a JSON object {"code": "<javascript source>", "inputs": {...}}';

function parseInput(request) {
  if (!request || typeof request !== 'object' || Array.isArray(request) || typeof request.code !== 'string') {
    throw new StepFailure('invalid-input', USAGE);
  }
  let inputs = request.inputs;
  if (inputs === undefined || inputs === null) inputs = {};
  if (typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw new StepFailure('invalid-input', `"inputs" must be a JSON object, not ${Array.isArray(inputs) ? 'an array' : typeof inputs}`);
  }
  return { code: request.code, inputs };
}

// --- dynamic import -------------------------------------------------------------------------------

/** What `import(...)` in the user's code calls: the engine here has no module loader, and its
 * own `import()` traps the whole component, past any try/catch. The same length as `import`,
 * so that columns in messages stay right. */
const IMPORT_FN = '$imprt';
Object.defineProperty(globalThis, IMPORT_FN, {
  value: (name) => Promise.reject(new Error(
    `cannot import \`${String(name)}\`: a code step has no modules; it has its globals (inputs, outputs, variables, record, context, log, http, fetch, console, flowbox)`,
  )),
  enumerable: false,
});

/** The code with each `import(` outside strings, comments and template text calling IMPORT_FN
 * instead. (A regular expression literal holding `import(` would be changed too: a harmless
 * miss.) */
function withoutDynamicImport(code) {
  if (!code.includes('import')) return code;
  const n = code.length;
  const templates = []; // the brace depth at which each open `${` began
  let depth = 0;
  let out = '';
  let i = 0;
  while (i < n) {
    const c = code[i];
    const next = code[i + 1];
    let j = i + 1;
    if (c === '/' && next === '/') {
      j = code.indexOf('\n', i);
      if (j < 0) j = n;
    } else if (c === '/' && next === '*') {
      j = code.indexOf('*/', i + 2);
      j = j < 0 ? n : j + 2;
    } else if (c === '"' || c === "'") {
      while (j < n && code[j] !== c && code[j] !== '\n') j += code[j] === '\\' ? 2 : 1;
      j = Math.min(j + 1, n);
    } else if (c === '`' || (c === '}' && templates.length && templates[templates.length - 1] === depth)) {
      if (c === '}') templates.pop();
      while (j < n && code[j] !== '`' && !(code[j] === '$' && code[j + 1] === '{')) {
        j += code[j] === '\\' ? 2 : 1;
      }
      if (j < n && code[j] === '$') {
        templates.push(depth);
        j += 2;
      } else {
        j = Math.min(j + 1, n);
      }
    } else if (c === 'i' && code.startsWith('import', i) && !/[\w$.]/.test(code[i - 1] || '')) {
      let k = i + 6;
      while (k < n && /\s/.test(code[k])) k++;
      if (code[k] === '(') {
        out += IMPORT_FN;
        i += 6;
        continue;
      }
    } else if (c === '{') {
      depth++;
    } else if (c === '}') {
      depth--;
    }
    out += code.slice(i, j);
    i = j;
  }
  return out;
}

function compile(code) {
  try {
    return compileBody(withoutDynamicImport(code));
  } catch (e) {
    if (e instanceof SyntaxError) throw new StepFailure('invalid-input', formatSyntaxError(e, code));
    throw new StepFailure('invalid-input', `the code cannot be compiled: ${errorName(e)}: ${e && e.message}`);
  }
}

/** Whether the request only asks to compile ({"check": source}). */
function checkOnly(request) {
  return !!request && typeof request === 'object' && !Array.isArray(request)
    && !('code' in request) && typeof request.check === 'string';
}

/** Compile without running: a syntax error is the answer, not a failure. */
function check(code) {
  let error = null;
  try {
    compileBody(code);
  } catch (e) {
    error = e instanceof SyntaxError
      ? formatSyntaxError(e, code)
      : `the code cannot be compiled: ${errorName(e)}: ${e && e.message}`;
  }
  return JSON.stringify({ checked: true, error });
}

async function runCode(ctx, inputText) {
  let request;
  try {
    request = JSON.parse(inputText);
  } catch (e) {
    throw new StepFailure('invalid-input', `the input is not JSON: ${e.message}`);
  }
  if (checkOnly(request)) return check(request.check);
  const { code, inputs } = parseInput(request);
  const fn = compile(code);
  const outputs = {};
  const record = ctx.record ? fb.makeRecord(ctx.record) : null;
  let returned;
  try {
    returned = await watch(fn.call(undefined, inputs, outputs, variables, record, makeContext(ctx), fb.log, http));
  } catch (e) {
    if (e instanceof StepFailure) throw e;
    throw new StepFailure(errorKind(e), formatException(e));
  }
  const value = returned === undefined ? outputs : returned;
  try {
    return fb.toJson(value, 'outputs');
  } catch (e) {
    if (e instanceof fb.NotJsonError) throw new StepFailure('permanent', `the step's outputs are not JSON: ${e.message}`);
    if (e instanceof Error && /recursion/i.test(e.message)) {
      throw new StepFailure('permanent', "the step's outputs are not JSON: nested too deeply");
    }
    // a toJSON() of the user's threw
    throw new StepFailure(errorKind(e), formatException(e));
  }
}

/** The `run` export: the output JSON, or throws the `step-error` ({tag, val}). */
export async function run(ctx, input) {
  try {
    return await runCode(ctx, input);
  } catch (e) {
    if (e instanceof StepFailure) throw { tag: e.tag, val: e.val };
    throw { tag: 'permanent', val: `the JavaScript runner failed: ${formatException(e)}` };
  }
}
