#!/usr/bin/env python3
"""Adapts xterm-pty's emscripten-pty.js (written for newer emscripten) to the
JS-library dialect of Debian's emscripten 3.1.6, which netvm links with.

    pty-compat.py IN.js OUT.js

Each rewrite keeps the meaning and only changes the spelling 3.1.6 expects.
A rewrite that no longer matches fails the build, so a new xterm-pty version
is noticed instead of half-converted.
"""
import re
import sys

REWRITES = [
    # 3.1.6 names the pthreads setting USE_PTHREADS.
    (r"^#(if|elif) PTHREADS$", r"#\1 USE_PTHREADS", "PTHREADS setting"),
    # Constants: cDefs.X is cDefine('X') in 3.1.6.
    (r"cDefs\.([A-Z][A-Z0-9_]*)", r"cDefine('\1')", "cDefs constants"),
    # 3.1.6's preprocessor fails on #error even in a branch not taken. The
    # one there refuses builds without PROXY_TO_PTHREAD or ASYNCIFY; netvm
    # always links with PROXY_TO_PTHREAD.
    (r"^#error .*\n", "", "#error line"),
    # A string library value is an alias to another library function in
    # 3.1.6, unless it starts with '=' ("var x = <value>").
    (r"^(\s*)\$PTY: `Module\['pty'\]`,", r"""\1$PTY: "=Module['pty']",""", "$PTY value"),
    (r"^(\s*)implPThread,$", r"\1'=' + implPThread,", "ifPThread PROXY_TO_PTHREAD value"),
    # 3.1.6 resolves JS library __deps only among JS library functions; the
    # C functions sigaction and raise come from libc instead, kept in the
    # link by -sEXPORTED_FUNCTIONS (scripts/build-wasm).
    (r"^(\s*\$PTY__deps: \['malloc', )'sigaction', 'raise', ", r"\1", "$PTY__deps on libc"),
    # 3.1.6 calls the TTY op `flush` (newer ones: `fsync`) when a TTY stream
    # is closed at exit; the PTY has nothing to flush.
    (r"^(\s*)fsync: \(\) => \{\},", r"\1fsync: () => {},\n\1flush: () => {},", "TTY flush op"),
]


# 3.1.6 turns library functions into output code by rewriting their source
# text, which it expects in `function(args) { ... }` form; arrow functions
# come out as invalid JS (or fail for __proxy ones). Appended to the library,
# this rewraps every arrow-function entry as a plain function of the same
# parameters calling the arrow. Macros are already expanded at that point,
# and the text is what ends up in the output, so nothing is lost.
WRAP_ARROWS = r"""
// Added by netvm's scripts/web/pty-compat.py for emscripten 3.1.6.
for (const key of Object.keys(Lib)) {
    const f = Lib[key];
    if (typeof f !== 'function' || key.endsWith('__postset')) continue;
    const src = f.toString();
    const m = src.match(/^\(([^)]*)\)\s*=>/);
    if (!m) continue;
    Lib[key] = (0, eval)('(function(' + m[1] + ') { return (' + src + ')(' + m[1] + '); })');
}
"""


def main():
    src, dst = sys.argv[1:3]
    text = open(src, encoding="utf-8").read()
    for pattern, repl, what in REWRITES:
        text, n = re.subn(pattern, repl, text, flags=re.M)
        if n == 0:
            sys.exit("pty-compat: no match for the %s rewrite in %s (new xterm-pty version?)" % (what, src))
    open(dst, "w", encoding="utf-8").write(text + WRAP_ARROWS)


if __name__ == "__main__":
    main()
