#!/usr/bin/env python3
"""A zone transfer server for test_sites.sh that signs only some messages.

Usage: xfr_fake.py PORT ZONEFILE KEYNAME SECRET_BASE64 MODE

Serves ZONEFILE (as chpolicy export zone writes it: one record a line, SOA,
NS and TXT) on 127.0.0.1:PORT over TCP to AXFR and IXFR queries, always as a
whole zone, one record per message, with TSIG hmac-sha256 (RFC 8945) on the
first message, every fourth and the last; the ones between are unsigned, as
RFC 8945 5.3.1 allows (NSD and Knot sign every message, so this is the only
test of that path). MODE:
  sparse         as above
  tamper         as above, with one byte of an unsigned message's record changed
  unsigned-last  the last message unsigned too
Stops on SIGTERM.
"""
import base64, hashlib, hmac, re, socket, struct, sys, time

port, zonefile, keyname, secret, mode = sys.argv[1:6]
secret = base64.b64decode(secret)


def name_wire(name):
    name = name.rstrip(".")
    out = b""
    if name:
        for label in name.split("."):
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def txt_strings(text):
    """The character-strings of a TXT rdata in master format."""
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text):
        s, b, i = m.group(1), bytearray(), 0
        while i < len(s):
            if s[i] == "\\" and s[i + 1:i + 4].isdigit():
                b.append(int(s[i + 1:i + 4]))
                i += 4
            elif s[i] == "\\":
                b += s[i + 1].encode()
                i += 2
            else:
                b += s[i].encode()
                i += 1
        out.append(bytes(b))
    return out


def rr_wire(line):
    owner, ttl, _cls, typ, rdata = line.split(None, 4)
    if typ == "SOA":
        f = rdata.split()
        rd = name_wire(f[0]) + name_wire(f[1]) + struct.pack("!5I", *[int(x) for x in f[2:7]])
        t = 6
    elif typ == "NS":
        rd, t = name_wire(rdata.strip()), 2
    elif typ == "TXT":
        rd, t = b"".join(bytes([len(s)]) + s for s in txt_strings(rdata)), 16
    else:
        raise SystemExit("xfr_fake: type %s" % typ)
    return name_wire(owner) + struct.pack("!HHIH", t, 1, int(ttl), len(rd)) + rd


records = [rr_wire(l) for l in open(zonefile) if l.strip() and not l.startswith(";")]
records.append(records[0])  # the closing SOA
KEY = name_wire(keyname)
ALG = name_wire("hmac-sha256")


def tsig_rr(mac, qid, now):
    rd = ALG + struct.pack("!HIH", now >> 32, now & 0xffffffff, 300) + struct.pack("!H", len(mac)) + mac
    rd += struct.pack("!HHH", qid, 0, 0)
    return KEY + struct.pack("!HHIH", 250, 255, 0, len(rd)) + rd


def serve(conn):
    n = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
    q = conn.recv(n, socket.MSG_WAITALL)
    qid = struct.unpack("!H", q[:2])[0]
    # the question, and the request MAC (the query's last record is its TSIG)
    off = 12
    while q[off]:
        off += q[off] + 1
    question = q[12:off + 5]
    tsig = q.rfind(ALG)
    p = tsig + len(ALG) + 8
    reqmac = q[p + 2:p + 2 + struct.unpack("!H", q[p:p + 2])[0]]
    prev, pending, out = reqmac, b"", []
    now = int(time.time())
    last = len(records) - 1
    for i, rec in enumerate(records):
        msg = struct.pack("!HHHHHH", qid, 0x8400, 1, 1, 0, 0) + question + rec
        sign = i == 0 or (i == last and mode != "unsigned-last") or (i % 4 == 0 and i != last)
        if not sign:
            pending += msg
            out.append(msg)
            continue
        timers = struct.pack("!HIH", now >> 32, now & 0xffffffff, 300)
        if i == 0:
            data = struct.pack("!H", len(prev)) + prev + msg + KEY + struct.pack("!HI", 255, 0) + ALG + timers + struct.pack("!HH", 0, 0)
        else:
            data = struct.pack("!H", len(prev)) + prev + pending + msg + timers
        mac = hmac.new(secret, data, hashlib.sha256).digest()
        prev, pending = mac, b""
        signed = bytearray(msg + tsig_rr(mac, qid, now))
        signed[11] = 1  # ARCOUNT
        out.append(bytes(signed))
    if mode == "tamper":
        for i in range(1, len(out)):
            if i % 4 and b"level" in out[i]:
                m = bytearray(out[i])
                j = m.find(b"level") + 8
                m[j] = m[j] ^ 1
                out[i] = bytes(m)
                break
    for m in out:
        conn.sendall(struct.pack("!H", len(m)) + m)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(port)))
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        serve(c)
    except Exception as e:  # a client that went away: the next one
        print("xfr_fake:", e, file=sys.stderr)
    c.close()
