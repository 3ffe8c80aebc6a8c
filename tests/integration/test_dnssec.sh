#!/usr/bin/env bash
# DNSSEC through resolverd: NSD serves a zone signed with ldns-signzone and a
# copy whose signature is broken; resolverd has their keys as trust anchors.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_dnssec.sh
#
# secure -> AD=1 when the client asks (DO or AD), RRSIGs only with DO;
# bogus -> SERVFAIL; an allowed XMPP answer under a signed community domain
# keeps its RRSIGs (capped TTL, signatures unchanged); policy answers (the
# sink, the targets table) are never AD.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools nsd nsd-checkconf dig sqlite3 ldns-keygen ldns-signzone setsid
require_resolverd
make_tmpdir T
mkdir -p "$T/zones" "$T/keys"

# sign_zone NAME: write zones/NAME.zone signed with a fresh KSK and ZSK; the
# KSK goes to the trust anchor file.
sign_zone() {
    local name=$1 ksk zsk
    cat >"$T/keys/$name.zone" <<ZONE
\$ORIGIN $name.
\$TTL 3600
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
ns IN A 127.0.0.1
@ IN A 198.18.1.10
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN A 198.18.1.11
www IN A 198.18.1.12
ZONE
    (cd "$T/keys" && ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$name") && zsk=$(ldns-keygen -a ECDSAP256SHA256 "$name") \
        && ldns-signzone -f "$T/zones/$name.zone" "$name.zone" "$ksk" "$zsk" \
        && grep -v '^;' "$ksk.key" >>"$T/anchors") || return 1
}
sign_zone secure.test || bail "secure.test signed with ldns-signzone"
sign_zone other.test || bail "other.test signed with ldns-signzone"
sign_zone bogus.test || bail "bogus.test signed with ldns-signzone"
# break bogus.test: change a signed address after signing
sed -i 's/^www\.bogus\.test\.\([[:space:]].*A[[:space:]]*\)198\.18\.1\.12$/www.bogus.test.\1198.18.1.66/' "$T/zones/bogus.test.zone"
grep -q '198.18.1.66' "$T/zones/bogus.test.zone" || bail "bogus.test's signed A record altered"

NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" || bail "nsd serves the signed zones"

DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "policy loads"
INSERT INTO domains (name) VALUES ('a.test'), ('secure.test'), ('closed.test'), ('d.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'a.test'), ('127.0.0.3/32', 'secure.test'),
    ('127.0.0.4/32', 'd.test');
INSERT INTO rules (priority, from_kind, from_name, to_kind, action) VALUES (10, 'domain', 'a.test', 'any', 'allow');
INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action) VALUES
    (10, 'domain', 'secure.test', 'domain', 'a.test', 'allow'),
    (10, 'domain', 'closed.test', 'domain', 'a.test', 'allow');
INSERT INTO targets (domain, host) VALUES ('closed.test', 'xmpp.closed.test');
SQL
run_resolverd dnssec <<CONF
stub-zone: secure.test. 127.0.0.1@$NSD_PORT
stub-zone: bogus.test. 127.0.0.1@$NSD_PORT
stub-zone: other.test. 127.0.0.1@$NSD_PORT
transparent-zone: test.
trust-anchor-file: $T/anchors
recursion-acl: 127.0.0.1/32
CONF

q() { local src=$1; shift; dig +time=3 +tries=1 -b "$src" -p "$PORT" @127.0.0.1 "$@"; }
has_ad() { has_flag "$1" ad; }

# other.test is signed and outside the community: plain recursion
out=$(q 127.0.0.1 www.other.test A +dnssec)
assert_eq "secure: NOERROR" NOERROR "$(status_of "$out")"
has_ad "$out" && ok "secure, DO set: AD=1" || not_ok "secure, DO set: AD=1"
assert_match "secure, DO set: the RRSIG comes along" "RRSIG[[:space:]]+A 13 3 3600" "$out"
out=$(q 127.0.0.1 www.other.test A +noadflag)
has_ad "$out" && not_ok "secure, neither DO nor AD asked: AD=0" || ok "secure, neither DO nor AD asked: AD=0"
assert_not_match "secure, no DO: no RRSIG" "RRSIG" "$out"
out=$(q 127.0.0.1 www.other.test A +adflag)
has_ad "$out" && ok "secure, AD asked (RFC 6840): AD=1" || not_ok "secure, AD asked (RFC 6840): AD=1"

out=$(q 127.0.0.1 www.bogus.test A +dnssec)
assert_eq "bogus signature: SERVFAIL" SERVFAIL "$(status_of "$out")"
assert_not_match "bogus signature: the forged address is not given" "198.18.1.66" "$out"
out=$(q 127.0.0.1 www.bogus.test A +cd +dnssec)
assert_eq "bogus, checking disabled (CD): the client gets it to check itself" "198.18.1.66" \
    "$(rdata_type "$out" A)"

out=$(q 127.0.0.2 _xmpp-server._tcp.secure.test SRV +dnssec)
assert_match "allowed XMPP answer under a signed domain: the SRV" "SRV[[:space:]]+0 5 5269 xmpp.secure.test." "$out"
assert_match "... its RRSIG passed through unchanged (original TTL 3600 in the signature)" "RRSIG[[:space:]]+SRV 13 4 3600" "$out"
assert_le "... the TTL capped at 60" 60 "$(ttl_of "$out" SRV)"
has_ad "$out" && ok "... and AD=1: it validated" || not_ok "... and AD=1: it validated"

out=$(q 127.0.0.3 _xmpp-server._tcp.closed.test SRV +dnssec +adflag)
assert_match "denied: the sink" "sink.clearinghouse.test." "$out"
has_ad "$out" && not_ok "the sink is never AD" || ok "the sink is never AD"
assert_not_match "the sink has no RRSIG" "RRSIG" "$out"
out=$(q 127.0.0.2 _xmpp-server._tcp.closed.test SRV +dnssec +adflag)
assert_match "allowed from the targets table" "xmpp.closed.test." "$out"
has_ad "$out" && not_ok "answers from the targets table are never AD" || ok "answers from the targets table are never AD"
out=$(q 127.0.0.4 secure.test A +dnssec)
assert_eq "denied A of a signed peer: the sink address" 127.0.0.1 "$(rdata_type "$out" A)"
has_ad "$out" && not_ok "... not AD" || ok "... not AD"

stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
if san=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer error"; diag "$san"; else ok "no sanitizer error"; fi
finish
