#!/bin/bash
# test_chpolicy.sh -- every chpolicy subcommand, through the built binary.
#
# usage: make check, or by hand: [CHPOLICY=BINARY] tests/cli/test_chpolicy.sh
# (default binary: dbtools/chpolicy of the build, see tests/lib.sh)
#
# Checks exit codes (0 ok / allow, 1 deny / lint, 2 usage, 3 refused or
# runtime), one-line errors, what check says and why, mutual consent, the audit
# actor, backup and verify. Edits outside chpolicy use the real sqlite3 shell.
# Prints TAP, one "ok - ..." / "not ok - ..." line per assertion; exits 1 if any failed.

# ok and not_ok always succeed, so "test && ok ... || not_ok ..." is safe here
# shellcheck disable=SC2015
set -u

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ch_lib.sh"
CH=$CHPOLICY

[ -x "$CH" ] || bail "$CH is not an executable (build first)"
require_tools sqlite3

make_tmpdir TMP || bail "a temporary directory"
DB=$TMP/policy.db
OUT=$TMP/out
ERR=$TMP/err
unset CHPOLICY_DB

q() { sqlite3 "$DB" "$1" 2>/dev/null; }
serial() { q "SELECT value FROM meta WHERE key = 'serial'"; }

# ---------------------------------------------------------------- help, usage
ch 0 "--help" --help
out_has "--help documents the exit codes" "Exit status"
out_has "--help names CHPOLICY_DB" "CHPOLICY_DB"
"$CH" -h >/dev/null 2>&1 && ok "-h exits 0" || not_ok "-h exits 0"
commands=$("$CH" --help | sed -n '/^Commands:/,/^$/p' | sed -e '1d' -e '/^$/d' | awk '{ if ($2 ~ /^(add|list|set|remove|view|views|matrix|table|zone)$/) print $1 " " $2; else print $1 }')
ncmd=0
while read -r cmd; do
	[ -n "$cmd" ] || continue
	ncmd=$((ncmd + 1))
	# shellcheck disable=SC2086
	if "$CH" $cmd --help >"$OUT" 2>"$ERR" && grep -q "^usage: chpolicy .*$cmd" "$OUT"; then
		ok "chpolicy $cmd --help"
	else
		not_ok "chpolicy $cmd --help: $(head -n 1 "$OUT" "$ERR" | tr '\n' '|')"
	fi
done <<<"$commands"
[ "$ncmd" -ge 20 ] && ok "--help lists $ncmd commands" || not_ok "--help lists only $ncmd commands"
ch 0 "help rule add" help rule add
out_has "help rule add describes selectors" "level:>=N"
ch 0 "domain --help lists the domain subcommands" domain --help
out_has "domain --help shows domain set" "chpolicy domain set NAME"

"$CH" >"$OUT" 2>"$ERR"; rc=$?
same "no command: exit 2" "$rc" 2
ch 2 "unknown command" frobnicate
err_has "unknown command is named" "unknown command 'frobnicate'"
ch 2 "family without subcommand" domain
ch 2 "unknown subcommand" domain frob
ch 2 "unknown option" domain list --frob
ch 2 "unknown global option" --frob serial
ch 2 "missing argument" domain add
err_has "usage error shows the synopsis" "usage: chpolicy domain add NAME"
ch 2 "too many arguments" domain remove a.test b.test
ch 2 "option without its argument" domain add a.test --level
"$CH" serial >"$OUT" 2>"$ERR"; rc=$?
same "no --db and no CHPOLICY_DB: exit 2" "$rc" 2
ch 3 "missing database file" serial
err_has "missing database is named" "No such file or directory"
same "a command on a missing database does not create it" "$([ -e "$DB" ] && echo yes || echo no)" no

# ---------------------------------------------------------------- init
ch 0 "init" init
same "init: WAL mode" "$(q 'PRAGMA journal_mode')" wal
same "init: serial 1" "$(serial)" 1
if [ -r "$SRCDIR/dbtools/schema.sql" ]; then
	sqlite3 "$TMP/ref.db" <"$SRCDIR/dbtools/schema.sql" >/dev/null
	same "init creates exactly the schema of dbtools/schema.sql" "$(sqlite3 "$DB" .schema | md5sum)" "$(sqlite3 "$TMP/ref.db" .schema | md5sum)"
else
	not_ok "$SRCDIR/dbtools/schema.sql not readable"
fi
ch 3 "init refuses an existing database" init
err_has "init says why" "refusing to overwrite"
: >"$TMP/empty.db"
"$CH" --db "$TMP/empty.db" init >/dev/null 2>&1 && ok "init accepts an existing empty file" || not_ok "init accepts an existing empty file"
CHPOLICY_DB=$DB "$CH" serial >"$OUT" 2>&1 && same "CHPOLICY_DB selects the database" "$(cat "$OUT")" 1 || not_ok "CHPOLICY_DB selects the database"
"$CH" serial --db="$DB" >"$OUT" 2>&1 && same "--db=PATH after the command" "$(cat "$OUT")" 1 || not_ok "--db=PATH after the command"

# ---------------------------------------------------------------- domains
ch 0 "domain add a.test --level 3" domain add a.test --level 3 --note "alpha server"
ch 0 "domain add B.Test. (normalised)" domain add B.Test. --level 2
ch 0 "domain add c.test --level 1" domain add c.test --level 1
ch 0 "domain add d.test --disabled" domain add d.test --disabled
same "names stored lower-case without the dot" "$(q "SELECT name FROM domains WHERE level = 2")" b.test
same "--disabled stored" "$(q "SELECT enabled FROM domains WHERE name = 'd.test'")" 0
s=$(serial)
ch 3 "domain add with an invalid name" domain add bad_name.test
err_has "refused edit passes the schema's message on" "chpolicy: domain add: CHECK constraint failed: invalid domain name"
ch 3 "domain add with a leading hyphen (after --)" domain add -- -a.test
ch 3 "domain add with a negative level" domain add n.test --level -1
err_has "negative level: schema message" "level must be an integer from 0 to 2147483647"
ch 2 "domain add with a non-numeric level" domain add n.test --level high
ch 3 "domain add duplicate" domain add a.test
err_has "duplicate is called so" "already exists"
same "refused edits leave the serial alone" "$(serial)" "$s"
ch 0 "domain list" domain list
out_has "domain list shows a.test with its level" "a.test"
out_has "domain list shows the note" "alpha server"
out_has "domain list shows d.test disabled" "disabled"
ch 0 "domain set --level" domain set c.test --level 4
same "domain set changed the level" "$(q "SELECT level FROM domains WHERE name = 'c.test'")" 4
ch 0 "domain set --enable" domain set D.TEST --enable
same "domain set enabled d.test" "$(q "SELECT enabled FROM domains WHERE name = 'd.test'")" 1
ch 0 "domain set --note" domain set c.test --note "changed" --level 1
same "domain set changed note and level" "$(q "SELECT note || level FROM domains WHERE name = 'c.test'")" changed1
ch 2 "domain set without a change" domain set c.test
ch 2 "domain set --enable --disable" domain set c.test --enable --disable
ch 3 "domain set on an unknown domain" domain set x.test --level 1
ch 3 "domain remove an unknown domain" domain remove x.test

# ---------------------------------------------------------------- groups, members
ch 0 "group add finance" group add finance --note "banks"
ch 0 "group add empty" group add empty
ch 3 "group add invalid name" group add "fin ance"
ch 0 "member add a.test finance" member add a.test finance
ch 0 "member add b.test finance" member add b.test FINANCE
ch 3 "member add unknown domain" member add x.test finance
err_has "unknown domain message" "membership: unknown domain"
ch 3 "member add unknown group" member add a.test nato
ch 0 "member list" member list
out_has "member list shows b.test in finance" "finance  b.test"
ch 0 "member list finance" member list finance
ch 3 "member list of an unknown group" member list nato
ch 0 "group list" group list
out_has "group list shows finance" "finance"
ch 0 "member remove" member remove b.test finance
ch 3 "member remove again" member remove b.test finance
ch 0 "member add back" member add b.test finance

# ---------------------------------------------------------------- identities
ch 0 "identity add a bare IPv4 address" identity add a.test 127.0.0.2
ch 0 "identity add IPv4 with host bits" identity add b.test 127.0.0.3/32
ch 0 "identity add IPv6 upper-case with host bits" identity add c.test 2001:DB8::1/32
ch 0 "identity add IPv4 /8 with host bits" identity add d.test 10.1.2.3/8
same "stored canonical: 127.0.0.2/32" "$(q "SELECT value FROM identities WHERE domain = 'a.test'")" 127.0.0.2/32
same "stored canonical: 2001:db8::/32" "$(q "SELECT value FROM identities WHERE domain = 'c.test'")" 2001:db8::/32
same "stored canonical: 10.0.0.0/8" "$(q "SELECT value FROM identities WHERE domain = 'd.test'")" 10.0.0.0/8
ch 2 "identity add 1.2.3.4/33" identity add a.test 1.2.3.4/33
ch 2 "identity add ::1/129" identity add a.test ::1/129
ch 2 "identity add abc" identity add a.test abc
ch 3 "identity add duplicate (another spelling)" identity add b.test 10.9.9.9/8
ch 3 "identity add to an unknown domain" identity add x.test 192.0.2.1
ch 0 "identity list" identity list
out_has "identity list shows 2001:db8::/32" "2001:db8::/32"
ch 0 "identity list a.test" identity list a.test
out_lacks "identity list a.test shows only a.test" "b.test"
ch 0 "identity remove (canonicalised first)" identity remove 10.200.0.0/8
same "identity removed" "$(q "SELECT count(*) FROM identities WHERE domain = 'd.test'")" 0
ch 3 "identity remove again" identity remove 10.0.0.0/8
ch 2 "identity remove garbage" identity remove nonsense
ch 0 "identity add d.test again" identity add d.test 127.0.0.5

# ---------------------------------------------------------------- rules
# a.test (3): talks to level >= 2; b.test (2) accepts a.test; c.test (1) accepts nobody
ch 0 "rule add domain -> level:>=2" rule add --from domain:a.test --to 'level:>=2' --allow --note "a local"
R1=$(cat "$OUT")
[[ "$R1" =~ ^[0-9]+$ ]] && ok "rule add prints the id ($R1)" || not_ok "rule add prints the id: '$R1'"
ch 0 "rule add domain -> domain" rule add --from domain:b.test --to domain:A.TEST. --allow
R2=$(cat "$OUT")
ch 0 "rule add a.test -> c.test one way" rule add --from domain:a.test --to domain:c.test --allow --priority 50
R3=$(cat "$OUT")
ch 0 "rule add group and level range" rule add --from group:finance --to level:1-3 --deny --priority 500
ch 0 "rule add level:<=N with relative expiry" rule add --from 'level:<=1' --to level:4 --deny --expires +2h
R5=$(cat "$OUT")
ch 0 "rule add absolute expiry" rule add --from domain:c.test --to domain:a.test --deny --priority 9000 --expires '2099-12-31 23:59:59'
same "rule stored with the columns of its selectors" "$(q "SELECT from_kind || from_name || '|' || to_kind || coalesce(to_min, '') || ',' || coalesce(to_max, 'null') FROM rules WHERE id = $R1")" "domaina.test|level2,null"
same "relative expiry stored as a UTC date-time" "$(q "SELECT datetime(expires) = expires AND expires > datetime('now', '+119 minutes') FROM rules WHERE id = $R5")" 1
ch 2 "rule add without an action" rule add --from any --to any
ch 2 "rule add with both actions" rule add --from any --to any --allow --deny
ch 2 "rule add without --to" rule add --from any --allow
ch 2 "rule add with an unknown selector" rule add --from anyone --to any --allow
ch 2 "rule add with a bad level selector" rule add --from level:x --to any --allow
ch 2 "rule add with a bad priority" rule add --from any --to any --allow --priority soon
ch 2 "rule add with a bad expiry" rule add --from any --to any --allow --expires tomorrow
ch 2 "rule add with an impossible date" rule add --from any --to any --allow --expires '2099-02-30 00:00:00'
ch 3 "rule add with an inverted range" rule add --from level:5-2 --to any --allow
err_has "inverted range: schema message" "invalid from selector"
ch 3 "rule add naming an unknown domain" rule add --from domain:x.test --to any --allow
err_has "unknown domain: schema message" "rule: from selects an unknown domain"
ch 3 "rule add naming an unknown group" rule add --from any --to group:nato --allow
ch 3 "rule add already expired" rule add --from any --to any --allow --expires '2001-01-01 00:00:00'
err_has "expired: schema message" "rule: already expired"
ch 0 "rule list" rule list
out_has "rule list shows selectors" "level:>=2"
out_has "rule list shows the note" "a local"
out_has "rule list shows level:<=1" "level:<=1"
out_has "rule list shows a range" "level:1-3"
out_has "rule list shows the expiry" "2099-12-31 23:59:59"
head -n 1 "$OUT" | grep -q "^ID  *PRIORITY  *FROM  *TO  *ACTION  *MODE  *EXPIRES  *NOTE" && ok "rule list columns" || not_ok "rule list columns: $(head -n 1 "$OUT")"
second=$(sed -n 2p "$OUT" | awk '{ print $1 }')
same "rule list in evaluation order (priority 50 first)" "$second" "$R3"

# ---------------------------------------------------------------- check
ch 0 "check a.test b.test: allow" check a.test b.test
out_has "check names both rules" "allow a.test -> b.test: rule $R1 (domain:a.test -> level:>=2 allow), mutual: rule $R2 (domain:b.test -> domain:a.test allow)"
ch 1 "check a.test c.test: one-way allow is denied with mutual consent" check a.test c.test
out_has "check explains the missing consent" "no mutual consent"
ch 0 "check a.test c.test --no-mutual: allow" check a.test c.test --no-mutual
out_has "--no-mutual names rule $R3" "rule $R3"
ch 1 "check c.test b.test: deny" check c.test b.test
out_has "default deny explained" "default deny (no rule matched)"
ch 1 "check b.test c.test: deny by a rule" check b.test c.test
out_has "deny names the deny rule" "group:finance -> level:1-3 deny"
ch 2 "check with an unknown peer" check a.test x.test
ch 2 "check with an unknown requester" check x.test a.test
ch 0 "check by source address" check 127.0.0.3 a.test
out_has "source address identified as b.test" "127.0.0.3 (b.test) -> a.test"
ch 1 "check an unidentified address" check 192.0.2.99 a.test
ch 0 "check --all" check A.Test. b.test --all
out_has "--all stars the deciding rule" "* rule $R1"
out_has "--all lists the reverse direction" "b.test -> a.test:"
ch 0 "domain set b.test --disable" domain set b.test --disable
ch 1 "check to a disabled domain: deny" check a.test b.test
out_has "check says the domain is disabled" "b.test is disabled"
ch 0 "domain set b.test --enable" domain set b.test --enable

# ---------------------------------------------------------------- audit, actor, serial
s=$(serial)
ch 0 "serial" serial
same "serial prints meta.serial" "$(cat "$OUT")" "$s"
ch 0 "--actor alice edit" --actor alice domain set c.test --note "by alice"
same "an edit bumps the serial by one" "$(serial)" "$((s + 1))"
ch 0 "audit --since" audit --since "$s"
out_has "audit shows the actor from --actor" "alice"
out_has "audit shows old -> new" '"note":"changed"'
out_lacks "audit --since hides older changes" "a local"
[ "$(wc -l <"$OUT")" -eq 2 ] && ok "audit --since: header and one row" || not_ok "audit --since: $(wc -l <"$OUT") lines"
ch 0 "edit with the default actor" domain set c.test --note "by default"
ch 0 "audit" audit
out_has "default actor is chpolicy:<user>" "chpolicy:$(id -un)"
out_has "audit has the whole log" "a local"
sqlite3 "$DB" "UPDATE domains SET note = 'by sql' WHERE name = 'c.test'"
ch 0 "audit after a sqlite3 edit" audit --since "$((s + 2))"
out_has "a sqlite3 edit is logged as 'sql'" " sql "
same "no actor row left in meta" "$(q "SELECT count(*) FROM meta WHERE key = 'actor'")" 0
ch 2 "audit --since garbage" audit --since yesterday

# ---------------------------------------------------------------- removals
ch 3 "domain remove a domain named by a rule" domain remove c.test
err_has "domain remove: schema message" "domain: still named by a rule"
ch 3 "group remove a group named by a rule" group remove finance
ch 0 "rule remove" rule remove "$R3"
ch 3 "rule remove again" rule remove "$R3"
ch 2 "rule remove garbage" rule remove three
ch 0 "domain remove d.test (with its identity)" domain remove d.test
same "its identity went with it" "$(q "SELECT count(*) FROM identities WHERE domain = 'd.test'")" 0
ch 0 "group remove empty" group remove empty
ch 3 "group remove unknown" group remove empty

# ---------------------------------------------------------------- backup
ch 0 "backup" backup "$TMP/backup.db"
same "backup has the same serial" "$("$CH" --db "$TMP/backup.db" serial 2>&1)" "$(serial)"
same "backup has the same rules" "$("$CH" --db "$TMP/backup.db" rule list 2>&1)" "$("$CH" --db "$DB" rule list 2>&1)"
same "backup passes integrity_check" "$(sqlite3 "$TMP/backup.db" 'PRAGMA integrity_check')" ok
ch 3 "backup refuses to overwrite" backup "$TMP/backup.db"
err_has "backup says why" "refusing to overwrite"
# a backup while another connection holds a read transaction open
( sqlite3 "$DB" "BEGIN; SELECT count(*) FROM rules; SELECT 1 FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n); COMMIT;" >/dev/null 2>&1 & )
ch 0 "backup during a concurrent reader" backup "$TMP/backup2.db"

# ---------------------------------------------------------------- verify
V=$TMP/clean.db
"$CH" --db "$V" init >/dev/null
for d in x.test y.test; do "$CH" --db "$V" domain add $d >/dev/null; done
"$CH" --db "$V" identity add x.test 127.0.0.10 >/dev/null
"$CH" --db "$V" identity add y.test 127.0.0.11 >/dev/null
"$CH" --db "$V" rule add --from any --to any --allow >/dev/null
"$CH" --db "$V" verify >"$OUT" 2>"$ERR"; rc=$?
same "verify on a clean policy: exit 0 ($(tr '\n' '|' <"$OUT"))" "$rc" 0
out_has "verify reports integrity" "integrity ok"
"$CH" --db "$V" rule add --from domain:x.test --to any --deny >/dev/null
"$CH" --db "$V" group add lonely >/dev/null
"$CH" --db "$V" rule add --from group:lonely --to any --allow --priority 10 >/dev/null
"$CH" --db "$V" domain add z.test >/dev/null
"$CH" --db "$V" rule add --from any --to domain:z.test --deny --priority 1 >/dev/null
"$CH" --db "$V" verify >"$OUT" 2>"$ERR"; rc=$?
same "verify with lint findings: exit 1" "$rc" 1
out_has "verify finds a shadowed rule" "is shadowed by rule"
out_has "verify finds a group without members named by a rule" "group lonely: no members"
out_has "verify finds a domain nobody may reach" "domain z.test: no other domain may reach it"
out_has "verify finds a domain without identity" "domain z.test: no identity"
# the schema refuses it now: written as an older schema let it through
sqlite3 "$V" "DROP TRIGGER identities_refs_insert; INSERT INTO identities (value, domain) VALUES ('127.0.1.1/16', 'x.test')"
"$CH" --db "$V" verify >"$OUT" 2>"$ERR"
out_has "verify finds an identity written by hand in non-canonical form" "identity 127.0.1.1/16 (x.test) is not canonical: it means 127.0.0.0/16"

# an expired rule: the triggers refuse to create one, so make it on a copy
# whose update trigger was dropped (verify flags the missing trigger too)
cp "$DB" "$TMP/copy.db"
rm -f "$TMP/copy.db-wal" "$TMP/copy.db-shm"
sqlite3 "$TMP/copy.db" "DROP TRIGGER rules_refs_update; UPDATE rules SET expires = '2001-01-01 00:00:00' WHERE id IN ($R5, $R1);"
"$CH" --db "$TMP/copy.db" verify >"$OUT" 2>"$ERR"; rc=$?
same "verify with an expired rule: exit 1" "$rc" 1
out_has "verify finds the expired rule" "rule $R5: expired at 2001-01-01 00:00:00"
out_has "verify finds the dropped trigger" "trigger rules_refs_update is missing"
"$CH" --db "$TMP/copy.db" rule list >"$OUT" 2>&1
out_has "rule list marks the expired rule" "(expired)"
"$CH" --db "$TMP/copy.db" check a.test b.test --all >"$OUT" 2>&1; rc=$?
same "check skips the expired rule: a.test -> b.test now denied" "$rc" 1
out_has "check --all marks the expired rule" "rule $R1  priority 100  domain:a.test -> level:>=2  allow  expired 2001-01-01 00:00:00"
out_has "check --all stars the rule that decided instead" "* rule"
"$CH" --db "$DB" verify >"$OUT" 2>"$ERR"; rc=$?
[ "$rc" -le 1 ] && ok "verify on the edited database: exit $rc (integrity ok, maybe lint)" || not_ok "verify on the edited database: exit $rc"
out_has "verify on the edited database: integrity ok" "integrity ok"
out_lacks "verify on the edited database: no missing trigger" "missing"

printf 'this is not a database, just text that is long enough to look like a header....\n' >"$TMP/junk.db"
"$CH" --db "$TMP/junk.db" verify >"$OUT" 2>"$ERR"; rc=$?
same "verify on a file that is not a database: exit 3" "$rc" 3
"$CH" --db "$TMP/junk.db" domain list >"$OUT" 2>"$ERR"; rc=$?
same "a command on a file that is not a database: exit 3" "$rc" 3

finish
