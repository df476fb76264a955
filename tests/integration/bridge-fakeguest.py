#!/usr/bin/env python3
"""A deliberately misbehaving guest for the bridge host tests (PROTOCOL.md, version 1).

Listens on a unix socket and speaks the guest side of the protocol to every host that
connects (revm directly, or a `revm mux`). The program name in each exec OPEN picks a
behaviour; the protocol replies it receives from the host are logged one per line to LOG, so
the test can check the host answered as PROTOCOL.md's table says.

usage: bridge-fakeguest.py SOCKET LOG
"""
import os
import socket
import struct
import sys
import threading

HDR = struct.Struct('<IIBBH')
HELLO, PING, PONG, ERROR, GOODBYE = 1, 2, 3, 4, 5
OPEN, OPEN_OK, CH_ERROR, DATA, EOF, CREDIT, CLOSE = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
EXIT = 0x22
log_lock = threading.Lock()


def frame(t, chan, payload=b''):
    return HDR.pack(len(payload), chan, t, 0, 0) + payload


def pstr(b):
    return struct.pack('<I', len(b)) + b


def hello(max_frame=256 * 1024, window=1 << 20):
    return frame(HELLO, 0, struct.pack('<IHHIII', 0x424d5652, 1, 1, 3, max_frame, window) +
                 pstr(b'fake-guest 1 (misbehaving on purpose)'))


class Conn:
    def __init__(self, sock, logf):
        self.s = sock
        self.buf = b''
        self.logf = logf

    def log(self, line):
        with log_lock:
            with open(self.logf, 'a') as f:
                f.write(line + '\n')

    def recv_frame(self):
        while True:
            if len(self.buf) >= 12:
                n, chan, t, _, _ = HDR.unpack_from(self.buf)
                if len(self.buf) >= 12 + n:
                    pl = self.buf[12:12 + n]
                    self.buf = self.buf[12 + n:]
                    return chan, t, pl
            d = self.s.recv(1 << 20)
            if not d:
                return None
            self.buf += d

    def send(self, data):
        self.s.sendall(data)

    def expect_reply(self, want_type):
        """Reads until a frame of want_type; logs error replies. Returns its payload."""
        while True:
            f = self.recv_frame()
            if f is None:
                self.log('host closed the connection')
                return None
            chan, t, pl = f
            if t in (ERROR, CH_ERROR):
                code = struct.unpack_from('<I', pl)[0]
                self.log('got %s %d' % ('ERROR' if t == ERROR else 'CH_ERROR', code))
            if t == want_type:
                return chan, pl


def finish_ok(c, chan, text=b'ok\n'):
    c.send(frame(DATA, chan, b'\x01' + text) + frame(EXIT, chan, struct.pack('<BiB', 0, 0, 0)) +
           frame(CLOSE, chan))


def on_open(c, chan, name):
    c.log('open %s' % name)
    ok = frame(OPEN_OK, chan, struct.pack('<I', 4242))
    if name == 'ok':
        c.send(ok)
        finish_ok(c, chan)
    elif name == 'truncated':
        c.send(ok + frame(DATA, chan, b'\x01partial')[:9])
        return False
    elif name == 'oversized':
        c.send(ok + HDR.pack(0x7fffffff, chan, DATA, 0, 0) + b'\x01xxxx')
    elif name == 'unknown-control':
        c.send(ok + frame(0x7e, 0, b'??'))
        c.expect_reply(ERROR)
        finish_ok(c, chan)
    elif name == 'unknown-type':
        c.send(ok + frame(0x99, chan, b''))
        c.expect_reply(CH_ERROR)
    elif name == 'closed-channel':
        c.send(ok + frame(DATA, chan + 1000, b'\x01stray'))
        c.expect_reply(CH_ERROR)
        finish_ok(c, chan)
    elif name == 'credit-overflow':
        c.send(ok + frame(CREDIT, chan, struct.pack('<BI', 0, 0xffffffff)))
        c.expect_reply(CH_ERROR)
    elif name == 'data-overflow':
        # Far more than any window without waiting for credit; the host's reader is stalled.
        c.send(ok)
        try:
            for _ in range(80):
                c.send(frame(DATA, chan, b'\x01' + b'x' * (256 * 1024 - 1)))
        except OSError:
            pass
        c.expect_reply(CH_ERROR)
    elif name == 'bad-exit':
        c.send(ok + frame(EXIT, chan, struct.pack('<BiB', 9, 0, 0)))
        c.expect_reply(CH_ERROR)
    elif name == 'data-before-open':
        c.send(frame(DATA, chan, b'\x01early'))
        c.expect_reply(CH_ERROR)
    elif name == 'goodbye':
        c.send(ok + frame(GOODBYE, 0, pstr(b'going away for a test')))
        return False
    else:
        c.send(frame(CH_ERROR, chan, struct.pack('<I', 2) +
                     pstr(b'no such program in the VM: ' + name.encode())))
    return True


def serve(sock, logf):
    c = Conn(sock, logf)
    try:
        f = c.recv_frame()
        if f is None or f[1] != HELLO:
            return
        c.send(hello())
        while True:
            f = c.recv_frame()
            if f is None:
                return
            chan, t, pl = f
            if t == PING:
                c.send(frame(PONG, 0, pl))
            elif t == HELLO:
                c.send(hello())
            elif t == OPEN:
                # service u16, flags u32, rows u16, cols u16, user str, cwd str, argc u32, argv...
                off = 2 + 4 + 2 + 2
                for _ in range(2):
                    n = struct.unpack_from('<I', pl, off)[0]
                    off += 4 + n
                argc = struct.unpack_from('<I', pl, off)[0]
                off += 4
                name = ''
                if argc:
                    n = struct.unpack_from('<I', pl, off)[0]
                    name = pl[off + 4:off + 4 + n].decode(errors='replace')
                if not on_open(c, chan, name):
                    return
            elif t in (ERROR, CH_ERROR):
                c.log('got %s %d' % ('ERROR' if t == ERROR else 'CH_ERROR',
                                      struct.unpack_from('<I', pl)[0]))
    except OSError:
        pass
    finally:
        sock.close()


def main():
    path, logf = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s, logf), daemon=True).start()


if __name__ == '__main__':
    main()
