#!/usr/bin/env python3
"""Display service benchmark client (tests/bench/display.sh): through revm-display's control
socket and framebuffer file, N full-frame updates (each frame different) and M small damaged
rectangles; with --qmp, also the latency from a small damage to a QMP screendump showing it.
Prints `frames N secs S` , `rect_ack_ms X` and optionally `rect_screen_ms Y`."""
import argparse
import json
import mmap
import os
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--control", required=True)
    ap.add_argument("--shm", required=True)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rects", type=int, default=50)
    ap.add_argument("--qmp")
    ap.add_argument("--tmp", default="/tmp/display-bench.ppm")
    a = ap.parse_args()
    s = socket.socket(socket.AF_UNIX)
    s.connect(a.control)
    f = s.makefile("rw")

    def cmd(line):
        f.write(line + "\n")
        f.flush()
        r = f.readline().strip()
        if not r.startswith("ok"):
            raise SystemExit(f"revm-display: {line!r} -> {r!r}")
        return r

    _, name, w, h = cmd("info").split()
    w, h = int(w), int(h)
    fd = os.open(a.shm, os.O_RDWR)
    fb = mmap.mmap(fd, 0)
    os.close(fd)
    frames = [bytes([i * 40 & 255]) * (w * h * 4) for i in range(4)]
    t0 = time.monotonic()
    for i in range(a.frames):
        fb[:] = frames[i % 4]
        cmd("full")
    t1 = time.monotonic()
    print(f"frames {a.frames} secs {t1 - t0:.3f} size {w}x{h}")
    lat = []
    for i in range(a.rects):
        t = time.monotonic()
        cmd(f"damage {(i * 16) % (w - 16)} 0 16 16")
        lat.append(time.monotonic() - t)
    lat.sort()
    print(f"rect_ack_ms {lat[len(lat) // 2] * 1000:.2f}")
    if a.qmp:
        q = socket.socket(socket.AF_UNIX)
        q.connect(a.qmp)
        qf = q.makefile("rw")
        qf.readline()

        def qmp(c, args=None):
            m = {"execute": c}
            if args:
                m["arguments"] = args
            qf.write(json.dumps(m) + "\n")
            qf.flush()
            while True:
                r = json.loads(qf.readline())
                if "return" in r or "error" in r:
                    return r

        qmp("qmp_capabilities")
        # The cost of one screendump alone (subtracted: it is the probe, not the path).
        t = time.monotonic()
        qmp("screendump", {"filename": a.tmp})
        dump_cost = time.monotonic() - t
        res = []
        for i in range(5):
            colour = bytes([0, 0, 0x20 + i * 40, 0]) * 16
            for y in range(16):
                off = (y * w + 100) * 4
                fb[off:off + 64] = colour
            t = time.monotonic()
            cmd("damage 100 0 16 16")
            while True:
                qmp("screendump", {"filename": a.tmp})
                data = open(a.tmp, "rb").read()
                hdr_end = data.index(b"255\n") + 4
                px = data[hdr_end + (5 * w + 105) * 3: hdr_end + (5 * w + 105) * 3 + 3]
                if px[0] == 0x20 + i * 40:
                    break
            res.append(time.monotonic() - t)
        res.sort()
        print(f"rect_screen_ms {res[len(res) // 2] * 1000:.1f} screendump_ms {dump_cost * 1000:.1f}")


if __name__ == "__main__":
    main()
