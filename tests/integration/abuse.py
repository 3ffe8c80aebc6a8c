#!/usr/bin/env python3
"""Abusive DNS, TCP and XMPP clients for tests/integration/test_hardening.sh.

Python 3, standard library only. Every wait has a deadline. Each command
prints one result per line, as "key=value" words or "CASE<TAB>summary", for
the test script to assert on; the summary of a DNS answer is

    rcode=NOERROR id=ok qr=1 op=0 aa=0 tc=0 rd=1 ra=1 z=0 ad=0 cd=0
    qd=1 an=1 ns=0 ar=1 opt=1 ver=0 do=0 mbz=0 opts=- size=60

(rcode includes the extended RCODE of the OPT record: BADVERS), or
"noanswer" when nothing came back before the deadline, or "closed" when a
TCP connection was closed without an answer.

    abuse.py [--server A] --port P [--src A] COMMAND [ARGS...]

Commands:
    malformed NAME WILD   every malformed-message case, each followed by a
                          normal query for NAME over UDP and over TCP (WILD:
                          a wildcard zone, for the longest name)
    tcp-framing NAME...   1-byte writes, a length prefix then silence, and
                          pipelined queries (answers may come out of order)
    tcp-noread NAME SECS  pipeline queries for NAME for SECS seconds and
                          never read the answers (a new connection each
                          time the server closes one); half-way a query
                          from --other
    tcp-trickle N SRCS NAME  N connections from the addresses SRCS (comma
                          list) sending one byte a second; then a new
                          client's query for NAME (from --other), and a
                          client that keeps asking while one more (from
                          --third) connects
    tcp-per-source N SRC OTHER NAME  N connections from SRC, then a query
                          from OTHER
    tcp-dead-wait DEAD LIVE  a TCP query for DEAD (an upstream that never
                          answers), sent late in a wall-clock second, then
                          one for LIVE on the same connection
    blackhole             a UDP and TCP server on --port that reads and
                          never answers (runs until killed)
    latency SECS NAME ZONE  the answer times of one requester: a cached
                          NAME and new names under ZONE (a wildcard), in turn
    flood N ZONE SECS VSRC VNAME VZONE  N distinct names under ZONE from
                          --src in SECS seconds, while VSRC measures its
                          latency as in "latency"
    rrl N NAME IDSRC IDN  N queries for NAME from --src as fast as it can,
                          meanwhile IDN from IDSRC (an identified requester)
    burst N NAME TYPE SECS   N queries in about SECS seconds (starting at the
                          fraction --align of a wall-clock second); count
                          the answers
    sink-trickle N SRCS   N streams to the sink (--port) from SRCS, one byte
                          a second; then a stream header from --src
    sink-bomb             an XML entity bomb in front of a stream header
    sink-big MB           a stream header without its end, then MB MiB
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True     # nothing written next to the sources
# names in wire format (labels as given, not checked); the 2-byte TCP framing
from dnsraw import encode_name as wire, framed, tcp_read  # noqa: E402

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 9: "NOTAUTH", 16: "BADVERS", 23: "BADCOOKIE"}
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33,
         "OPT": 41, "DNSKEY": 48, "TSIG": 250, "IXFR": 251, "AXFR": 252, "ANY": 255}
T_OPT, T_TSIG = 41, 250

QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010


# ------------------------------------------------------------------ messages

def header(qid, flags=RD, opcode=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags | (opcode << 11), qd, an, ns, ar)


def question(name, qtype="A", qclass=1):
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    return (name if isinstance(name, bytes) else wire(name)) + struct.pack("!HH", t, qclass)


def rr(owner, rtype, rclass, ttl, rdata):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt(size=1232, version=0, flags=0, options=(), owner=b"\x00", ext_rcode=0, rdlen=None):
    rdata = b"".join(struct.pack("!HH", c, len(v)) + v for c, v in options)
    ttl = (ext_rcode << 24) | (version << 16) | flags
    n = len(rdata) if rdlen is None else rdlen
    return owner + struct.pack("!HHIH", T_OPT, size, ttl, n) + rdata


def query(qid, name, qtype="A", flags=RD, edns=None):
    """A well-formed query; edns: None, or a dict of opt() arguments."""
    ar = b"" if edns is None else opt(**edns)
    return header(qid, flags, ar=1 if ar else 0) + question(name, qtype) + ar


def skip_name(msg, o):
    """Offset after a (possibly compressed) name; raises on a bad one."""
    while True:
        n = msg[o]
        if n == 0:
            return o + 1
        if n & 0xC0 == 0xC0:
            return o + 2
        o += 1 + n


def parse(msg):
    """The fields of an answer, or None when it is not a DNS message."""
    if len(msg) < 12:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    d = {"id": qid, "flags": flags, "rcode": flags & 0xF, "qd": qd, "an": an, "ns": ns,
         "ar": ar, "opt": 0, "ver": 0, "do": 0, "mbz": 0, "opts": [], "size": len(msg),
         "types": []}
    try:
        o = 12
        for _ in range(qd):
            o = skip_name(msg, o) + 4
        for i in range(an + ns + ar):
            o = skip_name(msg, o)
            t, cls, ttl, rdlen = struct.unpack("!HHIH", msg[o:o + 10])
            rdata = msg[o + 10:o + 10 + rdlen]
            o += 10 + rdlen
            if i < an:
                d["types"].append(t)
            if t == T_OPT:
                d["opt"] = 1
                d["rcode"] |= (ttl >> 24) << 4
                d["ver"] = (ttl >> 16) & 0xFF
                d["do"] = 1 if ttl & 0x8000 else 0
                d["mbz"] = ttl & 0x7FFF
                p = 0
                while p + 4 <= len(rdata):
                    code, olen = struct.unpack("!HH", rdata[p:p + 4])
                    d["opts"].append(code)
                    p += 4 + olen
    except (IndexError, struct.error):
        d["malformed"] = 1
    return d


def summary(msg, qid=None):
    d = parse(msg)
    if d is None:
        return "short-answer size=%d" % len(msg)
    f = d["flags"]
    bit = lambda m: 1 if f & m else 0
    return ("rcode=%s id=%s qr=%d op=%d aa=%d tc=%d rd=%d ra=%d z=%d ad=%d cd=%d "
            "qd=%d an=%d ns=%d ar=%d opt=%d ver=%d do=%d mbz=%d opts=%s size=%d%s") % (
        RCODES.get(d["rcode"], str(d["rcode"])),
        "ok" if qid is None or d["id"] == qid else "bad",
        bit(QR), (f >> 11) & 0xF, bit(AA), bit(TC), bit(RD), bit(RA), bit(Z), bit(AD), bit(CD),
        d["qd"], d["an"], d["ns"], d["ar"], d["opt"], d["ver"], d["do"], d["mbz"],
        ",".join(str(c) for c in d["opts"]) or "-", d["size"],
        " malformed=1" if d.get("malformed") else "")


def newid(taken=()):
    """A random query id, not one of taken."""
    i = random.randint(1, 0xFFFF)
    while i in taken:
        i = random.randint(1, 0xFFFF)
    return i


def drain(s):
    """The answers waiting on the non-blocking UDP socket s, parsed."""
    out = []
    try:
        while True:
            d = parse(s.recvfrom(65535)[0])
            if d:
                out.append(d)
    except BlockingIOError:
        pass
    return out


class Paced:
    """n queries evenly spread over secs seconds from socket s: send_due()
    sends those whose time has come; sent: id -> send time."""

    def __init__(self, c, s, n, secs, name_of, qtype="A"):
        self.c, self.s, self.n, self.secs, self.name_of, self.qtype = c, s, n, secs, name_of, qtype
        self.k, self.sent, self.t0 = 0, {}, time.monotonic()

    def send_due(self):
        now = time.monotonic()
        while self.k < self.n and now - self.t0 >= self.k * self.secs / self.n:
            i = newid(self.sent)
            try:
                self.s.sendto(query(i, self.name_of(self.k), self.qtype), (self.c.server, self.c.port))
            except BlockingIOError:
                break
            self.sent[i] = now
            self.k += 1
        return now


# ------------------------------------------------------------------ transport

class Client:
    def __init__(self, args):
        self.server, self.port, self.src = args.server, args.port, args.src
        self.fam = socket.AF_INET6 if ":" in self.server else socket.AF_INET

    def udp_socket(self, src=None, rcvbuf=None):
        s = socket.socket(self.fam, socket.SOCK_DGRAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src or self.src:
            s.bind((src or self.src, 0))
        return s

    def tcp_socket(self, src=None, timeout=3.0):
        s = socket.socket(self.fam, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if src or self.src:
            s.bind((src or self.src, 0))
        s.settimeout(timeout)
        s.connect((self.server, self.port))
        return s

    def udp(self, pkt, qid=None, timeout=1.5, src=None):
        """Send pkt, return the summary of the answer to it (same id), or noanswer."""
        s = self.udp_socket(src)
        try:
            s.sendto(pkt, (self.server, self.port))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "noanswer"
                s.settimeout(left)
                try:
                    resp, _ = s.recvfrom(65535)
                except socket.timeout:
                    return "noanswer"
                if qid is None or len(resp) < 2 or struct.unpack("!H", resp[:2])[0] == qid:
                    return summary(resp, qid)
        finally:
            s.close()

    def tcp(self, pkt, qid=None, timeout=3.0, src=None):
        """One framed message on a new connection; the summary of the answer."""
        try:
            s = self.tcp_socket(src, timeout)
        except OSError as e:
            return "noconnect (%s)" % e
        try:
            s.sendall(framed(pkt))
            return summary(tcp_read(s), qid)
        except socket.timeout:
            return "noanswer"
        except (EOFError, ConnectionError):
            return "closed"
        finally:
            s.close()



def closed_within(s, seconds):
    """Seconds until the peer closed s (EOF or reset; data is discarded), or None."""
    t0 = time.monotonic()
    deadline = t0 + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return None
        try:
            if not s.recv(65535):
                return time.monotonic() - t0
        except (ConnectionError, OSError):
            return time.monotonic() - t0


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


# ------------------------------------------------------------------ malformed

def malformed_cases(name, wild):
    """(case name, packet, id to match or None for any, over TCP?) for every
    malformed-message class; name is asked, wild is a zone with a wildcard."""
    q = question(name)
    a_rr = lambda owner: rr(owner, 1, 1, 0, b"\x7f\x00\x00\x01")
    tail = struct.pack("!HH", 1, 1)             # QTYPE A, QCLASS IN
    cases = []

    def add(case, make, tcp=False, any_id=False):
        i = newid()
        cases.append((case, make(i), None if any_id else i, tcp))

    add("short-0", lambda i: b"", any_id=True)
    add("short-5", lambda i: os.urandom(5), any_id=True)
    add("short-11", lambda i: header(i)[:11], any_id=True)
    add("qr-set", lambda i: header(i, flags=QR | RD) + q)
    for op in range(1, 16):
        # RD, AD, CD and Z set: none of them may come back with NOTIMP
        add("opcode-%d" % op, lambda i, op=op: header(i, flags=RD | AD | CD | Z, opcode=op) + q)
    add("qdcount-0", lambda i: header(i, qd=0))
    add("qdcount-0-with-question", lambda i: header(i, qd=0) + q)
    add("qdcount-2", lambda i: header(i, qd=2) + q + question("other." + name))
    add("qdcount-2-one-question", lambda i: header(i, qd=2) + q)
    # compression in the question: a loop (a pointer to itself), a pointer
    # past the end, a pointer to a pointer to the first
    add("question-pointer-loop", lambda i: header(i) + b"\xc0\x0c" + tail)
    add("question-pointer-past-end", lambda i: header(i) + b"\x03www\xc0\xf0" + tail)
    add("question-pointer-two-step-loop", lambda i: header(i) + b"\x01a\xc0\x0e\xc0\x0c" + tail)
    # compression in an additional record's owner: a loop (a pointer to
    # itself), a pointer past the end; a label past the end
    off = 12 + len(q)
    add("additional-pointer-loop", lambda i: header(i, ar=1) + q + a_rr(struct.pack("!H", 0xC000 | off)))
    add("additional-pointer-past-end", lambda i: header(i, ar=1) + q + a_rr(b"\xc3\xff"))
    add("additional-label-past-end", lambda i: header(i, ar=1) + q + b"\x3fabc")
    # a pointer back into the question is legal: the control
    add("additional-pointer-ok (control)", lambda i: header(i, ar=1) + q + a_rr(b"\xc0\x0c"))

    # names: 255 octets is the most (RFC 1035 3.1), a label at most 63; the
    # longest name is asked under wild (a wildcard: it has an answer)
    def long_name(octets):
        labels, left = [], octets - len(wire(wild))
        while left > 0:
            n = min(63, left - 1)
            labels.append(chr(ord("a") + len(labels)) * n)
            left -= n + 1
        return ".".join(labels + [wild])
    add("name-255 (control)", lambda i: header(i) + question(long_name(255)))
    add("name-256", lambda i: header(i) + question(long_name(256)))
    add("name-321", lambda i: header(i) + question(".".join(["x" * 63] * 5)))
    add("label-64", lambda i: header(i) + b"\x40" + b"a" * 64 + wire(name) + tail)
    add("label-type-0x80", lambda i: header(i) + b"\x80" + b"a" * 10 + b"\x00" + tail)
    # EDNS
    ecs = lambda family, source, scope, addr: opt(options=[(8, struct.pack("!HBB", family, source, scope) + addr)])
    add("edns-two-opt", lambda i: header(i, ar=2) + q + opt() + opt())
    add("edns-opt-in-answer", lambda i: header(i, an=1) + q + opt())
    add("edns-opt-in-authority", lambda i: header(i, ns=1) + q + opt())
    add("edns-opt-owner-not-root", lambda i: header(i, ar=1) + q + opt(owner=wire("example")))
    add("edns-option-past-rdlength",
        lambda i: header(i, ar=1) + q + opt(options=[(65001, b"abcdefgh")], rdlen=8) + b"abcd")
    add("edns-option-header-cut", lambda i: header(i, ar=1) + q + opt(rdlen=2) + b"\xfd\xe9")
    add("edns-cookie-5", lambda i: header(i, ar=1) + q + opt(options=[(10, os.urandom(5))]))
    add("edns-cookie-12", lambda i: header(i, ar=1) + q + opt(options=[(10, os.urandom(12))]))
    add("edns-cookie-8 (control)", lambda i: header(i, ar=1) + q + opt(options=[(10, os.urandom(8))]))
    add("edns-ecs-prefix-33", lambda i: header(i, ar=1) + q + ecs(1, 33, 0, b"\x7f\x00\x00\x01\x00"))
    add("edns-ecs-address-too-long", lambda i: header(i, ar=1) + q + ecs(1, 8, 0, b"\x7f\x00\x00\x01"))
    add("edns-ecs-family-3", lambda i: header(i, ar=1) + q + ecs(3, 0, 0, b""))
    add("edns-ecs-scope-set", lambda i: header(i, ar=1) + q + ecs(1, 24, 24, b"\x7f\x00\x00"))
    add("edns-version-1", lambda i: header(i, ar=1) + q + opt(version=1))
    add("edns-repeated-unknown-option",
        lambda i: header(i, ar=1) + q + opt(options=[(65001, b"x"), (65001, b"y"), (65001, b"")]))
    # ANY, zone transfers, TSIG placement
    add("qtype-any", lambda i: header(i) + question(name, "ANY"))
    add("axfr-udp", lambda i: header(i) + question(name, "AXFR"))
    add("ixfr-udp", lambda i: header(i) + question(name, "IXFR"))
    add("axfr-tcp", lambda i: header(i) + question(name, "AXFR"), tcp=True)

    def tsig(i):
        rdata = wire("hmac-sha256") + struct.pack("!HIH", 0, int(time.time()), 300) \
            + struct.pack("!H", 32) + os.urandom(32) + struct.pack("!HHH", i, 0, 0)
        return rr(wire("key.example"), T_TSIG, 255, 0, rdata)
    add("tsig-not-last", lambda i: header(i, ar=2) + q + tsig(i) + opt())
    return cases


def cmd_malformed(c, args):
    name, wild = args.rest[0], args.rest[1] if len(args.rest) > 1 else args.rest[0]
    for case, pkt, qid, tcp in malformed_cases(name, wild):
        result = c.tcp(pkt, qid) if tcp else c.udp(pkt, qid)
        u = newid()
        t = newid()
        alive_u = c.udp(query(u, name), u).split()[0]
        alive_t = c.tcp(query(t, name), t).split()[0]
        print("%s\t%s\talive=udp:%s,tcp:%s" % (case, result, alive_u.replace("rcode=", ""),
                                              alive_t.replace("rcode=", "")))
        sys.stdout.flush()


# ------------------------------------------------------------------ TCP framing

def cmd_tcp_framing(c, args):
    names = args.rest
    name = names[0]
    # 1. a whole query written one byte at a time
    i = newid()
    s = c.tcp_socket()
    try:
        for b in framed(query(i, name)):
            s.send(bytes([b]))
            time.sleep(0.002)
        print("bytewise\t%s" % summary(tcp_read(s), i))
    except (socket.timeout, EOFError, ConnectionError) as e:
        print("bytewise\tnoanswer (%s)" % e)
    s.close()
    # 2. a length prefix, then silence: closed by the server
    s = c.tcp_socket()
    s.send(b"\x00\x30")
    took = closed_within(s, args.wait)
    print("prefix-silence\tclosed_after=%s" % ("%.2f" % took if took is not None else "never"))
    s.close()
    # 3. pipelined: every query written before any answer is read
    for label, batch in (("pipeline-20", names[1:21]), ("pipeline-40", names[21:61])):
        if not batch:
            continue
        ids = {}
        while len(ids) < len(batch):
            ids.setdefault(newid(), batch[len(ids)])
        s = c.tcp_socket(timeout=1.0)
        s.sendall(b"".join(framed(query(q, n)) for q, n in ids.items()))
        order, got, deadline = list(ids), [], time.monotonic() + 6
        try:
            while len(got) < len(ids) and time.monotonic() < deadline:
                try:
                    resp = tcp_read(s)
                except socket.timeout:
                    continue
                got.append(struct.unpack("!H", resp[:2])[0])
        except (EOFError, ConnectionError):
            pass
        s.close()
        matched = len(set(got) & set(ids))
        ooo = sum(1 for k, q in enumerate(got) if k >= len(order) or order[k] != q)
        print("%s\tsent=%d answered=%d matched=%d out_of_order=%d" % (
            label, len(ids), len(got), matched, ooo))


# ------------------------------------------------------------------ TCP abuse

def cmd_tcp_noread(c, args):
    """Pipeline queries for SECS seconds and never read an answer; when the
    server closes the connection, open another one and go on. Meanwhile,
    half-way, another client asks."""
    name, secs = args.rest[0], float(args.rest[1])
    pid = int(args.pid) if args.pid else 0
    pkt = framed(query(newid(), name)) * 64
    per_query = len(pkt) // 64
    rss0 = peak = rss_kb(pid)
    t0 = time.monotonic()
    end = t0 + secs
    sent, conns, lifetimes, other = 0, 0, [], "notasked"
    while time.monotonic() < end:
        s = socket.socket(c.fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if c.src:
            s.bind((c.src, 0))
        s.connect((c.server, c.port))
        s.setblocking(False)
        conns += 1
        opened = time.monotonic()
        closed_at = None
        # until the server closes it (or, past SECS, for the idle timeout to pass)
        last_check = 0.0
        while closed_at is None and time.monotonic() < max(end, opened + args.wait):
            now = time.monotonic()
            if now < end:
                # as fast as the server takes them
                _, w, _ = select.select([], [s], [], 0.02)
                if w:
                    try:
                        sent += s.send(pkt)
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed_at = time.monotonic()
            else:
                time.sleep(0.02)
            if other == "notasked" and now - t0 >= secs / 2:
                i = newid()
                other = c.tcp(query(i, name), i, src=args.other).split()[0].replace("rcode=", "")
            if now - last_check >= 0.02:
                last_check = now
                if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != 1:  # not ESTABLISHED
                    closed_at = time.monotonic()
                peak = max(peak, rss_kb(pid))
        lifetimes.append(closed_at - opened if closed_at is not None else None)
        s.close()
    closed = [t for t in lifetimes if t is not None]
    print("sent_queries=%d connections=%d never_closed=%d max_lifetime_s=%.2f rss_before_kb=%d "
          "rss_peak_kb=%d rss_after_kb=%d other=%s" % (
              sent // per_query, conns, len(lifetimes) - len(closed), max(closed) if closed else -1,
              rss0, peak, rss_kb(pid), other))


def cmd_tcp_trickle(c, args):
    n, srcs, name = int(args.rest[0]), args.rest[1].split(","), args.rest[2]
    conns = []
    t_start = time.monotonic()
    for k in range(n):
        src = srcs[k % len(srcs)]
        try:
            s = c.tcp_socket(src, timeout=2)
        except OSError:
            continue
        s.setblocking(False)
        conns.append({"s": s, "opened": time.monotonic(), "closed": None, "sent": 0})
    opened = len(conns)
    # a query byte by byte, one byte a second: never a whole query in time
    msg = framed(query(newid(), name))

    def tick():
        now = time.monotonic()
        live = [x for x in conns if x["closed"] is None]
        r, _, _ = select.select([x["s"] for x in live], [], [], 0) if live else ([], [], [])
        for x in live:
            if x["s"] in r:
                try:
                    if not x["s"].recv(4096):
                        x["closed"] = now
                except OSError:
                    x["closed"] = now
        for x in conns:
            if x["closed"] is None and now - x["opened"] >= x["sent"]:
                try:
                    x["s"].send(msg[x["sent"] % len(msg):x["sent"] % len(msg) + 1])
                    x["sent"] += 1
                except OSError:
                    x["closed"] = now
    tick()
    time.sleep(0.2)
    tick()
    # the table is full: a new client is still answered, within a second
    i = newid()
    t0 = time.monotonic()
    res = c.tcp(query(i, name), i, timeout=1.0, src=args.other)
    took = time.monotonic() - t0
    evicted_early = sum(1 for x in conns if x["closed"] is not None)
    # a client in the middle of its conversation (the most active connection)
    # outlives the next arrival: the quietest connection makes room, not it
    active = "failed"
    try:
        w = c.tcp_socket(args.other, timeout=1.0)
        j = newid()
        w.sendall(framed(query(j, name)))
        tcp_read(w)
        late = c.tcp_socket(args.third or args.other, timeout=1.0)
        time.sleep(0.1)
        j = newid()
        w.sendall(framed(query(j, name)))
        active = summary(tcp_read(w), j).split()[0].replace("rcode=", "")
        late.close()
        w.close()
    except (OSError, EOFError) as e:
        active = "closed(%s)" % e.__class__.__name__
    # the trickling connections are closed within tcp-initial-timeout (+2 s)
    deadline = t_start + args.wait
    while time.monotonic() < deadline and any(x["closed"] is None for x in conns):
        tick()
        time.sleep(0.05)
    tick()
    lifetimes = [x["closed"] - x["opened"] for x in conns if x["closed"] is not None]
    still = sum(1 for x in conns if x["closed"] is None)
    for x in conns:
        x["s"].close()
    print("opened=%d new_client=%s new_client_ms=%d closed_before_new=%d active_client=%s "
          "still_open=%d max_lifetime=%.2f" % (
              opened, res.split()[0].replace("rcode=", ""), took * 1000, evicted_early, active,
              still, max(lifetimes) if lifetimes else -1))


def cmd_tcp_per_source(c, args):
    n, src, other, name = int(args.rest[0]), args.rest[1], args.rest[2], args.rest[3]
    conns = []
    for _ in range(n):
        try:
            conns.append(c.tcp_socket(src, timeout=2))
        except OSError:
            conns.append(None)
    time.sleep(0.3)
    closed = []
    for s in conns:
        if s is None:
            closed.append(True)
            continue
        r, _, _ = select.select([s], [], [], 0)
        gone = False
        if r:
            try:
                gone = not s.recv(4096)
            except OSError:
                gone = True
        closed.append(gone)
    i = newid()
    res = c.tcp(query(i, name), i, src=other)
    # the ones left open still get answers
    j = newid()
    first_open = next((s for s, g in zip(conns, closed) if not g), None)
    kept = "none"
    if first_open is not None:
        try:
            first_open.sendall(framed(query(j, name)))
            kept = summary(tcp_read(first_open), j).split()[0].replace("rcode=", "")
        except (OSError, EOFError) as e:
            kept = "failed(%s)" % e.__class__.__name__
    for s in conns:
        if s:
            s.close()
    print("opened=%d closed_at_once=%d kept_open=%d kept_answered=%s other=%s" % (
        n, sum(closed), n - sum(closed), kept, res.split()[0].replace("rcode=", "")))


def cmd_tcp_dead_wait(c, args):
    dead, live = args.rest[0], args.rest[1]
    s = c.tcp_socket(timeout=args.wait)
    i = newid()
    # sent late in a second of the wall clock: a time limit kept in whole
    # seconds (time(NULL)) would end up to a second early
    while time.time() % 1.0 < 0.85:
        time.sleep(0.01)
    t0 = time.monotonic()
    s.sendall(framed(query(i, dead)))
    try:
        first = summary(tcp_read(s), i)
    except (socket.timeout, EOFError, ConnectionError) as e:
        first = "noanswer(%s)" % e.__class__.__name__
    took = time.monotonic() - t0
    j = newid()
    try:
        s.sendall(framed(query(j, live)))
        second = summary(tcp_read(s), j)
    except (socket.timeout, EOFError, ConnectionError, OSError) as e:
        second = "noanswer(%s)" % e.__class__.__name__
    s.close()
    print("first=%s first_s=%.2f second=%s" % (first.split()[0].replace("rcode=", ""), took,
                                                 second.split()[0].replace("rcode=", "")))


def cmd_blackhole(c, args):
    fam = socket.AF_INET6 if ":" in args.server else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    u.bind((args.server, args.port))
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((args.server, args.port))
    t.listen(256)
    conns = []
    print("listening", flush=True)
    while True:
        r, _, _ = select.select([u, t] + conns, [], [], 1.0)
        for s in r:
            if s is u:
                u.recvfrom(65535)           # read and never answer
            elif s is t:
                cs, _ = t.accept()
                conns.append(cs)
            else:
                try:
                    data = s.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    s.close()
                    conns.remove(s)


# ------------------------------------------------------------------ latency and floods

class Prober:
    """One requester asking in turn a cached name and unique uncached ones,
    one query at a time; answer times in ms (a lost one counts as 2000)."""

    def __init__(self, c, src, name, zone):
        self.c, self.name, self.zone = c, name, zone
        self.tag = "%x" % random.getrandbits(32)
        self.s = c.udp_socket(src)
        self.s.setblocking(False)
        self.n = 0
        self.last = 0.0
        self.waiting = None          # (id, sent at, kind)
        self.times = {"cached": [], "uncached": []}
        self.bad = []

    def due(self, now):
        if self.waiting and now - self.waiting[1] > 2.0:
            self.times[self.waiting[2]].append(2000.0)
            self.bad.append("timeout")
            self.waiting = None
        return self.waiting is None

    def send(self, now):
        self.n += 1
        kind = "cached" if self.n % 2 else "uncached"
        name = self.name if kind == "cached" else "u%s-%d.%s" % (self.tag, self.n, self.zone)
        i = newid()
        self.s.sendto(query(i, name), (self.c.server, self.c.port))
        self.waiting = (i, now, kind)
        self.last = now

    def read(self, now):
        for d in drain(self.s):
            if self.waiting and d["id"] == self.waiting[0]:
                self.times[self.waiting[2]].append((now - self.waiting[1]) * 1000)
                if d["rcode"] != 0 or d["an"] == 0:
                    self.bad.append(RCODES.get(d["rcode"], str(d["rcode"])))
                self.waiting = None

    def report(self, label):
        allv = self.times["cached"] + self.times["uncached"]
        return ("%s_n=%d %s_p50_ms=%.1f %s_p99_ms=%.1f %s_max_ms=%.1f %s_cached_p50_ms=%.1f "
                "%s_uncached_p50_ms=%.1f %s_bad=%d") % (
            label, len(allv), label, pct(allv, 50), label, pct(allv, 99), label,
            max(allv) if allv else -1, label, pct(self.times["cached"], 50), label,
            pct(self.times["uncached"], 50), label, len(self.bad))


def cmd_latency(c, args):
    secs, name, prefix = float(args.rest[0]), args.rest[1], args.rest[2]
    p = Prober(c, c.src, name, prefix)
    end = time.monotonic() + secs
    while time.monotonic() < end or p.waiting:
        now = time.monotonic()
        if p.due(now) and now < end:
            p.send(now)
        select.select([p.s], [], [], 0.02)
        p.read(time.monotonic())
        if time.monotonic() > end + 3:
            break
        if p.waiting is None:
            time.sleep(0.02)
    print(p.report("victim"))


def cmd_flood(c, args):
    n, zone, secs = int(args.rest[0]), args.rest[1], float(args.rest[2])
    vsrc, vname, vprefix = args.rest[3], args.rest[4], args.rest[5]
    pid = int(args.pid) if args.pid else 0
    limit = args.wait                      # recursion-timeout + 3 s
    tag = "%x" % random.getrandbits(32)
    s = c.udp_socket(rcvbuf=4 << 20)
    s.setblocking(False)
    p = Prober(c, vsrc, vname, vprefix)
    outcome = {}                           # id -> (rcode or "TC", seconds)
    rss0 = peak = rss_kb(pid)
    flood = Paced(c, s, n, secs, lambda k: "f%d.%s.%s" % (k, tag, zone))
    sent, t0 = flood.sent, flood.t0
    while True:
        now = flood.send_due()
        k = flood.k
        if p.due(now) and now - t0 < secs + limit - 1 and now - p.last >= 0.02:
            p.send(now)
        r, _, _ = select.select([s, p.s], [], [], 0.005)
        now = time.monotonic()
        for d in drain(s) if s in r else ():
            if d["id"] in sent and d["id"] not in outcome:
                kind = "TC" if d["flags"] & TC else RCODES.get(d["rcode"], str(d["rcode"]))
                outcome[d["id"]] = (kind, now - sent[d["id"]])
        if p.s in r:
            p.read(now)
        if int(now * 10) % 5 == 0:
            peak = max(peak, rss_kb(pid))
        if k >= n and (len(outcome) == n or now - t0 > secs + limit):
            if p.waiting is None or now - t0 > secs + limit + 2:
                break
    counts = {}
    for kind, _ in outcome.values():
        counts[kind] = counts.get(kind, 0) + 1
    late = sum(1 for _, t in outcome.values() if t > limit)
    print("flood_sent=%d flood_answered=%d flood_servfail=%d flood_tc=%d flood_other=%d "
          "flood_unanswered=%d flood_late=%d flood_max_s=%.2f flood_p50_s=%.2f rss_before_kb=%d "
          "rss_peak_kb=%d rss_after_kb=%d" % (
              k, len(outcome), counts.get("SERVFAIL", 0), counts.get("TC", 0),
              len(outcome) - counts.get("SERVFAIL", 0) - counts.get("TC", 0), k - len(outcome),
              late, max((t for _, t in outcome.values()), default=-1),
              pct([t for _, t in outcome.values()], 50), rss0, peak, rss_kb(pid)))
    if len(outcome) - counts.get("SERVFAIL", 0) - counts.get("TC", 0):
        print("flood_other_kinds=%s" % ",".join("%s:%d" % kv for kv in sorted(counts.items())))
    print(p.report("victim"))


def cmd_rrl(c, args):
    n, name, idsrc, idn = int(args.rest[0]), args.rest[1], args.rest[2], int(args.rest[3])
    a = c.udp_socket(rcvbuf=4 << 20)
    b = c.udp_socket(idsrc, rcvbuf=4 << 20)
    a.setblocking(False)
    b.setblocking(False)
    sent_a, sent_b, res_a, res_b = {}, {}, {}, {}
    t0 = time.monotonic()
    # interleaved, paced at one query per 0.2 ms so that no socket buffer
    # overflows: every loss is the server's decision
    ka = kb = 0
    while ka < n or kb < idn:
        for sock, sent, go in ((a, sent_a, ka < n), (b, sent_b, kb < idn and kb * n <= ka * idn)):
            if go:
                i = newid(sent)
                sock.sendto(query(i, name), (c.server, c.port))
                sent[i] = time.monotonic()
        ka, kb = len(sent_a), len(sent_b)
        time.sleep(0.0002)
    span = time.monotonic() - t0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        r, _, _ = select.select([a, b], [], [], 0.1)
        for s, sent, res in ((a, sent_a, res_a), (b, sent_b, res_b)):
            for d in drain(s) if s in r else ():
                if d["id"] in sent and d["id"] not in res:
                    res[d["id"]] = (d, time.monotonic() - t0)
        if len(res_a) == n and len(res_b) == idn:
            break

    def tally(res):
        full = sum(1 for d, _ in res.values() if not d["flags"] & TC and (d["an"] > 0 or d["rcode"]))
        tc = sum(1 for d, _ in res.values() if d["flags"] & TC and d["an"] == 0)
        tc_bad = sum(1 for d, _ in res.values() if d["flags"] & TC and d["an"] > 0)
        first = sum(1 for d, t in res.values() if not d["flags"] & TC and t < 1.0)
        return full, tc, tc_bad, first

    fa, tca, tcbad, firsta = tally(res_a)
    fb, tcb, _, _ = tally(res_b)
    rc = sorted({RCODES.get(d["rcode"], str(d["rcode"])) for d, _ in res_a.values()
                 if not d["flags"] & TC})
    print("sent=%d span_ms=%d full=%d full_first_second=%d truncated=%d truncated_with_records=%d "
          "dropped=%d rcodes=%s id_sent=%d id_full=%d id_truncated=%d id_dropped=%d" % (
              n, span * 1000, fa, firsta, tca, tcbad, n - len(res_a), ",".join(rc) or "-",
              idn, fb, tcb, idn - len(res_b)))


def cmd_burst(c, args):
    n, name, qtype, secs = int(args.rest[0]), args.rest[1], args.rest[2], float(args.rest[3])
    s = c.udp_socket(rcvbuf=8 << 20)
    s.setblocking(False)
    got = {}
    if args.align is not None:
        # start at this fraction of a wall-clock second
        while abs(time.time() % 1.0 - args.align) > 0.002:
            time.sleep(0.0005)
    burst = Paced(c, s, n, secs, lambda k: name, qtype)
    while burst.k < n or time.monotonic() - burst.t0 < secs + 1.5:
        burst.send_due()
        select.select([s], [], [], 0.002)
        for d in drain(s):
            if d["id"] in burst.sent:
                got[d["id"]] = d
        if burst.k >= n and len(got) == n:
            break
    k = burst.k
    span = time.monotonic() - burst.t0
    rc = {}
    for d in got.values():
        key = RCODES.get(d["rcode"], str(d["rcode"])) + ("/TC" if d["flags"] & TC else "")
        rc[key] = rc.get(key, 0) + 1
    print("sent=%d answered=%d span_ms=%d rcodes=%s" % (
        k, len(got), span * 1000, ",".join("%s:%d" % kv for kv in sorted(rc.items()))))


# ------------------------------------------------------------------ the sink

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
          "from='%s' to='%s' version='1.0'>")


def read_until_closed(s, seconds, limit=65536):
    """(data, closed?) read within seconds."""
    data = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(data) < limit:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        try:
            chunk = s.recv(4096)
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def cmd_sink_trickle(c, args):
    n, srcs = int(args.rest[0]), args.rest[1].split(",")
    pid = int(args.pid) if args.pid else 0
    rss0 = rss_kb(pid)
    conns = []
    for k in range(n):
        try:
            s = c.tcp_socket(srcs[k % len(srcs)], timeout=2)
            s.setblocking(False)
            conns.append(s)
        except OSError:
            pass
    opened = len(conns)
    text = (HEADER % ("slow.test", "c.test")).encode()
    for second in range(2):
        for s in conns:
            try:
                s.send(text[second:second + 1])
            except OSError:
                pass
        time.sleep(0.5)
    # a real server arrives while the slow ones hold the table
    t0 = time.monotonic()
    try:
        s = c.tcp_socket(timeout=2)
        s.sendall((HEADER % ("a.test", "c.test")).encode())
        data, closed = read_until_closed(s, 2.0)
        s.close()
    except OSError as e:
        data, closed = ("connect failed: %s" % e).encode(), False
    took = time.monotonic() - t0
    for s in conns:
        s.close()
    print("opened=%d answered_ms=%d policy_violation=%d closed=%d rss_before_kb=%d rss_after_kb=%d"
          % (opened, took * 1000, 1 if b"<policy-violation" in data else 0, 1 if closed else 0,
             rss0, rss_kb(pid)))


def cmd_sink_bomb(c, args):
    pid = int(args.pid) if args.pid else 0
    rss0 = rss_kb(pid)
    ents = ["<!ENTITY lol0 'lol'>"]
    for k in range(1, 10):
        ents.append("<!ENTITY lol%d '%s'>" % (k, ("&lol%d;" % (k - 1)) * 10))
    bomb = ("<?xml version='1.0'?><!DOCTYPE stream:stream [%s]>" % "".join(ents)
            + HEADER.split("?>", 1)[1] % ("&lol9;", "&lol9;")).encode()
    s = c.tcp_socket(timeout=3)
    t0 = time.monotonic()
    try:
        s.sendall(bomb)
    except OSError:
        pass
    data, closed = read_until_closed(s, 6.0)
    took = time.monotonic() - t0
    s.close()
    print("bomb_bytes=%d answered=%s closed=%d took_ms=%d rss_before_kb=%d rss_after_kb=%d" % (
        len(bomb), "policy-violation" if b"<policy-violation" in data else
        ("other" if data else "nothing"), 1 if closed else 0, took * 1000, rss0, rss_kb(pid)))


def cmd_sink_big(c, args):
    mb = float(args.rest[0])
    pid = int(args.pid) if args.pid else 0
    rss0 = rss_kb(pid)
    s = c.tcp_socket(timeout=3)
    s.setblocking(False)
    head = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' to='c.test' "
            "from='a.test' version='1.0' x='").encode()
    payload = head + b"A" * int(mb * 1048576)
    t0 = time.monotonic()
    off, data, closed = 0, b"", False
    end = t0 + 8
    while time.monotonic() < end and not closed:
        r, w, _ = select.select([s], [s] if off < len(payload) else [], [], 0.1)
        if w:
            try:
                off += s.send(payload[off:off + 65536])
            except BlockingIOError:
                pass
            except OSError:
                closed = True
        if r:
            try:
                chunk = s.recv(65536)
                if chunk:
                    data += chunk
                else:
                    closed = True
            except OSError:
                closed = True
    took = time.monotonic() - t0
    s.close()
    print("offered_bytes=%d written_bytes=%d answered=%s closed=%d took_ms=%d rss_before_kb=%d "
          "rss_after_kb=%d" % (len(payload), off, "policy-violation" if b"<policy-violation" in data
                               else ("other" if data else "nothing"), 1 if closed else 0,
                               took * 1000, rss0, rss_kb(pid)))


COMMANDS = {
    "malformed": cmd_malformed, "tcp-framing": cmd_tcp_framing, "tcp-noread": cmd_tcp_noread,
    "tcp-trickle": cmd_tcp_trickle, "tcp-per-source": cmd_tcp_per_source,
    "tcp-dead-wait": cmd_tcp_dead_wait, "blackhole": cmd_blackhole, "latency": cmd_latency,
    "flood": cmd_flood, "rrl": cmd_rrl, "burst": cmd_burst, "sink-trickle": cmd_sink_trickle,
    "sink-bomb": cmd_sink_bomb, "sink-big": cmd_sink_big,
}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--src")
    p.add_argument("--other", help="the source address of the well-behaved client")
    p.add_argument("--third", help="the source address of one more client")
    p.add_argument("--align", type=float, help="burst: start at this fraction of a second")
    p.add_argument("--pid", help="resolverd's pid, for its RSS")
    p.add_argument("--wait", type=float, default=5.0, help="the deadline of the command's wait")
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("rest", nargs="*")
    args = p.parse_args()
    random.seed()
    COMMANDS[args.command](Client(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
