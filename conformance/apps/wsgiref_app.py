"""Conformance app on Python's wsgiref.simple_server (a WSGI app).

Run as: python3 wsgiref_app.py HOST PORT

WSGI matters to the suite because it presents request headers as environ
keys: X-Fiber-Validator-Hotkey and X_Fiber_Validator_Hotkey both become
HTTP_X_FIBER_VALIDATOR_HOTKEY (wsgiref joins the two values with a comma),
so a proxy that strips only the first spelling lets a spoofed identity
through. The echo reports the HTTP_* keys as the app sees them.

wsgiref cannot produce some answers of the response matrix: WSGI forbids
hop-by-hop headers (Connection), wsgiref speaks HTTP/1.0 to the app's
client (no chunked encoding, no 1xx), and it adds Content-Length: 0 to an
answer without a body. For those cases (RAW) the request handler writes the
answer on the socket itself, before WSGI runs, and says Connection: close
since it closes the connection after it, as wsgiref does. /__conformance/count answers
how many requests the app has served.
"""

import base64
import json
import socket
import socketserver
import sys
import threading
import time
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

LONG_LINE = 2 << 20

_count = 0
_lock = threading.Lock()


def _bump():
    global _count
    with _lock:
        _count += 1


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


RAW = {
    "chunked": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-Case: chunked\r\n\r\n",
        _chunk(b"chunk 1\n"), _chunk(b"chunk 2\n"), _chunk(b"chunk 3\n"), b"0\r\n\r\n",
    ],
    "head-nolength": [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nX-Case: head-nolength\r\n\r\n",
    ],
    "early-hints": [
        b"HTTP/1.1 103 Early Hints\r\nLink: </hint.css>; rel=preload\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 23\r\nConnection: close\r\nX-Case: early-hints\r\n\r\n{"case":"early-hints"}\n',
    ],
    "truncated": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-Case: truncated\r\n\r\n",
        _chunk(b"line 1\n"), _chunk(b"line 2\n"), _chunk(b"partial"),
    ],
    "connection-named": [
        b"HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: 1\r\nX-Kept: 1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 27\r\nX-Case: connection-named\r\n\r\n{"case":"connection-named"}',
    ],
}


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    disable_nagle_algorithm = True  # see httpserver_app.py

    def log_message(self, *args):
        pass

    def get_environ(self):
        env = super().get_environ()
        # wsgiref keeps only the decoded PATH_INFO; RAW_URI is gunicorn's
        # name for the request target as received.
        env["RAW_URI"] = self.path
        return env

    def handle(self):
        # WSGIRequestHandler.handle, with the RAW answers written here.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        raw_path = self.path.partition("?")[0]
        pieces = RAW.get(raw_path.rsplit("/", 1)[-1])
        if pieces is not None:
            _bump()
            for p in pieces:
                self.wfile.write(p)
                self.wfile.flush()
                time.sleep(0.01)
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        handler = ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


def app(environ, start_response):
    raw_path = environ["RAW_URI"].partition("?")[0]
    if raw_path == "/__conformance/count":
        return _json(start_response, {"count": _count})
    _bump()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    # PEP 3333: PATH_INFO holds the bytes as latin-1; read them as UTF-8.
    path = environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace")
    case = path.rsplit("/", 1)[-1]
    fn = CASES.get(case)
    if fn is None:
        headers = [[k, v] for k, v in sorted(environ.items()) if k.startswith("HTTP_")]
        for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if k in environ:
                headers.append([k, environ[k]])
        return _json(start_response, {
            "app": "wsgiref",
            "method": environ["REQUEST_METHOD"],
            "target": environ["RAW_URI"],
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "body": base64.b64encode(body).decode(),
        })
    return fn(environ, start_response)


def _json(start_response, obj, case=None, status="200 OK"):
    data = json.dumps(obj).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if case:
        headers.append(("X-Case", case))
    start_response(status, headers)
    return [data]


def _stream(pieces):
    for p in pieces:
        yield p
        time.sleep(0.01)


def json_length(environ, start_response):
    return _json(start_response, {"case": "json-length", "ok": True}, case="json-length")


def close_delimited(environ, start_response):
    # No length: wsgiref answers HTTP/1.0 and closes after the body.
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Case", "close-delimited")])
    return _stream([b"close 1\n", b"close 2\n", b"close 3\n"])


def sse(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("X-Case", "sse")])
    return _stream([b"data: a\n\n", b"data: b\n\n"])


def no_content(environ, start_response):
    start_response("204 No Content", [("X-Case", "no-content")])
    return []


def not_modified(environ, start_response):
    start_response("304 Not Modified", [("ETag", '"v1"'), ("X-Case", "not-modified")])
    return []


def head_length(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "1234"), ("X-Case", "head-length")])
    return []


def huge_length(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "1099511627776"), ("X-Case", "huge-length")])
    return [b'{"a":1}']


def short_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100"), ("X-Case", "short-body")])
    return [b"0123456789"]


def no_content_type(environ, start_response):
    data = b"no type here"
    start_response("200 OK", [("Content-Length", str(len(data))), ("X-Case", "no-content-type")])
    return [data]


def long_line(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Case", "long-line")])

    def gen():
        yield b"first\n"
        piece = b"a" * (64 << 10)
        for _ in range(LONG_LINE // len(piece)):
            yield piece
        yield b"\n"

    return gen()


CASES = {
    "json-length": json_length,
    "close-delimited": close_delimited,
    "sse": sse,
    "no-content": no_content,
    "not-modified": not_modified,
    "head-length": head_length,
    "huge-length": huge_length,
    "short-body": short_body,
    "no-content-type": no_content_type,
    "long-line": long_line,
}


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    server = Server((host, port), Handler)
    server.set_app(app)
    server.serve_forever()


if __name__ == "__main__":
    main()
