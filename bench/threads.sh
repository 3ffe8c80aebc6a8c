#!/bin/bash
# bench/threads.sh -- what the worker threads cost each other: resolverd with
# threads: 1 and threads: 2 under the bench's load, with perf.
#
# The community and the load are bench/run.sh's (bench/anchors/gen.py,
# 10,000 peers, dnsperf from 127.0.0.2, NSD as the upstream). For each
# number of threads: 20 s of warm-up, then one run at saturation under
# `perf stat` (CPU, context switches, futex calls: a contended lock sleeps
# in futex) and one under `perf record -g` (the share of samples in the
# locks' code: pthread_rwlock_*, pthread_mutex_*, futex, the atomics of
# the snapshot and the learned-target map).
#
# Usage: bench/threads.sh [THREADS...]   (default: 1 2)
# Env: RESOLVERD (default: build-bench's, built by bench/run.sh), DUR (s, 10),
#      PEERS (10000), TMPDIR (/tmp), KEEP=1 keeps the work dir.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANCHORS_DIR=$SRC/bench/anchors
DUR=${DUR:-10}; PEERS=${PEERS:-10000}
RESOLVERD=${RESOLVERD:-$SRC/build-bench/resolverd/resolverd}
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
PATH=$PATH:/usr/sbin:/sbin
for need in python3 sqlite3 nsd dig dnsperf perf bc; do
  command -v "$need" >/dev/null 2>&1 || { echo "bench/threads.sh: $need not found" >&2; exit 1; }
done
[ -x "$RESOLVERD" ] || { echo "bench/threads.sh: no resolverd at $RESOLVERD (run bench/run.sh once, or set RESOLVERD)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/resolverd-threads.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_srv() { # PORT: until peer00000's SRV record comes back (30 s)
  local i
  for i in $(seq 1 300); do
    dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" -b 127.0.0.2 _xmpp-server._tcp.peer00000.example SRV 2>/dev/null \
      | grep -q 5269 && return 0
    sleep 0.1
  done
  return 1
}

python3 "$ANCHORS_DIR/gen.py" "$WORK/data" "$PEERS" >/dev/null || { echo "gen.py failed" >&2; exit 1; }
cp "$SRC/zones/clearinghouse.test.zone" "$WORK/data/"
{ sqlite3 "$WORK/policy.db" < "$SRC/dbtools/schema.sql" && sqlite3 "$WORK/policy.db" < "$WORK/data/policy.sql"; } >/dev/null
NSD_PORT=$(free_port)
mkdir -p "$WORK/nsd"
sed -e "s#@DIR@#$WORK/nsd#g" -e "s#@DATA@#$WORK/data#g" -e "s#@PORT@#$NSD_PORT#g" -e "s#@THREADS@#1#g" \
  "$ANCHORS_DIR/nsd.conf" > "$WORK/nsd/nsd.conf"
taskset -c 1 nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/out.log" 2>&1 & PIDS+=($!)
wait_srv "$NSD_PORT" || { echo "nsd did not answer" >&2; exit 1; }
QF=$WORK/data/queries.txt

printf '%-8s %9s %9s %9s %11s %11s %10s\n' threads QPS "CPU/ans" cores "ctx-sw/s" "futex/s" "lock %"
for n in "${THREADS[@]}"; do
  PORT=$(free_port)
  cat > "$WORK/r$n.conf" <<CONF
listen: 127.0.0.1@$PORT
database: $WORK/policy.db
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
threads: $n
rate-limit: 0
rate-limit-identified: 0
stub-zone: example. 127.0.0.1@$NSD_PORT
recursion-acl: 127.0.0.1/32
verbosity: 1
CONF
  # one thread: pinned to CPU 0, as bench/run.sh's main run; more: unpinned
  pin=(taskset -c 0); [ "$n" = 1 ] || pin=()
  "${pin[@]}" "$RESOLVERD" -c "$WORK/r$n.conf" -f 2>"$WORK/r$n.log" & RPID=$!; PIDS+=($RPID)
  wait_srv "$PORT" || { echo "resolverd threads: $n did not answer: $(tail -n 3 "$WORK/r$n.log")" >&2; exit 1; }
  load() { taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p "$PORT" -d "$QF" -l "$1" -c 10 -q 100 2>&1; }
  load 20 >/dev/null
  # perf stat over one saturation run
  perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_futex -p "$RPID" -o "$WORK/stat$n.csv" -- sleep "$DUR" &
  SPID=$!
  out=$(load "$DUR")
  wait "$SPID"
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  answered=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  clock=$(awk -F, '$3 == "task-clock" {print $1}' "$WORK/stat$n.csv")      # ms
  csw=$(awk -F, '$3 == "context-switches" {print $1}' "$WORK/stat$n.csv")
  futex=$(awk -F, '$3 == "syscalls:sys_enter_futex" {print $1}' "$WORK/stat$n.csv")
  # perf record over another
  perf record -q -g -F 2999 -p "$RPID" -o "$WORK/perf$n.data" -- sleep "$DUR" 2>/dev/null &
  PPID_=$!
  load "$DUR" >/dev/null
  wait "$PPID_"
  perf report -i "$WORK/perf$n.data" --stdio --no-children --sort symbol 2>/dev/null > "$WORK/report$n.txt"
  lockpct=$(awk '/^ +[0-9.]+%/ && /pthread_rwlock|pthread_mutex|futex|__lll_lock|lll_unlock|atomic|policy_ref|policy_free/ \
    { sub("%", "", $1); s += $1 } END { printf "%.2f", s }' "$WORK/report$n.txt")
  printf '%-8s %9.0f %9.2f %9.3f %11.0f %11.0f %10s\n' "$n" "$qps" \
    "$(echo "$clock * 1000 / $answered" | bc -l)" "$(echo "$clock / 1000 / $DUR" | bc -l)" \
    "$(echo "${csw:-0} / $DUR" | bc -l)" "$(echo "${futex:-0} / $DUR" | bc -l)" "$lockpct"
  log "threads: $n: top symbols:"
  awk '/^ +[0-9.]+%/ {print "    " $0}' "$WORK/report$n.txt" | head -n 12 >&2
  log "threads: $n: lock symbols:"
  grep -E 'pthread_rwlock|pthread_mutex|futex|__lll_lock|lll_unlock' "$WORK/report$n.txt" | awk '/^ +[0-9.]+%/' | head -n 8 >&2
  kill "$RPID"; wait "$RPID" 2>/dev/null
done
echo "(CPU/ans: resolverd's task-clock over the perf stat run per answer, in us; lock %: the"
echo " share of perf samples in pthread_rwlock_*, pthread_mutex_*, futex and lock helpers)"
