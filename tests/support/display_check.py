#!/usr/bin/env python3
"""Display service acceptance, as the host test program: draws known patterns
through revm-display's framebuffer file and control socket and checks what the guest shows,
read back as a PPM screendump: QMP `screendump` of the VM (--qmp SOCKET), or the fake
helper's dump file (--dump FILE, for runs without a VM).

  display_check.py --control SOCK --shm FILE (--qmp SOCK | --dump FILE) [--mode WxH]

Checks, in order: full frame == pattern A; a damaged rectangle changes exactly that rectangle
(pixels changed outside it in the file but not damaged stay old on screen); a mode change to
another listed mode shows pattern B at the new size. Prints one `ok:` line per check; exits 1
with `FAIL:` on the first mismatch."""
import argparse
import json
import mmap
import os
import socket
import sys
import time


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Control:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rw")

    def cmd(self, line):
        self.f.write(line + "\n")
        self.f.flush()
        ans = self.f.readline().strip()
        if not ans.startswith("ok"):
            fail(f"revm-display: {line!r} -> {ans!r}")
        return ans[2:].strip()


def pattern(w, h, seed):
    """XRGB8888 bytes (B, G, R, X) of a pattern that differs on every row and column."""
    out = bytearray(w * h * 4)
    for y in range(h):
        row = bytearray(w * 4)
        for x in range(w):
            row[x * 4] = (x * 5 + seed) & 255
            row[x * 4 + 1] = (y * 3 + seed * 7) & 255
            row[x * 4 + 2] = ((x ^ y) + seed * 13) & 255
        out[y * w * 4:(y + 1) * w * 4] = row
    return out


def fill(buf, w, x0, y0, rw, rh, bgr):
    px = bytes(bgr) + b"\0"
    for y in range(y0, y0 + rh):
        buf[(y * w + x0) * 4:(y * w + x0 + rw) * 4] = px * rw


def to_rgb(xrgb):
    rgb = bytearray(len(xrgb) // 4 * 3)
    rgb[0::3] = xrgb[2::4]
    rgb[1::3] = xrgb[1::4]
    rgb[2::3] = xrgb[0::4]
    return bytes(rgb)


def read_ppm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    if fields[0] != b"P6" or fields[3] != b"255":
        fail(f"{path}: not a P6 PPM with maxval 255")
    return int(fields[1]), int(fields[2]), data[pos:]


class Qmp:
    def __init__(self, path):
        self.path = path

    def screendump(self, out):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(self.path)
        f = s.makefile("rw")
        f.readline()  # greeting

        def execute(cmd, args=None):
            msg = {"execute": cmd}
            if args:
                msg["arguments"] = args
            f.write(json.dumps(msg) + "\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    fail("QMP closed the connection")
                r = json.loads(line)
                if "return" in r:
                    return
                if "error" in r:
                    fail(f"QMP {cmd}: {r['error']}")

        execute("qmp_capabilities")
        execute("screendump", {"filename": out})
        s.close()


def grab(args, tmp):
    if args.qmp:
        Qmp(args.qmp).screendump(tmp)
        return read_ppm(tmp)
    return read_ppm(args.dump)


def expect(args, tmp, w, h, xrgb, what, timeout=60):
    """Screendumps until the screen shows xrgb (the guest applies an update before its OK,
    but a display device may refresh its surface a little later)."""
    want = to_rgb(xrgb)
    deadline = time.monotonic() + timeout
    while True:
        gw, gh, got = grab(args, tmp)
        if (gw, gh) == (w, h) and got == want:
            return
        if time.monotonic() > deadline:
            if (gw, gh) != (w, h):
                fail(f"{what}: screen is {gw}x{gh}, expected {w}x{h}")
            bad = next(i for i in range(len(want)) if got[i] != want[i]) // 3
            diff = sum(1 for i in range(0, len(want), 3) if got[i:i + 3] != want[i:i + 3])
            fail(f"{what}: {diff} pixels differ, first at ({bad % w},{bad // w}): "
                 f"got {tuple(got[bad * 3:bad * 3 + 3])} want {tuple(want[bad * 3:bad * 3 + 3])}")
        time.sleep(0.5)


def open_fb(path, w, h):
    fd = os.open(path, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 0)
    finally:
        os.close(fd)
    if len(m) != w * h * 4:
        fail(f"{path}: {len(m)} bytes, expected {w}x{h}x4")
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--control", required=True)
    ap.add_argument("--shm", required=True)
    ap.add_argument("--qmp")
    ap.add_argument("--dump")
    ap.add_argument("--tmp", default="/tmp/display-check.ppm")
    args = ap.parse_args()
    ctl = Control(args.control)
    name, w, h = ctl.cmd("info").split()
    w, h = int(w), int(h)
    modes = ctl.cmd("modes").split()
    print(f"ok: {name} {w}x{h}; modes: {' '.join(modes)}")

    # 1. A full frame.
    fb = open_fb(args.shm, w, h)
    a = pattern(w, h, 1)
    fb[:] = a
    t0 = time.monotonic()
    ctl.cmd("full")
    t1 = time.monotonic()
    expect(args, args.tmp, w, h, a, "full frame")
    print(f"ok: full frame {w}x{h} shows exactly pattern A (update acknowledged in {t1 - t0:.3f}s)")

    # 2. A partial update: only the damaged rectangle reaches the screen.
    rx, ry, rw, rh = 100, 60, 64, 40
    fill(fb, w, rx, ry, rw, rh, (0x11, 0xee, 0x22))
    fill(fb, w, 300, 200, 32, 32, (0xff, 0xff, 0xff))  # changed in the file, never damaged
    ctl.cmd(f"damage {rx} {ry} {rw} {rh}")
    want = bytearray(a)
    fill(want, w, rx, ry, rw, rh, (0x11, 0xee, 0x22))
    expect(args, args.tmp, w, h, want, "partial update")
    print(f"ok: damage {rw}x{rh}+{rx}+{ry} changed exactly that rectangle")

    # 3. A mode change to another listed mode.
    sizes = []
    for m in modes:
        mw, mh = m.split("@")[0].split("x")
        if (int(mw), int(mh)) != (w, h) and int(mw) <= 1024 and (int(mw), int(mh)) not in sizes:
            sizes.append((int(mw), int(mh)))
    if not sizes:
        fail(f"no other mode of at most 1024 wide listed: {modes}")
    nw, nh = sizes[0]
    got = ctl.cmd(f"mode {nw}x{nh}").split()
    if [int(got[0]), int(got[1])] != [nw, nh]:
        fail(f"mode {nw}x{nh} answered {got}")
    fb.close()
    fb = open_fb(args.shm, nw, nh)
    b = pattern(nw, nh, 2)
    fb[:] = b
    ctl.cmd("full")
    expect(args, args.tmp, nw, nh, b, f"after mode {nw}x{nh}")
    print(f"ok: mode change to {nw}x{nh} shows exactly pattern B at the new size")
    fb.close()


if __name__ == "__main__":
    main()
