-- XMPP Federation Clearinghouse: the policy database.
--
-- Plain SQL, meant to be edited with `chpolicy` or straight with the `sqlite3`
-- shell. The database refuses bad rows itself (CHECK constraints and triggers),
-- so an edit in the shell is exactly as safe as one through chpolicy: the shell
-- does not enable foreign keys by default, so references are checked by triggers.
--
-- Every change to a policy table bumps meta.serial and writes an audit row.
-- resolverd polls PRAGMA data_version and reloads on a new serial.
--
-- Names are stored lower-case, without the trailing dot, Unicode names as
-- A-labels (xn--...).
--
-- Every value resolverd's loader (resolverd/policydb.c) reads is checked
-- here by the same definition the loader applies, so that nothing the
-- database accepts can stop resolverd from loading the policy:
--   names       name_syntax below (domains, target hosts, address hosts)
--   addresses   address_syntax below (identities, target addresses)
--   numbers     integers (typeof), in range: levels 0-2147483647, SRV
--               priority, weight 0-65535, port 1-65535 (0 for target ".")
--   words       service, action, selector kind, rule mode: one of a list
--   times       rules.expires: 'YYYY-MM-DD HH:MM:SS', UTC

PRAGMA journal_mode = WAL;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('serial', 1);

CREATE TRIGGER meta_numbers BEFORE UPDATE ON meta
WHEN NEW.key IN ('schema_version', 'serial') AND (typeof(NEW.value) <> 'integer' OR NEW.value < 1)
BEGIN SELECT RAISE(ABORT, 'meta: schema_version and serial are integers from 1'); END;

-- meta holds the two numbers above and, during a chpolicy transaction, the actor
-- that the audit triggers record. Nothing else may be stored there.
CREATE TRIGGER meta_keys BEFORE INSERT ON meta
WHEN NEW.key NOT IN ('schema_version', 'serial', 'actor')
BEGIN SELECT RAISE(ABORT, 'meta: unknown key'); END;

CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
WHEN OLD.key IN ('schema_version', 'serial')
BEGIN SELECT RAISE(ABORT, 'meta: schema_version and serial cannot be deleted'); END;

-- The one definition of a DNS name here (domains, SRV target hosts, the
-- hosts of target addresses): letters a-z, digits and hyphens, lower case,
-- labels of 1 to 63 characters that neither start nor end with a hyphen,
-- 1 to 253 characters in all, no trailing dot. The table stays empty: a
-- trigger that checks a name puts it in and takes it out again, so that this
-- CHECK speaks for every table ("CHECK constraint failed: invalid domain name").
CREATE TABLE name_syntax (
    name TEXT NOT NULL
         CONSTRAINT "invalid domain name" CHECK (typeof(name) = 'text'
                AND length(CAST(name AS BLOB)) = length(name)
                AND length(name) BETWEEN 1 AND 253
                AND name NOT GLOB '*[^a-z0-9.-]*'
                AND name GLOB '[a-z0-9]*'
                AND name GLOB '*[a-z0-9]'
                AND name NOT GLOB '*..*'
                AND name NOT GLOB '*.-*'
                AND name NOT GLOB '*-.*'
                AND name NOT GLOB '*[^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.]*')
);

-- The one definition of an address or a prefix (identities, target
-- addresses), the canonical text chpolicy writes and resolverd reads
-- (resolverd/netaddr.h):
--   IPv4: four numbers 0-255 without leading zeros;
--   IPv6: RFC 5952: lower-case hex groups without leading zeros, "::" for the
--         longest run of two or more zero groups (the first of equal runs),
--         no dotted quad; not inside ::ffff:0:0/96 (IPv4-mapped: write IPv4);
--   "/LEN": 0-32 or 0-128 without leading zeros, host bits zero; without it
--         an identity is the host prefix; a target address never has one.
-- Inserting (value, host_only) here checks the value and stores nothing.
CREATE VIEW address_syntax (value, host_only) AS SELECT NULL, NULL WHERE 0;
CREATE TRIGGER address_syntax INSTEAD OF INSERT ON address_syntax
BEGIN
    SELECT CASE
        WHEN typeof(NEW.value) <> 'text' OR fam = 0
             OR length(CAST(NEW.value AS BLOB)) <> length(NEW.value)
            THEN RAISE(ABORT, 'invalid CIDR/address: not an IPv4 or IPv6 address')
        WHEN NEW.host_only AND l IS NOT NULL
            THEN RAISE(ABORT, 'invalid CIDR/address: a single address here, without a prefix length')
        WHEN l IS NOT NULL AND (NOT (l GLOB '[0-9]' OR l GLOB '[1-9][0-9]' OR l GLOB '1[0-9][0-9]')
                                OR plen > (CASE fam WHEN 4 THEN 32 ELSE 128 END))
            THEN RAISE(ABORT, 'invalid CIDR/address: the prefix length is 0 to 32 (IPv4) or 0 to 128 (IPv6), without leading zeros')
        WHEN fam = 4 AND (a GLOB '*[^0-9.]*' OR (SELECT count(*) <> 4 OR total(NOT (value GLOB '[0-9]' OR value GLOB '[1-9][0-9]'
                              OR value GLOB '1[0-9][0-9]' OR value GLOB '2[0-4][0-9]' OR value GLOB '25[0-5]')) > 0
                          FROM json_each('["' || replace(a, '.', '","') || '"]')))
            THEN RAISE(ABORT, 'invalid CIDR/address: IPv4 is four numbers 0 to 255 without leading zeros')
        WHEN fam = 4 AND (SELECT sum(CAST(value AS INTEGER) << (8 * (3 - key)))
                          FROM json_each('["' || replace(a, '.', '","') || '"]')) & ((1 << (32 - plen)) - 1) <> 0
            THEN RAISE(ABORT, 'invalid CIDR/address: host bits set after the prefix length (write the network address)')
        WHEN fam = 6 AND (a GLOB '*[^0-9a-f:]*' OR a GLOB '*:::*' OR length(a) - length(replace(a, '::', '')) > 2
             OR (dc > 0 AND k < 2)
             OR (SELECT count(*) <> 8 OR total(NOT (value GLOB '[0-9a-f]' OR value GLOB '[1-9a-f][0-9a-f]'
                    OR value GLOB '[1-9a-f][0-9a-f][0-9a-f]' OR value GLOB '[1-9a-f][0-9a-f][0-9a-f][0-9a-f]')) > 0
                 FROM json_each('["' || replace(g, ':', '","') || '"]'))
             OR (dc = 0 AND instr(':' || a || ':', ':0:0:') > 0)
             OR (dc > 0 AND (':' || lft GLOB '*:0' OR rgt || ':' GLOB '0:*'
                             OR instr(':' || lft || ':', ':' || substr('0:0:0:0:0:0:0:0:', 1, 2 * k)) > 0
                             OR instr(':' || rgt || ':', ':' || substr('0:0:0:0:0:0:0:0:', 1, 2 * k + 2)) > 0)))
            THEN RAISE(ABORT, 'invalid CIDR/address: IPv6 in RFC 5952 form: lower-case hex groups without leading zeros, :: for the longest run of two or more zero groups, no dotted quad')
        WHEN fam = 6 AND g GLOB '0:0:0:0:0:ffff:*' AND plen >= 96
            THEN RAISE(ABORT, 'invalid CIDR/address: an IPv4-mapped IPv6 address: write it as IPv4')
        WHEN fam = 6 AND (SELECT total(CASE WHEN plen >= 16 * (key + 1) THEN 0
                               WHEN plen <= 16 * key THEN v
                               ELSE v % (1 << (16 * (key + 1) - plen)) END) FROM
                (SELECT key, (instr('0123456789abcdef', substr(h, 1, 1)) - 1) * 4096
                           + (instr('0123456789abcdef', substr(h, 2, 1)) - 1) * 256
                           + (instr('0123456789abcdef', substr(h, 3, 1)) - 1) * 16
                           + (instr('0123456789abcdef', substr(h, 4, 1)) - 1) AS v
                 FROM (SELECT key, substr('000' || value, -4) AS h
                       FROM json_each('["' || replace(g, ':', '","') || '"]')))) > 0
            THEN RAISE(ABORT, 'invalid CIDR/address: host bits set after the prefix length (write the network address)')
    END
    FROM (SELECT *, CASE WHEN dc = 0 THEN a ELSE trim(lft || ':' || substr('0:0:0:0:0:0:0:0:', 1, 2 * k) || rgt, ':') END AS g
          FROM (SELECT *, CASE WHEN l IS NULL THEN CASE fam WHEN 4 THEN 32 ELSE 128 END ELSE CAST(l AS INTEGER) END AS plen,
                       8 - (CASE lft WHEN '' THEN 0 ELSE length(lft) - length(replace(lft, ':', '')) + 1 END)
                         - (CASE rgt WHEN '' THEN 0 ELSE length(rgt) - length(replace(rgt, ':', '')) + 1 END) AS k
                FROM (SELECT *, CASE WHEN a GLOB '*:*' THEN 6 WHEN a GLOB '*.*' THEN 4 ELSE 0 END AS fam,
                             instr(a, '::') AS dc,
                             CASE instr(a, '::') WHEN 0 THEN a ELSE substr(a, 1, instr(a, '::') - 1) END AS lft,
                             CASE instr(a, '::') WHEN 0 THEN '' ELSE substr(a, instr(a, '::') + 2) END AS rgt
                      FROM (SELECT CASE instr(NEW.value, '/') WHEN 0 THEN NEW.value
                                   ELSE substr(NEW.value, 1, instr(NEW.value, '/') - 1) END AS a,
                                   CASE instr(NEW.value, '/') WHEN 0 THEN NULL
                                   ELSE substr(NEW.value, instr(NEW.value, '/') + 1) END AS l))));
END;

-- An XMPP server domain of the community.
CREATE TABLE domains (
    name    TEXT PRIMARY KEY NOT NULL,
    level   INTEGER NOT NULL DEFAULT 0 CONSTRAINT "level must be an integer from 0 to 2147483647" CHECK (typeof(level) = 'integer' AND level BETWEEN 0 AND 2147483647),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (typeof(enabled) = 'integer' AND enabled IN (0, 1)),
    note    TEXT NOT NULL DEFAULT '',
    -- the weakest identity resolverd accepts for this domain, on the ladder
    -- source < cert < tsig (docs/identity.md): with 'tsig', a query from one
    -- of the domain's addresses without a valid TSIG is REFUSED
    require_identity TEXT NOT NULL DEFAULT 'source'
        CONSTRAINT "require_identity must be source, cert or tsig"
        CHECK (require_identity IN ('source', 'cert', 'tsig'))
) WITHOUT ROWID;

CREATE TRIGGER domains_name BEFORE INSERT ON domains
BEGIN
    INSERT INTO name_syntax (name) VALUES (NEW.name);
    DELETE FROM name_syntax;
END;

-- An attribute that domains share: an industry, an authentication method, an alliance.
CREATE TABLE groups (
    name TEXT PRIMARY KEY NOT NULL
         CONSTRAINT "invalid group name" CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 64
                AND length(CAST(name AS BLOB)) = length(name)
                AND name NOT GLOB '*[^a-z0-9:._-]*'
                AND name GLOB '[a-z0-9]*'),
    note TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE memberships (
    domain TEXT NOT NULL,
    grp    TEXT NOT NULL,
    PRIMARY KEY (domain, grp)
) WITHOUT ROWID;
CREATE INDEX memberships_grp ON memberships (grp);

CREATE TRIGGER memberships_refs_insert BEFORE INSERT ON memberships
BEGIN
    SELECT RAISE(ABORT, 'membership: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
    SELECT RAISE(ABORT, 'membership: unknown group')
    WHERE NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.grp);
END;
CREATE TRIGGER memberships_refs_update BEFORE UPDATE ON memberships
BEGIN
    SELECT RAISE(ABORT, 'membership: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
    SELECT RAISE(ABORT, 'membership: unknown group')
    WHERE NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.grp);
END;

-- How a requester is recognised. kind 'cidr': value is an IPv4 or IPv6 prefix
-- ("192.0.2.0/24", "2001:db8::/32", or a bare address for a single host) in
-- the canonical text of address_syntax. A bare address and its /32 (/128)
-- are the same prefix: only one of them may be stored.
-- kind 'tsig': value is the name of a TSIG key (RFC 8945, a DNS name) whose
-- signed queries come from the domain; algorithm and secret (base64, 16 to
-- 128 bytes) belong to tsig rows only. hmac-sha1 and hmac-md5 are refused.
-- No audit row, export or log ever holds a secret: the audit records
-- "secret":"set" or "changed".
-- kind 'cert': value is a DNS name a client certificate may carry (dNSName,
-- XMPP SRV-ID, XmppAddr) that identifies the domain; a certificate naming a
-- community domain identifies it without a row.
CREATE TABLE identities (
    kind   TEXT NOT NULL DEFAULT 'cidr' CHECK (kind IN ('cidr', 'tsig', 'cert')),
    value  TEXT NOT NULL,
    domain TEXT NOT NULL,
    note   TEXT NOT NULL DEFAULT '',
    algorithm TEXT
        CONSTRAINT "identity: a TSIG key needs an algorithm: hmac-sha256, hmac-sha384 or hmac-sha512 (only TSIG keys have one)"
        CHECK ((kind = 'tsig') = (algorithm IS NOT NULL)
               AND (algorithm IS NULL OR algorithm IN ('hmac-sha256', 'hmac-sha384', 'hmac-sha512'))),
    secret TEXT
        CONSTRAINT "identity: a TSIG key needs a secret: base64 of 16 to 128 bytes (only TSIG keys have one)"
        CHECK ((kind = 'tsig') = (secret IS NOT NULL)
               AND (secret IS NULL OR (typeof(secret) = 'text' AND length(secret) BETWEEN 24 AND 172
                    AND length(secret) % 4 = 0 AND secret NOT GLOB '*[^A-Za-z0-9+/=]*'
                    AND instr(rtrim(secret, '='), '=') = 0
                    AND length(secret) - length(rtrim(secret, '=')) <= 2))),
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX identities_domain ON identities (domain);

-- Checks an identity row on insert (old_value NULL) and update, and stores nothing.
CREATE VIEW identity_check (kind, value, domain, old_value) AS SELECT NULL, NULL, NULL, NULL WHERE 0;
CREATE TRIGGER identity_check INSTEAD OF INSERT ON identity_check
BEGIN
    INSERT INTO address_syntax (value, host_only) SELECT NEW.value, 0 WHERE NEW.kind = 'cidr';
    SELECT RAISE(ABORT, 'identity: the same prefix is already stored with (or without) its /32 or /128')
    WHERE NEW.kind = 'cidr' AND EXISTS (SELECT 1 FROM identities WHERE kind = 'cidr' AND value IS NOT NEW.old_value
        AND (value IN (NEW.value || '/32', NEW.value || '/128') OR NEW.value IN (value || '/32', value || '/128')));
    SELECT RAISE(ABORT, 'identity: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
    INSERT INTO name_syntax (name) SELECT NEW.value WHERE NEW.kind IN ('tsig', 'cert');
    DELETE FROM name_syntax;
    SELECT RAISE(ABORT, 'identity: a certificate naming a community domain identifies that domain already')
    WHERE NEW.kind = 'cert' AND EXISTS (SELECT 1 FROM domains WHERE name = NEW.value);
END;
CREATE TRIGGER identities_refs_insert BEFORE INSERT ON identities
BEGIN
    INSERT INTO identity_check (kind, value, domain) VALUES (NEW.kind, NEW.value, NEW.domain);
END;
CREATE TRIGGER identities_refs_update BEFORE UPDATE ON identities
BEGIN
    INSERT INTO identity_check VALUES (NEW.kind, NEW.value, NEW.domain, OLD.value);
END;

-- A rule: requesters selected by from_*, peers selected by to_*.
-- A selector is one of
--   kind 'any'                           every domain
--   kind 'domain', name = a domain       that domain
--   kind 'group',  name = a group        the group's members
--   kind 'level',  min and/or max        domains with min <= level <= max
-- Rules are tried in ascending priority (then id); the first unexpired match
-- decides; no match means deny. A rule in mode 'dry-run' is skipped there:
-- resolverd reports what it would change, and applies it only once its mode
-- is 'enforce'.
CREATE TABLE rules (
    id        INTEGER PRIMARY KEY,
    priority  INTEGER NOT NULL DEFAULT 100 CHECK (typeof(priority) = 'integer'),
    from_kind TEXT NOT NULL CHECK (from_kind IN ('any', 'domain', 'group', 'level')),
    from_name TEXT,
    from_min  INTEGER CONSTRAINT "level bound must be an integer from 0 to 2147483647" CHECK (from_min IS NULL OR (typeof(from_min) = 'integer' AND from_min BETWEEN 0 AND 2147483647)),
    from_max  INTEGER CONSTRAINT "level bound must be an integer from 0 to 2147483647" CHECK (from_max IS NULL OR (typeof(from_max) = 'integer' AND from_max BETWEEN 0 AND 2147483647)),
    to_kind   TEXT NOT NULL CHECK (to_kind IN ('any', 'domain', 'group', 'level')),
    to_name   TEXT,
    to_min    INTEGER CONSTRAINT "level bound must be an integer from 0 to 2147483647" CHECK (to_min IS NULL OR (typeof(to_min) = 'integer' AND to_min BETWEEN 0 AND 2147483647)),
    to_max    INTEGER CONSTRAINT "level bound must be an integer from 0 to 2147483647" CHECK (to_max IS NULL OR (typeof(to_max) = 'integer' AND to_max BETWEEN 0 AND 2147483647)),
    action    TEXT NOT NULL CONSTRAINT "action must be allow or deny" CHECK (action IN ('allow', 'deny')),
    -- UTC, 'YYYY-MM-DD HH:MM:SS' (the form datetime() writes); NULL = never expires
    expires   TEXT CONSTRAINT "expires must be a date-time 'YYYY-MM-DD HH:MM:SS' (UTC)"
              CHECK (expires IS NULL OR (typeof(expires) = 'text' AND expires IS datetime(expires)
                                         AND expires > '1970-01-01 00:00:00')),
    -- mode: 'enforce', or 'dry-run' (evaluated and reported by resolverd and
    -- chpolicy check, never applied). Written on note's line as
    -- ALTER TABLE rules ADD COLUMN writes it, so that a database made before
    -- the column existed and upgraded that way has exactly this table.
    note      TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL DEFAULT 'enforce' CONSTRAINT "mode must be enforce or dry-run" CHECK (mode IN ('enforce', 'dry-run')),
    CONSTRAINT "invalid from selector (level range inverted or fields mixed)" CHECK (CASE from_kind
             WHEN 'any' THEN from_name IS NULL AND from_min IS NULL AND from_max IS NULL
             WHEN 'level' THEN from_name IS NULL AND (from_min IS NOT NULL OR from_max IS NOT NULL)
                               AND (from_min IS NULL OR from_max IS NULL OR from_min <= from_max)
             ELSE from_name IS NOT NULL AND from_min IS NULL AND from_max IS NULL END),
    CONSTRAINT "invalid to selector (level range inverted or fields mixed)" CHECK (CASE to_kind
             WHEN 'any' THEN to_name IS NULL AND to_min IS NULL AND to_max IS NULL
             WHEN 'level' THEN to_name IS NULL AND (to_min IS NOT NULL OR to_max IS NOT NULL)
                               AND (to_min IS NULL OR to_max IS NULL OR to_min <= to_max)
             ELSE to_name IS NOT NULL AND to_min IS NULL AND to_max IS NULL END)
);
CREATE INDEX rules_order ON rules (priority, id);

-- A selector naming a domain or group that does not exist would select nothing.
CREATE TRIGGER rules_refs_insert BEFORE INSERT ON rules
BEGIN
    SELECT RAISE(ABORT, 'rule: from selects an unknown domain')
    WHERE NEW.from_kind = 'domain' AND NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.from_name);
    SELECT RAISE(ABORT, 'rule: from selects an unknown group')
    WHERE NEW.from_kind = 'group' AND NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.from_name);
    SELECT RAISE(ABORT, 'rule: to selects an unknown domain')
    WHERE NEW.to_kind = 'domain' AND NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.to_name);
    SELECT RAISE(ABORT, 'rule: to selects an unknown group')
    WHERE NEW.to_kind = 'group' AND NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.to_name);
    SELECT RAISE(ABORT, 'rule: already expired')
    WHERE NEW.expires IS NOT NULL AND datetime(NEW.expires) <= datetime('now');
END;
CREATE TRIGGER rules_refs_update BEFORE UPDATE ON rules
BEGIN
    SELECT RAISE(ABORT, 'rule: from selects an unknown domain')
    WHERE NEW.from_kind = 'domain' AND NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.from_name);
    SELECT RAISE(ABORT, 'rule: from selects an unknown group')
    WHERE NEW.from_kind = 'group' AND NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.from_name);
    SELECT RAISE(ABORT, 'rule: to selects an unknown domain')
    WHERE NEW.to_kind = 'domain' AND NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.to_name);
    SELECT RAISE(ABORT, 'rule: to selects an unknown group')
    WHERE NEW.to_kind = 'group' AND NOT EXISTS (SELECT 1 FROM groups WHERE name = NEW.to_name);
    SELECT RAISE(ABORT, 'rule: already expired')
    WHERE NEW.expires IS NOT NULL AND NEW.expires IS NOT OLD.expires
      AND datetime(NEW.expires) <= datetime('now');
END;

-- Optional targets of a domain for closed networks without public DNS: the
-- SRV records resolverd answers for the domain's service, never upstream.
-- host "." is RFC 2782's "service decidedly not available", answered as
-- SRV 0 0 0 .: the only target of its domain and service, with priority,
-- weight and port 0 (port 0 is for "." only).
CREATE TABLE targets (
    domain   TEXT NOT NULL,
    service  TEXT NOT NULL DEFAULT 'xmpp-server'
             CONSTRAINT "service must be xmpp-server, xmpps-server or jabber"
             CHECK (service IN ('xmpp-server', 'xmpps-server', 'jabber')),
    priority INTEGER NOT NULL DEFAULT 0 CONSTRAINT "priority must be an integer from 0 to 65535"
             CHECK (typeof(priority) = 'integer' AND priority BETWEEN 0 AND 65535),
    weight   INTEGER NOT NULL DEFAULT 0 CONSTRAINT "weight must be an integer from 0 to 65535"
             CHECK (typeof(weight) = 'integer' AND weight BETWEEN 0 AND 65535),
    port     INTEGER NOT NULL DEFAULT 5269 CONSTRAINT "port must be an integer from 1 to 65535"
             CHECK (typeof(port) = 'integer' AND port BETWEEN 0 AND 65535 AND (port = 0) = (host = '.')),
    host     TEXT NOT NULL,
    CONSTRAINT "target . (no service) has priority 0, weight 0 and port 0"
        CHECK (host <> '.' OR (priority = 0 AND weight = 0 AND port = 0)),
    PRIMARY KEY (domain, service, host, port)
) WITHOUT ROWID;

-- The addresses resolverd answers for a target host (A/AAAA, additional
-- section): single addresses in the canonical text of address_syntax.
CREATE TABLE target_addresses (
    host    TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (host, address)
) WITHOUT ROWID;

-- Checks a target row on insert (old_* NULL) and update (old_*: the row's
-- key before), and stores nothing.
CREATE VIEW target_check (domain, service, host, port, old_domain, old_service, old_host, old_port)
AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE 0;
CREATE TRIGGER target_check INSTEAD OF INSERT ON target_check
BEGIN
    INSERT INTO name_syntax (name) SELECT NEW.host WHERE NEW.host IS NOT '.';
    DELETE FROM name_syntax;
    SELECT RAISE(ABORT, 'target: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
    SELECT RAISE(ABORT, 'target: . (no service) must be the only target of its domain and service')
    WHERE EXISTS (SELECT 1 FROM targets WHERE domain = NEW.domain AND service = NEW.service
                  AND (host = '.' OR NEW.host = '.')
                  AND NOT (domain IS NEW.old_domain AND service IS NEW.old_service
                           AND host IS NEW.old_host AND port IS NEW.old_port));
END;

CREATE TRIGGER targets_refs_insert BEFORE INSERT ON targets
BEGIN
    INSERT INTO target_check (domain, service, host, port)
    VALUES (NEW.domain, NEW.service, NEW.host, NEW.port);
END;
CREATE TRIGGER targets_refs_update BEFORE UPDATE ON targets
BEGIN
    INSERT INTO target_check VALUES (NEW.domain, NEW.service, NEW.host, NEW.port,
                                     OLD.domain, OLD.service, OLD.host, OLD.port);
END;

-- Checks a target address row on insert and update, and stores nothing.
CREATE VIEW target_address_check (host, address) AS SELECT NULL, NULL WHERE 0;
CREATE TRIGGER target_address_check INSTEAD OF INSERT ON target_address_check
BEGIN
    INSERT INTO name_syntax (name) VALUES (NEW.host);
    DELETE FROM name_syntax;
    INSERT INTO address_syntax (value, host_only) VALUES (NEW.address, 1);
END;
CREATE TRIGGER target_addresses_check_insert BEFORE INSERT ON target_addresses
BEGIN INSERT INTO target_address_check VALUES (NEW.host, NEW.address); END;
CREATE TRIGGER target_addresses_check_update BEFORE UPDATE ON target_addresses
BEGIN INSERT INTO target_address_check VALUES (NEW.host, NEW.address); END;

-- Deleting a domain takes its memberships, identities and targets with it; a
-- domain still named by a rule cannot be deleted (remove or change the rule first).
CREATE TRIGGER domains_delete BEFORE DELETE ON domains
BEGIN
    SELECT RAISE(ABORT, 'domain: still named by a rule')
    WHERE EXISTS (SELECT 1 FROM rules WHERE (from_kind = 'domain' AND from_name = OLD.name)
                                         OR (to_kind = 'domain' AND to_name = OLD.name));
    DELETE FROM memberships WHERE domain = OLD.name;
    DELETE FROM identities WHERE domain = OLD.name;
    DELETE FROM targets WHERE domain = OLD.name;
END;
CREATE TRIGGER domains_rename BEFORE UPDATE OF name ON domains
WHEN NEW.name <> OLD.name
BEGIN SELECT RAISE(ABORT, 'domain: rename is not supported; add the new name and move its rows'); END;

CREATE TRIGGER groups_delete BEFORE DELETE ON groups
BEGIN
    SELECT RAISE(ABORT, 'group: still named by a rule')
    WHERE EXISTS (SELECT 1 FROM rules WHERE (from_kind = 'group' AND from_name = OLD.name)
                                         OR (to_kind = 'group' AND to_name = OLD.name));
    DELETE FROM memberships WHERE grp = OLD.name;
END;
CREATE TRIGGER groups_rename BEFORE UPDATE OF name ON groups
WHEN NEW.name <> OLD.name
BEGIN SELECT RAISE(ABORT, 'group: rename is not supported'); END;

-- The change log. actor is what chpolicy stored in meta('actor') for its
-- transaction, or 'sql' for an edit made any other way. op 'restore' (tbl
-- 'database') is a whole database loaded by chpolicy restore: old and new
-- hold the serials and the file.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    serial INTEGER NOT NULL,
    at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    actor  TEXT NOT NULL,
    tbl    TEXT NOT NULL,
    op     TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'restore')),
    old    TEXT,
    new    TEXT
);

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit: the change log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit: the change log is append-only'); END;

-- One trigger per table and operation: bump the serial, log the row.
CREATE TRIGGER domains_audit_insert AFTER INSERT ON domains
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'domains', 'insert',
            NULL,
            json_object('name', NEW.name, 'level', NEW.level, 'enabled', NEW.enabled, 'note', NEW.note,
                        'require_identity', NEW.require_identity));
END;
CREATE TRIGGER domains_audit_update AFTER UPDATE ON domains
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'domains', 'update',
            json_object('name', OLD.name, 'level', OLD.level, 'enabled', OLD.enabled, 'note', OLD.note,
                        'require_identity', OLD.require_identity),
            json_object('name', NEW.name, 'level', NEW.level, 'enabled', NEW.enabled, 'note', NEW.note,
                        'require_identity', NEW.require_identity));
END;
CREATE TRIGGER domains_audit_delete AFTER DELETE ON domains
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'domains', 'delete',
            json_object('name', OLD.name, 'level', OLD.level, 'enabled', OLD.enabled, 'note', OLD.note,
                        'require_identity', OLD.require_identity),
            NULL);
END;
CREATE TRIGGER groups_audit_insert AFTER INSERT ON groups
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'groups', 'insert',
            NULL,
            json_object('name', NEW.name, 'note', NEW.note));
END;
CREATE TRIGGER groups_audit_update AFTER UPDATE ON groups
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'groups', 'update',
            json_object('name', OLD.name, 'note', OLD.note),
            json_object('name', NEW.name, 'note', NEW.note));
END;
CREATE TRIGGER groups_audit_delete AFTER DELETE ON groups
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'groups', 'delete',
            json_object('name', OLD.name, 'note', OLD.note),
            NULL);
END;
CREATE TRIGGER memberships_audit_insert AFTER INSERT ON memberships
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'memberships', 'insert',
            NULL,
            json_object('domain', NEW.domain, 'grp', NEW.grp));
END;
CREATE TRIGGER memberships_audit_update AFTER UPDATE ON memberships
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'memberships', 'update',
            json_object('domain', OLD.domain, 'grp', OLD.grp),
            json_object('domain', NEW.domain, 'grp', NEW.grp));
END;
CREATE TRIGGER memberships_audit_delete AFTER DELETE ON memberships
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'memberships', 'delete',
            json_object('domain', OLD.domain, 'grp', OLD.grp),
            NULL);
END;
CREATE TRIGGER identities_audit_insert AFTER INSERT ON identities
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'identities', 'insert',
            NULL,
            CASE NEW.kind WHEN 'tsig' THEN json_set(json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note),
                     '$.algorithm', NEW.algorithm, '$.secret', 'set') ELSE json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note) END);
END;
CREATE TRIGGER identities_audit_update AFTER UPDATE ON identities
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'identities', 'update',
            CASE OLD.kind WHEN 'tsig' THEN json_set(json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note), '$.algorithm', OLD.algorithm)
                ELSE json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note) END,
            CASE NEW.kind WHEN 'tsig' THEN json_set(json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note), '$.algorithm', NEW.algorithm,
                '$.secret', CASE WHEN OLD.secret IS NOT NEW.secret THEN 'changed' ELSE 'unchanged' END)
                ELSE json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note) END);
END;
CREATE TRIGGER identities_audit_delete AFTER DELETE ON identities
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'identities', 'delete',
            CASE OLD.kind WHEN 'tsig' THEN json_set(json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note), '$.algorithm', OLD.algorithm)
                ELSE json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note) END,
            NULL);
END;
CREATE TRIGGER rules_audit_insert AFTER INSERT ON rules
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'rules', 'insert',
            NULL,
            json_object('id', NEW.id, 'priority', NEW.priority, 'from_kind', NEW.from_kind, 'from_name', NEW.from_name, 'from_min', NEW.from_min, 'from_max', NEW.from_max, 'to_kind', NEW.to_kind, 'to_name', NEW.to_name, 'to_min', NEW.to_min, 'to_max', NEW.to_max, 'action', NEW.action, 'expires', NEW.expires, 'note', NEW.note, 'mode', NEW.mode));
END;
CREATE TRIGGER rules_audit_update AFTER UPDATE ON rules
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'rules', 'update',
            json_object('id', OLD.id, 'priority', OLD.priority, 'from_kind', OLD.from_kind, 'from_name', OLD.from_name, 'from_min', OLD.from_min, 'from_max', OLD.from_max, 'to_kind', OLD.to_kind, 'to_name', OLD.to_name, 'to_min', OLD.to_min, 'to_max', OLD.to_max, 'action', OLD.action, 'expires', OLD.expires, 'note', OLD.note, 'mode', OLD.mode),
            json_object('id', NEW.id, 'priority', NEW.priority, 'from_kind', NEW.from_kind, 'from_name', NEW.from_name, 'from_min', NEW.from_min, 'from_max', NEW.from_max, 'to_kind', NEW.to_kind, 'to_name', NEW.to_name, 'to_min', NEW.to_min, 'to_max', NEW.to_max, 'action', NEW.action, 'expires', NEW.expires, 'note', NEW.note, 'mode', NEW.mode));
END;
CREATE TRIGGER rules_audit_delete AFTER DELETE ON rules
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'rules', 'delete',
            json_object('id', OLD.id, 'priority', OLD.priority, 'from_kind', OLD.from_kind, 'from_name', OLD.from_name, 'from_min', OLD.from_min, 'from_max', OLD.from_max, 'to_kind', OLD.to_kind, 'to_name', OLD.to_name, 'to_min', OLD.to_min, 'to_max', OLD.to_max, 'action', OLD.action, 'expires', OLD.expires, 'note', OLD.note, 'mode', OLD.mode),
            NULL);
END;
CREATE TRIGGER targets_audit_insert AFTER INSERT ON targets
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'targets', 'insert',
            NULL,
            json_object('domain', NEW.domain, 'service', NEW.service, 'priority', NEW.priority, 'weight', NEW.weight, 'port', NEW.port, 'host', NEW.host));
END;
CREATE TRIGGER targets_audit_update AFTER UPDATE ON targets
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'targets', 'update',
            json_object('domain', OLD.domain, 'service', OLD.service, 'priority', OLD.priority, 'weight', OLD.weight, 'port', OLD.port, 'host', OLD.host),
            json_object('domain', NEW.domain, 'service', NEW.service, 'priority', NEW.priority, 'weight', NEW.weight, 'port', NEW.port, 'host', NEW.host));
END;
CREATE TRIGGER targets_audit_delete AFTER DELETE ON targets
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'targets', 'delete',
            json_object('domain', OLD.domain, 'service', OLD.service, 'priority', OLD.priority, 'weight', OLD.weight, 'port', OLD.port, 'host', OLD.host),
            NULL);
END;
CREATE TRIGGER target_addresses_audit_insert AFTER INSERT ON target_addresses
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'target_addresses', 'insert',
            NULL,
            json_object('host', NEW.host, 'address', NEW.address));
END;
CREATE TRIGGER target_addresses_audit_update AFTER UPDATE ON target_addresses
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'target_addresses', 'update',
            json_object('host', OLD.host, 'address', OLD.address),
            json_object('host', NEW.host, 'address', NEW.address));
END;
CREATE TRIGGER target_addresses_audit_delete AFTER DELETE ON target_addresses
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'target_addresses', 'delete',
            json_object('host', OLD.host, 'address', OLD.address),
            NULL);
END;
