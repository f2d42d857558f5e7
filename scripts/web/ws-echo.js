// A WebSocket echo server for netvm's browser tests: emscripten's socket
// emulation turns a TCP connect() into a WebSocket, so this is the far end
// of the test program's TCP connection. Binary messages are TCP bytes.
//
//   node ws-echo.js [PORT]     (0 or none: any free port on 127.0.0.1)
// Prints `listening PORT` once ready; serves until killed.
'use strict';
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2] || 0),
  // emscripten asks for the "binary" subprotocol.
  handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
});
server.on('listening', () => console.log('listening ' + server.address().port));
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (e) => console.error('ws-echo: ' + e.message));
});
