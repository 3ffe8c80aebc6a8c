#!/bin/bash
# bench/scale.sh -- policy growth at 1k, 10k and 100k domains (10 rules per
# domain, 50 groups): snapshot build time, decision time computed and cached,
# snapshot memory, and resolverd's RSS and start-up with that database.
#
# Usage: bench/scale.sh [DOMAINS...]     (default: 1000 10000 100000)
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build-bench}
SIZES=${*:-1000 10000 100000}
WORK=$(mktemp -d /tmp/resolverd-scale.XXXXXX)
trap 'kill $RPID 2>/dev/null; rm -rf "$WORK"' EXIT
RPID=
[ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
mkdir -p "$BUILD"
(cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" CFLAGS="-O2 -g" >/dev/null; } && make -j2 resolverd/resolverd bench/policy_scale >/dev/null) \
  || { echo "scale: build failed" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'domains\trules\tbuild_ms_median\tbuild_ms_min\tbuild_ms_max\tdecide_ns_computed\tdecide_ns_cached\tallowed_pct\tsnapshot_rss_kib\tcache_rss_kib\tresolverd_rss_kib\tresolverd_startup_s\tdb_mib\n'
for n in $SIZES; do
  db=$WORK/c$n.db
  sqlite3 "$db" < "$SRC/dbtools/schema.sql" >/dev/null
  python3 "$SRC/bench/gen_community.py" "$n" 50 $((n * 10)) | sqlite3 "$db"
  line=$("$BUILD/bench/policy_scale" "$db" 200000 | tail -1)
  cat > "$WORK/r.conf" <<CONF
listen: 127.0.0.1@$PORT
database: $db
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
verbosity: 1
CONF
  t0=$(date +%s.%N)
  "$BUILD/resolverd/resolverd" -c "$WORK/r.conf" -f 2>"$WORK/r.log" & RPID=$!
  start=TIMEOUT
  for i in $(seq 1 1000); do
    if dig +short +tries=1 +time=1 @127.0.0.1 -p $PORT -b 127.0.0.2 sink.clearinghouse.test A 2>/dev/null | grep -qx 127.0.0.1; then
      start=$(echo "$(date +%s.%N) - $t0" | bc); break; fi
    sleep 0.01
  done
  rss=$(ps -o rss= -p $RPID | tr -d ' ')
  kill $RPID; wait $RPID 2>/dev/null; RPID=
  printf '%s\t%s\t%s\t%s\n' "$line" "$rss" "$start" "$(du -m "$db" | cut -f1)"
done
