#!/usr/bin/env python3
"""A local OpenAI-compatible server for flowbox's tests, on loopback, speaking the real wire
format of POST /v1/chat/completions (messages, response_format json_schema, usage, error bodies,
429 with Retry-After) and POST /v1/audio/transcriptions (multipart/form-data; verbose_json
answers). Standard library only.

What it answers is scripted by the first user message (tests write the prompts):
  REPLY <text>       the assistant's content on a first attempt (the rest of the line)
  REPAIR <text>      the content when the conversation already has an assistant turn (a repair)
  STATUS <code>      answer with this HTTP error (an OpenAI error body) instead
  THROTTLE <id> <n>  answer the first n requests carrying <id> with 429 and Retry-After: 1
Without REPLY it echoes the prompt. Usage: tokens are characters / 4, rounded up.

A transcription answers with the audio's duration (read by the `wave` module from a WAV file)
and the text `<N> seconds of audio from <filename>`, or `STATUS <code>` / the language given.

GET /requests returns every request received (path, headers, body) for the tests to check.
Usage: server.py PORT [API_KEY]   (with API_KEY, requests need `Authorization: Bearer API_KEY`)
"""

import email.parser
import email.policy
import io
import json
import math
import time
import wave
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
KEY = sys.argv[2] if len(sys.argv) > 2 else None
received = []
throttled = {}
lock = threading.Lock()


def tokens(text):
    return math.ceil(len(text) / 4)


def directive(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return line[len(name) + 1:]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, kind="invalid_request_error", headers=()):
        self.send_json(status, {"error": {"message": message, "type": kind, "code": None}}, headers)

    def do_GET(self):
        if self.path == "/requests":
            with lock:
                self.send_json(200, received)
        else:
            self.error(404, f"no route {self.path}")

    def transcription(self, raw):
        """multipart/form-data: file, model, response_format, language?, prompt?"""
        ctype = self.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self.error(400, "a transcription is multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields, audio, filename = {}, None, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                audio, filename = part.get_payload(decode=True), part.get_filename()
            else:
                fields[name] = part.get_content().strip()
        with lock:
            received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": {**fields, "file": {"name": filename, "size": len(audio or b"")}}})
        if KEY is not None and self.headers.get("authorization") != f"Bearer {KEY}":
            return self.error(401, "Incorrect API key provided", "invalid_api_key")
        if not audio or not fields.get("model"):
            return self.error(400, "`file` and `model` are required")
        if fields.get("prompt", "").startswith("STATUS "):
            return self.error(int(fields["prompt"].split()[1]), "scripted failure", "server_error")
        try:
            with wave.open(io.BytesIO(audio)) as w:
                duration = w.getnframes() / w.getframerate()
        except (wave.Error, EOFError):
            return self.error(400, "Invalid file format: the audio cannot be decoded")
        text = f"{duration:g} seconds of audio from {filename}"
        self.send_json(200, {"task": "transcribe", "language": fields.get("language", "english"),
                             "duration": duration, "text": text, "segments": []})

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(length)
        if self.path == "/v1/audio/transcriptions":
            return self.transcription(raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return self.error(400, "the body is not JSON")
        with lock:
            received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body, "at": time.time()})
        if KEY is not None and self.headers.get("authorization") != f"Bearer {KEY}":
            # As real providers do, the error quotes the key it was given; a key with `escape`
            # in it is quoted with every character JSON-escaped, as some encoders do.
            given = self.headers.get("authorization", "").removeprefix("Bearer ")
            if "escape" in given:
                quoted = "".join(f"\\u{ord(c):04x}" for c in given)
                data = ('{"error": {"message": "Incorrect API key provided: %s", '
                        '"type": "invalid_api_key", "code": null}}' % quoted).encode()
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            return self.error(401, f"Incorrect API key provided: {given}", "invalid_api_key")
        if self.path != "/v1/chat/completions":
            return self.error(404, f"no route {self.path}")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            return self.error(400, "`model` and a non-empty `messages` are required")
        fmt = body.get("response_format")
        if fmt is not None and (fmt.get("type") != "json_schema" or "schema" not in fmt.get("json_schema", {})):
            return self.error(400, "response_format must be {type: json_schema, json_schema: {name, schema}}")
        # The script is in the conversation's first user message (a repair turn adds another).
        prompt = next((m["content"] for m in messages if m.get("role") == "user"), "")
        status = directive(prompt, "STATUS")
        if status:
            return self.error(int(status), f"scripted failure {status}", "server_error")
        throttle = directive(prompt, "THROTTLE")
        if throttle:
            key, n = throttle.split()
            with lock:
                seen = throttled.get(key, 0)
                throttled[key] = seen + 1
            if seen < int(n):
                return self.error(429, "Rate limit reached", "rate_limit_exceeded", [("retry-after", "1")])
        repairing = any(m.get("role") == "assistant" for m in messages)
        content = (directive(prompt, "REPAIR") if repairing else None) or directive(prompt, "REPLY") or prompt
        prompt_tokens = sum(tokens(m.get("content", "")) for m in messages)
        completion_tokens = tokens(content)
        self.send_json(200, {
            "id": f"chatcmpl-{len(received)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
