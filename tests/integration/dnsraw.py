#!/usr/bin/env python3
"""Raw DNS packets for the integration test: what dig cannot send.

    dnsraw.py [--src ADDR] [--timeout S] SERVER PORT CASE [ARGS...]

UDP cases (print "rcode=NAME id=ok|bad qr=1 ancount=N size=N" or "noanswer"):
    formerr-truncated   header QDCOUNT=1, question name cut off mid-label
    formerr-noqtype     header QDCOUNT=1, full name, QTYPE/QCLASS missing
    formerr-badlabel    header QDCOUNT=1, label length pointing past the end
    qdcount0            a header with QDCOUNT=0 and nothing else
    short               5 bytes (shorter than a header): expect noanswer
    header-only         12 bytes, QDCOUNT=1, no question
    qr-set NAME         a well-formed query for NAME A with QR=1: expect noanswer
    opcode N NAME       a well-formed query for NAME A with opcode N
    query NAME [TYPE]   a well-formed query
    fuzz N              send N random packets (no answer awaited); print "sent N"

TCP cases:
    tcp-multi NAME...   one connection, one query per NAME (type A) sent one
                        after the other, then the same names pipelined (all sent
                        before reading); print one line per answer:
                        "NAME rcode=NAME ancount=N"
    tcp-split NAME      the 2-byte length and the message in separate writes,
                        the message itself split in two; print as "query"
    tcp-formerr         a truncated question over TCP; print as "query"
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 9: "NOTAUTH"}
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def header(qid, qr=0, opcode=0, rd=1, qd=1, an=0, ns=0, ar=0):
    flags = (qr << 15) | (opcode << 11) | (rd << 8)
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def query(qid, name, qtype="A", qr=0, opcode=0):
    return header(qid, qr=qr, opcode=opcode) + encode_name(name) + \
        struct.pack("!HH", TYPES.get(qtype.upper(), 1), 1)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def describe(resp, qid):
    if len(resp) < 12:
        return "short-answer size=%d" % len(resp)
    rid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", resp[:12])
    rcode = flags & 0xF
    return "rcode=%s id=%s qr=%d opcode=%d tc=%d ancount=%d size=%d" % (
        RCODES.get(rcode, str(rcode)), "ok" if rid == qid else "bad",
        flags >> 15, (flags >> 11) & 0xF, (flags >> 9) & 1, an, len(resp))


def udp(args, pkt, qid):
    s = socket.socket(family(args.server), socket.SOCK_DGRAM)
    if args.src:
        s.bind((args.src, 0))
    s.settimeout(args.timeout)
    s.sendto(pkt, (args.server, args.port))
    try:
        resp, _ = s.recvfrom(65535)
    except socket.timeout:
        return "noanswer"
    finally:
        s.close()
    return describe(resp, qid)


def tcp_connect(args):
    s = socket.socket(family(args.server), socket.SOCK_STREAM)
    if args.src:
        s.bind((args.src, 0))
    s.settimeout(args.timeout)
    s.connect((args.server, args.port))
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_read(s):
    (length,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, length)


def framed(pkt):
    return struct.pack("!H", len(pkt)) + pkt


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src")
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("server")
    p.add_argument("port", type=int)
    p.add_argument("case")
    p.add_argument("rest", nargs="*")
    args = p.parse_args()
    qid = random.randint(1, 0xFFFF)
    c, rest = args.case, args.rest

    try:
        if c == "formerr-truncated":
            print(udp(args, header(qid) + b"\x07example\x03te", qid))
        elif c == "formerr-noqtype":
            print(udp(args, header(qid) + encode_name("www.community.test"), qid))
        elif c == "formerr-badlabel":
            print(udp(args, header(qid) + b"\x3fabc", qid))
        elif c == "qdcount0":
            print(udp(args, header(qid, qd=0), qid))
        elif c == "short":
            print(udp(args, os.urandom(5), qid))
        elif c == "header-only":
            print(udp(args, header(qid), qid))
        elif c == "qr-set":
            print(udp(args, query(qid, rest[0], qr=1), qid))
        elif c == "opcode":
            print(udp(args, query(qid, rest[1], opcode=int(rest[0])), qid))
        elif c == "query":
            print(udp(args, query(qid, rest[0], rest[1] if len(rest) > 1 else "A"), qid))
        elif c == "fuzz":
            n = int(rest[0])
            rnd = random.Random(int(rest[1]) if len(rest) > 1 else 4242)
            s = socket.socket(family(args.server), socket.SOCK_DGRAM)
            if args.src:
                s.bind((args.src, 0))
            for i in range(n):
                kind = i % 4
                if kind == 0:      # pure garbage of any length
                    pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
                elif kind == 1:    # a valid query with random bytes flipped
                    pkt = bytearray(query(rnd.getrandbits(16), "_xmpp-server._tcp.b.test", "SRV"))
                    for _ in range(rnd.randint(1, 4)):
                        pkt[rnd.randrange(len(pkt))] = rnd.getrandbits(8)
                    pkt = bytes(pkt)
                elif kind == 2:    # a query with random counts and trailing junk
                    pkt = struct.pack("!HHHHHH", rnd.getrandbits(16), rnd.getrandbits(16) & 0x7FFF,
                                      rnd.getrandbits(16), rnd.getrandbits(16),
                                      rnd.getrandbits(16), rnd.getrandbits(16)) + \
                        encode_name("www.community.test") + \
                        bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 64)))
                else:              # compression pointer loops and odd labels in the question
                    pkt = header(rnd.getrandbits(16)) + rnd.choice(
                        [b"\xc0\x0c", b"\xc0\x0e\xc0\x0c", b"\x01a\xc0\x0c", b"\x40abc",
                         b"\x80", b"\x00\x00\xff\x00\x01", b"\x00\x00\x29\x00\x01" + b"\x00" * 11]) + \
                        bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 16)))
                s.sendto(pkt, (args.server, args.port))
                if i % 50 == 49:
                    time.sleep(0.01)
            s.close()
            print("sent %d" % n)
        elif c == "tcp-multi":
            s = tcp_connect(args)
            ids = []
            for name in rest:                       # one after the other
                q = random.randint(1, 0xFFFF)
                s.sendall(framed(query(q, name)))
                print("%s %s" % (name, describe(tcp_read(s), q)))
            ids = [(random.randint(1, 0xFFFF), name) for name in rest]
            s.sendall(b"".join(framed(query(q, name)) for q, name in ids))  # pipelined
            answers = {}
            for _ in ids:
                resp = tcp_read(s)
                answers[struct.unpack("!H", resp[:2])[0]] = resp
            for q, name in ids:
                if q in answers:
                    print("%s %s" % (name, describe(answers[q], q)))
                else:
                    print("%s noanswer" % name)
            s.close()
        elif c == "tcp-split":
            s = tcp_connect(args)
            pkt = query(qid, rest[0])
            s.sendall(struct.pack("!H", len(pkt)))
            time.sleep(0.1)
            s.sendall(pkt[:7])
            time.sleep(0.1)
            s.sendall(pkt[7:])
            print(describe(tcp_read(s), qid))
            s.close()
        elif c == "tcp-formerr":
            s = tcp_connect(args)
            s.sendall(framed(header(qid) + b"\x07example\x03te"))
            print(describe(tcp_read(s), qid))
            s.close()
        else:
            p.error("unknown case %s" % c)
    except (socket.timeout, EOFError, ConnectionError) as e:
        print("noanswer (%s)" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
