#!/bin/bash
# test_bad_values.sh -- the schema and resolverd's loader agree on what a
# valid value is, field by field.
#
# usage: make check, or by hand: [BUILDDIR=DIR] tests/schema/test_bad_values.sh
#
# For every field the loader reads (names, addresses, prefixes, ports,
# priorities, weights, levels, services, actions, expiry times):
#   - each bad value of a generated list is refused by the sqlite3 shell
#     with a message that names the problem, and the serial stays;
#   - forced into a copy of the database anyway (CHECK constraints ignored,
#     triggers dropped), the same value makes `resolverd -t` fail with an
#     error naming it: the loader refuses what the schema refuses;
#   - each good value is accepted, and `resolverd -t` loads the database.
# Then generated address spellings (leading zeros, case, compression, host
# bits, mapped forms) where the schema's verdict must equal the loader's.

set -u
. "$(dirname "$0")/../lib.sh"
require_tools sqlite3
require_resolverd
make_tmpdir T

SCHEMA=$SRCDIR/dbtools/schema.sql
ZONE=$SRCDIR/zones/clearinghouse.test.zone
DB=$T/policy.db
ERR=$T/err

new_policy_db "$DB" <<'SQL' || bail "base policy loads"
INSERT INTO domains (name, level) VALUES ('alpha.test', 3), ('bravo.test', 2), ('charlie.test', 3);
INSERT INTO groups (name) VALUES ('g');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'alpha.test'), ('127.0.0.3/32', 'bravo.test');
INSERT INTO rules (priority, from_kind, to_kind, from_min, to_min, action) VALUES (100, 'level', 'level', 3, 3, 'allow');
INSERT INTO targets (domain, host) VALUES ('charlie.test', 'xmpp.charlie.test');
INSERT INTO target_addresses (host, address) VALUES ('xmpp.charlie.test', '192.0.2.30');
SQL
serial() { sqlite3 "$DB" "SELECT value FROM meta WHERE key = 'serial'"; }

# loads DB: resolverd -t accepts the database DB (the error on stderr in $ERR)
loads() {
    printf 'listen: 127.0.0.1@5399\ndatabase: %s\nzone-file: %s\n' "$1" "$ZONE" >"$T/t.conf"
    "$RESOLVERD" -t -c "$T/t.conf" >/dev/null 2>"$ERR"
}
loads "$DB" && ok "the base policy loads" || bail "the base policy does not load: $(cat "$ERR")"

# The statement that puts VALUE in FIELD, as the sqlite3 shell would run it.
stmt() {
    local field=$1 v=$2
    case $field in
        domain)       printf "INSERT INTO domains (name) VALUES (%s)" "$v" ;;
        level)        printf "INSERT INTO domains (name, level) VALUES ('lv.test', %s)" "$v" ;;
        enabled)      printf "INSERT INTO domains (name, enabled) VALUES ('en.test', %s)" "$v" ;;
        group)        printf "INSERT INTO groups (name) VALUES (%s)" "$v" ;;
        identity)     printf "INSERT INTO identities (value, domain) VALUES (%s, 'bravo.test')" "$v" ;;
        host)         printf "INSERT INTO targets (domain, host) VALUES ('bravo.test', %s)" "$v" ;;
        port)         printf "INSERT INTO targets (domain, host, port) VALUES ('bravo.test', 'p.bravo.test', %s)" "$v" ;;
        priority)     printf "INSERT INTO targets (domain, host, priority) VALUES ('bravo.test', 'p.bravo.test', %s)" "$v" ;;
        weight)       printf "INSERT INTO targets (domain, host, weight) VALUES ('bravo.test', 'p.bravo.test', %s)" "$v" ;;
        service)      printf "INSERT INTO targets (domain, host, service) VALUES ('bravo.test', 'p.bravo.test', %s)" "$v" ;;
        address)      printf "INSERT INTO target_addresses (host, address) VALUES ('xmpp.charlie.test', %s)" "$v" ;;
        address_host) printf "INSERT INTO target_addresses (host, address) VALUES (%s, '192.0.2.9')" "$v" ;;
        rule_level)   printf "INSERT INTO rules (from_kind, from_min, to_kind, action) VALUES ('level', %s, 'any', 'allow')" "$v" ;;
        rule_prio)    printf "INSERT INTO rules (priority, from_kind, to_kind, action) VALUES (%s, 'any', 'any', 'allow')" "$v" ;;
        action)       printf "INSERT INTO rules (from_kind, to_kind, action) VALUES ('any', 'any', %s)" "$v" ;;
        expires)      printf "INSERT INTO rules (from_kind, to_kind, action, expires) VALUES ('any', 'any', 'allow', %s)" "$v" ;;
    esac
}

# bad FIELD MESSAGE VALUE...: each VALUE (an SQL literal) is refused with
# MESSAGE; forced in, resolverd's loader refuses it too.
bad() {
    local field=$1 msg=$2 v before sql
    shift 2
    for v in "$@"; do
        sql=$(stmt "$field" "$v")
        before=$(serial)
        if sqlite3 -bail "$DB" "$sql" >/dev/null 2>"$ERR"; then
            not_ok "$field $v: refused by the schema (it was accepted)"
            sqlite3 "$DB" "ROLLBACK" 2>/dev/null
            continue
        fi
        if ! grep -qF -- "$msg" "$ERR"; then
            not_ok "$field $v: refused with '$msg'"
            diag "got: $(cat "$ERR")"
        elif [ "$(serial)" != "$before" ]; then
            not_ok "$field $v: refused, serial unchanged"
        else
            ok "$field $v: refused by the schema ($msg)"
        fi
        # forced in: CHECK constraints off, every trigger dropped
        rm -f "$T/forced.db"*
        sqlite3 "$DB" ".backup '$T/forced.db'"
        if ! sqlite3 -bail "$T/forced.db" "$(sqlite3 "$T/forced.db" "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_master WHERE type = 'trigger'")
PRAGMA ignore_check_constraints = ON; $sql" 2>"$ERR"; then
            not_ok "$field $v: forced in (checks off): $(cat "$ERR")"
        elif loads "$T/forced.db"; then
            not_ok "$field $v: forced in, resolverd -t refuses it too (it loaded)"
        else
            ok "$field $v: forced in, the loader refuses it: $(sed -n 's/.*error: policy: //p' "$ERR" | head -n 1)"
        fi
    done
}

# good FIELD VALUE...: each VALUE is accepted, and the database still loads.
good() {
    local field=$1 v
    shift
    for v in "$@"; do
        if ! sqlite3 -bail "$DB" "BEGIN; $(stmt "$field" "$v"); COMMIT;" >/dev/null 2>"$ERR"; then
            not_ok "$field $v: accepted"
            diag "$(cat "$ERR")"
            sqlite3 "$DB" "ROLLBACK" 2>/dev/null
        elif loads "$DB"; then
            ok "$field $v: accepted and loaded by resolverd -t"
        else
            not_ok "$field $v: accepted but resolverd -t fails: $(cat "$ERR")"
        fi
        # take it out again, so that the next value starts from the same policy
        sqlite3 "$DB" "DELETE FROM target_addresses WHERE host NOT IN ('xmpp.charlie.test') OR address <> '192.0.2.30';
                       DELETE FROM targets WHERE domain = 'bravo.test'; DELETE FROM rules WHERE id > 1;
                       DELETE FROM identities WHERE domain = 'bravo.test' AND value <> '127.0.0.3/32';
                       DELETE FROM domains WHERE name NOT IN ('alpha.test', 'bravo.test', 'charlie.test');
                       DELETE FROM groups WHERE name <> 'g';" 2>/dev/null
    done
}

LABEL64=$(printf 'a%.0s' $(seq 64))
LONG=$(printf 'abcdefghi.%.0s' $(seq 26))test   # 264 characters

echo "# names: domains, target hosts, hosts of target addresses"
for f in domain host address_host; do
    bad "$f" "invalid domain name" "'Alpha.test'" "'-a.test'" "'a-.test'" "'a..test'" "''" "'a.test.'" \
        "'a_b.test'" "'a b.test'" "'$LABEL64.test'" "'$LONG'" "'alpha\\.test'" "X'612e74657374'" "'bücher.test'" \
        "'alpha.test' || char(0) || 'x'"
done
good domain "'x.test'" "'xn--bcher-kva.test'" "'a-1.b2.test'" "'$(printf 'a%.0s' $(seq 63)).test'"
good host "'xmpp.bravo.test'" "'xn--bcher-kva.test'"
good address_host "'other.test'"

echo "# addresses and prefixes"
bad identity "invalid CIDR" "'999.0.0.1/32'" "'127.0.0.01/32'" "'10.0.0.256'" "'10.0.0/24'" "'10.0.0.0/33'" \
    "'10.0.0.0/'" "'10.0.0.0/08'" "'10.0.0.1/8'" "'2001:DB8::/32'" "'2001:db8:0:0:0:0:0:1/128'" \
    "'2001:db8::0:1'" "'::ffff:7f00:5/128'" "'::ffff:127.0.0.5'" "'2001:db8::1/64'" "'2001::db8::1'" \
    "'1::1:1:1:1:1:1'" "'1:0:0:1::1:1'" "'0001::1'" "'localhost'" "' 10.0.0.1'" "'10.0.0.1/32 '" "5" \
    "'10.0.0.9' || char(0) || 'x'"
bad address "invalid CIDR/address" "'999.0.0.1'" "'127.0.0.01'" "'192.0.2.1/32'" "'2001:DB8::1'" \
    "'::ffff:192.0.2.1'" "'::ffff:c000:201'" "'1.2.3'" "''" "'192.0.2.31' || char(0) || 'x'"
good identity "'10.0.0.0/8'" "'192.0.2.1'" "'0.0.0.0/0'" "'2001:db8::/32'" "'::1/128'" "'::/0'" \
    "'1::1:0:0:1:1/128'" "'1:0:1:1:1:1:1:1'" "'2001:db8:1::/48'"
good address "'192.0.2.31'" "'2001:db8::53'" "'::1'"

echo "# numbers and words"
bad level "level must be an integer" "-1" "'high'" "1.5" "2147483648" "X'33'"
bad enabled "CHECK constraint failed" "2" "'yes'" "-1"
bad group "invalid group name" "'Finance'" "'fin ance'" "''" "'-g'" "'g' || char(0) || 'h'"
bad port "port must be an integer from 1 to 65535" "0" "65536" "1.5" "'5269x'" "-1"
bad priority "priority must be an integer from 0 to 65535" "-1" "65536" "0.5"
bad weight "weight must be an integer from 0 to 65535" "-1" "65536" "'x'"
bad service "service must be xmpp-server, xmpps-server or jabber" "'xmpp'" "'XMPP-SERVER'" "''"
bad rule_level "level bound must be an integer" "-1" "2147483648" "1.5" "'three'"
bad rule_prio "CHECK constraint failed" "'high'" "1.5"
bad action "action must be allow or deny" "'Allow'" "'maybe'"
bad expires "expires must be a date-time" "'next tuesday'" "'2099-12-31'" "'2099-12-31T00:00:00'" \
    "'2099-12-31 00:00:00+01:00'" "4102444800"
good level "0" "2147483647"
good port "1" "65535"
good priority "0" "65535"
good service "'xmpps-server'" "'jabber'"
good rule_prio "-5" "9223372036854775807"
good expires "'2099-12-31 23:59:59'"

echo "# the target '.' (no service)"
sql_dot="INSERT INTO targets (domain, service, priority, weight, port, host) VALUES ('bravo.test', 'jabber', 0, 0, 0, '.')"
before=$(serial)
sqlite3 -bail "$DB" "INSERT INTO targets (domain, host, port) VALUES ('bravo.test', '.', 5269)" 2>"$ERR" \
    && not_ok "'.' with port 5269 refused" || assert_match "'.' with port 5269 refused" "port must be|target \. \(no service\)" "$(cat "$ERR")"
sqlite3 -bail "$DB" "$sql_dot" 2>"$ERR" && ok "'.' as 0 0 0 accepted" || not_ok "'.' as 0 0 0 accepted: $(cat "$ERR")"
loads "$DB" && ok "'.' loads" || not_ok "'.' loads: $(cat "$ERR")"
sqlite3 -bail "$DB" "INSERT INTO targets (domain, service, host) VALUES ('bravo.test', 'jabber', 'j.bravo.test')" 2>"$ERR" \
    && not_ok "another target beside '.' refused" || assert_match "another target beside '.' refused" "must be the only target" "$(cat "$ERR")"
sqlite3 -bail "$DB" "INSERT INTO target_addresses (host, address) VALUES ('.', '192.0.2.1')" 2>"$ERR" \
    && not_ok "an address for host '.' refused" || assert_match "an address for host '.' refused" "invalid domain name" "$(cat "$ERR")"
sqlite3 "$DB" "DELETE FROM targets WHERE host = '.'"
sqlite3 -bail "$DB" "UPDATE targets SET domain = 'nowhere.test'" 2>"$ERR" \
    && not_ok "a target moved to an unknown domain refused" || assert_match "a target moved to an unknown domain refused" "target: unknown domain" "$(cat "$ERR")"
sqlite3 -bail "$DB" "INSERT INTO identities (value, domain) VALUES ('127.0.0.2', 'bravo.test')" 2>"$ERR" \
    && not_ok "a bare address beside its /32 refused" || assert_match "a bare address beside its /32 refused" "already stored with" "$(cat "$ERR")"
sqlite3 -bail "$DB" "UPDATE meta SET value = 'x' WHERE key = 'serial'" 2>"$ERR" \
    && not_ok "a serial that is not an integer refused" || assert_match "a serial that is not an integer refused" "integers from 1" "$(cat "$ERR")"

echo "# generated address spellings: the schema's verdict is the loader's"
# the loader's verdict through chpolicy verify (resolverd's loader, linked in):
# exit 3 with "resolverd cannot load" when it refuses
mapfile -t values < <(python3 - <<'PY'
import ipaddress, random
random.seed(7)
out = set()
for _ in range(60):
    n = random.choice([0, 1, 0xffff, random.getrandbits(128), random.getrandbits(16) << 112,
                       (0xffff << 32) | random.getrandbits(32), random.getrandbits(32) << 64])
    a = ipaddress.IPv6Address(n)
    full = a.exploded
    groups = full.split(":")
    plen = random.choice([None, 0, 16, 48, 64, 96, 127, 128])
    forms = [a.compressed, full, ":".join(g.lstrip("0") or "0" for g in groups),
             a.compressed.upper(), str(a.ipv4_mapped) if a.ipv4_mapped else a.compressed]
    for f in forms:
        out.add(f if plen is None else "%s/%d" % (f, plen))
    v4 = ipaddress.IPv4Address(random.getrandbits(32))
    p4 = random.choice([None, 0, 8, 24, 31, 32])
    for f in (str(v4), ".".join("%03d" % int(o) for o in str(v4).split("."))):
        out.add(f if p4 is None else "%s/%d" % (f, p4))
for v in sorted(out):
    print(v)
PY
)
agree=0 disagree=0 accepted=0
for v in "${values[@]}"; do
    rm -f "$T/g.db"*
    sqlite3 "$DB" ".backup '$T/g.db'"
    if sqlite3 -bail "$T/g.db" "INSERT INTO identities (value, domain) VALUES ('$v', 'bravo.test')" 2>/dev/null; then schema=ok; else schema=refused; fi
    sqlite3 "$T/g.db" "DROP TRIGGER identities_refs_insert; INSERT OR IGNORE INTO identities (value, domain) VALUES ('$v', 'bravo.test')"
    if "$CHPOLICY" --db "$T/g.db" verify 2>&1 | grep -q 'resolverd cannot load'; then loader=refused; else loader=ok; fi
    [ "$schema" = ok ] && accepted=$((accepted + 1))
    if [ "$schema" = "$loader" ]; then
        agree=$((agree + 1))
    else
        disagree=$((disagree + 1))
        diag "$v: schema $schema, loader $loader"
    fi
done
assert_eq "schema and loader agree on ${#values[@]} generated address spellings" 0 "$disagree"
[ "$accepted" -gt 0 ] && [ "$accepted" -lt "$agree" ] \
    && ok "the generated spellings hold valid ($accepted) and invalid ($((agree - accepted))) ones" \
    || not_ok "the generated spellings hold valid and invalid ones ($accepted of $agree valid)"

finish
