/* C shims for netvm's emscripten build; see netvm_ffi.h for why they exist. */
#include <string.h>

#include "netvm_ffi.h"

/* Declared by js-lib/netvm.js. */
extern void netvm_js_emit(const char *name, const char *detail);
extern int netvm_js_watch_input(int *flag);
extern void netvm_js_write_terminal(char *data, int len, int *pending);

void netvm_ffi_set_status(const char *text) {
    /* Module.setStatus belongs to the page; from a pthread it must run on the
     * main thread. The call is synchronous so `text` stays valid. */
    MAIN_THREAD_EM_ASM({
        if (Module['setStatus']) Module['setStatus'](UTF8ToString($0));
    }, text);
}

void netvm_ffi_emit(const char *name, const char *detail) {
    netvm_js_emit(name, detail);
}

int netvm_ffi_websocket_url(char *buf, int len) {
    return MAIN_THREAD_EM_ASM_INT({
        var ws = Module['websocket'];
        var url = ws && ws['url'];
        if (typeof url !== 'string') return -1;
        var need = lengthBytesUTF8(url);
        if (need + 1 > $1) return -1;
        stringToUTF8(url, $0, $1);
        return need;
    }, buf, len);
}

int netvm_ffi_watch_input(int *flag) {
    return netvm_js_watch_input(flag);
}

void netvm_ffi_write_terminal(char *data, int len, int *pending) {
    netvm_js_write_terminal(data, len, pending);
}
