// The netvm page: a terminal (xterm.js + xterm-pty) wired to the emscripten
// program as its TTY, a status line and a download progress bar.
//
// config.js (written by scripts/build-site) names the programs, the
// preload package, the program's default arguments (for netvm: the guest
// image under /pack and the 9p share), the NIC arguments added when a
// network mode is chosen, and the share directory. URL parameters:
//   ?program=NAME                 which of the built programs to run (default: the first)
//   ?net=delegate=ws://host:port  sockets go to that WebSocket (netvm-net --listen-ws)
//   ?net=browser                  the in-page network stack (netvm-browser-net.js, if built)
//   ?arg=X&arg=Y                  extra program arguments (tests use them)
// No ?net: the guest boots without a network.
// For tests and embedders: window.netvm = { term, status, events, progress, exited, stopped, shareDir }
// (progress: the emulator's latest instruction-count reports, see onNetvmEvent).
// The share directory (config.shareDir, e.g. /wasm0) is a MEMFS directory
// the page creates before the program starts; write into it with
// Module.FS and the guest sees the files on its 9p mount.
(function() {
  'use strict';
  var config = window.NETVM_CONFIG;
  var statusEl = document.getElementById('status');
  var progressEl = document.getElementById('progress');

  // What the page loads in sequence later (the package loader, then the
  // program and its wasm) is fetched now, in parallel, while the terminal
  // is set up. Not the package data: the loader may find it in IndexedDB
  // (a preload would download it again on every visit).
  var preloadProgram = new URLSearchParams(location.search).get('program') || config.programs[0];
  if (config.programs.indexOf(preloadProgram) >= 0) {
    preload(config.package, 'script');
    preload(preloadProgram + '.js', 'script');
    // emscripten fetches the wasm same-origin with CORS: crossorigin matches it.
    preload(preloadProgram + '.wasm', 'fetch');
  }
  function preload(href, as) {
    var link = document.createElement('link');
    link.rel = 'preload';
    link.href = href;
    link.as = as;
    if (as === 'fetch') link.crossOrigin = 'anonymous';
    document.head.appendChild(link);
  }

  // The terminal is set up once the package loader has run (below), so
  // that the package's download, or its lookup in IndexedDB, starts first.
  var term = null, fit = null;
  var netvm = window.netvm = { term: null, status: '', events: [], progress: [], exited: null, stopped: null, shareDir: config.shareDir || null };
  // Progress reports come once a second for as long as the machine runs:
  // the page keeps the latest ones only, numbered, outside the event log.
  var PROGRESS_KEPT = 60;
  var progressSeq = 0;

  function setStatus(text) {
    if (!text) return; // emscripten clears the status once running; keep ours
    netvm.status = text;
    statusEl.textContent = text;
  }

  // The terminal, the program's TTY through xterm-pty. Resizing it reaches
  // the program (TIOCGWINSZ + SIGWINCH); the fit addon sizes it to its element.
  function setUpTerminal() {
    term = netvm.term = new Terminal({ scrollback: 5000, cursorBlink: true, fontSize: 14 });
    fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(document.getElementById('terminal'));
    var pty = openpty();
    term.loadAddon(pty.master);
    Module.pty = pty.slave;
    fitTerminal();
    window.addEventListener('resize', fitTerminal);
    watchForCacheWrite();
  }
  function fitTerminal() {
    fit.fit();
  }

  var params = new URLSearchParams(location.search);
  var program = params.get('program') || config.programs[0];
  if (config.programs.indexOf(program) < 0) {
    setStatus('Error: unknown ?program=' + program + ' (built: ' + config.programs.join(', ') + ')');
    return;
  }
  var args = (config.args || []).slice();
  var net = params.get('net');
  var websocket = {};
  var netText = 'no network';
  // Resolves to the CA certificate (PEM) the guest should trust in browser mode.
  var networkReady = Promise.resolve(null);
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
    // The stack runs in the page and intercepts WebSockets to this URL, so
    // emscripten's socket emulation talks to it as to netvm-net.
    websocket.url = config.browserNetUrl || 'ws://localhost:9999/';
    netText = 'network: in-browser stack';
    networkReady = startBrowserNetwork(websocket.url);
  } else if (net) {
    setStatus('Error: unknown ?net=' + net + ' (use delegate=ws://host:port or browser)');
    return;
  }
  if (websocket.url) args = args.concat(config.netArgs || []);
  args = args.concat(params.getAll('arg'));

  // The package loader hands us its IndexedDB cache write (a copy of the
  // package cloned on the main thread, then committed by the browser: only
  // the next visit needs it). It waits until the guest is up, so that it
  // does not compete with the boot on a small machine: the guest's ready
  // line in the terminal (config.readyLine, for the first program), the
  // user's first input, or the program's end; a program without a ready
  // line releases it at its first event (netvm: the machine booting), and
  // 30 s after that at the latest. (Waiting for the terminal to go quiet
  // did not work: the kernel's boot has quiet spells of over a second.)
  var pendingCacheWrite = null;
  var cacheWriteReleased = false;
  var readyLine = program === config.programs[0] ? config.readyLine : null;
  function releaseCacheWrite() {
    cacheWriteReleased = true;
    var start = pendingCacheWrite;
    pendingCacheWrite = null;
    if (start) setTimeout(startCacheWrite, 0, start);
  }
  function startCacheWrite(start) {
    netvm.events.push({ name: 'package', detail: 'cache write', ms: performance.now() });
    start();
  }
  var lateRelease = null;
  function programStarted() {
    if (!readyLine) releaseCacheWrite();
    else if (!lateRelease) lateRelease = setTimeout(releaseCacheWrite, 30000);
  }
  var cacheWriteTriggers = [];
  function watchForCacheWrite() {
    cacheWriteTriggers.push(term.onData(function() { releaseCacheWrite(); stopWatching(); }));
    if (!readyLine) return;
    cacheWriteTriggers.push(term.onLineFeed(function() {
      var buffer = term.buffer.active;
      var line = buffer.getLine(buffer.baseY + buffer.cursorY - 1);
      if (line && line.translateToString(true).indexOf(readyLine) >= 0) {
        netvm.events.push({ name: 'guest', detail: 'ready', ms: performance.now() });
        releaseCacheWrite();
        stopWatching();
      }
    }));
  }
  function stopWatching() {
    cacheWriteTriggers.forEach(function(d) { d.dispose(); });
    cacheWriteTriggers = [];
  }

  var caPem = null;
  var Module = window.Module = {
    arguments: args,
    // Before main(): the share directory, and in browser mode the proxy's
    // CA in it (the guest uses it as SSL_CERT_FILE=/mnt/proxy.crt).
    preRun: [function() {
      if (!config.shareDir) return;
      Module.FS.mkdirTree(config.shareDir);
      // Something to find with the seed's `cat /mnt/hello.txt`.
      Module.FS.writeFile(config.shareDir + '/hello.txt', 'hello from the page\n');
      if (caPem) Module.FS.writeFile(config.shareDir + '/proxy.crt', caPem);
    }],
    pty: null, // set with the terminal
    websocket: websocket,
    setStatus: function(text) { setStatus(text); },
    deferPackageCacheWrite: function(start) {
      if (cacheWriteReleased) setTimeout(startCacheWrite, 0, start);
      else pendingCacheWrite = start;
    },
    onPackageError: function(error) { netvm.events.push({ name: 'package-error', detail: String(error) }); },
    onNetvmEvent: function(name, detail) {
      if (name === 'machine' && detail.indexOf('progress: ') === 0) {
        netvm.progress.push({ seq: ++progressSeq, detail: detail.substring('progress: '.length) });
        if (netvm.progress.length > PROGRESS_KEPT) netvm.progress.shift();
        return;
      }
      // ms: since the page's navigation started (where boot timing begins).
      netvm.events.push({ name: name, detail: detail, ms: performance.now() });
      if (name === 'exit') netvm.exited = Number(detail);
      if (name === 'machine') machineStatus(detail);
      // The program runs (netvm: its files are read, the machine built).
      programStarted();
    },
    onAbort: function(what) {
      setStatus('Error: aborted: ' + what);
      releaseCacheWrite();
    },
    onExit: function(code) {
      releaseCacheWrite();
      if (netvm.exited === null) netvm.exited = code;
      if (!netvm.stopped) setStatus('Exited with status ' + code);
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
    if (d.loaded >= d.total) {
      netvm.events.push({ name: 'package', detail: 'downloaded', ms: performance.now() });
      setStatus('Downloaded ' + d.total + ' bytes; starting (' + netText + ')');
    }
  });

  if (!self.crossOriginIsolated) {
    setStatus('Error: the page is not cross-origin isolated (serve it with COOP/COEP, see scripts/serve)');
    return;
  }
  // The emulator reports its milestones (src/backends/host).
  function machineStatus(detail) {
    if (detail === 'booting') setStatus('Guest running (' + netText + ')');
    else if (detail.indexOf('stopped: ') === 0) {
      netvm.stopped = detail.substring('stopped: '.length);
      setStatus('Machine stopped: ' + netvm.stopped);
    } else if (detail.indexOf('failed: ') === 0) setStatus('Error: ' + detail.substring('failed: '.length));
  }

  networkReady.then(function(pem) {
    caPem = pem;
    setStatus('Downloading… (' + netText + ')');
    // Classic scripts in order: the package loader first, so its preRun hook
    // is in place before the program's runtime starts; the terminal (~0.2 s
    // of the main thread on a small machine) while the package downloads.
    loadScript(config.package, function() {
      setUpTerminal();
      loadScript(program + '.js');
    });
  }, function(error) {
    setStatus('Error: ' + error.message);
  });

  // ?net=browser: the in-page stack is an ES module built by scripts/build-stack
  // (absent from builds without it).
  function startBrowserNetwork(url) {
    setStatus('Starting the in-browser network stack…');
    return import('./netvm-browser-net.js').catch(function(e) {
      throw new Error('?net=browser: the in-browser network stack is not available in this build (' + e.message + ')');
    }).then(function(mod) {
      return mod.startBrowserNetwork({ url: url });
    }).then(function(result) {
      if (!result || typeof result.caPem !== 'string') throw new Error('?net=browser: the network stack gave no CA certificate');
      return result.caPem;
    });
  }

  function loadScript(src, then) {
    var s = document.createElement('script');
    s.src = src;
    s.onload = function() { if (then) then(); };
    s.onerror = function() { setStatus('Error: cannot load ' + src); };
    document.body.appendChild(s);
  }
})();
