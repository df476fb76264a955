#!/usr/bin/env python3
"""The TCP receiver of tests/bench/dev-net.sh (standard library only), run in the peer's
network namespace. One receiver serves every transfer of the run, so both paths of the
benchmark are measured by the same clock at the same end of the wire.

  net-sink.py ADDR PORT    prints "listening", then for each connection, one after the
                           other: reads to EOF, prints "BYTES SECONDS" (from accept to EOF),
                           and only then closes (the sender waits for that close).
Runs until killed.
"""
import socket
import sys
import time

addr, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port))
ls.listen(1)
print("listening", flush=True)
buf = memoryview(bytearray(1 << 20))
while True:
    c, _ = ls.accept()
    start = time.monotonic()
    n = 0
    while True:
        k = c.recv_into(buf)
        if not k:
            break
        n += k
    print("%d %.6f" % (n, time.monotonic() - start), flush=True)
    c.close()
