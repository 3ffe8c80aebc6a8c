#!/usr/bin/env bash
# TSIG (RFC 8945) identifies requesters: a query signed with a key of the
# policy comes from the key's domain whatever its source address, and its
# answer is signed (dig, kdig and an independent Python check verify it,
# over UDP and pipelined TCP). Every error path answers as the RFC says and
# never with a policy answer: unknown key or algorithm (BADKEY, unsigned),
# bad MAC (BADSIG, unsigned), time outside the fudge (BADTIME, signed, with
# our time), truncated MAC (BADTRUNC signed, or FORMERR below the RFC's
# minimum), TSIG not last, twice or malformed (FORMERR). require-identity
# tsig REFUSES a domain's unsigned queries. BIND's named, as a site's
# forwarder, signs for an XMPP server: the answer follows the key, not the
# address. Secrets never reach a log, the audit or an export.
#
#   make check, or by hand: [RESOLVERD=BINARY] [CHPOLICY=BINARY] tests/integration/test_tsig.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig kdig sqlite3 python3 setsid
require_resolverd
make_tmpdir T
cd "$T" || bail "the temporary directory"
TQ=$SRCDIR/tests/integration/tsigquery.py

ALPHA=$(head -c 32 /dev/urandom | base64 -w0)
BRAVO=$(head -c 64 /dev/urandom | base64 -w0)
CHARLIE=$(head -c 32 /dev/urandom | base64 -w0)
WRONG=$(head -c 32 /dev/urandom | base64 -w0)

# alpha (no address) and charlie may reach delta and back; bravo (127.0.0.8) may not.
# charlie (127.0.0.9) requires TSIG.
DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('alpha.test'), ('bravo.test'), ('delta.test');
INSERT INTO domains (name, require_identity) VALUES ('charlie.test', 'tsig');
INSERT INTO identities (value, domain) VALUES ('127.0.0.8/32', 'bravo.test'), ('127.0.0.9/32', 'charlie.test');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (10, 'domain', 'alpha.test', 'domain', 'delta.test', 'allow'),
    (10, 'domain', 'delta.test', 'domain', 'alpha.test', 'allow'),
    (10, 'domain', 'charlie.test', 'domain', 'delta.test', 'allow'),
    (10, 'domain', 'delta.test', 'domain', 'charlie.test', 'allow');
INSERT INTO targets (domain, priority, weight, port, host) VALUES ('delta.test', 0, 5, 5269, 'xmpp.delta.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.delta.test', '198.18.4.11');
SQL
chmod o+r "$DB"
ch() { "$CHPOLICY" --db "$DB" "$@"; }
"$CHPOLICY" --db "$T/fresh.db" init >/dev/null
assert_eq "chpolicy init makes a database other users cannot read" "" "$(find "$T/fresh.db" -perm /o=rwx)"
printf '%s\n' "$ALPHA" >alpha.secret
ch identity add alpha.test --tsig alpha-key.test --secret-file alpha.secret >ch.out 2>&1
assert_eq "a TSIG key is refused while the database is readable by every user" 3 "$?"
assert_match "... saying why" "readable by every user" "$(cat ch.out)"
chmod o-rwx "$DB"*
assert_cmd "chpolicy identity add --tsig (hmac-sha256, --secret-file)" \
    ch identity add alpha.test --tsig alpha-key.test --secret-file alpha.secret
printf '%s\n' "$BRAVO" >bravo.secret
assert_cmd "... hmac-sha512" ch identity add bravo.test --tsig bravo-key.test --algorithm hmac-sha512 \
    --secret-file bravo.secret
printf '%s\n' "$CHARLIE" >charlie.secret
assert_cmd "... charlie's key" ch identity add charlie.test --tsig charlie-key.test --secret-file charlie.secret
ch identity add alpha.test --tsig sha1-key.test --algorithm hmac-sha1 --secret-file alpha.secret >ch.out 2>&1
assert_eq "hmac-sha1 is refused (usage error)" 2 "$?"
out=$(sqlite3 "$DB" "INSERT INTO identities (kind, value, domain, algorithm, secret)
    VALUES ('tsig', 'md5-key.test', 'alpha.test', 'hmac-md5', '$ALPHA')" 2>&1)
assert_match "... and hmac-md5 by the schema itself" "a TSIG key needs an algorithm" "$out"
printf 'QUJD\n' >short.secret
ch identity add alpha.test --tsig short-key.test --secret-file short.secret >ch.out 2>&1
assert_eq "a secret shorter than 16 bytes is refused" 2 "$?"
ch identity add alpha.test --tsig full-key.test --generate >/dev/full 2>ch.out
assert_eq "--generate whose secret cannot be written out: refused (exit 3)" 3 "$?"
assert_eq "... and the key is not stored" "" "$(ch identity list | grep full-key)"
ch identity add alpha.test --tsig under_score.test --generate >ch.out 2>&1
assert_eq "a key name the database cannot store: usage error (exit 2)" 2 "$?"
ch domain set alpha.test --require-identity bogus >ch.out 2>&1
assert_eq "--require-identity bogus: usage error (exit 2)" 2 "$?"
assert_match "... saying which words it takes" "not source, cert or tsig" "$(cat ch.out)"
out=$(ch identity add alpha.test --tsig gen-key.test --generate)
assert_match "--generate prints the key once, as BIND and dig take it" 'secret "[A-Za-z0-9+/=]{44}";' "$out"
assert_cmd "... and it can be removed" ch identity remove --tsig gen-key.test
out=$(ch identity list)
assert_match "identity list shows TSIG keys with their algorithm" "tsig +bravo-key.test +bravo.test +hmac-sha512" "$out"
assert_match "... and prefixes" "cidr +127.0.0.8/32 +bravo.test" "$out"

run_resolverd tsig <<CONF
decision-log: $T/decisions.json
CONF
REAL="0 5 5269 xmpp.delta.test."
SINK="0 0 5269 sink.clearinghouse.test."
Q=_xmpp-server._tcp.delta.test
# signed SOURCE ALG:KEY:SECRET [DIG ARGS]: a signed SRV lookup of delta with dig
signed() {
    local src=$1 key=$2
    shift 2
    dig +time=3 +tries=1 -b "$src" -p "$PORT" @127.0.0.1 -y "$key" "$@" "$Q" SRV 2>&1
}
verified() { ! grep -qE "Couldn't verify|could not be validated|tsig verify failure|WARNING" <<<"$1"; }
tq() { python3 "$TQ" "$@"; }

# ---------------------------------------------------------------- identity by key

out=$(signed 127.0.0.8 hmac-sha256:alpha-key.test:"$ALPHA")
assert_eq "alpha's key from bravo's address: alpha's view (the key beats the address)" "$REAL" "$(rdata_type "$out" SRV)"
assert_match "... with a TSIG record in the answer" "TSIG PSEUDOSECTION" "$out"
verified "$out"
assert_eq "... that dig verifies" 0 "$?"
out=$(signed 127.0.0.5 hmac-sha512:bravo-key.test:"$BRAVO")
assert_eq "bravo's key from an unknown address: bravo's view (denied)" "$SINK" "$(rdata_type "$out" SRV)"
verified "$out"
assert_eq "... signed (hmac-sha512), verified" 0 "$?"
out=$(dig +time=3 +tries=1 -b 127.0.0.8 -p "$PORT" @127.0.0.1 "$Q" SRV)
assert_eq "no key from bravo's address: bravo by address" "$SINK" "$(rdata_type "$out" SRV)"
out=$(dig +time=3 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 "$Q" SRV)
assert_eq "no key from an unknown address: REFUSED" REFUSED "$(status_of "$out")"
out=$(kdig +time=3 +retry=0 -b 127.0.0.8 -p "$PORT" @127.0.0.1 -y hmac-sha256:alpha-key.test:"$ALPHA" "$Q" SRV 2>&1)
assert_match "kdig -y: alpha's view" "SRV	0 5 5269 xmpp.delta.test." "$out"
assert_not_match "... kdig verifies the answer's TSIG" "WARNING|failed|BADSIG" "$out"
out=$(kdig +time=3 +retry=0 +tcp +keepopen -b 127.0.0.5 -p "$PORT" @127.0.0.1 -y hmac-sha256:alpha-key.test:"$ALPHA" \
    "$Q" SRV xmpp.delta.test A 2>&1)
assert_eq "kdig over one TCP connection, two signed queries: two signed answers" 2 "$(grep -c 'ANY	TSIG	hmac-sha256' <<<"$out")"
assert_not_match "... both verified" "WARNING|failed|BADSIG" "$out"

out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV good)
assert_eq "an independent HMAC check of the signed answer (request MAC included)" \
    "rcode=NOERROR tsig=NOERROR mac=32 other=0 verified=yes ancount=1" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV newid)
assert_eq "a query whose id a proxy changed: the answer verifies with the original id restored" \
    "rcode=NOERROR tsig=NOERROR mac=32 other=0 verified=yes ancount=1" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV compressed)
assert_eq "a key name compressed against the question (as dnspython writes it): answered, signed" \
    "rcode=NOERROR tsig=NOERROR mac=32 other=0 verified=yes ancount=1" "$out"
out=$(tq --tcp --repeat 4 --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV good)
assert_eq "four signed queries pipelined over TCP: four signed answers, each verified" 4 \
    "$(grep -c 'rcode=NOERROR tsig=NOERROR mac=32 other=0 verified=yes ancount=1' <<<"$out")"

# ---------------------------------------------------------------- errors (RFC 8945 5.2)

out=$(tq --src 127.0.0.8 127.0.0.1 "$PORT" nokey.test hmac-sha256 "$ALPHA" "$Q" SRV good)
assert_eq "an unknown key from bravo's address: NOTAUTH BADKEY unsigned, no fallback to the address" \
    "rcode=NOTAUTH tsig=BADKEY mac=0 other=0 verified=- ancount=0" "$out"
out=$(tq --src 127.0.0.8 127.0.0.1 "$PORT" bravo-key.test hmac-sha256 "$BRAVO" "$Q" SRV good)
assert_eq "a known key with another algorithm: BADKEY" \
    "rcode=NOTAUTH tsig=BADKEY mac=0 other=0 verified=- ancount=0" "$out"
out=$(tq --src 127.0.0.8 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$WRONG" "$Q" SRV good)
assert_eq "a wrong secret: NOTAUTH BADSIG unsigned, no answer" \
    "rcode=NOTAUTH tsig=BADSIG mac=0 other=0 verified=- ancount=0" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV badmac)
assert_eq "one bit of the MAC flipped: BADSIG" "rcode=NOTAUTH tsig=BADSIG mac=0 other=0 verified=- ancount=0" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV badtime)
assert_eq "signed 1000 s ago: BADTIME, signed, with our time as other data" \
    "rcode=NOTAUTH tsig=BADTIME mac=32 other=6 verified=yes ancount=0" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV bigfudge)
assert_eq "signed 1000 s ago with a fudge of 2000 s: BADTIME all the same (our fudge, 300 s, is the most)" \
    "rcode=NOTAUTH tsig=BADTIME mac=32 other=6 verified=yes ancount=0" "$out"
out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV trunc:16)
assert_eq "a MAC truncated to half: BADTRUNC, signed (we take full MACs only)" \
    "rcode=NOTAUTH tsig=BADTRUNC mac=32 other=0 verified=yes ancount=0" "$out"
for c in trunc:15 trunc:8 notlast inanswer badrdata twotsig; do
    out=$(tq --src 127.0.0.5 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$ALPHA" "$Q" SRV "$c")
    assert_eq "malformed ($c): FORMERR without TSIG" "rcode=FORMERR tsig=none mac=0 other=0 verified=- ancount=0" "$out"
done
out=$(python3 - "$PORT" <<'PY'
import socket, struct, sys
# 400 queries with an unknown key in a burst from one address: error answers are rate limited
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.6", 0))
s.settimeout(0.5)
q = (struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 1) + b"\x01a\x04test\x00\x00\x01\x00\x01" +
     b"\x05nokey\x04test\x00" + struct.pack("!HHIH", 250, 255, 0, 33) + b"\x0bhmac-sha256\x00" +
     struct.pack("!HIHH", 0, 0, 300, 4) + b"abcd" + struct.pack("!HHH", 7, 0, 0))
for _ in range(400):
    s.sendto(q, ("127.0.0.1", port))
n = 0
try:
    while True:
        s.recvfrom(4096)
        n += 1
except socket.timeout:
    pass
print(n)
PY
)
assert_le "400 bad TSIGs from one address in a burst: at most the rate limit's answers (and slips)" 300 "$out"
out=$(tq --tcp --src 127.0.0.8 127.0.0.1 "$PORT" alpha-key.test hmac-sha256 "$WRONG" "$Q" SRV good)
assert_eq "BADSIG over TCP too" "rcode=NOTAUTH tsig=BADSIG mac=0 other=0 verified=- ancount=0" "$out"

# ---------------------------------------------------------------- require-identity

out=$(dig +time=3 +tries=1 -b 127.0.0.9 -p "$PORT" @127.0.0.1 "$Q" SRV)
assert_eq "charlie requires TSIG: its unsigned query from its address is REFUSED" REFUSED "$(status_of "$out")"
out=$(signed 127.0.0.9 hmac-sha256:charlie-key.test:"$CHARLIE")
assert_eq "... its signed query gets its view" "$REAL" "$(rdata_type "$out" SRV)"
out=$(ch check 127.0.0.9 delta.test)
assert_eq "chpolicy check by charlie's address: deny (exit 1)" 1 "$?"
assert_match "... saying the unsigned query is REFUSED" "requires TSIG key identity.*REFUSED" "$out"
out=$(ch check --as tsig:charlie-key.test delta.test)
assert_eq "chpolicy check --as tsig:charlie-key.test: allow (exit 0)" 0 "$?"
assert_match "... naming the key's domain" "allow tsig:charlie-key.test \(charlie.test\) -> delta.test" "$out"
ch check --as tsig:nokey.test delta.test >/dev/null 2>&1
assert_eq "chpolicy check --as an unknown key: exit 2" 2 "$?"

wait_until 5 "" grep -q '"identity":"tsig"' decisions.json
assert_match "the decision log says a key identified alpha" \
    '"requester":"alpha.test","identity":"tsig","key":"alpha-key.test","source":"127.0.0.8"' "$(cat decisions.json)"
assert_match "the text log names the TSIG errors" "TSIG BADSIG: key alpha-key.test from 127.0.0.8" "$(cat "$LOG")"

# ---------------------------------------------------------------- BIND signs for the site

if NAMED=$(command -v named || ls /usr/sbin/named 2>/dev/null); then
    NPORT=$(free_port) || bail "a free port for named"
    # named: SITE KEY SECRET: a forwarder that signs every query to resolverd with KEY,
    # sending from bravo's address (127.0.0.8)
    named_start() {
        local dir=$T/named-$1
        mkdir -p "$dir"
        cat >"$dir/named.conf" <<NCONF
options {
	directory "$dir";
	pid-file "$dir/named.pid";
	session-keyfile "$dir/session.key";
	listen-on port $NPORT { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { any; };
	allow-recursion { any; };
	forwarders { 127.0.0.1 port $PORT; };
	forward only;
	dnssec-validation no;
	query-source address 127.0.0.8;
	max-cache-ttl 0;
	max-ncache-ttl 0;
};
controls { };
key "$2" { algorithm hmac-sha256; secret "$3"; };
server 127.0.0.1 { keys { $2; }; };
NCONF
        setsid "$NAMED" -g -c "$dir/named.conf" >"$dir/named.log" 2>&1 </dev/null &
        NAMED_PID=$!
        track_pid "$NAMED_PID"
        wait_until 10 "" grep -q "running" "$dir/named.log" || bail "named starts: $(tail -n 5 "$dir/named.log")"
    }
    named_start good alpha-key.test "$ALPHA"
    out=$(dig +time=5 +tries=1 -b 127.0.0.5 -p "$NPORT" @127.0.0.1 "$Q" SRV)
    assert_eq "dig -> named (signs with alpha's key, sends from bravo's address) -> resolverd: alpha's view" \
        "$REAL" "$(rdata_type "$out" SRV)"
    assert_match "resolverd saw a key, at bravo's address" \
        "decision requester=alpha.test source=127.0.0.8 peer=delta.test allow .*identity=tsig key=alpha-key.test" "$(cat "$LOG")"
    stop_pid "$NAMED_PID"
    named_start wrong alpha-key.test "$WRONG"
    out=$(dig +time=5 +tries=1 -b 127.0.0.5 -p "$NPORT" @127.0.0.1 "$Q" SRV)
    assert_ne "named with a wrong secret gets no answer it could pass on (never bravo's view)" \
        "$SINK" "$(rdata_type "$out" SRV)"
    assert_eq "... named answers SERVFAIL" SERVFAIL "$(status_of "$out")"
    stop_pid "$NAMED_PID"
else
    skip "named (bind9) is not installed: the forwarder test"
fi

# ---------------------------------------------------------------- live edits, secrets

assert_cmd "chpolicy identity remove --tsig alpha-key.test" ch identity remove --tsig alpha-key.test
wait_until 5 "" bash -c "python3 '$TQ' --src 127.0.0.5 127.0.0.1 $PORT alpha-key.test hmac-sha256 '$ALPHA' '$Q' SRV good | grep -q BADKEY"
assert_eq "a removed key is BADKEY at once (live edit)" 0 "$?"
kill -USR1 "$RESOLVERD_PID"
wait_until 5 "" grep -q "tsig-errors=" "$LOG"
assert_match "the statistics count TSIG errors" "tsig-errors=[1-9]" "$(grep -o 'tsig-errors=[0-9]*' "$LOG" | tail -n 1)"
ch audit >audit.out
ch export matrix >matrix.out
ch identity list >list.out
for s in "$ALPHA" "$BRAVO" "$CHARLIE"; do
    found=$(grep -lF -- "$s" "$LOG" decisions.json audit.out matrix.out list.out 2>/dev/null)
    assert_eq "a secret is in no log, audit, export or listing" "" "$found"
done
assert_cmd "a key of another domain with charlie's secret (stored)" \
    ch identity add delta.test --tsig shared-key.test --secret-file charlie.secret
out=$(ch verify 2>&1)
assert_match "chpolicy verify warns about one secret shared by two domains' keys" \
    "TSIG keys .*shared-key.test.* share one secret across domains" "$out"
ch identity remove --tsig shared-key.test
touch "$DB-wal"
chmod o+r "$DB-wal"
ch identity add alpha.test --tsig wal-key.test --generate >ch.out 2>&1
assert_eq "a TSIG key is refused while the -wal file is readable by every user" 3 "$?"
chmod o-rwx "$DB-wal"
chmod o+r "$DB"
kill -HUP "$RESOLVERD_PID"
wait_until 5 "" grep -q "TSIG secrets and every user may read" "$LOG"
assert_eq "resolverd warns when the database holding keys becomes readable by every user" 0 "$?"
out=$("$RESOLVERD" -c "$T/tsig.conf" -t 2>&1)
assert_match "... resolverd -t warns too" "TSIG secrets and every user may read" "$out"
out=$(ch verify 2>&1)
assert_eq "... chpolicy verify warns too (exit 1)" 1 "$?"
assert_match "... saying so" "TSIG secret\(s\) in a database file every user may read" "$out"
chmod o-rwx "$DB"*
assert_match "the audit records that a secret was set" '"algorithm":"hmac-sha512","secret":"set"' "$(cat audit.out)"
out=$(dig +time=3 +tries=1 -b 127.0.0.8 -p "$PORT" @127.0.0.1 "$Q" SRV)
assert_eq "plain UDP still answers after every bad TSIG" "$SINK" "$(rdata_type "$out" SRV)"
# export views: BIND matches keys by name; addresses of a domain that requires a key match nothing
mkdir -p views
assert_cmd "chpolicy export views with keys and require-identity" ch export views "$T/views" --config "$T/tsig.conf"
assert_match "named.conf: bravo's view matches its address and its key" \
    'acl "[^"]*bravo[^"]*" \{ 127.0.0.8/32; key "bravo-key.test"; \}' "$(cat views/named.conf)"
assert_match "... charlie (require-identity tsig) its key only" \
    'acl "[^"]*charlie[^"]*" \{ key "charlie-key.test"; \}' "$(cat views/named.conf)"
assert_not_match "unbound.conf: charlie's address gets no tag (Unbound cannot match a key)" \
    "access-control: 127.0.0.9" "$(cat views/unbound.conf)"
assert_match "... and says why" "charlie.test: identified by TSIG key only" "$(cat views/unbound.conf)"
assert_not_match "no secret in the exported views" "secret \"" "$(cat views/named.conf)"
if command -v named-checkconf >/dev/null 2>&1; then
    printf 'key "bravo-key.test" { algorithm hmac-sha512; secret "%s"; };\nkey "charlie-key.test" { algorithm hmac-sha256; secret "%s"; };\ninclude "%s/views/named.conf";\n' \
        "$BRAVO" "$CHARLIE" "$T" >views/check.conf
    out=$(named-checkconf views/check.conf 2>&1)
    assert_eq "named-checkconf accepts the views with the keys defined before them" "" "$out"
fi
# restore: never keys into a file others read; a restore that drops keys says so
assert_cmd "chpolicy backup (holds the keys)" ch backup "$T/with-keys.db"
"$CHPOLICY" --db "$T/open.db" init >/dev/null
chmod o+r "$T/open.db"*
"$CHPOLICY" --db "$T/open.db" restore "$T/with-keys.db" >ch.out 2>&1
assert_eq "restoring keys into a database file every user may read: refused (exit 3)" 3 "$?"
assert_cmd "chpolicy rebuild at the current serial (keys are left out)" \
    ch rebuild "$(ch serial)" "$T/rebuilt.db"
out=$(ch restore "$T/rebuilt.db" 2>&1)
assert_match "a restore that drops keys says how many" "2 TSIG keys before, 0 now" "$out"
errs=$(sanitizer_errors "$LOG")
assert_eq "no sanitizer report" "" "$errs"
finish
