#!/usr/bin/env python3
"""Lists the function names in a .wasm file's "name" section, one per line.

    wasm-functions.py FILE.wasm

scripts/build-wasm links with --profiling-funcs, so the section is there;
tests use it to check how the emulator's code was laid out into functions
(e.g. that the CPU's run loop is a function of its own, see build-wasm).
"""
import sys


def leb128(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128 at offset %d" % pos)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def function_names(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    pos = 8
    while pos < len(data):
        section_id = data[pos]
        size, pos = leb128(data, pos + 1)
        end = pos + size
        if section_id == 0:
            name_len, p = leb128(data, pos)
            if data[p:p + name_len] == b"name":
                p += name_len
                while p < end:
                    sub_id = data[p]
                    sub_size, p = leb128(data, p + 1)
                    if sub_id == 1:
                        count, q = leb128(data, p)
                        for _ in range(count):
                            _, q = leb128(data, q)
                            n, q = leb128(data, q)
                            yield data[q:q + n].decode("utf-8", "replace")
                            q += n
                    p += sub_size
        pos = end


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        with open(sys.argv[1], "rb") as f:
            names = list(function_names(f.read()))
    except (OSError, ValueError) as e:
        sys.exit("wasm-functions: %s: %s" % (sys.argv[1], e))
    if not names:
        sys.exit("wasm-functions: %s has no function names (linked without --profiling-funcs?)" % sys.argv[1])
    print("\n".join(names))


if __name__ == "__main__":
    main()
