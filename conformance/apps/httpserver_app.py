"""Conformance app on Python's http.server (BaseHTTPRequestHandler, HTTP/1.1).

Run as: python3 httpserver_app.py HOST PORT

Every path is echoed as JSON, except those whose last segment names a case
of the response matrix (see CASES). GET and HEAD bodies are never read, as
in most handlers written on http.server: a GET body the proxy sends on a
kept-alive connection stays in the socket and is read as the next request,
which is what the conformance suite's GET-with-body case looks for.
After the idle-close case, the next request on the same connection is
dropped unanswered, as when a server's keep-alive timeout fires just as
the request arrives.
/__conformance/count answers how many requests the app has served.
"""

import base64
import json
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LONG_LINE = 2 << 20  # one line of the long-line case: 2 MiB, over fibergate's 1 MiB line limit

_count = 0
_lock = threading.Lock()


def _bump():
    global _count
    with _lock:
        _count += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "conformance-httpserver"
    # Headers and body go out in separate writes: without this, Nagle's
    # algorithm and delayed ACKs hold each answer back about 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def handle_any(self):
        raw_path, _, query = self.path.partition("?")
        raw_path = raw_path.partition("#")[0]
        if raw_path == "/__conformance/count":
            self.send_json(200, {"count": _count})
            return
        _bump()
        if getattr(self, "close_next", False):
            self.cut()
            return
        path = urllib.parse.unquote(raw_path)
        case = path.rsplit("/", 1)[-1]
        if case == "ignore-body":
            # A handler that has no use for the body and never reads it:
            # http.server then reads the body as the next request.
            self.send_json(200, {"app": "httpserver", "case": "ignore-body"}, case="ignore-body")
            return
        body = b""
        if self.command not in ("GET", "HEAD"):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        CASES.get(case, Handler.echo)(self, path, query, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    # helpers

    def send_json(self, status, obj, case=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if case:
            self.send_header("X-Case", case)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def start_chunked(self, case, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Case", case)
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self):
        """Drops the connection at once, mid-answer."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # the endpoints

    def echo(self, path, query, body):
        self.send_json(200, {
            "app": "httpserver",
            "method": self.command,
            "target": self.path,
            "path": path,
            "query": query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode(),
        })

    def json_length(self, path, query, body):
        self.send_json(200, {"case": "json-length", "ok": True}, case="json-length")

    def chunked(self, path, query, body):
        self.start_chunked("chunked")
        for i in (1, 2, 3):
            self.chunk(b"chunk %d\n" % i)
            time.sleep(0.01)
        self.end_chunked()

    def close_delimited(self, path, query, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.send_header("X-Case", "close-delimited")
        self.end_headers()
        for i in (1, 2, 3):
            self.wfile.write(b"close %d\n" % i)
            self.wfile.flush()
            time.sleep(0.01)
        self.close_connection = True

    def sse(self, path, query, body):
        self.start_chunked("sse", "text/event-stream")
        self.chunk(b"data: a\n\n")
        time.sleep(0.01)
        self.chunk(b"data: b\n\n")
        self.end_chunked()

    def no_content(self, path, query, body):
        self.send_response(204)
        self.send_header("X-Case", "no-content")
        self.end_headers()

    def not_modified(self, path, query, body):
        self.send_response(304)
        self.send_header("ETag", '"v1"')
        self.send_header("X-Case", "not-modified")
        self.end_headers()

    def head_length(self, path, query, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1234")
        self.send_header("X-Case", "head-length")
        self.end_headers()

    def head_nolength(self, path, query, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Case", "head-nolength")
        self.end_headers()

    def early_hints(self, path, query, body):
        self.send_response_only(103)
        self.send_header("Link", "</hint.css>; rel=preload")
        self.end_headers()
        self.send_json(200, {"case": "early-hints"}, case="early-hints")

    def truncated(self, path, query, body):
        self.start_chunked("truncated")
        self.chunk(b"line 1\n")
        self.chunk(b"line 2\n")
        self.chunk(b"partial")
        self.cut()

    def huge_length(self, path, query, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1099511627776")
        self.send_header("X-Case", "huge-length")
        self.end_headers()
        self.wfile.write(b'{"a":1}')
        self.cut()

    def short_body(self, path, query, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "100")
        self.send_header("X-Case", "short-body")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.cut()

    def idle_close(self, path, query, body):
        self.close_next = True
        self.send_json(200, {"case": "idle-close"}, case="idle-close")

    def connection_named(self, path, query, body):
        data = b'{"case":"connection-named"}'
        self.send_response(200)
        self.send_header("Connection", "X-Secret")
        self.send_header("X-Secret", "1")
        self.send_header("X-Kept", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Case", "connection-named")
        self.end_headers()
        self.wfile.write(data)

    def no_content_type(self, path, query, body):
        data = b"no type here"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Case", "no-content-type")
        self.end_headers()
        self.wfile.write(data)

    def slow(self, path, query, body):
        """An answer that takes its time: a request smuggled to it would
        answer after fibergate had looked for stray bytes."""
        time.sleep(0.3)
        self.send_json(200, {"app": "httpserver", "case": "slow", "target": self.path}, case="slow")

    def late_stray(self, path, query, body):
        """A 204, then, a moment later, a second answer nobody asked for."""
        self.send_response(204)
        self.send_header("X-Case", "late-stray")
        self.end_headers()
        self.wfile.flush()
        time.sleep(0.05)
        stray = b'{"stray":true}'
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(stray), stray))
        self.wfile.flush()

    def long_line(self, path, query, body):
        self.start_chunked("long-line")
        self.chunk(b"first\n")
        piece = b"a" * (64 << 10)
        for _ in range(LONG_LINE // len(piece)):
            self.chunk(piece)
        self.chunk(b"\n")
        self.end_chunked()


CASES = {
    "json-length": Handler.json_length,
    "chunked": Handler.chunked,
    "close-delimited": Handler.close_delimited,
    "sse": Handler.sse,
    "no-content": Handler.no_content,
    "not-modified": Handler.not_modified,
    "head-length": Handler.head_length,
    "head-nolength": Handler.head_nolength,
    "early-hints": Handler.early_hints,
    "truncated": Handler.truncated,
    "huge-length": Handler.huge_length,
    "short-body": Handler.short_body,
    "idle-close": Handler.idle_close,
    "connection-named": Handler.connection_named,
    "no-content-type": Handler.no_content_type,
    "long-line": Handler.long_line,
    "slow": Handler.slow,
    "late-stray": Handler.late_stray,
}


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
