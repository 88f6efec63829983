"""The Python code step: runs the user's Python source, given as data.

Input:  {"code": "<python source>", "inputs": {...}}
Output: the `outputs` dict the code filled, as JSON.

Input {"check": "<python source>"} (no "code") only compiles the source, for the host's check of
a definition: the output is {"checked": true, "error": null or the syntax error}. Nothing runs.

The code runs in fresh globals: `inputs` (the input's "inputs"), `outputs` (a dict to fill;
`outputs.log(...)` writes a log line), `variables` (the execution's variables, read lazily,
written by assignment), `record` (the execution's record, read lazily; None for a global
workflow), `context` (execution/workflow/step ids, attempt) and `log`. print() and sys.stderr go
to the step's log (stdout at info, stderr at warn). `import requests` gives flowbox.http.

Failures: a SyntaxError is `invalid-input`; an uncaught exception is `permanent` (or `retryable`
for flowbox.RetryableError and its kin, `invalid-input` for flowbox.InvalidInputError) with the
traceback of the user's code only, line numbers counted from its first line.

Everything heavy is imported at module level: componentize-py runs this module when it builds
the component and snapshots the interpreter, so a run starts with it all loaded.
"""

import builtins
import json
import linecache
import random
import sys
import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports import log as _log
from wit_world.imports import types as _types

import flowbox
import flowbox.http
from flowbox import _preload, _stdio

_preload.preload()

# `import requests` is flowbox.http: the real one needs sockets, which a step does not have.
sys.modules["requests"] = flowbox.http
sys.modules["requests.exceptions"] = flowbox.http

CODE_FILENAME = "<code>"


# print() and logging go to the step's log (flowbox/_stdio.py, shared with step projects).
_stdio.install()


# --- what the code sees ---------------------------------------------------------------------------

class Outputs(dict):
    """The step's result: fill it like a dict. `outputs.log(...)` writes an info log line."""

    def log(self, *args):
        _log.write(_log.Level.INFO, " ".join(str(a) for a in args))


def _globals(ctx, inputs):
    ref = ctx.record
    return {
        "__name__": "__main__",
        "__builtins__": builtins,
        "__doc__": None,
        "inputs": inputs,
        "outputs": Outputs(),
        "variables": flowbox.variables,
        "record": flowbox.Record(ref) if ref is not None else None,
        "context": {
            "execution_id": ctx.execution_id,
            "workflow_id": ctx.workflow_id,
            "step_id": ctx.step_id,
            "attempt": ctx.attempt,
            "record": {"object": ref.object, "id": ref.id} if ref is not None else None,
        },
        "log": flowbox.log,
    }


# --- failures -------------------------------------------------------------------------------------

def _fail(kind, message):
    return Err(kind(message))


def _only_user_frames(te, seen=None):
    """Drop the frames that are not the user's code, through the whole exception chain."""
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename == CODE_FILENAME]
    )
    _only_user_frames(te.__cause__, seen)
    _only_user_frames(te.__context__, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _only_user_frames(sub, seen)


# The frames a traceback shows at most (the innermost ones): extracting the frames of a deep
# recursion one by one would take seconds.
MAX_FRAMES = 100

# Exceptions reported, kept alive until the instance is dropped: freeing the traceback of a deep
# recursion recurses in C deeper than the host's wasm stack allows (CPython 3.14 guards its C
# recursion by the shadow stack's size, which is larger).
_reported = []


def _format_exception(e):
    _reported.append(e)
    depth, tb = 0, e.__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    limit = -MAX_FRAMES if depth > MAX_FRAMES else None
    te = traceback.TracebackException.from_exception(e, limit=limit)
    _only_user_frames(te)
    text = "".join(te.format()).rstrip("\n")
    if limit is not None:
        text = text.replace(
            "Traceback (most recent call last):\n",
            f"Traceback (most recent call last; the {MAX_FRAMES} innermost of {depth} frames):\n",
            1,
        )
    if isinstance(e, ModuleNotFoundError) and e.name and e.name.partition(".")[0] not in sys.modules:
        text += (
            "\n(a flowbox Python step can import the standard library and the bundled "
            "libraries only: pytz, msgpack, requests (flowbox.http); it has no filesystem "
            "or package installer)"
        )
    return text


def _format_syntax_error(e, source):
    if e.text is None and e.filename == CODE_FILENAME and e.lineno:
        lines = source.splitlines()
        if 0 < e.lineno <= len(lines):
            e.text = lines[e.lineno - 1]
    text = "".join(traceback.format_exception_only(type(e), e)).strip("\n").lstrip()
    if isinstance(e, SyntaxError) and "'return' outside function" in str(e.msg):
        text += "\n(the code is not a function: put the result in `outputs` instead of returning it)"
    return text


def _error_kind(e):
    if isinstance(e, flowbox.InvalidInputError):
        return _types.StepError_InvalidInput
    if isinstance(e, flowbox.RetryableError) or getattr(e, "retryable", False) is True:
        return _types.StepError_Retryable
    return _types.StepError_Permanent


# --- the run --------------------------------------------------------------------------------------

def _load_input(text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise _fail(_types.StepError_InvalidInput, f"the input is not JSON: {e}") from None


def _check_only(request):
    """The source of a compile-only request ({"check": source}), or None."""
    if isinstance(request, dict) and "code" not in request and isinstance(request.get("check"), str):
        return request["check"]
    return None


def _check(source):
    """Compile without running: a syntax error is the answer, not a failure."""
    try:
        compile(source, CODE_FILENAME, "exec", dont_inherit=True)
        error = None
    except SyntaxError as e:  # IndentationError and TabError too
        error = _format_syntax_error(e, source)
    except (ValueError, OverflowError, MemoryError, RecursionError) as e:
        error = f"the code cannot be compiled: {type(e).__name__}: {e}"
    return json.dumps({"checked": True, "error": error})


def _parse_input(request):
    if not isinstance(request, dict) or not isinstance(request.get("code"), str):
        raise _fail(
            _types.StepError_InvalidInput,
            'the input must be a JSON object {"code": "<python source>", "inputs": {...}}',
        )
    inputs = request.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise _fail(
            _types.StepError_InvalidInput,
            f'"inputs" must be a JSON object, not {type(inputs).__name__}',
        )
    return request["code"], inputs


def _compile(source):
    try:
        return compile(source, CODE_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as e:  # IndentationError and TabError too
        raise _fail(_types.StepError_InvalidInput, _format_syntax_error(e, source)) from None
    except (ValueError, OverflowError, MemoryError, RecursionError) as e:
        raise _fail(_types.StepError_InvalidInput, f"the code cannot be compiled: {type(e).__name__}: {e}") from None


def _result(value):
    try:
        return flowbox.to_json(value)
    except (TypeError, ValueError, RecursionError) as e:
        try:
            found = flowbox._json_path_error(value)
        except RecursionError:
            found = None
        where = f"{found[0]}: {found[1]}" if found else str(e)
        raise _fail(
            _types.StepError_Permanent,
            f"the step's outputs are not JSON: {where}",
        ) from None


def run_code(ctx, input_text):
    request = _load_input(input_text)
    check = _check_only(request)
    if check is not None:
        return _check(check)
    source, inputs = _parse_input(request)
    # The traceback quotes the user's lines; there is no file to read them from.
    linecache.cache[CODE_FILENAME] = (len(source), None, source.splitlines(True), CODE_FILENAME)
    code = _compile(source)

    # Python's random module was seeded when the component was built: seed it per run.
    random.seed()
    out, err = _stdio.redirect()
    scope = _globals(ctx, inputs)
    try:
        try:
            exec(code, scope)
        except SystemExit as e:
            if e.code not in (None, 0):
                raise _fail(_types.StepError_Permanent, f"the code called exit({e.code!r})") from None
        except BaseException as e:  # noqa: BLE001 - every failure of user code is reported
            raise _fail(_error_kind(e), _format_exception(e)) from None
    finally:
        _stdio.restore(out, err)

    value = scope.get("outputs", {})
    return _result(value)


class WitWorld(wit_world.WitWorld):
    def run(self, ctx, input):
        return run_code(ctx, input)
