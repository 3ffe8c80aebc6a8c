-- Test policy of tests/integration/test_resolverd.sh, loaded with the sqlite3
-- shell after dbtools/schema.sql.
--
-- domain     level  requester identity          groups
-- a.test     3      127.0.0.2/32                nato
-- b.test     2      127.0.0.3/32, ::1/128       -
-- c.test     1      127.0.0.4/30 (.4 .6 .7)     -
-- d.test     3      127.0.0.5/32 (inside c's /30: longest prefix wins)   nato
-- 127.0.0.1: not identified, in recursion-acl.  127.0.0.9: neither: REFUSED.
--
-- Decisions (require-mutual on), requester -> peer:
--   a -> b allow   (a->any, b->a)          a -> c deny  (explicit deny, prio 10)
--   a -> d allow   (a->any, nato<->nato)
--   b -> a allow                           b -> c allow (b->level 1..1, c->any)
--   b -> d deny    (no rule b->d)
--   c -> a deny    (c->any but a->c denied: not mutual)
--   c -> b allow                           c -> d deny  (c->any, no rule d->c)
--   d -> a allow   (nato)                  d -> b deny  (no rule)
.bail on
.timeout 5000
BEGIN;
INSERT INTO domains (name, level, note) VALUES
    ('a.test', 3, 'alpha'), ('b.test', 2, 'bravo'), ('c.test', 1, 'charlie'), ('d.test', 3, 'delta, a big SRV RRset');
INSERT INTO groups (name) VALUES ('nato');
INSERT INTO memberships (domain, grp) VALUES ('a.test', 'nato'), ('d.test', 'nato');
INSERT INTO identities (kind, value, domain) VALUES
    ('cidr', '127.0.0.2/32', 'a.test'),
    ('cidr', '127.0.0.3/32', 'b.test'),
    ('cidr', '::1/128',      'b.test'),
    ('cidr', '127.0.0.4/30', 'c.test'),
    ('cidr', '127.0.0.5/32', 'd.test');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note) VALUES
    (10, 'domain', 'a.test', 'domain', 'c.test', 'deny',  'a never talks to c');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (20, 'domain', 'a.test', 'any', NULL, 'allow'),
    (30, 'domain', 'b.test', 'domain', 'a.test', 'allow');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_min, to_max, action) VALUES
    (40, 'domain', 'b.test', 'level', 1, 1, 'allow');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (50, 'domain', 'c.test', 'any', NULL, 'allow'),
    (60, 'group', 'nato', 'group', 'nato', 'allow');
COMMIT;
