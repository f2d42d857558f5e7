// Origin server for tests/fetch_node.rs, run by scripts/test.d/52-proxy-fetch-node:
//   GET /pattern/N  N bytes, byte i = (i * 7 + 3) % 251, Content-Length
//   POST /sha       "<length> <sha256 hex>" of the request body
//   anything else   404 with a body
// Listens on 127.0.0.1, prints "port <N>" once ready, exits on stdin EOF.
import http from 'node:http';
import crypto from 'node:crypto';

const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/pattern\/(\d+)$/);
  if (req.method === 'GET' && m) {
    const n = Number(m[1]);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = (i * 7 + 3) % 251;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n, 'X-Origin': 'node' });
    res.end(body);
  } else if (req.method === 'POST' && req.url === '/sha') {
    const hash = crypto.createHash('sha256');
    let len = 0;
    req.on('data', (c) => { hash.update(c); len += c.length; });
    req.on('end', () => res.end(`${len} ${hash.digest('hex')}`));
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(`nothing at ${req.url}\n`);
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
