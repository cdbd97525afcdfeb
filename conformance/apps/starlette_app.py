"""Conformance app on Starlette under uvicorn (an ASGI app).

Run as: python3 starlette_app.py HOST PORT

The app is a raw ASGI callable that reads requests through Starlette's
Request, so what it echoes is what a Starlette (or FastAPI, which Fiber's
own server is built on) app sees: scope["raw_path"] as the request target,
scope["path"] decoded, and the header list as uvicorn hands it over.

uvicorn 0.17 cannot send two answers of the response matrix: a 1xx
interim answer (ASGI has no message for it) and a close-delimited body
(uvicorn chunks every HTTP/1.1 answer that has no length). The suite skips
those cases for this app. A stream is cut by raising after the first
chunks, which makes uvicorn close the connection. /__conformance/count
answers how many requests the app has served.
"""

import asyncio
import base64
import json
import sys

import uvicorn
from starlette.requests import Request

LONG_LINE = 2 << 20

_count = 0


class Cut(Exception):
    """Raised to make uvicorn drop the connection mid-answer."""


async def app(scope, receive, send):
    global _count
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    if scope["path"] == "/__conformance/count":
        await _json(send, {"count": _count})
        return
    _count += 1
    body = await request.body()
    case = scope["path"].rsplit("/", 1)[-1]
    fn = CASES.get(case)
    if fn is None:
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        await _json(send, {
            "app": "starlette",
            "method": request.method,
            "target": target,
            "path": request.url.path,
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": base64.b64encode(body).decode(),
        })
        return
    await fn(send)


async def _json(send, obj, case=None, status=200):
    data = json.dumps(obj).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if case:
        headers.append((b"x-case", case.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _start(send, case, ctype=b"text/plain", status=200, extra=()):
    headers = [(b"content-type", ctype), (b"x-case", case.encode())] + list(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _more(send, data):
    await send({"type": "http.response.body", "body": data, "more_body": True})
    await asyncio.sleep(0.01)


async def _end(send):
    await send({"type": "http.response.body", "body": b""})


async def json_length(send):
    await _json(send, {"case": "json-length", "ok": True}, case="json-length")


async def chunked(send):
    await _start(send, "chunked")
    for i in (1, 2, 3):
        await _more(send, b"chunk %d\n" % i)
    await _end(send)


async def sse(send):
    await _start(send, "sse", b"text/event-stream")
    await _more(send, b"data: a\n\n")
    await _more(send, b"data: b\n\n")
    await _end(send)


async def no_content(send):
    await send({"type": "http.response.start", "status": 204, "headers": [(b"x-case", b"no-content")]})
    await _end(send)


async def not_modified(send):
    await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", b'"v1"'), (b"x-case", b"not-modified")]})
    await _end(send)


async def head_length(send):
    await _start(send, "head-length", b"application/json", extra=[(b"content-length", b"1234")])
    await _end(send)


async def head_nolength(send):
    await _start(send, "head-nolength", b"application/json")
    await _end(send)


async def truncated(send):
    await _start(send, "truncated")
    await _more(send, b"line 1\n")
    await _more(send, b"line 2\n")
    await _more(send, b"partial")
    raise Cut("conformance: cutting the stream")


async def huge_length(send):
    # uvicorn writes the bytes, then refuses to end the answer short of
    # its length and closes the connection.
    await _start(send, "huge-length", b"application/json", extra=[(b"content-length", b"1099511627776")])
    await send({"type": "http.response.body", "body": b'{"a":1}'})


async def short_body(send):
    await _start(send, "short-body", extra=[(b"content-length", b"100")])
    await send({"type": "http.response.body", "body": b"0123456789"})


async def connection_named(send):
    data = b'{"case":"connection-named"}'
    await _start(send, "connection-named", b"application/json", extra=[
        (b"connection", b"X-Secret"), (b"x-secret", b"1"), (b"x-kept", b"1"),
        (b"content-length", str(len(data)).encode()),
    ])
    await send({"type": "http.response.body", "body": data})


async def no_content_type(send):
    data = b"no type here"
    headers = [(b"content-length", str(len(data)).encode()), (b"x-case", b"no-content-type")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def long_line(send):
    await _start(send, "long-line")
    await _more(send, b"first\n")
    piece = b"a" * (64 << 10)
    for _ in range(LONG_LINE // len(piece)):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await _more(send, b"\n")
    await _end(send)


CASES = {
    "json-length": json_length,
    "chunked": chunked,
    "sse": sse,
    "no-content": no_content,
    "not-modified": not_modified,
    "head-length": head_length,
    "head-nolength": head_nolength,
    "truncated": truncated,
    "huge-length": huge_length,
    "short-body": short_body,
    "connection-named": connection_named,
    "no-content-type": no_content_type,
    "long-line": long_line,
}


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(app, host=host, port=port, http="h11", lifespan="off", log_level="critical", access_log=False)


if __name__ == "__main__":
    main()
