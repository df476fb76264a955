#!/usr/bin/env python3
"""Loopback HTTP server for fetch tests (python3 stdlib only).

Serves --root on 127.0.0.1 at a free port, which it writes to --port-file once
listening (written to a temporary name and renamed, so a reader never sees half of
it). Every request is appended to --log as one line, "METHOD PATH" plus
" range=VALUE" when a Range header was sent, so tests can assert how many requests
were made (or that none was). Single byte ranges are honoured (206).

Fault modes, chosen by the first path segment, which is then stripped to find the
file (so /flaky/a.tar.xz serves ROOT/a.tar.xz):
  /404/...       404 Not Found
  /stall/...     headers and the first --stall-bytes of the body, then silence
  /truncate/...  headers and half of the body, then the connection is closed;
                 only the first --truncate requests for a path, later ones work
  /flaky/...     503 for the first --flaky requests for a path, later ones work
  /norange/...   ignores Range and always sends the whole file (200)
"""
import argparse
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("404", "stall", "truncate", "flaky", "norange")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: simple, deterministic
    server_version = "revm-test-httpd"

    def log_message(self, fmt, *args):  # keep stderr quiet; we keep our own log
        pass

    def record(self):
        line = f"{self.command} {self.path}"
        rng = self.headers.get("Range")
        if rng:
            line += f" range={rng}"
        with self.server.lock:
            with open(self.server.opts.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def count(self, key):
        with self.server.lock:
            n = self.server.counts.get(key, 0) + 1
            self.server.counts[key] = n
            return n

    def do_HEAD(self):
        self.handle_get(head=True)

    def do_GET(self):
        self.handle_get(head=False)

    def handle_get(self, head):
        self.record()
        opts = self.server.opts
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        mode = None
        parts = path.lstrip("/").split("/", 1)
        if len(parts) == 2 and parts[0] in MODES:
            mode, path = parts[0], "/" + parts[1]
        if mode == "404":
            return self.send_error(404)
        if mode == "flaky" and self.count(("flaky", path)) <= opts.flaky:
            return self.send_error(503)

        rel = os.path.normpath(path.lstrip("/"))
        if rel.startswith("..") or os.path.isabs(rel):
            return self.send_error(403)
        full = os.path.join(opts.root, rel)
        if not os.path.isfile(full):
            return self.send_error(404)
        with open(full, "rb") as f:
            data = f.read()

        start, end, status = 0, len(data), 200
        rng = self.headers.get("Range")
        if rng and mode != "norange":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                return self.send_error(416)
            if m.group(1) == "":
                start = max(0, len(data) - int(m.group(2)))
            else:
                start = int(m.group(1))
                if m.group(2) != "":
                    end = min(len(data), int(m.group(2)) + 1)
            if start >= len(data) or start >= end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206

        body = data[start:end]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        if mode == "stall":
            self.wfile.write(body[: opts.stall_bytes])
            self.wfile.flush()
            time.sleep(3600)  # the client must give up on its own
            return
        if mode == "truncate" and self.count(("truncate", path)) <= opts.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="directory to serve")
    ap.add_argument("--port-file", required=True, help="file to write the port to")
    ap.add_argument("--log", required=True, help="request log, one line per request")
    ap.add_argument("--flaky", type=int, default=2, help="503s per path under /flaky/")
    ap.add_argument("--truncate", type=int, default=1, help="cut responses per path under /truncate/")
    ap.add_argument("--stall-bytes", type=int, default=1024, help="bytes sent under /stall/")
    opts = ap.parse_args()
    opts.root = os.path.abspath(opts.root)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.opts = opts
    srv.lock = threading.Lock()
    srv.counts = {}
    open(opts.log, "a", encoding="utf-8").close()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
