// Timers that the step's run is watched by. The engine runs its event loop until the run's
// promise settles, and aborts (a trap with no message the user can act on) if the loop runs dry
// first. So the code's timers are counted instead: when none is left and the promise is still
// pending, nothing can settle it, and the step fails saying so. An exception thrown by a timer's
// callback fails the step too (as an uncaught exception does in Node).
//
// Used by the JavaScript code step (app.js) and by a step project's entry (step.js), which set
// `timers` as the globals.

const native = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
};
const liveTimers = new Set();
/** The run in progress: `idle()` is called when no timer is left, `fail(e)` on a timer's error. */
let watcher = null;
let idleCheckQueued = false;

function whenIdle() {
  if (liveTimers.size !== 0 || watcher === null || idleCheckQueued) return;
  idleCheckQueued = true;
  // A macrotask: the microtasks queued so far run first.
  native.setTimeout(() => {
    idleCheckQueued = false;
    if (liveTimers.size === 0 && watcher !== null) watcher.idle();
  }, 0);
}

function timerCallback(fn, args, id, repeat) {
  return () => {
    if (!repeat) liveTimers.delete(id.value);
    try {
      if (typeof fn === 'function') fn(...args);
      else (0, eval)(String(fn));
    } catch (e) {
      if (watcher !== null) watcher.fail(e);
    } finally {
      whenIdle();
    }
  };
}

function makeTimer(kind, repeat) {
  const named = {
    [kind](fn, ms = 0, ...args) {
      const id = { value: 0 };
      id.value = native[kind](timerCallback(fn, args, id, repeat), ms);
      liveTimers.add(id.value);
      return id.value;
    },
  };
  return named[kind];
}

function makeClear(kind) {
  const named = {
    [kind](id) {
      native[kind](id);
      if (liveTimers.delete(id)) whenIdle();
    },
  };
  return named[kind];
}

/** The counted timers, to set as the globals of the same names. */
export const timers = {
  setTimeout: makeTimer('setTimeout', false),
  setInterval: makeTimer('setInterval', true),
  clearTimeout: makeClear('clearTimeout'),
  clearInterval: makeClear('clearInterval'),
};

/** The message when nothing is left that could settle the run's promise. */
export const NEVER_SETTLES =
  'it awaits a promise that nothing can settle any more (no timer is left); resolve it, or do not await it';

/** Await `promise`; rejects with `never()` if nothing is left that could settle it, and with a
 * timer callback's exception. */
export function watch(promise, never) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      watcher = null;
      fn(value);
    };
    watcher = {
      idle: () => settle(reject, never()),
      fail: (e) => settle(reject, e),
    };
    promise.then((v) => settle(resolve, v), (e) => settle(reject, e));
    whenIdle();
  });
}
