#!/usr/bin/env bash
# What an operator sees: the Prometheus metrics after a scripted mix of
# queries, the control socket (resolverd-control status, stats, reload,
# flush; its permissions), and the JSON decision log.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_observability.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig sqlite3 python3 setsid curl
require_resolverd
CONTROL=${CONTROL:-$(dirname "$RESOLVERD")/resolverd-control}
[ -x "$CONTROL" ] || bail "resolverd-control exists at $CONTROL (build first)"
make_tmpdir T

DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name, level) VALUES ('a.test', 3), ('b.test', 3), ('c.test', 1);
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'a.test'), ('127.0.0.3/32', 'b.test');
INSERT INTO rules (id, priority, from_kind, from_min, to_kind, to_min, action) VALUES (7, 10, 'level', 3, 'level', 3, 'allow');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('b.test', 0, 5, 5269, 'xmpp.b.test');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('a.test', 0, 5, 5269, 'xmpp.a.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.b.test', '198.18.2.11'), ('xmpp.a.test', '198.18.1.11');
SQL
MPORT=$(free_port) || bail "a free port for the metrics"
run_resolverd observe <<CONF
metrics-listen: 127.0.0.1@$MPORT
control-socket: $T/control.sock
decision-log: $T/decisions.json
recursion-acl: 127.0.0.1/32
CONF
q() { local src=$1; shift; dig +time=2 +tries=1 -b "$src" -p "$PORT" @127.0.0.1 "$@"; }
# metric NAME{LABELS}: its value (label values may hold spaces), or "absent"
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
        awk -v m="$1" '{ v = $NF; k = substr($0, 1, length($0) - length(v) - 1) } k == m { print v; f = 1 } END { if (!f) print "absent" }'
}

before=$(metric resolverd_queries_total)
# the scripted mix: 3 allowed SRV (a -> b, rule 7), 2 denied (a -> c, default
# deny), 1 own domain, 1 REFUSED (unknown source), 2 sink A from the zone over TCP
for _ in 1 2 3; do q 127.0.0.2 _xmpp-server._tcp.b.test SRV >/dev/null; done
for _ in 1 2; do q 127.0.0.2 _xmpp-server._tcp.c.test SRV >/dev/null; done
q 127.0.0.2 _xmpp-server._tcp.a.test SRV >/dev/null
q 127.0.0.9 _xmpp-server._tcp.b.test SRV >/dev/null
for _ in 1 2; do q 127.0.0.2 +tcp sink.clearinghouse.test A >/dev/null; done

out=$(curl -s --max-time 5 -D "$T/headers" "http://127.0.0.1:$MPORT/metrics")
assert_match "/metrics answers in the Prometheus text format" "^text/plain; version=0.0.4" \
    "$(awk -F': ' 'tolower($1) == "content-type" {print $2}' "$T/headers" | tr -d '\r')"
assert_match "... with HELP and TYPE lines" "# TYPE resolverd_answers_total counter" "$out"
assert_eq "queries counted: 9 more" $((before + 9)) "$(metric resolverd_queries_total)"
assert_eq "SRV over UDP, NOERROR: 6 (3 allowed, 2 sinks, 1 own)" 6 "$(metric 'resolverd_answers_total{transport="udp",qtype="SRV",rcode="NOERROR"}')"
assert_eq "REFUSED counted by transport, type and rcode" 1 "$(metric 'resolverd_answers_total{transport="udp",qtype="SRV",rcode="REFUSED"}')"
assert_eq "TCP answers counted apart" 2 "$(metric 'resolverd_answers_total{transport="tcp",qtype="A",rcode="NOERROR"}')"
assert_eq "allow decisions by rule: 3" 3 "$(metric 'resolverd_decisions_total{action="allow",reason="rule"}')"
assert_eq "deny decisions by default deny: 2" 2 "$(metric 'resolverd_decisions_total{action="deny",reason="default deny"}')"
assert_eq "own-domain decisions: 1" 1 "$(metric 'resolverd_decisions_total{action="allow",reason="own domain"}')"
assert_eq "per requester: a.test allowed 4 times" 4 "$(metric 'resolverd_requester_decisions_total{requester="a.test",action="allow"}')"
assert_eq "per requester: a.test denied twice" 2 "$(metric 'resolverd_requester_decisions_total{requester="a.test",action="deny"}')"
assert_eq "per rule: rule 7 decided 3 times" 3 "$(metric 'resolverd_rule_hits_total{rule="7"}')"
assert_eq "refused counted" 1 "$(metric resolverd_refused_total)"
assert_eq "the served serial" "$(sqlite3 "$DB" "SELECT value FROM meta WHERE key = 'serial'")" "$(metric resolverd_policy_served_serial)"
assert_eq "TCP connections open now: 0" 0 "$(metric resolverd_tcp_connections)"
sqlite3 "$DB" "INSERT INTO domains (name) VALUES ('d.test')"
sleep 1.2
assert_eq "an edit: one reload counted" 1 "$(metric resolverd_policy_reloads_total)"
assert_eq "... the database serial follows" "$(sqlite3 "$DB" "SELECT value FROM meta WHERE key = 'serial'")" "$(metric resolverd_policy_database_serial)"
q 127.0.0.2 _xmpp-server._tcp.b.test SRV >/dev/null
assert_eq "counters go on across the reload (rule 7: 4)" 4 "$(metric 'resolverd_rule_hits_total{rule="7"}')"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$MPORT/metrics")
assert_ne "POST is not served" 200 "$code"

# ---------------------------------------------------------------- control socket

assert_eq "the control socket is mode 0660" 660 "$(stat -c %a "$T/control.sock")"
out=$("$CONTROL" -s "$T/control.sock" status) && rc=0 || rc=$?
assert_eq "resolverd-control status: exit 0" 0 "$rc"
assert_match "... the served serial" "served-serial: [0-9]+" "$out"
assert_match "... the database serial and the state" "state: serving" "$out"
assert_match "... uptime and counters" "uptime: [0-9]+ s" "$out"
out=$("$CONTROL" -s "$T/control.sock" stats) && rc=0 || rc=$?
assert_match "resolverd-control stats: the metrics" "resolverd_rule_hits_total\{rule=\"7\"\}" "$out"
out=$("$CONTROL" -s "$T/control.sock" flush) && rc=0 || rc=$?
assert_eq "flush: exit 0" "0" "$rc"
assert_match "... said" "caches emptied" "$out"
out=$("$CONTROL" -s "$T/control.sock" reload) && rc=0 || rc=$?
assert_eq "reload: exit 0" 0 "$rc"
wait_until 5 "" grep -q 'SIGHUP: config and zone read again' "$LOG"
assert_match "... the config and zone were read again" "config and zone read again" "$(cat "$LOG")"
out=$(printf 'nonsense\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"nonsense\n")
print(s.recv(4096).decode())' "$T/control.sock")
assert_match "an unknown command: an error naming the commands" "^error: unknown command" "$out"
out=$("$CONTROL" -s "$T/control.sock" bogus 2>&1) && rc=0 || rc=$?
assert_eq "resolverd-control with an unknown command: exit 2" 2 "$rc"
out=$("$CONTROL" -s "$T/nothing.sock" status 2>&1) && rc=0 || rc=$?
assert_eq "no resolverd at the socket: exit 3" 3 "$rc"
if getent passwd nobody >/dev/null; then
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CONTROL" -s "$T/control.sock" status 2>&1) && rc=0 || rc=$?
    assert_eq "another user (not root, not the service's group) cannot use it" 3 "$rc"
else
    skip "another user cannot use the control socket" "no user nobody"
fi

# ---------------------------------------------------------------- decision log

lines=$(python3 - "$T/decisions.json" <<'PY'
import json, sys
n = 0; bad = 0; seen = set()
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        bad += 1; continue
    n += 1
    seen.add((d["requester"], d["qname"], d["qtype"], d["peer"], d["decision"], d["rule"], d["reason"]))
ok = ("a.test", "_xmpp-server._tcp.b.test", "SRV", "b.test", "allow", 7, "rule") in seen \
     and ("a.test", "_xmpp-server._tcp.c.test", "SRV", "c.test", "deny", 0, "default deny") in seen \
     and (None, "_xmpp-server._tcp.b.test", "SRV", "b.test", "deny", 0, "requester not identified") not in seen
print(n, bad, "yes" if ok else "no")
PY
)
read -r n bad found <<<"$lines"
assert_eq "the decision log: one JSON object a line, none malformed" 0 "$bad"
assert_eq "... one line per decision (7)" 7 "$n"
assert_eq "... with requester, qname, qtype, peer, decision, rule and reason" yes "$found"

stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
[ -e "$T/control.sock" ] && not_ok "the control socket is removed at exit" || ok "the control socket is removed at exit"
if errs=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer error"; diag "$errs"; else ok "no sanitizer error"; fi
finish
