"""The entry of a step project's component: runs the project's `step.run(input, ctx)`.

`flowbox step build` makes the component's main module `from flowbox._step import WitWorld`, with
the project's `step.py` beside it. The module is imported while the component is built, so its
imports and top-level work are done once, not on every run.

    def run(input: dict, ctx) -> dict

`ctx` has execution_id, workflow_id, step_id, attempt and record ({"object", "id"} or None).
The result must be JSON (a dict, a list, a string, a number...). Raising flowbox.InvalidInput,
flowbox.Permanent or flowbox.Retryable fails the step with that kind and the message; any other
uncaught exception fails it for good, with the traceback of the project's own code.
"""

import json
import random
import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports import types as _types

import flowbox
from flowbox import _stdio

import step as _user

_stdio.install()

if not callable(getattr(_user, "run", None)):
    raise SystemExit("step.py must define `def run(input, ctx)`")


class Context:
    """Where the step runs: ids of the execution, workflow and step, the attempt, the record."""

    __slots__ = ("execution_id", "workflow_id", "step_id", "attempt", "record")

    def __init__(self, ctx):
        self.execution_id = ctx.execution_id
        self.workflow_id = ctx.workflow_id
        self.step_id = ctx.step_id
        self.attempt = ctx.attempt
        ref = ctx.record
        self.record = None if ref is None else {"object": ref.object, "id": ref.id}

    def __repr__(self):
        return (f"Context(execution_id={self.execution_id!r}, step_id={self.step_id!r}, "
                f"attempt={self.attempt}, record={self.record!r})")


def _sdk_frame(frame):
    name = frame.filename.replace("\\", "/")
    return "/flowbox/" in name or name.endswith("_flowbox_main.py")


def _failure(e):
    """The step error for an uncaught exception."""
    if isinstance(e, flowbox.InvalidInputError):
        return _types.StepError_InvalidInput(str(e))
    if isinstance(e, (flowbox.RetryableError, flowbox.Permanent)):
        kind = (_types.StepError_Retryable if isinstance(e, flowbox.RetryableError)
                else _types.StepError_Permanent)
        return kind(str(e) or type(e).__name__)
    te = traceback.TracebackException.from_exception(e, limit=-50)
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if not _sdk_frame(f)])
    text = "".join(te.format()).rstrip("\n")
    if getattr(e, "retryable", False) is True:
        return _types.StepError_Retryable(text)
    return _types.StepError_Permanent(text)


class WitWorld(wit_world.WitWorld):
    def run(self, ctx, input):
        try:
            value = json.loads(input)
        except ValueError as e:
            raise Err(_types.StepError_InvalidInput(f"the input is not JSON: {e}")) from None
        # The random module was seeded when the component was built: seed it per run.
        random.seed()
        out, err = _stdio.redirect()
        try:
            try:
                result = _user.run(value, Context(ctx))
            except SystemExit as e:
                if e.code in (None, 0):
                    result = None
                else:
                    raise Err(_types.StepError_Permanent(f"the step called exit({e.code!r})")) from None
            except Exception as e:  # noqa: BLE001 - every failure of the step is reported
                raise Err(_failure(e)) from None
        finally:
            _stdio.restore(out, err)
        try:
            return flowbox.to_json(result)
        except (TypeError, ValueError, RecursionError) as e:
            raise Err(_types.StepError_Permanent(f"run() returned a value that is not JSON: {e}")) from None
