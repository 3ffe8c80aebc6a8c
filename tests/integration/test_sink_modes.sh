#!/usr/bin/env bash
# The three sink modes, end to end: resolverd started once per mode with the
# same policy, asked with dig from an allowed and a denied requester.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_sink_modes.sh
#
# host:     SRV to the sink host, its address from the zone (A and AAAA of the
#           denied peer and of its target host give the sink address too)
# refuse:   SRV 0 0 0 .
# listener: SRV to the sink host; resolverd itself accepts the s2s stream on
#           the sink address and closes it with a policy-violation stream
#           error naming the denied pair; garbage and floods do not hurt it.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig sqlite3 python3 setsid bc
require_resolverd
make_tmpdir T

# a.test (127.0.0.2) may reach b.test (127.0.0.3) and back; c.test is denied to a.
# b.test's target host lives in the database (a closed network: no upstream).
DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('a.test'), ('b.test'), ('c.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'a.test'), ('127.0.0.3/32', 'b.test'), ('127.0.0.4/32', 'c.test');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (10, 'domain', 'a.test', 'domain', 'b.test', 'allow'),
    (10, 'domain', 'b.test', 'domain', 'a.test', 'allow'),
    (20, 'domain', 'c.test', 'any', NULL, 'allow');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('b.test', 0, 5, 5269, 'xmpp.b.test'), ('c.test', 0, 5, 5269, 'xmpp.c.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.b.test', '198.18.0.20'), ('xmpp.c.test', '198.18.0.30');
SQL

# start MODE [EXTRA-CONFIG]: a fresh resolverd in that sink mode; sets PORT.
start() {
    local mode=$1 extra=${2:-}
    [ -n "${RESOLVERD_PID:-}" ] && stop_pid "$RESOLVERD_PID" 10
    run_resolverd "$mode" <<CONF
forward: 127.0.0.1@9
transparent-zone: test.
recursion-acl: 127.0.0.1/32
sink-mode: $mode
$extra
CONF
}
d() { local src=$1; shift; dig +short +time=2 +tries=1 -b "$src" -p "$PORT" @127.0.0.1 "$@"; }

echo "# sink-mode host"
start host
assert_eq "host: allowed SRV from the targets table" "0 5 5269 xmpp.b.test." "$(d 127.0.0.2 _xmpp-server._tcp.b.test SRV)"
assert_eq "host: allowed target host address from the database" "198.18.0.20" "$(d 127.0.0.2 xmpp.b.test A)"
assert_eq "host: denied SRV points at the sink host" "0 0 5269 sink.clearinghouse.test." "$(d 127.0.0.2 _xmpp-server._tcp.c.test SRV)"
assert_eq "host: denied peer's A (the RFC 6120 fallback) is the sink address" "127.0.0.1" "$(d 127.0.0.2 c.test A)"
assert_eq "host: denied peer's AAAA is the sink's AAAA" "::1" "$(d 127.0.0.2 c.test AAAA)"
assert_eq "host: denied target host's A is the sink address" "127.0.0.1" "$(d 127.0.0.2 xmpp.c.test A)"
assert_eq "host: the same target host for its own domain is real" "198.18.0.30" "$(d 127.0.0.4 xmpp.c.test A)"
assert_eq "host: _xmpps-server is decided the same way" "0 0 5269 sink.clearinghouse.test." "$(d 127.0.0.2 _xmpps-server._tcp.c.test SRV)"
assert_eq "host: legacy _jabber is decided the same way" "0 0 5269 sink.clearinghouse.test." "$(d 127.0.0.2 _jabber._tcp.c.test SRV)"

echo "# sink-mode refuse"
start refuse
assert_eq "refuse: denied SRV is 0 0 0 . (service decidedly not available)" "0 0 0 ." "$(d 127.0.0.2 _xmpp-server._tcp.c.test SRV)"
full=$(dig +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.c.test SRV)
assert_match "refuse: no sink addresses in the additional section" "AUTHORITY: 0, ADDITIONAL: 1$" "$full"
assert_eq "refuse: allowed SRV unchanged" "0 5 5269 xmpp.b.test." "$(d 127.0.0.2 _xmpp-server._tcp.b.test SRV)"

echo "# sink-mode listener"
SINK_PORT=$(free_port) || bail "a free port for the sink"
start listener "sink-listen: 127.0.0.1@$SINK_PORT
sink-port: $SINK_PORT"
assert_eq "listener: denied SRV points at the sink host and the listener's port" \
    "0 0 $SINK_PORT sink.clearinghouse.test." "$(d 127.0.0.2 _xmpp-server._tcp.c.test SRV)"
reply=$(python3 - "$SINK_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
t0 = time.time()
s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='a.test' to='c.test' version='1.0'>")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("%.3f %s" % (time.time() - t0, data.decode()))
PY
)
assert_match "listener: the stream gets a policy-violation error" "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" "$reply"
assert_match "listener: the error text names the denied pair" "from a.test to c.test is denied" "$reply"
assert_match "listener: our stream header comes from the domain asked for" "from='c.test'" "$reply"
secs=${reply%% *}
assert_le "listener: answered and closed within 1 s (took ${secs}s)" 1000 "$(printf '%.0f' "$(echo "$secs * 1000" | bc)")"
python3 - "$SINK_PORT" <<'PY' && ok "listener: binary garbage over the read limit gets the stream error or a close within 6 s" || not_ok "listener: binary garbage over the read limit gets the stream error or a close within 6 s"
import os, socket, sys
port = int(sys.argv[1])
conns = []
for i in range(200):              # more than the connection cap, left silent
    try:
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
for c in conns:
    c.close()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    s.sendall(os.urandom(20000))  # binary garbage, over the read limit
except OSError:
    sys.exit(0)                   # closed on us before all of it was read: bounded
s.settimeout(6)
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break                 # closed: bounded
        data += chunk
except ConnectionResetError:
    pass
except socket.timeout:
    sys.exit(1)                   # neither answered nor closed: unbounded
sys.exit(0 if not data or b"policy-violation" in data else 1)
PY
assert_eq "listener: resolverd still answers DNS after that" "0 0 $SINK_PORT sink.clearinghouse.test." "$(d 127.0.0.2 _xmpp-server._tcp.c.test SRV)"
reply=$(python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $SINK_PORT), timeout=5)
s.sendall(b\"<stream:stream to='b.test' version='1.0'>\")
print(s.recv(4096).decode())")
assert_match "listener: still serves stream errors after that" "policy-violation" "$reply"

echo "# wildcard listen addresses: answers leave from the address the query came to"
stop_pid "$RESOLVERD_PID" 10
run_resolverd wildcard "listen: 0.0.0.0@@PORT@
listen: ::@@PORT@" <<CONF
forward: 127.0.0.1@9
recursion-acl: 127.0.0.1/32
recursion-acl: ::1/128
CONF
out=$(dig +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.7 _xmpp-server._tcp.c.test SRV 2>&1)
assert_match "0.0.0.0: a query to 127.0.0.7 is answered from 127.0.0.7" "SERVER: 127.0.0.7#$PORT" "$out"
assert_not_match "... dig saw no reply from another address" "unexpected source" "$out"
assert_eq "... and it is the policy answer" "0 0 5269 sink.clearinghouse.test." \
    "$(dig +short +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.7 _xmpp-server._tcp.c.test SRV)"
assert_eq ":: over IPv6 too" "127.0.0.1" "$(dig +short +time=2 +tries=1 -b ::1 -p "$PORT" @::1 sink.clearinghouse.test A)"
assert_eq "TCP on the wildcard address" "127.0.0.1" "$(dig +short +tcp +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.9 sink.clearinghouse.test A)"

stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
for m in host refuse listener wildcard; do
    if san=$(sanitizer_errors "$T/$m.log"); then not_ok "no sanitizer error ($m)"; diag "$san"; else ok "no sanitizer error ($m)"; fi
done
finish
