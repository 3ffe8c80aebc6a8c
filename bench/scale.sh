#!/bin/bash
# bench/scale.sh -- the policy as the community grows: 1k, 10k and 100k
# domains (10 rules per domain, so 10k, 100k and 1M rules; 50 groups),
# optionally before and after a change, in one run.
#
# For each size and each build:
#   bench/policy_scale  snapshot build time (a full policydb_load, median of
#                       3), decision time computed and cached, and (builds
#                       that have it) the time to apply one committed edit
#                       of each kind (policydb_apply)
#   memprobe            the snapshot's memory, measured alike for every build
#   resolverd           start-up to the first answer, RSS at start and after
#                       the edits (and its peak), and edit to answer: EDITS
#                       committed edits (the sqlite3 library, as any writer),
#                       each timed from the moment its commit returned to
#                       the first answer that shows it (UDP from 127.0.0.2,
#                       polled every ms; the writer's fsync is not counted,
#                       nor any checkpoint: it makes none), while
#                       dnsperf sends QPS queries a second from 127.0.0.3
#                       (unidentified: answered from the snapshot, no upstream);
#                       dnsperf and the edits run on CPU 1, resolverd anywhere
#
# The edit flips one rule (d000000 -> d000001, priority -1000000) between
# allow and deny; d000001 has one SRV target in the database, so an allowed
# answer is that target and a denied one the sink, and no answer waits for an
# upstream. One edit before the measured ones is not counted (a build without
# reload_adopt() makes its base snapshot at start; see docs/design.md).
#
# Usage: bench/scale.sh [DOMAINS...]                 (default: 1000 10000 100000)
# Env:   BEFORE=REV   also measure git revision REV (built from `git archive`)
#        BUILD=DIR    the build of this tree (default build-bench/, configured -O2)
#        DATA=DIR     keep the generated databases there and reuse them
#        EDITS=100  QPS=10000  KEEP=1 (keep the work directory)
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build-bench}
SIZES=${*:-1000 10000 100000}
EDITS=${EDITS:-100}
QPS=${QPS:-10000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/resolverd-scale.XXXXXX")
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
log() { echo "[$(date +%T)] $*" >&2; }
for need in python3 sqlite3 dig dnsperf taskset; do
  command -v $need >/dev/null || { echo "scale: $need not found" >&2; exit 1; }
done

# build DIR SRCDIR: configure (-O2) and build resolverd and policy_scale there
build() {
  mkdir -p "$1"
  (cd "$1" && { [ -f Makefile ] || "$2/configure" CFLAGS="-O2 -g" >/dev/null; } &&
   make -j2 resolverd/resolverd bench/policy_scale >/dev/null) || { echo "scale: build in $1 failed" >&2; exit 1; }
}
[ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
VERSIONS=(after)
declare -A BIN SRCOF
build "$BUILD" "$SRC"
BIN[after]=$BUILD
SRCOF[after]=$SRC
if [ -n "${BEFORE:-}" ]; then
  mkdir -p "$WORK/before-src"
  git -C "$SRC" archive "$BEFORE" | tar -x -C "$WORK/before-src" || { echo "scale: no revision $BEFORE" >&2; exit 1; }
  (cd "$WORK/before-src" && autoreconf -fi) >/dev/null 2>&1
  build "$WORK/before-build" "$WORK/before-src"
  BIN[before]=$WORK/before-build
  SRCOF[before]=$WORK/before-src
  VERSIONS=(before after)
fi

# the snapshot's memory, measured the same way for every build (only policydb_load and
# policy_free, which every version has): RSS after a load, with a load before it freed
# (code and SQLite's own state) and the connection closed, less RSS before it
cat > "$WORK/memprobe.c" <<'C'
#include "config.h"
#include "policy.h"
#include "policydb.h"
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>
static long rss(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	if (f)
		fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}
int main(int argc, char **argv)
{
	char err[512];
	sqlite3 *db = policydb_open(argv[1], 1, err, sizeof(err));
	if (!db)
		return 1;
	policy_free(policydb_load(db, err, sizeof(err)));
	sqlite3_close(db);
	malloc_trim(0);
	long r0 = rss();
	db = policydb_open(argv[1], 1, err, sizeof(err));
	struct policy *p = db ? policydb_load(db, err, sizeof(err)) : NULL;
	sqlite3_close(db);
	malloc_trim(0);
	printf("%ld\n", p ? rss() - r0 : -1);
	policy_free(p);
	return 0;
}
C
memprobe() {
  [ -x "${BIN[$1]}/memprobe" ] ||
    gcc -O2 -I"${BIN[$1]}" -I"${SRCOF[$1]}/resolverd" -o "${BIN[$1]}/memprobe" "$WORK/memprobe.c" \
      "${BIN[$1]}/resolverd/libresolverd.a" -lsqlite3 -lpthread || { echo "scale: memprobe failed to build" >&2; exit 1; }
  "${BIN[$1]}/memprobe" "$2"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" /proc/$1/status; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# community N: the database of N domains, generated once (DATA keeps it)
community() {
  local n=$1 dir=${DATA:-$WORK} db
  db=$dir/c$n.db
  if [ ! -f "$db" ]; then
    mkdir -p "$dir"
    log "generating $n domains, $((n * 10)) rules"
    sqlite3 "$db" < "$SRC/dbtools/schema.sql" >/dev/null
    # identities are checked against every other one (bare and /32 forms): quadratic at
    # 100,000; the generator's are distinct by construction, so that check is left out
    # while it runs and put back as it was
    local trig
    trig=$(sqlite3 "$db" "SELECT sql FROM sqlite_master WHERE name = 'identities_refs_insert'")
    { echo "DROP TRIGGER identities_refs_insert;"
      python3 "$SRC/bench/gen_community.py" "$n" 50 $((n * 10))
      echo "$trig;"; } | sqlite3 "$db" >/dev/null || { echo "scale: generating $db failed" >&2; exit 1; }
  fi
  echo "$db"
}

# policy_scale VERSION DB: its header and values as "name=value" words
policy_scale() {
  "${BIN[$1]}/bench/policy_scale" "$2" 200000 $((EDITS < 40 ? EDITS : 40)) 2>"$WORK/ps.err" |
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i } NR == 2 { for (i = 1; i <= NF; i++) printf "%s=%s ", h[i], $i }'
}

# the edit loop: python3 $WORK/edit.py DB PORT EDITS PID prints resolverd's RSS (KiB) after the
# first edit (not counted), then p50/p99/max (ms) from each commit to the answer (p99: nearest rank)
cat > "$WORK/edit.py" <<'PY'
import math, socket, sqlite3, struct, sys, time
db, port, edits, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
qname = b"".join(bytes([len(l)]) + l for l in b"_xmpp-server._tcp.d000001.example".split(b".")) + b"\0"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.2", 0))
sock.settimeout(0.2)
qid = 0
def is_sink():
    global qid
    qid = (qid + 1) & 0xffff
    sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\x21\0\x01", ("127.0.0.1", port))
    while True:
        data, _ = sock.recvfrom(4096)
        if struct.unpack(">H", data[:2])[0] == qid:
            return b"\x04sink" in data
conn = sqlite3.connect(db, timeout=10, isolation_level=None)
# no checkpoint inside a measured commit: that is the writer's time, not resolverd's
conn.execute("PRAGMA wal_autocheckpoint = 0")
# the edited rule by its id: the edit itself is one row, committed at once
rid = conn.execute("SELECT id FROM rules WHERE note = 'scale edit'").fetchone()[0]
times = []
rss = "?"
for i in range(edits + 1):
    deny = i % 2 == 0
    # from the commit on: the writer's own time (its fsync) is not resolverd's
    conn.execute("UPDATE rules SET action = ? WHERE id = ?", ("deny" if deny else "allow", rid))
    t0 = time.monotonic()
    while True:
        try:
            if is_sink() == deny:
                break
        except socket.timeout:
            pass
        if time.monotonic() - t0 > 60:
            print("timeout", file=sys.stderr)
            break
        time.sleep(0.001)
    if i > 0:
        times.append((time.monotonic() - t0) * 1000)
    else:
        time.sleep(0.5)  # the loop lets go of the snapshot it started with
        rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0]
    time.sleep(0.02)
times.sort()
rank = lambda q: times[max(0, math.ceil(q * len(times)) - 1)]
print("%s %.1f/%.1f/%.1f" % (rss, rank(0.50), rank(0.99), times[-1]))
PY

# serve VERSION DB: resolverd's start-up, RSS and edit to answer with this database
serve() {
  local v=$1 db=$2 port rpid t0 start=TIMEOUT perf rss0 rss1 hwm lat
  port=$(free_port)
  cat > "$WORK/r.conf" <<CONF
listen: 127.0.0.1@$port
database: $db
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
forward: 127.0.0.1@9
rate-limit: 0
rate-limit-identified: 0
verbosity: 1
CONF
  t0=$(date +%s.%N)
  # not pinned: the watcher builds off the loop's thread, on whichever core is free
  "${BIN[$v]}/resolverd/resolverd" -c "$WORK/r.conf" -f 2>"$WORK/r-$v.log" & rpid=$!
  PIDS+=($rpid)
  for _ in $(seq 1 3000); do
    if dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" -b 127.0.0.2 _xmpp-server._tcp.d000001.example SRV 2>/dev/null |
       grep -q '^0 0 5269 '; then
      start=$(echo "$(date +%s.%N) - $t0" | bc); break; fi
    sleep 0.01
  done
  rss0=$(kib $rpid VmRSS)
  # the load: unidentified SRV lookups of community domains, answered from the snapshot
  python3 -c "
import random; random.seed(5); n = $3
for _ in range(20000): print('_xmpp-server._tcp.d%06d.example SRV' % random.randrange(n))" > "$WORK/q.txt"
  # dnsperf in runs of 5 s until the edits are done, so that no query is cut off
  rm -f "$WORK/edits.done" "$WORK/perf-$v.log"
  (while [ ! -e "$WORK/edits.done" ]; do
     taskset -c 1 dnsperf -a 127.0.0.3 -s 127.0.0.1 -p "$port" -d "$WORK/q.txt" -l 5 -c 4 -Q "$QPS" 2>&1
   done >"$WORK/perf-$v.log") & perf=$!
  PIDS+=($perf)
  sleep 1
  read -r rss_steady lat < <(taskset -c 1 python3 "$WORK/edit.py" "$db" "$port" "$EDITS" "$rpid")
  touch "$WORK/edits.done"
  wait $perf 2>/dev/null
  rss1=$(kib $rpid VmRSS); hwm=$(kib $rpid VmHWM)
  kill $rpid; wait $rpid 2>/dev/null
  local lost sent
  lost=$(awk '/Queries lost:/ {n += $3} END {print n + 0}' "$WORK/perf-$v.log")
  sent=$(awk '/Queries sent:/ {n += $3} END {print n + 0}' "$WORK/perf-$v.log")
  echo "startup_s=$start rss_start_mib=$(mib "$rss0") rss_steady_mib=$(mib "$rss_steady") rss_after_edits_mib=$(mib "$rss1") rss_peak_mib=$(mib "$hwm") edit_p50/p99/max_ms=$lat load_sent=$sent load_lost=$lost"
}

printf '# %s, %s cores, load average %s; EDITS=%s QPS=%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$EDITS" "$QPS"
for n in $SIZES; do
  pristine=$(community "$n")
  for v in "${VERSIONS[@]}"; do
    # a copy per build: the edits go into its audit log; the probe peer's target and the edited rule
    db=$WORK/run-$v-$n.db
    sqlite3 "$pristine" ".backup '$db'"
    sqlite3 "$db" "INSERT INTO targets (domain, port, host) VALUES ('d000001.example', 5269, 'xmpp.d000001.example');
      INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note) VALUES
        (-1000000, 'domain', 'd000000.example', 'domain', 'd000001.example', 'allow', 'scale edit'),
        (-1000000, 'domain', 'd000001.example', 'domain', 'd000000.example', 'allow', 'scale reverse');" ||
      { echo "scale: preparing $db failed" >&2; exit 1; }
    log "$v, $n domains: policy_scale"
    ps=$(policy_scale "$v" "$db")
    mem=$(memprobe "$v" "$db")
    log "$v, $n domains: resolverd under load, $EDITS edits"
    sv=$(serve "$v" "$db" "$n")
    echo "version=$v $ps snapshot_mib_measured=$(mib "$mem") $sv load=$(cut -d' ' -f1 /proc/loadavg)"
  done
done
