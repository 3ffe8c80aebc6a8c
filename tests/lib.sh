# Shared helpers for the shell test scripts. Source it:
#
#   . "$(dirname "$0")/../lib.sh"
#
# Gives: where things are (SRCDIR, BUILDDIR, RESOLVERD, CHPOLICY), pass/fail
# counters and TAP output ("ok - ...", "not ok - ...", "ok - ... # SKIP ...",
# the plan "1..N" printed by finish at the end, "Bail out!" on a fatal setup
# error, "1..0 # SKIP reason" for a script that cannot run here), assertions,
# a free port finder, bounded waits, dig output parsers, start/stop of NSD and
# resolverd, and a cleanup trap that stops every process started here and
# removes every temporary directory made here, on success, on failure and on
# interrupt. `make check` runs the scripts through automake's TAP driver.
#
# Every wait is bounded in time. Processes are stopped by their own pid (each
# runs in its own session, so its children go with it), never by name.

TESTS_PASSED=0
TESTS_FAILED=0
TESTS_SKIPPED=0
_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_LIB_PIDS=()
_LIB_TMPDIRS=()

# ---------------------------------------------------------------- where things are

# SRCDIR: the source tree (the one this file is in). BUILDDIR: the build tree;
# `make check` exports abs_top_builddir, RESOLVERD and CHPOLICY; by hand,
# BUILDDIR=DIR or RESOLVERD=BINARY, default build/ when it holds a build, else
# the source tree (an in-tree build). Tests write only to temporary directories.
SRCDIR=$(cd "$_LIB_DIR/.." && pwd)
if [ -n "${abs_top_builddir:-}" ]; then
    BUILDDIR=$abs_top_builddir
elif [ -z "${BUILDDIR:-}" ]; then
    BUILDDIR=$SRCDIR
    [ -x "$SRCDIR/build/resolverd/resolverd" ] && BUILDDIR=$SRCDIR/build
fi
BUILDDIR=$(cd "$BUILDDIR" && pwd)
RESOLVERD=${RESOLVERD:-$BUILDDIR/resolverd/resolverd}
CHPOLICY=${CHPOLICY:-$BUILDDIR/dbtools/chpolicy}
case $RESOLVERD in /*) ;; *) RESOLVERD=$PWD/$RESOLVERD ;; esac
case $CHPOLICY in /*) ;; *) CHPOLICY=$PWD/$CHPOLICY ;; esac

# ---------------------------------------------------------------- output

ok() {
    TESTS_PASSED=$((TESTS_PASSED + 1))
    printf 'ok - %s\n' "$*"
}

not_ok() {
    TESTS_FAILED=$((TESTS_FAILED + 1))
    printf 'not ok - %s\n' "$*"
}

# diag TEXT...: a comment line, indented output for a failure's details.
diag() {
    local line
    printf '%s\n' "$@" | while IFS= read -r line; do printf '#   %s\n' "$line"; done
}

# assert_eq DESC EXPECTED ACTUAL
assert_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected: $2" "actual:   $3"
        return 1
    fi
}

# assert_ne DESC UNEXPECTED ACTUAL
assert_ne() {
    if [ "$2" != "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected anything but: $2"
        return 1
    fi
}

# assert_match DESC ERE ACTUAL
assert_match() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected to match: $2" "actual:" "$3"
        return 1
    fi
}

# assert_not_match DESC ERE ACTUAL
assert_not_match() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        not_ok "$1"
        diag "expected not to match: $2" "actual:" "$3"
        return 1
    else
        ok "$1"
    fi
}

# assert_le DESC LIMIT ACTUAL (integers)
assert_le() {
    if [[ "$3" =~ ^[0-9]+$ ]] && [ "$3" -le "$2" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "expected an integer <= $2, got: '$3'"
        return 1
    fi
}

# assert_cmd DESC COMMAND...: ok when the command exits 0.
assert_cmd() {
    local desc=$1 out rc
    shift
    out=$("$@" 2>&1) && rc=0 || rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "$desc"
    else
        not_ok "$desc"
        diag "command: $*" "exit status: $rc" "$out"
        return 1
    fi
}

# skip DESC REASON: not run, and never counted as a pass (TAP "# SKIP").
skip() {
    TESTS_SKIPPED=$((TESTS_SKIPPED + 1))
    printf 'ok - %s # SKIP %s\n' "$1" "$2"
}

# skip_all REASON: the whole script cannot run here (a tool, a permission is
# missing): the TAP plan "1..0 # SKIP REASON", exit 0. Before any result only.
skip_all() {
    if [ $((TESTS_PASSED + TESTS_FAILED + TESTS_SKIPPED)) -gt 0 ]; then
        bail "skip_all after results were printed: $*"
    fi
    printf '1..0 # SKIP %s\n' "$*"
    exit 0
}

# require_tools TOOL...: skip the whole script when a command is missing.
require_tools() {
    local t
    local -a missing=()
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ "${#missing[@]}" -eq 0 ] || skip_all "missing: ${missing[*]} (scripts/deps.sh installs them)"
}

# require_long_run: skip a long test when CHECK_SLOW=0 (check.sh sets it for
# make distcheck, which proves the tarball complete; the long tests run in
# the plain and the sanitizer builds).
require_long_run() {
    [ "${CHECK_SLOW:-1}" = 0 ] && skip_all "CHECK_SLOW=0 (a long test; it runs in the main builds)"
    return 0
}

# require_resolverd: bail out when there is no resolverd binary to test.
require_resolverd() {
    [ -x "$RESOLVERD" ] || bail "resolverd binary exists at $RESOLVERD (build first)"
}

# finish: print the plan and a summary, return the exit status of the script.
finish() {
    printf '1..%d\n' $((TESTS_PASSED + TESTS_FAILED + TESTS_SKIPPED))
    printf '# %d passed, %d failed, %d skipped\n' "$TESTS_PASSED" "$TESTS_FAILED" "$TESTS_SKIPPED"
    [ "$TESTS_FAILED" -eq 0 ]
}

# bail DESC...: a fatal setup error: "Bail out!" (an error for the TAP
# driver) and exit (cleanup runs).
bail() {
    printf 'Bail out! %s\n' "$*"
    exit 1
}

# ---------------------------------------------------------------- time

# now_ms: milliseconds since the epoch.
now_ms() {
    local ns
    ns=$(date +%s%N)
    printf '%s\n' $((ns / 1000000))
}

# ---------------------------------------------------------------- temp dirs, cleanup

# make_tmpdir VAR: make a temporary directory, set VAR to its path; cleanup
# removes it (KEEP_TMP=1 keeps it). Not `dir=$(make_tmpdir)`: a subshell would
# lose the record.
make_tmpdir() {
    local _d
    _d=$(mktemp -d "${TMPDIR:-/tmp}/clearinghouse-test.XXXXXX") || return 1
    _LIB_TMPDIRS+=("$_d")
    printf -v "$1" '%s' "$_d"
}

# track_pid PID: stop PID (and its session) at cleanup.
track_pid() {
    _LIB_PIDS+=("$1")
}

# stop_pid PID [TIMEOUT_SECONDS]: SIGTERM to the process (and its process group
# when it leads one), wait at most TIMEOUT (default 5) seconds, then SIGKILL.
# Returns 0 when it ended after SIGTERM, 1 when it had to be killed or was gone.
stop_pid() {
    local pid=$1 timeout=${2:-5} deadline rc=0
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Each started process leads its own process group (setsid): signal the group.
    if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    else
        kill -TERM "$pid" 2>/dev/null
    fi
    deadline=$(( $(now_ms) + timeout * 1000 ))
    while kill -0 "$pid" 2>/dev/null; do
        # a zombie child of ours: reap it
        if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = "Z" ]; then
            break
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
            rc=1
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
    # whatever is left of its group (server children of NSD, for instance)
    kill -KILL -- "-$pid" 2>/dev/null
    return $rc
}

# on_cleanup COMMAND...: run COMMAND at cleanup, after the tracked processes
# are stopped and before the temporary directories are removed.
_LIB_HOOKS=()
on_cleanup() {
    _LIB_HOOKS+=("$*")
}

cleanup() {
    local rc=$? pid d h
    trap - EXIT INT TERM
    for pid in "${_LIB_PIDS[@]}"; do
        stop_pid "$pid" 3 || true
    done
    _LIB_PIDS=()
    for h in "${_LIB_HOOKS[@]}"; do
        eval "$h"
    done
    _LIB_HOOKS=()
    if [ -z "${KEEP_TMP:-}" ]; then
        for d in "${_LIB_TMPDIRS[@]}"; do
            case $d in
                */clearinghouse-test.*) rm -rf -- "$d" ;;
            esac
        done
    else
        for d in "${_LIB_TMPDIRS[@]}"; do printf '# kept %s\n' "$d"; done
    fi
    _LIB_TMPDIRS=()
    return $rc
}

_LIB_START_MS=$(now_ms)
_lib_on_signal() {
    printf 'Bail out! interrupted by a signal after %d s (a time limit?)\n' $(( ($(now_ms) - _LIB_START_MS) / 1000 ))
    cleanup
    exit 130
}

trap cleanup EXIT
trap _lib_on_signal INT TERM

# ---------------------------------------------------------------- ports, DNS

# free_port: print a port that is free for UDP and TCP on 127.0.0.1 and ::1,
# and on the wildcard addresses (a client's TIME-WAIT socket on that port
# keeps a server from binding 0.0.0.0 to it). Outside the kernel's range of
# ports for outgoing connections, so that no client takes it meanwhile.
free_port() {
    python3 - <<'EOF'
import random, socket, sys
def free(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"),
                      (socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(fam, typ)
            try:
                s.bind((addr, port))
            except OSError:
                return False
            finally:
                s.close()
    return True
for _ in range(200):
    p = random.randint(20000, 32700)
    if free(p):
        print(p)
        sys.exit(0)
sys.exit(1)
EOF
}

# wait_until TIMEOUT_SECONDS PID COMMAND...: run COMMAND every 0.1 s until it
# succeeds. Returns 1 on timeout, 2 when PID (a server's process; "" for none)
# has exited. Runs in the current shell, so a signal is handled between polls.
wait_until() {
    local timeout=$1 pid=$2 deadline
    shift 2
    deadline=$(( $(now_ms) + timeout * 1000 ))
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 2
        fi
        sleep 0.1
    done
}

# dns_answers PORT NAME SERVER [SOURCE]: 0 when SERVER answers a query for
# NAME (any RCODE). With NETNS set, dig runs in that network namespace.
dns_answers() {
    local -a pre=() b=()
    [ -n "${NETNS:-}" ] && pre=(ip netns exec "$NETNS")
    [ -n "${4:-}" ] && b=(-b "$4")
    "${pre[@]}" dig "${b[@]}" -p "$1" "@$3" "$2" +time=1 +tries=1 2>&1 | grep -q 'status: '
}

# wait_for_dns PORT NAME [SERVER] [TIMEOUT_SECONDS] [SOURCE] [PID]: wait until
# a DNS server answers (any RCODE) a query for NAME on SERVER (default
# 127.0.0.1). Default timeout 20 s. Returns 1 on timeout, 2 when PID (the
# server's process, if given) has exited. NETNS=NAME asks from a namespace.
wait_for_dns() {
    wait_until "${4:-20}" "${6:-}" dns_answers "$1" "$2" "${3:-127.0.0.1}" "${5:-}"
}

# ---------------------------------------------------------------- dig output

# The parts of dig's full output (the text of one answer, as an argument).
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1" | head -n 1; }
flags_of() { sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<<"$1" | head -n 1; }
# has_flag OUTPUT FLAG: the header has FLAG (aa, ad, tc, ra, ...)
has_flag() { [[ " $(flags_of "$1") " == *" $2 "* ]]; }
size_of() { sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$1" | head -n 1; }
ancount_of() { sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p' <<<"$1" | head -n 1; }
# answer lines: "owner ttl class type rdata..."
answer_of() { awk '/^;; ANSWER SECTION:/ { f = 1; next } /^$/ { f = 0 } f' <<<"$1"; }
# rdata_type OUTPUT TYPE: sorted rdata of the records of one type only (skips CNAMEs, RRSIGs)
rdata_type() { answer_of "$1" | awk -v t="$2" '$4 == t { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' | sort; }
# ttl_of OUTPUT TYPE: the TTL of the first answer record of TYPE
ttl_of() { answer_of "$1" | awk -v t="$2" '$4 == t { print $2; exit }'; }
max_ttl_of() { answer_of "$1" | awk 'BEGIN { m = -1 } { if ($2 + 0 > m) m = $2 + 0 } END { print m }'; }

# ---------------------------------------------------------------- NSD

# render_template IN OUT VAR=VALUE...: replace @VAR@ with VALUE.
render_template() {
    local in=$1 out=$2 kv k v
    shift 2
    local -a sedargs=()
    for kv in "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        v=${v//\\/\\\\}
        v=${v//|/\\|}
        v=${v//&/\\&}
        sedargs+=(-e "s|@${k}@|${v}|g")
    done
    sed "${sedargs[@]}" "$in" >"$out"
}

# start_nsd DIR PORT ZONESRC [TEMPLATE]: write an NSD config in DIR from
# TEMPLATE (default: tests/integration/nsd.conf.in next to this file; @DIR@ and
# @PORT@ are replaced) plus one zone stanza per ZONESRC/*.zone (zone name = file
# name without .zone), start `nsd -d` on 127.0.0.1@PORT in the background and
# wait (bounded) until it answers. Sets NSD_PID and NSD_PORT. Log: DIR/nsd.log.
# With NETNS set, NSD runs in that network namespace.
start_nsd() {
    local dir=$1 port=$2 zsrc=$3 tmpl=${4:-$_LIB_DIR/integration/nsd.conf.in} f z
    NSD_PORT=$port
    mkdir -p "$dir/zones"
    cp "$zsrc"/*.zone "$dir/zones/" || return 1
    render_template "$tmpl" "$dir/nsd.conf" DIR="$dir" PORT="$port" || return 1
    for f in "$dir"/zones/*.zone; do
        z=$(basename "$f" .zone)
        printf '\nzone:\n    name: "%s"\n    zonefile: "%s"\n' "$z" "$(basename "$f")"
    done >>"$dir/nsd.conf"
    if ! nsd-checkconf "$dir/nsd.conf" >"$dir/nsd-checkconf.out" 2>&1; then
        echo "nsd-checkconf rejected $dir/nsd.conf:" >&2
        cat "$dir/nsd-checkconf.out" >&2
        return 1
    fi
    local -a pre=()
    [ -n "${NETNS:-}" ] && pre=(ip netns exec "$NETNS")
    setsid "${pre[@]}" nsd -d -c "$dir/nsd.conf" >>"$dir/nsd.log" 2>&1 </dev/null &
    NSD_PID=$!
    track_pid "$NSD_PID"
    z=$(basename "$(ls "$dir"/zones/*.zone | head -n 1)" .zone)
    if ! wait_for_dns "$port" "$z" 127.0.0.1 15 "" "$NSD_PID"; then
        echo "nsd did not answer on port $port; its log:" >&2
        cat "$dir/nsd.log" >&2
        return 1
    fi
}

# ---------------------------------------------------------------- resolverd

# start_resolverd BIN CONF LOG [EXTRA ARGS...]: start `resolverd -c CONF -f`
# in the background, stderr and stdout to LOG. Sets RESOLVERD_PID.
# Sanitizer runtimes are told to log and abort on the first error.
start_resolverd() {
    local bin=$1 conf=$2 log=$3
    shift 3
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        setsid "$bin" -c "$conf" -f "$@" >>"$log" 2>&1 </dev/null &
    RESOLVERD_PID=$!
    track_pid "$RESOLVERD_PID"
}

# new_policy_db DB: a fresh policy database from dbtools/schema.sql plus the
# SQL on standard input, through the sqlite3 shell (stops at the first error).
new_policy_db() {
    sqlite3 "$1" <"$SRCDIR/dbtools/schema.sql" >/dev/null && sqlite3 -bail "$1"
}

# run_resolverd NAME [LISTEN-LINES]: start resolverd with the config lines on
# standard input plus listen (LISTEN-LINES with @PORT@ for the port, default
# "listen: 127.0.0.1@@PORT@"), database ($DB) and zone-file; the config is
# T/NAME.conf, the log T/NAME.log. Waits (bounded) until it answers, bails
# otherwise. Sets PORT, LOG and RESOLVERD_PID. Needs T, DB and RESOLVERD.
run_resolverd() {
    local name=$1 listen=${2:-listen: 127.0.0.1@@PORT@}
    PORT=$(free_port) || bail "a free port for resolverd"
    {
        printf '%s\n' "${listen//@PORT@/$PORT}"
        printf 'database: %s\nzone-file: %s\nusername: root\n' "$DB" "$SRCDIR/zones/clearinghouse.test.zone"
        cat
    } >"$T/$name.conf"
    LOG=$T/$name.log
    start_resolverd "$RESOLVERD" "$T/$name.conf" "$LOG" -v 2
    wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 20 127.0.0.1 "$RESOLVERD_PID" \
        || bail "resolverd ($name) starts: $(tail -n 5 "$LOG")"
}

# sanitizer_errors LOG: print sanitizer reports found in LOG; 0 when there are some.
sanitizer_errors() {
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$1" 2>/dev/null
}
