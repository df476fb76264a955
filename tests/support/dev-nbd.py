#!/usr/bin/env python3
"""A small NBD client for the device service tests (fixed newstyle handshake with NBD_OPT_GO,
simple replies), independent of the server under test.

  dev-nbd.py SOCKET extents SEED COUNT REFFILE  random unaligned extents (some larger than
      one device request, so they are split), written pipelined, applied to REFFILE, flushed,
      read back and compared
  dev-nbd.py SOCKET load SECONDS LOGFILE        64 KiB writes to distinct slots with a flush
      every 8; after each acknowledged flush, appends "slot sha256" of the flushed writes to
      LOGFILE (what must survive a restart)
  dev-nbd.py SOCKET verify LOGFILE              every slot in LOGFILE reads back with its hash
  dev-nbd.py SOCKET hostile                     protocol abuse and clients that never read
      their replies; the server must stay up and keep serving others
"""
import hashlib, os, random, socket, struct, sys, time

NBDMAGIC, IHAVEOPT, REPMAGIC = 0x4e42444d41474943, 0x49484156454f5054, 0x3e889045565a9
REQ, REPLY = 0x25609513, 0x67446698
READ, WRITE, DISC, FLUSH = 0, 1, 2, 3


def recvall(s, n):
    b = bytearray()
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError("server closed the connection")
        b += k
    return bytes(b)


class Nbd:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        magic, opt, flags = struct.unpack(">QQH", recvall(self.s, 18))
        assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
        self.s.sendall(struct.pack(">I", 3))
        name = b""
        data = struct.pack(">I", len(name)) + name + struct.pack(">HH", 1, 3)
        self.s.sendall(struct.pack(">QII", IHAVEOPT, 7, len(data)) + data)
        self.size = None
        while True:
            m, o, t, ln = struct.unpack(">QIII", recvall(self.s, 20))
            assert m == REPMAGIC, "bad option reply"
            d = recvall(self.s, ln)
            if t == 3 and struct.unpack(">H", d[:2])[0] == 0:
                self.size, self.tflags = struct.unpack(">QH", d[2:12])
            elif t == 1:
                break
            elif t & 0x80000000:
                raise RuntimeError("NBD_OPT_GO refused: %x" % t)
        self.handle = 0
        self.pending = {}

    def send(self, typ, off, ln, data=b"", flags=0):
        self.handle += 1
        self.s.sendall(struct.pack(">IHHQQI", REQ, flags, typ, self.handle, off, ln) + data)
        self.pending[self.handle] = (typ, ln)
        return self.handle

    def reply(self):
        m, err, h = struct.unpack(">IIQ", recvall(self.s, 16))
        assert m == REPLY, "bad reply magic"
        typ, ln = self.pending.pop(h)
        data = recvall(self.s, ln) if typ == READ and err == 0 else b""
        return h, err, data

    def call(self, typ, off, ln, data=b""):
        h = self.send(typ, off, ln, data)
        rh, err, d = self.reply()
        assert rh == h
        return err, d


def extents(sock, seed, count, ref):
    rnd = random.Random(int(seed))
    n = Nbd(sock)
    with open(ref, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        assert n.size == size, "export size %d, file %d" % (n.size, size)
        exts = []
        for i in range(int(count)):
            ln = rnd.choice([1, 511, 4096, 65536 + 3, 1 << 20, (3 << 20) + 17, rnd.randrange(1, 300000)])
            off = rnd.randrange(0, size - ln)
            data = rnd.randbytes(ln)
            exts.append((off, ln))
            n.send(WRITE, off, ln, data)
            f.seek(off)
            f.write(data)
            if len(n.pending) >= 8:
                h, err, _ = n.reply()
                assert err == 0, "write failed: %d" % err
        while n.pending:
            h, err, _ = n.reply()
            assert err == 0, "write failed: %d" % err
        assert n.call(FLUSH, 0, 0)[0] == 0
        for off, ln in exts:
            f.seek(off)
            want = f.read(ln)
            err, got = n.call(READ, off, ln)
            assert err == 0 and got == want, "extent %d+%d reads back differently" % (off, ln)
        # Out of range and oversized requests are refused, not served.
        assert n.call(READ, size - 10, 20)[0] != 0, "read past the end was served"
    n.s.sendall(struct.pack(">IHHQQI", REQ, 0, DISC, 0, 0, 0))
    print("%d extents written, flushed, read back" % len(exts))


def load(sock, seconds, log):
    n = Nbd(sock)
    slots = n.size // 65536
    end = time.time() + float(seconds)
    i, unflushed = 0, []
    with open(log, "a") as lf:
        while time.time() < end and i < slots:
            data = os.urandom(65536)
            n.send(WRITE, i * 65536, 65536, data)
            unflushed.append((i, hashlib.sha256(data).hexdigest()))
            i += 1
            if len(n.pending) >= 8:
                _, err, _ = n.reply()
                assert err == 0
            if len(unflushed) == 8:
                while n.pending:
                    assert n.reply()[1] == 0
                assert n.call(FLUSH, 0, 0)[0] == 0
                for s, h in unflushed:
                    lf.write("%d %s\n" % (s, h))
                lf.flush()
                unflushed = []
    print("%d writes, %d slots flushed" % (i, i - len(unflushed)))


def verify(sock, log):
    n = Nbd(sock)
    count = 0
    for line in open(log):
        s, h = line.split()
        err, d = n.call(READ, int(s) * 65536, 65536)
        assert err == 0 and hashlib.sha256(d).hexdigest() == h, "flushed slot %s lost" % s
        count += 1
    print("%d flushed writes intact" % count)


def hostile(sock):
    # Garbage instead of client flags, a huge option, a bad request magic, a request past the
    # end: each ends that client or is refused; a fresh client still works afterwards.
    for junk in [b"\xff" * 4, struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, 1, 1 << 30)]:
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        recvall(s, 18)
        s.sendall(junk)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    n = Nbd(sock)
    n.s.sendall(struct.pack(">IHHQQI", 0xdeadbeef, 0, READ, 1, 0, 512))
    n.s.settimeout(5)
    try:
        assert n.s.recv(16) == b"", "server answered a request with a bad magic"
    except ConnectionResetError:
        pass
    n = Nbd(sock)
    assert n.call(READ, n.size, 512)[0] != 0
    assert n.call(READ, 0, 64 << 20)[0] != 0
    assert n.call(9, 0, 0)[0] != 0
    err, d = n.call(READ, 0, 4096)
    assert err == 0 and len(d) == 4096
    # Clients that send without ever reading: option floods during the handshake and
    # thousands of 1 MiB reads. The server must stop reading them (bounded memory) and keep
    # serving others.
    floods = []
    for opts in [True, False]:
        f = Nbd(sock) if not opts else socket.socket(socket.AF_UNIX)
        s = f.s if not opts else f
        if opts:
            s.connect(sock)
            recvall(s, 18)
            s.sendall(struct.pack(">I", 3))
            msg = struct.pack(">QII", IHAVEOPT, 3, 0) * 40000
        else:
            msg = b"".join(struct.pack(">IHHQQI", REQ, 0, READ, h, 0, 1 << 20) for h in range(4000))
        s.settimeout(3)
        try:
            s.sendall(msg)
        except socket.timeout:
            pass
        floods.append(s)
    n = Nbd(sock)
    err, d = n.call(READ, 4096, 4096)
    assert err == 0 and len(d) == 4096, "server stopped serving during a flood"
    for s in floods:
        s.close()
    print("hostile NBD clients refused; server still serves")


if __name__ == "__main__":
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    {"extents": extents, "load": load, "verify": verify, "hostile": hostile}[cmd](sock, *args)
