#!/usr/bin/env python3
"""TCP echo with a checksum, for the device service network test.
  dev-tcp.py serve ADDR PORT            echo every byte back (one connection), then exit
  dev-tcp.py send ADDR PORT MIB         send MIB MiB of random data, read it back, compare
                                        SHA-256 of sent and echoed bytes, print MB/s
"""
import hashlib, os, socket, sys, threading, time

cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if cmd == "serve":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        c.sendall(b)
    c.close()
else:
    total = int(sys.argv[4]) << 20
    s = socket.create_connection((addr, port), timeout=120)
    sent = hashlib.sha256()
    got = hashlib.sha256()
    start = time.time()

    def writer():
        left = total
        while left:
            b = os.urandom(min(left, 1 << 16))
            sent.update(b)
            s.sendall(b)
            left -= len(b)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=writer)
    t.start()
    n = 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got.update(b)
        n += len(b)
    t.join()
    secs = time.time() - start
    assert n == total, "echoed %d of %d bytes" % (n, total)
    assert sent.digest() == got.digest(), "checksum of the echoed data differs"
    print("%d MiB echoed, sha256 matches, %.1f MB/s each way" % (total >> 20, total / secs / 1e6))
