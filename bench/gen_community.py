#!/usr/bin/env python3
"""Synthetic community for the policy scale benchmark, as SQL for the sqlite3 shell.

Usage: gen_community.py DOMAINS [GROUPS] [RULES]   (defaults: 50 groups, 10 rules per domain)

Domains dNNNNNN.example with levels 0-5, 1-4 group memberships each, one /32 per
domain under 10.0.0.0/8 (and 127.0.0.2 for the first), and a rule mix like a real community's: explicit pairs
(60 %), a domain's local service policy to a level range (20 %), group to group
(14 %), domain to group (5 %), a level range to any (1 %); 5 % of
the rules expire in the next year, priorities 1-1000.
"""
import random, sys

n = int(sys.argv[1])
ngroups = int(sys.argv[2]) if len(sys.argv) > 2 else 50
nrules = int(sys.argv[3]) if len(sys.argv) > 3 else 10 * n
random.seed(1)
dom = lambda i: "d%06d.example" % i
print(".bail on\nPRAGMA journal_mode = DELETE;\nPRAGMA synchronous = OFF;\nBEGIN;")
print("INSERT INTO groups(name) VALUES " + ",".join("('g%02d')" % g for g in range(ngroups)) + ";")
for i in range(n):
    print("INSERT INTO domains(name, level) VALUES ('%s', %d);" % (dom(i), random.randrange(6)))
    print("INSERT INTO identities(value, domain) VALUES ('10.%d.%d.%d/32', '%s');"
          % (i >> 16 & 255, i >> 8 & 255, i & 255, dom(i)))
    for g in random.sample(range(ngroups), random.randint(1, 4)):
        print("INSERT INTO memberships(domain, grp) VALUES ('%s', 'g%02d');" % (dom(i), g))
cols = "priority, from_kind, from_name, from_min, from_max, to_kind, to_name, to_min, to_max, action, expires"
def q(v): return "NULL" if v is None else ("'%s'" % v if isinstance(v, str) else str(v))
# the benchmark queries as the first domain from loopback
print("INSERT INTO identities(value, domain) VALUES ('127.0.0.2/32', '%s');" % dom(0))
for r in range(nrules):
    x = random.random()
    d1, d2 = dom(random.randrange(n)), dom(random.randrange(n))
    lo = random.randrange(5); hi = random.choice([lo, lo + 1, None])
    if x < 0.60:   sel = ("domain", d1, None, None, "domain", d2, None, None)
    elif x < 0.80: sel = ("domain", d1, None, None, "level", None, lo, hi)
    elif x < 0.94: sel = ("group", "g%02d" % random.randrange(ngroups), None, None, "group", "g%02d" % random.randrange(ngroups), None, None)
    elif x < 0.99: sel = ("domain", d1, None, None, "group", "g%02d" % random.randrange(ngroups), None, None)
    else:          sel = ("level", None, lo, hi, "any", None, None, None)
    exp = "2099-01-%02d 00:00:00" % random.randint(1, 28) if random.random() < 0.05 else None
    vals = (random.randint(1, 1000),) + sel + (random.choice(["allow", "allow", "deny"]), exp)
    print("INSERT INTO rules(%s) VALUES (%s);" % (cols, ", ".join(q(v) for v in vals)))
# one huge transaction is slow in WAL mode (the WAL index grows with it)
print("COMMIT;\nPRAGMA journal_mode = WAL;")
