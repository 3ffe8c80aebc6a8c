#!/usr/bin/env bash
# Quick start: install, build, and run resolverd with a demo policy.
#
#   ./scripts/quickstart.sh            run resolverd in the foreground (Ctrl-C stops it)
#   ./scripts/quickstart.sh --check    run the demo queries, check them, stop, exit 0/1
#
# 1. installs the Debian packages (scripts/deps.sh),
# 2. builds in build/ (./configure && make),
# 3. creates a demo policy database with chpolicy:
#    alpha.test (level 3, requester 127.0.0.2), bravo.test (level 2, requester
#    127.0.0.3), charlie.test (level 3, requester 127.0.0.4); level 3 servers
#    talk to each other, alpha and bravo talk to each other,
# 4. starts NSD on a free loopback port as the demo's upstream, serving the
#    three domains' real SRV records (stopped when this script exits),
# 5. starts resolverd on 127.0.0.1 port 5300 (PORT=...), checks an allowed and
#    a denied lookup of the same peer, prints the dig commands, and stays in
#    the foreground with its log.
#
# Any step that fails stops the script with one line naming the step and its
# log, and a non-zero exit; what it started is stopped.
# Demo files and logs: /tmp/clearinghouse-demo (DEMO_DIR=...), remade on every
# run. CHPOLICY=... and RESOLVERD=... use those binaries instead of the build's.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${PORT:-5300}
DEMO=${DEMO_DIR:-/tmp/clearinghouse-demo}
MODE=run
case ${1:-} in
    --check) MODE=check ;;
    "") ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

STEP="0/5 demo directory"
step() { STEP=$1; printf '\n== %s\n' "$*"; }   # step NAME [DETAIL]

# fail WHAT [LOG]: the end of LOG, then one line naming the step that failed,
# what failed and the log; exit 1 (the EXIT trap stops what was started).
fail() {
    trap - ERR
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        tail -n 20 "$2" | sed 's/^/  | /' >&2
    fi
    echo "quickstart: step $STEP failed: $1${2:+ (log: $2)}" >&2
    exit 1
}
# Any other command that fails fails loudly too.
set -E
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# run LOG COMMAND...: COMMAND with its output appended to LOG; fail if it fails.
run() {
    local log=$1 rc=0
    shift
    "$@" >>"$log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "$(basename "$1")${2:+ ${*:2}} exited with status $rc" "$log"
}

# Only ever remove a directory that looks like ours.
if [ -d "$DEMO" ] && [ ! -f "$DEMO/.clearinghouse-demo" ] && [ -n "$(ls -A "$DEMO")" ]; then
    fail "$DEMO exists and is not a demo directory; set DEMO_DIR"
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/zones-src"
touch "$DEMO/.clearinghouse-demo"

# ------------------------------------------------------------------ 1. deps

step "1/5 dependencies" "(scripts/deps.sh, log: $DEMO/deps.log)"
run "$DEMO/deps.log" "$ROOT/scripts/deps.sh"
tail -n 1 "$DEMO/deps.log"

# ------------------------------------------------------------------ 2. build

step "2/5 build" "(log: $DEMO/build.log)"
if [ -f "$ROOT/config.status" ]; then
    # configured in place already: build there (out-of-tree needs a clean tree)
    BUILD=$ROOT
else
    BUILD=$ROOT/build
fi
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] \
    || [ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
    run "$DEMO/build.log" autoreconf -fi "$ROOT"
fi
mkdir -p "$BUILD"
if [ ! -f "$BUILD/Makefile" ]; then
    run "$DEMO/build.log" env -C "$BUILD" "$ROOT/configure"
fi
run "$DEMO/build.log" make -C "$BUILD" -j2
RESOLVERD=${RESOLVERD:-$BUILD/resolverd/resolverd}
CHPOLICY=${CHPOLICY:-$BUILD/dbtools/chpolicy}
for bin in "$RESOLVERD" "$CHPOLICY"; do
    [ -x "$bin" ] || fail "$bin is not an executable" "$DEMO/build.log"
done
echo "built $RESOLVERD and $CHPOLICY"

# ------------------------------------------------------------------ 3. policy

step "3/5 demo policy" "($DEMO/policy.db)"
DB=$DEMO/policy.db
chp() { run "$DEMO/chpolicy.log" "$CHPOLICY" --db "$DB" "$@"; }
chp init
chp domain add alpha.test --level 3
chp domain add bravo.test --level 2
chp domain add charlie.test --level 3
chp identity add alpha.test 127.0.0.2/32
chp identity add bravo.test 127.0.0.3/32
chp identity add charlie.test 127.0.0.4/32
chp rule add --from 'level:>=3' --to 'level:>=3' --allow --priority 10
chp rule add --from domain:alpha.test --to domain:bravo.test --allow --priority 20
chp rule add --from domain:bravo.test --to domain:alpha.test --allow --priority 20
echo "policy written with chpolicy"
cat <<'EOF'
  alpha.test    level 3   requester 127.0.0.2
  bravo.test    level 2   requester 127.0.0.3
  charlie.test  level 3   requester 127.0.0.4
  rules: level>=3 <-> level>=3 allow; alpha.test <-> bravo.test allow; default deny
EOF

# ------------------------------------------------------------------ 4. NSD

step "4/5 upstream" "NSD with the demo zones"
[ -f "$ROOT/tests/lib.sh" ] || fail "$ROOT/tests/lib.sh is missing"
. "$ROOT/tests/lib.sh"      # start_nsd, free_port, wait_for_dns, cleanup trap
# Ctrl-C is how the demo ends: stop what was started, say so
trap 'trap - ERR; echo; echo "quickstart: interrupted, stopping resolverd and nsd"; cleanup; exit 130' INT TERM

zone() {    # zone NAME LAST-OCTET
    cat >"$DEMO/zones-src/$1.zone" <<EOF
\$ORIGIN $1.
\$TTL 3600
@       IN SOA  ns.$1. hostmaster.$1. ( 1 3600 600 604800 300 )
        IN NS   ns.$1.
ns      IN A    127.0.0.1
@       IN A    192.0.2.$2
_xmpp-server._tcp  IN SRV 0 5 5269 xmpp.$1.
_xmpps-server._tcp IN SRV 0 5 5270 xmpp.$1.
xmpp    IN A    192.0.2.$2
xmpp    IN AAAA 2001:db8::$2
EOF
}
zone alpha.test 10
zone bravo.test 20
zone charlie.test 30
cat >"$DEMO/zones-src/demo.test.zone" <<'EOF'
$ORIGIN demo.test.
$TTL 3600
@       IN SOA  ns.demo.test. hostmaster.demo.test. ( 1 3600 600 604800 300 )
        IN NS   ns.demo.test.
ns      IN A    127.0.0.1
www     IN A    192.0.2.80
EOF
NSD_PORT=$(free_port) || fail "no free port for nsd"
run "$DEMO/nsd-start.log" start_nsd "$DEMO/nsd" "$NSD_PORT" "$DEMO/zones-src"
echo "nsd serves alpha.test bravo.test charlie.test demo.test on 127.0.0.1@$NSD_PORT (pid $NSD_PID, log $DEMO/nsd/nsd.log)"

# ------------------------------------------------------------------ 5. resolverd

step "5/5 resolverd" "on 127.0.0.1 port $PORT"
if ! python3 -c "
import socket, sys
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, t)
    s.bind(('127.0.0.1', $PORT)); s.close()
" 2>/dev/null; then
    fail "port $PORT on 127.0.0.1 is in use (another resolverd?); set PORT=..."
fi
CONF=$DEMO/resolverd.conf
{
    echo "# written by scripts/quickstart.sh"
    echo "listen: 127.0.0.1@$PORT"
    echo "database: $DB"
    echo "zone-file: $ROOT/zones/clearinghouse.test.zone"
    echo "username: root"
    echo "sink-mode: host"
    echo "sink-host: sink.clearinghouse.test"
    echo "sink-port: 5269"
    echo "ttl-cap: 60"
    echo "unknown-peer: deny"
    echo "require-mutual: yes"
    echo "# dig from the default source address (127.0.0.1) may recurse"
    echo "recursion-acl: 127.0.0.1/32"
    for z in alpha.test bravo.test charlie.test demo.test; do
        echo "stub-zone: $z. 127.0.0.1@$NSD_PORT"
    done
    echo "transparent-zone: test."
    echo "policy-poll-ms: 50"
    echo "verbosity: 2"
} >"$CONF"
echo "config: $CONF"

LOG=$DEMO/resolverd.log
"$RESOLVERD" -c "$CONF" -f >"$LOG" 2>&1 &
RESOLVERD_PID=$!
track_pid "$RESOLVERD_PID"
rc=0
wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 20 127.0.0.1 "$RESOLVERD_PID" || rc=$?
case $rc in
    0) ;;
    2) fail "resolverd exited before it answered" "$LOG" ;;
    *) fail "resolverd did not answer on 127.0.0.1@$PORT within 20 s" "$LOG" ;;
esac
sleep 0.2

DIG="dig @127.0.0.1 -p $PORT"
allowed="$DIG -b 127.0.0.2 _xmpp-server._tcp.charlie.test SRV +short"
denied="$DIG -b 127.0.0.3 _xmpp-server._tcp.charlie.test SRV +short"
got_allowed=$($allowed 2>&1) || fail "$allowed: $got_allowed" "$LOG"
got_denied=$($denied 2>&1) || fail "$denied: $got_denied" "$LOG"
cat <<EOF

resolverd is running (pid $RESOLVERD_PID). The same peer, charlie.test, from two requesters:

  # alpha.test (127.0.0.2) may federate with charlie.test: the real SRV record
  $allowed
  -> $got_allowed

  # bravo.test (127.0.0.3) may not: the sink
  $denied
  -> $got_denied

More to try:
  $DIG sink.clearinghouse.test A                   # the clearinghouse's own zone (aa)
  $DIG www.demo.test A                             # recursion (127.0.0.1 is in recursion-acl)
  $DIG -b 127.0.0.9 www.demo.test A                # unknown source: REFUSED
  sqlite3 $DB "INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action)
    VALUES (1, 'domain', 'bravo.test', 'domain', 'charlie.test', 'allow'),
           (1, 'domain', 'charlie.test', 'domain', 'bravo.test', 'allow')"
                                                   # live edit: bravo -> charlie now allowed
EOF
[ "$got_allowed" = "0 5 5269 xmpp.charlie.test." ] \
    || fail "the allowed lookup gave '$got_allowed', not charlie.test's SRV record" "$LOG"
[ "$got_denied" = "0 0 5269 sink.clearinghouse.test." ] \
    || fail "the denied lookup gave '$got_denied', not the sink" "$LOG"
echo
echo "quickstart: allowed and denied lookups as expected"

if [ "$MODE" = check ]; then
    exit 0
fi

echo "Log ($LOG) follows; Ctrl-C stops resolverd and nsd."
tail -n +1 -f --pid="$RESOLVERD_PID" "$LOG" || true
rc=0
wait "$RESOLVERD_PID" || rc=$?
fail "resolverd exited on its own (status $rc)" "$LOG"
