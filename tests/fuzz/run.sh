#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time over its committed corpus.
#
#   tests/fuzz/run.sh BUILD TARGET SECONDS [WORKDIR] [LIBFUZZER-FLAGS...]
#
# BUILD is a build directory configured with --enable-fuzzers (CC=clang),
# TARGET one of the fuzz_* programs of tests/fuzz, SECONDS the time limit.
# The committed corpus tests/fuzz/corpus/TARGET is read, never written: new
# inputs go to WORKDIR/corpus/TARGET (default WORKDIR: BUILD/fuzz-work),
# crashes to WORKDIR/artifacts/TARGET-crash-*. Prints one line
#
#   TARGET: N executions in S s (E/s), cov C, ft F, corpus K inputs; no crash
#
# (or "...; CRASH: FILE" with the sanitizer's report before it) and exits
# non-zero on a crash, a leak, a timeout or an out-of-memory. Each target's
# own flags (the largest input, leak checking) are set here, and its
# dictionary tests/fuzz/TARGET.dict passed when there is one.
set -uo pipefail

if [ $# -lt 3 ]; then
    echo "usage: tests/fuzz/run.sh BUILD TARGET SECONDS [WORKDIR] [LIBFUZZER-FLAGS...]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$1" && pwd) || exit 2
TARGET=$2
SECONDS_MAX=$3
WORK=${4:-$BUILD/fuzz-work}
shift $(($# < 4 ? $# : 4))
BIN=$BUILD/tests/fuzz/$TARGET
if [ ! -x "$BIN" ]; then
    echo "$TARGET: $BIN not built (configure with CC=clang --enable-fuzzers)" >&2
    exit 2
fi

case $TARGET in
    fuzz_query) flags=(-max_len=4096) ;;
    fuzz_tcp_frames) flags=(-max_len=8192) ;;
    fuzz_sink_stream) flags=(-max_len=4200) ;;
    fuzz_config) flags=(-max_len=8192) ;;
    fuzz_zone) flags=(-max_len=8192) ;;
    fuzz_policydb) flags=(-max_len=2048) ;;
    *) flags=() ;;
esac

if [ -f "$HERE/$TARGET.dict" ]; then
    flags+=(-dict="$HERE/$TARGET.dict")
fi

mkdir -p "$WORK/corpus/$TARGET" "$WORK/artifacts"
LOG=$WORK/$TARGET.log
rm -f "$WORK/artifacts/$TARGET"-*
start=$(date +%s)
"$BIN" -max_total_time="$SECONDS_MAX" -print_final_stats=1 -timeout=10 -rss_limit_mb=3072 \
    -artifact_prefix="$WORK/artifacts/$TARGET-" "${flags[@]}" "$@" \
    "$WORK/corpus/$TARGET" "$HERE/corpus/$TARGET" >"$LOG" 2>&1 </dev/null
rc=$?
elapsed=$(($(date +%s) - start))

# the last status line: "#N ... cov: C ft: F corp: K/SIZE" (with -fork:
# "#N: cov: C ft: F corp: K exec/s ..."); the final stats when printed
last=$(grep -E '^#[0-9]+' "$LOG" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -n 1)
[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
rate=$(( ${execs:-0} / (elapsed > 0 ? elapsed : 1) ))
line="$TARGET: ${execs:-0} executions in $elapsed s ($rate/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} inputs"
artifact=$(ls "$WORK/artifacts/$TARGET"-* 2>/dev/null | head -n 1)
if [ "$rc" -ne 0 ] || [ -n "$artifact" ]; then
    grep -E -m 1 -A 25 'ERROR: |runtime error:|^fuzz_[a-z_]*: ' "$LOG" | sed 's/^/    /'
    echo "$line; CRASH (exit $rc): ${artifact:-no input saved}, log $LOG"
    exit 1
fi
echo "$line; no crash"
