#!/usr/bin/env python3
"""Seed inputs for the fuzz targets of tests/fuzz (see README.md there).

    python3 tests/fuzz/seeds.py [--no-dig] OUTDIR
    python3 tests/fuzz/seeds.py --dicts DIR

The second form writes the libFuzzer dictionaries DIR/<target>.dict (the
committed ones are tests/fuzz/*.dict; run.sh passes them): the wire names
and types of the test policy and zone, the config keywords (read from
resolverd/options.c), zone file words, stream header words.

writes OUTDIR/<target>/seed-<sha1> files in each target's input format:
real queries captured from dig and kdig (a UDP socket on loopback answers
each with an empty response), every malformed class of query the unit and
integration tests send (short headers, QR=1, opcodes, QDCOUNT 0 and 2,
compression loops, over-long names and labels, two OPTs, OPT options of bad
lengths, TSIG not last, ...), upstream answers (aliases, SRV targets,
negative answers, big ones, loops), the configs and zone files of the tree,
stream headers for the sink, and policy databases as rows.

The committed corpus (tests/fuzz/corpus/<target>) is these seeds merged
with what the fuzzers found (libFuzzer -merge=1): regenerate the seeds into
a scratch directory and merge them in, rather than writing here directly.
"""
import argparse
import hashlib
import hmac
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

T = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
     "SRV": 33, "DNAME": 39, "OPT": 41, "DS": 43, "RRSIG": 46, "NSEC": 47, "DNSKEY": 48,
     "NSEC3": 50, "HTTPS": 65, "TKEY": 249, "TSIG": 250, "IXFR": 251, "AXFR": 252,
     "MAILB": 253, "MAILA": 254, "ANY": 255, "CAA": 257}


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def header(qid=0x1234, qr=0, opcode=0, aa=0, tc=0, rd=1, ra=0, ad=0, cd=0, rcode=0,
           qd=1, an=0, ns=0, ar=0):
    flags = (qr << 15) | (opcode << 11) | (aa << 10) | (tc << 9) | (rd << 8) | (ra << 7) | \
        (ad << 5) | (cd << 4) | rcode
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def opt(size=1232, version=0, do=0, options=b"", rcode_hi=0):
    return b"\x00" + struct.pack("!HHBBHH", T["OPT"], size, rcode_hi, version,
                                 0x8000 if do else 0, len(options)) + options


def question(qname, qtype="A", qclass=1):
    return (name(qname) if isinstance(qname, str) else qname) + \
        struct.pack("!HH", T[qtype] if isinstance(qtype, str) else qtype, qclass)


def query(qname, qtype="A", edns=None, qclass=1, **hdr):
    ar = 1 if edns is not None else 0
    return header(ar=ar, **hdr) + question(qname, qtype, qclass) + (edns or b"")


def rr(owner, rtype, rdata, ttl=3600, rclass=1):
    o = name(owner) if isinstance(owner, str) else owner
    return o + struct.pack("!HHIH", T[rtype] if isinstance(rtype, str) else rtype, rclass, ttl,
                           len(rdata)) + rdata


def srv(prio, weight, port, target):
    return struct.pack("!HHH", prio, weight, port) + name(target)


def soa(mname="ns.example", rname="hostmaster.example", serial=1, minimum=300):
    return name(mname) + name(rname) + struct.pack("!IIIII", serial, 3600, 600, 86400, minimum)


def answer_pkt(qname, qtype, answers=(), authority=(), additional=(), rcode=0, **hdr):
    return header(qr=1, ra=1, rcode=rcode, an=len(answers), ns=len(authority),
                  ar=len(additional), **hdr) + question(qname, qtype) + \
        b"".join(answers) + b"".join(authority) + b"".join(additional)


# ------------------------------------------------------------------ queries

def captured_queries():
    """Real queries: what dig and kdig send (a loopback socket answers them)."""
    runs = [
        ["dig", "_xmpp-server._tcp.b.test", "SRV"],
        ["dig", "+dnssec", "_xmpp-server._tcp.c.test", "SRV"],
        ["dig", "+norec", "+noedns", "sink.clearinghouse.test", "A"],
        ["dig", "+nsid", "+expire", "+keepalive", "www.example", "AAAA"],
        ["dig", "+subnet=10.1.2.0/24", "+cookie", "xmpp.b.test", "A"],
        ["dig", "+cd", "+adflag", "+bufsize=4096", "www.example", "A"],
        ["dig", "+edns=1", "+noednsneg", "sink.clearinghouse.test", "A"],
        ["dig", "+bufsize=512", "_xmpps-server._tcp.b.test", "SRV"],
        ["dig", "-c", "CH", "version.bind", "TXT"],
        ["dig", "+opcode=2", "clearinghouse.test", "SOA"],
        ["dig", "+ednsopt=65001:0102", "+ednsflags=0x10", "_jabber._tcp.b.test", "SRV"],
        ["dig", "+qid=0", "+bufsize=0", "conference.c.test", "AAAA"],
        ["kdig", "+dnssec", "+nsid", "_xmpp-server._tcp.g.test", "SRV"],
        ["kdig", "+padding=128", "+cookie", "mail.elsewhere.example", "A"],
        ["kdig", "+noedns", "+norec", "clearinghouse.test", "ANY"],
        ["kdig", "+subnet=2001:db8::/56", "real.hidden.example", "A"],
    ]
    out = []
    for args in runs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        port = s.getsockname()[1]
        cmd = args[:1] + ["@127.0.0.1", "-p", str(port), "+tries=1", "+time=2"] + args[1:]
        if args[0] == "kdig":
            cmd = ["kdig", "@127.0.0.1", "-p", str(port), "+retry=0", "+time=2"] + args[1:]
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            s.close()
            continue
        try:
            pkt, peer = s.recvfrom(65535)
            out.append(pkt)
            # an empty response, so that the tool finishes at once
            s.sendto(bytes([pkt[0], pkt[1], pkt[2] | 0x80, pkt[3]]) + b"\x00" * 8, peer)
        except socket.timeout:
            pass
        p.wait()
        s.close()
    return out


def crafted_queries():
    q = []
    xmpp = ["_xmpp-server._tcp.%s.test" % d for d in "abcdefg"] + [
        "_xmpps-server._tcp.b.test", "_jabber._tcp.b.test", "_xmpp-server._tcp.conference.c.test",
        "_xmpp-server._tcp.outsider.example", "_xmpp-server._tcp.sub.a.test"]
    for n in xmpp:
        q.append(query(n, "SRV"))
        q.append(query(n, "TXT", edns=opt(do=1)))
    for n, t in [("xmpp.b.test", "A"), ("xmpp.b.test", "AAAA"), ("tls.b.test", "A"),
                 ("hidden.g.test", "A"), ("c.test", "A"), ("conference.c.test", "AAAA"),
                 ("b.test", "A"), ("d.test", "MX"), ("sink.clearinghouse.test", "A"),
                 ("SINK.Clearinghouse.TEST", "AAAA"), ("nothing.clearinghouse.test", "A"),
                 ("clearinghouse.test", "SOA"), ("clearinghouse.test", "NS"),
                 ("www.example", "A"), ("WwW.ExAmPlE", "A"), ("big.example", "AAAA"),
                 ("mail.elsewhere.example", "A"), ("2.0.0.127.in-addr.arpa", "PTR"),
                 ("example", "DNSKEY"), ("example", "DS"), ("www.example", "HTTPS"),
                 (".", "NS")]:
        q.append(query(n, t))
        q.append(query(n, t, edns=opt()))
        q.append(query(n, t, edns=opt(size=4096, do=1), cd=1))
    # flags
    q.append(query("www.example", "A", rd=0))
    q.append(query("www.example", "A", edns=opt(), ad=1))
    q.append(query("www.example", "A", tc=1, aa=1, ra=1))
    # meta and odd types, classes
    for t in ["AXFR", "IXFR", "MAILB", "MAILA", "ANY", "OPT", "TSIG", "TKEY", "RRSIG"]:
        q.append(query("clearinghouse.test", t))
    q.append(query("_xmpp-server._tcp.b.test", "SRV", qclass=3))
    q.append(query("sink.clearinghouse.test", "A", qclass=255))
    q.append(query("sink.clearinghouse.test", "A", qclass=254))
    # EDNS sizes and versions
    for size in (0, 1, 511, 512, 513, 1232, 1400, 4096, 65535):
        q.append(query("big.example", "AAAA", edns=opt(size=size)))
    q.append(query("sink.clearinghouse.test", "A", edns=opt(version=1)))
    q.append(query("sink.clearinghouse.test", "A", edns=opt(version=255, rcode_hi=1)))
    # EDNS options: good and bad lengths (RFC 6891 6.1.2)
    for o in [b"\x00\x0a\x00\x08" + b"12345678", b"\x00\x0a\x00\x05" + b"12345",
              b"\x00\x0a\x00\x0c" + b"x" * 12, b"\x00\x0a\x00\x18" + b"x" * 24,
              b"\x00\x0a\x00\x29" + b"x" * 41, b"\x00\x0c\x00\x09\x00\x00", b"\x00\x0c",
              b"\x00\x03\x00\x00", b"\x00\x03\x00\x02\x01\x02",
              b"\x00\x08\x00\x07\x00\x01\x18\x00\x0a\x01\x02",
              b"\x00\x08\x00\x07\x00\x01\x21\x00\x0a\x01\x02",
              b"\x00\x08\x00\x08\x00\x01\x18\x00\x0a\x01\x02\x03",
              b"\x00\x08\x00\x04\x00\x02\x00\x00", b"\x00\x08\x00\x05\x00\x03\x08\x00\x01",
              b"\x00\x08\x00\x06\x00\x01\x08\x08\x0a\x01",
              b"\x00\x0e\x00\x03\x01\x02\x03", b"\x00\x0e\x00\x00", b"\x00\x0e\x00\x02\x12\x34",
              b"\x00\x09\x00\x00", b"\x00\x09\x00\x04\x00\x00\x00\x01", b"\x00\x0b\x00\x00",
              b"\x00\x0b\x00\x02\x00\x64", b"\x00\x0c\x00\x04\x00\x00\x00\x00",
              b"\xfd\xe9\x00\x02\x01\x02", b"\x00\x03\x00\x00\x00\x0a\x00\x08" + b"abcdefgh"]:
        q.append(query("sink.clearinghouse.test", "A", edns=opt(options=o)))
    # malformed: short headers, QR=1, opcodes, counts
    good = query("www.example", "A")
    q += [b"", b"\x12", good[:2], good[:11], good[:12], good[:len(good) - 3],
          good[:len(good) - 1], good + b"\x00"]
    q.append(query("www.example", "A", qr=1))
    q.append(query("www.example", "A", qr=1, opcode=5))
    for op in (1, 2, 3, 4, 5, 6, 15):
        q.append(query("clearinghouse.test", "SOA", opcode=op))
    q.append(query("www.example", "A", opcode=15, edns=opt())[:13] + b"\xff" * 8)
    q.append(header(qd=0))
    q.append(header(qd=0, ar=1) + opt())
    q.append(header(qd=2) + question("a.test") + question("b.test"))
    q.append(header(qd=2) + question("a.test"))
    q.append(header(qd=65535) + question("a.test"))
    q.append(header(qd=1, an=1) + question("www.example") + rr("www.example", "A", b"\x01\x02\x03\x04"))
    q.append(header(qd=1, ns=1) + question("www.example") + rr("example", "SOA", soa()))
    q.append(header(qd=1, ar=2) + question("www.example") + opt())  # claims two, holds one
    # names: compression in the question and loops in later sections
    q.append(header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1))
    q.append(header() + b"\x03www\xc0\x0c" + struct.pack("!HH", 1, 1))
    q.append(header(ar=1) + question("www.example") + b"\xc0\x1d" + struct.pack("!HHIH", 1, 1, 0, 0))
    q.append(header(ar=1) + question("www.example") + b"\xc0\x0c" + struct.pack("!HHIH", 41, 1232, 0, 0))
    q.append(header(ar=1) + question("www.example") + b"\x01a\xc0\x1d" + struct.pack("!HHIH", 1, 1, 0, 0))
    q.append(header(ar=1) + question("www.example") + b"\x80" + struct.pack("!HHIH", 1, 1, 0, 0))
    # over-long names and labels
    label63 = "x" * 63
    q.append(query(".".join([label63] * 4), "A"))                       # 257 bytes: too long
    q.append(query(".".join([label63] * 3) + "." + "y" * 61, "A"))      # exactly 255
    q.append(header() + b"\x40" + b"x" * 64 + b"\x00" + struct.pack("!HH", 1, 1))
    q.append(header() + b"\x3f" + b"x" * 20)
    q.append(header() + b"\x01" * 300)
    q.append(header() + b"\x00" + struct.pack("!HH", 2, 1))
    # two OPTs, OPT in the wrong place or with an owner, TSIG not last
    q.append(header(ar=2) + question("sink.clearinghouse.test") + opt() + opt())
    q.append(header(an=1) + question("sink.clearinghouse.test") + opt())
    q.append(header(ar=1) + question("sink.clearinghouse.test") + b"\x01x" + opt()[1:])
    tsig = rr("key", "TSIG", b"")
    q.append(header(ar=2) + question("sink.clearinghouse.test") + tsig + opt())
    q.append(header(ar=2) + question("sink.clearinghouse.test") + opt() + tsig)
    q.append(header(ar=1) + question("sink.clearinghouse.test") + tsig)
    q.append(header(ar=1) + question("sink.clearinghouse.test") + opt()[:-2] + b"\x00\x10")
    # signed with fuzz_query.c's key k.test (hmac-sha256, secret bytes 0..31): a
    # time long past (BADTIME, signed), a wrong MAC, truncated MACs, an unknown key
    for qname, extra in [("_xmpp-server._tcp.c.test", b""), ("xmpp.b.test", opt())]:
        base = header(ar=1 if extra else 0) + question(qname, "SRV") + extra
        for key, mac_len, flip in [("k.test", 32, False), ("k.test", 32, True), ("k.test", 16, False),
                                   ("k.test", 8, False), ("nokey.test", 32, False)]:
            q.append(signed(base, key, 1700000000, mac_len, flip))
    return q


def signed(msg, key, when, mac_len=32, flip=False):
    """msg with a TSIG record (RFC 8945 4.3.3), hmac-sha256 over secret bytes 0..31."""
    alg = name("hmac-sha256")
    variables = (name(key) + struct.pack("!HI", 255, 0) + alg +
                 struct.pack("!HIHHH", when >> 32, when & 0xffffffff, 300, 0, 0))
    mac = hmac.new(bytes(range(32)), msg + variables, hashlib.sha256).digest()[:mac_len]
    if flip:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    rdata = (alg + struct.pack("!HIHH", when >> 32, when & 0xffffffff, 300, len(mac)) + mac +
             msg[:2] + b"\x00\x00\x00\x00")
    arcount = struct.unpack("!H", msg[10:12])[0] + 1
    return (msg[:10] + struct.pack("!H", arcount) + msg[12:] + name(key) +
            struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata)


# ------------------------------------------------------------------ upstream answers

def upstream_answers():
    a = []
    ip = b"\xc6\x12\x00\x01"
    a.append(b"")
    a.append(b"\x00" * 11)
    a.append(answer_pkt("www.example", "A", [rr("www.example", "A", ip)]))
    a.append(answer_pkt("www.example", "A", [rr(b"\xc0\x0c", "A", ip, ttl=0)]))
    a.append(answer_pkt("www.example", "A", [rr("www.example", "A", ip)], ad=1, aa=1))
    a.append(answer_pkt("big.example", "AAAA",
                        [rr(b"\xc0\x0c", "AAAA", b"\x20\x01\x0d\xb8" + b"\x00" * 11 + bytes([i]))
                         for i in range(40)]))
    a.append(answer_pkt("_xmpp-server._tcp.d.test", "SRV",
                        [rr(b"\xc0\x0c", "SRV", srv(0, 5, 5269, "xmpp.hoster.example"))],
                        additional=[rr("xmpp.hoster.example", "A", ip)]))
    a.append(answer_pkt("_xmpp-server._tcp.g.test", "SRV",
                        [rr(b"\xc0\x0c", "SRV", srv(0, 5, 5269, "mail.elsewhere.example")),
                         rr(b"\xc0\x0c", "SRV", srv(1, 5, 5269, ".")),
                         rr(b"\xc0\x0c", "SRV", srv(2, 5, 5269, "c.test"))]))
    a.append(answer_pkt("mail.elsewhere.example", "A",
                        [rr("mail.elsewhere.example", "CNAME", name("real.hidden.example")),
                         rr("real.hidden.example", "CNAME", name("xmpp.c.test")),
                         rr("xmpp.c.test", "A", ip)]))
    a.append(answer_pkt("www.example", "A",
                        [rr("www.example", "CNAME", name("loop.example")),
                         rr("loop.example", "CNAME", name("www.example"))]))
    a.append(answer_pkt("www.example", "A",
                        [rr("www.example", "CNAME", name("c.test")), rr("c.test", "A", ip)]))
    a.append(answer_pkt("www.b.test", "A",
                        [rr("b.test", "DNAME", name("c.test")),
                         rr("www.b.test", "CNAME", name("www.c.test")), rr("www.c.test", "A", ip)]))
    a.append(answer_pkt("nothing.example", "A", [], [rr("example", "SOA", soa())], rcode=3))
    a.append(answer_pkt("nothing.example", "A", [], [rr("example", "SOA", soa(minimum=0), ttl=0)]))
    a.append(answer_pkt("www.example", "A", [rr("www.example", "A", ip),
                                              rr("www.example", "RRSIG", b"\x00\x01" + b"\x00" * 16 + name("example") + b"sig")],
                        [rr("example", "NS", name("ns.c.test"))],
                        [rr("ns.c.test", "A", ip), opt(do=1)]))
    a.append(answer_pkt("www.example", "A", [], rcode=2))
    a.append(answer_pkt("www.example", "A", [], rcode=5))
    a.append(answer_pkt("www.example", "A", [rr("www.example", "A", b"\x01\x02")]))  # bad rdata
    a.append(answer_pkt("www.example", "A", [b"\xc0\x0c"]))                       # cut record
    a.append(header(qr=1, an=1) + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + ip)
    a.append(answer_pkt("www.example", "TXT", [rr("www.example", "TXT", b"\xff" + b"t" * 255)] * 3))
    a.append(answer_pkt("_xmpp-server._tcp.a.test", "SRV",
                        [rr(b"\xc0\x0c", "SRV", srv(0, 0, 5269, "xmpp.a.test"))]))
    a.append(answer_pkt("tls.b.test", "A", [rr(b"\xc0\x0c", "A", ip)]))
    return a


def query_input(q, upstream=b"", flags=0, opts=0):
    return bytes([flags, opts]) + struct.pack("!H", len(q)) + q + upstream


def fuzz_query_seeds(queries):
    out = []
    ups = upstream_answers()
    for i, q in enumerate(queries):
        # source: the requester a.test (bits 1-3 = 0), transport and modes vary
        out.append(query_input(q, ups[i % len(ups)], flags=(i % 2) | ((i % 8) << 1) | ((i % 8) << 4),
                               opts=(i * 37) & 0xff))
    # every upstream answer to the queries whose names it answers, every mode
    pairs = [("www.example", "A", [2, 3, 4, 9, 10, 14, 15, 16, 17, 18, 19, 20]),
             ("big.example", "AAAA", [5]), ("_xmpp-server._tcp.d.test", "SRV", [6]),
             ("_xmpp-server._tcp.g.test", "SRV", [7, 21]), ("mail.elsewhere.example", "A", [8]),
             ("www.b.test", "A", [11]), ("nothing.example", "A", [12, 13]),
             ("www.example", "TXT", [20]), ("tls.b.test", "A", [22])]
    for qname, qtype, idx in pairs:
        for k in idx:
            for mode in range(8):
                for tcp in (0, 1):
                    src = 0 if qname != "_xmpp-server._tcp.g.test" else 1  # e.test is denied g
                    out.append(query_input(query(qname, qtype, edns=opt(do=1) if mode & 1 else None),
                                           ups[k], flags=tcp | (src << 1) | (mode << 4),
                                           opts=0x80 if mode & 2 else 0))
    # the same with the sources of every kind
    for src in range(8):
        out.append(query_input(query("_xmpp-server._tcp.b.test", "SRV"), b"", flags=src << 1))
        out.append(query_input(query("xmpp.b.test", "A"), b"", flags=src << 1))
    return out


def tcp_frames_seeds(queries):
    out = []
    frame = lambda m: struct.pack("!H", len(m)) + m
    good = [q for q in queries if len(q) >= 12 and not q[2] & 0x80][:24]
    for i, q in enumerate(good):
        out.append(bytes([(i % 4) | ((i % 8) << 2) | (0x20 if i % 3 else 0) | (0x80 if i % 2 else 0)]) + frame(q))
    # several per connection, pipelined, then a partial one
    out.append(b"\x00" + b"".join(frame(q) for q in good[:6]))
    out.append(b"\x24" + b"".join(frame(q) for q in good[6:12]) + b"\x00\x40" + good[0][:10])
    out.append(b"\x60" + b"".join(frame(q) for q in good[:40]))
    # framing edge cases: zero length, short, a response, a huge length, a byte at a time
    out.append(b"\x00\x00\x00")
    out.append(b"\x00\x00\x05" + b"\x12\x34\x00\x00\x00")
    out.append(b"\x00" + frame(query("www.example", "A", qr=1)) + frame(good[0]))
    out.append(b"\x00\xff\xff" + b"\x00" * 100)
    out.append(b"\x04" + frame(good[1]) + frame(good[2]))
    out.append(b"\x00\x00")
    out.append(b"\x00" + frame(query("clearinghouse.test", "AXFR")))
    out.append(b"\x02" + frame(query("www.example", "A")) * 3)
    return out


def sink_seeds():
    hdrs = [
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
        b" from='a.test' to='c.test' version='1.0'",
        b"<stream:stream from=\"b.test\" to=\"x.test'/><evil a='\" version='1.0'",
        b"<stream:stream to='c.test'",
        b"<stream:stream from='a.test'",
        b"<stream:stream to='' from=''",
        b"<stream:stream to='<script>' from='&amp;'",
        b"<stream:stream\tto='T\xc3\xa9st.example'\nfrom='a_b-c.test'",
        b"<stream:stream to=c.test from=a.test",
        b"<stream:stream xto='c.test' from ='a.test' to= 'd.test' to='e.test'",
        b"<stream:stream to='" + b"a" * 300 + b"'",
        b"<stream:stream to='c.test",
        b"",
        b"GET / HTTP/1.1\r\nHost: sink\r\n",
        b"<?xml version='1.0'?><stream:stream to='c.test' xmlns='jabber:server'>",
    ]
    out = []
    for i, h in enumerate(hdrs):
        out.append(bytes([i % 4, 0]) + h)
    out.append(b"\x02\x40" + hdrs[0])
    out.append(b"\x03\x01" + hdrs[0])
    return out


def files_under(*dirs):
    out = []
    for d in dirs:
        p = os.path.join(TOP, d)
        if os.path.isfile(p):
            out.append(open(p, "rb").read())
            continue
        for f in sorted(os.listdir(p)):
            fp = os.path.join(p, f)
            if os.path.isfile(fp):
                out.append(open(fp, "rb").read())
    return out


def config_seeds():
    out = files_under("etc/resolverd.conf.example", "tests/integration/resolverd.conf.in",
                      "tests/e2e/resolverd.conf.in")
    out += [
        b"listen: 127.0.0.1@5300\ndatabase: /tmp/p.db\nzone-file: /tmp/z\n",
        b"listen: 0.0.0.0@53\nlisten: 127.0.0.1@53\ndatabase: d\nzone-file: z\n",
        b"listen: ::@53\nlisten: ::1@53\nsink-mode: listener\ndatabase: d\nzone-file: z\n",
        b"listen: 127.0.0.1@53\nsink-mode: listener\nsink-listen: 127.0.0.1@5269\ndatabase: d\nzone-file: z\n",
        b"forward: 127.0.0.1@5353\nstub-zone: test. 127.0.0.1@5354\ntransparent-zone: test.\n"
        b"unbound-option: qname-minimisation: no\nrecursion-acl: 10.0.0.0/8\nrecursion-acl: ::1\n",
        b"listen: 127.0.0.1@0\nlisten: 127.0.0.1@65536\nlisten: 1.2.3@53\n",
        b"ttl-cap: -1\nttl-cap: 99999999999999999999\nedns-buffer-size: 511\n",
        b"unknown-keyword: yes\n",
        b"police-domain-address: maybe\n",
        b"# comment only\n\n   \n\t# indented\n",
        b"verbosity:3",
        b"sink-host: \nsink-host: .\nsink-host: " + b"a" * 300 + b"\n",
        b"trust-anchor-file: /nonexistent\nauto-trust-anchor-file: /nonexistent\n",
        b"listen 127.0.0.1@53\n:\n::\nlisten:\n",
        b"recursion-acl: 10.0.0.0/33\nrecursion-acl: 2001:db8::/129\nrecursion-acl: 10.0.0.1/8\n",
        b"database: a\x00b\nzone-file: \xff\xfe\n",
    ]
    return out


def zone_seeds():
    out = files_under("zones", "tests/integration/zones", "tests/e2e/zones",
                      "tests/e2e/clearinghouse.test.zone")
    out += [
        b"$ORIGIN example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        b"@ 60 IN SOA ns hm 1 2 3 4 5\n",
        b"$ORIGIN test.\n@ SOA ns hm 1 2 3 4 5\nwww.other. A 1.2.3.4\n",
        b"$ORIGIN test.\n@ SOA ns hm 1 2 3 4 5\n@ SOA ns hm 2 2 3 4 5\n",
        b"$ORIGIN test.\n@ SOA \\# 0\n",
        b"$ORIGIN test.\n@ SOA ns hm 1 2 3 4 5\n* A 1.2.3.4\nx TXT \"" + b"y" * 255 + b"\"\n",
        b"$ORIGIN test.\n@ SOA ns hm 1 2 3 4 5\nbig TYPE65280 \\# 4 01020304\n",
        b"$ORIGIN test.\n@ SOA ns hm 1 2 3 4 5\n$INCLUDE /etc/passwd\n",
        b"$TTL\n$ORIGIN\n",
        b"www A 1.2.3.4\n",
        b"",
    ]
    return out


# ------------------------------------------------------------------ policy rows

def policydb_seeds():
    """Statements as fuzz_policydb.c decodes them."""
    def text(s):
        b = s.encode() if isinstance(s, str) else s
        return bytes([4, len(b)]) + b

    def integer(v):
        if -128 <= v <= 127:
            return bytes([1, v & 0xff])
        return bytes([3]) + struct.pack("!q", v)

    null = b"\x00"
    DOM, GRP, MEM, IDN, RULE, TGT, TADDR = 0, 1, 2, 3, 4, 5, 6

    def st(i, *vals):
        return bytes([i]) + b"".join(vals)

    base = [st(DOM, text("a.test"), integer(3), integer(1)),
            st(DOM, text("b.test"), integer(1), integer(1)),
            st(DOM, text("c.test"), integer(0), integer(0)),
            st(GRP, text("partners")),
            st(MEM, text("a.test"), text("partners")),
            st(MEM, text("b.test"), text("partners")),
            st(IDN, text("cidr"), text("127.0.0.2"), text("a.test")),
            st(IDN, text("cidr"), text("2001:db8::/32"), text("b.test")),
            st(IDN, text("tsig"), text("key1"), text("c.test")),
            st(RULE, integer(1), text("domain"), text("a.test"), null, null, text("domain"),
               text("c.test"), null, null, text("deny"), null),
            st(RULE, integer(2), text("group"), text("partners"), null, null, text("level"), null,
               integer(1), null, text("allow"), text("2099-12-31 23:59:59")),
            st(RULE, integer(3), text("any"), null, null, null, text("any"), null, null, null,
               text("allow"), null),
            st(TGT, text("b.test"), text("xmpp-server"), integer(5), integer(10), integer(5270),
               text("xmpp.b.test")),
            st(TGT, text("c.test"), text("xmpp-server"), integer(0), integer(0), integer(0), text(".")),
            st(TADDR, text("xmpp.b.test"), text("10.9.9.9")),
            st(TADDR, text("xmpp.b.test"), text("2001:db8::9"))]
    out = [b"".join(base)]
    for i in range(len(base)):
        out.append(b"".join(base[:i + 1]))
    bad = [st(DOM, text("A.TEST"), integer(1), integer(1)),
           st(DOM, text("a..test"), integer(1), integer(1)),
           st(DOM, text("x" * 64 + ".test"), integer(1), integer(1)),
           st(DOM, text("d.test"), integer(-1), integer(2)),
           st(DOM, text("d.test"), bytes([6]) + struct.pack("!d", 1.0), integer(1)),
           st(IDN, text("cidr"), text("10.0.0.1/8"), text("a.test")),
           st(IDN, text("cidr"), text("127.0.0.2/32"), text("b.test")),
           st(IDN, text("cidr"), text("::ffff:1.2.3.4"), text("a.test")),
           st(IDN, text("cidr"), text("2001:DB8::1"), text("a.test")),
           st(IDN, text("cidr"), text("2001:db8:0:0::1"), text("a.test")),
           st(IDN, text("cidr"), text("010.0.0.1"), text("a.test")),
           st(RULE, integer(1), text("level"), null, integer(5), integer(2), text("any"), null,
              null, null, text("allow"), null),
           st(RULE, integer(1), text("any"), null, null, null, text("any"), null, null, null,
              text("allow"), text("2000-01-01 00:00:00")),
           st(TGT, text("b.test"), text("xmpp-server"), integer(0), integer(0), integer(0),
              text("x.b.test")),
           st(TADDR, text("xmpp.b.test"), text("10.0.0.0/8")),
           st(17, integer(5), text("serial")),
           st(10, text("a.test")), st(11, text("partners")), st(12, integer(1))]
    for b in bad:
        out.append(b"".join(base) + b)
    return out


def dict_line(token):
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else "\\x%02x" % b
                         for b in token) + '"'


def dictionaries():
    names = ["_xmpp-server._tcp", "_xmpps-server._tcp", "_jabber._tcp", "a.test", "b.test",
             "c.test", "d.test", "e.test", "g.test", "sub.a.test", "xmpp.b.test", "tls.b.test",
             "hidden.g.test", "clearinghouse.test", "sink.clearinghouse.test", "www.example",
             "mail.elsewhere.example", "real.hidden.example", "test"]
    dns = [name(n)[:-1] for n in names] + [name(n) for n in names]
    dns += [struct.pack("!H", T[t]) for t in ("A", "AAAA", "SRV", "CNAME", "DNAME", "SOA", "OPT",
                                              "TSIG", "RRSIG", "NS", "TXT", "AXFR", "ANY")]
    dns += [opt(), opt(do=1), b"\xc0\x0c", b"\x00\x01\x00\x01", b"\x00\x21\x00\x01",
            b"\x00\x0a\x00\x08", b"\x00\x08\x00\x07\x00\x01", b"\x14\x95"]
    keywords = []
    try:
        import re
        src = open(os.path.join(TOP, "resolverd", "options.c")).read()
        keywords = re.findall(r'^\s*\{ "([a-z0-9-]+)"', src, re.M)
    except OSError:
        pass
    config = [(k + ": ").encode() for k in keywords] + [
        b"127.0.0.1@53", b"::1@5300", b"0.0.0.0@53", b"::@53", b"10.0.0.0/8", b"yes", b"no",
        b"host", b"refuse", b"listener", b"deny", b"pass", b"\n", b"#"]
    zone = [b"$ORIGIN ", b"$TTL ", b"$INCLUDE ", b" IN ", b" CH ", b" SOA ", b" NS ", b" A ",
            b" AAAA ", b" SRV ", b" TXT ", b" CNAME ", b" DNAME ", b" TYPE65280 ", b"\\# ",
            b" ( ", b" ) ", b"; ", b"@", b"*.", b"\\.", b"\\065", b"clearinghouse.test.",
            b"2001:db8::1", b"192.0.2.1", b"3600"]
    sink = [b"<stream:stream", b" to='", b" from='", b' to="', b' from="', b"'", b">",
            b" version='1.0'", b"xmlns='jabber:server'", b"c.test", b"a.test"]
    return {"fuzz_query": dns, "fuzz_tcp_frames": dns + [b"\x00\x0c", b"\xff\xff"],
            "fuzz_config": config, "fuzz_zone": zone, "fuzz_sink_stream": sink}


def write_dicts(outdir):
    os.makedirs(outdir, exist_ok=True)
    for target, tokens in dictionaries().items():
        with open(os.path.join(outdir, target + ".dict"), "w") as f:
            f.write("# %s: libFuzzer dictionary, written by tests/fuzz/seeds.py --dicts\n" % target)
            for t in dict.fromkeys(tokens):
                f.write(dict_line(t) + "\n")
        print("%s.dict: %d tokens" % (target, len(set(tokens))))


def write(outdir, target, inputs):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (target, len(set(inputs))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-dig", action="store_true", help="do not run dig and kdig")
    ap.add_argument("--dicts", action="store_true", help="write the dictionaries instead")
    ap.add_argument("outdir")
    args = ap.parse_args()
    if args.dicts:
        write_dicts(args.outdir)
        return 0
    queries = ([] if args.no_dig else captured_queries()) + crafted_queries()
    write(args.outdir, "fuzz_query", fuzz_query_seeds(queries))
    write(args.outdir, "fuzz_tcp_frames", tcp_frames_seeds(queries))
    write(args.outdir, "fuzz_sink_stream", sink_seeds())
    write(args.outdir, "fuzz_config", config_seeds())
    write(args.outdir, "fuzz_zone", zone_seeds())
    write(args.outdir, "fuzz_policydb", policydb_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
