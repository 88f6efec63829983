// HTTP over the host's `http` import (the step has no sockets): a small requests-style client and
// a fetch() with the same semantics.
//
//     const r = http.get("https://api.example.com/items", { params: { q: "x" }, timeout: 10000 });
//     r.raiseForStatus();
//     const items = r.json();
//     const r2 = http.post(url, { json: { sku: "A-1" }, headers: { authorization: "Bearer ..." } });
//     const r3 = await fetch(url, { method: "POST", body: JSON.stringify(x) });   // a Response
//
// http.request/get/post/put/patch/delete/head answer at once (no await needed; awaiting them is
// harmless): `{status, ok, statusText, headers, url, body, text(), json(), raiseForStatus()}`.
// Requests go only to the hosts on the module's allow-list; the host adds `idempotency-key`.
// Redirects are not followed. Not supported: streaming, multipart uploads, AbortSignal.

import { HostError, Denied, Failed, InvalidRequest, NotFound, Unavailable, hostError, iface, toJson } from './index.js';

export const DEFAULT_USER_AGENT = 'flowbox-js-step';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

// --- errors ---------------------------------------------------------------------------------------

/** Base of every error the client throws. `response` is set for HttpError. */
export class RequestError extends HostError {}
RequestError.prototype.name = 'RequestError';

/** The request did not get a response (network error, upstream unreachable); retryable. */
export class ConnectionError extends Failed {}
ConnectionError.prototype.name = 'ConnectionError';

/** The request timed out; retryable. */
export class TimeoutError extends Failed {}
TimeoutError.prototype.name = 'TimeoutError';

/** The host refused the request: the URL's host is not on the module's allow-list, or a budget
 * is spent. */
export class RequestDenied extends Denied {}
RequestDenied.prototype.name = 'RequestDenied';

/** The host provides no HTTP (not configured or not granted). */
export class HttpUnavailable extends Unavailable {}
HttpUnavailable.prototype.name = 'HttpUnavailable';

/** A URL, method or header the client or the host refuses. */
export class InvalidURL extends InvalidRequest {}
InvalidURL.prototype.name = 'InvalidURL';

/** From raiseForStatus(): a 4xx or 5xx answer. Uncaught, a 429 or 5xx makes the step retryable,
 * any other status fails it for good. */
export class HttpError extends RequestError {
  constructor(message, response) {
    super(message);
    this.response = response;
    this.status = response ? response.status : 0;
  }
  get kind() {
    return 'failed';
  }
  get retryable() {
    return this.status === 429 || this.status >= 500;
  }
}
HttpError.prototype.name = 'HttpError';

const ERRORS = {
  unavailable: HttpUnavailable,
  invalid: InvalidURL,
  'not-found': NotFound,
  denied: RequestDenied,
  failed: ConnectionError,
};

// --- helpers --------------------------------------------------------------------------------------

const REASONS = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted',
  203: 'Non-Authoritative Information', 204: 'No Content', 205: 'Reset Content', 206: 'Partial Content',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized',
  402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required',
  412: 'Precondition Failed', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 425: 'Too Early', 428: 'Precondition Required', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const encoder = new TextEncoder();

function utf8(bytes) {
  return new TextDecoder('utf-8').decode(bytes);
}

/** Header names and values from an object, an array of pairs, a Map or a Headers. */
function headerPairs(headers) {
  if (headers == null) return [];
  let items;
  if (Array.isArray(headers)) items = headers;
  else if (typeof headers.entries === 'function' && !(headers.constructor === Object)) items = [...headers.entries()];
  else if (typeof headers === 'object') items = Object.entries(headers);
  else throw new TypeError('headers must be an object, an array of [name, value] pairs or a Headers');
  const out = [];
  for (const pair of items) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('headers must be [name, value] pairs');
    const [name, value] = pair;
    if (value === undefined || value === null) continue;
    if (typeof value === 'object') throw new InvalidURL(`header ${JSON.stringify(String(name))} must be a string, not an object`);
    out.push([String(name), String(value)]);
  }
  return out;
}

function hasHeader(pairs, name) {
  const low = name.toLowerCase();
  return pairs.some(([n]) => n.toLowerCase() === low);
}

function setDefault(pairs, name, value) {
  if (!hasHeader(pairs, name)) pairs.push([name, value]);
}

function withParams(url, params) {
  if (params == null) return url;
  let extra;
  if (typeof params === 'string') extra = params.replace(/^\?/, '');
  else {
    const search = new URLSearchParams();
    const items = params instanceof URLSearchParams ? [...params] : params instanceof Map ? [...params] : Object.entries(params);
    for (const [k, v] of items) {
      if (v === undefined || v === null) continue;
      for (const item of Array.isArray(v) ? v : [v]) search.append(k, String(item));
    }
    extra = search.toString();
  }
  if (!extra) return url;
  const hash = url.indexOf('#');
  const [base, fragment] = hash >= 0 ? [url.slice(0, hash), url.slice(hash)] : [url, ''];
  return `${base}${base.includes('?') ? '&' : '?'}${extra}${fragment}`;
}

function toBytes(body, headers) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    setDefault(headers, 'Content-Type', 'text/plain;charset=UTF-8');
    return encoder.encode(body);
  }
  if (body instanceof Uint8Array) return body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof URLSearchParams) {
    setDefault(headers, 'Content-Type', 'application/x-www-form-urlencoded;charset=UTF-8');
    return encoder.encode(body.toString());
  }
  throw new TypeError(
    `a request body is a string, bytes or URLSearchParams, not ${body.constructor?.name || typeof body} (use json: for JSON, form: for a form)`,
  );
}

function timeoutMs(timeout) {
  if (timeout === undefined || timeout === null) return undefined;
  const ms = Math.floor(Number(timeout));
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`timeout is in milliseconds, more than 0, not ${timeout}`);
  return Math.min(ms, 0xffffffff);
}

function basicAuth(auth) {
  let user;
  let password;
  if (Array.isArray(auth) && auth.length === 2) [user, password] = auth;
  else if (auth && typeof auth === 'object' && 'username' in auth) ({ username: user, password = '' } = auth);
  else throw new TypeError('auth is [user, password] or {username, password}');
  const bytes = encoder.encode(`${user}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

// --- response -------------------------------------------------------------------------------------

/** A response's headers: a plain object of lower-case name to value (repeated headers joined
 * with ", "), with get(name), has(name) and entries() as a Headers has. */
function headerObject(pairs) {
  const out = {};
  for (const [name, value] of pairs) {
    const low = name.toLowerCase();
    out[low] = Object.hasOwn(out, low) ? `${out[low]}, ${value}` : value;
  }
  Object.defineProperties(out, {
    get: { value: (name) => (Object.hasOwn(out, String(name).toLowerCase()) ? out[String(name).toLowerCase()] : null) },
    has: { value: (name) => Object.hasOwn(out, String(name).toLowerCase()) },
    entries: { value: () => Object.entries(out)[Symbol.iterator]() },
    forEach: { value: (fn) => Object.entries(out).forEach(([k, v]) => fn(v, k, out)) },
    [Symbol.iterator]: { value: () => Object.entries(out)[Symbol.iterator]() },
  });
  return out;
}

/** An answer (any status: a 500 is a response, not an error). */
export class Response {
  constructor(method, url, status, headers, body) {
    this.status = status;
    this.statusText = REASONS[status] || '';
    this.ok = status >= 200 && status < 300;
    this.headers = headerObject(headers);
    this.rawHeaders = headers;
    this.url = url;
    this.body = body;
    Object.defineProperty(this, 'method', { value: method });
  }

  get statusCode() {
    return this.status;
  }

  /** The body as text (UTF-8). */
  text() {
    return utf8(this.body);
  }

  /** The body parsed as JSON. */
  json() {
    const text = this.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      const err = new RequestError(`${this.method} ${this.url} answered ${this.status} with a body that is not JSON: ${e.message}`);
      err.response = this;
      throw err;
    }
  }

  /** The body's bytes. */
  bytes() {
    return this.body;
  }

  arrayBuffer() {
    return this.body.buffer.slice(this.body.byteOffset, this.body.byteOffset + this.body.byteLength);
  }

  /** Throws HttpError for a 4xx or 5xx answer. */
  raiseForStatus() {
    if (this.status >= 400 && this.status < 600) {
      const side = this.status < 500 ? 'Client' : 'Server';
      throw new HttpError(`${this.status} ${side} Error: ${this.statusText} for url: ${this.url}`, this);
    }
    return this;
  }

  toJSON() {
    return { status: this.status, headers: { ...this.headers }, url: this.url, body: this.text() };
  }
}

// --- sending --------------------------------------------------------------------------------------

/**
 * Send a request: request(method, url, {headers, params, json, form, body, auth, timeout}).
 * `json` is sent as JSON, `form` (an object) as a form, `body` as it is (string, bytes,
 * URLSearchParams); `timeout` is in milliseconds (at most the step's own deadline).
 */
export function request(method, url, options = {}) {
  method = String(method).toUpperCase();
  if (!METHODS.includes(method)) {
    throw new InvalidURL(`unsupported method ${JSON.stringify(method)}: one of ${METHODS.join(', ')}`);
  }
  url = String(url instanceof URL ? url.href : url);
  if (!/^https?:\/\//i.test(url)) {
    throw new InvalidURL(`invalid URL ${JSON.stringify(url)}: only absolute http:// or https:// URLs are supported`);
  }
  const { headers, params, json, form, body, auth, timeout, ...rest } = options || {};
  const unknown = Object.keys(rest).filter((k) => !['redirect', 'signal', 'mode', 'credentials', 'cache', 'keepalive', 'referrer', 'referrerPolicy', 'integrity'].includes(k));
  if (unknown.length) throw new TypeError(`unknown request option ${unknown.map((k) => JSON.stringify(k)).join(', ')}: headers, params, json, form, body, auth, timeout`);
  url = withParams(url, params);
  const pairs = headerPairs(headers);
  if (auth !== undefined && auth !== null) pairs.push(['Authorization', basicAuth(auth)]);
  let bytes;
  if (json !== undefined) {
    setDefault(pairs, 'Content-Type', 'application/json');
    bytes = encoder.encode(toJson(json, 'the request\'s json'));
  } else if (form !== undefined && form !== null) {
    bytes = toBytes(new URLSearchParams(withParams('', form).slice(1)), pairs);
  } else {
    bytes = toBytes(body, pairs);
  }
  setDefault(pairs, 'User-Agent', DEFAULT_USER_AGENT);
  setDefault(pairs, 'Accept', '*/*');
  let resp;
  try {
    resp = iface('http').send({ method, url, headers: pairs, body: bytes, timeoutMs: timeoutMs(timeout) });
  } catch (e) {
    let err = hostError(e, `${method} ${url}`, ERRORS);
    if (err instanceof ConnectionError && /timed out|timeout/i.test(err.message)) err = new TimeoutError(err.message);
    throw err;
  }
  return new Response(method, url, resp.status, resp.headers.map(([n, v]) => [n, v]), resp.body);
}

export const http = {
  request,
  get: (url, options) => request('GET', url, options),
  head: (url, options) => request('HEAD', url, options),
  options: (url, options) => request('OPTIONS', url, options),
  post: (url, options) => request('POST', url, options),
  put: (url, options) => request('PUT', url, options),
  patch: (url, options) => request('PATCH', url, options),
  delete: (url, options) => request('DELETE', url, options),
  Response,
  RequestError,
  ConnectionError,
  TimeoutError,
  RequestDenied,
  HttpUnavailable,
  InvalidURL,
  HttpError,
};

// --- fetch ----------------------------------------------------------------------------------------

const NULL_BODY = new Set([101, 103, 204, 205, 304]);
// The engine's own classes (this module's `Response` is the client's).
const NativeResponse = globalThis.Response;
const NativeRequest = globalThis.Request;

/** A web Response from ours (StarlingMonkey's own Response class, with the URL set). */
function webResponse(r) {
  if (NativeResponse && r.status >= 200 && r.status <= 599) {
    try {
      const out = new NativeResponse(NULL_BODY.has(r.status) || r.method === 'HEAD' ? null : r.body, {
        status: r.status,
        statusText: r.statusText,
        headers: r.rawHeaders,
      });
      Object.defineProperty(out, 'url', { value: r.url, enumerable: true });
      Object.defineProperty(out, 'redirected', { value: false });
      return out;
    } catch {
      // fall through to the plain object below (e.g. a header the Headers class refuses)
    }
  }
  return {
    status: r.status,
    statusText: r.statusText,
    ok: r.ok,
    headers: r.headers,
    url: r.url,
    redirected: false,
    text: async () => r.text(),
    json: async () => r.json(),
    arrayBuffer: async () => r.arrayBuffer(),
    bytes: async () => r.body,
  };
}

/**
 * fetch(input, init): the web's fetch over the host's http (a Response whose text(), json(),
 * arrayBuffer() are promises). The request is sent synchronously when fetch is called.
 * A refused or failed request rejects with a TypeError ("fetch failed") whose `cause` is the
 * host's error; a network failure is retryable if uncaught. Redirects are not followed.
 */
export async function fetch(input, init = {}) {
  let url;
  let method = 'GET';
  let headers;
  let body;
  if (NativeRequest && input instanceof NativeRequest) {
    url = input.url;
    method = input.method;
    headers = [...input.headers.entries()];
    if (method !== 'GET' && method !== 'HEAD' && init.body === undefined) {
      body = new Uint8Array(await input.arrayBuffer());
      if (body.length === 0) body = undefined;
    }
  } else {
    url = input instanceof URL ? input.href : String(input);
  }
  init = init || {};
  if (init.method !== undefined) method = String(init.method).toUpperCase();
  if (init.headers !== undefined) headers = init.headers;
  if (init.body !== undefined) body = init.body;
  let r;
  try {
    r = request(method, url, { headers, body, timeout: init.timeout });
  } catch (e) {
    if (e instanceof HostError) {
      const err = new TypeError(`fetch failed: ${e.message}`, { cause: e });
      if (e.retryable) Object.defineProperty(err, 'retryable', { value: true });
      throw err;
    }
    throw e;
  }
  return webResponse(r);
}
