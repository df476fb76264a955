#!/usr/bin/env python3
"""Host-side measuring helper for tests/bench/vm.sh (standard library only).

  agent.py exec SOCK N           qemu-guest-agent round trip: guest-exec of /bin/true, then
                                 guest-exec-status polled back to back until it has exited;
                                 prints each of the N round trips in microseconds, one a line.
  agent.py read SOCK PATH        qemu-guest-agent file transfer: guest-file-open, guest-file-read
                                 (base64 in JSON) until EOF, guest-file-close; prints
                                 "BYTES SECONDS" (decoding included: a client must decode).
  agent.py raw SOCK BYTES CMD..  raw virtio-serial: connect to the port's host socket, run CMD
                                 (which makes the guest write into the port), read BYTES;
                                 prints "BYTES SECONDS" from CMD's start to the last byte.

SOCK is a QEMU chardev socket (server=on); this is the only client. Nothing here asserts on
time: the script prints what it measured.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import time

# guest-file-read's count per call. The agent allows up to 48 MiB; 4 MiB keeps each JSON reply
# moderate while the per-call overhead is already small: the agent's best case, to be fair.
READ_CHUNK = 4 << 20


class Agent:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.rd = self.sock.makefile("rb", buffering=1 << 20)
        # guest-sync: the documented way to discard anything stale in the channel and to learn
        # that the agent is up (an agent that is not running yet simply never answers).
        token = os.getpid() * 1000 + 7
        self.send({"execute": "guest-sync", "arguments": {"id": token}})
        while True:
            reply = self.reply()
            if reply.get("return") == token:
                break

    def send(self, msg):
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def reply(self):
        line = self.rd.readline()
        if not line:
            sys.exit("agent.py: the agent closed the channel")
        line = line.lstrip(b"\xff")  # a sync delimiter, if any
        if not line.strip():
            return {}
        return json.loads(line)

    def call(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.send(msg)
        while True:
            r = self.reply()
            if "error" in r:
                sys.exit(f"agent.py: {cmd}: {r['error'].get('desc', r['error'])}")
            if "return" in r:
                return r["return"]


def cmd_exec(sock, n):
    a = Agent(sock)
    for _ in range(int(n)):
        t0 = time.perf_counter()
        pid = a.call("guest-exec", path="/bin/true")["pid"]
        while not a.call("guest-exec-status", pid=pid).get("exited"):
            pass
        print(int((time.perf_counter() - t0) * 1e6))


def cmd_read(sock, path):
    a = Agent(sock)
    t0 = time.perf_counter()
    h = a.call("guest-file-open", path=path, mode="r")
    total = 0
    while True:
        r = a.call("guest-file-read", handle=h, count=READ_CHUNK)
        total += len(base64.b64decode(r.get("buf-b64", "")))
        if r.get("eof") or r.get("count", 0) == 0:
            break
    a.call("guest-file-close", handle=h)
    print(total, time.perf_counter() - t0)


def cmd_raw(sock, nbytes, argv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    want = int(nbytes)
    buf = bytearray(1 << 20)
    got = 0
    t0 = time.perf_counter()
    writer = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    while got < want:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    t1 = time.perf_counter()
    writer.wait()
    print(got, t1 - t0)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "exec":
        cmd_exec(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "read":
        cmd_read(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "raw":
        cmd_raw(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
