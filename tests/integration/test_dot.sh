#!/usr/bin/env bash
# DNS over TLS (RFC 7858) with client certificates: a verified certificate
# that names a community domain (dNSName, or the XMPP SRV-ID) identifies it
# whatever the source address; a revoked or unverifiable one fails the
# handshake; without one the source address identifies. kdig is the client,
# and stunnel in client mode carries a plain-TCP client's queries over TLS
# with an XMPP server's certificate. UDP and TCP keep answering while TLS is
# abused (idle connections, garbage handshakes).
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_dot.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools kdig dig openssl sqlite3 python3 setsid
require_resolverd
make_tmpdir T
cd "$T" || bail "the temporary directory"

# ---------------------------------------------------------------- a small PKI

pki() { openssl "$@" >/dev/null 2>>"$T/openssl.log" || bail "openssl $1 $(tail -n 3 "$T/openssl.log")"; }
cat >ca.cnf <<'CNF'
[ca]
default_ca = ca
[ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
default_days = 30
policy = any
copy_extensions = copy
default_crl_days = 30
[any]
commonName = supplied
[ext_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
CNF
: >index.txt
echo 1000 >serial
pki req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
    -subj "/CN=community test CA" -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign"
# cert NAME SAN: a key and a certificate signed by the CA
cert() {
    pki req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" -addext "subjectAltName=$2"
    pki ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -in "$1.csr" -out "$1.pem" -notext
}
cert server "DNS:dot.clearinghouse.test,IP:127.0.0.1"
cert alpha "DNS:alpha.test"
cert bravo "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.bravo.test"
cert charlie "DNS:charlie.test"
cert wild "DNS:*.test"
cert echo "DNS:xmpp1.echo-site.test"
pki ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -revoke charlie.pem
pki ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out crl.pem
pki req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.pem -days 30 \
    -subj "/CN=alpha.test" -addext "subjectAltName=DNS:alpha.test"

# ---------------------------------------------------------------- policy and resolverd

# alpha may reach delta (and back), bravo may not; neither has an address identity
DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('alpha.test'), ('bravo.test'), ('charlie.test'), ('delta.test');
INSERT INTO domains (name, require_identity) VALUES ('echo.test', 'cert');
INSERT INTO identities (value, domain) VALUES ('127.0.0.8/32', 'bravo.test'), ('127.0.0.10/32', 'echo.test');
INSERT INTO identities (kind, value, domain) VALUES ('cert', 'xmpp1.echo-site.test', 'echo.test');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (10, 'domain', 'alpha.test', 'domain', 'delta.test', 'allow'),
    (10, 'domain', 'delta.test', 'domain', 'alpha.test', 'allow'),
    (10, 'domain', 'echo.test', 'domain', 'delta.test', 'allow'),
    (10, 'domain', 'delta.test', 'domain', 'echo.test', 'allow');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('delta.test', 0, 5, 5269, 'xmpp.delta.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.delta.test', '198.18.4.11');
SQL
TLSPORT=$(free_port) || bail "a free port for DoT"
run_resolverd dot <<CONF
tls-listen: 127.0.0.1@$TLSPORT
tls-cert: $T/server.pem
tls-key: $T/server.key
tls-client-ca: $T/ca.pem
tls-crl: $T/crl.pem
tls-max-handshakes: 16
tcp-initial-timeout: 2
decision-log: $T/decisions.json
CONF
REAL="0 5 5269 xmpp.delta.test."
SINK="0 0 5269 sink.clearinghouse.test."
# dot SOURCE CERT [ARGS...]: an SRV lookup of delta over TLS with CERT's key (or none)
dot() {
    local src=$1 c=$2
    shift 2
    local -a id=()
    [ "$c" != none ] && id=(+tls-certfile="$T/$c.pem" +tls-keyfile="$T/$c.key")
    kdig +time=3 +retry=0 -b "$src" -p "$TLSPORT" @127.0.0.1 +tls-ca="$T/ca.pem" +tls-hostname=dot.clearinghouse.test \
        "${id[@]}" "$@" _xmpp-server._tcp.delta.test SRV 2>&1
}
# the SRV records of kdig's answer (not its question line, which starts with ;;)
answer() { awk '$1 !~ /^;/ && $4 == "SRV" { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' <<<"$1"; }
status() { sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$1" | head -n 1; }

out=$(dot 127.0.0.5 alpha)
assert_eq "alpha's certificate from an unknown address: alpha's view (allowed)" "$REAL" "$(answer "$out")"
out=$(dot 127.0.0.8 alpha)
assert_eq "... from bravo's address too: the certificate comes before the address" "$REAL" "$(answer "$out")"
out=$(dot 127.0.0.5 bravo)
assert_eq "bravo's certificate (XMPP SRV-ID): bravo's view (denied)" "$SINK" "$(answer "$out")"
out=$(dot 127.0.0.5 none)
assert_eq "no certificate from an unknown address: REFUSED" REFUSED "$(status "$out")"
out=$(dot 127.0.0.8 none)
assert_eq "no certificate from bravo's address: bravo by address" "$SINK" "$(answer "$out")"
out=$(dot 127.0.0.5 wild)
assert_eq "a wildcard-only certificate names no domain: the address decides (REFUSED)" REFUSED "$(status "$out")"
out=$(dot 127.0.0.5 charlie)
assert_not_match "a revoked certificate (CRL): no answer" "status: NOERROR" "$out"
out=$(dot 127.0.0.5 rogue)
assert_not_match "a certificate from another CA naming alpha: no answer" "status: NOERROR" "$out"
assert_match "the decision log says the certificate identified alpha" '"requester":"alpha.test","identity":"certificate","source":"127.0.0.5"' "$(cat "$T/decisions.json")"
assert_match "... and the text log too" "requester=alpha.test source=127.0.0.5 peer=delta.test allow .*identity=certificate" "$(cat "$LOG")"
out=$(dot 127.0.0.5 echo)
assert_eq "a certificate naming xmpp1.echo-site.test, bound to echo by a cert identity: echo's view" "$REAL" "$(answer "$out")"
out=$(dig +time=3 +tries=1 -b 127.0.0.10 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.delta.test SRV)
assert_eq "echo requires a certificate: its plain query from its address is REFUSED" REFUSED "$(status_of "$out")"
out=$(dot 127.0.0.10 none)
assert_eq "... over TLS without a certificate too" REFUSED "$(status "$out")"
out=$("$CHPOLICY" --db "$DB" check --as "cert:$T/echo.pem" delta.test)
assert_eq "chpolicy check --as cert:FILE: allow (exit 0)" 0 "$?"
assert_match "... naming the certificate's name and the domain it is bound to" \
    "allow cert:$T/echo.pem \(xmpp1.echo-site.test -> echo.test\) -> delta.test" "$out"
out=$("$CHPOLICY" --db "$DB" check --as "cert:$T/bravo.pem" delta.test)
assert_match "chpolicy check --as a certificate with an XMPP SRV-ID" "deny cert:$T/bravo.pem \(bravo.test\) -> delta.test" "$out"
"$CHPOLICY" --db "$DB" check --as "cert:$T/wild.pem" delta.test >/dev/null 2>&1
assert_eq "chpolicy check --as a certificate naming no community domain: exit 2" 2 "$?"
out=$("$CHPOLICY" --db "$DB" check 127.0.0.10 delta.test)
assert_match "chpolicy check by echo's address: REFUSED, a certificate is required" "requires client certificate identity" "$out"
out=$("$CHPOLICY" --db "$DB" identity list)
assert_match "identity list shows the certificate name" "cert +xmpp1.echo-site.test +echo.test" "$out"
# a TSIG key comes before the certificate: bravo's certificate, alpha's key
chmod o-rwx "$DB"*
ALPHA_SECRET=$(head -c 32 /dev/urandom | base64 -w0)
printf '%s\n' "$ALPHA_SECRET" >alpha-key.secret
"$CHPOLICY" --db "$DB" identity add alpha.test --tsig alpha-key.test --secret-file alpha-key.secret >/dev/null
wait_until 5 "" bash -c "kdig +time=2 +retry=0 -b 127.0.0.5 -p $PORT @127.0.0.1 -y hmac-sha256:alpha-key.test:$ALPHA_SECRET _xmpp-server._tcp.delta.test SRV 2>&1 | grep -q 'status: NOERROR'"
out=$(dot 127.0.0.5 bravo -y "hmac-sha256:alpha-key.test:$ALPHA_SECRET")
assert_eq "over TLS, alpha's TSIG key with bravo's certificate: alpha's view (the key comes first)" "$REAL" "$(answer "$out")"
assert_not_match "... the answer signed and verified" "WARNING|failed|BADSIG" "$out"
out=$(dot 127.0.0.5 alpha +keepopen _xmpps-server._tcp.delta.test SRV _jabber._tcp.delta.test SRV)
assert_eq "several queries on one TLS connection" 3 "$(grep -c 'status: NOERROR' <<<"$out")"

# ---------------------------------------------------------------- stunnel in front of a plain client

if command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1; then
    ST=$(command -v stunnel4 || command -v stunnel)
    SPORT=$(free_port) || bail "a free port for stunnel"
    cat >stunnel.conf <<CONF
foreground = yes
pid =
[dns]
client = yes
accept = 127.0.0.1:$SPORT
connect = 127.0.0.1:$TLSPORT
cert = $T/alpha.pem
key = $T/alpha.key
CAfile = $T/ca.pem
verifyChain = yes
checkHost = dot.clearinghouse.test
CONF
    setsid "$ST" stunnel.conf >stunnel.log 2>&1 </dev/null &
    track_pid $!
    wait_until 10 "" python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $SPORT), 1)" 2>/dev/null
    out=$(dig +tcp +time=3 +tries=1 -b 127.0.0.9 -p "$SPORT" @127.0.0.1 _xmpp-server._tcp.delta.test SRV 2>&1)
    assert_eq "a plain-TCP client behind stunnel with alpha's certificate: alpha's view" "$REAL" \
        "$(awk '$4 == "SRV" { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' <<<"$(sed -n '/ANSWER SECTION/,/^$/p' <<<"$out")")"
else
    skip "a plain-TCP client behind stunnel" "stunnel4 is not installed"
fi

# ---------------------------------------------------------------- abuse

python3 - "$TLSPORT" >"$T/abuse.out" <<'PY' &
import os, socket, sys, time
port = int(sys.argv[1]); held = []
for i in range(60):              # idle connections that never say hello
    try:
        s = socket.create_connection(("127.0.0.1", port), 1); held.append(s)
    except OSError:
        pass
for i in range(40):              # garbage instead of a ClientHello
    try:
        s = socket.create_connection(("127.0.0.1", port), 1); s.sendall(os.urandom(300)); held.append(s)
    except OSError:
        pass
print(len(held), flush=True)
time.sleep(4)
PY
ABUSE=$!
sleep 1
out=$(dig +time=2 +tries=1 -b 127.0.0.8 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.delta.test SRV +short)
assert_eq "UDP answers while TLS is flooded with idle and garbage connections" "$SINK" "$out"
out=$(dig +tcp +time=2 +tries=1 -b 127.0.0.8 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.delta.test SRV +short)
assert_eq "... and TCP" "$SINK" "$out"
wait "$ABUSE"
sleep 1
out=$(dot 127.0.0.5 alpha)
assert_eq "after the flood (handshakes timed out), DoT answers again" "$REAL" "$(answer "$out")"

stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
if errs=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer error"; diag "$errs"; else ok "no sanitizer error"; fi
finish
