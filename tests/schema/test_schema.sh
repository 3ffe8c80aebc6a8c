#!/bin/bash
# test_schema.sh -- the policy schema refuses bad edits by itself.
#
# usage: make check, or by hand: tests/schema/test_schema.sh
#
# Creates a fresh database with `sqlite3 DB < dbtools/schema.sql` and
# edits it through the real sqlite3 shell only, as an operator would: every
# bad edit must be refused with the schema's message and leave the serial
# alone; every good edit must be accepted, bump meta.serial once per changed
# row and write that many audit rows with actor 'sql'.
# Prints TAP, one "ok - ..." / "not ok - ..." line per assertion; exits 1 if any failed.

set -u

. "$(dirname "$0")/../lib.sh"
SCHEMA=$SRCDIR/dbtools/schema.sql

require_tools sqlite3
[ -r "$SCHEMA" ] || bail "$SCHEMA not readable"

make_tmpdir TMP || bail "a temporary directory"
DB=$TMP/policy.db
ERR=$TMP/err

# q SQL: one value from the database (empty on error)
q() { sqlite3 -bail "$DB" "$1" 2>/dev/null; }
serial() { q "SELECT value FROM meta WHERE key = 'serial'"; }

# refused WHAT MESSAGE SQL: SQL fails, stderr names MESSAGE, serial unchanged.
refused() {
	local what=$1 msg=$2 stmt=$3 before after
	before=$(serial)
	if sqlite3 -bail "$DB" "$stmt" >/dev/null 2>"$ERR"; then
		not_ok "refused: $what (the edit was accepted)"
		return
	fi
	after=$(serial)
	if ! grep -qF -- "$msg" "$ERR"; then
		not_ok "refused: $what (wanted '$msg', got: $(head -n 1 "$ERR"))"
	elif [ "$before" != "$after" ]; then
		not_ok "refused: $what (serial moved from $before to $after)"
	else
		ok "refused: $what ($msg)"
	fi
}

# accepted WHAT ROWS SQL: SQL succeeds, serial grows by ROWS (rows changed,
# cascades included), and exactly ROWS new audit rows carry actor 'sql'.
accepted() {
	local what=$1 rows=$2 stmt=$3 before after audited others
	before=$(serial)
	if ! sqlite3 -bail "$DB" "$stmt" >/dev/null 2>"$ERR"; then
		not_ok "accepted: $what (refused: $(head -n 1 "$ERR"))"
		return
	fi
	after=$(serial)
	audited=$(q "SELECT count(*) FROM audit WHERE serial > $before AND actor = 'sql'")
	others=$(q "SELECT count(*) FROM audit WHERE serial > $before AND actor <> 'sql'")
	if [ "$after" -ne $((before + rows)) ]; then
		not_ok "accepted: $what (serial $before -> $after, want +$rows)"
	elif [ "$audited" -ne "$rows" ] || [ "$others" -ne 0 ]; then
		not_ok "accepted: $what ($audited audit rows by 'sql' and $others by others, want $rows)"
	else
		ok "accepted: $what (serial $before -> $after, $rows audit row(s) by 'sql')"
	fi
}

# same WHAT SQL WANT: the query returns WANT
same() {
	local got
	got=$(q "$2")
	if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$got', want '$3')"; fi
}

if sqlite3 -bail "$DB" < "$SCHEMA" >/dev/null 2>"$ERR"; then
	ok "schema.sql loads into a fresh database"
else
	not_ok "schema.sql loads into a fresh database: $(head -n 1 "$ERR")"
	exit 1
fi
same "journal mode is WAL" "PRAGMA journal_mode" "wal"
same "schema_version is 1" "SELECT value FROM meta WHERE key = 'schema_version'" "1"
same "serial starts at 1" "SELECT value FROM meta WHERE key = 'serial'" "1"

LABEL63=$(printf 'a%.0s' $(seq 63))

# ---- domains
accepted "domain a.test, level 3" 1 "INSERT INTO domains (name, level) VALUES ('a.test', 3)"
accepted "domain b.test, level 2" 1 "INSERT INTO domains (name, level, note) VALUES ('b.test', 2, 'bee')"
accepted "domain c.test, default level 0" 1 "INSERT INTO domains (name) VALUES ('c.test')"
accepted "domain with a 63-character label" 1 "INSERT INTO domains (name) VALUES ('$LABEL63.test')"
accepted "domain with digits and hyphens" 1 "INSERT INTO domains (name) VALUES ('x-1.b2.test')"
same "level stored as an integer" "SELECT typeof(level) || level FROM domains WHERE name = 'a.test'" "integer3"
refused "upper-case domain name" "invalid domain name" "INSERT INTO domains (name) VALUES ('A.test')"
refused "leading hyphen" "invalid domain name" "INSERT INTO domains (name) VALUES ('-a.test')"
refused "hyphen ending a label" "invalid domain name" "INSERT INTO domains (name) VALUES ('a-.test')"
refused "empty label" "invalid domain name" "INSERT INTO domains (name) VALUES ('a..test')"
refused "empty name" "invalid domain name" "INSERT INTO domains (name) VALUES ('')"
refused "trailing dot" "invalid domain name" "INSERT INTO domains (name) VALUES ('a.test.')"
refused "underscore" "invalid domain name" "INSERT INTO domains (name) VALUES ('a_b.test')"
refused "label longer than 63" "invalid domain name" "INSERT INTO domains (name) VALUES ('${LABEL63}a.test')"
refused "negative level" "level must be an integer from 0 to 2147483647" "INSERT INTO domains (name, level) VALUES ('n.test', -1)"
refused "text level" "level must be an integer from 0 to 2147483647" "INSERT INTO domains (name, level) VALUES ('n.test', 'high')"
refused "fractional level" "level must be an integer from 0 to 2147483647" "INSERT INTO domains (name, level) VALUES ('n.test', 1.5)"
refused "update to a negative level" "level must be an integer from 0 to 2147483647" "UPDATE domains SET level = -3 WHERE name = 'a.test'"
refused "enabled other than 0/1" "CHECK constraint failed" "UPDATE domains SET enabled = 2 WHERE name = 'a.test'"
refused "duplicate domain" "UNIQUE constraint failed" "INSERT INTO domains (name) VALUES ('a.test')"
refused "rename a domain" "rename is not supported" "UPDATE domains SET name = 'z.test' WHERE name = 'c.test'"
accepted "change a level" 1 "UPDATE domains SET level = 4 WHERE name = 'a.test'"
accepted "disable and re-enable (two rows' worth)" 2 "UPDATE domains SET enabled = 0 WHERE name = 'c.test'; UPDATE domains SET enabled = 1 WHERE name = 'c.test'"

# ---- groups and memberships
accepted "group finance" 1 "INSERT INTO groups (name) VALUES ('finance')"
accepted "group auth:smartcard" 1 "INSERT INTO groups (name, note) VALUES ('auth:smartcard', 'cards')"
refused "upper-case group name" "invalid group name" "INSERT INTO groups (name) VALUES ('Finance')"
refused "group name with a space" "invalid group name" "INSERT INTO groups (name) VALUES ('fin ance')"
accepted "membership a.test in finance" 1 "INSERT INTO memberships (domain, grp) VALUES ('a.test', 'finance')"
accepted "membership b.test in finance" 1 "INSERT INTO memberships (domain, grp) VALUES ('b.test', 'finance')"
refused "membership to an unknown group" "membership: unknown group" "INSERT INTO memberships (domain, grp) VALUES ('a.test', 'nato')"
refused "membership of an unknown domain" "membership: unknown domain" "INSERT INTO memberships (domain, grp) VALUES ('x.test', 'finance')"
refused "membership moved to an unknown group" "membership: unknown group" "UPDATE memberships SET grp = 'nato' WHERE domain = 'a.test'"
refused "duplicate membership" "UNIQUE constraint failed" "INSERT INTO memberships (domain, grp) VALUES ('a.test', 'finance')"

# ---- identities
accepted "identity 127.0.0.2/32" 1 "INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'a.test')"
accepted "identity 10.0.0.0/8" 1 "INSERT INTO identities (kind, value, domain) VALUES ('cidr', '10.0.0.0/8', 'b.test')"
accepted "identity bare address 192.0.2.1" 1 "INSERT INTO identities (value, domain) VALUES ('192.0.2.1', 'c.test')"
accepted "identity 2001:db8::/32" 1 "INSERT INTO identities (value, domain) VALUES ('2001:db8::/32', 'b.test')"
accepted "identity ::1/128" 1 "INSERT INTO identities (value, domain) VALUES ('::1/128', 'c.test')"
refused "IPv6 not compressed (not canonical, RFC 5952)" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001:db8:0:0:0:0:0:1/128', 'c.test')"
refused "IPv4 octet over 255" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('10.0.0.256/32', 'a.test')"
refused "IPv4 with three octets" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('10.0.0/24', 'a.test')"
refused "IPv4 prefix too long (/33)" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('10.0.0.0/33', 'a.test')"
refused "IPv4 empty prefix" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('10.0.0.0/', 'a.test')"
refused "IPv6 with :::" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001:db8:::1/48', 'a.test')"
refused "IPv6 with two ::" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001::db8::1', 'a.test')"
refused "IPv6 with a non-hex digit" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001:dg8::/32', 'a.test')"
refused "IPv6 upper case (not canonical)" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001:DB8::/32', 'a.test')"
refused "IPv6 prefix too long (/129)" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('2001:db8::/129', 'a.test')"
refused "not an address" "invalid CIDR" "INSERT INTO identities (value, domain) VALUES ('localhost', 'a.test')"
refused "unknown identity kind" "CHECK constraint failed" "INSERT INTO identities (kind, value, domain) VALUES ('x509', 'abc', 'a.test')"
refused "duplicate identity (same prefix, other domain)" "UNIQUE constraint failed" "INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'b.test')"
refused "identity of an unknown domain" "identity: unknown domain" "INSERT INTO identities (value, domain) VALUES ('127.0.0.9/32', 'x.test')"
refused "identity moved to an unknown domain" "identity: unknown domain" "UPDATE identities SET domain = 'x.test' WHERE value = '127.0.0.2/32'"

# ---- rules
accepted "rule any -> any deny" 1 "INSERT INTO rules (priority, from_kind, to_kind, action) VALUES (1000, 'any', 'any', 'deny')"
accepted "rule domain:a.test -> level:>=2 allow" 1 "INSERT INTO rules (from_kind, from_name, to_kind, to_min, action) VALUES ('domain', 'a.test', 'level', 2, 'allow')"
accepted "rule group:finance -> level:1-3 allow" 1 "INSERT INTO rules (from_kind, from_name, to_kind, to_min, to_max, action) VALUES ('group', 'finance', 'level', 1, 3, 'allow')"
accepted "rule level:<=1 -> domain:b.test deny, expiring next year" 1 "INSERT INTO rules (from_kind, from_max, to_kind, to_name, action, expires) VALUES ('level', 1, 'domain', 'b.test', 'deny', datetime('now', '+1 year'))"
refused "rule with inverted from level range" "invalid from selector" "INSERT INTO rules (from_kind, from_min, from_max, to_kind, action) VALUES ('level', 5, 2, 'any', 'allow')"
refused "rule with inverted to level range" "invalid to selector" "INSERT INTO rules (from_kind, to_kind, to_min, to_max, action) VALUES ('any', 'level', 3, 1, 'allow')"
refused "rule whose level selector has no bound (selects nothing)" "invalid from selector" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('level', 'any', 'allow')"
# the BEFORE INSERT trigger runs before the CHECK constraints, so it answers first
refused "rule domain selector without a name" "rule: to selects an unknown domain" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('any', 'domain', 'allow')"
refused "rule any selector with a name (fields mixed)" "invalid from selector" "INSERT INTO rules (from_kind, from_name, to_kind, action) VALUES ('any', 'a.test', 'any', 'allow')"
refused "rule with a negative level bound" "level bound must be an integer from 0 to 2147483647" "INSERT INTO rules (from_kind, from_min, to_kind, action) VALUES ('level', -1, 'any', 'allow')"
refused "rule naming an unknown from domain" "rule: from selects an unknown domain" "INSERT INTO rules (from_kind, from_name, to_kind, action) VALUES ('domain', 'x.test', 'any', 'allow')"
refused "rule naming an unknown to domain" "rule: to selects an unknown domain" "INSERT INTO rules (from_kind, to_kind, to_name, action) VALUES ('any', 'domain', 'x.test', 'allow')"
refused "rule naming an unknown group" "rule: from selects an unknown group" "INSERT INTO rules (from_kind, from_name, to_kind, action) VALUES ('group', 'nato', 'any', 'allow')"
refused "rule naming an unknown to group" "rule: to selects an unknown group" "INSERT INTO rules (from_kind, to_kind, to_name, action) VALUES ('any', 'group', 'nato', 'allow')"
refused "rule with an unknown action" "action must be allow or deny" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('any', 'any', 'maybe')"
refused "rule with an unknown selector kind" "CHECK constraint failed" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('everyone', 'any', 'allow')"
refused "rule with a text priority" "CHECK constraint failed" "INSERT INTO rules (priority, from_kind, to_kind, action) VALUES ('high', 'any', 'any', 'allow')"
refused "rule expires is not a date" "expires must be a date-time" "INSERT INTO rules (from_kind, to_kind, action, expires) VALUES ('any', 'any', 'allow', 'next tuesday')"
refused "rule already expired on insert" "rule: already expired" "INSERT INTO rules (from_kind, to_kind, action, expires) VALUES ('any', 'any', 'allow', '2000-01-01 00:00:00')"
refused "rule expiry moved into the past" "rule: already expired" "UPDATE rules SET expires = '2000-01-01 00:00:00' WHERE id = 1"
refused "rule changed to name an unknown domain" "rule: to selects an unknown domain" "UPDATE rules SET to_kind = 'domain', to_name = 'x.test' WHERE id = 1"
accepted "rule priority changed" 1 "UPDATE rules SET priority = 900 WHERE id = 1"

# ---- deletions and cascades
refused "delete a domain still named by a rule" "domain: still named by a rule" "DELETE FROM domains WHERE name = 'a.test'"
refused "delete a group still named by a rule" "group: still named by a rule" "DELETE FROM groups WHERE name = 'finance'"
# c.test: 2 identities (192.0.2.1, ::1/128), no membership
accepted "delete c.test with its 2 identities (3 changes)" 3 "DELETE FROM domains WHERE name = 'c.test'"
same "c.test identities gone" "SELECT count(*) FROM identities WHERE domain = 'c.test'" "0"
accepted "delete rule 2, then domain a.test with 1 identity and 1 membership (4 changes)" 4 "BEGIN; DELETE FROM rules WHERE id = 2; DELETE FROM domains WHERE name = 'a.test'; COMMIT;"
same "a.test membership gone" "SELECT count(*) FROM memberships WHERE domain = 'a.test'" "0"
accepted "delete rule 3, then group finance with 1 membership (3 changes)" 3 "DELETE FROM rules WHERE id = 3; DELETE FROM groups WHERE name = 'finance'"

# ---- a refused statement inside a transaction leaves nothing behind
before=$(serial)
if sqlite3 -bail "$DB" "BEGIN; INSERT INTO domains (name) VALUES ('t.test'); INSERT INTO domains (name) VALUES ('T.test'); COMMIT;" >/dev/null 2>&1; then
	not_ok "a transaction with a refused row fails"
else
	sqlite3 "$DB" "ROLLBACK" >/dev/null 2>&1
	same "a transaction with a refused row fails and leaves serial at $before" "SELECT value FROM meta WHERE key = 'serial'" "$before"
fi

# ---- the change log
refused "update an audit row" "audit: the change log is append-only" "UPDATE audit SET actor = 'nobody' WHERE id = 1"
refused "delete an audit row" "audit: the change log is append-only" "DELETE FROM audit WHERE id = 1"
refused "delete the whole audit table's rows" "audit: the change log is append-only" "DELETE FROM audit"
same "audit rows carry the serial they produced" "SELECT count(*) FROM audit a WHERE serial <> (SELECT count(*) FROM audit b WHERE b.id <= a.id) + 1" "0"
same "audit insert row holds the new row as JSON" "SELECT json_extract(new, '\$.level') FROM audit WHERE tbl = 'domains' AND op = 'insert' AND json_extract(new, '\$.name') = 'b.test'" "2"
same "audit update row holds old and new" "SELECT json_extract(old, '\$.level') || '->' || json_extract(new, '\$.level') FROM audit WHERE tbl = 'domains' AND op = 'update' AND json_extract(new, '\$.name') = 'a.test' AND json_extract(old, '\$.level') <> json_extract(new, '\$.level')" "3->4"
same "audit delete row holds the old row" "SELECT count(*) FROM audit WHERE tbl = 'domains' AND op = 'delete' AND new IS NULL AND json_extract(old, '\$.name') = 'c.test'" "1"
same "every audit row so far is by 'sql'" "SELECT count(*) FROM audit WHERE actor <> 'sql'" "0"

# ---- meta
refused "unknown meta key" "meta: unknown key" "INSERT INTO meta (key, value) VALUES ('owner', 'me')"
refused "delete the serial" "meta: schema_version and serial cannot be deleted" "DELETE FROM meta WHERE key = 'serial'"
before=$(serial)
if sqlite3 -bail "$DB" "BEGIN; INSERT OR REPLACE INTO meta (key, value) VALUES ('actor', 'alice'); INSERT INTO domains (name) VALUES ('d.test'); DELETE FROM meta WHERE key = 'actor'; COMMIT;" 2>"$ERR"; then
	same "an actor in meta during the transaction is recorded" "SELECT actor FROM audit WHERE serial = $((before + 1))" "alice"
	same "the actor row is gone after the transaction" "SELECT count(*) FROM meta WHERE key = 'actor'" "0"
else
	not_ok "edit with an actor: $(head -n 1 "$ERR")"
fi

same "PRAGMA integrity_check after all edits" "PRAGMA integrity_check" "ok"

finish
