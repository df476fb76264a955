#!/usr/bin/env python3
"""A hostile display helper for tests: started as `SCRIPT --service display MODE` (revm-display
--local SCRIPT --device MODE), it answers the host's records on stdin/stdout like
`revm-guestd --service display`, then misbehaves as MODE says:
  absurd    CONNECTORS claiming 200 connectors
  zero      a good list, then MODE 0x0
  unasked   a good list, then MODE 8192x8192 for a request of the preferred 1024x768
  huge      a record header announcing 2 GiB
  badname   a connector named with escape characters
  vanish    good list and mode, then the frame: HOTPLUG (connector gone) and ERROR ENODEV
  hangup    a good list, then the helper exits in the middle of a record"""
import struct
import sys

mode = sys.argv[3] if len(sys.argv) > 3 else "absurd"
inp, out = sys.stdin.buffer, sys.stdout.buffer


def rec(t, tag, body=b""):
    out.write(struct.pack("<IBI", 5 + len(body), t, tag) + body)
    out.flush()


def read_rec():
    h = inp.read(9)
    if len(h) < 9:
        sys.exit(0)
    n, t, tag = struct.unpack("<IBI", h)
    body = inp.read(n - 5)
    return t, tag, body


def s(b):
    return struct.pack("<I", len(b)) + b


def conn_list(name=b"Virtual-1", connected=1, cur=(0, 0, 0)):
    modes = [(1024, 768, 60, 1), (800, 600, 60, 0)] if connected else []
    b = bytes([1]) + struct.pack("<IB", 7, connected) + s(name) + struct.pack("<HHHB", *cur, len(modes))
    for m in modes:
        b += struct.pack("<HHHB", *m)
    return b


while True:
    t, tag, body = read_rec()
    if t == 0xb0:  # LIST
        if mode == "absurd":
            rec(0xb1, tag, bytes([200]) + b"\0" * 64)
        elif mode == "huge":
            out.write(struct.pack("<IBI", 0x7FFFFFFF, 0xb1, tag))
            out.flush()
        elif mode == "badname":
            rec(0xb1, tag, conn_list(name=b"\x1b[2J"))
        elif mode == "hangup":
            out.write(struct.pack("<IBI", 100, 0xb1, tag) + b"\1")
            out.flush()
            sys.exit(0)
        else:
            rec(0xb1, tag, conn_list())
    elif t == 0xb2:  # SET_MODE
        conn, w, h, r = struct.unpack("<IHHH", body)
        if mode == "zero":
            rec(0xb3, tag, struct.pack("<IHHH", conn, 0, 0, 0))
        elif mode == "unasked":
            rec(0xb3, tag, struct.pack("<IHHH", conn, 8192, 8192, 60))
        else:
            rec(0xb3, tag, struct.pack("<IHHH", conn, w or 1024, h or 768, 60))
    elif t == 0xb4:  # UPDATE
        if mode == "vanish":
            rec(0xb5, 0, conn_list(connected=0))
            rec(0xbf, tag, struct.pack("<I", 19) + s(b"connector has no mode set (or lost its display)"))
        else:
            rec(0xbe, tag)
