#!/usr/bin/env bash
# Every name a requester can reach is policed, whatever the way there: alias
# chains (CNAME, DNAME, several steps) into a denied peer, a peer's SRV target
# that is an alias of a hidden host, every record type at a policed name, and
# a requester's own domain. NSD serves the zones, dig asks from the requesters.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_policed_names.sh
#
# Community: alpha.test (level 3, 127.0.0.2), bravo.test (level 2, 127.0.0.3),
# charlie.test, papa.test, quebec.test (level 3); one rule
# level:>=3 -> level:>=3 allow. So bravo is denied charlie, papa and quebec.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools nsd nsd-checkconf dig sqlite3 setsid
require_resolverd
make_tmpdir T

mkdir -p "$T/zones"
zone() { # zone NAME: the zone file from standard input, with SOA and NS
    { printf '$ORIGIN %s.\n$TTL 3600\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n' "$1"; cat; } \
        >"$T/zones/$1.zone"
}
zone charlie.test <<'ZONE'
@ IN A 198.18.3.10
@ IN AAAA 2001:db8:3::10
@ IN HTTPS 1 . alpn=xmpp-server ipv4hint=198.18.3.10
@ IN MX 10 mail
@ IN TXT "charlie's secret"
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN A 198.18.3.11
www IN A 198.18.3.12
alias IN CNAME xmpp
ZONE
zone papa.test <<'ZONE'
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN CNAME real.hoster.test.
ZONE
zone quebec.test <<'ZONE'
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN CNAME hidden.hoster.test.
ZONE
zone hoster.test <<'ZONE'
real IN A 198.18.4.20
hidden IN A 198.18.4.21
ZONE
zone bravo.test <<'ZONE'
_xmpp-server._tcp IN SRV 0 5 5269 xmpp
xmpp IN A 198.18.2.11
conference IN A 198.18.2.12
@ IN TXT "bravo's own"
ZONE
zone outside.test <<'ZONE'
alias IN CNAME charlie.test.
chain2 IN CNAME chain1
chain1 IN CNAME www.charlie.test.
papa IN CNAME xmpp.papa.test.
dn IN DNAME charlie.test.
mx IN MX 10 charlie.test.
plain IN A 198.18.5.1
ZONE

NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" || bail "nsd serves the test zones"

DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name, level) VALUES ('alpha.test', 3), ('bravo.test', 2), ('charlie.test', 3),
    ('papa.test', 3), ('quebec.test', 3);
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'alpha.test'), ('127.0.0.3/32', 'bravo.test');
INSERT INTO rules (priority, from_kind, from_min, to_kind, to_min, action)
    VALUES (10, 'level', 3, 'level', 3, 'allow');
SQL
run_resolverd policed < <(
    for z in charlie.test papa.test quebec.test hoster.test bravo.test outside.test; do
        printf 'stub-zone: %s. 127.0.0.1@%s\n' "$z" "$NSD_PORT"
    done
    printf 'transparent-zone: test.\nrecursion-acl: 127.0.0.1/32\n'
)

q() { local src=$1; shift; dig +time=3 +tries=1 -b "$src" -p "$PORT" @127.0.0.1 "$@"; }
ALPHA=127.0.0.2 BRAVO=127.0.0.3
SINK=127.0.0.1
# hidden DESC ERE OUT: an answer (NOERROR) that does not give away what ERE matches
hidden() {
    if [ "$(status_of "$3")" = NOERROR ]; then
        assert_not_match "$1" "$2" "$3"
    else
        not_ok "$1"
        diag "expected a NOERROR answer, got:" "$3"
    fi
}

# ---------------------------------------------------------------- alias chains

out=$(q $BRAVO alias.outside.test A)
hidden "outside alias to a denied peer: charlie's address is not given" "198\.18\.3\." "$out"
assert_eq "... the chain ends in the sink address under charlie.test" \
    "charlie.test. $SINK" "$(answer_of "$out" | awk '$4 == "A" {print $1, $5}')"
assert_le "... capped to 60 s" 60 "$(ttl_of "$out" A)"
assert_eq "... and NOERROR" NOERROR "$(status_of "$out")"
out=$(q $BRAVO alias.outside.test AAAA)
hidden "the same for AAAA" "2001:db8:3::" "$out"
out=$(q $BRAVO alias.outside.test TXT)
hidden "the same for TXT: nothing of charlie's" "secret" "$out"
assert_eq "... NODATA" "NOERROR 0" "$(status_of "$out") $(rdata_type "$out" TXT | wc -l)"
out=$(q $BRAVO alias.outside.test HTTPS)
hidden "the same for HTTPS: no address hint" "ipv4hint|198\.18\.3\." "$out"
out=$(q $BRAVO chain2.outside.test A)
hidden "a two-step chain into a name below the denied peer: cut" "198\.18\.3\." "$out"
assert_eq "... the sink under www.charlie.test" "www.charlie.test. $SINK" \
    "$(answer_of "$out" | awk '$4 == "A" {print $1, $5}')"
assert_eq "... the outside steps of the chain are kept" "chain1.outside.test." "$(rdata_type "$out" CNAME | head -n 1)"
out=$(q $BRAVO www.dn.outside.test A)
hidden "a DNAME into the denied peer: cut" "198\.18\.3\." "$out"
assert_match "... ending in the sink" "www\.charlie\.test\.[[:space:]].*A[[:space:]]+$SINK" "$(answer_of "$out")"
out=$(q $BRAVO papa.outside.test A)
hidden "an alias to a denied peer's target host: cut before the hidden host" "real\.hoster|198\.18\.4\." "$out"

out=$(q $ALPHA alias.outside.test A)
assert_eq "an allowed requester gets the whole chain" "charlie.test. 198.18.3.10" \
    "$(answer_of "$out" | awk '$4 == "A" {print $1, $5}')"
assert_le "... the policed name's record capped to 60 s" 60 "$(ttl_of "$out" A)"
ttl=$(ttl_of "$out" CNAME)
[[ "$ttl" =~ ^[0-9]+$ ]] && [ "$ttl" -gt 60 ] && ok "... the outside alias keeps its own TTL (3600, counting down)" \
    || not_ok "... the outside alias keeps its own TTL (3600, counting down): got '$ttl'"
out=$(q $BRAVO alias.outside.test A)
hidden "after an allowed requester fetched the chain, the denied one is still cut" "198\.18\.3\." "$out"
out=$(q $ALPHA chain2.outside.test A)
assert_eq "an allowed requester gets the two-step chain whole" "198.18.3.12" "$(rdata_type "$out" A)"
out=$(q $BRAVO mx.outside.test MX)
assert_eq "a name outside the community that merely points at a peer is answered" "10 charlie.test." \
    "$(rdata_type "$out" MX)"
hidden "... without the peer's address as extra data" "198\.18\.3\." "$out"

# ---------------------------------------------------------------- hidden hosts

out=$(q $BRAVO _xmpp-server._tcp.papa.test SRV)
assert_match "denied SRV: the sink" "sink\.clearinghouse\.test" "$out"
out=$(q $BRAVO xmpp.papa.test CNAME)
hidden "the target host's alias is not revealed to a denied requester" "hoster" "$out"
assert_eq "... NODATA" "NOERROR 0" "$(status_of "$out") $(ancount_of "$out")"
out=$(q $BRAVO xmpp.papa.test A)
assert_eq "... its address question gets the sink" "$SINK" "$(rdata_type "$out" A)"
out=$(q $ALPHA xmpp.papa.test A)
assert_eq "an allowed requester follows the alias to the hidden host" "198.18.4.20" "$(rdata_type "$out" A)"
assert_le "... every record of the chain capped to 60 s" 60 "$(max_ttl_of "$out")"
out=$(q $BRAVO real.hoster.test A)
assert_eq "after that, the hidden host asked directly gives the sink" "$SINK" "$(rdata_type "$out" A)"
out=$(q $BRAVO real.hoster.test TXT)
assert_eq "... and NODATA for other types" "NOERROR 0" "$(status_of "$out") $(ancount_of "$out")"

# no allowed requester has asked for quebec: the denied SRV lookup alone makes
# resolverd learn the target, look it up and learn its hidden canonical host
q $BRAVO _xmpp-server._tcp.quebec.test SRV >/dev/null
learned=no
for _ in $(seq 1 40); do
    out=$(q $BRAVO hidden.hoster.test A)
    [ "$(rdata_type "$out" A)" = "$SINK" ] && { learned=yes; break; }
    sleep 0.05
done
assert_eq "a hidden host behind a denied peer's alias is learned without any allowed lookup" yes "$learned"

# ---------------------------------------------------------------- every type

for t in HTTPS MX TXT CNAME NS SOA; do
    out=$(q $BRAVO charlie.test "$t")
    assert_eq "$t at a denied peer: NODATA" "NOERROR 0" "$(status_of "$out") $(ancount_of "$out")"
    assert_match "... with the clearinghouse SOA (cacheable)" "clearinghouse\.test\..*SOA" "$(sed -n '/AUTHORITY SECTION/,/^$/p' <<<"$out")"
done
out=$(q $BRAVO charlie.test ANY)
hidden "ANY at a denied peer: nothing real" "198\.18\.3\.|secret|ipv4hint" "$out"
out=$(q $BRAVO alias.charlie.test CNAME)
assert_eq "CNAME below a denied peer: NODATA" "NOERROR 0" "$(status_of "$out") $(ancount_of "$out")"
out=$(q $ALPHA charlie.test HTTPS)
assert_match "HTTPS at an allowed peer: the record" "ipv4hint=198\.18\.3\.10" "$out"
assert_le "... capped to 60 s" 60 "$(ttl_of "$out" HTTPS)"
out=$(q $ALPHA charlie.test TXT)
assert_match "TXT at an allowed peer: the record" "secret" "$out"

# ---------------------------------------------------------------- own domain

out=$(q $BRAVO _xmpp-server._tcp.bravo.test SRV)
assert_eq "a requester resolves its own SRV record" "0 5 5269 xmpp.bravo.test." "$(rdata_type "$out" SRV)"
out=$(q $BRAVO conference.bravo.test A)
assert_eq "... and its components" "198.18.2.12" "$(rdata_type "$out" A)"
out=$(q $BRAVO bravo.test TXT)
assert_match "... and any type at its own name" "bravo's own" "$out"
assert_match "the decision log says why" "requester=bravo.test .*peer=bravo.test allow .*reason=own domain" "$(cat "$LOG")"

# ---------------------------------------------------------------- REFUSED

out=$(q 127.0.0.9 plain.outside.test A)
assert_eq "an unknown source: REFUSED" REFUSED "$(status_of "$out")"
has_flag "$out" ra && not_ok "... without RA" || ok "... without RA"
out=$(q $ALPHA -c CH plain.outside.test TXT)
assert_eq "class CH: REFUSED" REFUSED "$(status_of "$out")"
has_flag "$out" ra && not_ok "... without RA" || ok "... without RA"

stop_pid "$RESOLVERD_PID" 10 && ok "resolverd exits on SIGTERM" || not_ok "resolverd exits on SIGTERM"
if errs=$(sanitizer_errors "$LOG"); then
    not_ok "no sanitizer error"
    diag "$errs"
else
    ok "no sanitizer error"
fi
finish
