// Runs an emscripten program of netvm's browser build under Node the way the
// page runs it: the preload package's loader first, sharing one global
// `Module` with the program.
//
//   node --no-experimental-fetch run-node.js PROGRAM.js [--pack PACK.js]
//        [--websocket-url URL] [-- ARGS...]
//
// Both scripts are evaluated as classic scripts in the global scope (as
// <script> tags are), not as CommonJS modules, whose own `var Module` would
// hide the shared one. The package's .data is read relative to the current
// directory, as the loader does under Node.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

function usage(msg) {
  console.error('run-node: ' + msg);
  console.error('usage: run-node.js PROGRAM.js [--pack PACK.js] [--websocket-url URL] [-- ARGS...]');
  process.exit(2);
}

const argv = process.argv.slice(2);
let program = null;
let pack = null;
let websocketUrl = null;
let args = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--') { args = argv.slice(i + 1); break; }
  else if (a === '--pack') pack = argv[++i];
  else if (a === '--websocket-url') websocketUrl = argv[++i];
  else if (!program && !a.startsWith('--')) program = a;
  else usage('unexpected argument ' + a);
}
if (!program) usage('no PROGRAM.js');

globalThis.Module = {
  arguments: args,
  websocket: websocketUrl ? { url: websocketUrl } : {},
  setStatus: (text) => { if (text) console.error('status: ' + text); },
  onPackageProgress: (loaded, total, name) => console.error('progress: ' + loaded + '/' + total + ' ' + name),
  onNetvmEvent: (name, detail) => console.error('event: ' + name + ' ' + detail),
};
// emscripten 3.1.6's socket emulation under Node reads incoming WebSocket
// messages as `on('message', (data, flags) => flags.binary ...)`, the API of
// old `ws` releases; `ws` 8 passes a boolean instead, and every message
// would be dropped. Hand it a WebSocket that speaks the old form.
function wsForEmscripten() {
  const WebSocket = require('ws');
  class OldApiWebSocket extends WebSocket {
    on(event, listener) {
      if (event !== 'message') return super.on(event, listener);
      return super.on('message', (data, isBinary) => listener(data, { binary: isBinary }));
    }
  }
  return OldApiWebSocket;
}

// What emscripten's Node code expects of a CommonJS module scope.
globalThis.require = (name) => (name === 'ws' ? wsForEmscripten() : require(name));

function runScript(file) {
  const abs = path.resolve(file);
  globalThis.__filename = abs;
  globalThis.__dirname = path.dirname(abs);
  vm.runInThisContext(fs.readFileSync(abs, 'utf8'), { filename: abs });
}

if (pack) runScript(pack);
runScript(program);
