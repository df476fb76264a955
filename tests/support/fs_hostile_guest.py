#!/usr/bin/env python3
"""A hostile filesystem-service helper (PROTOCOL.md, Filesystem service) for host-side tests:
run as `fs_hostile_guest.py --service fs MODE` in place of `revm-guestd --service fs ARG`
(revm-fuse --local). It answers INFO correctly, then misbehaves according to MODE:

  names    READDIR of the root lists oversized names, "..", "/" and "a/b" among good ones;
           LOOKUP of any name answers a directory
  loop     every name is a symlink: "self" points to itself, any other name to
           ../outside/written (out of the mount: only a --nosymfollow mount stops that)
  ids      LOOKUP answers node 0, unknown tags, wrong reply types and malformed bodies
  sizes    GETATTR says 10 bytes, READ answers more bytes than asked
  endless  READDIR never ends: fresh offsets forever (a few stuck ones in "stuck")
  stuck    READDIR answers an entry whose next offset is the one asked for
  silent   answers nothing after INFO
  garbage  answers the first request after INFO with a record length of 4 GiB
"""
import struct
import sys

MODE = sys.argv[3] if len(sys.argv) > 3 else "names"
inp, out = sys.stdin.buffer, sys.stdout.buffer
ATTR_FMT = "<QQQIIIIQIqIqIqI"


def attr(ino, mode, size=0, nlink=1):
    return struct.pack(ATTR_FMT, ino, size, 0, mode, nlink, 0, 0, 0, 4096, 0, 0, 0, 0, 0, 0)


def s(b):
    return struct.pack("<I", len(b)) + b


def send(t, tag, body):
    out.write(struct.pack("<IBI", 5 + len(body), t, tag) + body)
    out.flush()


def err(tag, e):
    send(0x4F, tag, struct.pack("<I", e))


def read_exact(n):
    b = b""
    while len(b) < n:
        c = inp.read(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


DIR, REG, LNK = 0o40755, 0o100644, 0o120777
next_node = 100
names = {}
while True:
    (ln,) = struct.unpack("<I", read_exact(4))
    rec = read_exact(ln)
    t, tag = rec[0], struct.unpack("<I", rec[1:5])[0]
    body = rec[5:]
    if t == 0x30:  # INFO
        send(0x30, tag, struct.pack("<III", 1, 1 << 20, 0) + s(b"hostile") + s(b"fake"))
        continue
    if t == 0x32:  # FORGET: no reply
        continue
    if MODE == "silent":
        continue
    if MODE == "garbage":
        out.write(struct.pack("<I", 0xFFFFFFFF) + b"x" * 16)
        out.flush()
        continue
    if t == 0x33:  # GETATTR
        node = struct.unpack("<Q", body[:8])[0]
        if node == 1:
            send(0x33, tag, attr(1, DIR, nlink=2))
        elif MODE == "sizes":
            send(0x33, tag, attr(node, REG, size=10))
        elif MODE == "loop":
            send(0x33, tag, attr(node, LNK, size=4))
        else:
            send(0x33, tag, attr(node, DIR, nlink=2))
    elif t == 0x31:  # LOOKUP
        next_node += 1
        if MODE == "ids":
            k = next_node % 4
            if k == 0:
                send(0x31, tag, struct.pack("<Q", 0) + attr(5, REG))  # node 0
            elif k == 1:
                send(0x31, tag + 1000, struct.pack("<Q", 5) + attr(5, REG))  # unknown tag
                err(tag, 5)
            elif k == 2:
                send(0x33, tag, attr(5, REG))  # wrong reply type
            else:
                send(0x31, tag, b"\x01\x02")  # malformed body
        elif MODE == "loop":
            names[next_node] = body[12:]
            send(0x31, tag, struct.pack("<Q", next_node) + attr(next_node, LNK, size=4))
        elif MODE == "sizes":
            send(0x31, tag, struct.pack("<Q", next_node) + attr(next_node, REG, size=10))
        else:
            send(0x31, tag, struct.pack("<Q", next_node) + attr(next_node, DIR, nlink=2))
    elif t == 0x35:  # READLINK
        node = struct.unpack("<Q", body[:8])[0]
        target = b"self" if names.get(node) == b"self" else b"../outside/written"
        send(0x35, tag, s(target))
    elif t in (0x3D, 0x43):  # OPEN, OPENDIR
        send(t, tag, struct.pack("<Q", 0x100000001))
    elif t == 0x3F:  # READ: more than asked
        size = struct.unpack("<I", body[16:20])[0]
        send(0x3F, tag, b"A" * (size + 100))
    elif t == 0x44:  # READDIR
        off, mx, plus = struct.unpack("<QII", body[8:24])
        ents = []
        if MODE == "names":
            if off == 0:
                for i, name in enumerate([b"good", b"x" * 300, b"..", b"/", b"a/b", b"also-good"]):
                    ents.append((i + 1, name))
        elif MODE == "stuck":
            ents.append((off, b"same"))
        elif MODE == "endless":
            for i in range(100):
                ents.append((off + i + 1, b"e%d" % (off + i)))
        b = b""
        for nxt, name in ents:
            b += struct.pack("<QI", nxt, 4) + s(name)
            if plus:
                next_node += 1
                b += struct.pack("<Q", next_node) + attr(next_node, DIR, nlink=2)
        send(0x44, tag, struct.pack("<I", len(ents)) + b)
    elif t == 0x46:  # STATFS
        send(0x46, tag, struct.pack("<QQQQQIII", 100, 50, 50, 10, 5, 4096, 4096, 255))
    elif t in (0x41, 0x45):  # RELEASE, RELEASEDIR
        send(t, tag, b"")
    else:
        err(tag, 38)
