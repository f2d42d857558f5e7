// netvm's JS library for emscripten (--js-library): calls from the program
// to the page. Functions marked __proxy run on the main browser thread when
// the program runs in a pthread (PROXY_TO_PTHREAD), where the page's objects
// live.
mergeInto(LibraryManager.library, {
  // Hands an event to the page: Module.onNetvmEvent(name, detail) if set,
  // and a `netvm` CustomEvent on the window with {name, detail}.
  netvm_js_emit__proxy: 'sync',
  netvm_js_emit__sig: 'vii',
  netvm_js_emit: function(namePtr, detailPtr) {
    var name = UTF8ToString(namePtr);
    var detail = UTF8ToString(detailPtr);
    if (Module['onNetvmEvent']) Module['onNetvmEvent'](name, detail);
    if (typeof window === 'object' && typeof CustomEvent === 'function') {
      window.dispatchEvent(new CustomEvent('netvm', { detail: { name: name, detail: detail } }));
    }
  },

  // Watches the page's terminal for input, so a program in a pthread need
  // not ask for it: asking is a poll() proxied to the main thread (two
  // round trips with xterm-pty), milliseconds each while the page draws.
  // Sets the int at flagPtr to 1 whenever the PTY (Module.pty, xterm-pty's
  // slave) has bytes to read, now and on every later input; the program
  // clears it before it reads. Returns 1 when watching, 0 without a PTY
  // (e.g. under Node, where stdin is the terminal).
  netvm_js_watch_input__proxy: 'sync',
  netvm_js_watch_input__sig: 'ii',
  netvm_js_watch_input: function(flagPtr) {
    var pty = Module['pty'];
    if (!pty || typeof pty.onReadable !== 'function') return 0;
    // A fresh view each time: shared memory may have grown since.
    var mark = function() { Atomics.store(new Int32Array(wasmMemory.buffer), flagPtr >> 2, 1); };
    pty.onReadable(mark);
    if (pty.readable) mark();
    return 1;
  },

  // Writes len bytes at ptr to the page's terminal (Module.pty) without the
  // program waiting for it (a synchronous write waits for the main thread,
  // which is often busy drawing the previous output). The program hands
  // over a malloc'ed copy, freed here, and counts the bytes in flight in
  // the int at pendingPtr; this subtracts them once written.
  netvm_js_write_terminal__proxy: 'async',
  netvm_js_write_terminal__sig: 'viii',
  netvm_js_write_terminal__deps: ['free'],
  netvm_js_write_terminal: function(ptr, len, pendingPtr) {
    try {
      Module['pty'].write(Array.from(new Uint8Array(wasmMemory.buffer, ptr, len)));
    } finally {
      _free(ptr);
      Atomics.sub(new Int32Array(wasmMemory.buffer), pendingPtr >> 2, len);
    }
  },
});
