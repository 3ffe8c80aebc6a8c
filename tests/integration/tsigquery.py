#!/usr/bin/env python3
"""TSIG-signed queries (RFC 8945) that dig cannot send, and a check of the
answer's TSIG with an implementation of our own (Python's hmac), independent
of resolverd's.

    tsigquery.py [--src ADDR] [--tcp [--repeat N]] SERVER PORT KEYNAME ALGORITHM SECRET NAME TYPE CASE

CASE is one of:
    good           a correctly signed query
    badtime        signed 1000 s in the past (beyond the 300 s fudge)
    trunc:N        the MAC cut to N bytes (half the hash: legal, but below our
                   full-length minimum; below max(10, half): malformed)
    notlast        an A record after the TSIG in the additional section
    inanswer       the TSIG record in the answer section
    badrdata       the TSIG RDATA cut short by 3 bytes
    badmac         one bit of the MAC flipped
    twotsig        two TSIG records
    newid          a correctly signed query whose id a proxy changed in transit
    compressed     the key name (the TSIG owner) compressed against the question
    bigfudge       signed 1000 s ago with a fudge of 2000 s

--repeat N sends N such queries pipelined on one TCP connection (each
signed on its own) and prints one line per answer, in order.

Prints one line: "rcode=NAME tsig=ERROR|none mac=N other=N verified=yes|no|- ancount=N",
or "noanswer". verified: whether the answer's MAC checks with the key over
the request MAC (RFC 8945 4.3.3); "-" for an unsigned answer.
"""
import argparse
import base64
import hashlib
import hmac
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 9: "NOTAUTH"}
TSIG_ERRORS = {0: "NOERROR", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC"}
TYPES = {"A": 1, "SRV": 33, "TXT": 16, "AAAA": 28}
HASHES = {"hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
          "hmac-sha512": hashlib.sha512}


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.lower().encode()
    return out + b"\x00"


def variables(key, alg, when, fudge, error, other):
    return (name(key) + struct.pack("!HI", 255, 0) + name(alg) +
            struct.pack("!HIH", when >> 32, when & 0xffffffff, fudge) +
            struct.pack("!HH", error, len(other)) + other)


def tsig_rr(key, alg, when, fudge, mac, orig_id, error=0, other=b""):
    rdata = (name(alg) + struct.pack("!HIH", when >> 32, when & 0xffffffff, fudge) +
             struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", orig_id, error, len(other)) + other)
    return name(key) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata


def skip_name(msg, o):
    while True:
        n = msg[o]
        if n == 0:
            return o + 1
        if n & 0xc0 == 0xc0:
            return o + 2
        o += 1 + n


def read_tsig(msg):
    """The last record if it is a TSIG: (start, fields) or None."""
    qd, an, ns, ar = struct.unpack("!HHHH", msg[4:12])
    o = 12
    for _ in range(qd):
        o = skip_name(msg, o) + 4
    start = None
    for _ in range(an + ns + ar):
        start = o
        o = skip_name(msg, o)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[o:o + 10])
        rd = o + 10
        o = rd + rdlen
    if start is None or rtype != 250:
        return None, None, an
    p = skip_name(msg, rd)
    hi, lo, fudge, maclen = struct.unpack("!HIHH", msg[p:p + 10])
    mac = msg[p + 10:p + 10 + maclen]
    q = p + 10 + maclen
    orig, error, olen = struct.unpack("!HHH", msg[q:q + 6])
    other = msg[q + 6:q + 6 + olen]
    return start, dict(when=(hi << 32) | lo, fudge=fudge, mac=mac, orig=orig, error=error,
                       other=other), an


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=None)
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("server")
    ap.add_argument("port", type=int)
    ap.add_argument("key")
    ap.add_argument("alg")
    ap.add_argument("secret")
    ap.add_argument("qname")
    ap.add_argument("qtype")
    ap.add_argument("case")
    a = ap.parse_args()
    secret = base64.b64decode(a.secret)
    digest = HASHES[a.alg]
    msgs = [build(a, secret, digest, 0x4242 + i) for i in range(a.repeat)]
    fam = socket.AF_INET6 if ":" in a.server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if a.tcp else socket.SOCK_DGRAM)
    s.settimeout(3)
    if a.src:
        s.bind((a.src, 0))
    resps = []
    try:
        if a.tcp:
            s.connect((a.server, a.port))
            s.sendall(b"".join(struct.pack("!H", len(m)) + m for m, _ in msgs))
            for _ in msgs:
                n = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
                resps.append(s.recv(n, socket.MSG_WAITALL))
        else:
            s.sendto(msgs[0][0], (a.server, a.port))
            resps.append(s.recvfrom(65535)[0])
    except (socket.timeout, OSError, struct.error):
        print("noanswer")
        return 0
    for resp, (_, mac) in zip(resps, msgs):
        print(describe(a, secret, digest, resp, mac))
    return 0


def build(a, secret, digest, qid):
    """One query of the case, signed: (message, the MAC it carries)."""
    when = int(time.time()) - (1000 if a.case in ("badtime", "bigfudge") else 0)
    fudge = 2000 if a.case == "bigfudge" else 300
    body = name(a.qname) + struct.pack("!HH", TYPES[a.qtype], 1)
    head = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    mac = hmac.new(secret, head + body + variables(a.key, a.alg, when, fudge, 0, b""), digest).digest()
    if a.case.startswith("trunc:"):
        mac = mac[:int(a.case[6:])]
    elif a.case == "badmac":
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    rr = tsig_rr(a.key, a.alg, when, fudge, mac, qid)
    if a.case == "badrdata":
        kl = len(name(a.key))
        rr = rr[:-3]
        rr = rr[:kl + 8] + struct.pack("!H", len(rr) - kl - 10) + rr[kl + 10:]
    if a.case == "notlast":
        extra = name("x.test") + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01\x02\x03\x04"
        return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 2) + body + rr + extra, mac
    if a.case == "inanswer":
        return struct.pack("!HHHHHH", qid, 0x0100, 1, 1, 0, 0) + body + rr, mac
    if a.case == "twotsig":
        return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 2) + body + rr + rr, mac
    if a.case == "newid":
        return struct.pack("!HHHHHH", qid ^ 0x5a5a, 0x0100, 1, 0, 0, 1) + body + rr, mac
    if a.case == "compressed":
        first, rest = a.key.split(".", 1)
        at = 12 + body.index(name(rest))
        owner = bytes([len(first)]) + first.encode() + struct.pack("!H", 0xc000 | at)
        rr = owner + rr[len(name(a.key)):]
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + body + rr, mac


def describe(a, secret, digest, resp, mac):
    """The line for one answer, its TSIG checked over the request's MAC."""
    rcode = RCODES.get(resp[3] & 0x0f, str(resp[3] & 0x0f))
    start, t, an = read_tsig(resp)
    if t is None:
        return f"rcode={rcode} tsig=none mac=0 other=0 verified=- ancount={an}"
    verified = "-"
    if t["mac"]:
        # RFC 8945 4.3.3: request MAC, the answer without its TSIG, the variables
        plain = bytearray(resp[:start])
        struct.pack_into("!H", plain, 0, t["orig"])
        struct.pack_into("!H", plain, 10, struct.unpack("!H", resp[10:12])[0] - 1)
        data = struct.pack("!H", len(mac)) + mac + bytes(plain) + \
            variables(a.key, a.alg, t["when"], t["fudge"], t["error"], t["other"])
        good = hmac.new(secret, data, digest).digest()
        verified = "yes" if hmac.compare_digest(good, t["mac"]) else "no"
    return (f"rcode={rcode} tsig={TSIG_ERRORS.get(t['error'], t['error'])} mac={len(t['mac'])} "
            f"other={len(t['other'])} verified={verified} ancount={an}")


if __name__ == "__main__":
    sys.exit(main())
