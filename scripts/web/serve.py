#!/usr/bin/env python3
"""Serves netvm's site (target/web/site) for browsers.

Standard library only. What the page needs from its server:
- Cross-origin isolation, for SharedArrayBuffer (the emulator runs in a
  pthread, whose memory is shared): Cross-Origin-Opener-Policy: same-origin
  and Cross-Origin-Embedder-Policy: require-corp on every response.
- MIME types browsers insist on: application/wasm for streaming compile,
  text/javascript for scripts and workers.
- gzip for the large binary files (.wasm, .data) when the client accepts it:
  the file's precompressed sibling FILE.gz when it is at least as new as the
  file (scripts/build-site writes them, so no page load waits for
  compression), otherwise compressed once per file version and kept in
  memory.
"""
import argparse
import gzip
import io
import http.server
import os
import sys
import threading

MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".data": "application/octet-stream",
    ".crt": "application/x-x509-ca-cert",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
GZIP_SUFFIXES = (".wasm", ".data")

_gzip_cache = {}
_gzip_lock = threading.Lock()


def gzipped(path, stat):
    """The gzip encoding of `path`: its up-to-date .gz sibling, or compressed
    here and cached by (size, mtime)."""
    try:
        pre = os.stat(path + ".gz")
        if pre.st_mtime_ns >= stat.st_mtime_ns:
            with open(path + ".gz", "rb") as f:
                return f.read()
    except OSError:
        pass
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _gzip_lock:
        hit = _gzip_cache.get(key)
    if hit is not None:
        return hit
    with open(path, "rb") as f:
        body = gzip.compress(f.read(), compresslevel=6, mtime=0)
    with _gzip_lock:
        for old in [k for k in _gzip_cache if k[0] == path]:
            del _gzip_cache[old]
        _gzip_cache[key] = body
    return body


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "netvm-serve"

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def guess_type(self, path):
        return MIME.get(os.path.splitext(path)[1].lower(), "application/octet-stream")

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            if not self.path.split("?", 1)[0].endswith("/"):
                return super().send_head()  # redirect to the slash form
            path = os.path.join(path, "index.html")
        if not path.endswith(GZIP_SUFFIXES) or "gzip" not in self.headers.get("Accept-Encoding", ""):
            return super().send_head()
        try:
            stat = os.stat(path)
            body = gzipped(path, stat)
        except OSError:
            self.send_error(404, "File not found")
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Last-Modified", self.date_time_string(stat.st_mtime))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("serve: %s %s\n" % (self.address_string(), fmt % args))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="directory to serve")
    ap.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8088")))
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    opts = ap.parse_args()
    if not os.path.isfile(os.path.join(opts.dir, "index.html")):
        sys.exit("serve: %s has no index.html; build the site first (scripts/build-wasm)" % opts.dir)

    def handler(*a, **kw):
        return Handler(*a, directory=opts.dir, **kw)

    server = http.server.ThreadingHTTPServer((opts.host, opts.port), handler)
    server.quiet = opts.quiet
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print("serving %s on http://%s:%d/" % (opts.dir, "localhost" if host == "127.0.0.1" else host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
