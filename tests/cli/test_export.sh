#!/bin/bash
# test_export.sh -- chpolicy's exports: export view and views (RPZ zones
# checked by ldns-read-zone, kzonecheck and named-checkzone; the comment on
# each entry; the settings), export matrix (CSV, JSON Lines, filters),
# export table with keygen and verify-table (OpenSSL checks the signature
# too), diff of serials and of matrix files, rebuild from the change log
# against backups (also across a restore), bad input and atomic writes.
#
# usage: make check, or by hand: [CHPOLICY=BINARY] tests/cli/test_export.sh
# Prints TAP; exits 1 if any assertion failed.

# shellcheck disable=SC2015
set -u

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ch_lib.sh"

[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"
require_tools sqlite3 openssl base64

make_tmpdir TMP || bail "a temporary directory"
DB=$TMP/policy.db
OUT=$TMP/out
ERR=$TMP/err
ZONE=$SRCDIR/zones/clearinghouse.test.zone
unset CHPOLICY_DB
C() { "$CHPOLICY" --db "$DB" "$@"; }
q() { sqlite3 "$DB" "$1"; }

# The integration test's policy (a b c d .test), a closed-network target and a dry-run rule
new_policy_db "$DB" <"$SRCDIR/tests/integration/policy.sql" >/dev/null || bail "policy.sql loads"
C domain add e.test --level 3 --disabled >/dev/null
C identity add e.test 127.0.0.8 >/dev/null
C target add d.test xmpp.d.test --address 192.0.2.44 >/dev/null
C target add d.test xmpp.d.test --service xmpps-server --port 5270 >/dev/null
DRY=$(C rule add --from any --to domain:b.test --deny --priority 1 --dry-run)
SERIAL=$(C serial)

# ---------------------------------------------------------------- export view
ch 0 "export view a.test" export view a.test --zone-file "$ZONE"
cp "$OUT" "$TMP/a.rpz"
out_has "SOA serial is the policy serial" "@ 60 IN SOA localhost. hostmaster.localhost. $SERIAL "
out_has "origin per requester" '$ORIGIN a.test.rpz.'
out_has "header: the identities" "; identities: 127.0.0.2/32"
out_has "header: the settings" "sink-mode host, sink-host sink.clearinghouse.test, sink-port 5269, ttl-cap 60, require-mutual yes, unknown-peer deny, police-domain-address yes"
out_has "header: what RPZ cannot say" "What a Response Policy Zone cannot say as resolverd does"
out_has "own domain: passthru, said so" "; a.test: allow, own domain"
out_has "own domain entry" "_xmpp-server._tcp.a.test 60 IN CNAME rpz-passthru."
out_has "allowed peer: the rules on both sides" "; b.test: allow, rule 2: domain:a.test -> any allow; mutual: rule 3: domain:b.test -> domain:a.test allow"
out_has "a dry-run rule is named, not applied" "dry-run: rule $DRY: any -> domain:b.test deny would deny (not applied)"
out_has "allowed: passthru" "b.test 60 IN CNAME rpz-passthru."
out_has "denied by a rule" "; c.test: deny, rule 1: domain:a.test -> domain:c.test deny"
out_has "denied service name: the sink SRV" "_xmpp-server._tcp.c.test 60 IN SRV 0 0 5269 sink.clearinghouse.test."
out_has "denied name: the sink's address" "c.test 60 IN A 127.0.0.1"
out_has "denied names below: the sink" "*.c.test 60 IN AAAA ::1"
out_has "disabled" "; e.test: deny, domain disabled (e.test)"
out_has "closed network: the targets table's SRV" "_xmpp-server._tcp.d.test 60 IN SRV 0 0 5269 xmpp.d.test."
out_has "closed network: its xmpps target on its port" "_xmpps-server._tcp.d.test 60 IN SRV 0 0 5270 xmpp.d.test."
out_has "closed network: no jabber target: NODATA" "_jabber._tcp.d.test 60 IN CNAME *."
out_has "a target host: its addresses" "xmpp.d.test 60 IN A 192.0.2.44"
ch 1 "c.test -> a.test is denied without mutual consent" check c.test a.test
ch 0 "export view c.test" export view c.test --zone-file "$ZONE"
out_has "no mutual consent, both rules named" "; a.test: deny, no mutual consent: rule 5: domain:c.test -> any allow, but a.test -> c.test: rule 1: domain:a.test -> domain:c.test deny"
ch 0 "export view b.test" export view b.test --zone-file "$ZONE"
out_has "default deny" "; d.test: deny, default deny"
ch 0 "export view, refuse mode" export view c.test --zone-file "$ZONE" --sink-mode refuse --ttl 30
out_has "refuse mode: SRV 0 0 0 ." "_xmpp-server._tcp.a.test 30 IN SRV 0 0 0 ."
out_has "--ttl: every record" '$TTL 30'
ch 0 "export view, police-domain-address no" export view c.test --zone-file "$ZONE" --police-domain-address no
out_lacks "no entry for the peer's own name" "a.test 60 IN A"
ch 0 "export view, require-mutual no" export view c.test --zone-file "$ZONE" --require-mutual no
out_has "c.test -> a.test allowed one way" "; a.test: allow, rule 5: domain:c.test -> any allow"
printf 'listen: 127.0.0.1@5300\ndatabase: %s\nzone-file: %s\nsink-mode: refuse\nttl-cap: 20\n' "$DB" "$ZONE" >"$TMP/resolverd.conf"
ch 0 "export view --config" export view a.test --config "$TMP/resolverd.conf"
out_has "settings from the config" "settings ($TMP/resolverd.conf): sink-mode refuse"
out_has "ttl-cap from the config" '$TTL 20'
ch 2 "--ttl above ttl-cap" export view a.test --zone-file "$ZONE" --ttl 61
ch 2 "a bad setting" export view a.test --zone-file "$ZONE" --sink-mode nowhere
ch 2 "an unknown requester" export view x.test --zone-file "$ZONE"
err_has "unknown requester: says so" "unknown domain 'x.test'"
ch 2 "no zone file" export view a.test
ch 3 "a missing zone file" export view a.test --zone-file "$TMP/none.zone"
ch 3 "an unwritable --out" export view a.test --zone-file "$ZONE" --out "$TMP/nodir/a.rpz"
# the export is written beside --out and renamed over it: never over a link or a device
ln -s "$TMP/elsewhere.rpz" "$TMP/link.rpz"
ch 3 "--out a symbolic link" export view a.test --zone-file "$ZONE" --out "$TMP/link.rpz"
err_has "--out a symbolic link: says why" "not a regular file (a symbolic link)"
[ -L "$TMP/link.rpz" ] && [ ! -e "$TMP/elsewhere.rpz" ] && ok "... the link is left as it was" \
    || not_ok "... the link is left as it was"
ch 3 "--out a device" export matrix --out /dev/null
[ -c /dev/null ] && ok "... /dev/null is still a device" || not_ok "... /dev/null is still a device"
# a time-limited rule: the header names it and the validity end
EXP=$(C rule add --from domain:a.test --to domain:d.test --deny --priority 2 --expires +30s)
ch 0 "export view with a rule expiring within the TTL" export view a.test --zone-file "$ZONE"
out_has "the expiry within the TTL is named" "rule $EXP (domain:a.test -> domain:d.test deny) expires at"
out_has "valid until" "; valid until: "
C rule remove "$EXP" >/dev/null
SERIAL=$(C serial)

for z in "$TMP/a.rpz"; do
	if command -v ldns-read-zone >/dev/null; then
		assert_cmd "ldns-read-zone accepts the view" ldns-read-zone "$z"
	else skip "ldns-read-zone accepts the view" "no ldns-read-zone"; fi
	if command -v kzonecheck >/dev/null; then
		assert_cmd "kzonecheck accepts the view" kzonecheck -o a.test.rpz "$z"
	else skip "kzonecheck accepts the view" "no kzonecheck"; fi
	if command -v named-checkzone >/dev/null; then
		assert_cmd "named-checkzone accepts the view" named-checkzone -q -i local a.test.rpz "$z"
	else skip "named-checkzone accepts the view" "no named-checkzone"; fi
done

# ---------------------------------------------------------------- export views
mkdir "$TMP/views"
ch 0 "export views DIR" export views "$TMP/views" --zone-file "$ZONE"
same "a zone per domain" "$(ls "$TMP/views" | grep -c '\.rpz$')" "5"
grep -q "access-control-tag: 127.0.0.4/30 \"ch_c_test\"" "$TMP/views/unbound.conf" && ok "unbound.conf tags c.test's identity" || not_ok "unbound.conf tags c.test's identity"
grep -q "^    define-tag: \"ch_a_test ch_b_test ch_c_test ch_d_test ch_e_test\"" "$TMP/views/unbound.conf" && ok "define-tag names every requester" || not_ok "define-tag: $(grep define-tag "$TMP/views/unbound.conf")"
grep -q "zonefile: \"$TMP/views/b.test.rpz\"" "$TMP/views/unbound.conf" && ok "rpz: clause with the zone's absolute path" || not_ok "rpz: zonefile path"
grep -q 'response-policy { zone "a.test.rpz"; }' "$TMP/views/named.conf" && ok "named.conf: a view with its response-policy zone" || not_ok "named.conf"
if command -v unbound-checkconf >/dev/null; then
	printf 'server:\n    module-config: "respip iterator"\n    include: "%s"\n' "$TMP/views/unbound.conf" >"$TMP/ub.conf"
	assert_cmd "unbound-checkconf accepts the fragment" unbound-checkconf "$TMP/ub.conf"
else skip "unbound-checkconf accepts the fragment" "no unbound-checkconf"; fi
if command -v named-checkconf >/dev/null; then
	printf 'options { directory "%s"; };\ninclude "%s";\n' "$TMP" "$TMP/views/named.conf" >"$TMP/named.conf"
	assert_cmd "named-checkconf accepts the fragment" named-checkconf "$TMP/named.conf"
else skip "named-checkconf accepts the fragment" "no named-checkconf"; fi
ch 3 "export views into a missing DIR" export views "$TMP/none" --zone-file "$ZONE"
chmod 555 "$TMP/views"
if [ "$(id -u)" -eq 0 ]; then
	skip "export views into an unwritable DIR" "root writes anywhere"
else
	ch 3 "export views into an unwritable DIR" export views "$TMP/views" --zone-file "$ZONE"
fi
chmod 755 "$TMP/views"
same "no temporary file is left behind" "$(find "$TMP" -name '*.tmp.*' | wc -l)" "0"

# ---------------------------------------------------------------- export matrix
ch 0 "export matrix (CSV)" export matrix
same "CSV header" "$(head -n 1 "$OUT")" "serial,requester,peer,decision,reason,rule_id,rule,mutual_rule_id,mutual_rule,dry_run_would,dry_run_rule_id"
same "one row per (requester, peer)" "$(($(wc -l <"$OUT") - 1))" "25"
out_has "an allowed pair, both rules, the dry-run rule" "$SERIAL,a.test,b.test,allow,rule,2,domain:a.test -> any allow,3,domain:b.test -> domain:a.test allow,deny,$DRY"
out_has "own domain" "$SERIAL,a.test,a.test,allow,own domain,,,,,,"
out_has "no mutual consent" "$SERIAL,c.test,a.test,deny,no mutual consent,5,domain:c.test -> any allow,1,domain:a.test -> domain:c.test deny,,"
out_has "disabled" "$SERIAL,a.test,e.test,deny,domain disabled,,,,,,"
out_has "default deny" "$SERIAL,b.test,d.test,deny,default deny,,,,,,"
cp "$OUT" "$TMP/m1.csv"
ch 0 "export matrix --format json" export matrix --format json --requester a.test
same "JSON Lines: a line per peer" "$(wc -l <"$OUT")" "5"
out_has "JSON: the row" "{\"serial\":$SERIAL,\"requester\":\"a.test\",\"peer\":\"c.test\",\"decision\":\"deny\",\"reason\":\"rule\",\"rule_id\":1,\"rule\":\"domain:a.test -> domain:c.test deny\",\"mutual_rule_id\":null,\"mutual_rule\":null,\"dry_run_would\":null,\"dry_run_rule_id\":null}"
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$OUT" 2>/dev/null; then ok "every line is JSON"; else not_ok "every line is JSON"; fi
ch 0 "export matrix --peer --decision" export matrix --peer a.test --decision allow
same "filters: the allowed requesters of a.test" "$(tail -n +2 "$OUT" | cut -d, -f2 | tr '\n' ' ')" "a.test b.test d.test "
ch 0 "export matrix --no-mutual" export matrix --requester c.test --peer a.test --no-mutual
out_has "one-way allow without mutual consent" ",c.test,a.test,allow,rule,5,"
ch 2 "export matrix with a bad format" export matrix --format xml
ch 2 "export matrix with a bad decision" export matrix --decision maybe
ch 2 "export matrix for an unknown requester" export matrix --requester x.test

# ---------------------------------------------------------------- export table, keys
ch 0 "keygen" keygen --out "$TMP/k"
same "the private key is mode 0600" "$(stat -c %a "$TMP/k.key")" "600"
grep -q "BEGIN PUBLIC KEY" "$TMP/k.pub" && ok "the public key is PEM" || not_ok "the public key is PEM"
ch 3 "keygen never overwrites" keygen --out "$TMP/k"
ch 2 "keygen without --out" keygen
ch 0 "export table --sign" export table --out "$TMP/t.json" --sign "$TMP/k.key"
same "the table's first line" "$(head -n 1 "$TMP/t.json" | sed 's/"made":"[^"]*","valid_until":"[^"]*"/T/')" "{\"format\":\"xmpp-clearinghouse-policy-table\",\"version\":1,\"serial\":$SERIAL,T,\"domains\":["
same "a domain line" "$(sed -n 2p "$TMP/t.json")" '{"name":"a.test","level":3,"enabled":true,"groups":["nato"]},'
same "the disabled domain, last, without a comma" "$(sed -n 6p "$TMP/t.json")" '{"name":"e.test","level":3,"enabled":false,"groups":[]}'
same "the last line" "$(tail -n 1 "$TMP/t.json")" "]}"
if python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert len(t["domains"]) == 5' "$TMP/t.json"; then ok "the table is JSON"; else not_ok "the table is JSON"; fi
same "the signature: one line of 88 base64 characters" "$(wc -c <"$TMP/t.json.sig")" "89"
ch 0 "verify-table: good" verify-table "$TMP/t.json" --pubkey "$TMP/k.pub"
out_has "verify-table says so" "good signature, serial $SERIAL, valid until"
base64 -d "$TMP/t.json.sig" >"$TMP/sig.bin"
assert_cmd "OpenSSL verifies the signature over the file's bytes" \
	openssl pkeyutl -verify -pubin -inkey "$TMP/k.pub" -rawin -in "$TMP/t.json" -sigfile "$TMP/sig.bin"
sed 's/"level":3/"level":9/' "$TMP/t.json" >"$TMP/bad.json"
ch 3 "verify-table: a changed byte" verify-table "$TMP/bad.json" --pubkey "$TMP/k.pub" --sig "$TMP/t.json.sig"
err_has "BAD signature" "BAD signature"
C keygen --out "$TMP/other" >/dev/null
ch 3 "verify-table: another key" verify-table "$TMP/t.json" --pubkey "$TMP/other.pub"
ch 3 "verify-table: a missing signature" verify-table "$TMP/bad.json" --pubkey "$TMP/k.pub"
ch 3 "verify-table: a missing key" verify-table "$TMP/t.json" --pubkey "$TMP/none.pub"
ch 3 "verify-table: a private key given as the public one" verify-table "$TMP/t.json" --pubkey "$TMP/k.key"
ch 2 "verify-table without --pubkey" verify-table "$TMP/t.json"
ch 3 "export table --sign with a missing key" export table --out "$TMP/t2.json" --sign "$TMP/none.key"
[ ! -e "$TMP/t2.json" ] && ok "... and no table without its signature" || not_ok "a table was left without its signature"
ch 2 "export table --sign without --out" export table --sign "$TMP/k.key"
ch 0 "export table, valid for 1 s" export table --out "$TMP/short.json" --valid-for 1s --sign "$TMP/k.key"
sleep 2
ch 1 "verify-table: expired" verify-table "$TMP/short.json" --pubkey "$TMP/k.pub"
out_has "expired, said so" "EXPIRED"
ch 0 "export table --format csv --sign" export table --format csv --out "$TMP/t.csv" --sign "$TMP/k.key"
same "CSV header" "$(head -n 1 "$TMP/t.csv")" "serial,made,valid_until,name,level,enabled,groups"
grep -q "^$SERIAL,[0-9TZ:-]*,[0-9TZ:-]*,a.test,3,1,nato$" "$TMP/t.csv" && ok "CSV row" || not_ok "CSV row: $(sed -n 2p "$TMP/t.csv")"
ch 0 "verify-table: CSV" verify-table "$TMP/t.csv" --pubkey "$TMP/k.pub"
ch 0 "export table --format zone --apex" export table --format zone --apex table.example.test --out "$TMP/t.zone" --sign "$TMP/k.key"
grep -q '^a.test 300 IN TXT "level=3" "enabled=1" "groups=nato"$' "$TMP/t.zone" && ok "zone: a TXT record per domain" || not_ok "zone TXT"
ch 0 "verify-table: zone" verify-table "$TMP/t.zone" --pubkey "$TMP/k.pub"
if command -v kzonecheck >/dev/null; then
	assert_cmd "kzonecheck accepts the table zone" kzonecheck -o table.example.test "$TMP/t.zone"
else skip "kzonecheck accepts the table zone" "no kzonecheck"; fi
ch 2 "export table with a bad apex" export table --format zone --apex 'bad..apex'
ch 2 "export table with a bad --valid-for" export table --valid-for soon

# ---------------------------------------------------------------- the examples in zones/export
# timestamps aside, the committed examples are what the current chpolicy makes
notime() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}Z?/TIME/g' "$1"; }
if bash "$SRCDIR/zones/export/make-examples.sh" "$TMP/examples" "$CHPOLICY" "$SRCDIR" >"$TMP/examples.log" 2>&1; then
	ok "make-examples.sh runs"
	nfiles=0 ndiff=0
	for f in $(cd "$TMP/examples" && find . -type f | sort); do
		nfiles=$((nfiles + 1))
		if [ "$(notime "$TMP/examples/$f")" != "$(notime "$SRCDIR/zones/export/$f")" ]; then
			ndiff=$((ndiff + 1))
			diag "zones/export/$f differs from a fresh export (make export-examples)"
		fi
	done
	same "the $nfiles examples in zones/export equal a fresh export" "$ndiff" "0"
else
	not_ok "make-examples.sh runs: $(tail -n 3 "$TMP/examples.log")"
fi

# ---------------------------------------------------------------- diff, rebuild
S1=$(C serial)
C backup "$TMP/at-s1.db" >/dev/null
C rule set "$DRY" --enforce >/dev/null
C domain set b.test --level 1 >/dev/null
S2=$(C serial)
ch 1 "diff SERIAL SERIAL: differences" diff "$S1" "$S2"
out_has "the pairs that changed, both sides" "a.test     b.test  allow: rule 2: domain:a.test -> any allow; mutual: rule 3: domain:b.test -> domain:a.test allow; dry-run: rule $DRY: any -> domain:b.test deny would deny (not applied)"
out_has "the new side" "deny: rule $DRY: any -> domain:b.test deny"
ch 0 "diff of a serial with itself" diff "$S2" "$S2"
ch 3 "diff with a serial not recorded" diff 1 999999
C export matrix >"$TMP/m2.csv"
C export matrix --format json >"$TMP/m2.json"
ch 1 "diff FILE FILE" diff "$TMP/m1.csv" "$TMP/m2.json"
out_has "file diff: a changed pair" "c.test     b.test  allow: rule, rule 5: domain:c.test -> any allow"
ch 0 "diff of a CSV and a JSON export of one serial" diff "$TMP/m2.csv" "$TMP/m2.json"
ch 2 "diff of a serial and a file" diff 3 "$TMP/m2.csv"
ch 3 "diff of a missing file" diff "$TMP/none.csv" "$TMP/m2.csv"

# dump DB: every policy table, sorted: what a rebuild must equal
dump() {
	local t
	for t in domains groups memberships identities rules targets target_addresses; do
		echo "-- $t"
		sqlite3 "$1" "SELECT * FROM $t" | sort
	done
}
ch 0 "rebuild the policy at an earlier serial" rebuild "$S1" "$TMP/re-s1.db"
same "the rebuild equals the backup taken at that serial" "$(dump "$TMP/re-s1.db")" "$(dump "$TMP/at-s1.db")"
same "... and has that serial" "$(sqlite3 "$TMP/re-s1.db" "SELECT value FROM meta WHERE key = 'serial'")" "$S1"
"$CHPOLICY" --db "$TMP/re-s1.db" verify >"$OUT" 2>&1
out_has "the rebuilt database has the built-in schema" "integrity ok"
out_lacks "no schema difference" "schema:"
ch 3 "rebuild never overwrites" rebuild "$S1" "$TMP/re-s1.db"
# every serial of this database's history against a replay of the same edits
for s in 2 10 20; do
	C rebuild "$s" "$TMP/re-$s.db" >/dev/null 2>&1 || not_ok "rebuild $s"
done
same "serial 2: the first domain only" "$(sqlite3 "$TMP/re-2.db" "SELECT group_concat(name) FROM domains")" "a.test"
# across a restore: the log carries the restored content
C backup "$TMP/at-s2.db" >/dev/null
C restore "$TMP/at-s1.db" >/dev/null || not_ok "restore"
S3=$(C serial)
C domain add f.test >/dev/null
S4=$(C serial)
C backup "$TMP/at-s4.db" >/dev/null
ch 0 "rebuild after a restore" rebuild "$S4" "$TMP/re-s4.db"
same "the rebuild after a restore equals the backup" "$(dump "$TMP/re-s4.db")" "$(dump "$TMP/at-s4.db")"
ch 0 "rebuild just before the restore" rebuild "$((S3 - 1))" "$TMP/re-s3.db"
same "the policy before the restore" "$(dump "$TMP/re-s3.db")" "$(dump "$TMP/at-s2.db")"
same "the restore row names the merged history and the snapshot" \
	"$(q "SELECT json_extract(new, '\$.snapshot') FROM audit WHERE op = 'restore'")" "1"

finish
