#!/bin/bash
# bench/run.sh -- resolverd side by side with the stock anchors, in one run.
#
# Builds resolverd optimised, generates the anchors' community (10,000 domains
# peerNNNNN.example; 127.0.0.2 may reach even peers, .3 odd peers, .4 all)
# as our policy database, serves the real SRV records from NSD on loopback,
# and loads resolverd with the anchors' dnsperf flags and CPU pinning.
#
# Usage: bench/run.sh [--smoke] [--no-anchors] [--peers N]
#   --smoke       a few seconds, 1,000 peers, no anchors: proves the bench runs
#   --no-anchors  only resolverd
# Env: RESOLVERD (a binary to use instead of building), DUR (s, default 10), REPS (default 3), CLIENTS (10), OUTST (100), KEEP=1 keeps the work dir.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANCHORS_DIR=${ANCHORS_DIR:-$SRC/../shared/bench/anchors}
SMOKE=0; ANCHORS=1; PEERS=10000
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; ANCHORS=0; PEERS=1000; DUR=${DUR:-2}; REPS=${REPS:-1};;
    --no-anchors) ANCHORS=0;;
    --peers) PEERS=$2; shift;;
    -h|--help) sed -n '2,14p' "$0"; exit 0;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2;;
  esac
  shift
done
DUR=${DUR:-10}; REPS=${REPS:-3}; CLIENTS=${CLIENTS:-10}; OUTST=${OUTST:-100}
WORK=$(mktemp -d /tmp/resolverd-bench.XXXXXX)
NSD_PORT=5390; PORT=5391
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
print("BEGIN;")
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
print("COMMIT;")
PY
sqlite3 "$WORK/policy.db" < "$SRC/dbtools/schema.sql" >/dev/null
sqlite3 "$WORK/policy.db" < "$WORK/policy.sql"

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
runs=()
for r in $(seq 1 "$REPS"); do
  c0=$(cpu_ticks $RPID)
  out=$(taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -p $PORT -d "$WORK/data/queries.txt" -l "$DUR" -c "$CLIENTS" -q "$OUTST" 2>&1)
  c1=$(cpu_ticks $RPID)
  qps=$(awk '/Queries per second:/{print $4}' <<<"$out")
  lost=$(awk '/Queries lost:/{print $3}' <<<"$out")
  lat=$(awk '/Average Latency/{print $4}' <<<"$out")
  cpu=$(echo "scale=2; ($c1 - $c0) / $(getconf CLK_TCK) / $DUR" | bc)
  log "resolverd run $r: qps=$qps lost=$lost avg_latency=${lat}s server_cpu=${cpu} cores"
  runs+=("$qps")
done
RSS=$(ps -o rss= -p $RPID)
MEDIAN=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
MIN=$(printf '%s\n' "${runs[@]}" | sort -n | head -1); MAX=$(printf '%s\n' "${runs[@]}" | sort -n | tail -1)
kill $RPID; wait $RPID 2>/dev/null
grep -E 'ERROR: AddressSanitizer|runtime error' "$WORK/resolverd.log" && { echo "not ok - bench: sanitizer report"; exit 1; }

if [ "$SMOKE" = 1 ]; then
  if awk -v q="$MEDIAN" 'BEGIN { exit !(q > 0) }'; then
    echo "ok - bench smoke: resolverd answered $MEDIAN QPS from 127.0.0.2 ($PEERS peers)"; exit 0
  fi
  echo "not ok - bench smoke: no queries answered"; exit 1
fi

printf '\n%-28s %12s %22s %10s %8s\n' server "QPS median" "[min-max]" "RSS MB" ratio
printf '%-28s %12.0f %22s %10.1f %8s\n' "resolverd (policy, 1 thread)" "$MEDIAN" "[$MIN-$MAX]" "$(echo "$RSS/1024" | bc -l)" "1.00"
if [ "$ANCHORS" = 1 ]; then
  RES=$WORK/anchors DUR=$DUR REPS=$REPS FIXQ=0 "$ANCHORS_DIR/bench.sh" unbound-1t knot-1t > "$WORK/anchors.log" 2>&1
  awk -F'\t' 'NR > 1 && $2 == "max" {print $1, $4, $5, $6, $14}' "$WORK/anchors/summary.tsv" | while read -r a q mn mx rss; do
    printf '%-28s %12.0f %22s %10.1f %8.2f\n' "$a" "$q" "[$mn-$mx]" "$(echo "$rss/1024" | bc -l)" "$(echo "$MEDIAN/$q" | bc -l)"
  done
  echo "(ratio = resolverd QPS / anchor QPS; dnsperf -c $CLIENTS -q $OUTST -l $DUR from 127.0.0.2 on CPU 1, servers on CPU 0)"
fi
