#!/usr/bin/env bash
# Hostile clients: resolverd keeps answering everyone else, within its limits
# (docs/resolverd.md "Limits"). One resolverd with small limits, NSD as the
# live upstream, a black hole (reads, never answers) as the upstream of
# dead.test, and tests/integration/abuse.py as the attacker, on loopback.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_hardening.sh
#
# 1. malformed messages, each followed by a normal query over UDP and TCP;
#    TCP framing (1-byte writes, a length prefix then silence, pipelining)
# 3. TCP: a client that never reads; more than tcp-max-connections
#    connections trickling a byte a second; more than tcp-max-per-source
# 4. recursion: 2,000 names under a dead upstream from one requester while
#    another one's latency is measured; a TCP query waiting on the dead one
# 5. response rate limiting of an unidentified source, not of an identified one
# 6. the query log under a flood of denied queries (log-rate-limit)
# 7. the sink listener: trickling streams, an entity bomb, a 1 MiB stream
# After each: no sanitizer report, and UDP and TCP still answer.
# (2, the EDNS compliance checks, are tests/integration/test_edns_compliance.sh.)
#
# The measured numbers (RSS, latency percentiles, rate-limit counts) are
# printed as TAP comments.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools nsd nsd-checkconf dig sqlite3 python3 setsid
require_long_run
require_resolverd
make_tmpdir T
ABUSE=$(cd "$(dirname "$0")" && pwd)/abuse.py

# the limits of this test (small, to keep it fast)
TCP_MAX=64 PER_SOURCE=16 INITIAL=2 IDLE=4 RTIMEOUT=2 RATE=50 LOGRATE=100

# ---------------------------------------------------------------- set-up

mkdir -p "$T/zones"
cat >"$T/zones/live.test.zone" <<'ZONE'
$ORIGIN live.test.
$TTL 3600
@    IN SOA ns hostmaster 1 3600 600 86400 300
@    IN NS  ns
ns   IN A   127.0.0.1
www  IN A   198.18.9.1
*.w  IN A   198.18.9.2
ZONE
NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" || bail "nsd serves live.test"

DEAD_PORT=$(free_port) || bail "a free port for the dead upstream"
setsid python3 "$ABUSE" --port "$DEAD_PORT" blackhole >"$T/blackhole.log" 2>&1 </dev/null &
track_pid $!
wait_until 5 $! grep -q listening "$T/blackhole.log" || bail "the dead upstream listens"
SINK_PORT=$(free_port) || bail "a free port for the sink"

# requesters: victim .2, flooder .3, logger .4 (denied denied.test), probe .5;
# every other 127.0.0.x is loopback.test. 127.0.1.0/24 is unidentified but
# in recursion-acl, 127.0.2.1 is neither (REFUSED).
DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('victim.test'), ('flooder.test'), ('logger.test'), ('probe.test'),
    ('loopback.test'), ('denied.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'victim.test'), ('127.0.0.3/32', 'flooder.test'),
    ('127.0.0.4/32', 'logger.test'), ('127.0.0.5/32', 'probe.test'), ('127.0.0.0/24', 'loopback.test');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('denied.test', 0, 5, 5269, 'xmpp.denied.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.denied.test', '198.18.0.50');
SQL
# with the sanitizer build, a smaller quarantine of freed memory: the RSS
# figures then show what resolverd keeps, not what ASan holds back
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1:quarantine_size_mb=16}
# One worker thread: the limits count per worker (docs/resolverd.md
# "Limits"), and this test holds each to its exact figure for the process,
# from clients on many source ports that SO_REUSEPORT would spread over
# several workers. tests/integration/test_threads.sh covers the workers.
run_resolverd hardening <<CONF
threads: 1
stub-zone: live.test. 127.0.0.1@$NSD_PORT
stub-zone: dead.test. 127.0.0.1@$DEAD_PORT
transparent-zone: test.
recursion-acl: 127.0.1.0/24
tcp-max-connections: $TCP_MAX
tcp-max-per-source: $PER_SOURCE
tcp-initial-timeout: $INITIAL
tcp-idle-timeout: $IDLE
recursion-timeout: $RTIMEOUT
rate-limit: $RATE
rate-limit-slip: 2
log-rate-limit: $LOGRATE
sink-mode: listener
sink-listen: 127.0.0.1@$SINK_PORT
sink-port: $SINK_PORT
CONF
PID=$RESOLVERD_PID

# ---------------------------------------------------------------- helpers

abuse() { python3 "$ABUSE" --port "$PORT" "$@"; }
# kv KEY TEXT: the value of KEY=VALUE in TEXT
kv() { grep -oE "(^|[[:space:]])$1=[^[:space:]]*" <<<"$2" | head -n 1 | sed 's/^[[:space:]]*[^=]*=//'; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null || echo -1; }
# growth BEFORE AFTER: how much RSS grew, in kB (0 when it shrank)
growth() { echo $(( $2 > $1 ? $2 - $1 : 0 )); }
# mb KB: kilobytes as MB with one decimal
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# ms_below DESC LIMIT_MS VALUE_MS (decimals allowed)
ms_below() {
    if awk -v v="$3" -v l="$2" 'BEGIN { exit !(v != "" && v + 0 == v && v < l) }'; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected a number below $2, got: '$3'"
    fi
}
# within DESC LOW HIGH VALUE (integers or decimals)
within() {
    if awk -v v="$4" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 == v && v >= lo && v <= hi) }'; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected $2 <= value <= $3, got: '$4'"
    fi
}
# after_class NAME: resolverd lives, answers UDP and TCP, and logged no sanitizer report
after_class() {
    local udp tcp san
    udp=$(dig +short +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 www.live.test A 2>&1)
    tcp=$(dig +short +tcp +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 www.live.test A 2>&1)
    assert_eq "$1: resolverd still answers over UDP and TCP" "198.18.9.1 198.18.9.1" "$udp $tcp"
    if san=$(sanitizer_errors "$LOG"); then
        not_ok "$1: no sanitizer report in the log"
        diag "$san"
    else
        ok "$1: no sanitizer report in the log"
    fi
}
# the answer cache holds the names the attackers ask for
dig +short +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 www.live.test A >/dev/null

# ---------------------------------------------------------------- 1. malformed messages

echo "# 1. malformed messages (each: the answer expected, then UDP and TCP still answer)"
out=$(abuse --src 127.0.0.5 malformed www.live.test w.live.test)
NOANSWER='^noanswer$'
FORMERR='^rcode=FORMERR id=ok qr=1 op=0 '
# the header of NOTIMP: the opcode echoed, nothing else (no question, RD, RA, AD, CD, Z)
notimp() { echo "^rcode=NOTIMP id=ok qr=1 op=$1 aa=0 tc=0 rd=0 ra=0 z=0 ad=0 cd=0 qd=0 an=0 ns=0 ar=0 opt=0 "; }
# case|expected ERE|expectation in words
cases="short-0|$NOANSWER|no answer
short-5|$NOANSWER|no answer
short-11|$NOANSWER|no answer
qr-set|$NOANSWER|no answer (a response)
$(for op in $(seq 1 15); do echo "opcode-$op|$(notimp "$op")|NOTIMP, header only (no question, RD, RA, AD, CD, Z)"; done)
qdcount-0|$FORMERR|FORMERR
qdcount-0-with-question|$FORMERR|FORMERR
qdcount-2|$FORMERR|FORMERR
qdcount-2-one-question|$FORMERR|FORMERR
question-pointer-loop|$FORMERR|FORMERR
question-pointer-past-end|$FORMERR|FORMERR
question-pointer-two-step-loop|$FORMERR|FORMERR
additional-pointer-loop|$FORMERR|FORMERR (a compression loop in an additional record's owner)
additional-pointer-past-end|$FORMERR|FORMERR (a compression pointer past the end in an additional record)
additional-label-past-end|$FORMERR|FORMERR
additional-pointer-ok (control)|^rcode=NOERROR id=ok .* an=1 |answered (a pointer to the question is legal)
name-255 (control)|^rcode=NOERROR id=ok .* an=1 |answered (255 octets is the longest name)
name-256|$FORMERR|FORMERR
name-321|$FORMERR|FORMERR
label-64|$FORMERR|FORMERR
label-type-0x80|$FORMERR|FORMERR
edns-two-opt|$FORMERR|FORMERR
edns-opt-in-answer|$FORMERR|FORMERR
edns-opt-in-authority|$FORMERR|FORMERR
edns-opt-owner-not-root|$FORMERR|FORMERR
edns-option-past-rdlength|$FORMERR|FORMERR
edns-option-header-cut|$FORMERR|FORMERR
edns-cookie-5|$FORMERR|FORMERR
edns-cookie-12|$FORMERR|FORMERR
edns-cookie-8 (control)|^rcode=NOERROR id=ok .* an=1 .* opt=1 ver=0 |answered, with EDNS
edns-ecs-prefix-33|$FORMERR|FORMERR
edns-ecs-address-too-long|$FORMERR|FORMERR
edns-ecs-family-3|$FORMERR|FORMERR
edns-ecs-scope-set|$FORMERR|FORMERR
edns-version-1|^rcode=BADVERS id=ok qr=1 op=0 .* an=0 .* opt=1 ver=0 |BADVERS, EDNS version 0, no answer
edns-repeated-unknown-option|^rcode=NOERROR id=ok .* an=1 .* opt=1 ver=0 do=0 mbz=0 opts=- |NOERROR, answered, no option echoed
qtype-any|^rcode=NOERROR id=ok qr=1 op=0 |answered
axfr-udp|$FORMERR|FORMERR
ixfr-udp|$FORMERR|FORMERR
axfr-tcp|^rcode=REFUSED id=ok qr=1 op=0 |REFUSED
tsig-not-last|$FORMERR|FORMERR"
while IFS='|' read -r case ere words; do
    line=$(awk -F'\t' -v c="$case" '$1 == c' <<<"$out")
    result=$(cut -f2 <<<"$line")
    alive=$(cut -f3 <<<"$line")
    if [ -n "$line" ] && printf '%s\n' "$result" | grep -Eq -- "$ere" \
        && [ "$alive" = "alive=udp:NOERROR,tcp:NOERROR" ]; then
        ok "malformed $case: $words; UDP and TCP still answer"
    else
        not_ok "malformed $case: $words; UDP and TCP still answer"
        diag "expected to match: $ere" "got: ${result:-(no result)}" "then: ${alive:-(no result)}"
    fi
done <<<"$cases"
assert_eq "every malformed case ran" "$(wc -l <<<"$cases")" "$(grep -c $'\t' <<<"$out")"

echo "# TCP framing"
names="www.live.test"
for i in $(seq 1 20); do
    # half answered at once (cached), half through the upstream: out of order
    if [ $((i % 2)) -eq 0 ]; then names="$names p$i-$RANDOM.w.live.test"; else names="$names www.live.test"; fi
done
for i in $(seq 1 40); do names="$names q$i-$RANDOM.w.live.test"; done
# shellcheck disable=SC2086
out=$(abuse --src 127.0.0.5 --wait $((INITIAL + 2)) tcp-framing $names)
assert_match "TCP: a whole query written one byte at a time is answered" \
    $'^bytewise\trcode=NOERROR id=ok .* an=1 ' "$(grep '^bytewise' <<<"$out")"
secs=$(kv closed_after "$out")
echo "# a length prefix then silence: closed after ${secs}s"
within "TCP: a length prefix then silence is closed within tcp-initial-timeout + 2 s ($((INITIAL + 2)) s)" \
    0 $((INITIAL + 2)) "$secs"
line=$(grep '^pipeline-20' <<<"$out")
echo "# $line"
assert_eq "TCP: 20 pipelined queries are all answered, ids matched" "20 20" \
    "$(kv answered "$line") $(kv matched "$line")"
line=$(grep '^pipeline-40' <<<"$out")
echo "# $line"
assert_eq "TCP: 40 pipelined queries for the upstream (more than 32 waiting at once) are all answered" \
    "40 40" "$(kv answered "$line") $(kv matched "$line")"
after_class "malformed messages"

# ---------------------------------------------------------------- 3. TCP resource abuse

echo "# 3a. a client that pipelines queries for 5 s and never reads"
out=$(abuse --src 127.0.0.6 --other 127.0.0.7 --pid "$PID" --wait $((IDLE + 2)) tcp-noread www.live.test 5)
echo "# $out"
r0=$(kv rss_before_kb "$out") r1=$(kv rss_peak_kb "$out")
echo "# RSS before $(mb "$r0") MB, peak $(mb "$r1") MB ($(kv sent_queries "$out") queries written, $(kv connections "$out") connections)"
assert_le "a non-reading client: RSS grows by less than 30 MB" 30720 "$(growth "$r0" "$r1")"
assert_eq "a non-reading client: another TCP client is answered meanwhile" NOERROR "$(kv other "$out")"
assert_eq "a non-reading client: each of its connections is closed" 0 "$(kv never_closed "$out")"
within "a non-reading client: ... within tcp-idle-timeout + 2 s ($((IDLE + 2)) s)" 0 $((IDLE + 2)) "$(kv max_lifetime_s "$out")"

echo "# 3b. tcp-max-connections + 40 connections trickling one byte a second"
srcs=$(seq -s, -f '127.0.0.%g' 10 17)
out=$(abuse --other 127.0.0.8 --third 127.0.0.9 --wait $((INITIAL + 2)) tcp-trickle $((TCP_MAX + 40)) "$srcs" www.live.test)
echo "# $out"
assert_eq "trickle: all $((TCP_MAX + 40)) connections were made" $((TCP_MAX + 40)) "$(kv opened "$out")"
assert_eq "trickle: a new TCP client is answered" NOERROR "$(kv new_client "$out")"
assert_le "trickle: ... within 1 s" 1000 "$(kv new_client_ms "$out")"
assert_eq "trickle: the quietest connection makes room, not a client that keeps asking" NOERROR "$(kv active_client "$out")"
assert_eq "trickle: every trickling connection is closed" 0 "$(kv still_open "$out")"
within "trickle: ... within tcp-initial-timeout + 2 s ($((INITIAL + 2)) s)" 0 $((INITIAL + 2)) "$(kv max_lifetime "$out")"

echo "# 3c. tcp-max-per-source + 5 connections from one address"
out=$(abuse tcp-per-source $((PER_SOURCE + 5)) 127.0.0.20 127.0.0.21 www.live.test)
echo "# $out"
assert_eq "per source: the 5 over tcp-max-per-source are closed at once" 5 "$(kv closed_at_once "$out")"
assert_eq "per source: the first $PER_SOURCE stay open and are answered" "$PER_SOURCE NOERROR" \
    "$(kv kept_open "$out") $(kv kept_answered "$out")"
assert_eq "per source: another address still connects and is answered" NOERROR "$(kv other "$out")"
after_class "TCP abuse"

# ---------------------------------------------------------------- 4. recursion abuse

echo "# 4. 2,000 names under a dead upstream from one requester; another's latency"
out=$(abuse --src 127.0.0.2 latency 1.5 www.live.test w.live.test)
echo "# victim before the flood: p50 $(kv victim_p50_ms "$out") ms, p99 $(kv victim_p99_ms "$out") ms, max $(kv victim_max_ms "$out") ms (n=$(kv victim_n "$out"))"
assert_eq "victim before the flood: every answer came" 0 "$(kv victim_bad "$out")"
out=$(abuse --src 127.0.0.3 --pid "$PID" --wait $((RTIMEOUT + 3)) flood 2000 dead.test 1.0 127.0.0.2 www.live.test w.live.test)
echo "# $(grep '^flood' <<<"$out")"
vline=$(grep '^victim' <<<"$out")
echo "# victim during the flood: p50 $(kv victim_p50_ms "$vline") ms, p99 $(kv victim_p99_ms "$vline") ms, max $(kv victim_max_ms "$vline") ms (n=$(kv victim_n "$vline"); cached p50 $(kv victim_cached_p50_ms "$vline") ms, uncached p50 $(kv victim_uncached_p50_ms "$vline") ms)"
r0=$(kv rss_before_kb "$out") r1=$(kv rss_peak_kb "$out")
echo "# RSS before $(mb "$r0") MB, peak $(mb "$r1") MB, after $(mb "$(kv rss_after_kb "$out")") MB"
sent=$(kv flood_sent "$out") sf=$(kv flood_servfail "$out") tc=$(kv flood_tc "$out")
echo "# flood outcomes: $sf SERVFAIL, $tc truncated, $(kv flood_other "$out") other, $(kv flood_unanswered "$out") unanswered of $sent"
assert_eq "flood: all 2000 sent" 2000 "$sent"
assert_eq "flood: every query got SERVFAIL (or TC over the rate)" 2000 $((sf + tc))
assert_eq "flood: none hangs past recursion-timeout + 3 s" "0 0" "$(kv flood_unanswered "$out") $(kv flood_late "$out")"
assert_eq "victim during the flood: every answer came, none SERVFAIL" 0 "$(kv victim_bad "$vline")"
ms_below "victim during the flood: each answer (cached and uncached) under 500 ms" 500 "$(kv victim_max_ms "$vline")"
assert_le "flood: RSS grows by less than 50 MB" 51200 "$(growth "$r0" "$r1")"
out=$(abuse --src 127.0.0.2 --wait $((RTIMEOUT + 3)) tcp-dead-wait tcpwait.dead.test www.live.test)
echo "# a TCP query waiting on the dead upstream: $out"
assert_eq "TCP query waiting on the dead upstream: SERVFAIL" SERVFAIL "$(kv first "$out")"
within "... after recursion-timeout ($RTIMEOUT s; not sooner, at most 1.5 s later)" \
    "$(awk -v t="$RTIMEOUT" 'BEGIN { print t - 0.25 }')" "$(awk -v t="$RTIMEOUT" 'BEGIN { print t + 1.5 }')" "$(kv first_s "$out")"
assert_eq "... and the connection stays open: a second query on it is answered" NOERROR "$(kv second "$out")"
after_class "recursion abuse"

# ---------------------------------------------------------------- 5. rate limiting

echo "# 5. 500 queries as fast as possible from one unidentified source (rate-limit $RATE, slip 2)"
# rrl_check LABEL OUTPUT RCODE: the assertions on one source's counts
rrl_check() {
    local label=$1 out=$2 rcode=$3 full first tc over span max
    full=$(kv full "$out") first=$(kv full_first_second "$out") tc=$(kv truncated "$out") span=$(kv span_ms "$out")
    over=$((500 - full))
    echo "# $label: $full full answers ($first in the first second), $tc truncated, $(kv dropped "$out") dropped, sent in $span ms; identified requester meanwhile: $(kv id_full "$out") of $(kv id_sent "$out") full"
    # a second's worth at start plus what refills while sending; a few over for timing
    max=$((RATE + RATE * span / 1000 + 3))
    assert_le "$label: full answers in the first second at most rate-limit + the refill while sending ($max)" "$max" "$first"
    within "$label: ... and at least rate-limit ($RATE)" "$RATE" "$max" "$full"
    assert_eq "$label: the full answers are the real answer ($rcode)" "$rcode" "$(kv rcodes "$out")"
    within "$label: about every 2nd of the other $over comes back truncated" \
        $((over / 2 - over / 10 - 2)) $((over / 2 + over / 10 + 2)) "$tc"
    assert_eq "$label: a truncated answer has TC=1 and no records" 0 "$(kv truncated_with_records "$out")"
    assert_eq "$label: an identified requester at the same time is not limited" "200 0 0" \
        "$(kv id_full "$out") $(kv id_truncated "$out") $(kv id_dropped "$out")"
}
out=$(abuse --src 127.0.1.1 rrl 500 www.live.test 127.0.0.2 200)
rrl_check "rate limit (recursion-acl source)" "$out" NOERROR
out=$(abuse --src 127.0.2.1 rrl 500 www.live.test 127.0.0.2 200)
rrl_check "rate limit (refused source)" "$out" REFUSED
after_class "rate limiting"

# ---------------------------------------------------------------- 6. logging

echo "# 6. 5,000 denied queries in about a second (log-rate-limit $LOGRATE), from 15 ms before a second begins;"
echo "#    then twice 500 in 50 ms from 5 ms before a second begins (a second's lines must not spill into the next)"
mark=$(wc -l <"$LOG")
sent=0 answered=0
for burst in "0.985 5000 1.0" "0.995 500 0.05" "0.995 500 0.05"; do
    read -r align n secs <<<"$burst"
    [ "$n" -lt 5000 ] && sleep 1   # the second it starts in has no lines yet
    out=$(abuse --src 127.0.0.4 --align "$align" burst "$n" _xmpp-server._tcp.denied.test SRV "$secs")
    echo "# $out"
    sent=$((sent + $(kv sent "$out"))) answered=$((answered + $(kv answered "$out")))
done
sleep 1.2   # the next second: the next query line reports the suppressed ones
last=$(dig +short +time=2 +tries=1 -b 127.0.0.4 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.denied.test SRV)
assert_eq "logging: the denied requester still gets the sink" "0 0 $SINK_PORT sink.clearinghouse.test." "$last"
sleep 0.2
tail -n +"$((mark + 1))" "$LOG" >"$T/flood.log"
per_second=$(grep 'decision requester=logger.test' "$T/flood.log" | cut -c1-19 | uniq -c | awk '{ print $1 }')
echo "# decision lines per second: $(paste -sd' ' <<<"$per_second")"
max=$(sort -n <<<"$per_second" | tail -n 1)
assert_le "logging: at most log-rate-limit + 3 decision lines in any second" $((LOGRATE + 3)) "${max:-0}"
logged=$(grep -c 'decision requester=logger.test' "$T/flood.log")
suppressed=$(sed -n 's/.* \([0-9][0-9]*\) query log lines suppressed.*/\1/p' "$T/flood.log" | awk '{ s += $1 } END { print s + 0 }')
warnings=$(grep -c 'query log lines suppressed' "$T/flood.log")
seconds=$(wc -l <<<"$per_second")
echo "# $logged decision lines, $suppressed suppressed in $warnings warnings, over $seconds seconds"
within "logging: 'query log lines suppressed' warnings, at most one per second of the floods plus one after them" \
    1 $((seconds + 1)) "$warnings"
assert_eq "logging: the last warning comes right before the line of the query after the flood" \
    "query log lines suppressed|decision requester=logger.test" \
    "$(grep -E 'query log lines suppressed|decision requester=logger.test' "$T/flood.log" | tail -n 2 | sed -E 's/.*(query log lines suppressed|decision requester=logger\.test).*/\1/' | paste -sd'|')"
within "logging: every decision is logged or counted as suppressed" \
    $((answered + 1)) $((sent + 1)) $((logged + suppressed))
after_class "logging"

# ---------------------------------------------------------------- 7. the sink listener

echo "# 7. the sink listener"
srcs=$(seq -s, -f '127.0.0.%g' 30 49)
out=$(python3 "$ABUSE" --port "$SINK_PORT" --src 127.0.0.60 --pid "$PID" sink-trickle 140 "$srcs")
echo "# $out"
assert_eq "sink: 140 trickling streams from 20 addresses were opened" 140 "$(kv opened "$out")"
assert_eq "sink: a real stream header still gets the policy-violation stream error" 1 "$(kv policy_violation "$out")"
assert_le "sink: ... within 2 s" 2000 "$(kv answered_ms "$out")"
r0=$(kv rss_before_kb "$out")
out=$(python3 "$ABUSE" --port "$SINK_PORT" --src 127.0.0.61 --pid "$PID" sink-bomb)
echo "# $out"
assert_match "sink: an XML entity bomb gets the stream error or nothing" '^(policy-violation|nothing)$' "$(kv answered "$out")"
assert_eq "sink: ... and is closed" 1 "$(kv closed "$out")"
out=$(python3 "$ABUSE" --port "$SINK_PORT" --src 127.0.0.62 --pid "$PID" sink-big 1)
echo "# $out"
assert_eq "sink: a 1 MiB stream is closed" 1 "$(kv closed "$out")"
assert_le "sink: ... within 2 s" 2000 "$(kv took_ms "$out")"
r1=$(rss)
echo "# sink: RSS before $(mb "$r0") MB, after $(mb "$r1") MB"
assert_le "sink: RSS grows by less than 20 MB" 20480 "$(growth "$r0" "$r1")"
after_class "sink listener"

kill -USR1 "$PID" 2>/dev/null && sleep 0.3
echo "# $(grep 'statistics:' "$LOG" | tail -n 1 | sed 's/.*statistics: //')"
if stop_pid "$PID" 10; then ok "resolverd exits on SIGTERM after all that"; else not_ok "resolverd exits on SIGTERM after all that"; fi
if san=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer report at exit (leaks included)"; diag "$san"; else ok "no sanitizer report at exit (leaks included)"; fi
finish
