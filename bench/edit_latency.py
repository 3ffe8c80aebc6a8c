#!/usr/bin/env python3
"""Time from a committed policy edit to resolverd's new answer.

Usage: edit_latency.py DB SERVER PORT EDITS

Flips requester2.example -> peer00001.example (an odd peer: denied by default)
EDITS times with an allow rule inserted and deleted through SQLite, the way any
writer commits, and after each commit polls resolverd from 127.0.0.2 over UDP
every millisecond until the answer changes. Prints p50, p99 and max in ms.
"""
import socket, sqlite3, struct, sys, time

db, server, port, edits = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
qname = b"".join(bytes([len(l)]) + l for l in b"_xmpp-server._tcp.peer00001.example".split(b".")) + b"\0"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.2", 0))
sock.settimeout(0.2)

def answer_is_sink(qid):
    sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\x21\0\x01", (server, port))
    while True:
        data, _ = sock.recvfrom(4096)
        if struct.unpack(">H", data[:2])[0] == qid:
            return b"\x04sink" in data

conn = sqlite3.connect(db, timeout=5, isolation_level=None)
times, qid = [], 0
for i in range(edits):
    want_sink = i % 2 == 1
    if want_sink:
        conn.execute("DELETE FROM rules WHERE note = 'bench edit'")
    else:
        conn.execute("INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note)"
                     " VALUES (1, 'domain', 'requester2.example', 'domain', 'peer00001.example', 'allow', 'bench edit')")
    t0 = time.monotonic()
    while True:
        qid = (qid + 1) & 0xffff
        try:
            if answer_is_sink(qid) == want_sink:
                break
        except socket.timeout:
            pass
        if time.monotonic() - t0 > 5:
            break
        time.sleep(0.001)
    times.append((time.monotonic() - t0) * 1000)
times.sort()
p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print("p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (p(0.50), p(0.99), times[-1]))
