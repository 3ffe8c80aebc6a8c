#!/usr/bin/python3
"""A decoy DNS server for the end-to-end test: counts the queries it gets.

    dnsdecoy.py ADDR PORT COUNTFILE SECONDS

Listens on UDP ADDR:PORT for at most SECONDS, answers every query REFUSED,
and keeps COUNTFILE up to date with one line per query: "QNAME SOURCE".
Used to see whether a server's resolver asks anybody besides resolverd.
"""
import socket
import sys
import time


def main():
    addr, port, countfile, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    end = time.monotonic() + seconds
    with open(countfile, "a", buffering=1) as out:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, src = s.recvfrom(4096)
            except socket.timeout:
                break
            if len(data) < 17:
                continue
            i, labels = 12, []
            while i < len(data) and data[i] and len(labels) < 64:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
                i += n + 1
            out.write("%s %s\n" % (".".join(labels) + ".", src[0]))
            resp = bytearray(data[:12])
            resp[2] = (resp[2] | 0x80) & 0xFB          # QR=1, AA=0
            resp[3] = (resp[3] & 0xF0) | 5             # REFUSED
            resp[6:12] = b"\x00\x00\x00\x00\x00\x00"   # no records
            s.sendto(bytes(resp) + data[12:i + 5], src)


if __name__ == "__main__":
    main()
