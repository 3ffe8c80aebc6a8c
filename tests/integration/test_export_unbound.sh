#!/usr/bin/env bash
# Differential test of chpolicy export views: a stock Unbound loading the
# exported unbound.conf fragment and zones answers every requester as
# resolverd does.
#
#   make check, or by hand: tests/integration/test_export_unbound.sh
#
# A generated community (export_diff.py gen: EXPORT_DOMAINS domains, default
# 300, plus subdomains that are community domains of their own; levels,
# groups, explicit pairs, denies, a disabled domain, closed-network targets,
# a host serving two peers, an expired rule and a dry-run rule) is served by
# NSD on loopback. resolverd and Unbound both use it as their upstream; both
# are asked the same (requester, peer, lookup path) questions from the
# requesters' loopback addresses (127.1.x.y), every one of them (about 685,000
# paths; EXPORT_SAMPLE=N asks a random sample of N), and the policy outcome (rcode and records of the
# question's type, TTLs aside) must be the same for every one. Every exported
# zone must be accepted by ldns-read-zone, kzonecheck and named-checkzone.
#
# Prints TAP; exits non-zero on any failure. KEEP_TMP=1 keeps the directory.

set -u

. "$(dirname "$0")/../lib.sh"

HERE=$SRCDIR/tests/integration
N=${EXPORT_DOMAINS:-300}
SAMPLE=${EXPORT_SAMPLE:-0}
SEED=${EXPORT_SEED:-20261130}

require_tools nsd nsd-checkconf unbound unbound-checkconf dig sqlite3 python3 setsid \
    ldns-read-zone kzonecheck named-checkzone
require_long_run
require_resolverd
[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"

make_tmpdir T

# ------------------------------------------------------------------ the community

python3 "$HERE/export_diff.py" gen "$T/gen" "$N" "$SEED" || bail "export_diff.py gen"
NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/gen/zones" || bail "nsd serves the generated community"
ok "nsd serves the generated community ($N domains) on 127.0.0.1@$NSD_PORT"

DB=$T/policy.db
new_policy_db "$DB" <"$T/gen/policy.sql" >/dev/null 2>"$T/policy.err" \
    || bail "the generated policy loads: $(cat "$T/policy.err")"
# an expired rule (the schema refuses one already expired: add it, let it expire)
# that would allow everything, and a dry-run rule that would deny d019
"$CHPOLICY" --db "$DB" rule add --from any --to any --allow --priority 1 --expires +2s >/dev/null \
    || bail "the expiring rule"
"$CHPOLICY" --db "$DB" rule add --from any --to domain:d019.fed.test --deny --priority 2 --dry-run >/dev/null \
    || bail "the dry-run rule"
sleep 3
out=$("$CHPOLICY" --db "$DB" verify 2>&1)
assert_match "the expiring rule has expired" "expired at" "$out"

# ------------------------------------------------------------------ resolverd

run_resolverd resolverd <<EOF
forward: 127.0.0.1@$NSD_PORT
transparent-zone: test.
sink-mode: host
sink-host: sink.clearinghouse.test
ttl-cap: 60
require-mutual: yes
unknown-peer: deny
police-domain-address: yes
rate-limit-identified: 0
# the test asks hundreds of questions at once: no SERVFAIL for being busy
recursion-max-per-source: 100000
recursion-max-outstanding: 100000
recursion-acl: 127.0.0.1/32
EOF
ok "resolverd runs on 127.0.0.1@$PORT"
RD_PORT=$PORT

# ------------------------------------------------------------------ the export

mkdir -p "$T/views"
out=$("$CHPOLICY" --db "$DB" export views "$T/views" --config "$T/resolverd.conf" 2>&1)
assert_match "export views writes a zone per domain and the fragments" "zones, unbound.conf, named.conf" "$out"
nz=$(ls "$T/views"/*.rpz | wc -l)
bad_ldns=0 bad_knot=0 bad_bind=0
for z in "$T/views"/*.rpz; do
    origin=$(basename "$z" .rpz).rpz
    ldns-read-zone "$z" >/dev/null 2>>"$T/zonecheck.log" || bad_ldns=$((bad_ldns + 1))
    kzonecheck -o "$origin" "$z" >>"$T/zonecheck.log" 2>&1 || bad_knot=$((bad_knot + 1))
    named-checkzone -q -i local "$origin" "$z" >>"$T/zonecheck.log" 2>&1 || bad_bind=$((bad_bind + 1))
done
assert_eq "ldns-read-zone accepts all $nz zones" 0 "$bad_ldns"
assert_eq "kzonecheck accepts all $nz zones" 0 "$bad_knot"
assert_eq "named-checkzone accepts all $nz zones" 0 "$bad_bind"

# ------------------------------------------------------------------ unbound

UB_PORT=$(free_port) || bail "a free port for unbound"
cat >"$T/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: $UB_PORT
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$T"
    pidfile: "$T/unbound.pid"
    use-syslog: no
    logfile: "$T/unbound.log"
    verbosity: 1
    do-not-query-localhost: no
    module-config: "respip iterator"
    local-zone: "test." nodefault
    num-threads: 1
    include: "$T/views/unbound.conf"
forward-zone:
    name: "fed.test."
    forward-addr: 127.0.0.1@$NSD_PORT
EOF
if unbound-checkconf "$T/unbound.conf" >"$T/unbound-checkconf.log" 2>&1; then
    ok "unbound-checkconf accepts the exported fragment"
else
    not_ok "unbound-checkconf accepts the exported fragment"
    diag "$(cat "$T/unbound-checkconf.log")"
fi
setsid unbound -d -c "$T/unbound.conf" >>"$T/unbound.out" 2>&1 </dev/null &
UB_PID=$!
track_pid "$UB_PID"
wait_for_dns "$UB_PORT" d000.fed.test 127.0.0.1 30 127.1.0.1 "$UB_PID" \
    || bail "unbound starts with the fragment: $(tail -n 5 "$T/unbound.log" "$T/unbound.out" 2>/dev/null)"
ok "unbound runs on 127.0.0.1@$UB_PORT with $nz response policy zones"

# ------------------------------------------------------------------ the comparison

python3 "$HERE/export_diff.py" ask "$RD_PORT" "$UB_PORT" "$T/gen/paths" "$SAMPLE" "$SEED" >"$T/ask.out" 2>&1
rc=$?
sed 's/^/# /' "$T/ask.out" | sed 's/^# # /# /'
summary=$(grep '^compared ' "$T/ask.out")
assert_match "every path answered alike: $summary" "^compared [0-9]+ paths, 0 differences" "$summary"
[ "$rc" -eq 0 ] || diag "first differences above; $T (KEEP_TMP=1 keeps it)"

if grep -q TIMEOUT "$T/ask.out"; then
    not_ok "no question went unanswered"
else
    ok "no question went unanswered"
fi
if sanitizer_errors "$T/resolverd.log" >/dev/null; then
    not_ok "no sanitizer report from resolverd"
else
    ok "no sanitizer report from resolverd"
fi

finish
