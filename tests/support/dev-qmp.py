#!/usr/bin/env python3
"""Runs QMP commands on a VM's QMP socket (device hot add/remove in the device service tests).
  dev-qmp.py SOCKET 'JSON' ['JSON'...]     exits non-zero on an error reply"""
import json, socket, sys

s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # greeting
for cmd in ['{"execute":"qmp_capabilities"}'] + sys.argv[2:]:
    f.write(cmd + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" in r:
            continue
        if "error" in r:
            sys.exit("QMP error for %s: %s" % (cmd, r["error"].get("desc")))
        break
