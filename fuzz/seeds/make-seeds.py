#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets: well-formed requests the fuzzer
mutates from, so it starts past the first validity checks.

virtio_queue input: size selector byte (size = 1 << (b % 8)), flags byte,
then guest RAM from address 0 (descriptor table at 0, available ring at
0x800, used ring at 0xa00, buffers from 0x1000).
p9_decode input: concatenated 9P2000.L T-messages (fid 0 is attached to the
share root by the target before the input runs).
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
NEXT, WRITE, INDIRECT = 1, 2, 4


def s9(text):
    b = text.encode()
    return struct.pack("<H", len(b)) + b


def tmsg(kind, tag, body):
    return struct.pack("<IBH", 7 + len(body), kind, tag) + body


def ram_image(chains, extra):
    """chains: list of lists of (addr, len, write); extra: {addr: bytes}."""
    ram = bytearray(0x3000)
    idx = 0
    heads = []
    for chain in chains:
        heads.append(idx)
        for n, (addr, ln, wr) in enumerate(chain):
            last = n + 1 == len(chain)
            flags = (WRITE if wr else 0) | (0 if last else NEXT)
            struct.pack_into("<QIHH", ram, 16 * idx, addr, ln, flags, idx + 1)
            idx += 1
    struct.pack_into("<HH", ram, 0x800, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x804 + 2 * i, h)
    for addr, data in extra.items():
        ram[addr:addr + len(data)] = data
    return ram


def seed(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# virtio_queue ---------------------------------------------------------------
blk_read = ram_image(
    [[(0x1000, 16, False), (0x1100, 512, True), (0x1400, 1, True)]],
    {0x1000: struct.pack("<IIQ", 0, 0, 3)},
)
seed("virtio_queue", "blk-read", bytes([4, 0]) + blk_read)
blk_write = ram_image(
    [[(0x1000, 16, False), (0x1100, 512, False), (0x1400, 1, True)], [(0x1500, 16, False), (0x1600, 1, True)]],
    {0x1000: struct.pack("<IIQ", 1, 0, 7), 0x1500: struct.pack("<IIQ", 4, 0, 0)},
)
seed("virtio_queue", "blk-write-flush", bytes([4, 1]) + blk_write)
# An indirect chain: one ring descriptor pointing at a table at 0x2000.
ind = bytearray(ram_image([], {}))
struct.pack_into("<QIHH", ind, 0, 0x2000, 48, INDIRECT, 0)
struct.pack_into("<HHH", ind, 0x800, 0, 1, 0)
struct.pack_into("<QIHH", ind, 0x2000, 0x1000, 16, NEXT, 1)
struct.pack_into("<QIHH", ind, 0x2010, 0x1100, 1024, NEXT | WRITE, 2)
struct.pack_into("<QIHH", ind, 0x2020, 0x1600, 1, WRITE, 0)
struct.pack_into("<IIQ", ind, 0x1000, 0, 0, 1)
seed("virtio_queue", "blk-read-indirect", bytes([4, 0]) + ind)
version = tmsg(100, 0xFFFF, struct.pack("<I", 8192) + s9("9P2000.L"))
attach = tmsg(104, 1, struct.pack("<II", 1, 0xFFFFFFFF) + s9("root") + s9("") + struct.pack("<I", 0))
walk = tmsg(110, 2, struct.pack("<IIH", 1, 2, 1) + s9("file"))
p9 = ram_image(
    [[(0x1000, len(version), False), (0x1800, 256, True)],
     [(0x1100, len(attach), False), (0x1900, 256, True)],
     [(0x1200, len(walk), False), (0x1a00, 256, True)]],
    {0x1000: version, 0x1100: attach, 0x1200: walk},
)
seed("virtio_queue", "p9-version-attach-walk", bytes([4, 1]) + p9)
net = ram_image([[(0x1000, 12, False), (0x1100, 60, False)], [(0x1200, 1526, True)]], {0x1100: bytes(range(60))})
seed("virtio_queue", "net-tx-rx", bytes([4, 0]) + net)

# virtio_mmio: 7-byte accesses (op, offset u16, value u32); op bit 0 = read,
# bits 1-2 width (2 = 4 bytes), bit 7 = process queues afterwards.
def access(offset, value, read=False, process=False):
    op = (1 if read else 0) | (2 << 1) | (0x80 if process else 0)
    return struct.pack("<BHI", op, offset, value)


init = [access(0x70, 0), access(0x70, 1), access(0x70, 3), access(0x14, 1), access(0x10, 0, read=True),
        access(0x24, 1), access(0x20, 1), access(0x24, 0), access(0x20, 1 << 5), access(0x70, 11)]
for q, base in ((0, 0x1000), (1, 0x2000)):
    init += [access(0x30, q), access(0x34, 0, read=True), access(0x38, 16), access(0x80, base),
             access(0x90, base + 0x100), access(0xa0, base + 0x200), access(0x44, 1)]
init += [access(0x70, 15), access(0x50, 1, process=True), access(0x60, 0, read=True), access(0x64, 1),
         access(0x100, 0, read=True), access(0x70, 0)]
seed("virtio_mmio", "init-notify-reset", b"".join(init))

# p9_decode ------------------------------------------------------------------
msgs = [
    tmsg(110, 1, struct.pack("<IIH", 0, 1, 1) + s9("file")),
    tmsg(12, 2, struct.pack("<II", 1, 2)),
    tmsg(116, 3, struct.pack("<IQI", 1, 0, 100)),
    tmsg(118, 4, struct.pack("<IQI", 1, 0, 5) + b"hello"),
    tmsg(24, 5, struct.pack("<IQ", 1, 0x7FF)),
    tmsg(110, 6, struct.pack("<IIH", 0, 2, 0)),
    tmsg(14, 7, struct.pack("<I", 2) + s9("new") + struct.pack("<III", 2, 0o644, 0)),
    tmsg(72, 8, struct.pack("<I", 0) + s9("dir") + struct.pack("<II", 0o755, 0)),
    tmsg(74, 9, struct.pack("<I", 0) + s9("new") + struct.pack("<I", 0) + s9("renamed")),
    tmsg(16, 10, struct.pack("<I", 0) + s9("link") + s9("../../etc") + struct.pack("<I", 0)),
    tmsg(110, 11, struct.pack("<IIH", 0, 3, 1) + s9("link")),
    tmsg(22, 12, struct.pack("<I", 3)),
    tmsg(110, 13, struct.pack("<IIH", 0, 4, 2) + s9("..") + s9("sub")),
    tmsg(12, 14, struct.pack("<II", 4, 0)),
    tmsg(40, 15, struct.pack("<IQI", 4, 0, 4000)),
    tmsg(26, 16, struct.pack("<IIIIIQQQQQ", 1, 0x1 | 0x8, 0o600, 0, 0, 3, 0, 0, 0, 0)),
    tmsg(8, 17, struct.pack("<I", 0)),
    tmsg(50, 18, struct.pack("<II", 1, 0)),
    tmsg(76, 19, struct.pack("<I", 0) + s9("renamed") + struct.pack("<I", 0)),
    tmsg(76, 20, struct.pack("<I", 0) + s9("dir") + struct.pack("<I", 0x200)),
    tmsg(76, 21, struct.pack("<I", 0) + s9("link") + struct.pack("<I", 0)),
    tmsg(30, 22, struct.pack("<II", 1, 9) + s9("user.x")),
    tmsg(120, 23, struct.pack("<I", 1)),
]
seed("p9_decode", "session", b"".join(msgs))
seed("p9_decode", "version", version)
