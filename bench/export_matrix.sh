#!/bin/bash
# bench/export_matrix.sh -- rows per second and peak memory of
# `chpolicy export matrix` (CSV and JSON Lines) on a synthetic community
# (bench/gen_community.py: 10 rules per domain, 50 groups).
#
# Usage: bench/export_matrix.sh [DOMAINS] [SECONDS]   (default: 10000 30)
#
# Each format runs for SECONDS, writing into `wc -l`; the rows counted give
# the rate, the whole matrix's time (DOMAINS x DOMAINS rows, 10^8 at 10,000
# domains) is extrapolated from it. FULL=1 then also writes the whole matrix
# once per format and measures it (/usr/bin/time: seconds, peak RSS). The peak
# RSS (VmHWM) is read after 2 s and at the end: equal figures show that
# memory does not grow with the rows (the export streams). BUILD: a build
# tree (default build-bench, configured and built here when missing);
# TMPDIR: where the database is made.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$SRC/build-bench}
N=${1:-10000}
SECS=${2:-30}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/export-matrix.XXXXXX")
CPID=
trap '[ -n "$CPID" ] && kill "$CPID" 2>/dev/null; rm -rf "$WORK"' EXIT
[ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi) >/dev/null 2>&1
mkdir -p "$BUILD"
(cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" CFLAGS="-O2 -g" >/dev/null; } && make -j2 dbtools/chpolicy >/dev/null) \
  || { echo "export_matrix: build failed" >&2; exit 1; }
CH=$BUILD/dbtools/chpolicy
db=$WORK/c$N.db
sqlite3 "$db" <"$SRC/dbtools/schema.sql" >/dev/null
python3 "$SRC/bench/gen_community.py" "$N" 50 $((N * 10)) | sqlite3 "$db" >/dev/null
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
printf 'format\tdomains\trules\trows\tseconds\trows_per_s\tpeak_rss_kib_2s\tpeak_rss_kib_end\tfull_matrix_rows\tfull_matrix_s_extrapolated\n'
for fmt in csv json; do
  "$CH" --db "$db" export matrix --format "$fmt" > >(wc -l >"$WORK/rows") &
  CPID=$!
  t0=$(date +%s.%N)
  sleep 2
  early=$(hwm "$CPID")
  sleep $((SECS - 2))
  late=$(hwm "$CPID")
  kill "$CPID" 2>/dev/null
  wait "$CPID" 2>/dev/null
  t1=$(date +%s.%N)
  CPID=
  sleep 0.5   # wc -l ends when the pipe closes
  rows=$(cat "$WORK/rows")
  el=$(echo "$t1 - $t0" | bc)
  rate=$(echo "$rows / $el" | bc)
  full=$((N * N))
  printf '%s\t%d\t%d\t%d\t%.1f\t%d\t%s\t%s\t%d\t%d\n' "$fmt" "$N" $((N * 10)) "$rows" "$el" "$rate" \
    "$early" "$late" "$full" "$(echo "$full / $rate" | bc)"
done
[ "${FULL:-0}" = 1 ] || exit 0
printf '\nformat\tdomains\trows_written\tseconds\trows_per_s\tpeak_rss_kib\n'
for fmt in csv json; do
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$CH" --db "$db" export matrix --format "$fmt" | wc -l >"$WORK/rows"
  read -r el rss <"$WORK/time"
  rows=$(cat "$WORK/rows")
  printf '%s\t%d\t%d\t%s\t%d\t%s\n' "$fmt" "$N" "$rows" "$el" "$(echo "$rows / $el" | bc)" "$rss"
done
