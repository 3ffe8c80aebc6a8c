#!/bin/bash
# bench/run.sh -- resolverd side by side with the stock anchors, in one run.
#
# Builds resolverd optimised, generates the anchors' community (10,000 domains
# peerNNNNN.example; 127.0.0.2 may reach even peers, .3 odd peers, .4 all)
# as our policy database, serves the real SRV records from NSD on loopback,
# and loads resolverd with the anchors' dnsperf flags and CPU pinning.
#
# Usage: bench/run.sh [--smoke] [--no-anchors] [--qps-only] [--peers N]
#   --smoke       a few seconds, 1,000 peers, no anchors: proves the bench runs
#   --no-anchors  only resolverd
#   --qps-only    only resolverd's QPS, start-up and RSS (bench/growth.sh)
# Env: RESOLVERD (a binary to use instead of building), DUR (s, default 10), REPS (default 3), CLIENTS (10), OUTST (100), KEEP=1 keeps the work dir.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANCHORS_DIR=${ANCHORS_DIR:-$SRC/../shared/bench/anchors}
SMOKE=0; ANCHORS=1; PEERS=10000; QPS_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; ANCHORS=0; PEERS=1000; DUR=${DUR:-2}; REPS=${REPS:-1};;
    --no-anchors) ANCHORS=0;;
    --qps-only) QPS_ONLY=1; ANCHORS=0;;
    --peers) PEERS=$2; shift;;
    -h|--help) sed -n '2,15p' "$0"; exit 0;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2;;
  esac
  shift
done
DUR=${DUR:-10}; REPS=${REPS:-3}; CLIENTS=${CLIENTS:-10}; OUTST=${OUTST:-100}
WORK=$(mktemp -d /tmp/resolverd-bench.XXXXXX)
# free ports, so that a stray server never answers for ours
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NSD_PORT=$(free_port); PORT=$(free_port)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
now() { date +%s.%N; }

# --- build, optimised, out of tree
BUILD=$SRC/build-bench
if [ -n "${RESOLVERD:-}" ]; then :
elif [ ! -x "$BUILD/resolverd/resolverd" ] || [ -n "$(find "$SRC/resolverd" "$SRC/dbtools" -newer "$BUILD/resolverd/resolverd" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  log "building optimised resolverd in $BUILD"
  [ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
  mkdir -p "$BUILD"
  (cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" CFLAGS="-O2 -g" >/dev/null; } && make -j2 >/dev/null) \
    || { echo "bench: build failed" >&2; exit 1; }
fi
RESOLVERD=${RESOLVERD:-$BUILD/resolverd/resolverd}

# --- data: the anchors' generator, then our policy in SQL
python3 "$ANCHORS_DIR/gen.py" "$WORK" "$PEERS" >/dev/null
python3 - "$WORK" "$PEERS" <<'PY' > "$WORK/policy.sql"
import sys
n = int(sys.argv[2])
# one big transaction is slow in WAL mode (the WAL index grows with it)
print("PRAGMA journal_mode = DELETE;\nBEGIN;")
print("INSERT INTO groups(name) VALUES ('even'), ('odd'), ('requesters');")
for r in (2, 3, 4):
    print("INSERT INTO domains(name, level) VALUES ('requester%d.example', 1);" % r)
    print("INSERT INTO identities(value, domain) VALUES ('127.0.0.%d/32', 'requester%d.example');" % (r, r))
    print("INSERT INTO memberships(domain, grp) VALUES ('requester%d.example', 'requesters');" % r)
for i in range(n):
    print("INSERT INTO domains(name, level) VALUES ('peer%05d.example', 1);" % i)
    print("INSERT INTO memberships(domain, grp) VALUES ('peer%05d.example', '%s');" % (i, "even" if i % 2 == 0 else "odd"))
print("INSERT INTO rules(priority, from_kind, from_name, to_kind, to_name, action) VALUES"
      " (10, 'domain', 'requester2.example', 'group', 'even', 'allow'),"
      " (10, 'domain', 'requester3.example', 'group', 'odd', 'allow'),"
      " (10, 'domain', 'requester4.example', 'any', NULL, 'allow');")
# mutual consent: every peer accepts the three requesters
print("INSERT INTO rules(priority, from_kind, to_kind, to_name, action) VALUES (20, 'any', 'group', 'requesters', 'allow');")
print("COMMIT;\nPRAGMA journal_mode = WAL;")
PY
sqlite3 "$WORK/policy.db" < "$SRC/dbtools/schema.sql" >/dev/null
sqlite3 "$WORK/policy.db" < "$WORK/policy.sql" >/dev/null

# --- upstream: NSD with the real SRV records
mkdir -p "$WORK/nsd"
cat > "$WORK/nsd/nsd.conf" <<NSD
server:
    ip-address: 127.0.0.1@$NSD_PORT
    port: $NSD_PORT
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$WORK/nsd/zone.list"
    pidfile: "$WORK/nsd/nsd.pid"
    xfrdfile: "$WORK/nsd/xfrd.state"
    xfrdir: "$WORK/nsd"
    logfile: "$WORK/nsd/nsd.log"
    # response rate limiting would throttle resolverd's upstream lookups
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: example.
    zonefile: "$WORK/data/example.zone"
NSD
taskset -c 1 nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/out.log" 2>&1 & PIDS+=($!)

cat > "$WORK/resolverd.conf" <<CONF
listen: 127.0.0.1@$PORT
database: $WORK/policy.db
zone-file: $SRC/zones/clearinghouse.test.zone
stub-zone: example. 127.0.0.1@$NSD_PORT
recursion-acl: 127.0.0.1/32
verbosity: 1
CONF
for i in $(seq 1 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p $NSD_PORT ns.example A 2>/dev/null | grep -q . && break; sleep 0.1; done

t0=$(now)
taskset -c 0 "$RESOLVERD" -c "$WORK/resolverd.conf" -f 2>"$WORK/resolverd.log" & RPID=$!; PIDS+=($RPID)
STARTUP=TIMEOUT
for i in $(seq 1 600); do
  if dig +short +tries=1 +time=1 @127.0.0.1 -p $PORT -b 127.0.0.2 _xmpp-server._tcp.peer00000.example SRV 2>/dev/null | grep -q 5269; then
    STARTUP=$(echo "$(now) - $t0" | bc); break; fi
  sleep 0.02
done
kill -0 $RPID 2>/dev/null || { echo "not ok - bench: resolverd did not start: $(tail -n 3 "$WORK/resolverd.log")"; exit 1; }
log "resolverd startup to first correct answer ($PEERS peers): ${STARTUP}s"

# --- correctness first, as the anchors do
ok=1
for src in 127.0.0.2 127.0.0.3 127.0.0.4; do
  for p in 0 1; do
    name=$(printf "peer%05d" $p)
    ans=$(dig +short @127.0.0.1 -p $PORT -b $src _xmpp-server._tcp.$name.example SRV)
    exp="0 5 5269 xmpp.$name.example."
    { [ $src = 127.0.0.2 ] && [ $p = 1 ]; } || { [ $src = 127.0.0.3 ] && [ $p = 0 ]; } && exp="0 0 5269 sink.clearinghouse.test."
    [ "$ans" = "$exp" ] || { ok=0; log "check FAILED from $src $name: '$ans' (expected '$exp')"; }
  done
done
[ $ok = 1 ] && log "check: per-requester answers correct" || { echo "not ok - bench: wrong answers"; exit 1; }

# warm libunbound's cache with every allowed name, so the runs measure steady state
awk 'NR % 1 == 0' "$WORK/data/queries.txt" | head -n "$PEERS" > "$WORK/warm.txt"
dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $PORT -d "$WORK/warm.txt" -n 1 -c 4 -q 50 -t 1 >/dev/null 2>&1

cpu_ticks() { sed 's/^.*) //' /proc/$1/stat | awk '{print $12+$13}'; }
# perf_run ARGS...: one dnsperf run against resolverd; sets QPS LOST LAT CPU (cores)
perf_run() {
  local c0 c1 out
  c0=$(cpu_ticks $RPID)
  out=$(taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $PORT -l "$DUR" -c "$CLIENTS" -q "$OUTST" "$@" 2>&1)
  c1=$(cpu_ticks $RPID)
  QPS=$(awk '/Queries per second:/{print $4}' <<<"$out")
  LOST=$(awk '/Queries lost:/{print $3}' <<<"$out")
  LAT=$(awk '/Average Latency/{print $4}' <<<"$out")
  CPU=$(echo "scale=3; ($c1 - $c0) / $(getconf CLK_TCK) / $DUR" | bc)
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
runs=()
for r in $(seq 1 "$REPS"); do
  perf_run -d "$WORK/data/queries.txt"
  log "resolverd run $r: qps=$QPS lost=$LOST avg_latency=${LAT}s server_cpu=${CPU} cores"
  runs+=("$QPS")
done
RSS=$(ps -o rss= -p $RPID)
MEDIAN=$(printf '%s\n' "${runs[@]}" | median)
MIN=$(printf '%s\n' "${runs[@]}" | sort -n | head -1); MAX=$(printf '%s\n' "${runs[@]}" | sort -n | tail -1)

if [ "$SMOKE" = 1 ]; then
  kill $RPID; wait $RPID 2>/dev/null
  grep -E 'ERROR: AddressSanitizer|runtime error' "$WORK/resolverd.log" && { echo "not ok - bench: sanitizer report"; exit 1; }
  if awk -v q="$MEDIAN" 'BEGIN { exit !(q > 0) }'; then
    echo "ok - bench smoke: resolverd answered $MEDIAN QPS from 127.0.0.2 ($PEERS peers)"; exit 0
  fi
  echo "not ok - bench smoke: no queries answered"; exit 1
fi

if [ "$QPS_ONLY" = 1 ]; then
  kill $RPID; wait $RPID 2>/dev/null
  printf 'growth\t%s\t%.0f\t%s\t%s\t%s\n' "$PEERS" "$MEDIAN" "${MIN%.*}-${MAX%.*}" "$RSS" "$STARTUP"
  exit 0
fi

# latency and CPU per query at a fixed 10k QPS
lats=(); cpus=()
for r in $(seq 1 "$REPS"); do
  perf_run -d "$WORK/data/queries.txt" -Q 10000
  lats+=("$LAT"); cpus+=("$CPU")
done
FIX_LAT=$(printf '%s\n' "${lats[@]}" | median); FIX_CPU=$(printf '%s\n' "${cpus[@]}" | median)
log "resolverd at 10k QPS: avg latency ${FIX_LAT}s, server CPU ${FIX_CPU} cores"

# a committed policy edit to the new answer, 100 edits while dnsperf runs at 10k QPS
taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $PORT -d "$WORK/data/queries.txt" -l 60 -c 4 -Q 10000 >"$WORK/edit-load.log" 2>&1 & LOADPID=$!
PIDS+=($LOADPID)
EDITS=$(python3 "$SRC/bench/edit_latency.py" "$WORK/policy.db" 127.0.0.1 $PORT 100)
kill $LOADPID 2>/dev/null; wait $LOADPID 2>/dev/null
log "policy edit to answer over 100 edits under load: $EDITS"
kill $RPID; wait $RPID 2>/dev/null
grep -E 'ERROR: AddressSanitizer|runtime error' "$WORK/resolverd.log" && { echo "not ok - bench: sanitizer report"; exit 1; }

# cached recursion pass-through: names outside the community, resolverd vs Unbound forwarding
python3 - "$WORK" "$PEERS" <<'PY'
import random, sys
w, n = sys.argv[1], int(sys.argv[2])
with open(w + "/data/web.test.zone", "w") as f:
    f.write("$ORIGIN web.test.\n$TTL 3600\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n")
    for i in range(n):
        f.write("w%05d IN A 198.18.%d.%d\n" % (i, i // 250 % 250, i % 250 + 1))
random.seed(7)
with open(w + "/data/web-queries.txt", "w") as f:
    for _ in range(3):
        idx = list(range(n)); random.shuffle(idx)
        for i in idx:
            f.write("w%05d.web.test A\n" % i)
PY
cat >> "$WORK/nsd/nsd.conf" <<NSD
zone:
    name: web.test.
    zonefile: "$WORK/data/web.test.zone"
NSD
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
taskset -c 1 nsd -d -c "$WORK/nsd/nsd.conf" >>"$WORK/nsd/out.log" 2>&1 & PIDS+=($!)
for i in $(seq 1 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p $NSD_PORT ns.web.test A 2>/dev/null | grep -q . && break; sleep 0.1; done
printf 'stub-zone: web.test. 127.0.0.1@%s\ntransparent-zone: test.\n' $NSD_PORT >> "$WORK/resolverd.conf"
UPORT=$(free_port)
cat > "$WORK/unbound-fwd.conf" <<UNB
server:
    interface: 127.0.0.1@$UPORT
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound-fwd.pid"
    use-syslog: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    local-zone: "test." nodefault
    msg-cache-size: 64m
    rrset-cache-size: 64m
stub-zone:
    name: "web.test."
    stub-addr: 127.0.0.1@$NSD_PORT
remote-control:
    control-enable: no
UNB
# pass_run NAME PORT PID: warm, then REPS measured runs of the web.test queries; prints the median
pass_run() {
  local name=$1 port=$2 pid=$3 r q c0 c1 out all=()
  head -n "$PEERS" "$WORK/data/web-queries.txt" > "$WORK/web-warm.txt"
  dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $port -d "$WORK/web-warm.txt" -n 1 -c 4 -q 50 -t 1 >/dev/null 2>&1
  for r in $(seq 1 "$REPS"); do
    out=$(taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $port -d "$WORK/data/web-queries.txt" -l "$DUR" -c "$CLIENTS" -q "$OUTST" 2>&1)
    q=$(awk '/Queries per second:/{print $4}' <<<"$out")
    log "$name pass-through run $r: qps=$q lost=$(awk '/Queries lost:/{print $3}' <<<"$out")"
    all+=("$q")
  done
  printf '%s\n' "${all[@]}" | median
}
taskset -c 0 "$RESOLVERD" -c "$WORK/resolverd.conf" -f 2>>"$WORK/resolverd.log" & RPID=$!; PIDS+=($RPID)
for i in $(seq 1 200); do dig +short +time=1 +tries=1 -b 127.0.0.2 @127.0.0.1 -p $PORT w00001.web.test A 2>/dev/null | grep -q 198.18 && break; sleep 0.05; done
PASS_R=$(pass_run resolverd $PORT $RPID)
kill $RPID; wait $RPID 2>/dev/null
taskset -c 0 unbound -d -c "$WORK/unbound-fwd.conf" >"$WORK/unbound-fwd.log" 2>&1 & UPID=$!; PIDS+=($UPID)
for i in $(seq 1 200); do dig +short +time=1 +tries=1 -b 127.0.0.2 @127.0.0.1 -p $UPORT w00001.web.test A 2>/dev/null | grep -q 198.18 && break; sleep 0.05; done
PASS_U=$(pass_run unbound-forward $UPORT $UPID)
kill $UPID; wait $UPID 2>/dev/null

printf '\nPolicy SRV answers, %s peers, dnsperf -c %s -q %s -l %s from 127.0.0.2 (CPU 1), servers on CPU 0, median of %s\n' "$PEERS" "$CLIENTS" "$OUTST" "$DUR" "$REPS"
printf '%-22s %10s %22s %14s %16s %8s %9s\n' server "QPS" "[min-max]" "lat@10k (ms)" "CPU/query (us)" "RSS MB" "ratio"
printf '%-22s %10.0f %22s %14.3f %16.1f %8.1f %9s\n' "resolverd" "$MEDIAN" "[${MIN%.*}-${MAX%.*}]" \
  "$(echo "$FIX_LAT * 1000" | bc -l)" "$(echo "$FIX_CPU * 1000000 / 10000" | bc -l)" "$(echo "$RSS/1024" | bc -l)" "1.00"
if [ "$ANCHORS" = 1 ]; then
  RES=$WORK/anchors DUR=$DUR REPS=$REPS FIXQ=10000 "$ANCHORS_DIR/bench.sh" unbound-1t knot-1t > "$WORK/anchors.log" 2>&1
  awk -F'\t' 'NR > 1 && $2 == "max" {print $1, $4, $5, $6, $14}' "$WORK/anchors/summary.tsv" | while read -r a q mn mx rss; do
    fl=$(awk -F'\t' -v a="$a" '$1 == a && $2 == "10000" {print $7}' "$WORK/anchors/summary.tsv")
    fc=$(awk -F'\t' -v a="$a" '$1 == a && $2 == "10000" {print $12}' "$WORK/anchors/summary.tsv")
    printf '%-22s %10.0f %22s %14.3f %16.1f %8.1f %9.2f\n' "$a" "$q" "[$mn-$mx]" "${fl:-0}" \
      "$(echo "${fc:-0} * 1000000 / 10000" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$(echo "$MEDIAN/$q" | bc -l)"
  done
  echo "(ratio = resolverd QPS / the anchor's QPS in this run)"
fi
printf '\nStartup to the first correct answer (%s peers): %s s\n' "$PEERS" "$STARTUP"
printf 'Policy edit to answer, 100 edits under a 10k QPS load: %s\n' "$EDITS"
printf 'Cached recursion pass-through (%s names outside the community): resolverd %.0f QPS, Unbound forwarding %.0f QPS, ratio %.2f\n' \
  "$PEERS" "$PASS_R" "$PASS_U" "$(echo "$PASS_R / $PASS_U" | bc -l)"
