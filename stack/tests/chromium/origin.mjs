// The HTTPS origin of the Chromium test (scripts/test.d/23-net-stack-chromium),
// with a certificate from the test's own CA (Chromium trusts it through
// --ignore-certificate-errors-spki-list):
//   GET /blob/N    N bytes, byte i = (i * 7 + 3) % 251
//   POST /sha      "<length> <sha256 hex>" of the request body
//   anything else  404 with a body
// Every answer allows any origin (the page's fetch() is cross-origin).
//   node origin.mjs KEY.pem CERT.pem   -> prints "port N"; exits on stdin EOF
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';

const [keyFile, certFile] = process.argv.slice(2);
const cors = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, OPTIONS',
  'Access-Control-Allow-Headers': '*',
};

const server = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (req, res) => {
  const m = req.url.match(/^\/blob\/(\d+)$/);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors);
    res.end();
  } else if (req.method === 'GET' && m) {
    const n = Number(m[1]);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = (i * 7 + 3) % 251;
    res.writeHead(200, { ...cors, 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    res.end(body);
  } else if (req.method === 'POST' && req.url === '/sha') {
    const hash = crypto.createHash('sha256');
    let len = 0;
    req.on('data', (c) => { hash.update(c); len += c.length; });
    req.on('end', () => { res.writeHead(200, cors); res.end(`${len} ${hash.digest('hex')}`); });
  } else {
    res.writeHead(404, { ...cors, 'Content-Type': 'text/plain' });
    res.end(`nothing at ${req.url}\n`);
  }
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
