#!/usr/bin/env bash
# Several sites fed by zone transfer: the primary's policy database, published
# as a DNS zone (chpolicy export zone, then resolverd's policy-zone hook) by a
# Knot DNS primary, carried with TSIG to a Knot secondary (IXFR from zone file
# differences, NOTIFY), and two site resolverds with policy-source xfr
# transferring it from the secondary. An edit reaches both sites within 2 s;
# an IXFR after one edit carries only that edit's records; with the primary
# and the secondary gone the sites keep answering from the last policy and say
# so (log, status file, chpolicy status, metrics); a corrupt zone is refused;
# TSIG is checked on every message, unsigned ones between signed ones too;
# after the partition heals the sites catch up; a site that has never had a
# policy does not start.
#
#   make check, or by hand: [RESOLVERD=BINARY CHPOLICY=BINARY] tests/integration/test_sites.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig kdig knotd knotc kzonecheck nsd nsd-checkconf sqlite3 python3 setsid curl openssl
require_resolverd
[ -x "$CHPOLICY" ] || bail "chpolicy binary exists at $CHPOLICY (build first)"
make_tmpdir T

APEX=policy.test
XFRKEY=$(openssl rand -base64 32)    # primary <-> secondary
SITEKEY=$(openssl rand -base64 32)   # secondary -> sites
mkdir -p "$T/pri" "$T/sec" "$T/bad" "$T/nsd" "$T/site1" "$T/site2" "$T/site3" "$T/site4"
P_PRI=$(free_port) || bail "a free port"
P_SEC=$(free_port) || bail "a free port"
while [ "$P_SEC" = "$P_PRI" ]; do P_SEC=$(free_port); done
P_NSD=$(free_port) || bail "a free port"
while [ "$P_NSD" = "$P_PRI" ] || [ "$P_NSD" = "$P_SEC" ]; do P_NSD=$(free_port); done

ch() { "$CHPOLICY" --db "$T/pri/policy.db" --actor test "$@"; }
sitekey_file="$T/sitekey.conf"
printf 'key "sitekey" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' "$SITEKEY" >"$sitekey_file"

# ---------------------------------------------------------------- the primary's policy
ch init >/dev/null || bail "chpolicy init"
{
    ch domain add a.test --level 3 &&
    ch domain add b.test --level 3 &&
    ch domain add c.test --level 1 --note 'a "quoted" note, é' &&
    ch group add partners &&
    ch member add a.test partners &&
    ch identity add a.test 127.0.0.2 &&
    ch identity add b.test 127.0.0.3 &&
    ch identity add c.test 127.0.0.4 &&
    ch rule add --from level:'>=3' --to level:'>=3' --allow --note 'level 3 talks to level 3' &&
    ch rule add --from domain:c.test --to any --allow --expires +30d &&
    ch target add b.test xmpp.b.test --address 10.0.0.11 &&
    ch target add c.test xmpp.c.test
} >/dev/null || bail "the primary's policy"

# ---------------------------------------------------------------- export zone
ch export zone --apex "$APEX" --out "$T/pri/$APEX.zone" 2>"$T/export.err"
assert_eq "chpolicy export zone writes the zone" 0 $?
serial=$(ch serial)
assert_match "the SOA serial is the policy serial" "IN SOA ns.invalid. hostmaster.invalid. $serial " "$(cat "$T/pri/$APEX.zone")"
assert_cmd "kzonecheck accepts the policy zone" kzonecheck -o "$APEX" "$T/pri/$APEX.zone"
rows=$(grep -c '\.\(domains\|groups\|memberships\|identities\|rules\|targets\|target-addresses\)\.policy\.test\. ' "$T/pri/$APEX.zone")
assert_eq "one TXT record per row (3 domains, 1 group, 1 membership, 3 identities, 2 rules, 2 targets, 1 address)" 13 "$rows"
assert_match "_meta carries the counts and the digest" '"domains=3" "groups=1" "memberships=1" "identities=3" "rules=2" "targets=2" "target-addresses=1" "sha256=' "$(grep '^_meta' "$T/pri/$APEX.zone")"
assert_not_match "no secret is exported" 'secret' "$(cat "$T/pri/$APEX.zone")"
mkdir -p "$T/old"
cp "$T/pri/$APEX.zone" "$T/old/$APEX.zone"   # a valid zone, older than what follows

# ---------------------------------------------------------------- Knot primary and secondary
# knot_conf DIR PORT ROLE: a knotd config; ROLE primary, secondary or bad
knot_conf() {
    local dir=$1 port=$2 role=$3
    cat <<EOF
server:
    rundir: "$dir"
    listen: 127.0.0.1@$port
    tcp-workers: 1
    udp-workers: 1
    background-workers: 1
database:
    storage: "$dir/db"
log:
  - target: "$dir/knot.log"
    any: info
control:
    listen: "$dir/knot.sock"
key:
  - id: xfrkey
    algorithm: hmac-sha256
    secret: $XFRKEY
  - id: sitekey
    algorithm: hmac-sha256
    secret: $SITEKEY
remote:
  - id: primary
    address: 127.0.0.1@$P_PRI
    key: xfrkey
  - id: secondary
    address: 127.0.0.1@$P_SEC
    key: xfrkey
  - id: nsd
    address: 127.0.0.1@$P_NSD
    key: xfrkey
EOF
    # the secondary NOTIFYs site 1 once its port is known (a hint: unsigned)
    [ "$role" = secondary ] && [ -n "${NOTIFY_PORT:-}" ] && printf '  - id: site1\n    address: 127.0.0.1@%s\n' "$NOTIFY_PORT"
    cat <<EOF
acl:
  - id: secondary_xfr
    address: 127.0.0.1
    key: xfrkey
    action: transfer
  - id: primary_notify
    address: 127.0.0.1
    key: xfrkey
    action: notify
  - id: sites_xfr
    address: 127.0.0.0/8
    key: sitekey
    action: transfer
zone:
  - domain: $APEX
    storage: "$dir"
    file: "$dir/$APEX.zone"
    zonefile-sync: -1
    journal-content: changes
EOF
    case $role in
        primary) printf '    zonefile-load: difference\n    notify: [secondary, nsd]\n    acl: [secondary_xfr, sites_xfr]\n' ;;
        secondary) printf '    master: primary\n    acl: [primary_notify, sites_xfr]\n    zonefile-load: none\n'
                   [ -n "${NOTIFY_PORT:-}" ] && printf '    notify: site1\n' ;;
        bad) printf '    zonefile-load: whole\n    acl: [sites_xfr]\n' ;;
    esac
}
# soa_serial PORT: the serial a server answers for the zone ("" if none)
soa_serial() { kdig +time=1 +retry=0 -p "$1" @127.0.0.1 "$APEX" SOA +short 2>/dev/null | awk '{print $3}'; }
serial_is() { [ "$(soa_serial "$1")" = "$2" ]; }
# start_knot DIR PORT ROLE: sets KNOT_PID
start_knot() {
    mkdir -p "$1/db"
    knot_conf "$1" "$2" "$3" >"$1/knot.conf"
    setsid knotd -c "$1/knot.conf" >>"$1/knotd.out" 2>&1 </dev/null &
    KNOT_PID=$!
    track_pid "$KNOT_PID"
}

start_knot "$T/pri" "$P_PRI" primary
PRI_PID=$KNOT_PID
wait_until 15 "$PRI_PID" serial_is "$P_PRI" "$serial" || bail "knotd (primary) serves serial $serial: $(tail -n 5 "$T/pri/knot.log")"
start_knot "$T/sec" "$P_SEC" secondary
SEC_PID=$KNOT_PID
wait_until 15 "$SEC_PID" serial_is "$P_SEC" "$serial" || bail "knotd (secondary) transferred serial $serial: $(tail -n 5 "$T/sec/knot.log")"
ok "a Knot secondary transfers the zone from the Knot primary with TSIG"

# An NSD secondary too (NSD signs only some messages of a long transfer: the
# site checks the unsigned ones with the next signed one, RFC 8945 5.3.1)
cat >"$T/nsd/nsd.conf" <<NSDCONF
server:
    ip-address: 127.0.0.1@$P_NSD
    port: $P_NSD
    do-ip4: yes
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$T/nsd"
    database: ""
    zonelistfile: "$T/nsd/zone.list"
    pidfile: "$T/nsd/nsd.pid"
    xfrdfile: "$T/nsd/xfrd.state"
    xfrdir: "$T/nsd"
    logfile: "$T/nsd/nsd.log"
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: xfrkey
    algorithm: hmac-sha256
    secret: "$XFRKEY"
key:
    name: sitekey
    algorithm: hmac-sha256
    secret: "$SITEKEY"
zone:
    name: $APEX
    zonefile: $APEX.zone
    request-xfr: 127.0.0.1@$P_PRI xfrkey
    allow-notify: 127.0.0.1 xfrkey
    provide-xfr: 127.0.0.0/8 sitekey
NSDCONF
nsd-checkconf "$T/nsd/nsd.conf" || bail "nsd-checkconf accepts the NSD secondary's config"
setsid nsd -d -c "$T/nsd/nsd.conf" >>"$T/nsd/nsd.out" 2>&1 </dev/null &
NSD_PID=$!
track_pid "$NSD_PID"
wait_until 15 "$NSD_PID" serial_is "$P_NSD" "$serial" || bail "nsd (secondary) transferred serial $serial: $(tail -n 5 "$T/nsd/nsd.log")"
ok "an NSD secondary transfers the zone from the Knot primary with TSIG"

# ---------------------------------------------------------------- resolverds
# site_conf NAME KEYSPEC: a site resolverd's config lines; sets M_<NAME> (metrics port)
DB=$T/pri/policy.db
MP=$(free_port) || bail "a free port"
run_resolverd primary <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-zone: $APEX $T/pri/$APEX.zone knotc -s $T/pri/knot.sock zone-reload $APEX
metrics-listen: 127.0.0.1@$MP
CONF
PRIMARY_PORT=$PORT
PRIMARY_LOG=$LOG

M1=$(free_port) || bail "a free port"
DB=$T/site1/policy.db
run_resolverd site1 <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-source: xfr 127.0.0.1@$P_SEC sitekey:hmac-sha256:$SITEKEY
policy-zone-apex: $APEX
policy-xfr-refresh: 5
metrics-listen: 127.0.0.1@$M1
CONF
S1_PORT=$PORT
S1_LOG=$LOG
S1_PID=$RESOLVERD_PID
# site 1 polls every 5 s only: the secondary's NOTIFY brings edits sooner
NOTIFY_PORT=$S1_PORT
knot_conf "$T/sec" "$P_SEC" secondary >"$T/sec/knot.conf"
knotc -s "$T/sec/knot.sock" reload >/dev/null || bail "knotc reload of the secondary's config (NOTIFY to site 1)"

M2=$(free_port) || bail "a free port"
DB=$T/site2/policy.db
run_resolverd site2 <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-source: xfr 127.0.0.1@$P_SEC $sitekey_file
policy-zone-apex: $APEX
policy-xfr-refresh: 1
metrics-listen: 127.0.0.1@$M2
CONF
S2_PORT=$PORT
assert_match "site 2: a key file every user may read is warned about" \
    "TSIG key file $sitekey_file is readable by every user" "$(cat "$LOG")"
S2_LOG=$LOG
S2_PID=$RESOLVERD_PID

DB=$T/site3/policy.db
run_resolverd site3 <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-source: xfr 127.0.0.1@$P_NSD $sitekey_file
policy-zone-apex: $APEX
policy-xfr-refresh: 1
CONF
S3_PORT=$PORT
S3_LOG=$LOG
S3_PID=$RESOLVERD_PID

REAL_B="0 0 5269 xmpp.b.test."
REAL_C="0 0 5269 xmpp.c.test."
SINK="0 0 5269 sink.clearinghouse.test."
srv() { dig +short +time=1 +tries=1 -b "$2" -p "$1" @127.0.0.1 "_xmpp-server._tcp.$3" SRV 2>/dev/null; }

assert_match "site 1: the first transfer is an AXFR" "AXFR serial $serial from 127.0.0.1@$P_SEC" "$(cat "$S1_LOG")"
assert_match "site 1: a secret inline in a config every user may read is warned about" \
    "holds the policy-source TSIG secret and every user may read it" "$(cat "$S1_LOG")"
for s in "1 $S1_PORT" "2 $S2_PORT"; do
    set -- $s
    assert_eq "site $1: a.test -> b.test allowed (level 3 and 3)" "$REAL_B" "$(srv "$2" 127.0.0.2 b.test)"
    assert_eq "site $1: a.test -> c.test denied (level 1)" "$SINK" "$(srv "$2" 127.0.0.2 c.test)"
    assert_eq "site $1: c.test -> b.test denied (mutual: b.test may not reach c.test)" "$SINK" "$(srv "$2" 127.0.0.4 b.test)"
done
out=$("$CHPOLICY" --db "$T/site1/policy.db" status 2>&1)
assert_eq "site 1: chpolicy status: in sync" 0 $?
assert_match "site 1: chpolicy status shows the transfer" "xfr-state: ok" "$out"
out=$("$CHPOLICY" --db "$T/site1/policy.db" verify 2>&1)
assert_match "site 1: chpolicy verify checks the replica (warnings about the test policy only)" "integrity ok, schema version 1, serial $serial, 3 domains, 2 rules" "$out"
assert_eq "site 1: the replica's rules are the primary's" "$(ch rule list)" "$("$CHPOLICY" --db "$T/site1/policy.db" rule list)"
assert_eq "site 2: the replica's domains are the primary's" "$(ch domain list)" "$("$CHPOLICY" --db "$T/site2/policy.db" domain list)"
out=$("$CHPOLICY" --db "$T/site1/policy.db" rule add --from any --to any --allow 2>&1)
assert_eq "site 1: chpolicy refuses to edit the replica (exit 3)" 3 "$?"
assert_match "... saying to edit the primary" "is a site's replica, fed by zone transfer" "$out"

# ---------------------------------------------------------------- one edit: time to both sites, IXFR size
# wait_both PEER WANT: ms until both sites answer WANT for a.test (bounded to 5 s)
wait_both() {
    local t0 t
    t0=$(now_ms)
    while :; do
        if [ "$(srv "$S1_PORT" 127.0.0.2 "$1")" = "$2" ] && [ "$(srv "$S2_PORT" 127.0.0.2 "$1")" = "$2" ]; then
            echo $(( $(now_ms) - t0 ))
            return 0
        fi
        t=$(( $(now_ms) - t0 ))
        [ "$t" -gt 8000 ] && { echo timeout; return 1; }
        sleep 0.02
    done
}
old=$(ch serial)
ch rule add --from domain:a.test --to domain:b.test --deny --priority 1 --note 'edit 1' >/dev/null || bail "edit 1"
new=$(ch serial)
t=$(wait_both b.test "$SINK")
echo "# edit on the primary to both sites' answers: ${t} ms"
assert_le "an edit on the primary reaches both sites within 2 s (${t} ms)" 2000 "${t/timeout/99999}"
line=$(grep "IXFR serial $old -> $new" "$S1_LOG" | tail -n 1)
echo "# site 1: ${line#*policy transfer: }"
assert_match "site 1: one edit came as an IXFR of 7 records (SOA new, SOA old, _meta old, SOA new, _meta new, the rule, SOA new)" "7 records in 1 messages .1 deleted, 2 added; 1 messages signed." "$line"
n=$(kdig -y "hmac-sha256:sitekey:$SITEKEY" -p "$P_SEC" @127.0.0.1 "$APEX" "IXFR=$old" +noall +answer 2>/dev/null | grep -c "IN")
echo "# kdig IXFR=$old from the secondary: $n records"
assert_eq "kdig: the secondary's IXFR of that edit carries 7 records" 7 "$n"
n=$(kdig -y "hmac-sha256:sitekey:$SITEKEY" -p "$P_SEC" @127.0.0.1 "$APEX" AXFR +noall +answer 2>/dev/null | grep -c "IN")
echo "# kdig AXFR from the secondary: $n records"
assert_cmd "a transfer without the site key is refused" bash -c "! kdig -p $P_SEC @127.0.0.1 $APEX AXFR +noall +answer 2>/dev/null | grep -q TXT"
assert_match "the primary resolverd wrote the zone after the edit (policy-zone hook)" "policy-zone: $APEX serial $new written" "$(cat "$PRIMARY_LOG")"
assert_match "the primary's metrics: the hook published that serial, no failure" \
    "resolverd_policy_zone_hook_failures_total 0.*resolverd_policy_zone_published_serial $new" \
    "$(curl -s "http://127.0.0.1:$MP/metrics" | grep '^resolverd_policy_zone' | tr '\n' ' ')"
assert_match "site 1 (polling every 5 s) had the edit by the secondary's NOTIFY" "notify, outgoing, remote 127.0.0.1@$S1_PORT.*serial $new" "$(cat "$T/sec/knot.log")"
# notify_rcode PORT ZONE: the RCODE resolverd answers a NOTIFY for ZONE with
notify_rcode() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
q = struct.pack("!HHHHHH", 4660, 4 << 11, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in sys.argv[2].split(".")) + b"\0" + struct.pack("!HH", 6, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
r = s.recv(512)
print({0: "NOERROR", 4: "NOTIMP", 5: "REFUSED"}.get(r[3] & 15, r[3] & 15), "aa" if r[2] & 4 else "-")
PY
}
assert_eq "a NOTIFY for another zone is refused" "REFUSED -" "$(notify_rcode "$S1_PORT" other.test)"
assert_eq "a NOTIFY for the policy zone from the server's address is taken" "NOERROR aa" "$(notify_rcode "$S1_PORT" "$APEX")"
assert_eq "a resolverd without policy-source answers NOTIFY with NOTIMP" "NOTIMP -" "$(notify_rcode "$PRIMARY_PORT" "$APEX")"

ch rule remove "$(ch rule list | awk '/edit 1/ {print $1; exit}')" >/dev/null || bail "undo edit 1"
t=$(wait_both b.test "$REAL_B")
echo "# undo on the primary to both sites' answers: ${t} ms"
assert_le "the undo reaches both sites within 2 s (${t} ms)" 2000 "${t/timeout/99999}"

# ---------------------------------------------------------------- TSIG keys stay at the primary
chmod o-rwx "$T/pri/policy.db"*
ch identity add a.test --tsig a-key.test --generate >/dev/null || bail "a TSIG key on the primary"
ch domain set a.test --require-identity tsig >/dev/null || bail "require-identity on the primary"
keyed=$(ch serial)
wait_until 8 "" bash -c "[ \"\$(sqlite3 '$T/site1/policy.db' 'SELECT value FROM meta WHERE key = \"serial\"')\" = $keyed ] && [ \"\$(sqlite3 '$T/site2/policy.db' 'SELECT value FROM meta WHERE key = \"serial\"')\" = $keyed ]"
assert_eq "a key and require-identity on the primary reach both replicas" 0 "$?"
assert_eq "site 1: the replica has a.test's require-identity" tsig \
    "$(sqlite3 "$T/site1/policy.db" "SELECT require_identity FROM domains WHERE name = 'a.test'")"
assert_eq "site 1: ... but not the key (the zone carries no secret)" 0 \
    "$(sqlite3 "$T/site1/policy.db" "SELECT count(*) FROM identities WHERE kind = 'tsig'")"
wait_until 5 "" bash -c "dig +time=1 +tries=1 -b 127.0.0.2 -p $S1_PORT @127.0.0.1 _xmpp-server._tcp.b.test SRV | grep -q 'status: REFUSED'"
assert_eq "site 1: a.test's unsigned query from its address is REFUSED (fail closed)" 0 "$?"
ch domain set a.test --require-identity source >/dev/null || bail "undo require-identity"
ch identity remove --tsig a-key.test >/dev/null || bail "undo the key"
t=$(wait_both b.test "$REAL_B")
assert_le "the undo reaches both sites" 5000 "${t/timeout/99999}"
undone=$(ch serial)
wait_until 8 "" bash -c "[ \"\$(sqlite3 '$T/site1/policy.db' 'SELECT value FROM meta WHERE key = \"serial\"')\" = $undone ] && [ \"\$(sqlite3 '$T/site2/policy.db' 'SELECT value FROM meta WHERE key = \"serial\"')\" = $undone ]" \
    || diag "the sites did not reach serial $undone"

# ---------------------------------------------------------------- a big edit: many messages
# 3000 domains in one transaction: a transfer of several messages each way
python3 -c '
for i in range(3000):
    print("INSERT INTO domains (name, level, note) VALUES (\x27bulk%d.test\x27, 2, \x27%s\x27);" % (i, "x" * 100))
' | { echo "BEGIN;"; cat; echo "COMMIT;"; } | sqlite3 -cmd '.timeout 5000' "$T/pri/policy.db" || bail "the bulk edit"
bulk=$(ch serial)
has_serial() { grep -q "serial [0-9]* -> $2 \|AXFR serial $2 " "$1"; }
for l in "$S1_LOG" "$S2_LOG" "$S3_LOG"; do
    wait_until 20 "" has_serial "$l" "$bulk"
done
line=$(grep "IXFR serial [0-9]* -> $bulk " "$S1_LOG" | tail -n 1)
echo "# site 1 (from Knot): ${line#*policy transfer: }"
assert_match "site 1: 3000 new domains came as one IXFR of several messages, each checked" "IXFR serial [0-9]* -> $bulk .*: 300[0-9] records in ([2-9]|[1-9][0-9]) messages .1 deleted, 3001 added;" "$line"
line=$(grep "serial [0-9]* -> $bulk \|AXFR serial $bulk " "$S3_LOG" | tail -n 1)
echo "# site 3 (from NSD): ${line#*policy transfer: }"
assert_match "site 3: the transfer from NSD (not every message signed) is checked and taken" "serial .*$bulk.* records in ([2-9]|[1-9][0-9]) messages" "$line"
nmsg=$(sed -n 's/.* in \([0-9]*\) messages.*/\1/p' <<<"$line")
nsig=$(sed -n 's/.*[(;] \{0,1\}\([0-9]*\) \(messages \)\{0,1\}signed.*/\1/p' <<<"$line")
echo "# site 3: $nsig of $nmsg messages were signed"
assert_eq "site 3: the replica holds the 3000 new domains" 3003 "$(sqlite3 "$T/site3/policy.db" 'SELECT count(*) FROM domains')"
assert_eq "site 1: the replica holds the 3000 new domains" 3003 "$(sqlite3 "$T/site1/policy.db" 'SELECT count(*) FROM domains')"

# ---------------------------------------------------------------- partition
before=$(ch serial)
stop_pid "$PRI_PID"
stop_pid "$SEC_PID"
ch domain set c.test --level 3 >/dev/null || bail "an edit during the partition"
fails() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^resolverd_policy_xfr_failures_total/ {print $2}'; }
failing() { [ "${1:-0}" -gt 0 ] 2>/dev/null; }
wait_until 10 "" bash -c "[ \"\$(curl -s http://127.0.0.1:$M1/metrics | awk '/^resolverd_policy_xfr_failures_total/ {print \$2}')\" -gt 0 ]"
wait_until 10 "" bash -c "[ \"\$(curl -s http://127.0.0.1:$M2/metrics | awk '/^resolverd_policy_xfr_failures_total/ {print \$2}')\" -gt 0 ]"
for s in "1 $S1_PORT $M1 $T/site1 $S1_LOG" "2 $S2_PORT $M2 $T/site2 $S2_LOG"; do
    set -- $s
    assert_eq "partition: site $1 still answers from the last policy (a.test -> b.test allowed)" "$REAL_B" "$(srv "$2" 127.0.0.2 b.test)"
    assert_eq "partition: site $1 still denies a.test -> c.test" "$SINK" "$(srv "$2" 127.0.0.2 c.test)"
    f=$(fails "$3")
    assert_cmd "partition: site $1 counts failed transfers in its metrics ($f)" failing "$f"
    assert_match "partition: site $1 logs the failure" "policy transfer from 127.0.0.1@$P_SEC failed: .*still serving the last good policy" "$(cat "$5")"
    assert_match "partition: site $1's status file says failing" "xfr-state: failing" "$(cat "$4/policy.db-xfr-status")"
    out=$("$CHPOLICY" --db "$4/policy.db" status 2>&1)
    rc=$?
    assert_eq "partition: site $1: chpolicy status exits 1" 1 "$rc"
    assert_match "partition: site $1: chpolicy status says it" "NOT IN SYNC WITH THE PRIMARY" "$out"
done
assert_match "metrics: the last success time is there" "resolverd_policy_xfr_last_success_seconds [0-9]" "$(curl -s "http://127.0.0.1:$M1/metrics")"

# ---------------------------------------------------------------- a corrupt zone is refused
# A separate Knot on the secondary's address serves the zone at a higher
# serial with one row changed but _meta left as it was.
bad_serial=$((before + 1000))
"$CHPOLICY" --db "$T/site1/policy.db" export zone --apex "$APEX" 2>/dev/null |
    sed -e "s/ SOA ns.invalid. hostmaster.invalid. $before / SOA ns.invalid. hostmaster.invalid. $bad_serial /" \
        -e "s/^\(_meta.*\"serial=\)$before\"/\1$bad_serial\"/" \
        -e 's/\\"name\\":\\"c.test\\",\\"level\\":1/\\"name\\":\\"c.test\\",\\"level\\":3/' >"$T/bad/$APEX.zone"
assert_match "the corrupt zone differs in one row" 'c.test\\",\\"level\\":3' "$(cat "$T/bad/$APEX.zone")"
start_knot "$T/bad" "$P_SEC" bad
BAD_PID=$KNOT_PID
wait_until 15 "$BAD_PID" serial_is "$P_SEC" "$bad_serial" || bail "knotd (bad) serves serial $bad_serial: $(tail -n 5 "$T/bad/knot.log")"
refused() { grep -q "serial $bad_serial refused: the digest" "$1"; }
wait_until 10 "" refused "$S1_LOG"
assert_eq "corrupt zone: site 1 refuses it (the digest)" 0 $?
wait_until 10 "" refused "$S2_LOG"
assert_eq "corrupt zone: site 2 refuses it (the digest)" 0 $?
assert_eq "corrupt zone: site 1 keeps the last policy (a.test -> c.test still denied)" "$SINK" "$(srv "$S1_PORT" 127.0.0.2 c.test)"
assert_eq "corrupt zone: the replica keeps its serial" "$before" "$("$CHPOLICY" --db "$T/site1/policy.db" serial)"
stop_pid "$BAD_PID"
# a valid zone of an older serial (a server restored from an old copy): never taken
start_knot "$T/old" "$P_SEC" bad
BAD_PID=$KNOT_PID
wait_until 15 "$BAD_PID" serial_is "$P_SEC" "$serial" || bail "knotd (old) serves serial $serial: $(tail -n 5 "$T/old/knot.log")"
older() { grep -q "the server's serial $serial is older than the serial $before" "$1"; }
wait_until 10 "" older "$S1_LOG"
assert_eq "an older zone: site 1 refuses to go back to serial $serial" 0 $?
assert_eq "an older zone: the replica keeps its serial" "$before" "$("$CHPOLICY" --db "$T/site1/policy.db" serial)"
stop_pid "$BAD_PID"

# ---------------------------------------------------------------- the partition heals
start_knot "$T/pri" "$P_PRI" primary
PRI_PID=$KNOT_PID
start_knot "$T/sec" "$P_SEC" secondary
SEC_PID=$KNOT_PID
now=$(ch serial)
# the primary resolverd wrote the zone during the partition; its server loads it at start
wait_until 15 "$PRI_PID" serial_is "$P_PRI" "$now" || diag "the primary serves $(soa_serial "$P_PRI"), want $now"
t0=$(now_ms)
t=$(wait_both c.test "$REAL_C")
echo "# after the partition healed: both sites took the edit made meanwhile in $(( $(now_ms) - t0 )) ms"
assert_ne "healed: both sites answer the edit made during the partition (c.test now level 3)" timeout "$t"
wait_until 5 "" grep -q "works again" "$S1_LOG"
assert_match "healed: site 1 says the transfer works again" "policy transfer from 127.0.0.1@$P_SEC works again" "$(cat "$S1_LOG")"
assert_cmd "healed: site 1: chpolicy status in sync" "$CHPOLICY" --db "$T/site1/policy.db" status

# ---------------------------------------------------------------- a site without a policy does not start
P4=$(free_port) || bail "a free port"
cat >"$T/site4.conf" <<CONF
listen: 127.0.0.1@$P4
database: $T/site4/policy.db
zone-file: $SRCDIR/zones/clearinghouse.test.zone
username: root
forward: 127.0.0.1@9
policy-source: xfr 127.0.0.1@9 sitekey:hmac-sha256:$SITEKEY
policy-zone-apex: $APEX
CONF
timeout 40 "$RESOLVERD" -c "$T/site4.conf" -f >"$T/site4.log" 2>&1
assert_ne "a site that cannot transfer a first policy does not start" 0 $?
assert_match "it says why" "no policy to serve: the first transfer failed" "$(cat "$T/site4.log")"

# ---------------------------------------------------------------- unsigned messages between signed ones
# xfr_fake.py signs the first message, every fourth and the last (RFC 8945
# 5.3.1); the servers above sign every one. A changed byte in an unsigned
# message, or an unsigned last message, must be refused.
mkdir -p "$T/fake" "$T/site5" "$T/site6" "$T/site7"
ch export zone --apex "$APEX" --out "$T/fake/$APEX.zone" 2>/dev/null || bail "export for the fake server"
fake_serial=$(ch serial)
# fake_site NAME MODE: start xfr_fake.py in MODE and a new site resolverd's config NAME.conf for it
fake_site() {
    local port p
    port=$(free_port) || bail "a free port"
    setsid python3 "$SRCDIR/tests/integration/xfr_fake.py" "$port" "$T/fake/$APEX.zone" sitekey "$SITEKEY" "$2" \
        >>"$T/fake/$2.log" 2>&1 </dev/null &
    track_pid $!
    wait_until 10 "" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null || bail "xfr_fake.py ($2) listens"
    FAKE_PORT=$port
}
fake_site site5 sparse
DB=$T/site5/policy.db
run_resolverd site5 <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-source: xfr 127.0.0.1@$FAKE_PORT sitekey:hmac-sha256:$SITEKEY
policy-zone-apex: $APEX
policy-xfr-refresh: 1
CONF
line=$(grep "AXFR serial $fake_serial " "$LOG" | head -n 1)
echo "# site 5: ${line#*policy transfer: }"
assert_match "a transfer with unsigned messages between signed ones is checked and taken" "records in [0-9]* messages .[0-9]* signed." "$line"
nmsg=$(sed -n 's/.* in \([0-9]*\) messages.*/\1/p' <<<"$line")
nsig=$(sed -n 's/.* messages (\([0-9]*\) signed.*/\1/p' <<<"$line")
assert_cmd "fewer messages signed ($nsig) than sent ($nmsg)" test "${nsig:-0}" -lt "${nmsg:-0}"
assert_eq "site 5 answers from that policy (c.test now level 3: a.test -> c.test allowed)" "$REAL_C" "$(srv "$PORT" 127.0.0.2 c.test)"
S5_LOG=$LOG
S5_PID=$RESOLVERD_PID
for m in "site6 tamper does.not.verify" "site7 unsigned-last last.message.of.the.transfer.is.not.signed"; do
    set -- $m
    fake_site "$1" "$2"
    p=$(free_port) || bail "a free port"
    cat >"$T/$1.conf" <<CONF
listen: 127.0.0.1@$p
database: $T/$1/policy.db
zone-file: $SRCDIR/zones/clearinghouse.test.zone
username: root
forward: 127.0.0.1@9
policy-source: xfr 127.0.0.1@$FAKE_PORT sitekey:hmac-sha256:$SITEKEY
policy-zone-apex: $APEX
CONF
    timeout 40 "$RESOLVERD" -c "$T/$1.conf" -f >"$T/$1.log" 2>&1
    assert_ne "$2: the transfer is refused and the site does not start" 0 $?
    assert_match "$2: it says why" "first transfer failed: .*$3" "$(cat "$T/$1.log")"
    assert_cmd "$2: no database was made" test ! -e "$T/$1/policy.db"
done

# ---------------------------------------------------------------- a hook command that fails
DB=$T/pri/policy.db
MB=$(free_port) || bail "a free port"
run_resolverd badhook <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
policy-zone: $APEX $T/pri/badhook.zone false
metrics-listen: 127.0.0.1@$MB
CONF
BADHOOK_PID=$RESOLVERD_PID
wait_until 5 "" grep -q "'false' failed (exit 1) after serial [0-9]* was written; trying again" "$LOG"
assert_eq "a failing policy-zone command is logged and tried again" 0 "$?"
assert_match "... and counted in the metrics, nothing published" \
    "resolverd_policy_zone_hook_failures_total [1-9].*resolverd_policy_zone_published_serial -1" \
    "$(curl -s "http://127.0.0.1:$MB/metrics" | grep '^resolverd_policy_zone' | tr '\n' ' ')"
stop_pid "$BADHOOK_PID"

# ---------------------------------------------------------------- shutdown
for pid in "$S1_PID" "$S2_PID" "$S3_PID" "$S5_PID"; do
    stop_pid "$pid"
done
assert_match "site 1 stopped: its transfer status says so" "xfr-state: stopped" "$(cat "$T/site1/policy.db-xfr-status")"
for l in "$PRIMARY_LOG" "$S1_LOG" "$S2_LOG" "$S3_LOG" "$S5_LOG"; do
    if errs=$(sanitizer_errors "$l"); then
        not_ok "no sanitizer report in $(basename "$l")"
        diag "$errs"
    else
        ok "no sanitizer report in $(basename "$l")"
    fi
done

finish
