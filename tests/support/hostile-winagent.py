#!/usr/bin/env python3
"""A hostile window-service guest for tests/*/windows-hostile.sh: run by revm-windows --local
in place of revm-winagent. Sends a million windows, ids it never created, rectangles outside
its window, pixel data shorter than announced, a title full of control characters, then one
honest red window; when the file named by $HOSTILE_GO appears, a record longer than the
service allows (which must end the channel)."""
import os, struct, sys, time

out = sys.stdout.buffer
def rec(t, body): return struct.pack('<IBI', 5 + len(body), t, 0) + body
def s(b): return struct.pack('<I', len(b)) + b
def create(i, w, h, fl=0, tr=0): return rec(0x81, struct.pack('<IiiHHBI', i, 0, 0, w, h, fl, tr))
def damage(i, x, y, w, h, enc, data, n=None):
    return rec(0x88, struct.pack('<IHHHHBI', i, x, y, w, h, enc, len(data) if n is None else n) + data)

out.write(rec(0x80, struct.pack('<HH', 1280, 800) + s(b':hostile')))
N = 1000000
base = 0x100000
for start in range(0, N, 50000):
    out.write(b''.join(create(base + i, 1, 1) for i in range(start, start + 50000)))
for start in range(0, N, 50000):
    out.write(b''.join(rec(0x82, struct.pack('<I', base + i)) for i in range(start, start + 50000)))
W, H = 200, 100
out.write(create(1, W, H))
out.write(rec(0x85, struct.pack('<I', 1) + s(b'evil\x1b[31m\nroot\x07 (host)\xc2\x9b')))
red = b'\x00\x00\xff\x00'
out.write(damage(77, 0, 0, 1, 1, 0, red))                       # unknown id
out.write(damage(1, W - 1, 0, 2, 1, 0, red * 2))                # outside (x)
out.write(damage(1, 0, H, 1, 1, 0, red))                        # outside (y)
out.write(damage(1, 0, 0, 10, 10, 0, red * 50, n=400))          # short pixel data
out.write(damage(1, 0, 0, 10, 10, 1, bytes([255]) + red))       # runs beyond the rectangle
out.write(rec(0x83, struct.pack('<IB', 2, 1)))                  # map of an unknown id
out.write(rec(0x89, struct.pack('<IBI', 1, 1, 0x61)))           # a host-only record type
out.write(rec(0x83, struct.pack('<IB', 1, 1)))
# the honest content: all red, as runs
runs = b''.join(bytes([255]) + red for _ in range(W * H // 129)) + bytes([W * H % 129 + 126]) + red
out.write(damage(1, 0, 0, W, H, 1, runs))
out.flush()
go = os.environ.get('HOSTILE_GO', '')
while go and not os.path.exists(go):
    time.sleep(0.1)
out.write(struct.pack('<I', 0x7fffffff) + b'\x88')             # longer than any record may be
out.flush()
time.sleep(30)
