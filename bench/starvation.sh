#!/usr/bin/env bash
# bench/starvation.sh -- one requester floods uncached names under an
# upstream that never answers; another requester's answers (cached, and
# uncached from a live upstream) are timed before and during the flood.
# With the default limits (recursion-max-outstanding 1000, -per-source 100,
# recursion-timeout 5 s) the flood must cost the victim nothing.
#
# Usage: bench/starvation.sh [FLOOD_NAMES] [FLOOD_SECONDS]   (default 20000 10)
# Env: RESOLVERD (default: build/resolverd/resolverd of the checkout).
#
# Prints the victim's p50/p99/max before and during, the flood's outcomes and
# resolverd's RSS before and after.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SRCDIR=$SRC
RESOLVERD=${RESOLVERD:-$SRC/build/resolverd/resolverd}
. "$SRC/tests/lib.sh"
ABUSE=$SRC/tests/integration/abuse.py
N=${1:-20000} SECS=${2:-10}
[ -x "$RESOLVERD" ] || { echo "bench/starvation.sh: no resolverd at $RESOLVERD (build first, or set RESOLVERD)" >&2; exit 2; }
make_tmpdir T

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
NSD_PORT=$(free_port) && start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" >/dev/null 2>&1 || { echo "nsd did not start" >&2; exit 1; }
DEAD_PORT=$(free_port)
setsid python3 "$ABUSE" --port "$DEAD_PORT" blackhole >"$T/blackhole.log" 2>&1 </dev/null &
track_pid $!
DB=$T/policy.db
new_policy_db "$DB" <<'SQL' >/dev/null
INSERT INTO domains (name) VALUES ('victim.test'), ('flooder.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'victim.test'), ('127.0.0.3/32', 'flooder.test');
SQL
run_resolverd starvation <<CONF
stub-zone: live.test. 127.0.0.1@$NSD_PORT
stub-zone: dead.test. 127.0.0.1@$DEAD_PORT
transparent-zone: test.
verbosity: 1
CONF
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$RESOLVERD_PID/status"; }
kv() { grep -oE "(^|[[:space:]])$1=[^[:space:]]*" <<<"$2" | head -n 1 | sed 's/^[[:space:]]*[^=]*=//'; }

r0=$(rss)
before=$(python3 "$ABUSE" --port "$PORT" --src 127.0.0.2 latency 5 www.live.test w.live.test)
during=$(python3 "$ABUSE" --port "$PORT" --src 127.0.0.3 --pid "$RESOLVERD_PID" --wait 8 flood "$N" dead.test "$SECS" 127.0.0.2 www.live.test w.live.test)
r1=$(rss)
v=$(grep '^victim' <<<"$during")
printf 'Starvation: %s uncached names under a dead upstream in %s s from one requester, load %s\n' "$N" "$SECS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %10s %10s %8s\n' "victim (127.0.0.2)" "p50 ms" "p99 ms" "max ms" "n"
printf '%-28s %10s %10s %10s %8s\n' "before the flood" "$(kv victim_p50_ms "$before")" "$(kv victim_p99_ms "$before")" "$(kv victim_max_ms "$before")" "$(kv victim_n "$before")"
printf '%-28s %10s %10s %10s %8s\n' "during the flood" "$(kv victim_p50_ms "$v")" "$(kv victim_p99_ms "$v")" "$(kv victim_max_ms "$v")" "$(kv victim_n "$v")"
printf 'victim failures during the flood: %s\n' "$(kv victim_bad "$v")"
printf 'flood: %s sent, %s SERVFAIL, %s truncated, %s other, %s unanswered\n' "$(kv flood_sent "$during")" \
    "$(kv flood_servfail "$during")" "$(kv flood_tc "$during")" "$(kv flood_other "$during")" "$(kv flood_unanswered "$during")"
printf 'resolverd RSS: %.1f MB before, %.1f MB after\n' "$(echo "$r0 / 1024" | bc -l)" "$(echo "$r1 / 1024" | bc -l)"
