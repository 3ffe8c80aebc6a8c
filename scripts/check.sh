#!/usr/bin/env bash
# Build everything and run every test; the README's test command.
#
#   ./scripts/check.sh          (from any directory)
#
# 1. installs the Debian packages (scripts/deps.sh --e2e; fast when present),
# 2. builds out of tree twice: build/ (--enable-werror) and build-san/
#    (--enable-sanitizers --enable-werror, AddressSanitizer + UBSan),
# 3. runs `make check` in each: every test (unit, schema, chpolicy,
#    integration, end-to-end, benchmark smoke) through automake's TAP driver.
#    The end-to-end test, the benchmark smoke test and the Debian package
#    test (build, lintian, install, purge) run for build/ only (CHECK_E2E=0
#    CHECK_BENCH=0 CHECK_PACKAGE=0 for build-san/, where they count as
#    skipped),
# 4. runs `make distcheck` for build/: the release tarball builds, installs
#    and passes its tests (there too without the end-to-end, benchmark
#    smoke and package tests, which build/ just ran),
# 5. adds up each build's test-suite.log (# PASS, # FAIL, # ERROR, # XPASS,
#    # SKIP) and its own steps (dependencies, configure, make, distcheck),
#    shows the failing tests' logs, and ends with the line "N passed, N failed";
#    the exit status is non-zero on any failure.
#
# Logs: build-logs/ in the source tree, and each build's test-suite.log and
# per-test logs (build/tests/integration/test_resolverd.log, ...).
# Environment: CHECK_SKIP_DEPS=1 skips step 1, CHECK_BUILDS="build build-san"
# chooses the builds, CHECK_DISTCHECK=0 skips step 4, JOBS (default 2),
# CHECK_STEP_TIMEOUT (seconds, default 1800) bounds each make; each test has
# its own time limit too (TEST_TIMEOUT in Makefile.am). CHECK_FUZZ=0 skips the
# bounded fuzzing (FUZZ_SECONDS per libFuzzer target, in build-fuzz/).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
LOGDIR=$ROOT/build-logs
JOBS=${JOBS:-2}
BUILDS=${CHECK_BUILDS:-build build-san}
STEP_TIMEOUT=${CHECK_STEP_TIMEOUT:-1800}
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.log

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
START=$(date +%s)

pass() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); printf 'not ok - %s\n' "$*"; }
section() { printf '\n=== %s\n' "$*"; }

# show_tail LOG [N]: the end of a log, indented, for a failed step.
show_tail() { tail -n "${2:-40}" "$1" | sed 's/^/    /'; }

# show_test_log LOG: what a failed test said: its failed assertions and
# bail-outs with the diagnostics below them, sanitizer reports, else its end.
show_test_log() {
    local log=$1
    if grep -qE '^(not ok|Bail out!)' "$log"; then
        grep -E -A 8 '^(not ok|Bail out!)' "$log" | grep -vE '^(ok|PASS:|SKIP:)' | head -n 60 | sed 's/^/    /'
    fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        grep -m 1 -A 15 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | sed 's/^/    /'
    elif ! grep -qE '^(not ok|Bail out!)' "$log"; then
        show_tail "$log" 20
    fi
}

# suite_count LOG FIELD: a count from a test-suite.log summary ("# PASS:  12").
suite_count() {
    sed -n "s/^# $2: *\([0-9][0-9]*\)\$/\1/p" "$1" | head -n 1
}

# ------------------------------------------------------------------ dependencies

section "dependencies"
if [ -n "${CHECK_SKIP_DEPS:-}" ]; then
    echo "skipped (CHECK_SKIP_DEPS)"
elif "$ROOT/scripts/deps.sh" --e2e >"$LOGDIR/deps.log" 2>&1 </dev/null; then
    pass "dependencies: $(tail -n 1 "$LOGDIR/deps.log")"
else
    fail "scripts/deps.sh installs the dependencies"
    show_tail "$LOGDIR/deps.log"
fi

# ------------------------------------------------------------------ builds

section "autoreconf"
# An in-tree build (./configure in the source directory) forbids out-of-tree
# builds: clean it away (this is what automake asks for).
if [ -f "$ROOT/config.status" ]; then
    echo "the source tree is configured in place; make distclean there first"
    make -C "$ROOT" distclean >"$LOGDIR/distclean.log" 2>&1 || true
    rm -f "$ROOT/config.status"
fi
need_autoreconf=no
if [ ! -x "$ROOT/configure" ] || [ ! -f "$ROOT/build-aux/tap-driver.sh" ]; then
    need_autoreconf=yes
else
    for f in configure.ac Makefile.am; do
        [ "$ROOT/$f" -nt "$ROOT/configure" ] && need_autoreconf=yes
        [ "$ROOT/$f" -nt "$ROOT/Makefile.in" ] && need_autoreconf=yes
    done
fi
if [ "$need_autoreconf" = yes ]; then
    if (cd "$ROOT" && autoreconf -fi) >"$LOGDIR/autoreconf.log" 2>&1; then
        echo "configure generated"
    else
        fail "autoreconf -fi"
        show_tail "$LOGDIR/autoreconf.log"
    fi
else
    echo "configure is up to date"
fi

configure_args() {
    case $1 in
        build-san) echo "--enable-sanitizers --enable-werror" ;;
        *) echo "--enable-werror" ;;
    esac
}

BUILT=()
for b in $BUILDS; do
    section "build $b ($(configure_args "$b"))"
    mkdir -p "$ROOT/$b"
    args=$(configure_args "$b")
    # configure again when the build is new or was configured differently
    if [ ! -f "$ROOT/$b/Makefile" ] || [ ! -f "$ROOT/$b/config.status" ] \
        || [ "$(cd "$ROOT/$b" && ./config.status --config 2>/dev/null | tr -d "'")" != "$args" ]; then
        # shellcheck disable=SC2086
        if (cd "$ROOT/$b" && ../configure $args) >"$LOGDIR/$b-configure.log" 2>&1; then
            pass "$b: configure $args"
        else
            fail "$b: configure $args"
            show_tail "$LOGDIR/$b-configure.log"
            continue
        fi
    fi
    if timeout "$STEP_TIMEOUT" make -C "$ROOT/$b" -j"$JOBS" >"$LOGDIR/$b-make.log" 2>&1 </dev/null; then
        pass "$b: make"
        BUILT+=("$b")
    else
        fail "$b: make"
        grep -E 'error|Error' "$LOGDIR/$b-make.log" | head -n 30 | sed 's/^/    /'
        show_tail "$LOGDIR/$b-make.log" 15
    fi
done

# ------------------------------------------------------------------ tests

# The end-to-end, benchmark smoke and package tests run for the plain build only.
check_env() {
    case $1 in
        build) echo "" ;;
        *) echo "CHECK_E2E=0 CHECK_BENCH=0 CHECK_PACKAGE=0" ;;
    esac
}

for b in "${BUILT[@]}"; do
    B=$ROOT/$b
    section "$b: make check $(check_env "$b")"
    rm -f "$B/test-suite.log"
    touch "$LOGDIR/.$b-check-start"
    t0=$(date +%s)
    # shellcheck disable=SC2046
    env $(check_env "$b") timeout --kill-after=30 "$STEP_TIMEOUT" \
        make -C "$B" -j"$JOBS" check >"$LOGDIR/$b-check.log" 2>&1 </dev/null
    rc=$?
    suite=$B/test-suite.log
    if [ ! -f "$suite" ]; then
        fail "$b: make check (exit $rc, no test-suite.log: no test ran)"
        show_tail "$LOGDIR/$b-check.log" 30
        continue
    fi
    p=$(suite_count "$suite" PASS) xf=$(suite_count "$suite" XFAIL) s=$(suite_count "$suite" SKIP)
    f=$(suite_count "$suite" FAIL) xp=$(suite_count "$suite" XPASS) e=$(suite_count "$suite" ERROR)
    t=$(suite_count "$suite" TOTAL)
    PASSED=$((PASSED + ${p:-0} + ${xf:-0}))
    FAILED=$((FAILED + ${f:-0} + ${xp:-0} + ${e:-0}))
    SKIPPED=$((SKIPPED + ${s:-0}))
    printf -- '--- %s: make check: %d passed, %d failed, %d skipped (test-suite.log: TOTAL %s, PASS %s, SKIP %s, XFAIL %s, FAIL %s, XPASS %s, ERROR %s) in %d s\n' \
        "$b" $((${p:-0} + ${xf:-0})) $((${f:-0} + ${xp:-0} + ${e:-0})) "${s:-0}" \
        "${t:-0}" "${p:-0}" "${s:-0}" "${xf:-0}" "${f:-0}" "${xp:-0}" "${e:-0}" $(( $(date +%s) - t0 ))
    # the skips with their reasons, and the failing tests' logs
    while IFS= read -r trs; do
        res=$(sed -n 's/^:global-test-result: //p' "$trs")
        log=${trs%.trs}.log
        name=${log#"$B/"}
        if grep -q '^:test-result: SKIP' "$trs"; then
            grep -E '^(ok .*# SKIP|1\.\.0 # SKIP)' "$log" | sed "s|^|    skipped: ${name%.log}: |"
        fi
        case $res in
            FAIL | ERROR | XPASS)
                FAILURES+=("$b: $name ($res)")
                printf '  %s: %s (%s)\n' "$b" "$name" "$res"
                show_test_log "$log"
                ;;
        esac
    done < <(find "$B/tests" -name '*.trs' -newer "$LOGDIR/.$b-check-start" | sort)
    if [ "$rc" -ne 0 ] && [ $((${f:-0} + ${xp:-0} + ${e:-0})) -eq 0 ]; then
        fail "$b: make check exited $rc without a failed test"
        show_tail "$LOGDIR/$b-check.log" 30
    fi
done

# ------------------------------------------------------------------ distcheck

for b in "${BUILT[@]}"; do
    [ "$b" = build ] && [ "${CHECK_DISTCHECK:-1}" != 0 ] || continue
    section "$b: make distcheck (the release tarball builds, tests and installs)"
    t0=$(date +%s)
    if env CHECK_E2E=0 CHECK_BENCH=0 CHECK_PACKAGE=0 CHECK_SLOW=0 timeout --kill-after=30 "$STEP_TIMEOUT" \
        make -C "$ROOT/$b" -j"$JOBS" distcheck >"$LOGDIR/$b-distcheck.log" 2>&1 </dev/null; then
        pass "$b: make distcheck ($(( $(date +%s) - t0 )) s)"
    else
        fail "$b: make distcheck"
        grep -E '^(FAIL|XPASS|ERROR):' "$LOGDIR/$b-distcheck.log" | sed 's/^/    /'
        show_tail "$LOGDIR/$b-distcheck.log" 30
    fi
done

# ------------------------------------------------------------------ fuzzing

# A bounded search with every libFuzzer target of tests/fuzz (README.md
# there) when clang has libFuzzer: build-fuzz/ (CC=clang --enable-fuzzers),
# FUZZ_SECONDS (default 20) per target, over the committed corpus; a crash,
# a leak or a broken invariant fails it. CHECK_FUZZ=0 skips it.
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
fuzz_args="CC=clang --enable-fuzzers --enable-werror"
if [ "${CHECK_FUZZ:-1}" != 0 ]; then
    section "fuzzing (libFuzzer, $FUZZ_SECONDS s per target)"
    F=$ROOT/build-fuzz
    if ! printf 'int LLVMFuzzerTestOneInput(const void *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
        | clang -fsanitize=fuzzer -x c - -o "$LOGDIR/fuzz-probe" >"$LOGDIR/fuzz-probe.log" 2>&1; then
        SKIPPED=$((SKIPPED + 1))
        echo "skipped: no clang with libFuzzer (scripts/deps.sh installs clang libclang-rt-dev)"
    elif ! { mkdir -p "$F" && { [ "$(cd "$F" && ./config.status --config 2>/dev/null | tr -d "'")" = "$fuzz_args" ] \
        || (cd "$F" && ../configure $fuzz_args) >"$LOGDIR/build-fuzz-configure.log" 2>&1; }; }; then
        fail "build-fuzz: configure $fuzz_args"
        show_tail "$LOGDIR/build-fuzz-configure.log"
    elif ! timeout "$STEP_TIMEOUT" make -C "$F" -j"$JOBS" >"$LOGDIR/build-fuzz-make.log" 2>&1 </dev/null; then
        fail "build-fuzz: make"
        grep -E 'error|Error' "$LOGDIR/build-fuzz-make.log" | head -n 30 | sed 's/^/    /'
    else
        pass "build-fuzz: make ($fuzz_args)"
        for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
            t=$(basename "$src" .c)
            if out=$("$ROOT/tests/fuzz/run.sh" "$F" "$t" "$FUZZ_SECONDS" 2>&1); then
                pass "$(tail -n 1 <<<"$out")"
            else
                fail "$(tail -n 1 <<<"$out")"
                sed '$d' <<<"$out"
            fi
        done
    fi
fi

# ------------------------------------------------------------------ summary

section "summary ($(( $(date +%s) - START )) s, logs in $LOGDIR and each build's test-suite.log)"
if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo "failures:"
    for f in "${FAILURES[@]}"; do printf '  - %s\n' "$f"; done
fi
if [ $((PASSED + FAILED)) -eq 0 ]; then
    fail "no test ran"
fi
echo "skipped: $SKIPPED (not counted as passed)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
