#!/usr/bin/env bash
# Quick start: install, build, and run resolverd with a demo policy.
#
#   ./scripts/quickstart.sh            run resolverd in the foreground (Ctrl-C stops it)
#   ./scripts/quickstart.sh --check    run the demo queries, check them, stop, exit 0/1
#
# 1. installs the Debian packages (scripts/deps.sh),
# 2. builds in build/ (./configure && make),
# 3. creates a demo policy database with chpolicy (sqlite3 if chpolicy fails):
#    alpha.test (level 3, requester 127.0.0.2), bravo.test (level 2, requester
#    127.0.0.3), charlie.test (level 3, requester 127.0.0.4); level 3 servers
#    talk to each other, alpha and bravo talk to each other,
# 4. starts NSD on a free loopback port as the demo's upstream, serving the
#    three domains' real SRV records (stopped when this script exits),
# 5. starts resolverd on 127.0.0.1 port 5300 (PORT=...), prints dig commands
#    for an allowed and a denied lookup of the same peer, and stays in the
#    foreground.
#
# Demo files: /tmp/clearinghouse-demo (DEMO_DIR=...), remade on every run.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${PORT:-5300}
DEMO=${DEMO_DIR:-/tmp/clearinghouse-demo}
MODE=run
case ${1:-} in
    --check) MODE=check ;;
    "") ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }

# ------------------------------------------------------------------ 1. deps

step "1/5 dependencies"
"$ROOT/scripts/deps.sh"

# ------------------------------------------------------------------ 2. build

step "2/5 build"
if [ -f "$ROOT/config.status" ]; then
    # configured in place already: build there (out-of-tree needs a clean tree)
    BUILD=$ROOT
else
    BUILD=$ROOT/build
fi
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] \
    || [ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
    (cd "$ROOT" && autoreconf -fi)
fi
mkdir -p "$BUILD"
if [ ! -f "$BUILD/Makefile" ]; then
    (cd "$BUILD" && "$ROOT/configure")
fi
make -C "$BUILD" -j2 >"$BUILD/quickstart-make.log" 2>&1 || {
    tail -n 40 "$BUILD/quickstart-make.log" >&2
    echo "quickstart: the build failed (log: $BUILD/quickstart-make.log)" >&2
    exit 1
}
RESOLVERD=$BUILD/resolverd/resolverd
CHPOLICY=$BUILD/dbtools/chpolicy
echo "built $RESOLVERD"

# ------------------------------------------------------------------ 3. policy

step "3/5 demo policy ($DEMO/policy.db)"
# Only ever remove a directory that looks like ours.
if [ -d "$DEMO" ] && [ ! -f "$DEMO/.clearinghouse-demo" ] && [ -n "$(ls -A "$DEMO")" ]; then
    echo "quickstart: $DEMO exists and is not a demo directory; set DEMO_DIR" >&2
    exit 1
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/zones-src"
touch "$DEMO/.clearinghouse-demo"
DB=$DEMO/policy.db

policy_with_chpolicy() {
    local c=("$CHPOLICY" --db "$DB")
    [ -x "$CHPOLICY" ] || return 1
    "${c[@]}" init &&
    "${c[@]}" domain add alpha.test --level 3 &&
    "${c[@]}" domain add bravo.test --level 2 &&
    "${c[@]}" domain add charlie.test --level 3 &&
    "${c[@]}" identity add alpha.test 127.0.0.2/32 &&
    "${c[@]}" identity add bravo.test 127.0.0.3/32 &&
    "${c[@]}" identity add charlie.test 127.0.0.4/32 &&
    "${c[@]}" rule add --from 'level:>=3' --to 'level:>=3' --allow --priority 10 &&
    "${c[@]}" rule add --from domain:alpha.test --to domain:bravo.test --allow --priority 20 &&
    "${c[@]}" rule add --from domain:bravo.test --to domain:alpha.test --allow --priority 20
}

policy_with_sqlite3() {
    rm -f "$DB" "$DB-wal" "$DB-shm"
    sqlite3 "$DB" <"$ROOT/dbtools/schema.sql" >/dev/null &&
    sqlite3 -bail "$DB" <<'EOF'
BEGIN;
INSERT INTO domains (name, level) VALUES ('alpha.test', 3), ('bravo.test', 2), ('charlie.test', 3);
INSERT INTO identities (kind, value, domain) VALUES
    ('cidr', '127.0.0.2/32', 'alpha.test'),
    ('cidr', '127.0.0.3/32', 'bravo.test'),
    ('cidr', '127.0.0.4/32', 'charlie.test');
INSERT INTO rules (priority, from_kind, from_min, to_kind, to_min, action, note)
    VALUES (10, 'level', 3, 'level', 3, 'allow', 'level 3 servers talk to each other');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (20, 'domain', 'alpha.test', 'domain', 'bravo.test', 'allow'),
    (20, 'domain', 'bravo.test', 'domain', 'alpha.test', 'allow');
COMMIT;
EOF
}

if policy_with_chpolicy >"$DEMO/chpolicy.log" 2>&1; then
    echo "policy written with chpolicy"
else
    echo "chpolicy did not work (see $DEMO/chpolicy.log); writing the policy with sqlite3"
    policy_with_sqlite3
fi
cat <<'EOF'
  alpha.test    level 3   requester 127.0.0.2
  bravo.test    level 2   requester 127.0.0.3
  charlie.test  level 3   requester 127.0.0.4
  rules: level>=3 <-> level>=3 allow; alpha.test <-> bravo.test allow; default deny
EOF

# ------------------------------------------------------------------ 4. NSD

step "4/5 upstream: NSD with the demo zones"
. "$ROOT/tests/lib.sh"      # start_nsd, free_port, wait_for_dns, cleanup trap

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
NSD_PORT=$(free_port)
start_nsd "$DEMO/nsd" "$NSD_PORT" "$DEMO/zones-src" || { echo "quickstart: nsd did not start" >&2; exit 1; }
echo "nsd serves alpha.test bravo.test charlie.test demo.test on 127.0.0.1@$NSD_PORT (pid $NSD_PID)"

# ------------------------------------------------------------------ 5. resolverd

step "5/5 resolverd on 127.0.0.1 port $PORT"
if ! python3 -c "
import socket, sys
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, t)
    s.bind(('127.0.0.1', $PORT)); s.close()
" 2>/dev/null; then
    echo "quickstart: port $PORT on 127.0.0.1 is in use (another resolverd?); set PORT=..." >&2
    exit 1
fi
CONF=$DEMO/resolverd.conf
{
    echo "# written by scripts/quickstart.sh"
    echo "listen: 127.0.0.1@$PORT"
    echo "database: $DB"
    echo "zone-file: $ROOT/zones/clearinghouse.test.zone"
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

"$RESOLVERD" -c "$CONF" -f &
RESOLVERD_PID=$!
track_pid "$RESOLVERD_PID"
if ! wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 20 127.0.0.1 "$RESOLVERD_PID"; then
    echo "quickstart: resolverd did not answer on 127.0.0.1@$PORT" >&2
    exit 1
fi
sleep 0.2

DIG="dig @127.0.0.1 -p $PORT"
allowed="$DIG -b 127.0.0.2 _xmpp-server._tcp.charlie.test SRV +short"
denied="$DIG -b 127.0.0.3 _xmpp-server._tcp.charlie.test SRV +short"
got_allowed=$($allowed 2>&1)
got_denied=$($denied 2>&1)
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

if [ "$MODE" = check ]; then
    rc=0
    [ "$got_allowed" = "0 5 5269 xmpp.charlie.test." ] || { echo "quickstart --check: allowed lookup gave '$got_allowed'" >&2; rc=1; }
    [ "$got_denied" = "0 0 5269 sink.clearinghouse.test." ] || { echo "quickstart --check: denied lookup gave '$got_denied'" >&2; rc=1; }
    [ "$rc" -eq 0 ] && echo "quickstart --check: allowed and denied lookups as expected"
    exit "$rc"
fi

echo
echo "Logs follow; Ctrl-C stops resolverd and nsd."
wait "$RESOLVERD_PID"
