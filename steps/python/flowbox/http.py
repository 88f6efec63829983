"""A requests-style HTTP client over the host's `http` import (the step has no sockets).

    import requests                      # this module; `flowbox.http` is the same
    r = requests.get("https://api.example.com/items", params={"q": "x"}, timeout=10)
    r.raise_for_status()
    items = r.json()

request/get/post/put/patch/delete/head, Session, Response (status_code, headers, content, text,
json(), ok, raise_for_status()) and the requests exception names. Requests go only to the hosts
on the module's allow-list; the host adds `idempotency-key`. Not supported: files=, streaming,
proxies, client certificates (verify=, allow_redirects=, stream=, proxies=, cert= are accepted
and ignored).
"""

import base64 as _base64
import http as _http_status
import json as _json
import time as _time
import urllib.parse as _urlparse
from collections.abc import Mapping as _Mapping, MutableMapping as _MutableMapping
from datetime import timedelta as _timedelta

from componentize_py_types import Err as _Err

import flowbox as _fb

_http = _fb._Interface("http")

__version__ = "2.32.0+flowbox"
__all__ = [
    "request", "get", "post", "put", "patch", "delete", "head", "options", "Session", "session",
    "Response", "CaseInsensitiveDict", "RequestException", "ConnectionError", "Timeout",
    "ConnectTimeout", "ReadTimeout", "HTTPError", "InvalidURL", "InvalidHeader",
    "RequestDenied", "JSONDecodeError", "TooManyRedirects", "codes",
]

DEFAULT_USER_AGENT = "flowbox-python-step"


# --- exceptions (the names requests uses) ---------------------------------------------------------

class RequestException(_fb.HostError, OSError):
    """Base of every error this module raises (as in requests)."""

    def __init__(self, *args, response=None, request=None):
        super().__init__(*args)
        self.response = response
        self.request = request

    def __str__(self):
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConnectionError(RequestException, _fb.Failed):  # noqa: A001 - the requests name
    """The request did not get a response (network error, upstream unreachable); retryable."""


class Timeout(RequestException, _fb.Failed):
    """The request timed out; retryable."""


class ConnectTimeout(ConnectionError, Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class RequestDenied(RequestException, _fb.Denied):
    """The host refused the request: the URL's host is not on the module's allow-list, or a
    budget is spent."""


class HTTPUnavailable(RequestException, _fb.Unavailable):
    """The host provides no HTTP (not configured or not granted)."""


class InvalidURL(RequestException, _fb.InvalidRequest):
    pass


class InvalidHeader(RequestException, _fb.InvalidRequest):
    pass


class InvalidRequest(RequestException, _fb.InvalidRequest):
    pass


class TooManyRedirects(RequestException):
    pass


class HTTPError(RequestException):
    """From raise_for_status(): a 4xx or 5xx answer. Uncaught, a 429 or 5xx makes the step
    retryable, any other status fails it for good."""

    @property
    def retryable(self):
        status = getattr(self.response, "status_code", 0)
        return status == 429 or status >= 500


class JSONDecodeError(_json.JSONDecodeError, RequestException):
    """Response.json() on a body that is not JSON."""

    def __init__(self, msg, doc, pos, response=None):
        _json.JSONDecodeError.__init__(self, msg, doc, pos)
        self.response = response
        self.request = None

    def __str__(self):
        return _json.JSONDecodeError.__str__(self)


# `requests.exceptions.X` works: this module stands in for it too.
import sys as _sys  # noqa: E402

exceptions = _sys.modules[__name__]


# --- helpers ------------------------------------------------------------------------------------

class CaseInsensitiveDict(_MutableMapping):
    """Header names compare without case; iteration keeps the last-set spelling."""

    def __init__(self, data=None, **kwargs):
        self._store = {}
        self.update(data or {}, **kwargs)

    def __setitem__(self, key, value):
        self._store[key.lower()] = (key, value)

    def __getitem__(self, key):
        return self._store[key.lower()][1]

    def __delitem__(self, key):
        del self._store[key.lower()]

    def __iter__(self):
        return (k for k, _ in self._store.values())

    def __len__(self):
        return len(self._store)

    def lower_items(self):
        return ((k, v[1]) for k, v in self._store.items())

    def copy(self):
        return CaseInsensitiveDict(dict(self.items()))

    def __eq__(self, other):
        if isinstance(other, _Mapping):
            return dict(self.lower_items()) == dict(CaseInsensitiveDict(other).lower_items())
        return NotImplemented

    def __repr__(self):
        return repr(dict(self.items()))


class _Codes:
    """requests.codes: `codes.ok`, `codes.not_found`, `codes["too_many_requests"]`."""

    def __init__(self):
        for status in _http_status.HTTPStatus:
            setattr(self, status.name.lower(), status.value)
        self.ok = 200
        self.okay = 200
        self.all_ok = 200
        self.created = 201
        self.accepted = 202
        self.no_content = 204
        self.moved = 301
        self.found = 302
        self.not_modified = 304
        self.bad = 400
        self.unauthorized = 401
        self.forbidden = 403
        self.not_found = 404
        self.conflict = 409
        self.too_many = 429
        self.too_many_requests = 429
        self.server_error = 500
        self.unavailable = 503

    def __getitem__(self, name):
        return getattr(self, name)

    def get(self, name, default=None):
        return getattr(self, name, default)


codes = _Codes()


def _merge_params(url, params):
    if not params:
        return url
    if isinstance(params, (str, bytes)):
        extra = params.decode() if isinstance(params, bytes) else params
    else:
        items = params.items() if isinstance(params, _Mapping) else params
        pairs = []
        for k, v in items:
            if v is None:
                continue
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                pairs.append((k, item))
        extra = _urlparse.urlencode(pairs)
    if not extra:
        return url
    scheme, netloc, path, query, fragment = _urlparse.urlsplit(url)
    query = f"{query}&{extra}" if query else extra
    return _urlparse.urlunsplit((scheme, netloc, path, query, fragment))


def _timeout_ms(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        parts = [t for t in timeout if t is not None]
        if not parts:
            return None
        timeout = sum(parts)
    ms = int(float(timeout) * 1000)
    return max(1, min(ms, 0xFFFFFFFF))


def _body(data, json_body, headers):
    if json_body is not None and data is None:
        if "content-type" not in headers:
            headers["Content-Type"] = "application/json"
        return _fb.to_json(json_body).encode("utf-8")
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if hasattr(data, "read"):
        chunk = data.read()
        return chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
    if isinstance(data, (_Mapping, list, tuple)):
        items = data.items() if isinstance(data, _Mapping) else data
        if "content-type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return _urlparse.urlencode(list(items), doseq=True).encode("utf-8")
    raise TypeError(f"data= takes bytes, str, a file-like object or a dict, not {type(data).__name__}")


class PreparedRequest:
    def __init__(self, method, url, headers, body):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    def __repr__(self):
        return f"<PreparedRequest [{self.method}]>"


# --- response -----------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, url, request, elapsed):
        self.status_code = status
        self.headers = CaseInsensitiveDict()
        for name, value in headers:
            # repeated headers are joined as HTTP allows (set-cookie included, as requests does)
            self.headers[name] = f"{self.headers[name]}, {value}" if name in self.headers else value
        self.raw_headers = list(headers)
        self.content = bytes(body)
        self.url = url
        self.request = request
        self.elapsed = elapsed
        self.history = []
        self._encoding = None
        try:
            self.reason = _http_status.HTTPStatus(status).phrase
        except ValueError:
            self.reason = ""

    @property
    def encoding(self):
        if self._encoding:
            return self._encoding
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"'")
        return "utf-8"

    @encoding.setter
    def encoding(self, value):
        self._encoding = value

    @property
    def apparent_encoding(self):
        return "utf-8"

    @property
    def text(self):
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs):
        text = self.text
        try:
            return _json.loads(text, **kwargs)
        except _json.JSONDecodeError as e:
            raise JSONDecodeError(
                f"{self.request.method} {self.url} answered {self.status_code} with a body that is not JSON: {e.msg}",
                e.doc, e.pos, response=self,
            ) from None

    @property
    def ok(self):
        return self.status_code < 400

    def __bool__(self):
        return self.ok

    @property
    def is_redirect(self):
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def links(self):
        return {}

    @property
    def cookies(self):
        return {}

    def raise_for_status(self):
        if 400 <= self.status_code < 600:
            side = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(
                f"{self.status_code} {side} Error: {self.reason} for url: {self.url}",
                response=self, request=self.request,
            )

    def iter_content(self, chunk_size=1, decode_unicode=False):
        data = self.text if decode_unicode else self.content
        size = chunk_size or len(data) or 1
        for i in range(0, len(data), size):
            yield data[i:i + size]

    def iter_lines(self, chunk_size=512, decode_unicode=False, delimiter=None):
        data = self.text if decode_unicode else self.content
        yield from (data.split(delimiter) if delimiter else data.splitlines())

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<Response [{self.status_code}]>"


# --- sending ------------------------------------------------------------------------------------

_ERRORS = {
    _fb.Unavailable: HTTPUnavailable,
    _fb.InvalidRequest: InvalidURL,
    _fb.NotFound: RequestException,
    _fb.Denied: RequestDenied,
    _fb.Failed: ConnectionError,
}

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _send(method, url, params=None, data=None, headers=None, cookies=None, files=None, auth=None,
          timeout=None, allow_redirects=True, proxies=None, hooks=None, stream=None, verify=None,
          cert=None, json=None):
    method = str(method).upper()
    if method not in _METHODS:
        raise InvalidRequest(f"unsupported method {method!r}: one of {', '.join(_METHODS)}")
    if files:
        raise NotImplementedError("files= (multipart upload) is not supported in a flowbox step; build the body yourself")
    if not isinstance(url, str):
        url = url.decode() if isinstance(url, bytes) else str(url)
    scheme = _urlparse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidURL(f"invalid URL {url!r}: only absolute http:// or https:// URLs are supported")
    url = _merge_params(url, params)
    hdrs = CaseInsensitiveDict({"User-Agent": DEFAULT_USER_AGENT, "Accept": "*/*"})
    hdrs.update(headers or {})
    if auth is not None:
        if isinstance(auth, (tuple, list)) and len(auth) == 2:
            token = _base64.b64encode(f"{auth[0]}:{auth[1]}".encode("utf-8")).decode("ascii")
            hdrs["Authorization"] = f"Basic {token}"
        elif callable(auth):
            prepared = auth(PreparedRequest(method, url, hdrs, None))
            hdrs = getattr(prepared, "headers", hdrs)
        else:
            raise TypeError("auth= takes a (user, password) pair")
    if cookies:
        hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in dict(cookies).items())
    body = _body(data, json, hdrs)
    header_list = []
    for name, value in hdrs.items():
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str):
            raise InvalidHeader(f"header {name!r} must be a string, not {type(value).__name__}")
        header_list.append((str(name), value))
    prepared = PreparedRequest(method, url, CaseInsensitiveDict(dict(header_list)), body)
    req = _http.Request(method=method, url=url, headers=header_list, body=body,
                        timeout_ms=_timeout_ms(timeout))
    started = _time.monotonic()
    try:
        resp = _http.send(req)
    except _Err as e:
        err = _fb._host_error(e, f"{method} {url}", _ERRORS)
        low = str(err).lower()
        if isinstance(err, ConnectionError) and ("timed out" in low or "timeout" in low):
            err = ReadTimeout(str(err))
        err.request = prepared
        raise err from None
    elapsed = _timedelta(seconds=_time.monotonic() - started)
    return Response(resp.status, resp.headers, resp.body, url, prepared, elapsed)


def request(method, url, **kwargs):
    """Send a request: request("GET", url, params=, headers=, json=, data=, auth=, timeout=)."""
    return _send(method, url, **kwargs)


def get(url, params=None, **kwargs):
    return _send("GET", url, params=params, **kwargs)


def options(url, **kwargs):
    return _send("OPTIONS", url, **kwargs)


def head(url, **kwargs):
    return _send("HEAD", url, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return _send("POST", url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return _send("PUT", url, data=data, **kwargs)


def patch(url, data=None, **kwargs):
    return _send("PATCH", url, data=data, **kwargs)


def delete(url, **kwargs):
    return _send("DELETE", url, **kwargs)


class Session:
    """Default headers, auth and params for several requests: `with requests.Session() as s:`."""

    def __init__(self):
        self.headers = CaseInsensitiveDict()
        self.auth = None
        self.params = {}
        self.cookies = {}
        self.verify = True
        self.proxies = {}

    def request(self, method, url, params=None, headers=None, auth=None, cookies=None, **kwargs):
        merged = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        all_params = dict(self.params)
        if params and not isinstance(params, (str, bytes)):
            all_params.update(dict(params.items() if isinstance(params, _Mapping) else params))
            params = all_params
        elif not params:
            params = all_params
        jar = dict(self.cookies)
        jar.update(cookies or {})
        return _send(method, url, params=params, headers=merged, auth=auth or self.auth,
                     cookies=jar, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def options(self, url, **kwargs):
        return self.request("OPTIONS", url, **kwargs)

    def head(self, url, **kwargs):
        return self.request("HEAD", url, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url, data=None, **kwargs):
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def mount(self, prefix, adapter):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def session():
    return Session()
