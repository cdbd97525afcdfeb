// Conformance app on Node's http module.
//
// Run as: node node_app.js HOST PORT
//
// Every path is echoed as JSON (req.url as the request target,
// req.rawHeaders as the headers, in order and as spelled), except those
// whose last segment names a case of the response matrix. The
// close-delimited answer is written on the socket itself: Node chunks every
// HTTP/1.1 answer without a length. /__conformance/count answers how many
// requests the app has served. After the idle-close case, the next request
// on the same connection is dropped unanswered.
'use strict';

const http = require('http');

const LONG_LINE = 2 << 20;
let count = 0;

// percentDecode decodes %XX escapes into bytes and reads them as UTF-8;
// unlike decodeURIComponent it never throws.
function percentDecode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out).toString('utf8');
}

function sendJSON(res, obj, kase, status = 200) {
  const data = Buffer.from(JSON.stringify(obj));
  const headers = { 'Content-Type': 'application/json', 'Content-Length': data.length };
  if (kase) headers['X-Case'] = kase;
  res.writeHead(status, headers);
  res.end(data);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function write(res, data) {
  return new Promise((resolve) => res.write(data, resolve));
}

// cut drops the connection once what was written has left.
function cut(res) {
  res.socket.destroy();
}

const cases = {
  'json-length': (req, res) => sendJSON(res, { case: 'json-length', ok: true }, 'json-length'),

  chunked: async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Case': 'chunked' });
    for (const i of [1, 2, 3]) {
      await write(res, `chunk ${i}\n`);
      await sleep(10);
    }
    res.end();
  },

  'close-delimited': async (req, res) => {
    const s = res.socket;
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nX-Case: close-delimited\r\n\r\n');
    for (const i of [1, 2, 3]) {
      s.write(`close ${i}\n`);
      await sleep(10);
    }
    s.end();
  },

  sse: async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Case': 'sse' });
    await write(res, 'data: a\n\n');
    await sleep(10);
    await write(res, 'data: b\n\n');
    res.end();
  },

  'no-content': (req, res) => {
    res.writeHead(204, { 'X-Case': 'no-content' });
    res.end();
  },

  'not-modified': (req, res) => {
    res.writeHead(304, { ETag: '"v1"', 'X-Case': 'not-modified' });
    res.end();
  },

  'head-length': (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1234', 'X-Case': 'head-length' });
    res.end();
  },

  'head-nolength': (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Case': 'head-nolength' });
    res.end();
  },

  'early-hints': (req, res) => {
    res.writeEarlyHints({ link: '</hint.css>; rel=preload' });
    sendJSON(res, { case: 'early-hints' }, 'early-hints');
  },

  truncated: async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Case': 'truncated' });
    await write(res, 'line 1\n');
    await write(res, 'line 2\n');
    await write(res, 'partial');
    await sleep(10);
    cut(res);
  },

  'huge-length': async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1099511627776', 'X-Case': 'huge-length' });
    await write(res, '{"a":1}');
    await sleep(10);
    cut(res);
  },

  'short-body': async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100', 'X-Case': 'short-body' });
    await write(res, '0123456789');
    await sleep(10);
    cut(res);
  },

  'idle-close': (req, res) => {
    req.socket.closeNext = true;
    sendJSON(res, { case: 'idle-close' }, 'idle-close');
  },

  'connection-named': (req, res) => {
    const data = '{"case":"connection-named"}';
    res.writeHead(200, {
      Connection: 'X-Secret', 'X-Secret': '1', 'X-Kept': '1',
      'Content-Type': 'application/json', 'Content-Length': data.length, 'X-Case': 'connection-named',
    });
    res.end(data);
  },

  'no-content-type': (req, res) => {
    const data = 'no type here';
    res.writeHead(200, { 'Content-Length': data.length, 'X-Case': 'no-content-type' });
    res.end(data);
  },

  'long-line': async (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Case': 'long-line' });
    await write(res, 'first\n');
    const piece = Buffer.alloc(64 << 10, 'a');
    for (let n = 0; n < LONG_LINE; n += piece.length) {
      await write(res, piece);
    }
    await write(res, '\n');
    res.end();
  },
};

function echo(req, res, body) {
  const [rawPath, ...rest] = req.url.split('?');
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  }
  sendJSON(res, {
    app: 'node',
    method: req.method,
    target: req.url,
    path: percentDecode(rawPath),
    query: rest.join('?'),
    headers,
    body: body.toString('base64'),
  });
}

const server = http.createServer((req, res) => {
  const rawPath = req.url.split('?')[0];
  if (rawPath === '/__conformance/count') {
    sendJSON(res, { count });
    return;
  }
  count++;
  if (req.socket.closeNext) {
    req.socket.destroy();
    return;
  }
  // Routed as Express routes by default: without regard to case or a
  // trailing slash, so /INTERNAL/x and /Internal/ reach the admin handler.
  if (/^\/internal(\/|$)/i.test(percentDecode(rawPath))) {
    sendJSON(res, { app: 'node', admin: true, target: req.url }, 'admin');
    return;
  }
  if (rawPath.endsWith('/ignore-body')) {
    // Answers before the body has been read; Node's parser still frames it.
    sendJSON(res, { app: 'node', case: 'ignore-body' }, 'ignore-body');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = percentDecode(rawPath);
    const fn = cases[path.slice(path.lastIndexOf('/') + 1)];
    if (fn) {
      Promise.resolve(fn(req, res)).catch((err) => {
        console.error(err);
        res.socket.destroy();
      });
      return;
    }
    echo(req, res, Buffer.concat(chunks));
  });
});
// Node's default keep-alive timeout (5 s) is left as it is: the suite
// checks that fibergate never loses a request to it.
server.listen(Number(process.argv[3]), process.argv[2]);
