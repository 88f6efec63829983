// The entry of a step project's component: runs the project's `run(input, ctx)` from step.js.
//
// `flowbox step build` makes the component's main module call this one, with the project's
// step.js beside the flowbox folder. componentize-js runs the modules while it builds the
// component and snapshots the engine: imports and top-level work are done once, not per run.
//
//     export async function run(input, ctx) { ... return {...}; }
//
// `ctx` has executionId, workflowId, stepId, attempt and record ({object, id} or null). The
// result must be JSON. Throwing flowbox.InvalidInput, flowbox.Permanent or flowbox.Retryable
// fails the step with that kind and the message; any other uncaught error fails it for good,
// with its stack.

import * as fb from './mod.js';
import { timers, watch, NEVER_SETTLES } from './timers.js';
import * as user from '../step.js';

for (const [name, value] of Object.entries({ console: fb.makeConsole(), fetch: fb.fetch, ...timers })) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

if (typeof user.run !== 'function') {
  throw new Error('step.js must export `async function run(input, ctx)`');
}

function context(ctx) {
  const ref = ctx.record;
  return Object.freeze({
    executionId: ctx.executionId,
    workflowId: ctx.workflowId,
    stepId: ctx.stepId,
    attempt: ctx.attempt,
    record: ref ? { object: ref.object, id: ref.id } : null,
  });
}

/** The `step-error` ({tag, val}) for an uncaught error. */
function failure(e) {
  if (e instanceof fb.InvalidInputError) return { tag: 'invalid-input', val: String(e.message) };
  const retryable = e instanceof fb.RetryableError || (e && typeof e === 'object' && e.retryable === true);
  if (e instanceof fb.Permanent || (retryable && e instanceof Error && e.constructor === fb.RetryableError)) {
    return { tag: retryable ? 'retryable' : 'permanent', val: String(e.message || e.name) };
  }
  const text = e instanceof Error
    ? `${e.name}: ${e.message}${e.stack ? `\n${String(e.stack).trimEnd()}` : ''}`
    : `Uncaught ${fb.inspect(e, 1)}`;
  return { tag: retryable ? 'retryable' : 'permanent', val: text };
}

// SpiderMonkey compiles a function to bytecode on its first call, and every run is a fresh
// instance of the snapshot taken after this module ran: so the SDK's own per-run paths are run
// once here, and each run starts with them compiled (about a tenth of a trivial run's work).
// Host calls cannot run while the component is built, so only the pure ones.
(function warmUp() {
  for (const record of [{ object: 'o', id: 'i' }, null]) {
    context({ executionId: 'e', workflowId: 'w', stepId: 's', attempt: 1, record });
  }
  fb.toJson({ a: [1, 'x', null, true], b: { c: 1.5 } }, 'the result');
  fb.format(['greeting %s', 'Ada', 1, { a: 1 }]);
  for (const e of [new fb.InvalidInputError('x'), new fb.Permanent('x'), new fb.RetryableError('x'), new Error('x')]) {
    failure(e);
  }
  JSON.parse('{"name": "Ada"}');
})();

/** The `run` export: the output JSON, or throws the `step-error`. */
export async function run(ctx, input) {
  let value;
  try {
    value = JSON.parse(input);
  } catch (e) {
    throw { tag: 'invalid-input', val: `the input is not JSON: ${e.message}` };
  }
  let result;
  try {
    result = await watch(
      Promise.resolve().then(() => user.run(value, context(ctx))),
      () => new fb.Permanent(`run() never finished: ${NEVER_SETTLES}`),
    );
  } catch (e) {
    throw failure(e);
  }
  try {
    return fb.toJson(result === undefined ? null : result, 'the result');
  } catch (e) {
    throw { tag: 'permanent', val: `run() returned a value that is not JSON: ${e.message}` };
  }
}
