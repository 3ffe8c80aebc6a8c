#!/usr/bin/python3
"""Log the connection attempts and DNS questions a namespace sends.

    sniff.py IFACE OUTFILE [SECONDS]

Run inside a server's network namespace by tests/e2e/test_policy_push.sh: it
reads every frame leaving IFACE (an AF_PACKET socket, Python's standard
library only) and appends one line per interesting packet to OUTFILE:

    syn  T SRC DST DPORT          a TCP SYN (a connection attempt)
    dns  T SRC DST DPORT QNAME    a DNS question over UDP (any port)

T is the wall-clock time in milliseconds. Stops after SECONDS (default 300),
or on SIGTERM. IPv4 only (the test network has no IPv6).
"""

import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def qname(payload):
    """The first question's name of a DNS message, or None."""
    if len(payload) < 12:
        return None
    qdcount = struct.unpack("!H", payload[4:6])[0]
    if qdcount < 1 or payload[2] & 0x80:  # not a query
        return None
    labels, i = [], 12
    while i < len(payload):
        n = payload[i]
        if n == 0:
            return ".".join(labels).lower() + "."
        if n & 0xC0 or i + 1 + n > len(payload):
            return None
        labels.append(payload[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return None


def main():
    iface, out = sys.argv[1], sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.5)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + limit
    with open(out, "a", buffering=1, encoding="ascii") as f:
        f.write("ready %d\n" % int(time.time() * 1000))
        while time.monotonic() < deadline:
            try:
                frame, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] != PACKET_OUTGOING or len(frame) < 34:
                continue
            if struct.unpack("!H", frame[12:14])[0] != 0x0800:  # IPv4
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            proto = ip[9]
            src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
            l4 = ip[ihl:]
            now = int(time.time() * 1000)
            if proto == 6 and len(l4) >= 14:
                dport = struct.unpack("!H", l4[2:4])[0]
                flags = l4[13]
                if flags & 0x02 and not flags & 0x10:  # SYN without ACK
                    f.write("syn %d %s %s %d\n" % (now, src, dst, dport))
            elif proto == 17 and len(l4) >= 8:
                dport = struct.unpack("!H", l4[2:4])[0]
                name = qname(l4[8:])
                if name:
                    f.write("dns %d %s %s %d %s\n" % (now, src, dst, dport, name))


if __name__ == "__main__":
    main()
