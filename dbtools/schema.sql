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
-- Names are stored lower-case, without the trailing dot.

PRAGMA journal_mode = WAL;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('schema_version', 1), ('serial', 1);

-- meta holds the two numbers above and, during a chpolicy transaction, the actor
-- that the audit triggers record. Nothing else may be stored there.
CREATE TRIGGER meta_keys BEFORE INSERT ON meta
WHEN NEW.key NOT IN ('schema_version', 'serial', 'actor')
BEGIN SELECT RAISE(ABORT, 'meta: unknown key'); END;

CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
WHEN OLD.key IN ('schema_version', 'serial')
BEGIN SELECT RAISE(ABORT, 'meta: schema_version and serial cannot be deleted'); END;

-- An XMPP server domain of the community.
CREATE TABLE domains (
    name    TEXT PRIMARY KEY NOT NULL
            CONSTRAINT "invalid domain name" CHECK (length(name) BETWEEN 1 AND 253
                   AND name = lower(name)
                   AND name NOT GLOB '*[^a-z0-9.-]*'
                   AND name GLOB '*[a-z0-9]'
                   AND name GLOB '[a-z0-9]*'
                   AND name NOT GLOB '*..*'
                   AND name NOT GLOB '*.-*'
                   AND name NOT GLOB '*-.*'
                   AND name NOT GLOB '*[^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.][^.]*'),
    level   INTEGER NOT NULL DEFAULT 0 CONSTRAINT "level must be an integer from 0 to 2147483647" CHECK (typeof(level) = 'integer' AND level BETWEEN 0 AND 2147483647),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    note    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- An attribute that domains share: an industry, an authentication method, an alliance.
CREATE TABLE groups (
    name TEXT PRIMARY KEY NOT NULL
         CONSTRAINT "invalid group name" CHECK (length(name) BETWEEN 1 AND 64
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
-- ("192.0.2.0/24", "2001:db8::/32", or a bare address for a single host),
-- stored in canonical form (host bits zero, lower-case, compressed IPv6).
-- 'tsig' and 'cert' are reserved for key and certificate bindings.
CREATE TABLE identities (
    kind   TEXT NOT NULL DEFAULT 'cidr' CHECK (kind IN ('cidr', 'tsig', 'cert')),
    value  TEXT NOT NULL,
    domain TEXT NOT NULL,
    note   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (kind, value),
    CONSTRAINT "invalid CIDR" CHECK (kind <> 'cidr' OR (
        -- IPv4: four dotted decimal octets of at most three digits, prefix 0-32
        (value NOT GLOB '*[^0-9./]*'
         AND (length(value) - length(replace(value, '.', ''))) = 3
         AND (length(value) - length(replace(value, '/', ''))) <= 1
         AND value GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*'
         AND value NOT GLOB '*..*' AND value NOT GLOB '*./*' AND value NOT GLOB '*/'
         AND value NOT GLOB '*[0-9][0-9][0-9][0-9]*'
         AND value NOT GLOB '*[3-9][0-9][0-9]*' AND value NOT GLOB '*2[6-9][0-9]*'
         AND value NOT GLOB '*25[6-9]*'
         AND (instr(value, '/') = 0
              OR CAST(substr(value, instr(value, '/') + 1) AS INTEGER) BETWEEN 0 AND 32))
        OR
        -- IPv6: hex groups of at most four digits, 2 to 7 colons, at most one "::", prefix 0-128
        (value NOT GLOB '*[^0-9a-f:/]*'
         AND instr(value, ':') > 0
         AND (length(value) - length(replace(value, ':', ''))) BETWEEN 2 AND 7
         AND (length(value) - length(replace(value, '/', ''))) <= 1
         AND value NOT GLOB '*:::*'
         AND (length(value) - length(replace(value, '::', ''))) <= 2
         AND value NOT GLOB '*[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*'
         AND value NOT GLOB '*/*:*' AND value NOT GLOB '*/'
         AND (value GLOB '::*' OR value NOT GLOB ':*')
         AND (value GLOB '*::' OR value GLOB '*::/*' OR (value NOT GLOB '*:' AND value NOT GLOB '*:/*'))
         AND (instr(value, '::') > 0
              OR (length(value) - length(replace(value, ':', ''))) = 7)
         AND (instr(value, '/') = 0
              OR (substr(value, instr(value, '/') + 1) NOT GLOB '*[^0-9]*'
                  AND CAST(substr(value, instr(value, '/') + 1) AS INTEGER) BETWEEN 0 AND 128)))
    ))
) WITHOUT ROWID;
CREATE INDEX identities_domain ON identities (domain);

CREATE TRIGGER identities_refs_insert BEFORE INSERT ON identities
BEGIN
    SELECT RAISE(ABORT, 'identity: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
END;
CREATE TRIGGER identities_refs_update BEFORE UPDATE ON identities
BEGIN
    SELECT RAISE(ABORT, 'identity: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
END;

-- A rule: requesters selected by from_*, peers selected by to_*.
-- A selector is one of
--   kind 'any'                           every domain
--   kind 'domain', name = a domain       that domain
--   kind 'group',  name = a group        the group's members
--   kind 'level',  min and/or max        domains with min <= level <= max
-- Rules are tried in ascending priority (then id); the first unexpired match
-- decides; no match means deny.
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
    -- UTC, 'YYYY-MM-DD HH:MM:SS'; NULL = never expires
    expires   TEXT CONSTRAINT "expires must be a date-time" CHECK (expires IS NULL OR datetime(expires) IS NOT NULL),
    note      TEXT NOT NULL DEFAULT '',
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

-- Optional targets of a domain for closed networks without public DNS.
CREATE TABLE targets (
    domain   TEXT NOT NULL,
    service  TEXT NOT NULL DEFAULT 'xmpp-server'
             CHECK (service IN ('xmpp-server', 'xmpps-server', 'jabber')),
    priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 65535),
    weight   INTEGER NOT NULL DEFAULT 0 CHECK (weight BETWEEN 0 AND 65535),
    port     INTEGER NOT NULL DEFAULT 5269 CHECK (port BETWEEN 1 AND 65535),
    host     TEXT NOT NULL
             CHECK (length(host) BETWEEN 1 AND 253 AND host = lower(host)
                    AND host NOT GLOB '*[^a-z0-9._-]*' AND host NOT GLOB '*..*'
                    AND host NOT GLOB '.*' AND host NOT GLOB '*.'),
    PRIMARY KEY (domain, service, host, port)
) WITHOUT ROWID;

CREATE TABLE target_addresses (
    host    TEXT NOT NULL,
    address TEXT NOT NULL
            CHECK ((address NOT GLOB '*[^0-9.]*' AND address GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*')
                   OR (address NOT GLOB '*[^0-9a-f:]*' AND instr(address, ':') > 0)),
    PRIMARY KEY (host, address)
) WITHOUT ROWID;

CREATE TRIGGER targets_refs_insert BEFORE INSERT ON targets
BEGIN
    SELECT RAISE(ABORT, 'target: unknown domain')
    WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = NEW.domain);
END;

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
-- transaction, or 'sql' for an edit made any other way.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    serial INTEGER NOT NULL,
    at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    actor  TEXT NOT NULL,
    tbl    TEXT NOT NULL,
    op     TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
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
            json_object('name', NEW.name, 'level', NEW.level, 'enabled', NEW.enabled, 'note', NEW.note));
END;
CREATE TRIGGER domains_audit_update AFTER UPDATE ON domains
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'domains', 'update',
            json_object('name', OLD.name, 'level', OLD.level, 'enabled', OLD.enabled, 'note', OLD.note),
            json_object('name', NEW.name, 'level', NEW.level, 'enabled', NEW.enabled, 'note', NEW.note));
END;
CREATE TRIGGER domains_audit_delete AFTER DELETE ON domains
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'domains', 'delete',
            json_object('name', OLD.name, 'level', OLD.level, 'enabled', OLD.enabled, 'note', OLD.note),
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
            json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note));
END;
CREATE TRIGGER identities_audit_update AFTER UPDATE ON identities
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'identities', 'update',
            json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note),
            json_object('kind', NEW.kind, 'value', NEW.value, 'domain', NEW.domain, 'note', NEW.note));
END;
CREATE TRIGGER identities_audit_delete AFTER DELETE ON identities
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'identities', 'delete',
            json_object('kind', OLD.kind, 'value', OLD.value, 'domain', OLD.domain, 'note', OLD.note),
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
            json_object('id', NEW.id, 'priority', NEW.priority, 'from_kind', NEW.from_kind, 'from_name', NEW.from_name, 'from_min', NEW.from_min, 'from_max', NEW.from_max, 'to_kind', NEW.to_kind, 'to_name', NEW.to_name, 'to_min', NEW.to_min, 'to_max', NEW.to_max, 'action', NEW.action, 'expires', NEW.expires, 'note', NEW.note));
END;
CREATE TRIGGER rules_audit_update AFTER UPDATE ON rules
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'rules', 'update',
            json_object('id', OLD.id, 'priority', OLD.priority, 'from_kind', OLD.from_kind, 'from_name', OLD.from_name, 'from_min', OLD.from_min, 'from_max', OLD.from_max, 'to_kind', OLD.to_kind, 'to_name', OLD.to_name, 'to_min', OLD.to_min, 'to_max', OLD.to_max, 'action', OLD.action, 'expires', OLD.expires, 'note', OLD.note),
            json_object('id', NEW.id, 'priority', NEW.priority, 'from_kind', NEW.from_kind, 'from_name', NEW.from_name, 'from_min', NEW.from_min, 'from_max', NEW.from_max, 'to_kind', NEW.to_kind, 'to_name', NEW.to_name, 'to_min', NEW.to_min, 'to_max', NEW.to_max, 'action', NEW.action, 'expires', NEW.expires, 'note', NEW.note));
END;
CREATE TRIGGER rules_audit_delete AFTER DELETE ON rules
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'serial';
    INSERT INTO audit (serial, actor, tbl, op, old, new)
    VALUES ((SELECT value FROM meta WHERE key = 'serial'),
            coalesce((SELECT value FROM meta WHERE key = 'actor'), 'sql'),
            'rules', 'delete',
            json_object('id', OLD.id, 'priority', OLD.priority, 'from_kind', OLD.from_kind, 'from_name', OLD.from_name, 'from_min', OLD.from_min, 'from_max', OLD.from_max, 'to_kind', OLD.to_kind, 'to_name', OLD.to_name, 'to_min', OLD.to_min, 'to_max', OLD.to_max, 'action', OLD.action, 'expires', OLD.expires, 'note', OLD.note),
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
