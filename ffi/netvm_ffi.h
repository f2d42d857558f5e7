/* The C surface netvm's emscripten build calls, for bindgen (build.rs).
 *
 * emscripten's own API comes in from its system headers; the netvm_ffi_*
 * shims (shims.c) wrap what Rust cannot call directly: EM_ASM blocks, which
 * are macros expanding to inline JS, and calls that must run on the main
 * browser thread when the program runs in a pthread (PROXY_TO_PTHREAD). */
#ifndef NETVM_FFI_H
#define NETVM_FFI_H

#include <emscripten.h>
#include <emscripten/threading.h>
#include <emscripten/html5.h> /* emscripten_date_now */

/* Sets the page's status line (Module.setStatus), on the main thread. */
void netvm_ffi_set_status(const char *text);

/* Reports a named event with a text detail to the page, on the main thread
 * (see js-lib/netvm.js: Module.onNetvmEvent and the `netvm` DOM event). */
void netvm_ffi_emit(const char *name, const char *detail);

/* The WebSocket URL emscripten's socket emulation connects to
 * (Module.websocket.url), copied into buf; returns its length, or -1 if it
 * does not fit or is unset. */
int netvm_ffi_websocket_url(char *buf, int len);

/* Asks the page to set *flag to 1 whenever its terminal (xterm-pty) has
 * input (js-lib/netvm.js); returns 1 if it does, 0 when there is no such
 * terminal (then poll the TTY). */
int netvm_ffi_watch_input(int *flag);

/* Queues len bytes at data (malloc'ed; freed by the page) for the page's
 * terminal and returns at once; the page subtracts len from *pending once
 * it wrote them. Only when netvm_ffi_watch_input found the terminal. */
void netvm_ffi_write_terminal(char *data, int len, int *pending);

#endif
