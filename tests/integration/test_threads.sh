#!/usr/bin/env bash
# Worker threads: resolverd with `threads: 2` answers exactly as with
# `threads: 1`, both workers answer, a live policy edit reaches both, a
# learned target host is policed whichever worker the query lands on, and
# SIGTERM stops it at once. NSD serves the zones, dig asks from distinct
# loopback addresses (each dig from a new source port, which the kernel's
# SO_REUSEPORT hash spreads over the workers).
#
#   make check, or by hand: [RESOLVERD=BINARY] [CHPOLICY=BINARY] tests/integration/test_threads.sh
#
# Community: alpha.test (level 3; 127.0.0.2 and 127.0.0.10-19), bravo.test
# (level 2; 127.0.0.3 and 127.0.0.20-29), charlie.test, quebec.test (level
# 3); one rule level:>=3 -> level:>=3 allow, require-mutual off. So bravo is
# denied charlie and quebec, alpha is allowed both.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools nsd nsd-checkconf dig sqlite3 setsid curl
require_resolverd
CHPOLICY=${CHPOLICY:-$PWD/dbtools/chpolicy}
[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"
make_tmpdir T

mkdir -p "$T/zones"
zone() { # zone NAME: the zone file from standard input, with SOA and NS
    { printf '$ORIGIN %s.\n$TTL 3600\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n' "$1"; cat; } \
        >"$T/zones/$1.zone"
}
zone charlie.test <<'ZONE'
@ IN A 198.18.3.10
@ IN TXT "charlie's secret"
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN A 198.18.3.11
www IN A 198.18.3.12
ZONE
zone quebec.test <<'ZONE'
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN CNAME hidden.hoster.test.
ZONE
zone romeo.test <<'ZONE'
_xmpp-server._tcp IN SRV 0 5 5269 chat.hoster2.test.
ZONE
zone hoster.test <<'ZONE'
hidden IN A 198.18.4.21
ZONE
zone hoster2.test <<'ZONE'
chat IN A 198.18.6.30
ZONE
zone outside.test <<'ZONE'
plain IN A 198.18.5.1
alias IN CNAME charlie.test.
toromeo IN CNAME chat.hoster2.test.
ZONE

NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" || bail "nsd serves the test zones"
ok "nsd serves the test zones on 127.0.0.1@$NSD_PORT"

DB=$T/policy.db
{
    cat <<'SQL'
INSERT INTO domains (name, level) VALUES ('alpha.test', 3), ('bravo.test', 2), ('charlie.test', 3),
    ('quebec.test', 3), ('romeo.test', 3);
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'alpha.test'), ('127.0.0.3/32', 'bravo.test');
INSERT INTO rules (priority, from_kind, from_min, to_kind, to_min, action)
    VALUES (10, 'level', 3, 'level', 3, 'allow');
SQL
    for i in $(seq 10 19); do printf "INSERT INTO identities (value, domain) VALUES ('127.0.0.%d/32', 'alpha.test');\n" "$i"; done
    for i in $(seq 20 29); do printf "INSERT INTO identities (value, domain) VALUES ('127.0.0.%d/32', 'bravo.test');\n" "$i"; done
} | new_policy_db "$DB" || bail "test policy loads"
ok "test policy database created"

upstream_conf() {
    for z in charlie.test quebec.test romeo.test hoster.test hoster2.test outside.test; do
        printf 'stub-zone: %s. 127.0.0.1@%s\n' "$z" "$NSD_PORT"
    done
    printf 'transparent-zone: test.\nrecursion-acl: 127.0.0.1/32\nrequire-mutual: no\nlog-rate-limit: 0\n'
    # dig from 20 sources in a burst: no answer may be rate limited
    printf 'rate-limit: 0\nrate-limit-identified: 0\n'
}

# the reference: one thread
run_resolverd one < <(upstream_conf; printf 'threads: 1\n')
ONE_PORT=$PORT ONE_PID=$RESOLVERD_PID ONE_LOG=$LOG
grep -q "worker threads" "$ONE_LOG" && not_ok "threads: 1 starts no second worker" \
    || ok "threads: 1 starts no second worker"

# two threads, with metrics and a control socket
MPORT=$(free_port) || bail "a free port for the metrics"
run_resolverd two < <(upstream_conf; printf 'threads: 2\nmetrics-listen: 127.0.0.1@%s\ncontrol-socket: %s\n' "$MPORT" "$T/control.sock")
TWO_PORT=$PORT TWO_PID=$RESOLVERD_PID TWO_LOG=$LOG
assert_match "threads: 2 starts two worker threads" "2 worker threads" "$(cat "$TWO_LOG")"

# threads: 1 binds as before (no SO_REUSEPORT): a second one on a port in use fails
sed -e "s/^listen: .*/listen: 127.0.0.1@$ONE_PORT/" "$T/one.conf" >"$T/again.conf"
timeout 10 "$RESOLVERD" -c "$T/again.conf" -f >"$T/again.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && ok "threads: 1 on a port in use refuses to start (status $rc)" \
    || not_ok "threads: 1 on a port in use refuses to start (status $rc)"
assert_match "... saying so" "listen: .*[Aa]ddress already in use" "$(cat "$T/again.log")"
# threads: 2 binds with SO_REUSEPORT, which would let a second instance join the first's port
# and answer half its queries from another policy: it must refuse to start too
sed -e "s/^listen: .*/listen: 127.0.0.1@$TWO_PORT/" "$T/one.conf" | sed -e "s/^threads: .*/threads: 2/" >"$T/again2.conf"
grep -q "^threads: 2" "$T/again2.conf" || echo "threads: 2" >>"$T/again2.conf"
timeout 10 "$RESOLVERD" -c "$T/again2.conf" -f >"$T/again2.log" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && ok "threads: 2 on a port a threads: 2 resolverd holds refuses to start (status $rc)" \
    || not_ok "threads: 2 on a port a threads: 2 resolverd holds refuses to start (status $rc)"
assert_match "... saying another process listens there" "another process listens there" "$(cat "$T/again2.log")"

# ---------------------------------------------------------------- same answers

# ask PORT SRC NAME TYPE: the answer's RCODE and records, TTLs left out (they count down)
ask() {
    local out
    out=$(dig +time=3 +tries=2 -b "$2" -p "$1" @127.0.0.1 "$3" "$4")
    printf '%s' "$(status_of "$out")"
    answer_of "$out" | awk '{ $2 = ""; print }' | sort | tr '\n' ';'
}
QUESTIONS=(
    "_xmpp-server._tcp.charlie.test SRV" "charlie.test A" "xmpp.charlie.test A" "charlie.test TXT"
    "www.charlie.test A" "alias.outside.test A" "plain.outside.test A" "sink.clearinghouse.test A"
)
SOURCES=(127.0.0.2 127.0.0.3)
for i in $(seq 10 29); do SOURCES+=("127.0.0.$i"); done
differ=0 total=0 denied=0 allowed=0
for src in "${SOURCES[@]}"; do
    for q in "${QUESTIONS[@]}"; do
        # shellcheck disable=SC2086
        a=$(ask "$ONE_PORT" "$src" $q)
        # shellcheck disable=SC2086
        b=$(ask "$TWO_PORT" "$src" $q)
        total=$((total + 1))
        if [ "$a" != "$b" ]; then
            differ=$((differ + 1))
            diag "$src $q: threads 1: $a" "$src $q: threads 2: $b"
        fi
        case $q in
            _xmpp-server*) case $a in *sink.clearinghouse.test*) denied=$((denied + 1)) ;; *xmpp.charlie.test*) allowed=$((allowed + 1)) ;; esac ;;
        esac
    done
done
assert_eq "$total questions from ${#SOURCES[@]} sources: threads 2 answers exactly as threads 1" 0 "$differ"
assert_eq "... 11 allowed requester addresses got charlie's SRV" 11 "$allowed"
assert_eq "... 11 denied requester addresses got the sink" 11 "$denied"

# ---------------------------------------------------------------- both workers

metric() { # metric NAME{LABELS}: its value in the exposition, or nothing
    curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
w0=$(metric 'resolverd_worker_queries_total{worker="0"}')
w1=$(metric 'resolverd_worker_queries_total{worker="1"}')
all=$(metric resolverd_queries_total)
diag "queries per worker: $w0 + $w1 (total $all)"
[ "${w0:-0}" -gt 0 ] && [ "${w1:-0}" -gt 0 ] && ok "both workers answered (per-worker metric: $w0 and $w1)" \
    || not_ok "both workers answered (per-worker metric: '$w0' and '$w1')"
assert_eq "the total is the sum of the workers'" "$all" "$(( ${w0:-0} + ${w1:-0} ))"
[ "${all:-0}" -ge "$total" ] && ok "the total counts every query asked ($all >= $total)" \
    || not_ok "the total counts every query asked ($all >= $total)"
out=$("$(dirname "$RESOLVERD")/resolverd-control" -s "$T/control.sock" status 2>&1)
sq=$(sed -n 's/^queries: //p' <<<"$out")
# (a dig that retried may have sent one more since the scrape)
[ -n "$sq" ] && [ "$sq" -ge "$all" ] && [ "$sq" -le $((all + 4)) ] \
    && ok "resolverd-control status: the queries of both workers ($sq)" \
    || { not_ok "resolverd-control status: the queries of both workers"; diag "$out"; }
assert_match "... and the number of threads" "threads: 2" "$out"

# ---------------------------------------------------------------- live policy

# per worker: queries from 20 source ports land on both; every one must say the same
srv_all() { # srv_all PORT SRC NAME: the distinct SRV answers of 20 queries
    local i
    for i in $(seq 1 20); do
        dig +short +time=3 +tries=2 -b "$2" -p "$1" @127.0.0.1 "$3" SRV
    done | sort -u | tr '\n' ';'
}
SINK_SRV='0 0 5269 sink.clearinghouse.test.;'
REAL_SRV='0 5 5269 xmpp.charlie.test.;'
assert_eq "bravo is denied charlie on every worker" "$SINK_SRV" "$(srv_all "$TWO_PORT" 127.0.0.3 _xmpp-server._tcp.charlie.test)"
id=$("$CHPOLICY" --db "$DB" rule add --from domain:bravo.test --to domain:charlie.test --allow --priority 1 2>&1) \
    || bail "chpolicy rule add: $id"
t0=$(now_ms)
wait_until 5 "$TWO_PID" sh -c "[ \"\$(dig +short +time=2 -b 127.0.0.3 -p $TWO_PORT @127.0.0.1 _xmpp-server._tcp.charlie.test SRV)\" = '0 5 5269 xmpp.charlie.test.' ]"
diag "the edit reached an answer after $(( $(now_ms) - t0 )) ms"
assert_eq "chpolicy rule add: bravo gets charlie's SRV on every worker" "$REAL_SRV" \
    "$(srv_all "$TWO_PORT" 127.0.0.3 _xmpp-server._tcp.charlie.test)"
assert_eq "... and from its other addresses" "$REAL_SRV" "$(srv_all "$TWO_PORT" 127.0.0.21 _xmpp-server._tcp.charlie.test)"
"$CHPOLICY" --db "$DB" rule remove "$id" >/dev/null 2>&1 || bail "chpolicy rule remove $id"
wait_until 5 "$TWO_PID" sh -c "[ \"\$(dig +short +time=2 -b 127.0.0.3 -p $TWO_PORT @127.0.0.1 _xmpp-server._tcp.charlie.test SRV)\" = '0 0 5269 sink.clearinghouse.test.' ]"
assert_eq "chpolicy rule remove: bravo is denied again on every worker" "$SINK_SRV" \
    "$(srv_all "$TWO_PORT" 127.0.0.3 _xmpp-server._tcp.charlie.test)"
assert_eq "... and the address of charlie's target host is the sink on every worker" "127.0.0.1;" \
    "$(for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 xmpp.charlie.test A; done | sort -u | tr '\n' ';')"

# ---------------------------------------------------------------- learned targets

# The denied SRV lookup of romeo makes the worker that gets it learn romeo's
# target host (outside any community domain). Before that, an alias to that
# host is asked by everyone: the recursion-acl source fills both workers'
# answer caches with it, as an answer the same for everyone while the host
# is not policed. Once one worker learns the host (only that one: nothing
# else is learned meanwhile), no worker may serve that cached chain to bravo.
for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.1 -p "$TWO_PORT" @127.0.0.1 toromeo.outside.test A; done >/dev/null
assert_match "before romeo's host is learned, its alias is answered in full" "198\.18\.6\.30" \
    "$(dig +short +time=3 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 toromeo.outside.test A)"
dig +short +time=3 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 _xmpp-server._tcp.romeo.test SRV >/dev/null
learned() { [ "$(dig +short +time=2 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 "$1" A)" = 127.0.0.1 ]; }
wait_until 5 "$TWO_PID" learned chat.hoster2.test
got=$(for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 toromeo.outside.test A; done | sort -u | tr '\n' ';')
assert_not_match "the alias both workers had cached before: cut for the denied requester on every worker" "198\.18\.6\.30" "$got"
assert_match "... at the learned host, with the sink" "127\.0\.0\.1" "$got"

# Then quebec's target, an alias of a hidden host, learned the same way.
# Every worker must police both learned hosts: 20 queries for each host's
# address from bravo, spread over both workers, all get the sink; from
# alpha, all get the real address.
dig +short +time=3 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 _xmpp-server._tcp.quebec.test SRV >/dev/null
wait_until 5 "$TWO_PID" learned hidden.hoster.test
for host in chat.hoster2.test hidden.hoster.test; do
    got=$(for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.3 -p "$TWO_PORT" @127.0.0.1 "$host" A; done | sort -u | tr '\n' ';')
    assert_eq "learned target $host: the sink for the denied requester on every worker" "127.0.0.1;" "$got"
    got=$(for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.24 -p "$TWO_PORT" @127.0.0.1 "$host" A; done | sort -u | tr '\n' ';')
    assert_eq "... and from its other addresses" "127.0.0.1;" "$got"
done
got=$(for i in $(seq 1 20); do dig +short +time=3 +tries=2 -b 127.0.0.2 -p "$TWO_PORT" @127.0.0.1 chat.hoster2.test A; done | sort -u | tr '\n' ';')
assert_eq "... the allowed requester gets the real address on every worker" "198.18.6.30;" "$got"

# ---------------------------------------------------------------- pauses under load

# SIGHUP and flush pause both workers, a scrape and SIGUSR1 one at a time;
# none may lose or change an answer. Two clients ask throughout.
asker() { # asker SRC EXPECTED OUT: 150 SRV lookups of charlie, one line per wrong answer
    local i got
    for i in $(seq 1 150); do
        got=$(dig +short +time=3 +tries=2 -b "$1" -p "$TWO_PORT" @127.0.0.1 _xmpp-server._tcp.charlie.test SRV)
        [ "$got" = "$2" ] || echo "$1: '$got'"
    done >"$3"
}
asker 127.0.0.2 '0 5 5269 xmpp.charlie.test.' "$T/ask-alpha" &
A1=$!
asker 127.0.0.3 '0 0 5269 sink.clearinghouse.test.' "$T/ask-bravo" &
A2=$!
for i in 1 2 3 4 5; do
    kill -HUP "$TWO_PID"
    "$(dirname "$RESOLVERD")/resolverd-control" -s "$T/control.sock" flush >/dev/null 2>&1
    curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$MPORT/metrics"
    kill -USR1 "$TWO_PID"
    sleep 0.3
done
wait "$A1" "$A2"
kill -0 "$TWO_PID" 2>/dev/null && ok "SIGHUP, flush, scrapes and SIGUSR1 under load: resolverd runs on" \
    || not_ok "SIGHUP, flush, scrapes and SIGUSR1 under load: resolverd runs on"
wrong=$(cat "$T/ask-alpha" "$T/ask-bravo")
assert_eq "... and all 300 answers asked meanwhile are right" "" "$wrong"
hits_before=$(metric 'resolverd_cache_hits_total{cache="decision"}')
kill -HUP "$TWO_PID"
"$(dirname "$RESOLVERD")/resolverd-control" -s "$T/control.sock" flush >/dev/null 2>&1
sleep 0.5
hits_after=$(metric 'resolverd_cache_hits_total{cache="decision"}')
[ "${hits_before:-0}" -gt 0 ] && [ "${hits_after:-0}" -ge "$hits_before" ] \
    && ok "cache counters only go up across SIGHUP and flush ($hits_before -> $hits_after)" \
    || not_ok "cache counters only go up across SIGHUP and flush ('$hits_before' -> '$hits_after')"
assert_match "SIGUSR1: one statistics line for the process, then each worker's queries" \
    "statistics: worker 1 of 2: queries=" "$(cat "$TWO_LOG")"

# ---------------------------------------------------------------- SIGTERM

t0=$(now_ms)
kill -TERM "$TWO_PID"
stopped=no
for _ in $(seq 1 50); do
    kill -0 "$TWO_PID" 2>/dev/null || { stopped=yes; break; }
    sleep 0.1
done
el=$(( $(now_ms) - t0 ))
assert_eq "SIGTERM: resolverd with two workers exits within 5 s (took $el ms)" yes "$stopped"
wait "$TWO_PID" 2>/dev/null
rc=$?
assert_eq "... with status 0" 0 "$rc"
stop_pid "$ONE_PID" 10 && ok "resolverd with one thread exits on SIGTERM" || not_ok "resolverd with one thread exits on SIGTERM"
for l in "$ONE_LOG" "$TWO_LOG"; do
    if errs=$(sanitizer_errors "$l"); then
        not_ok "no sanitizer error in $(basename "$l")"
        diag "$errs"
    else
        ok "no sanitizer error in $(basename "$l")"
    fi
done
finish
