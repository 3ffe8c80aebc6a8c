#!/usr/bin/env python3
"""The differential test of chpolicy export views (test_export_unbound.sh).

    export_diff.py gen DIR N SEED
        Writes a generated community of N domains (plus subdomains that are
        community domains of their own) under fed.test:
          DIR/zones/fed.test.zone  the real records, for NSD
          DIR/policy.sql           domains, levels, groups, identities
                                   (127.1.x.y), targets, explicit pairs,
                                   denies, a disabled domain
          DIR/paths                the (requester address, requester, peer,
                                   qname, qtype) lines to ask
    export_diff.py ask A_PORT B_PORT PATHS SAMPLE SEED
        Asks every sampled path of PATHS from its requester's address of
        both servers on 127.0.0.1 (UDP, each question until it is answered)
        and compares the policy outcome: the rcode and the records of the
        question's type (TTLs aside). Prints one line per difference and the
        summary "compared N paths, D differences" (exit 1 if D > 0).
"""
import os
import random
import selectors
import socket
import struct
import sys
import time

SERVICES = ("_xmpp-server._tcp", "_xmpps-server._tcp", "_jabber._tcp")
TYPES = {"A": 1, "AAAA": 28, "SRV": 33, "TXT": 16}


def gen(out, n, seed):
    rnd = random.Random(seed)
    os.makedirs(os.path.join(out, "zones"), exist_ok=True)
    names = ["d%03d.fed.test" % i for i in range(n)]
    subs = ["sub.%s" % names[i] for i in range(0, n, 25)]      # community domains of their own
    domains = names + subs
    closed = {names[i]: "xmpp%03d.hosting.fed.test" % i for i in range(15, n, 30)}
    shared = "shared.hosting.fed.test"                          # a host serving two peers
    closed_shared = [names[45], names[75]] if n > 75 else []
    zone = ["$ORIGIN fed.test.", "$TTL 3600",
            "@ IN SOA ns.fed.test. hostmaster.fed.test. ( 1 3600 600 604800 300 )",
            "@ IN NS ns.fed.test.", "ns IN A 127.0.0.1"]
    for k, d in enumerate(domains):
        rel = d[:-len(".fed.test")]
        a = "10.%d.%d.1" % (k // 200 + 1, k % 200)
        zone += ["%s IN A %s" % (rel, a), "xmpp.%s IN A %s" % (rel, a[:-1] + "2"),
                 "conference.%s IN A %s" % (rel, a[:-1] + "3"),
                 "_xmpp-server._tcp.conference.%s IN SRV 0 0 5269 xmpp.%s.fed.test." % (rel, rel)]
        for s in SERVICES:
            zone.append("%s.%s IN SRV 0 5 5269 xmpp.%s.fed.test." % (s, rel, rel))
    with open(os.path.join(out, "zones", "fed.test.zone"), "w") as f:
        f.write("\n".join(zone) + "\n")

    sql = ["BEGIN;"]
    groups = ["g%d" % i for i in range(7)] + ["nato"]
    sql.append("INSERT INTO groups (name) VALUES %s;" % ", ".join("('%s')" % g for g in groups))
    ident = {}
    for k, d in enumerate(domains):
        level = (k * 7 + 3) % 5
        sql.append("INSERT INTO domains (name, level, enabled) VALUES ('%s', %d, %d);"
                   % (d, level, 0 if d == names[7] else 1))
        ident[d] = "127.1.%d.%d" % (k // 200, k % 200 + 1)
        sql.append("INSERT INTO identities (kind, value, domain) VALUES ('cidr', '%s/32', '%s');" % (ident[d], d))
        if k % 3 == 0:
            sql.append("INSERT INTO memberships (domain, grp) VALUES ('%s', 'g%d');" % (d, k % 7))
        if k % 11 == 0:
            sql.append("INSERT INTO memberships (domain, grp) VALUES ('%s', 'nato');" % d)
    for d, host in closed.items():
        sql.append("INSERT INTO targets (domain, service, priority, weight, port, host) VALUES "
                   "('%s', 'xmpp-server', 0, 0, 5269, '%s');" % (d, host))
        sql.append("INSERT INTO target_addresses (host, address) VALUES ('%s', '10.99.%d.%d');"
                   % (host, int(d[1:4]) // 200, int(d[1:4]) % 200 + 1))
    for d in closed_shared:
        sql.append("INSERT INTO targets (domain, service, priority, weight, port, host) VALUES "
                   "('%s', 'xmpps-server', 0, 0, 5270, '%s');" % (d, shared))
    if closed_shared:
        sql.append("INSERT INTO target_addresses (host, address) VALUES ('%s', '10.98.0.1');" % shared)
    rules = [
        (10, "domain", names[13], "any", None, "deny"),
        (20, "any", None, "domain", names[17], "deny"),
        (50, "group", "g1", "group", "g1", "allow"),
        (60, "group", "nato", "any", None, "allow"),
    ]
    for _ in range(40):
        x, y = rnd.sample(domains, 2)
        rules.append((40, "domain", x, "domain", y, "allow"))
        if rnd.random() < 0.6:
            rules.append((40, "domain", y, "domain", x, "allow"))
    for _ in range(10):
        x, y = rnd.sample(domains, 2)
        rules.append((35, "domain", x, "domain", y, "deny"))
    for prio, fk, fn, tk, tn, act in rules:
        sql.append("INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES "
                   "(%d, '%s', %s, '%s', %s, '%s');" % (prio, fk, "'%s'" % fn if fn else "NULL",
                                                         tk, "'%s'" % tn if tn else "NULL", act))
    sql += [
        "INSERT INTO rules (priority, from_kind, from_min, to_kind, to_min, action) VALUES (100, 'level', 3, 'level', 2, 'allow');",
        "INSERT INTO rules (priority, from_kind, from_max, to_kind, to_max, action) VALUES (110, 'level', 1, 'level', 2, 'allow');",
        "INSERT INTO rules (priority, from_kind, from_min, from_max, to_kind, to_min, to_max, action) VALUES (120, 'level', 2, 2, 'level', 2, 4, 'allow');",
        "INSERT INTO rules (priority, from_kind, from_min, from_max, to_kind, to_name, action) VALUES (30, 'level', 4, 4, 'group', 'g2', 'deny');",
        "COMMIT;",
    ]
    with open(os.path.join(out, "policy.sql"), "w") as f:
        f.write("\n".join(sql) + "\n")

    with open(os.path.join(out, "paths"), "w") as f:
        for r in domains:
            for p in domains:
                for s in SERVICES:
                    f.write("%s %s %s %s.%s SRV\n" % (ident[r], r, p, s, p))
                f.write("%s %s %s %s A\n" % (ident[r], r, p, p))
                f.write("%s %s %s conference.%s A\n" % (ident[r], r, p, p))
                f.write("%s %s %s _xmpp-server._tcp.conference.%s SRV\n" % (ident[r], r, p, p))
                f.write("%s %s %s xmpp.%s TXT\n" % (ident[r], r, p, p))
                if p in closed:
                    f.write("%s %s %s %s A\n" % (ident[r], r, p, closed[p]))
                if p in closed_shared:
                    f.write("%s %s %s %s A\n" % (ident[r], r, p, shared))


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def read_name(msg, o):
    labels, jumped, end = [], False, o
    while True:
        ln = msg[o]
        if ln & 0xC0 == 0xC0:
            if not jumped:
                end = o + 2
            o = ((ln & 0x3F) << 8) | msg[o + 1]
            jumped = True
            continue
        o += 1
        if ln == 0:
            break
        labels.append(msg[o:o + ln].decode("ascii", "replace").lower())
        o += ln
    return ".".join(labels) + ".", (end if jumped else o)


def outcome(msg, qtype):
    """rcode and the sorted rdata of the answer records of the question's type."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    rcode = flags & 0xF
    o = 12
    for _ in range(qd):
        _, o = read_name(msg, o)
        o += 4
    recs = []
    for _ in range(an):
        _, o = read_name(msg, o)
        t, c, ttl, rdlen = struct.unpack("!HHIH", msg[o:o + 10])
        o += 10
        rd = msg[o:o + rdlen]
        if t == qtype == 1:
            recs.append(socket.inet_ntop(socket.AF_INET, rd))
        elif t == qtype == 28:
            recs.append(socket.inet_ntop(socket.AF_INET6, rd))
        elif t == qtype == 33:
            pr, w, port = struct.unpack("!HHH", rd[:6])
            recs.append("%d %d %d %s" % (pr, w, port, read_name(msg, o + 6)[0]))
        elif t == qtype:
            recs.append(rd.hex())
        o += rdlen
    names = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
    return "%s %s" % (names.get(rcode, str(rcode)), " | ".join(sorted(recs)) if recs else "NODATA")


def ask_all(port, items):
    """items: list of (src, qname, qtype). Returns the outcome of each, in order."""
    sel = selectors.DefaultSelector()
    socks = {}
    for src in sorted({i[0] for i in items}):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.setblocking(False)
        socks[src] = s
        sel.register(s, selectors.EVENT_READ, src)
    results = [None] * len(items)
    pending = {}          # (src, id) -> (index, sent at, tries)
    todo = list(range(len(items)))
    todo.reverse()
    next_id = {src: random.randint(0, 65535) for src in socks}
    window, deadline = 200, time.time() + 300
    while (todo or pending) and time.time() < deadline:
        while todo and len(pending) < window:
            i = todo.pop()
            src, qname, qtype = items[i]
            qid = next_id[src] = (next_id[src] + 1) & 0xFFFF
            msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(qname) + \
                struct.pack("!HH", TYPES[qtype], 1)
            socks[src].sendto(msg, ("127.0.0.1", port))
            pending[(src, qid)] = (i, time.time(), pending.get((src, qid), (0, 0, 0))[2] + 1)
        for key, _ in sel.select(timeout=0.05):
            src = key.data
            while True:
                try:
                    data = key.fileobj.recv(4096)
                except BlockingIOError:
                    break
                qid = struct.unpack("!H", data[:2])[0]
                p = pending.pop((src, qid), None)
                if p is None:
                    continue
                i = p[0]
                results[i] = outcome(data, TYPES[items[i][2]])
        now = time.time()
        for k, (i, t0, tries) in list(pending.items()):
            if now - t0 > 1.0:
                del pending[k]
                if tries < 4:
                    todo.append(i)
                else:
                    results[i] = "TIMEOUT"
    for s in socks.values():
        s.close()
    return [r if r is not None else "TIMEOUT" for r in results]


def ask(a_port, b_port, paths, sample, seed):
    lines = [l.split() for l in open(paths)]
    rnd = random.Random(seed)
    if 0 < sample < len(lines):
        lines = rnd.sample(lines, sample)
    items = [(l[0], l[3], l[4]) for l in lines]
    t0 = time.time()
    a = ask_all(a_port, items)
    b = ask_all(b_port, items)
    # SERVFAIL says the server was busy or its upstream slow, not what the
    # policy is: such a question is asked again (both servers), at most 3 times
    retried = 0
    for _ in range(3):
        again = [i for i in range(len(items)) if a[i].startswith("SERVFAIL") or b[i].startswith("SERVFAIL")]
        if not again:
            break
        retried += len(again)
        time.sleep(1)
        ra = ask_all(a_port, [items[i] for i in again])
        rb = ask_all(b_port, [items[i] for i in again])
        for k, i in enumerate(again):
            a[i], b[i] = ra[k], rb[k]
    if retried:
        print("# asked again after a SERVFAIL: %d" % retried)
    diffs = 0
    kinds = {}
    for l, x, y in zip(lines, a, b):
        sink = "sink.clearinghouse.test" in x or x.endswith(" .") or "127.0.0.1" in x.split(" ", 1)[1]
        kinds[("sink" if sink else "real" if "NODATA" not in x else "nodata")] = \
            kinds.get("sink" if sink else "real" if "NODATA" not in x else "nodata", 0) + 1
        if x != y:
            diffs += 1
            if diffs <= 30:
                print("# DIFF %s (%s) -> %s %s %s: resolverd %s; unbound %s" % (l[1], l[0], l[2], l[3], l[4], x, y))
    print("# outcomes (resolverd): %s" % ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    print("compared %d paths, %d differences (%.1f s)" % (len(items), diffs, time.time() - t0))
    return 1 if diffs else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "ask":
        sys.exit(ask(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])))
    else:
        sys.exit("usage: export_diff.py gen DIR N SEED | ask A_PORT B_PORT PATHS SAMPLE SEED")
