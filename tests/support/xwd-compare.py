#!/usr/bin/env python3
"""Compares the pixels of two XWD screenshots (32 bits per pixel, as Xvfb writes them):
prints the number of differing pixels and exits 0 when it is at most the allowed count.
Usage: xwd-compare.py A.xwd B.xwd [MAX_DIFFERENT_PIXELS]"""
import struct, sys

def load(path):
    data = open(path, "rb").read()
    (hsize,) = struct.unpack(">I", data[:4])
    f = struct.unpack(">25I", data[:100])
    width, height, byte_order, bpp, bpl, ncolors = f[4], f[5], f[7], f[11], f[12], f[19]
    if bpp != 32:
        sys.exit(f"{path}: {bpp} bits per pixel, only 32 is compared")
    off = hsize + 12 * ncolors
    fmt = "<I" if byte_order == 0 else ">I"
    rows = []
    for y in range(height):
        row = data[off + y * bpl: off + y * bpl + 4 * width]
        rows.append([struct.unpack_from(fmt, row, 4 * x)[0] & 0xFFFFFF for x in range(width)])
    return width, height, rows

wa, ha, a = load(sys.argv[1])
wb, hb, b = load(sys.argv[2])
allowed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if (wa, ha) != (wb, hb):
    print(f"sizes differ: {wa}x{ha} vs {wb}x{hb}")
    sys.exit(1)
diff = sum(1 for y in range(ha) for x in range(wa) if a[y][x] != b[y][x])
print(f"{diff} of {wa * ha} pixels differ")
sys.exit(0 if diff <= allowed else 1)
