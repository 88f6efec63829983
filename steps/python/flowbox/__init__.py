"""flowbox: what a Python code step can reach of the host.

User code gets these as globals already (`inputs`, `variables`, `record`, `outputs`, `context`,
`log`); this module is for helpers and for code that prefers `import flowbox`:

    flowbox.log.info("text")            one line in the step's log (also: debug, warn, error)
    flowbox.variables["name"]           the execution's variables (JSON values)
    flowbox.records.get(object, id)     any record's fields; update_fields, create_related
    flowbox.http.get(url, ...)          requests-style HTTP through the host (`import requests`
                                        gives the same module)
    flowbox.now()                       the host's clock as an aware UTC datetime
    flowbox.files, teams, email, llm, audio   the other host interfaces (step projects)

Every host call is made only when the code uses it. A refused or failed call raises a
`flowbox.HostError` subclass: Unavailable, InvalidRequest, NotFound, Denied or Failed.
Raise `flowbox.RetryableError` (or `Retryable`) to ask for a retry, `flowbox.InvalidInputError`
(or `InvalidInput`) to fail the step as invalid input, `flowbox.Permanent` to fail it for good
with just a message; any other uncaught exception fails the step for good, with its traceback.
An interface the component was not built with raises `Unavailable` naming it.
"""

import datetime as _datetime
import json as _json
from collections.abc import Mapping as _Mapping, MutableMapping as _MutableMapping

import importlib as _importlib

from componentize_py_types import Err as _Err
from wit_world.imports import types as _types

__all__ = [
    "HostError", "Unavailable", "InvalidRequest", "NotFound", "Denied", "Failed",
    "RetryableError", "InvalidInputError", "InvalidInput", "Retryable", "Permanent", "log", "variables", "records", "Record", "now",
    "now_millis", "to_json", "http", "files", "teams", "email", "llm", "audio",
]


# --- errors -------------------------------------------------------------------------------------

class RetryableError(Exception):
    """Uncaught, it fails the step as `retryable`: the engine may run it again later."""


class InvalidInputError(Exception):
    """Uncaught, it fails the step as `invalid-input`: a retry cannot help."""


class Permanent(Exception):
    """Uncaught, it fails the step for good with its message (any other exception does too,
    with its traceback)."""


# The names a step module raises (`raise flowbox.InvalidInput("...")`).
InvalidInput = InvalidInputError
Retryable = RetryableError


class HostError(Exception):
    """A host call failed. `kind` is the host's reason: unavailable, invalid, not-found,
    denied or failed."""

    kind = "failed"


class Unavailable(HostError):
    """The host does not provide this capability (not configured, or not granted)."""

    kind = "unavailable"


class InvalidRequest(HostError, ValueError):
    """The host refused the request as malformed."""

    kind = "invalid"


class NotFound(HostError, LookupError):
    """The thing asked for does not exist."""

    kind = "not-found"


class Denied(HostError, PermissionError):
    """Policy refused the request (a host not on the allow-list, a budget spent)."""

    kind = "denied"


class Failed(HostError, RetryableError):
    """The call was valid but failed on the way; uncaught, the step is retryable."""

    kind = "failed"


_KINDS = {
    _types.HostError_Unavailable: Unavailable,
    _types.HostError_Invalid: InvalidRequest,
    _types.HostError_NotFound: NotFound,
    _types.HostError_Denied: Denied,
    _types.HostError_Failed: Failed,
}


def _host_error(err, what, classes=None):
    """The exception for a host `Err(host-error)`; `classes` maps a kind class to a subclass."""
    value = getattr(err, "value", err)
    cls = _KINDS.get(type(value), HostError)
    if classes:
        cls = classes.get(cls, cls)
    message = getattr(value, "value", None) or str(value)
    return cls(f"{what}: {message}")


def _call(what, fn, *args):
    try:
        return fn(*args)
    except _Err as e:
        raise _host_error(e, what) from None


# --- the host's interfaces ----------------------------------------------------------------------

class _Interface:
    """A host interface, as its generated module: a component imports only the interfaces of the
    world it was built for (a step project's are the ones its code uses), so a missing one is a
    clear `Unavailable` at the call, naming what to add.

    The module is imported here, while the component is built: the running component has no
    filesystem to import it from later."""

    def __init__(self, name):
        self._name = name
        try:
            self._module = _importlib.import_module("wit_world.imports." + name)
        except ImportError:
            self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            raise Unavailable(
                f"this component was built without the `{self._name}` interface: a step "
                f"project gets the interfaces its code names (flowbox.{self._name}); "
                f"rebuild it with `flowbox step build` and list `{self._name}` in step.toml"
            )
        return getattr(self._module, attr)


_log = _Interface("log")
_variables = _Interface("variables")
_records = _Interface("records")
_files = _Interface("files")
_teams = _Interface("teams")
_email = _Interface("email")
_llm = _Interface("llm")
_audio = _Interface("audio")
_clock = _Interface("clock")


# --- JSON ---------------------------------------------------------------------------------------

def _json_default(o):
    """What the step turns into JSON beyond the json module: datetimes (ISO 8601), Decimal
    (a number), set (a list), UUID (a string), any mapping (an object)."""
    if isinstance(o, (_datetime.datetime, _datetime.date, _datetime.time)):
        return o.isoformat()
    if isinstance(o, _Mapping):
        return dict(o)
    name = type(o).__name__
    if name == "Decimal":
        return int(o) if o == o.to_integral_value() else float(o)
    if isinstance(o, (set, frozenset)):
        try:
            return sorted(o)
        except TypeError:
            return list(o)
    if name == "UUID":
        return str(o)
    hint = ""
    if isinstance(o, (bytes, bytearray, memoryview)):
        hint = " (decode it to text first, e.g. .decode() or base64)"
    raise TypeError(f"object of type {name} is not JSON serializable{hint}")


def to_json(value):
    """`value` as JSON text, as the step's output and variables are written."""
    return _json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False)


def _json_path_error(value, path="outputs"):
    """(path, reason) of the first part of `value` that is not JSON, or None."""
    seen = set()

    def walk(v, p):
        if v is None or isinstance(v, (str, bool, int)):
            return None
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return p, f"{v!r} is not a JSON number"
            return None
        if id(v) in seen:
            return p, "a circular reference"
        if isinstance(v, (list, tuple)):
            seen.add(id(v))
            for i, item in enumerate(v):
                found = walk(item, f"{p}[{i}]")
                if found:
                    return found
            seen.discard(id(v))
            return None
        if isinstance(v, dict):
            seen.add(id(v))
            for k, item in v.items():
                if not (k is None or isinstance(k, (str, int, float, bool))):
                    return f"{p}[{k!r}]", f"the key {k!r} is a {type(k).__name__} (keys must be strings)"
                found = walk(item, f"{p}[{k!r}]")
                if found:
                    return found
            seen.discard(id(v))
            return None
        try:
            converted = _json_default(v)
        except Exception as e:  # noqa: BLE001 - any failure names the path
            return p, str(e)
        seen.add(id(v))
        found = walk(converted, p)
        seen.discard(id(v))
        return found

    return walk(value, path)


# --- log ----------------------------------------------------------------------------------------

class _Log:
    """Lines in the step's log: `log.info("a", 1)` writes `a 1`."""

    _levels = {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR"}

    def write(self, level, *args):
        lvl = self._levels.get(str(level).lower())
        if lvl is None:
            raise ValueError(f"unknown log level {level!r}: debug, info, warn or error")
        _log.write(getattr(_log.Level, lvl), " ".join(str(a) for a in args))

    def debug(self, *args):
        self.write("debug", *args)

    def info(self, *args):
        self.write("info", *args)

    def warn(self, *args):
        self.write("warn", *args)

    warning = warn

    def error(self, *args):
        self.write("error", *args)

    def __call__(self, *args):
        self.write("info", *args)

    def __repr__(self):
        return "<flowbox log: log.info(...), log.warn(...), log.error(...), log.debug(...)>"


log = _Log()


# --- variables ----------------------------------------------------------------------------------

_MISSING = object()


class Variables:
    """The execution's variables, read lazily: `variables["n"]`, `variables.get("n", 0)`,
    `"n" in variables`. `variables["n"] = value` writes the variable (JSON); writes are kept
    only if the step succeeds. Changing a value read from here in place does not write it:
    assign it back."""

    def __init__(self):
        self._cache = {}

    def _read(self, name):
        if not isinstance(name, str):
            raise TypeError(f"variable names are strings, not {type(name).__name__}")
        if name not in self._cache:
            raw = _variables.get(name)
            self._cache[name] = _MISSING if raw is None else _json.loads(raw)
        return self._cache[name]

    def __getitem__(self, name):
        value = self._read(name)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def get(self, name, default=None):
        value = self._read(name)
        return default if value is _MISSING else value

    def __contains__(self, name):
        return self._read(name) is not _MISSING

    def __setitem__(self, name, value):
        if not isinstance(name, str):
            raise TypeError(f"variable names are strings, not {type(name).__name__}")
        try:
            text = to_json(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"variables[{name!r}]: {e}") from None
        _call(f"setting variable {name!r}", _variables.set, name, text)
        self._cache[name] = _json.loads(text)

    def set(self, name, value):
        self[name] = value

    def update(self, values=(), **more):
        for k, v in dict(values, **more).items():
            self[k] = v

    def __delitem__(self, name):
        raise TypeError("a variable cannot be deleted; set it to None instead")

    def __iter__(self):
        raise TypeError("variables cannot be listed; read one by name")

    def __repr__(self):
        known = {k: v for k, v in self._cache.items() if v is not _MISSING}
        return f"<flowbox variables, read so far: {known!r}>"


variables = Variables()


# --- records ------------------------------------------------------------------------------------

def _ref(record, id=None):
    """A RecordRef from a Record, a RecordRef, a mapping {"object", "id"}, a pair, or (object, id)."""
    if id is not None:
        return _types.RecordRef(object=str(record), id=str(id))
    if isinstance(record, Record):
        return record.ref
    if isinstance(record, _types.RecordRef):
        return record
    if isinstance(record, _Mapping):
        return _types.RecordRef(object=str(record["object"]), id=str(record["id"]))
    if isinstance(record, (tuple, list)) and len(record) == 2:
        return _types.RecordRef(object=str(record[0]), id=str(record[1]))
    raise TypeError("a record is given as (object, id), {'object': ..., 'id': ...} or a Record")


def _ref_dict(ref):
    return {"object": ref.object, "id": ref.id}


class Record(_MutableMapping):
    """One record's fields, fetched from the host the first time they are read.

    `record["amount"]`, `record.get("stage")`, `dict(record)` read; `record["stage"] = "won"` and
    `record.update({...})` write through to the host at once (committed with the step's result).
    `record.object`, `record.id` name it; `record.create_related(object, relation, fields)` adds
    a related record and returns its {"object", "id"}."""

    def __init__(self, ref):
        self.ref = ref
        self._fields = None

    @property
    def object(self):
        return self.ref.object

    @property
    def id(self):
        return self.ref.id

    def _load(self):
        if self._fields is None:
            text = _call(f"reading record {self.ref.object}/{self.ref.id}", _records.get, self.ref)
            fields = _json.loads(text)
            self._fields = fields if isinstance(fields, dict) else {}
        return self._fields

    def refresh(self):
        self._fields = None
        return self

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self):
        return len(self._load())

    def __contains__(self, key):
        return key in self._load()

    def update(self, fields=(), **more):
        fields = dict(fields, **more)
        if not fields:
            return
        try:
            text = to_json(fields)
        except (TypeError, ValueError) as e:
            raise TypeError(f"record fields: {e}") from None
        _call(f"updating record {self.ref.object}/{self.ref.id}", _records.update_fields, self.ref, text)
        if self._fields is not None:
            self._fields.update(_json.loads(text))

    def __setitem__(self, key, value):
        self.update({key: value})

    def __delitem__(self, key):
        raise TypeError("a record field cannot be deleted; set it to None instead")

    def create_related(self, object, relation, fields=None):
        return records.create_related(self, object, relation, fields)

    def to_dict(self):
        return dict(self._load())

    def __repr__(self):
        state = repr(self._fields) if self._fields is not None else "(not read yet)"
        return f"<Record {self.ref.object}/{self.ref.id} {state}>"


class _Records:
    """Any record by type and id (needs the records grant, and the host's permission)."""

    def get(self, object, id=None):
        ref = _ref(object, id)
        return _json.loads(_call(f"reading record {ref.object}/{ref.id}", _records.get, ref))

    def record(self, object, id=None):
        return Record(_ref(object, id))

    def update_fields(self, *args):
        """update_fields(record, fields) or update_fields(object, id, fields)."""
        if len(args) == 3:
            ref, fields = _ref(args[0], args[1]), args[2]
        elif len(args) == 2:
            ref, fields = _ref(args[0]), args[1]
        else:
            raise TypeError("update_fields(record, fields) or update_fields(object, id, fields)")
        _call(f"updating record {ref.object}/{ref.id}", _records.update_fields, ref, to_json(dict(fields)))

    def create_related(self, parent, object, relation, fields=None):
        ref = _ref(parent)
        created = _call(
            f"creating a {object} related to {ref.object}/{ref.id}",
            _records.create_related, ref, str(object), str(relation), to_json(dict(fields or {})),
        )
        return _ref_dict(created)


records = _Records()


# --- clock --------------------------------------------------------------------------------------

def now_millis():
    """The host's clock: milliseconds since the Unix epoch."""
    return _clock.now_millis()


def now():
    """The host's clock as an aware UTC datetime."""
    ms = _clock.now_millis()
    return _datetime.datetime.fromtimestamp(ms / 1000, tz=_datetime.timezone.utc)


# --- files, teams, email, llm, audio -----------------------------------------------------------

class _Files:
    """Files the host keeps (uploads, attachments), by id."""

    def info(self, file_id):
        """{"id", "name", "content_type", "size"}."""
        i = _call(f"reading file {file_id}", _files.info, str(file_id))
        return {"id": i.id, "name": i.name, "content_type": i.content_type, "size": i.size}

    def read(self, file_id):
        """The file's bytes."""
        return bytes(_call(f"reading file {file_id}", _files.read, str(file_id)))


files = _Files()


class _Teams:
    """Teams: members, round-robin rotation, channel notifications."""

    def members(self, team):
        """The members' user ids, in rotation order."""
        return list(_call(f"reading team {team}", _teams.members, str(team)))

    def next_member(self, team):
        """The next member in the team's rotation (the rotation advances)."""
        return _call(f"rotating team {team}", _teams.next_member, str(team))

    def notify(self, team, channel, text, data=None):
        """Notify the team on a channel; `data` is any JSON value sent along."""
        extra = None if data is None else to_json(data)
        _call(f"notifying team {team}", _teams.notify, str(team), str(channel), str(text), extra)


teams = _Teams()


class _Email:
    """Email through the server's SMTP relay."""

    def send(self, to, subject, text, *, cc=(), html=None, reply_to=None):
        """Send a message; returns its message id. `to` is an address or a list of them."""
        to = [to] if isinstance(to, str) else [str(a) for a in to]
        message = _email.Message(
            to=to, cc=[str(a) for a in cc], subject=str(subject), text=str(text),
            html=html, reply_to=reply_to,
        )
        return _call("sending email", _email.send, message)


email = _Email()


class _Llm:
    """Chat completion through the server's configured provider (the key stays on the host)."""

    def chat(self, messages, *, provider=None, model=None, schema=None, temperature=None,
             max_tokens=None):
        """`messages` is a prompt string or a list of {"role", "content"}. Returns
        {"content", "model", "usage": {"prompt_tokens", "completion_tokens"}}; with `schema`
        (a JSON schema), "content" is the parsed JSON the model answered."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        request = _llm.ChatRequest(
            provider=provider, model=model,
            messages=[_llm.Message(role=str(m["role"]), content=str(m["content"])) for m in messages],
            response_schema=None if schema is None else to_json(schema),
            temperature=temperature, max_tokens=max_tokens,
        )
        r = _call("calling the LLM", _llm.chat, request)
        content = _json.loads(r.content) if schema is not None else r.content
        return {
            "content": content, "model": r.model,
            "usage": {"prompt_tokens": r.usage.prompt_tokens,
                      "completion_tokens": r.usage.completion_tokens},
        }


llm = _Llm()


class _Audio:
    """Speech to text through the server's configured provider."""

    def transcribe(self, file_id, *, provider=None, model=None, language=None, prompt=None):
        """{"text", "language", "duration_seconds", "model"} for a file the host keeps."""
        request = _audio.TranscriptionRequest(
            provider=provider, model=model, file_id=str(file_id), language=language, prompt=prompt,
        )
        t = _call(f"transcribing file {file_id}", _audio.transcribe, request)
        return {"text": t.text, "language": t.language,
                "duration_seconds": t.duration_seconds, "model": t.model}


audio = _Audio()


from . import http  # noqa: E402  (needs the names above)
