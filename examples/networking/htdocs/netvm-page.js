// The netvm page: a terminal (xterm.js + xterm-pty) wired to the emscripten
// program as its TTY, a status line and a download progress bar.
//
// config.js (written by scripts/build-site) names the programs and the
// preload package. URL parameters:
//   ?program=NAME                 which of the built programs to run (default: the first)
//   ?net=delegate=ws://host:port  sockets go to that WebSocket (netvm-net --listen-ws)
//   ?net=browser                  in-page network stack (not wired yet: reported as such)
//   ?arg=X&arg=Y                  extra program arguments (tests use them)
// For tests and embedders: window.netvm = { term, status, events, exited }.
(function() {
  'use strict';
  var config = window.NETVM_CONFIG;
  var statusEl = document.getElementById('status');
  var progressEl = document.getElementById('progress');

  var term = new Terminal({ scrollback: 5000, cursorBlink: true, fontSize: 14 });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById('terminal'));
  var pty = openpty();
  term.loadAddon(pty.master);
  fitTerminal();
  window.addEventListener('resize', fitTerminal);

  var netvm = window.netvm = { term: term, status: '', events: [], exited: null };

  function setStatus(text) {
    if (!text) return; // emscripten clears the status once running; keep ours
    netvm.status = text;
    statusEl.textContent = text;
  }

  // Resizing the terminal reaches the program through xterm-pty
  // (TIOCGWINSZ + SIGWINCH); the fit addon sizes it to its element.
  function fitTerminal() {
    fit.fit();
  }

  var params = new URLSearchParams(location.search);
  var program = params.get('program') || config.programs[0];
  if (config.programs.indexOf(program) < 0) {
    setStatus('Error: unknown ?program=' + program + ' (built: ' + config.programs.join(', ') + ')');
    return;
  }
  var args = (config.args || []).concat(params.getAll('arg'));
  var net = params.get('net');
  var websocket = {};
  var netText = 'no network';
  if (net && net.indexOf('delegate=') === 0) {
    var url = net.substring('delegate='.length);
    if (!/^wss?:\/\/[^\s]+$/.test(url)) {
      setStatus('Error: ?net=delegate= needs a ws:// or wss:// URL, got ' + JSON.stringify(url));
      return;
    }
    // emscripten's socket emulation opens every connect() as a WebSocket
    // to Module.websocket.url.
    websocket.url = url;
    netText = 'network: delegate via ' + url;
  } else if (net === 'browser') {
    setStatus('Error: ?net=browser (in-page network stack) is not available in this build');
    return;
  } else if (net) {
    setStatus('Error: unknown ?net=' + net + ' (use delegate=ws://host:port or browser)');
    return;
  }

  var Module = window.Module = {
    arguments: args,
    pty: pty.slave,
    websocket: websocket,
    setStatus: function(text) { setStatus(text); },
    onPackageError: function(error) { netvm.events.push({ name: 'package-error', detail: String(error) }); },
    onNetvmEvent: function(name, detail) {
      netvm.events.push({ name: name, detail: detail });
      if (name === 'exit') netvm.exited = Number(detail);
    },
    onAbort: function(what) { setStatus('Error: aborted: ' + what); },
    onExit: function(code) {
      if (netvm.exited === null) netvm.exited = code;
      setStatus('Exited with status ' + code);
    },
    // Emscripten reports runtime dependencies (the package, the wasm).
    monitorRunDependencies: function(left) {
      if (left) setStatus('Preparing… (' + left + ' left, ' + netText + ')');
      else setStatus('Running (' + netText + ')');
    },
  };

  // The package loader (netvm-pack) reports download progress as an event.
  window.addEventListener('netvm-pack-progress', function(e) {
    var d = e.detail;
    progressEl.hidden = false;
    progressEl.max = d.total || 1;
    progressEl.value = d.loaded;
    if (d.loaded >= d.total) setStatus('Downloaded ' + d.total + ' bytes; starting (' + netText + ')');
  });

  if (!self.crossOriginIsolated) {
    setStatus('Error: the page is not cross-origin isolated (serve it with COOP/COEP, see scripts/serve)');
    return;
  }
  setStatus('Downloading… (' + netText + ')');
  // Classic scripts in order: the package loader first, so its preRun hook
  // is in place before the program's runtime starts.
  loadScript(config.package, function() { loadScript(program + '.js'); });

  function loadScript(src, then) {
    var s = document.createElement('script');
    s.src = src;
    s.onload = function() { if (then) then(); };
    s.onerror = function() { setStatus('Error: cannot load ' + src); };
    document.body.appendChild(s);
  }
})();
