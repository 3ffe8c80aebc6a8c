-- Policy of the end-to-end test (tests/e2e/run.sh), loaded with the sqlite3
-- shell after dbtools/schema.sql.
--
-- domain        server     address (identity)
-- alpha.test    Prosody    198.18.0.11/32
-- bravo.test    Prosody    198.18.0.12/32
-- charlie.test  Prosody    198.18.0.13/32   SRV target from the targets table
-- delta.test    ejabberd   198.18.0.14/32
--
-- Rules: alpha <-> bravo allowed (both directions: mutual consent);
-- bravo -> charlie allowed one way only (no charlie -> bravo rule);
-- alpha <-> delta allowed. Everything else: default deny. While everything
-- runs, the test adds alpha <-> charlie (the live flip) and, for ejabberd's
-- fallback, the one-way rules bravo -> delta and charlie -> delta, with the
-- sqlite3 shell.
.bail on
.timeout 5000
BEGIN;
INSERT INTO domains (name, level, note) VALUES
    ('alpha.test', 3, 'Prosody'), ('bravo.test', 3, 'Prosody'),
    ('charlie.test', 2, 'Prosody'), ('delta.test', 3, 'ejabberd');
INSERT INTO identities (kind, value, domain) VALUES
    ('cidr', '198.18.0.11/32', 'alpha.test'),
    ('cidr', '198.18.0.12/32', 'bravo.test'),
    ('cidr', '198.18.0.13/32', 'charlie.test'),
    ('cidr', '198.18.0.14/32', 'delta.test');
INSERT INTO targets (domain, service, priority, weight, port, host) VALUES
    ('charlie.test', 'xmpp-server', 0, 0, 5269, 'xmpp.charlie.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.charlie.test', '198.18.0.13');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note) VALUES
    (10, 'domain', 'alpha.test', 'domain', 'bravo.test', 'allow', 'alpha -> bravo'),
    (10, 'domain', 'bravo.test', 'domain', 'alpha.test', 'allow', 'bravo -> alpha'),
    (20, 'domain', 'bravo.test', 'domain', 'charlie.test', 'allow', 'bravo -> charlie, one way only'),
    (30, 'domain', 'alpha.test', 'domain', 'delta.test', 'allow', 'alpha -> delta'),
    (30, 'domain', 'delta.test', 'domain', 'alpha.test', 'allow', 'delta -> alpha');
COMMIT;
