#!/usr/bin/env bash
# What resolverd does with a policy it cannot load, and how the operator
# sees it: the status file and `chpolicy status`, the back-off of repeated
# errors, a database file replaced under it (mv) or written over in place,
# chpolicy restore as the safe way, the SRV target "." and the listen
# checks of resolverd -t.
#
#   make check, or by hand: [BUILDDIR=DIR] tests/integration/test_reload_safety.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig sqlite3 python3 setsid
require_long_run
require_resolverd
[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"
make_tmpdir T

DB=$T/policy.db
export CHPOLICY_DB=$DB
ch() { "$CHPOLICY" "$@"; }
{
    ch init
    ch domain add alpha.test --level 3
    ch domain add bravo.test --level 2
    ch domain add charlie.test --level 3
    ch identity add alpha.test 127.0.0.2
    ch identity add bravo.test 127.0.0.3
    ch identity add charlie.test 127.0.0.4
    ch rule add --from 'level:>=3' --to 'level:>=3' --allow
    ch target add charlie.test xmpp.charlie.test --address 192.0.2.30
    ch target add alpha.test xmpp.alpha.test --address 192.0.2.10
} >/dev/null || bail "the community policy"

run_resolverd safety <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-poll-ms: 50
CONF

REAL="0 0 5269 xmpp.charlie.test."
SINK="0 0 5269 sink.clearinghouse.test."
srv() { dig +short +time=2 +tries=1 -b "$1" -p "$PORT" @127.0.0.1 "_${3:-xmpp-server}._tcp.$2" SRV; }
# until_answer SRC PEER WANT: wait (at most 3 s) for the answer to be WANT
until_answer() { local i; for i in $(seq 60); do [ "$(srv "$1" "$2")" = "$3" ] && return 0; sleep 0.05; done; return 1; }
status() { "$CHPOLICY" status >"$T/status.out" 2>&1; echo $?; }
field() { sed -n "s/^$1: //p" "$DB-status"; }

echo "# the status file and chpolicy status"
assert_eq "alpha.test reaches charlie.test" "$REAL" "$(srv 127.0.0.2 charlie.test)"
assert_eq "bravo.test (level 2) gets the sink" "$SINK" "$(srv 127.0.0.3 charlie.test)"
[ -f "$DB-status" ] && ok "resolverd writes $DB-status" || not_ok "resolverd writes $DB-status"
assert_eq "the status file names resolverd's pid" "$RESOLVERD_PID" "$(field pid)"
assert_eq "status: in sync, exit 0" 0 "$(status)"
assert_match "status says so" "in sync: resolverd serves the database's serial $(ch serial)" "$(cat "$T/status.out")"
ch rule add --from domain:alpha.test --to domain:charlie.test --deny --priority 1 >/dev/null
until_answer 127.0.0.2 charlie.test "$SINK" && ok "an edit reaches the answers" || not_ok "an edit reaches the answers"
assert_eq "status after the edit: in sync, exit 0" 0 "$(status)"
assert_eq "the status file has the new serial" "$(ch serial)" "$(field served-serial)"
ch rule remove "$(sqlite3 "$DB" 'SELECT max(id) FROM rules')" >/dev/null
until_answer 127.0.0.2 charlie.test "$REAL" || not_ok "the rule removal reaches the answers"

echo "# a row the loader refuses (a database whose triggers were dropped)"
sqlite3 "$DB" "DROP TRIGGER target_addresses_check_insert; INSERT INTO target_addresses (host, address) VALUES ('xmpp.charlie.test', '999.0.0.1')"
t0=$(now_ms)
for i in $(seq 40); do grep -q "error: policy reload failed: target address '999.0.0.1'" "$LOG" && break; sleep 0.05; done
assert_le "the failure is logged at once, at error level ($(( $(now_ms) - t0 )) ms)" 1500 $(( $(now_ms) - t0 ))
assert_eq "the last good policy is still served" "$REAL" "$(srv 127.0.0.2 charlie.test)"
assert_eq "status: exit 1 while the last reload failed" 1 "$(status)"
assert_match "status shows the loader's error" "last reload error: .*target address '999.0.0.1' of xmpp.charlie.test" "$(cat "$T/status.out")"
assert_match "status says it is not in sync" "NOT IN SYNC" "$(cat "$T/status.out")"
sleep 6
lines=$(grep -c "policy reload failed: target address '999.0.0.1'" "$LOG")
failed=$(field failed-reloads)
echo "# after ~6.5 s of the same error: $lines log lines, $failed failed reloads counted"
assert_le "the repeated error is logged with back-off (1, 2, 4 s ...): at most 4 lines in 6.5 s" 4 "$lines"
[ "$lines" -ge 2 ] && ok "the repeated error is logged again ($lines lines)" || not_ok "the repeated error is logged again ($lines lines)"
[ "${failed:-0}" -ge 5 ] && ok "every retry (one a second) is counted ($failed)" || not_ok "every retry is counted ($failed)"
assert_match "a repeated line says how often it happened" "again; [0-9]+ more times since the last line" "$(grep "999.0.0.1" "$LOG" | tail -n 1)"
sqlite3 "$DB" "DELETE FROM target_addresses WHERE address = '999.0.0.1'"
sqlite3 "$DB" "$(sed -n '/^CREATE TRIGGER target_addresses_check_insert/,/END;$/p' "$SRCDIR/dbtools/schema.sql")"
for i in $(seq 40); do [ "$(field state)" = serving ] && break; sleep 0.05; done
assert_eq "fixed: status in sync again, exit 0" 0 "$(status)"
assert_match "the recovery is logged" "the database reads again" "$(cat "$LOG")"

echo "# the target . (no service)"
ch target add charlie.test . --service jabber >/dev/null
for i in $(seq 40); do [ "$(srv 127.0.0.2 charlie.test jabber)" = "0 0 0 ." ] && break; sleep 0.05; done
assert_eq "an allowed requester gets SRV 0 0 0 . for the service" "0 0 0 ." "$(srv 127.0.0.2 charlie.test jabber)"
assert_eq "the other service is unchanged" "$REAL" "$(srv 127.0.0.2 charlie.test)"
assert_eq "a denied requester still gets the sink" "$SINK" "$(srv 127.0.0.3 charlie.test jabber)"

echo "# a database file replaced under resolverd (mv)"
ch backup "$T/good.db" >/dev/null
ch backup "$T/new.db" >/dev/null
assert_cmd "a deny rule in the copy" "$CHPOLICY" --db "$T/new.db" rule add --from domain:alpha.test --to domain:charlie.test --deny --priority 1
assert_eq "the copy holds it" 1 "$(sqlite3 "$T/new.db" "SELECT count(*) FROM rules WHERE priority = 1")"
served=$(field served-serial)
mv "$T/new.db" "$DB"
for i in $(seq 60); do grep -q "policy reload refused: $DB was replaced" "$LOG" && break; sleep 0.05; done
assert_match "the replacement is refused loudly, saying what to do" "error: policy reload refused: $DB was replaced by another file .*chpolicy restore FILE" "$(cat "$LOG")"
sleep 0.5
assert_eq "the last good policy is still served" "$REAL" "$(srv 127.0.0.2 charlie.test)"
assert_eq "status file: state replaced" replaced "$(field state)"
assert_eq "chpolicy status: exit 1" 1 "$(status)"
assert_match "chpolicy status says the file was replaced" "replaced" "$(cat "$T/status.out")"
ch domain add echo.test >/dev/null 2>&1
assert_eq "the moved-in file keeps its own rows (its deny rule)" 1 "$(sqlite3 "$DB" "SELECT count(*) FROM rules WHERE priority = 1")"
assert_eq "an edit of the moved-in file is kept" 1 "$(sqlite3 "$DB" "SELECT count(*) FROM domains WHERE name = 'echo.test'")"
assert_eq "the moved-in file is intact" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')"
assert_eq "resolverd still serves serial $served" "$served" "$(field served-serial)"
kill -HUP "$RESOLVERD_PID"
until_answer 127.0.0.2 charlie.test "$SINK" && ok "SIGHUP: resolverd opens the file that replaced the database" || not_ok "SIGHUP: resolverd opens the file that replaced the database"
assert_eq "status: in sync again" 0 "$(status)"

echo "# chpolicy restore, the safe way"
before=$(ch serial)
ch restore "$T/good.db" >/dev/null || not_ok "chpolicy restore ran"
until_answer 127.0.0.2 charlie.test "$REAL" && ok "the restored policy reaches the answers" || not_ok "the restored policy reaches the answers"
[ "$(ch serial)" -gt "$before" ] && ok "the restore raised the serial" || not_ok "the restore raised the serial"
assert_eq "status: in sync after the restore" 0 "$(status)"

echo "# garbage written over the file in place"
# (after a checkpoint: while the -wal holds every page, SQLite never reads the file)
assert_eq "the -wal is checkpointed into the file" "0|0|0" "$(sqlite3 -cmd '.timeout 5000' "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)')"
head -c 8192 /dev/urandom | dd of="$DB" bs=4096 conv=notrunc 2>/dev/null
for i in $(seq 60); do grep -q "policy reload failed: .*still serving serial $(field served-serial)" "$LOG" && [ "$(field state)" = failing ] && break; sleep 0.05; done
assert_eq "the damaged file is noticed: status file state failing" failing "$(field state)"
assert_match "and logged" "error: policy reload failed: .*(not a database|malformed|corrupt|disk image)" "$(grep 'policy reload failed' "$LOG" | tail -n 1)"
assert_eq "the last good policy is still served" "$REAL" "$(srv 127.0.0.2 charlie.test)"
assert_eq "chpolicy status: exit 1" 1 "$(status)"
ch restore "$T/good.db" >"$T/restore.out" 2>&1 && ok "chpolicy restore into the damaged file" || not_ok "chpolicy restore into the damaged file: $(cat "$T/restore.out")"
for i in $(seq 60); do [ "$(field state)" = serving ] && break; sleep 0.05; done
assert_eq "resolverd reads it again: status in sync" 0 "$(status)"
ch rule add --from domain:alpha.test --to domain:charlie.test --deny --priority 1 >/dev/null
until_answer 127.0.0.2 charlie.test "$SINK" && ok "edits apply again" || not_ok "edits apply again"

echo "# resolverd -t checks listen addresses as start-up would"
t_conf() { printf '%s\ndatabase: %s\nzone-file: %s\n' "$1" "$DB" "$SRCDIR/zones/clearinghouse.test.zone" >"$T/t.conf"; "$RESOLVERD" -t -c "$T/t.conf" 2>&1; }
assert_match "a duplicate listen address" "are the same address and port" "$(t_conf "listen: 127.0.0.1@5399
listen: 127.0.0.1@5399")"
assert_match "a wildcard beside an address on the same port" "are the same address and port" "$(t_conf "listen: 0.0.0.0@5399
listen: 127.0.0.1@5399")"
assert_match "port 0" "the port is 1 to 65535" "$(t_conf "listen: 127.0.0.1@0")"
assert_match "port 70000" "the port is 1 to 65535" "$(t_conf "listen: 127.0.0.1@70000")"
assert_match "an unparseable address" "is not ADDR@PORT" "$(t_conf "listen: 127.0.0.300@5399")"
assert_match "two families on one port are fine" "valid" "$(t_conf "listen: 127.0.0.1@5399
listen: ::1@5399")"

kill -0 "$RESOLVERD_PID" 2>/dev/null && ok "resolverd kept running throughout" || not_ok "resolverd kept running throughout"
stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
assert_eq "the status file says stopped" stopped "$(field state)"
assert_eq "chpolicy status: exit 3 when resolverd has stopped" 3 "$(status)"
if san=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer error"; diag "$san"; else ok "no sanitizer error"; fi

echo "# a status file resolverd cannot write: one warning, and it serves all the same"
DB=$T/second.db
"$CHPOLICY" --db "$T/good.db" backup "$DB" >/dev/null
mkdir "$DB-status"   # a directory in its place: the rename over it fails
run_resolverd second <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
CONF
for i in 1 2 3; do "$CHPOLICY" --db "$DB" domain add "extra$i.test" >/dev/null; sleep 0.2; done
assert_eq "the unwritable status file is logged once, as a warning" 1 "$(grep -c 'warning: cannot write the status file' "$LOG")"
assert_eq "answers are unaffected" "$REAL" "$(srv 127.0.0.2 charlie.test)"
stop_pid "$RESOLVERD_PID" 10 && ok "the second resolverd exits on SIGTERM" || not_ok "the second resolverd exits on SIGTERM"
if san=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer error (second)"; diag "$san"; else ok "no sanitizer error (second)"; fi
[ "$TESTS_FAILED" -gt 0 ] && tail -n 30 "$LOG" | sed 's/^/#   /'
finish
