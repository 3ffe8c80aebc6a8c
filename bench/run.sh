#!/bin/bash
# bench/run.sh -- resolverd side by side with stock DNS servers (the anchors), in one run.
#
# Builds resolverd optimised, generates the community with bench/anchors/gen.py
# (10,000 domains peerNNNNN.example; 127.0.0.2 may reach even peers, .3 odd
# peers, .4 all) as our policy database, serves the real SRV records from NSD
# on loopback, checks resolverd's per-requester answers and loads it with
# dnsperf. Then each anchor (bench/anchors/README.md) is started from its
# configuration in bench/anchors/, checked and loaded the same way.
#
# Usage: bench/run.sh [--smoke] [--no-anchors] [--anchors LIST] [--qps-only] [--peers N]
#   --smoke         a few seconds, 1,000 peers, no anchors: proves the bench runs
#   --no-anchors    only resolverd
#   --anchors LIST  comma-separated, default unbound-1t,nsd-1t,knot-1t (also unbound-2t, nsd-2t, knot-2t,
#                   and resolverd-2t: resolverd itself with threads: 2, unpinned like the other 2t servers)
#   --qps-only      only resolverd's QPS, start-up and RSS (bench/growth.sh)
# Env: RESOLVERD (a binary to use instead of building), DUR (s, default 10), REPS (default 3),
#      WARM (s of load before the measured runs, 20), CLIENTS (10), OUTST (100), TMPDIR (where the
#      work dir goes, /tmp), KEEP=1 keeps the work dir.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANCHORS_DIR=$SRC/bench/anchors
SMOKE=0; ANCHORS=1; PEERS=10000; QPS_ONLY=0; ANCHOR_LIST=unbound-1t,nsd-1t,knot-1t
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; ANCHORS=0; PEERS=1000; DUR=${DUR:-2}; REPS=${REPS:-1};;
    --no-anchors) ANCHORS=0;;
    --anchors) ANCHOR_LIST=$2; shift;;
    --qps-only) QPS_ONLY=1; ANCHORS=0;;
    --peers) PEERS=$2; shift;;
    -h|--help) sed -n '2,18p' "$0"; exit 0;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2;;
  esac
  shift
done
IFS=, read -r -a ANCHOR_LIST <<<"$ANCHOR_LIST"
for a in "${ANCHOR_LIST[@]}"; do
  [[ $a =~ ^(unbound|nsd|knot|resolverd)-[1-9]t$ ]] || { echo "bench/run.sh: unknown anchor '$a' (unbound-1t, nsd-2t, knot-1t, resolverd-2t...)" >&2; exit 2; }
done
DUR=${DUR:-10}; REPS=${REPS:-3}; CLIENTS=${CLIENTS:-10}; OUTST=${OUTST:-100}; WARM=${WARM:-20}

# what the bench itself needs (an anchor whose package is missing is skipped)
PATH=$PATH:/usr/sbin:/sbin
for need in python3:python3 sqlite3:sqlite3 nsd:nsd dig:bind9-dnsutils dnsperf:dnsperf bc:bc taskset:util-linux; do
  command -v "${need%%:*}" >/dev/null 2>&1 || { echo "not ok - bench: ${need%%:*} not found (Debian package ${need#*:})"; exit 1; }
done
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/resolverd-bench.XXXXXX")
# free ports, so that a stray server never answers for ours
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NSD_PORT=$(free_port); PORT=$(free_port)
PIDS=()
FAILED=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
now() { date +%s.%N; }
TCK=$(getconf CLK_TCK)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# stop PID: SIGTERM, then SIGKILL after 10 s
stop() {
  local i
  kill "$1" 2>/dev/null
  for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# A server's figures cover the process and its descendants (NSD forks its
# servers), every thread of each: /proc/PID/stat counts them all.
tree_pids() { local p; echo "$1"; for p in $(pgrep -P "$1"); do tree_pids "$p"; done; }
# utime+stime in ticks; the fields after "(comm) ", since comm may hold spaces ("nsd: server 1")
proc_cpu() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
proc_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
proc_pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null; }
# tree_sum FUNCTION PID: FUNCTION summed over PID and its descendants
tree_sum() { local p v t=0; for p in $(tree_pids "$2"); do v=$($1 "$p"); t=$((t + ${v:-0})); done; echo "$t"; }

# render TEMPLATE DIR PORT THREADS: an anchor configuration from bench/anchors/
render() {
  sed -e "s#@DIR@#$2#g" -e "s#@DATA@#$WORK/data#g" -e "s#@PORT@#$3#g" -e "s#@THREADS@#$4#g" "$ANCHORS_DIR/$1"
}

# wait_answer PORT PID T0 NAME TYPE PATTERN: until PORT's answer to 127.0.0.2 for NAME TYPE matches
# PATTERN (60 s at most, while PID lives); sets STARTUP, the seconds since T0
wait_answer() {
  local deadline=$((SECONDS + 60))
  STARTUP=TIMEOUT
  while [ $SECONDS -lt $deadline ] && kill -0 "$2" 2>/dev/null; do
    if dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" -b 127.0.0.2 "$4" "$5" 2>/dev/null | grep -q "$6"; then
      STARTUP=$(echo "$(now) - $3" | bc); return 0
    fi
    sleep 0.02
  done
  return 1
}
# wait_srv PORT PID T0: until PORT gives peer00000's SRV record
wait_srv() { wait_answer "$@" _xmpp-server._tcp.peer00000.example SRV 5269; }

# check_answers PORT POLICY: peers 0 and 1's SRV records from each requester (the policy's answers
# with POLICY=yes, the real records for everyone with POLICY=no), a target's and the sink's address;
# a query with no answer is sent again (a loaded machine), a wrong answer fails
check_answers() {
  local port=$1 policy=$2 rc=0 src p name exp ans
  for src in 127.0.0.2 127.0.0.3 127.0.0.4; do
    for p in 0 1; do
      name=$(printf peer%05d $p)
      exp="0 5 5269 xmpp.$name.example."
      if [ "$policy" = yes ] && { { [ $src = 127.0.0.2 ] && [ $p = 1 ]; } || { [ $src = 127.0.0.3 ] && [ $p = 0 ]; }; }; then
        exp="0 0 5269 sink.clearinghouse.test."
      fi
      ans=$(dig +short +time=2 +tries=3 @127.0.0.1 -p "$port" -b $src "_xmpp-server._tcp.$name.example" SRV 2>&1)
      [ "$ans" = "$exp" ] || { rc=1; log "  from $src $name SRV: '$ans', expected '$exp'"; }
    done
  done
  for exp in xmpp.peer00000.example:198.51.100.1 sink.clearinghouse.test:127.0.0.1; do
    ans=$(dig +short +time=2 +tries=3 @127.0.0.1 -p "$port" -b 127.0.0.2 "${exp%%:*}" A 2>&1)
    [ "$ans" = "${exp#*:}" ] || { rc=1; log "  from 127.0.0.2 ${exp%%:*} A: '$ans', expected '${exp#*:}'"; }
  done
  return $rc
}

# warm NAME PID PORT: every name once, then (but for --smoke) WARM seconds at saturation, so that the
# measured runs see the steady state (resolverd's first 50,000 or so queries after start-up cost it
# some ten times the CPU of later ones)
warm() {
  head -n "$PEERS" "$QF" > "$WORK/warm.txt"
  dnsperf -a 127.0.0.2 -s 127.0.0.1 -p "$3" -d "$WORK/warm.txt" -n 1 -c 4 -q 50 -t 1 >/dev/null 2>&1
  [ "$SMOKE" = 1 ] && return 0
  DUR=$WARM perf_run "$2" "$3" || FAILED+=("$1 warm-up: no answers")
  log "$1 warm-up, ${WARM}s at saturation: qps=$QPS ${CPUQ} us/answer"
}

# perf_run PID PORT [DNSPERF ARGS]: one dnsperf run of $QF from 127.0.0.2 (CPU 1); sets QPS, LOST,
# LAT (s), CORES (the server's CPU over the run, in cores) and CPUQ (its CPU per answer, in us)
QF=$WORK/data/queries.txt
perf_run() {
  local pid=$1 port=$2 c0 c1 out answered runtime
  shift 2
  c0=$(tree_sum proc_cpu "$pid")
  out=$(taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p "$port" -d "$QF" -l "$DUR" -c "$CLIENTS" -q "$OUTST" "$@" 2>&1)
  c1=$(tree_sum proc_cpu "$pid")
  QPS=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  LOST=$(awk '/Queries lost:/ {print $3}' <<<"$out")
  LAT=$(awk '/Average Latency/ {print $4}' <<<"$out")
  answered=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  runtime=$(awk '/Run time \(s\):/ {print $4}' <<<"$out")
  if [ -z "$QPS" ] || [ "${answered:-0}" = 0 ]; then
    log "dnsperf gave no answers: $(tail -n 3 <<<"$out")"
    QPS=0 LOST=all LAT=0 CORES=0 CPUQ=0
    return 1
  fi
  CORES=$(echo "scale=3; ($c1 - $c0) / $TCK / $runtime" | bc)
  CPUQ=$(echo "scale=2; ($c1 - $c0) * 1000000 / $TCK / $answered" | bc)
}
# median min max of the numbers on stdin
stats() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)], a[1], a[NR]}'; }

# saturate NAME PID PORT: REPS runs at saturation; sets MEDIAN MIN MAX (QPS) and CPU_MED (us/answer)
saturate() {
  local r qs=() cq=()
  for r in $(seq 1 "$REPS"); do
    perf_run "$2" "$3" || FAILED+=("$1 run $r: no answers")
    log "$1 run $r: qps=$QPS lost=$LOST avg_latency=${LAT}s server_cpu=${CORES} cores, ${CPUQ} us/answer"
    qs+=("$QPS"); cq+=("$CPUQ")
  done
  read -r MEDIAN MIN MAX < <(printf '%s\n' "${qs[@]}" | stats)
  read -r CPU_MED _ < <(printf '%s\n' "${cq[@]}" | stats)
}

# fixed_rate NAME PID PORT: after saturate, REPS runs at a fixed 10k QPS; NAME's row in $WORK/table.tsv
fixed_rate() {
  local r lats=() cores=() lat fix
  for r in $(seq 1 "$REPS"); do
    perf_run "$2" "$3" -Q 10000 || FAILED+=("$1 at 10k QPS run $r: no answers")
    log "$1 at 10k QPS run $r: qps=$QPS lost=$LOST avg_latency=${LAT}s server_cpu=${CORES} cores"
    lats+=("$LAT"); cores+=("$CORES")
  done
  read -r lat _ < <(printf '%s\n' "${lats[@]}" | stats)
  read -r fix _ < <(printf '%s\n' "${cores[@]}" | stats)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$MEDIAN" "$MIN" "$MAX" "$CPU_MED" "$lat" "$fix" \
    "$(tree_sum proc_rss "$2")" "$(tree_sum proc_pss "$2")" "$STARTUP" >> "$WORK/table.tsv"
}

# --- build, optimised, out of tree
BUILD=$SRC/build-bench
if [ -n "${RESOLVERD:-}" ]; then :
elif [ ! -x "$BUILD/resolverd/resolverd" ] || [ -n "$(find "$SRC/resolverd" "$SRC/dbtools" -newer "$BUILD/resolverd/resolverd" -name '*.[ch]' 2>/dev/null | head -1)" ]; then
  log "building optimised resolverd in $BUILD"
  [ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
  mkdir -p "$BUILD"
  (cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" CFLAGS="-O2 -g" >/dev/null; } && make -j2 >/dev/null) \
    || { echo "not ok - bench: build failed"; exit 1; }
fi
RESOLVERD=${RESOLVERD:-$BUILD/resolverd/resolverd}

# --- data: the community, its policy, the anchors' data
python3 "$ANCHORS_DIR/gen.py" "$WORK/data" "$PEERS" || { echo "not ok - bench: bench/anchors/gen.py failed"; exit 1; }
cp "$SRC/zones/clearinghouse.test.zone" "$WORK/data/"
{ sqlite3 "$WORK/policy.db" < "$SRC/dbtools/schema.sql" && sqlite3 "$WORK/policy.db" < "$WORK/data/policy.sql"; } >/dev/null \
  || { echo "not ok - bench: the policy database could not be written"; exit 1; }

# --- upstream: the NSD anchor's configuration, on CPU 1 beside dnsperf (idle once resolverd's caches are warm)
mkdir -p "$WORK/nsd"
render nsd.conf "$WORK/nsd" "$NSD_PORT" 1 > "$WORK/nsd/nsd.conf"
taskset -c 1 nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/out.log" 2>&1 & NSD_PID=$!; PIDS+=($NSD_PID)
wait_srv "$NSD_PORT" "$NSD_PID" "$(now)" || { echo "not ok - bench: upstream NSD did not answer: $(tail -n 3 "$WORK/nsd/out.log")"; exit 1; }

cat > "$WORK/resolverd.conf" <<CONF
listen: 127.0.0.1@$PORT
database: $WORK/policy.db
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
# the main run: one worker thread on CPU 0, like the one-thread anchors
# (resolverd-2t, an anchor below, runs the same config with threads: 2)
threads: 1
# one client is the whole load here: no response rate limit
rate-limit: 0
rate-limit-identified: 0
stub-zone: example. 127.0.0.1@$NSD_PORT
recursion-acl: 127.0.0.1/32
verbosity: 1
CONF
# EXTRA_CONF: more config lines for resolverd (e.g. metrics-listen, to measure its cost)
[ -n "${EXTRA_CONF:-}" ] && printf '%s\n' "$EXTRA_CONF" >> "$WORK/resolverd.conf"

t0=$(now)
taskset -c 0 "$RESOLVERD" -c "$WORK/resolverd.conf" -f 2>"$WORK/resolverd.log" & RPID=$!; PIDS+=($RPID)
wait_srv "$PORT" "$RPID" "$t0" || { echo "not ok - bench: resolverd did not start: $(tail -n 3 "$WORK/resolverd.log")"; exit 1; }
log "resolverd startup to first correct answer ($PEERS peers): ${STARTUP}s"

# --- correctness first
check_answers "$PORT" yes || { echo "not ok - bench: resolverd gave wrong answers"; exit 1; }
log "check: resolverd's per-requester answers correct"
warm resolverd "$RPID" "$PORT"
saturate resolverd "$RPID" "$PORT"
RSS=$(tree_sum proc_rss "$RPID")

if [ "$SMOKE" = 1 ]; then
  stop $RPID
  grep -E 'ERROR: AddressSanitizer|runtime error' "$WORK/resolverd.log" && { echo "not ok - bench: sanitizer report"; exit 1; }
  if awk -v q="$MEDIAN" 'BEGIN { exit !(q > 0) }'; then
    echo "ok - bench smoke: resolverd answered $MEDIAN QPS from 127.0.0.2 ($PEERS peers)"; exit 0
  fi
  echo "not ok - bench smoke: no queries answered"; exit 1
fi

if [ "$QPS_ONLY" = 1 ]; then
  stop $RPID
  printf 'growth\t%s\t%.0f\t%s\t%s\t%s\n' "$PEERS" "$MEDIAN" "${MIN%.*}-${MAX%.*}" "$RSS" "$STARTUP"
  exit 0
fi
fixed_rate resolverd "$RPID" "$PORT"
R_STARTUP=$STARTUP

# a committed policy edit to the new answer, 100 edits while dnsperf runs at 10k QPS
taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $PORT -d "$QF" -l 60 -c 4 -Q 10000 >"$WORK/edit-load.log" 2>&1 & LOADPID=$!
PIDS+=($LOADPID)
EDITS=$(python3 "$SRC/bench/edit_latency.py" "$WORK/policy.db" 127.0.0.1 $PORT 100)
stop $LOADPID
log "policy edit to answer over 100 edits under load: $EDITS"
stop $RPID
grep -E 'ERROR: AddressSanitizer|runtime error' "$WORK/resolverd.log" && { echo "not ok - bench: sanitizer report"; exit 1; }

# --- cached recursion pass-through: names outside the community, resolverd vs Unbound forwarding
if have_pkg unbound; then
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
  printf 'zone:\n    name: web.test.\n    zonefile: "web.test.zone"\n' >> "$WORK/nsd/nsd.conf"
  stop $NSD_PID
  taskset -c 1 nsd -d -c "$WORK/nsd/nsd.conf" >>"$WORK/nsd/out.log" 2>&1 & NSD_PID=$!; PIDS+=($NSD_PID)
  wait_answer "$NSD_PORT" "$NSD_PID" "$(now)" ns.web.test A 127.0.0.1 \
    || { echo "not ok - bench: upstream NSD did not answer for web.test: $(tail -n 3 "$WORK/nsd/out.log")"; exit 1; }
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
  QF=$WORK/data/web-queries.txt
  # pass_run NAME PORT PID T0: once it answers, warm, then REPS runs at saturation of the web.test queries
  pass_run() {
    if ! wait_answer "$2" "$3" "$4" w00001.web.test A 198.18; then
      log "$1 did not answer for web.test"; FAILED+=("$1 did not answer for web.test"); return 1
    fi
    warm "$1 pass-through" "$3" "$2"
    saturate "$1 pass-through" "$3" "$2"
  }
  PASS="failed"
  t0=$(now)
  taskset -c 0 "$RESOLVERD" -c "$WORK/resolverd.conf" -f 2>>"$WORK/resolverd.log" & RPID=$!; PIDS+=($RPID)
  pass_run resolverd $PORT $RPID "$t0" && PASS_R=$MEDIAN PASS_RC=$CPU_MED
  stop $RPID
  t0=$(now)
  taskset -c 0 unbound -d -c "$WORK/unbound-fwd.conf" >"$WORK/unbound-fwd.log" 2>&1 & UPID=$!; PIDS+=($UPID)
  pass_run unbound-forward $UPORT $UPID "$t0" && [ -n "${PASS_R:-}" ] && PASS=$(printf 'resolverd %.0f QPS (%.1f us/answer), Unbound forwarding %.0f QPS (%.1f us/answer), QPS ratio %.2f' \
    "$PASS_R" "$PASS_RC" "$MEDIAN" "$CPU_MED" "$(echo "$PASS_R / $MEDIAN" | bc -l)")
  stop $UPID
  QF=$WORK/data/queries.txt
else
  PASS="skipped: the Debian package unbound is not installed"
  log "cached recursion pass-through $PASS"
fi

# --- the anchors, one at a time, each checked before it is measured
if [ "$ANCHORS" = 1 ]; then
  for a in "${ANCHOR_LIST[@]}"; do
    server=${a%-*} threads=${a##*-}; threads=${threads%t}
    if [ "$server" != resolverd ] && ! have_pkg "$server"; then
      log "skipping $a: the Debian package $server is not installed (apt-get install $server)"
      printf '%s\tskipped: Debian package %s not installed\n' "$a" "$server" >> "$WORK/table.tsv"
      continue
    fi
    dir=$WORK/$a; mkdir -p "$dir/db"
    aport=$(free_port)
    if [ "$server" = resolverd ]; then
      # the main run's config, another port and number of threads
      sed -e "s/^listen: .*/listen: 127.0.0.1@$aport/" -e "s/^threads: .*/threads: $threads/" \
        "$WORK/resolverd.conf" > "$dir/resolverd.conf"
    else
      render "$server.conf" "$dir" "$aport" "$threads" > "$dir/$server.conf"
    fi
    pin=(taskset -c 0); [ "$threads" = 1 ] || pin=()     # more than one thread: unpinned, both CPUs
    case $server in
      unbound) cmd=(unbound -d -c "$dir/unbound.conf");;
      nsd) cmd=(nsd -d -c "$dir/nsd.conf");;
      knot) cmd=(knotd -c "$dir/knot.conf");;
      resolverd) cmd=("$RESOLVERD" -c "$dir/resolverd.conf" -f);;
    esac
    log "=== $a: ${cmd[*]} (port $aport)"
    t0=$(now)
    "${pin[@]}" "${cmd[@]}" >"$dir/out.log" 2>&1 & apid=$!; PIDS+=($apid)
    if ! wait_srv "$aport" "$apid" "$t0"; then
      log "$a did not answer: $(tail -n 3 "$dir/out.log")"
      FAILED+=("$a did not start (log: $dir/out.log)"); stop $apid
      printf '%s\tFAILED: did not start\n' "$a" >> "$WORK/table.tsv"; continue
    fi
    policy=no; [ "$server" = unbound ] || [ "$server" = resolverd ] && policy=yes
    if ! check_answers "$aport" $policy; then
      FAILED+=("$a gave wrong answers"); stop $apid
      printf '%s\tFAILED: wrong answers, not measured\n' "$a" >> "$WORK/table.tsv"; continue
    fi
    log "check: $a's answers correct (startup ${STARTUP}s)"
    warm "$a" "$apid" "$aport"
    saturate "$a" "$apid" "$aport"
    fixed_rate "$a" "$apid" "$aport"
    stop $apid
  done
fi

# --- the table
versions() {
  printf 'dnsperf %s' "$(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
  have_pkg unbound && printf ', unbound %s' "$(unbound -V | awk '/^Version/ {print $2}')"
  have_pkg nsd && printf ', nsd %s' "$(nsd -v 2>&1 | awk '/^NSD version/ {print $3}')"
  have_pkg knot && printf ', knot %s' "$(knotd -V | awk '{print $NF}')"
  echo
}
printf '\nPolicy SRV answers, %s peers, dnsperf -c %s -q %s -l %s from 127.0.0.2 (CPU 1), one-thread servers on CPU 0 (2t: unpinned, sharing CPU 1 with dnsperf), median of %s\n' \
  "$PEERS" "$CLIENTS" "$OUTST" "$DUR" "$REPS"
printf '%s; %s CPUs, load average at the start %s, at the end %s\n' "$(versions)" "$(nproc)" "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %8s %17s %9s %9s %9s %7s %7s %7s %9s %9s\n' server QPS "[min-max]" "CPU/ans" "lat@10k" "CPU@10k" "RSS" "PSS" "start" "QPS" "CPU/ans"
printf '%-12s %8s %17s %9s %9s %9s %7s %7s %7s %9s %9s\n' "" "" "" "(us)" "(ms)" "(cores)" "(MB)" "(MB)" "(s)" "res/this" "this/res"
read -r _ RQ _ _ RC _ < "$WORK/table.tsv"
while IFS=$'\t' read -r name q mn mx c lat fix rss pss st; do
  if [ -z "$mn" ]; then printf '%-12s %s\n' "$name" "$q"; continue; fi
  if [ "$(echo "$q > 0 && $c > 0" | bc)" != 1 ]; then printf '%-12s FAILED: no answers\n' "$name"; continue; fi
  printf '%-12s %8.0f %17s %9.1f %9.3f %9.3f %7.1f %7.1f %7.2f %9.2f %9.2f\n' "$name" "$q" "[$(printf '%.0f-%.0f' "$mn" "$mx")]" "$c" \
    "$(echo "$lat * 1000" | bc -l)" "$fix" "$(echo "$rss / 1024" | bc -l)" "$(echo "$pss / 1024" | bc -l)" "$st" \
    "$(echo "$RQ / $q" | bc -l)" "$(echo "$c / $RC" | bc -l)"
done < "$WORK/table.tsv"
echo "(CPU/ans: the server's CPU time over a saturation run, every thread and process, per answer;"
echo " res/this: resolverd's QPS over this server's; this/res: this server's CPU per answer over resolverd's)"
printf '\nStartup to the first correct answer (%s peers): %.3f s\n' "$PEERS" "$R_STARTUP"
printf 'Policy edit to answer, 100 edits under a 10k QPS load: %s\n' "$EDITS"
printf 'Cached recursion pass-through (%s names outside the community): %s\n' "$PEERS" "$PASS"
for f in "${FAILED[@]}"; do echo "bench: FAILED: $f" >&2; done
[ "${#FAILED[@]}" = 0 ]
