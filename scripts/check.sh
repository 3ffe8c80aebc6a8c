#!/usr/bin/env bash
# Build everything and run every test; the README's test command.
#
#   ./scripts/check.sh          (from any directory)
#
# 1. installs the Debian packages (scripts/deps.sh --e2e; fast when present),
# 2. builds out of tree twice: build/ (--enable-werror) and build-san/
#    (--enable-sanitizers --enable-werror, AddressSanitizer + UBSan),
# 3. runs for each build: the unit tests (make check), tests/schema,
#    tests/cli (chpolicy) and tests/integration (resolverd with NSD and dig;
#    for build/ a second time with the upstream as stub zones),
# 4. runs the end-to-end tests (tests/e2e: Prosody and ejabberd federating
#    through resolverd in network namespaces) with the build/ binary,
# 5. runs the benchmark smoke test (bench/run.sh --smoke) when there is one,
# 6. counts every assertion ("ok"/"not ok" lines, automake PASS/FAIL) and ends
#    with the line "N passed, N failed"; the exit status is non-zero on any
#    failure.
#
# Logs: build-logs/ in the source tree. Environment: CHECK_SKIP_DEPS=1 skips
# step 1, CHECK_BUILDS="build build-san" chooses the builds, JOBS (default 2).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
LOGDIR=$ROOT/build-logs
JOBS=${JOBS:-2}
BUILDS=${CHECK_BUILDS:-build build-san}
STEP_TIMEOUT=${CHECK_STEP_TIMEOUT:-900}
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.log

PASSED=0
FAILED=0
FAILURES=()
START=$(date +%s)

pass() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); printf 'not ok - %s\n' "$*"; }
section() { printf '\n=== %s\n' "$*"; }

# show_tail LOG [N]: the end of a log, indented, for a failed step.
show_tail() { tail -n "${2:-40}" "$1" | sed 's/^/    /'; }
# show_error LOG: a sanitizer report's first lines when there is one, else the end.
show_error() {
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; then
        grep -m 1 -A 10 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1" | sed 's/^/    /'
    else
        show_tail "$1" 20
    fi
}

# count_tap NAME LOG RC: add a test script's "ok"/"not ok" lines to the totals;
# a script that failed without a "not ok" line (crash, missing) is one failure.
count_tap() {
    local name=$1 log=$2 rc=$3 p f
    p=$(grep -cE '^ok( [0-9]+)?( |$)' "$log")
    f=$(grep -cE '^not ok( [0-9]+)?( |$)' "$log")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if [ "$f" -gt 0 ]; then
        while IFS= read -r line; do FAILURES+=("$name: ${line#not ok - }"); done \
            < <(grep -E '^not ok( [0-9]+)?( |$)' "$log")
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$name exited with status $rc without a failed assertion (see $log)"
        show_error "$log"
    elif [ "$rc" -eq 0 ] && [ "$f" -gt 0 ]; then
        fail "$name reported failures but exited 0"
    fi
    printf -- '--- %s: %d passed, %d failed (exit %d)\n' "$name" "$p" "$f" "$rc"
}

# run_script NAME LOG COMMAND...: run a TAP-like test script with a time
# limit, its output to the terminal and LOG, and count it.
run_script() {
    local name=$1 log=$2 rc
    shift 2
    if [ ! -f "$1" ]; then
        fail "$name: $1 does not exist"
        return
    fi
    timeout --kill-after=10 "$STEP_TIMEOUT" bash "$@" 2>&1 </dev/null | tee "$log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 124 ] && echo "not ok - $name timed out after ${STEP_TIMEOUT}s" | tee -a "$log"
    count_tap "$name" "$log" "$rc"
}

# count_automake BUILD: the unit test results of `make check` in BUILD: per
# test, its own ok/not ok lines when it prints some, else its PASS/FAIL.
# Sets UNIT_COUNT to the number of tests found.
count_automake() {
    local b=$1 trs res log p f n=0 t
    while IFS= read -r trs; do
        n=$((n + 1))
        t=${trs#"$ROOT/$b/"}
        res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
        log=${trs%.trs}.log
        p=0 f=0
        if [ -f "$log" ]; then
            p=$(grep -cE '^ok( [0-9]+)?( |$)' "$log")
            f=$(grep -cE '^not ok( [0-9]+)?( |$)' "$log")
        fi
        if [ $((p + f)) -eq 0 ]; then
            case $res in
                PASS | XFAIL) pass "$b unit: ${t%.trs} $res" ;;
                SKIP) echo "SKIP - $b unit: ${t%.trs}" ;;
                *) fail "$b unit: ${t%.trs} ${res:-no result}"; [ -f "$log" ] && show_error "$log" ;;
            esac
        else
            PASSED=$((PASSED + p))
            FAILED=$((FAILED + f))
            while IFS= read -r line; do FAILURES+=("$b unit ${t%.trs}: ${line#not ok - }"); done \
                < <(grep -E '^not ok( [0-9]+)?( |$)' "$log")
            case $res in
                PASS | XFAIL | SKIP) ;;
                *) if [ "$f" -eq 0 ]; then fail "$b unit: ${t%.trs} $res after $p passed assertions"; show_error "$log"; fi ;;
            esac
            printf -- '--- %s unit %s: %d passed, %d failed (%s)\n' "$b" "${t%.trs}" "$p" "$f" "$res"
        fi
    done < <(find "$ROOT/$b" -name '*.trs' -newer "$LOGDIR/.check-start" | sort)
    UNIT_COUNT=$n
}

touch "$LOGDIR/.check-start"

# ------------------------------------------------------------------ dependencies

section "dependencies"
if [ -n "${CHECK_SKIP_DEPS:-}" ]; then
    echo "skipped (CHECK_SKIP_DEPS)"
elif "$ROOT/scripts/deps.sh" --e2e >"$LOGDIR/deps.log" 2>&1 </dev/null; then
    tail -n 1 "$LOGDIR/deps.log"
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
if [ ! -x "$ROOT/configure" ]; then
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
        if ! (cd "$ROOT/$b" && ../configure $args) >"$LOGDIR/$b-configure.log" 2>&1; then
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

for b in "${BUILT[@]}"; do
    B=$ROOT/$b

    section "$b: unit tests (make check)"
    find "$B" -name '*.trs' -delete 2>/dev/null
    timeout "$STEP_TIMEOUT" make -C "$B" -j"$JOBS" check >"$LOGDIR/$b-check.log" 2>&1 </dev/null
    rc=$?
    grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):' "$LOGDIR/$b-check.log" | sed 's/^/    /'
    count_automake "$b"
    if [ "$rc" -ne 0 ] && [ "$UNIT_COUNT" -eq 0 ]; then
        fail "$b: make check (status $rc, no test ran)"
        show_tail "$LOGDIR/$b-check.log" 30
    elif [ "$rc" -ne 0 ] && ! grep -qE '^# (FAIL|ERROR|XPASS): +[1-9]' "$B/test-suite.log" 2>/dev/null; then
        fail "$b: make check exited $rc"
        show_tail "$LOGDIR/$b-check.log" 30
    elif [ "$rc" -eq 0 ] && [ "$UNIT_COUNT" -eq 0 ]; then
        echo "    (no unit test results found)"
    fi

    section "$b: schema tests"
    run_script "$b schema" "$LOGDIR/$b-schema.log" "$ROOT/tests/schema/test_schema.sh" "$ROOT"

    section "$b: chpolicy tests"
    run_script "$b chpolicy" "$LOGDIR/$b-chpolicy.log" "$ROOT/tests/cli/test_chpolicy.sh" "$ROOT" "$B/dbtools/chpolicy"

    section "$b: integration tests (resolverd, NSD, dig)"
    run_script "$b integration" "$LOGDIR/$b-integration.log" "$ROOT/tests/integration/test_resolverd.sh" "$ROOT" "$B"
    section "$b: live policy (edits under load, expiry, broken database)"
    run_script "$b live policy" "$LOGDIR/$b-live-policy.log" "$ROOT/tests/integration/test_live_policy.sh" "$ROOT" "$B"
    section "$b: DNSSEC (signed and bogus zones, AD bit, RRSIG pass-through)"
    run_script "$b dnssec" "$LOGDIR/$b-dnssec.log" "$ROOT/tests/integration/test_dnssec.sh" "$ROOT" "$B"
    section "$b: sink modes (host, refuse, listener)"
    run_script "$b sink modes" "$LOGDIR/$b-sink-modes.log" "$ROOT/tests/integration/test_sink_modes.sh" "$ROOT" "$B"
    if [ "$b" = build ]; then
        section "$b: integration tests, upstream through stub-zone instead of forward"
        RESOLVERD_UPSTREAM=stub run_script "$b integration (stub-zone)" "$LOGDIR/$b-integration-stub.log" \
            "$ROOT/tests/integration/test_resolverd.sh" "$ROOT" "$B"
        section "$b: make distcheck (the release tarball builds, tests and installs)"
        if timeout "$STEP_TIMEOUT" make -C "$B" -j"$JOBS" distcheck >"$LOGDIR/$b-distcheck.log" 2>&1 </dev/null; then
            pass "$b: make distcheck"
        else
            fail "$b: make distcheck"
            show_tail "$LOGDIR/$b-distcheck.log" 30
        fi
    fi
done

# ------------------------------------------------------------------ end to end

# Real XMPP servers (Prosody, ejabberd) in network namespaces, a real client
# (slixmpp); the plain build's resolverd. Prints SKIP (never a pass) where the
# machine cannot create namespaces.
for b in "${BUILT[@]}"; do
    [ "$b" = build ] || continue
    section "end-to-end tests (Prosody, ejabberd, slixmpp in network namespaces)"
    run_script "e2e" "$LOGDIR/e2e.log" "$ROOT/tests/e2e/run.sh" "$ROOT" "$ROOT/$b/resolverd/resolverd"
done

# ------------------------------------------------------------------ bench smoke

if [ -x "$ROOT/bench/run.sh" ]; then
    section "benchmark smoke test"
    # the plain (optimised, unsanitized) build's binary, when it built
    bench_env=()
    for b in "${BUILT[@]}"; do
        [ "$b" = build ] && bench_env=(RESOLVERD="$ROOT/build/resolverd/resolverd")
    done
    env "${bench_env[@]}" timeout --kill-after=10 "$STEP_TIMEOUT" "$ROOT/bench/run.sh" --smoke \
        >"$LOGDIR/bench-smoke.log" 2>&1 </dev/null
    rc=$?
    cat "$LOGDIR/bench-smoke.log"
    if grep -qE '^(not )?ok( [0-9]+)?( |$)' "$LOGDIR/bench-smoke.log"; then
        count_tap "bench smoke" "$LOGDIR/bench-smoke.log" "$rc"
    elif [ "$rc" -eq 0 ]; then
        pass "bench/run.sh --smoke"
    else
        fail "bench/run.sh --smoke exited $rc"
    fi
fi

# ------------------------------------------------------------------ summary

section "summary ($(( $(date +%s) - START )) s, logs in $LOGDIR)"
if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo "failures:"
    for f in "${FAILURES[@]}"; do printf '  - %s\n' "$f"; done
fi
if [ $((PASSED + FAILED)) -eq 0 ]; then
    FAILED=1
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
