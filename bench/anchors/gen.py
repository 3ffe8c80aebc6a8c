#!/usr/bin/env python3
"""The workload of bench/run.sh, for resolverd and for the anchors alike.

Usage: gen.py OUTDIR [PEERS]     (PEERS: default 10000)

The community: PEERS domains peerNNNNN.example, each with
    _xmpp-server._tcp.peerNNNNN.example. SRV 0 5 5269 xmpp.peerNNNNN.example.
    xmpp.peerNNNNN.example.              A   198.51.100.(N % 250 + 1)
and three requesters, by source address: 127.0.0.2 may reach the even peers,
127.0.0.3 the odd ones, 127.0.0.4 all of them. A denied lookup is answered
SRV 0 0 5269 sink.clearinghouse.test.

Writes into OUTDIR:
    queries.txt         dnsperf input: 3 passes over the SRV names, each shuffled
    example.zone        the real records (resolverd's upstream; the NSD and
                        Knot anchors, which answer every requester alike)
    policy.sql          the policy as resolverd reads it (sqlite3 input, after
                        dbtools/schema.sql)
    unbound-views.conf  the policy as Unbound views: one access-control-view
                        per requester, each with its own SRV records
"""
import os
import random
import sys

out = sys.argv[1]
peers = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
SINK = "0 0 5269 sink.clearinghouse.test."
SINK_ADDR = "127.0.0.1"   # as in zones/clearinghouse.test.zone

# source address -> (requester domain, which peers it may reach)
REQUESTERS = {
    "127.0.0.2": ("requester2.example", lambda i: i % 2 == 0),
    "127.0.0.3": ("requester3.example", lambda i: i % 2 == 1),
    "127.0.0.4": ("requester4.example", lambda i: True),
}


def peer(i):
    return "peer%05d.example" % i


def srv_name(i):
    return "_xmpp-server._tcp.%s." % peer(i)


def srv_real(i):
    return "0 5 5269 xmpp.%s." % peer(i)


def target_addr(i):
    return "198.51.100.%d" % (i % 250 + 1)


def write(name, lines):
    with open(os.path.join(out, name), "w") as f:
        for line in lines:
            f.write(line + "\n")


def queries():
    rng = random.Random(2024)
    for _ in range(3):
        order = list(range(peers))
        rng.shuffle(order)
        for i in order:
            yield "%s SRV" % srv_name(i)


def zone():
    yield "$ORIGIN example.\n$TTL 3600"
    yield "@ IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300"
    yield "@ IN NS ns.example.\nns IN A 127.0.0.1"
    for i in range(peers):
        yield "%s IN SRV %s" % (srv_name(i), srv_real(i))
        yield "xmpp.%s. IN A %s" % (peer(i), target_addr(i))


def policy():
    # The policy as an admin would write it: two groups and four rules, not a
    # row per pair. One big transaction is slow in WAL mode (the WAL index
    # grows with it), hence DELETE for the load.
    yield ".bail on\nPRAGMA journal_mode = DELETE;\nBEGIN;"
    yield "INSERT INTO groups(name) VALUES ('even'), ('odd'), ('requesters');"
    for src, (dom, _) in REQUESTERS.items():
        yield "INSERT INTO domains(name, level) VALUES ('%s', 1);" % dom
        yield "INSERT INTO identities(value, domain) VALUES ('%s/32', '%s');" % (src, dom)
        yield "INSERT INTO memberships(domain, grp) VALUES ('%s', 'requesters');" % dom
    for i in range(peers):
        yield "INSERT INTO domains(name, level) VALUES ('%s', 1);" % peer(i)
        yield "INSERT INTO memberships(domain, grp) VALUES ('%s', '%s');" % (
            peer(i), "even" if i % 2 == 0 else "odd")
    yield ("INSERT INTO rules(priority, from_kind, from_name, to_kind, to_name, action) VALUES"
           " (10, 'domain', 'requester2.example', 'group', 'even', 'allow'),"
           " (10, 'domain', 'requester3.example', 'group', 'odd', 'allow'),"
           " (10, 'domain', 'requester4.example', 'any', NULL, 'allow');")
    # mutual consent: every peer accepts the requesters
    yield ("INSERT INTO rules(priority, from_kind, to_kind, to_name, action)"
           " VALUES (20, 'any', 'group', 'requesters', 'allow');")
    yield "COMMIT;\nPRAGMA journal_mode = WAL;"


def view(domain):
    return domain.split(".")[0]


def unbound_views():
    # The target addresses and the sink are the same for everyone: global
    # local-data. Each view holds its requester's SRV answers; view-first and
    # a transparent example. in the view let the A lookups fall through to the
    # global data.
    yield "server:"
    for src, (dom, _) in REQUESTERS.items():
        yield "    access-control-view: %s/32 %s" % (src, view(dom))
    yield '    local-zone: "example." static'
    yield '    local-zone: "clearinghouse.test." static'
    yield '    local-data: "sink.clearinghouse.test. 300 IN A %s"' % SINK_ADDR
    for i in range(peers):
        yield '    local-data: "xmpp.%s. 3600 IN A %s"' % (peer(i), target_addr(i))
    for dom, may_reach in REQUESTERS.values():
        yield "view:\n    name: \"%s\"\n    view-first: yes" % view(dom)
        yield '    local-zone: "example." transparent'
        for i in range(peers):
            yield '    local-data: "%s 3600 IN SRV %s"' % (
                srv_name(i), srv_real(i) if may_reach(i) else SINK)


os.makedirs(out, exist_ok=True)
write("queries.txt", queries())
write("example.zone", zone())
write("policy.sql", policy())
write("unbound-views.conf", unbound_views())
