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
});
