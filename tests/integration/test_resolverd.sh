#!/usr/bin/env bash
# Integration test of resolverd with real clients and a real upstream.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_resolverd.sh
#
# Starts NSD on loopback (authoritative for the test zones in zones/), builds a
# policy database with the sqlite3 shell (schema.sql + policy.sql), starts
# resolverd (the build's, or $RESOLVERD) in the foreground on 127.0.0.1 and
# ::1, and asks it questions with dig from distinct loopback source addresses,
# plus raw packets (dnsraw.py) for what dig cannot send.
#
# Prints TAP; exits non-zero on any failure.
# Environment: RESOLVERD (binary), RESOLVERD_UPSTREAM=forward|stub (how
# resolverd reaches NSD; default forward; test_resolverd_stub.sh sets stub),
# KEEP_TMP=1 (keep the temp dir).

set -u

. "$(dirname "$0")/../lib.sh"

HERE=$SRCDIR/tests/integration
UPSTREAM_MODE=${RESOLVERD_UPSTREAM:-forward}
SINK_SRV='0 0 5269 sink.clearinghouse.test.'

require_tools nsd nsd-checkconf dig sqlite3 python3 setsid
require_resolverd

make_tmpdir T

# ------------------------------------------------------------------ upstream

NSD_PORT=$(free_port) || bail "found a free port for nsd"
if start_nsd "$T/nsd" "$NSD_PORT" "$HERE/zones"; then
    ok "nsd serves the test zones on 127.0.0.1@$NSD_PORT"
else
    bail "nsd serves the test zones on 127.0.0.1@$NSD_PORT"
fi

# upstream NAME TYPE: the sorted rdata NSD itself gives (the "real records").
upstream() {
    dig -p "$NSD_PORT" @127.0.0.1 +time=2 +tries=1 +tcp +short "$1" "$2" 2>&1 | sort
}

# ------------------------------------------------------------------ policy

DB=$T/policy.db
new_policy_db "$DB" <"$HERE/policy.sql" >/dev/null 2>"$T/policy.err" \
    || bail "schema.sql and policy.sql load: $(cat "$T/policy.err")"
ok "test policy database created with the sqlite3 shell"

# ------------------------------------------------------------------ resolverd

PORT=$(free_port) || bail "found a free port for resolverd"
case $UPSTREAM_MODE in
    forward) upstream_conf="forward: 127.0.0.1@$NSD_PORT" ;;
    stub)
        upstream_conf=""
        for f in "$HERE"/zones/*.zone; do
            upstream_conf+="stub-zone: $(basename "$f" .zone). 127.0.0.1@$NSD_PORT"$'\n'
        done
        ;;
    *) bail "RESOLVERD_UPSTREAM is forward or stub, not $UPSTREAM_MODE" ;;
esac
{
    while IFS= read -r line; do
        if [ "$line" = "@UPSTREAM@" ]; then
            printf '%s\n' "$upstream_conf"
        else
            line=${line//@PORT@/$PORT}
            line=${line//@DB@/$DB}
            line=${line//@ZONEFILE@/$SRCDIR/zones/clearinghouse.test.zone}
            printf '%s\n' "$line"
        fi
    done <"$HERE/resolverd.conf.in"
} >"$T/resolverd.conf"

LOG=$T/resolverd.log
: >"$LOG"
start_resolverd "$RESOLVERD" "$T/resolverd.conf" "$LOG" -v 2
if wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 30 127.0.0.1 "$RESOLVERD_PID"; then
    ok "resolverd answers on 127.0.0.1@$PORT (upstream: $UPSTREAM_MODE)"
else
    kill -0 "$RESOLVERD_PID" 2>/dev/null || diag "resolverd exited at startup"
    diag "config:" "$(cat "$T/resolverd.conf")" "log:" "$(tail -n 40 "$LOG")"
    bail "resolverd answers on 127.0.0.1@$PORT (upstream: $UPSTREAM_MODE)"
fi

# ------------------------------------------------------------------ query helpers

# q SRC DIG-ARGS...: dig from source SRC to resolverd (::1 for an IPv6 source).
q() {
    local src=$1 server=127.0.0.1
    shift
    case $src in *:*) server=::1 ;; esac
    dig -b "$src" -p "$PORT" "@$server" +time=2 +tries=1 "$@" 2>&1
}

# check_allow DESC SRC NAME TYPE [DIG-ARGS]: NOERROR, P's real records, TTL <= 60.
check_allow() {
    local desc=$1 src=$2 name=$3 type=$4 out want
    shift 4
    out=$(q "$src" "$name" "$type" "$@")
    want=$(upstream "$name" "$type")
    if [ "$(status_of "$out")" = NOERROR ] && [ -n "$want" ] && [ "$(rdata_type "$out" "$type")" = "$want" ]; then
        ok "$desc: real $type records"
    else
        not_ok "$desc: real $type records"
        diag "dig -b $src -p $PORT $name $type $*" "expected rdata:" "$want" "got:" "$out"
    fi
    assert_le "$desc: TTL capped at 60" 60 "$(max_ttl_of "$out")" || diag "$out"
}

# check_sink DESC SRC NAME TYPE EXPECTED-RDATA [DIG-ARGS]: NOERROR, the sink, TTL <= 60.
check_sink() {
    local desc=$1 src=$2 name=$3 type=$4 want=$5 out
    shift 5
    out=$(q "$src" "$name" "$type" "$@")
    if [ "$(status_of "$out")" = NOERROR ] && [ "$(rdata_type "$out" "$type")" = "$want" ] \
        && [ "$(answer_of "$out" | awk -v t="$type" '$4 == t' | wc -l)" -eq 1 ]; then
        ok "$desc: the sink"
    else
        not_ok "$desc: the sink"
        diag "dig -b $src -p $PORT $name $type $*" "expected rdata: $want" "got:" "$out"
    fi
    assert_le "$desc: sink TTL capped at 60" 60 "$(max_ttl_of "$out")" || diag "$out"
}

# check_status DESC SRC STATUS DIG-ARGS...
check_status() {
    local desc=$1 src=$2 want=$3 out
    shift 3
    out=$(q "$src" "$@")
    assert_eq "$desc" "$want" "$(status_of "$out")" || diag "dig -b $src -p $PORT $*" "$out"
}

# raw SRC CASE ARGS...: dnsraw.py against resolverd.
raw() {
    local src=$1 server=127.0.0.1
    shift
    case $src in *:*) server=::1 ;; esac
    python3 "$HERE/dnsraw.py" --src "$src" --timeout 1 "$server" "$PORT" "$@" 2>&1
}

# ------------------------------------------------------------------ the clearinghouse zone

echo "# the clearinghouse zone"
out=$(q 127.0.0.2 sink.clearinghouse.test A)
assert_eq "sink A from an identified requester: NOERROR" NOERROR "$(status_of "$out")" || diag "$out"
assert_eq "sink A is 127.0.0.1" 127.0.0.1 "$(rdata_type "$out" A)" || diag "$out"
if has_flag "$out" aa; then ok "sink A is authoritative (aa)"; else not_ok "sink A is authoritative (aa)"; diag "$out"; fi
out=$(q 127.0.0.2 sink.clearinghouse.test AAAA)
assert_eq "sink AAAA is ::1" ::1 "$(rdata_type "$out" AAAA)" || diag "$out"
if has_flag "$out" aa; then ok "sink AAAA is authoritative (aa)"; else not_ok "sink AAAA is authoritative (aa)"; diag "$out"; fi
out=$(q 127.0.0.1 sink.clearinghouse.test A)
assert_eq "sink A from the recursion ACL source 127.0.0.1" 127.0.0.1 "$(rdata_type "$out" A)" || diag "$out"
out=$(q 127.0.0.2 nothere.clearinghouse.test A)
assert_eq "a missing name in the clearinghouse zone: NXDOMAIN" NXDOMAIN "$(status_of "$out")" || diag "$out"
if has_flag "$out" aa; then ok "NXDOMAIN in the clearinghouse zone is authoritative (aa)"; else not_ok "NXDOMAIN in the clearinghouse zone is authoritative (aa)"; diag "$out"; fi

# ------------------------------------------------------------------ who may ask

echo "# requester identification and the recursion ACL"
check_status "unidentified 127.0.0.9: XMPP SRV lookup REFUSED" 127.0.0.9 REFUSED _xmpp-server._tcp.b.test SRV
check_status "unidentified 127.0.0.9: recursion REFUSED" 127.0.0.9 REFUSED www.community.test A
check_status "unidentified 127.0.0.9: the clearinghouse zone REFUSED" 127.0.0.9 REFUSED sink.clearinghouse.test A
check_status "unidentified 127.0.0.9: REFUSED over TCP too" 127.0.0.9 REFUSED +tcp www.community.test A

# ------------------------------------------------------------------ policy decisions

echo "# policy decisions, _xmpp-server._tcp SRV over UDP"
SRV=_xmpp-server._tcp
check_allow "a.test (127.0.0.2) -> b.test allowed" 127.0.0.2 $SRV.b.test SRV
check_sink  "a.test (127.0.0.2) -> c.test denied by an explicit rule" 127.0.0.2 $SRV.c.test SRV "$SINK_SRV"
check_allow "b.test (127.0.0.3) -> a.test allowed" 127.0.0.3 $SRV.a.test SRV
check_allow "b.test (127.0.0.3) -> c.test allowed by a level rule" 127.0.0.3 $SRV.c.test SRV
check_sink  "b.test (127.0.0.3) -> d.test denied by default" 127.0.0.3 $SRV.d.test SRV "$SINK_SRV"
check_sink  "c.test (127.0.0.4) -> a.test denied: not mutual" 127.0.0.4 $SRV.a.test SRV "$SINK_SRV"
check_allow "c.test (127.0.0.4) -> b.test allowed" 127.0.0.4 $SRV.b.test SRV
check_allow "c.test (127.0.0.6, inside 127.0.0.4/30) -> b.test allowed" 127.0.0.6 $SRV.b.test SRV
check_allow "d.test (127.0.0.5, longest prefix over c.test's /30) -> a.test allowed by group rule" 127.0.0.5 $SRV.a.test SRV
check_sink  "d.test (127.0.0.5) -> b.test denied" 127.0.0.5 $SRV.b.test SRV "$SINK_SRV"
check_sink  "unidentified ACL source 127.0.0.1 -> b.test denied" 127.0.0.1 $SRV.b.test SRV "$SINK_SRV"
check_sink  "a.test -> outsider.test (not in the community, unknown-peer deny)" 127.0.0.2 $SRV.outsider.test SRV "$SINK_SRV"

echo "# policy decisions over TCP"
check_allow "TCP: a.test -> b.test allowed" 127.0.0.2 $SRV.b.test SRV +tcp
check_sink  "TCP: a.test -> c.test denied" 127.0.0.2 $SRV.c.test SRV "$SINK_SRV" +tcp
check_allow "TCP: a.test -> d.test allowed, 40-record RRset" 127.0.0.2 $SRV.d.test SRV +tcp

echo "# other XMPP names (XEP-0368, legacy, address fallback, SRV targets, components)"
check_allow "a.test -> _xmpps-server._tcp.b.test allowed" 127.0.0.2 _xmpps-server._tcp.b.test SRV
out=$(q 127.0.0.2 _xmpps-server._tcp.c.test SRV)
assert_match "a.test -> _xmpps-server._tcp.c.test denied: SRV to the sink host" \
    '^[0-9]+ [0-9]+ [0-9]+ sink\.clearinghouse\.test\.$' "$(rdata_type "$out" SRV)" || true
check_sink  "a.test -> _jabber._tcp.c.test denied" 127.0.0.2 _jabber._tcp.c.test SRV "$SINK_SRV"
check_allow "a.test -> b.test A (RFC 6120 fallback) allowed" 127.0.0.2 b.test A
check_sink  "a.test -> c.test A (RFC 6120 fallback) denied" 127.0.0.2 c.test A 127.0.0.1
check_allow "a.test -> SRV target xmpp.b.test A allowed" 127.0.0.2 xmpp.b.test A
check_allow "a.test -> SRV target xmpp.b.test AAAA allowed" 127.0.0.2 xmpp.b.test AAAA
check_sink  "a.test -> SRV target xmpp.c.test A denied" 127.0.0.2 xmpp.c.test A 127.0.0.1
check_sink  "a.test -> SRV target xmpp.c.test AAAA denied" 127.0.0.2 xmpp.c.test AAAA ::1
check_sink  "a.test -> component conference.c.test A denied" 127.0.0.2 conference.c.test A 127.0.0.1
check_allow "a.test -> component conference.b.test A allowed" 127.0.0.2 conference.b.test A

if grep -Eq 'a\.test.*c\.test' "$LOG"; then
    ok "policy decisions are logged with the requester's identity"
else
    not_ok "policy decisions are logged with the requester's identity"
    diag "no line naming a.test and c.test in the log (verbosity 2); last lines:" "$(tail -n 10 "$LOG")"
fi

# ------------------------------------------------------------------ recursion

echo "# recursion through libunbound"
out=$(q 127.0.0.2 www.community.test A)
assert_eq "recursion: www.community.test A NOERROR" NOERROR "$(status_of "$out")" || diag "$out"
assert_eq "recursion: www.community.test A is 192.0.2.80" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"
if has_flag "$out" ra; then ok "recursion: ra flag set"; else not_ok "recursion: ra flag set"; diag "$out"; fi
out=$(q 127.0.0.2 www.community.test AAAA)
assert_eq "recursion: www.community.test AAAA" 2001:db8::80 "$(rdata_type "$out" AAAA)" || diag "$out"
check_status "recursion: missing name NXDOMAIN" 127.0.0.2 NXDOMAIN nothere.community.test A
out=$(q 127.0.0.2 text.community.test A)
assert_eq "recursion: NODATA is NOERROR" NOERROR "$(status_of "$out")" || diag "$out"
assert_eq "recursion: NODATA has no answer" 0 "$(ancount_of "$out")" || diag "$out"
out=$(q 127.0.0.2 alias.community.test A)
assert_match "recursion: CNAME chain has the CNAME" 'CNAME[[:space:]]+www\.community\.test\.' "$(answer_of "$out")" || true
assert_eq "recursion: CNAME chain ends at the A" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"
out=$(q 127.0.0.2 text.community.test TXT)
assert_eq "recursion: TXT" '"clearinghouse integration test"' "$(rdata_type "$out" TXT)" || diag "$out"
out=$(q 127.0.0.1 www.community.test A)
assert_eq "recursion from the ACL source 127.0.0.1" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"
out=$(q 127.0.0.3 www.outsider.test A)
assert_eq "recursion: non-XMPP name of an outside domain resolves" 192.0.2.98 "$(rdata_type "$out" A)" || diag "$out"
out=$(q 127.0.0.2 +tcp www.community.test A)
assert_eq "recursion over TCP" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"

# ------------------------------------------------------------------ TCP

echo "# TCP"
out=$(raw 127.0.0.2 tcp-multi www.community.test sink.clearinghouse.test nothere.community.test)
want="www.community.test rcode=NOERROR
sink.clearinghouse.test rcode=NOERROR
nothere.community.test rcode=NXDOMAIN
www.community.test rcode=NOERROR
sink.clearinghouse.test rcode=NOERROR
nothere.community.test rcode=NXDOMAIN"
assert_eq "TCP: three queries in turn, then three pipelined, on one connection" \
    "$want" "$(awk '{ print $1, $2 }' <<<"$out")" || diag "$out"
assert_not_match "TCP: every answer on the connection carries its query's id" 'id=bad' "$out" || true
out=$(q 127.0.0.2 +tcp +keepopen www.community.test A sink.clearinghouse.test A _xmpp-server._tcp.b.test SRV)
assert_eq "TCP: dig +keepopen, three names, three NOERROR answers" 3 "$(grep -c 'status: NOERROR' <<<"$out")" || diag "$out"
out=$(raw 127.0.0.2 tcp-split www.community.test)
assert_match "TCP: a query arriving in three pieces" '^rcode=NOERROR id=ok qr=1 .*ancount=1' "$out" || true
out=$(raw 127.0.0.2 tcp-formerr)
assert_match "TCP: malformed question gets FORMERR" '^rcode=FORMERR id=ok qr=1' "$out" || true

# ------------------------------------------------------------------ IPv6

echo "# IPv6 (::1, identified as b.test)"
out=$(q ::1 www.community.test A)
assert_eq "IPv6 UDP: recursion" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"
out=$(q ::1 +tcp www.community.test A)
assert_eq "IPv6 TCP: recursion" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"
check_allow "IPv6 identity ::1 (b.test) -> a.test allowed" ::1 $SRV.a.test SRV
check_sink  "IPv6 identity ::1 (b.test) -> d.test denied" ::1 $SRV.d.test SRV "$SINK_SRV"
out=$(q ::1 sink.clearinghouse.test AAAA)
assert_eq "IPv6: sink AAAA" ::1 "$(rdata_type "$out" AAAA)" || diag "$out"

# ------------------------------------------------------------------ EDNS0 and truncation

echo "# EDNS0 and truncation"
for name in $SRV.d.test _big._tcp.community.test; do
    out=$(q 127.0.0.2 +noedns +ignore "$name" SRV)
    if has_flag "$out" tc; then ok "$name without EDNS: TC=1"; else not_ok "$name without EDNS: TC=1"; diag "$out"; fi
    assert_le "$name without EDNS: UDP answer <= 512 bytes" 512 "$(size_of "$out")" || diag "$out"
    out=$(q 127.0.0.2 +bufsize=512 +ignore "$name" SRV)
    if has_flag "$out" tc; then ok "$name EDNS 512: TC=1"; else not_ok "$name EDNS 512: TC=1"; diag "$out"; fi
    assert_le "$name EDNS 512: UDP answer <= 512 bytes" 512 "$(size_of "$out")" || diag "$out"
    out=$(q 127.0.0.2 +bufsize=4096 +ignore "$name" SRV)
    assert_le "$name EDNS 4096: UDP answer <= edns-buffer-size 1232" 1232 "$(size_of "$out")" || diag "$out"
    out=$(q 127.0.0.2 +tcp "$name" SRV)
    assert_eq "$name over TCP: the whole RRset (40 records)" 40 "$(rdata_type "$out" SRV | wc -l)" || diag "$out"
    out=$(q 127.0.0.2 "$name" SRV)
    assert_eq "$name: dig retries over TCP after TC and gets 40 records" 40 "$(rdata_type "$out" SRV | wc -l)" || diag "$out"
done
out=$(q 127.0.0.2 +bufsize=1232 www.community.test A)
assert_match "EDNS: the answer carries an OPT record" 'EDNS: version: 0' "$out" || true
out=$(q 127.0.0.2 +noedns www.community.test A)
assert_not_match "no EDNS in the query: no OPT in the answer" 'EDNS: version' "$out" || true
out=$(q 127.0.0.2 +edns=1 +noednsneg www.community.test A)
assert_eq "EDNS version 1: BADVERS" BADVERS "$(status_of "$out")" || diag "$out"

# ------------------------------------------------------------------ malformed input

echo "# malformed and unusual packets"
out=$(raw 127.0.0.2 formerr-truncated)
assert_match "question cut mid-label: FORMERR" '^rcode=FORMERR id=ok qr=1' "$out" || true
out=$(raw 127.0.0.2 formerr-noqtype)
assert_match "question without QTYPE/QCLASS: FORMERR" '^rcode=FORMERR id=ok qr=1' "$out" || true
out=$(raw 127.0.0.2 formerr-badlabel)
assert_match "label running past the end: FORMERR" '^rcode=FORMERR id=ok qr=1' "$out" || true
out=$(raw 127.0.0.2 header-only)
assert_match "QDCOUNT=1 with no question: FORMERR" '^rcode=FORMERR id=ok qr=1' "$out" || true
out=$(raw 127.0.0.9 formerr-truncated)
assert_match "malformed question from an unidentified source: FORMERR (checked before identity)" '^rcode=FORMERR id=ok qr=1' "$out" || true
out=$(raw 127.0.0.2 qdcount0)
assert_match "QDCOUNT=0: FORMERR or no answer" '^(rcode=FORMERR id=ok qr=1|noanswer)' "$out" || true
out=$(raw 127.0.0.2 short)
assert_eq "5-byte packet: dropped" noanswer "$out"
out=$(raw 127.0.0.2 qr-set www.community.test)
assert_eq "QR=1 packet: dropped" noanswer "$out"
out=$(raw 127.0.0.2 opcode 2 www.community.test)
assert_match "opcode STATUS (2): NOTIMP" '^rcode=NOTIMP id=ok qr=1 opcode=2' "$out" || true
out=$(raw 127.0.0.2 opcode 4 www.community.test)
assert_match "opcode NOTIFY (4): NOTIMP" '^rcode=NOTIMP id=ok qr=1 opcode=4' "$out" || true
out=$(raw 127.0.0.2 opcode 5 www.community.test)
assert_match "opcode UPDATE (5): NOTIMP" '^rcode=NOTIMP id=ok qr=1 opcode=5' "$out" || true
out=$(raw 127.0.0.2 fuzz 1000)
assert_eq "1000 random and mangled packets sent" "sent 1000" "$out"
sleep 0.2
if kill -0 "$RESOLVERD_PID" 2>/dev/null; then
    ok "resolverd survives malformed packets"
else
    not_ok "resolverd survives malformed packets"
    diag "$(tail -n 40 "$LOG")"
fi
out=$(q 127.0.0.2 www.community.test A)
assert_eq "still answering after malformed packets" 192.0.2.80 "$(rdata_type "$out" A)" || diag "$out"

# ------------------------------------------------------------------ live policy edits

echo "# live policy edits with the sqlite3 shell"
want_real=$(upstream $SRV.b.test SRV)

# poll_until SRC NAME TYPE EXPECTED LIMIT_MS: query every 50 ms until the sorted
# +short answer equals EXPECTED, at most LIMIT_MS; print the elapsed ms (or
# "timeout") since the call.
poll_until() {
    local src=$1 name=$2 type=$3 want=$4 limit=$5 t0 now got server=127.0.0.1
    t0=$(now_ms)
    while :; do
        got=$(dig -b "$src" -p "$PORT" "@$server" +time=1 +tries=1 +short "$name" "$type" 2>&1 | sort)
        now=$(now_ms)
        if [ "$got" = "$want" ]; then
            echo $((now - t0))
            return 0
        fi
        if [ $((now - t0)) -ge "$limit" ]; then
            echo timeout
            return 1
        fi
        sleep 0.05
    done
}

# sql STATEMENT: run one edit with the sqlite3 shell (busy timeout 5 s).
sql() {
    sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

out=$(q 127.0.0.2 $SRV.b.test SRV +short | sort)
assert_eq "before the edit: a.test -> b.test real SRV" "$want_real" "$out"
if sql "INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note)
        VALUES (1, 'domain', 'a.test', 'domain', 'b.test', 'deny', 'integration test: live edit');"; then
    ms=$(poll_until 127.0.0.2 $SRV.b.test SRV "$SINK_SRV" 3000)
    if [ "$ms" != timeout ] && [ "$ms" -le 1000 ]; then
        ok "a deny rule inserted with sqlite3 reaches answers within 1 s (${ms} ms)"
    else
        not_ok "a deny rule inserted with sqlite3 reaches answers within 1 s ($ms ms)"
        diag "$(q 127.0.0.2 $SRV.b.test SRV)"
    fi
    sql "DELETE FROM rules WHERE note = 'integration test: live edit';"
    ms=$(poll_until 127.0.0.2 $SRV.b.test SRV "$want_real" 3000)
    if [ "$ms" != timeout ] && [ "$ms" -le 1000 ]; then
        ok "deleting the rule restores the real SRV within 1 s (${ms} ms)"
    else
        not_ok "deleting the rule restores the real SRV within 1 s ($ms ms)"
        diag "$(q 127.0.0.2 $SRV.b.test SRV)"
    fi
else
    not_ok "sqlite3 accepts the live deny rule"
fi

# A new identity: 127.0.0.9 becomes c.test (c -> b allowed), then is removed.
if sql "INSERT INTO identities (kind, value, domain) VALUES ('cidr', '127.0.0.9/32', 'c.test');"; then
    ms=$(poll_until 127.0.0.9 $SRV.b.test SRV "$want_real" 3000)
    if [ "$ms" != timeout ] && [ "$ms" -le 1000 ]; then
        ok "a new identity (127.0.0.9 -> c.test) takes effect within 1 s (${ms} ms)"
    else
        not_ok "a new identity (127.0.0.9 -> c.test) takes effect within 1 s ($ms ms)"
        diag "$(q 127.0.0.9 $SRV.b.test SRV)"
    fi
    sql "DELETE FROM identities WHERE value = '127.0.0.9/32';"
    t0=$(now_ms)
    while :; do
        st=$(status_of "$(q 127.0.0.9 $SRV.b.test SRV +time=1)")
        [ "$st" = REFUSED ] && break
        [ $(( $(now_ms) - t0 )) -ge 3000 ] && break
        sleep 0.05
    done
    assert_eq "removing the identity makes 127.0.0.9 REFUSED again within 1 s ($(( $(now_ms) - t0 )) ms)" \
        REFUSED "$st"
else
    not_ok "sqlite3 accepts the new identity"
fi

# A level change through a level rule: c.test to level 2 leaves b.test's
# "to level 1..1" rule, so b.test -> c.test becomes denied.
sql "UPDATE domains SET level = 2 WHERE name = 'c.test';"
ms=$(poll_until 127.0.0.3 $SRV.c.test SRV "$SINK_SRV" 3000)
if [ "$ms" != timeout ] && [ "$ms" -le 1000 ]; then
    ok "a level change re-decides level rules within 1 s (${ms} ms)"
else
    not_ok "a level change re-decides level rules within 1 s ($ms ms)"
fi
sql "UPDATE domains SET level = 1 WHERE name = 'c.test';"
ms=$(poll_until 127.0.0.3 $SRV.c.test SRV "$(upstream $SRV.c.test SRV)" 3000)
assert_ne "level restored: b.test -> c.test allowed again" timeout "$ms"

# A bad edit is refused by the database and changes nothing.
if sql "INSERT INTO domains (name, level) VALUES ('bad..name', 1);" 2>/dev/null; then
    not_ok "the database refuses an invalid domain name"
else
    ok "the database refuses an invalid domain name"
fi
out=$(q 127.0.0.2 $SRV.b.test SRV +short | sort)
assert_eq "after a refused edit: answers unchanged" "$want_real" "$out"

# ------------------------------------------------------------------ load and the end

echo "# a burst of queries, then shutdown"
burst_ok=0
for i in $(seq 1 50); do
    out=$(q 127.0.0.2 +short $SRV.b.test SRV | sort)
    [ "$out" = "$want_real" ] && burst_ok=$((burst_ok + 1))
done
assert_eq "50 queries in a row, 50 correct answers" 50 "$burst_ok"

if kill -0 "$RESOLVERD_PID" 2>/dev/null; then
    ok "resolverd is still running at the end"
else
    not_ok "resolverd is still running at the end"
fi
out=$(q 127.0.0.2 sink.clearinghouse.test A)
assert_eq "resolverd still answers at the end" 127.0.0.1 "$(rdata_type "$out" A)" || diag "$out"

if stop_pid "$RESOLVERD_PID" 10; then
    ok "resolverd exits on SIGTERM within 10 s"
else
    not_ok "resolverd exits on SIGTERM within 10 s"
fi
if san=$(sanitizer_errors "$LOG"); then
    not_ok "no sanitizer error in resolverd's log"
    diag "$san" "log: $(grep -n -A 30 -E 'ERROR: |runtime error:' "$LOG" | head -n 60)"
else
    ok "no sanitizer error in resolverd's log"
fi
if [ "$TESTS_FAILED" -gt 0 ]; then
    echo "# last lines of resolverd's log ($LOG):"
    tail -n 30 "$LOG" | sed 's/^/#   /'
fi

finish
