#!/bin/bash
# test_chpolicy_safety.sh -- chpolicy never commits what resolverd cannot
# load, and its newer commands: target, restore, status; names (IDN,
# escapes), IPv4-mapped identities, check of a domain to itself.
#
# usage: make check, or by hand: [CHPOLICY=BINARY] tests/cli/test_chpolicy_safety.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools sqlite3
[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"
make_tmpdir T
unset CHPOLICY_DB
DB=$T/policy.db
OUT=$T/out
ERR=$T/err

# ch WANT WHAT ARGS...: chpolicy --db $DB ARGS exits WANT; a failure is one "chpolicy: " line.
ch() {
    local want=$1 what=$2 rc
    shift 2
    "$CHPOLICY" --db "$DB" "$@" >"$OUT" 2>"$ERR"
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        not_ok "$what: exit $rc, want $want"
        diag "stdout: $(cat "$OUT")" "stderr: $(cat "$ERR")"
        return 1
    fi
    if [ "$want" -ge 2 ] && { [ "$(wc -l <"$ERR")" -ne 1 ] || ! grep -q '^chpolicy: ' "$ERR"; }; then
        not_ok "$what: stderr is one 'chpolicy: ' line"
        diag "$(cat "$ERR")"
        return 1
    fi
    ok "$what (exit $rc)"
}
out() { assert_match "$1" "$2" "$(cat "$OUT")"; }
err() { assert_match "$1" "$2" "$(cat "$ERR")"; }
q() { sqlite3 "$DB" "$1"; }
serial() { q "SELECT value FROM meta WHERE key = 'serial'"; }

# the community: alpha (3) at 127.0.0.2, bravo (2) at 127.0.0.3, charlie (3)
ch 0 "init" init
ch 0 "domain add alpha.test" domain add alpha.test --level 3
ch 0 "domain add bravo.test" domain add bravo.test --level 2
ch 0 "domain add charlie.test" domain add charlie.test --level 3
ch 0 "identity add alpha.test" identity add alpha.test 127.0.0.2
ch 0 "identity add bravo.test" identity add bravo.test 127.0.0.3
ch 0 "rule level:>=3 -> level:>=3 allow" rule add --from 'level:>=3' --to 'level:>=3' --allow

echo "# an edit commits only a policy resolverd's loader reads"
# a database whose guards were bypassed (an old schema, a dropped trigger)
ch 0 "domain add oscar.test" domain add oscar.test --level 3
sqlite3 "$DB" "DROP TRIGGER target_addresses_check_insert;
    INSERT INTO targets (domain, priority, weight, port, host) VALUES ('oscar.test', 0, 0, 5269, 'xmpp3.oscar.test');
    INSERT INTO target_addresses (host, address) VALUES ('xmpp3.oscar.test', '999.0.0.1')"
s=$(serial)
ch 3 "rule add on a policy resolverd cannot load is refused" rule add --from domain:alpha.test --to domain:charlie.test --deny --priority 1
err "the refusal gives the loader's message" "resolverd could not load the policy this edit leaves: target address '999.0.0.1' of xmpp3.oscar.test"
assert_eq "the refused edit left the serial alone" "$s" "$(serial)"
assert_eq "the refused edit left no rule" 1 "$(q 'SELECT count(*) FROM rules')"
ch 0 "the edit that removes the bad row is accepted" target remove oscar.test xmpp3.oscar.test
assert_eq "the bad address went with its host's last target" 0 "$(q "SELECT count(*) FROM target_addresses WHERE host = 'xmpp3.oscar.test'")"
ch 0 "the rule add goes through now" rule add --from domain:alpha.test --to domain:charlie.test --deny --priority 1
ch 0 "rule remove" rule remove "$(cat "$OUT")"
"$CHPOLICY" --db "$DB" verify >"$OUT" 2>&1
out "verify names the dropped trigger" "trigger target_addresses_check_insert is missing"
sqlite3 "$DB" ".read '$SRCDIR/dbtools/schema.sql'" >/dev/null 2>&1   # puts back what is missing, the rest fails
sqlite3 "$DB" "$(sed -n '/^CREATE TRIGGER target_addresses_check_insert/,/END;$/p' "$SRCDIR/dbtools/schema.sql")" 2>/dev/null
"$CHPOLICY" --db "$DB" verify >"$OUT" 2>&1
assert_not_match "the trigger is back" "is missing" "$(cat "$OUT")"

echo "# targets"
ch 0 "target add with addresses" target add charlie.test xmpp.charlie.test --priority 5 --weight 10 --address 192.0.2.30 --address 2001:DB8::30
ch 0 "target add a second host, no address" target add charlie.test xmpp2.charlie.test --port 5270
ch 0 "target add . (no service) for jabber" target add charlie.test . --service jabber
ch 0 "target list charlie.test" target list charlie.test
out "target list shows the host and its canonical addresses" "xmpp-server +5 +10 +5269 +xmpp.charlie.test +192.0.2.30,2001:db8::30"
out "target list shows . as no service" "jabber +0 +0 +0 +\. \(no service\)"
out "target list marks a host without address" "xmpp2.charlie.test +- \(none"
assert_eq "'.' stored with priority, weight and port 0" "0|0|0" "$(q "SELECT priority, weight, port FROM targets WHERE host = '.'")"
ch 3 "another jabber target beside . is refused" target add charlie.test j.charlie.test --service jabber
err "the schema says why" "only target of its domain and service"
ch 2 ". with an address is a usage error" target add charlie.test . --service xmpps-server --address 192.0.2.1
ch 3 "an unknown service is refused" target add charlie.test x.charlie.test --service xmpp
err "the service message" "service must be xmpp-server, xmpps-server or jabber"
ch 2 "a port out of range" target add charlie.test x.charlie.test --port 70000
ch 2 "an address with a prefix" target add charlie.test x.charlie.test --address 192.0.2.0/24
ch 3 "a host name with an underscore" target add charlie.test x_y.charlie.test
err "the name message" "invalid domain name"
ch 3 "a target of an unknown domain" target add nowhere.test x.nowhere.test
ch 0 "an IPv4-mapped address is stored as IPv4" target add charlie.test xmpp.charlie.test --address ::ffff:192.0.2.31
assert_eq "stored as 192.0.2.31" 1 "$(q "SELECT count(*) FROM target_addresses WHERE address = '192.0.2.31'")"
"$CHPOLICY" --db "$DB" verify >"$OUT" 2>&1
out "verify warns about a target host without an address" "target host xmpp2.charlie.test of charlie.test: no address in target_addresses, so resolverd answers SERVFAIL"
ch 0 "target remove with --service" target remove charlie.test . --service jabber
ch 3 "target remove again" target remove charlie.test . --service jabber
err "no such target" "no such target"
ch 0 "target remove xmpp2" target remove charlie.test xmpp2.charlie.test
ch 0 "target list" target list
assert_not_match "xmpp2 is gone" "xmpp2" "$(cat "$OUT")"

echo "# names: presentation format, Unicode"
ch 2 "an escaped dot inside a label is not alpha.test" domain add 'alpha\.test'
err "the error writes it escaped" "'alpha\\\\.test' has a label holding a dot"
ch 2 "a name with a space, escaped" domain add 'a\032b.test'
err "a space is shown as \\032" "'a\\\\032b.test'"
ch 2 "check of an escaped name is not the plain one" check alpha.test 'charlie\.test'
ch 0 "an escape of a plain letter is the letter" domain set 'alph\097.test' --note "escaped a"
assert_eq "the note went to alpha.test" "escaped a" "$(q "SELECT note FROM domains WHERE name = 'alpha.test'")"
ch 0 "a Unicode name is stored as A-labels" domain add bücher.test --level 3
assert_eq "stored as xn--bcher-kva.test" 1 "$(q "SELECT count(*) FROM domains WHERE name = 'xn--bcher-kva.test'")"
ch 0 "domain list" domain list
out "domain list shows the A-label and the Unicode form" "xn--bcher-kva.test \(bücher.test\)"
ch 0 "the Unicode name works in a selector" rule add --from domain:BÜCHER.test --to any --deny --priority 7
assert_eq "the rule names the A-label" "xn--bcher-kva.test" "$(q "SELECT from_name FROM rules WHERE priority = 7")"
ch 2 "a name libidn2 refuses" domain add 'a‍b.test'
err "the error says which forms are expected" "Unicode name in UTF-8.*or its A-labels"
ch 3 "a malformed A-label is refused by the schema" domain add 'xn--.test'

echo "# IPv4-mapped IPv6 identities: one rule everywhere (stored as IPv4)"
ch 0 "identity add ::ffff:127.0.0.5" identity add charlie.test ::ffff:127.0.0.5
out "chpolicy says what it stored" "stored as 127.0.0.5/32"
assert_eq "stored as 127.0.0.5/32" "charlie.test" "$(q "SELECT domain FROM identities WHERE value = '127.0.0.5/32'")"
ch 3 "the hex form through chpolicy is the same prefix again" identity add bravo.test ::ffff:7f00:5
sqlite3 "$DB" "INSERT INTO identities (value, domain) VALUES ('::ffff:7f00:6/128', 'bravo.test')" 2>"$ERR" \
    && not_ok "the sqlite3 shell cannot store the hex form" || err "the sqlite3 shell cannot store the hex form, and is told the IPv4 form" "IPv4-mapped IPv6 address: write it as IPv4"
ch 0 "check from ::ffff:127.0.0.5 identifies charlie.test, as resolverd would" check ::ffff:127.0.0.5 alpha.test
out "it is charlie.test" "::ffff:127.0.0.5 \(charlie.test\) -> alpha.test"
ch 0 "identity remove by the mapped form" identity remove ::ffff:127.0.0.5

echo "# check R R"
ch 0 "check alpha.test alpha.test: allow" check alpha.test alpha.test
out "it says own domain" "allow alpha.test -> alpha.test: own domain"
ch 0 "check bravo.test bravo.test: allow even without a rule for level 2" check bravo.test bravo.test
out "own domain for bravo.test too" "own domain"

echo "# status without resolverd"
ch 3 "status with no resolverd status file" status
err "it says no status was found" "no resolverd status for"
printf 'pid: 999999999\nstate: serving\nserved-serial: 1\ndatabase-serial: 1\nfailed-reloads: 0\nlast-error: -\nlast-error-at: -\nupdated: 2025-01-01 00:00:00\n' >"$DB-status"
ch 3 "status with a status file whose resolverd is gone" status
err "it says the pid is gone" "pid 999999999.* is gone"
rm -f "$DB-status"

echo "# restore"
ch 0 "backup" backup "$T/good.db"
good_serial=$("$CHPOLICY" --db "$T/good.db" serial)
ch 0 "an edit after the backup" domain add delta.test
audit_rows=$(q "SELECT count(*) FROM audit")
before=$(serial)
ch 0 "restore the backup" --actor restorer restore "$T/good.db"
out "restore says the serial" "restored from .*good.db \(serial $good_serial there\), serial $((before + 1))"
assert_eq "the serial went above the live one" "$((before + 1))" "$(serial)"
assert_eq "the domain added after the backup is gone" 0 "$(q "SELECT count(*) FROM domains WHERE name = 'delta.test'")"
# the restore row, then one insert row per row of the restored policy (the log rebuilds it)
restored_rows=$(sqlite3 "$T/good.db" "SELECT (SELECT count(*) FROM domains) + (SELECT count(*) FROM groups)
    + (SELECT count(*) FROM memberships) + (SELECT count(*) FROM identities) + (SELECT count(*) FROM rules)
    + (SELECT count(*) FROM targets) + (SELECT count(*) FROM target_addresses)")
assert_eq "the change log kept every live row and added the restore and its content" "$((audit_rows + 1 + restored_rows))" "$(q "SELECT count(*) FROM audit")"
assert_eq "the restore row names the actor and the file" "restorer|database|restore" "$(q "SELECT actor, tbl, op FROM audit WHERE op = 'restore' ORDER BY id DESC LIMIT 1")"
assert_eq "the schema is intact" ok "$(q 'PRAGMA integrity_check')"
"$CHPOLICY" --db "$DB" verify >"$OUT" 2>&1
assert_not_match "verify finds no schema difference after a restore" "schema:" "$(cat "$OUT")"
assert_eq "still in WAL mode" wal "$(q 'PRAGMA journal_mode')"
# a file with a dropped trigger
cp "$T/good.db" "$T/weak.db"
sqlite3 "$T/weak.db" "DROP TRIGGER rules_refs_insert"
s=$(serial)
ch 3 "restore refuses a file without the schema's checks" restore "$T/weak.db"
err "and says which" "trigger rules_refs_insert is missing"
# a file resolverd cannot load
cp "$T/good.db" "$T/bad.db"
sqlite3 "$T/bad.db" "PRAGMA ignore_check_constraints = ON; UPDATE domains SET level = -4 WHERE name = 'bravo.test'"
ch 3 "restore refuses a file resolverd cannot load" restore "$T/bad.db"
err "with the loader's message" "resolverd could not load it: domain 'bravo.test': level must be"
ch 3 "restore of a file that is not a database" restore "$ERR"
assert_eq "refused restores change nothing" "$s" "$(serial)"
# a live database written over with garbage
head -c 8192 /dev/urandom | dd of="$DB" bs=4096 seek=0 conv=notrunc 2>/dev/null
rm -f "$DB-wal" "$DB-shm"
ch 3 "the damaged database is refused by other commands" domain list
ch 0 "restore into a live database that is not a database any more" restore "$T/good.db"
assert_eq "it reads again" ok "$(q 'PRAGMA integrity_check')"
assert_eq "with the backup's domains" "alpha.test bravo.test charlie.test oscar.test xn--bcher-kva.test" "$(q "SELECT group_concat(name, ' ') FROM (SELECT name FROM domains ORDER BY name)")"

echo "# help"
ch 0 "--help" --help
out "--help lists target add" "target add"
out "--help lists restore" "restore"
out "--help lists status" "status"
ch 0 "restore --help" restore --help
out "restore --help warns against mv" "Never replace the file of a live database"

finish
