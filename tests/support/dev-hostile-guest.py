#!/usr/bin/env python3
"""A hostile device-service guest helper, run by `revm-devices --local` in place of
`revm-guestd`: argv is PROG --service device block:MODE. It announces a 1 MiB disk, then
answers every request in a way the host must survive:
  badtags  a completion for a tag never sent, a duplicate, a read with too few bytes, an
           error completion that carries data (malformed: ends the channel) -- in turn
  huge     a record header of 2 GiB (ends the channel; the host reconnects)
  garbage  random bytes after BLK_INFO
  flood    16 MiB of completions for unknown tags, then correct answers
"""
import os, random, struct, sys

mode = sys.argv[3].split(":", 1)[1]
out = sys.stdout.buffer
inp = sys.stdin.buffer


def rec(t, tag, body=b""):
    return struct.pack("<IBI", 5 + len(body), t, tag) + body


def send(b):
    out.write(b)
    out.flush()


send(rec(0x58, 0, struct.pack("<QIIII", 1 << 20, 512, 65536, 4, 2)))
if mode == "huge":
    send(struct.pack("<I", 0x7FFFFFFF) + b"\x5d")
    sys.exit(0)
if mode == "garbage":
    send(random.Random(1).randbytes(100000))
    sys.exit(0)
n = 0
while True:
    h = inp.read(9)
    if len(h) < 9:
        break
    ln, t, tag = struct.unpack("<IBI", h)
    body = inp.read(ln - 5)
    n += 1
    if mode == "flood" and n == 1:
        send(b"".join(rec(0x5d, 0xABCD00 + (i % 200), struct.pack("<I", 0)) for i in range(1000)) * 100)
    if mode == "badtags":
        k = n % 4
        if k == 1:
            send(rec(0x5d, tag ^ 0x7F7F00, struct.pack("<I", 0)))  # unknown tag, then the real one
        elif k == 2 and t == 0x59:
            send(rec(0x5d, tag, struct.pack("<I", 0) + b"short"))  # wrong length: EIO
            continue
        elif k == 3:
            send(rec(0x5d, tag, struct.pack("<I", 5) + b"junk"))  # malformed: channel ends
            sys.exit(0)
    if t == 0x59:
        off, length = struct.unpack("<QI", body)
        send(rec(0x5d, tag, struct.pack("<I", 0) + bytes(length)))
    else:
        send(rec(0x5d, tag, struct.pack("<I", 0)))
    if mode == "badtags" and n % 4 == 1:
        send(rec(0x5d, tag, struct.pack("<I", 0) + (bytes(struct.unpack("<QI", body)[1]) if t == 0x59 else b"")))  # duplicate
