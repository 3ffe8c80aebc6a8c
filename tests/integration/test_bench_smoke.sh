#!/usr/bin/env bash
# The benchmark's smoke test, bench/run.sh --smoke, with the build's resolverd,
# as a TAP test: its "ok"/"not ok" lines, its other output as comments.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_bench_smoke.sh
#
# CHECK_BENCH=0 skips it (scripts/check.sh does for the sanitizer build).

set -u
. "$(dirname "$0")/../lib.sh"

[ "${CHECK_BENCH:-1}" = 0 ] && skip_all "CHECK_BENCH=0"
[ -x "$SRCDIR/bench/run.sh" ] || skip_all "no bench/run.sh"
require_resolverd

make_tmpdir T
RESOLVERD=$RESOLVERD "$SRCDIR/bench/run.sh" --smoke >"$T/out" 2>&1 </dev/null
rc=$?
while IFS= read -r line; do
    case $line in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        *) printf '# %s\n' "$line" ;;
    esac
done <"$T/out"
if [ "$rc" -ne 0 ] && [ "$TESTS_FAILED" -eq 0 ]; then
    not_ok "bench/run.sh --smoke exited $rc"
elif [ $((TESTS_PASSED + TESTS_FAILED)) -eq 0 ]; then
    not_ok "bench/run.sh --smoke printed no result (exit $rc)"
fi
# bench/identity.sh: plain UDP, TSIG, TCP and DoT against one resolverd, a second each
if [ -x "$SRCDIR/bench/identity.sh" ]; then
    RESOLVERD=$RESOLVERD CHPOLICY=$CHPOLICY DUR=1 REPS=1 TMPDIR=$T "$SRCDIR/bench/identity.sh" >"$T/identity.out" 2>&1 </dev/null
    rc=$?
    assert_eq "bench/identity.sh runs" 0 "$rc"
    rows=$(grep -cE '^\| (UDP|TCP|DoT) \| .* \| [1-9][0-9]* \| [0-9.]+ \|$' "$T/identity.out")
    assert_eq "... and reports QPS and CPU per answer for its four modes" 4 "$rows"
    assert_not_match "... every answer NOERROR" "response codes" "$(cat "$T/identity.out")"
fi
finish
