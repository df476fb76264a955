#!/usr/bin/env python3
"""The far end of the driver VM's emulated NIC in the device service tests: QEMU's UDP socket
netdev on one side (one Ethernet frame per datagram, loopback only), a TAP interface on the
other, which the test moves into a network namespace of its own.

  dev-net-peer.py TAP LOCAL_PORT QEMU_PORT
Prints "ready" once the TAP exists; runs until killed.
"""
import fcntl, os, select, socket, struct, sys

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000

name, lport, qport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tap = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
udp.bind(("127.0.0.1", lport))
qemu = ("127.0.0.1", qport)
print("ready", flush=True)
while True:
    r, _, _ = select.select([tap, udp], [], [])
    if tap in r:
        for _ in range(64):
            try:
                f = os.read(tap, 65536)
            except BlockingIOError:
                break
            udp.sendto(f, qemu)
            if not select.select([tap], [], [], 0)[0]:
                break
    if udp in r:
        for _ in range(64):
            try:
                f = udp.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            try:
                os.write(tap, f)
            except OSError:
                pass
