"""An OTLP/HTTP receiver that accepts every export and keeps nothing: the far end of a trace
pipeline, for measuring what exporting costs the server. Prints the batches and bytes it got
when stopped. Usage: python3 bench/otlp-sink.py PORT"""
import http.server
import signal
import sys

batches = 0
received = 0


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global batches, received
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        batches += 1
        received += len(body)
        # An empty ExportTraceServiceResponse: all accepted.
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp-sink: {batches} batches, {received} bytes", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
