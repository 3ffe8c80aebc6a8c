#!/bin/bash
# test_dry_run.sh -- dry-run rules on the database and CLI side: the
# rules.mode column and its check, the audit of a mode change, rule add
# --dry-run, rule set --enforce/--dry-run, rule list, check and verify.
#
# usage: make check, or by hand: [CHPOLICY=BINARY] tests/cli/test_dry_run.sh
# Prints TAP; exits 1 if any assertion failed.

# shellcheck disable=SC2015
set -u

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ch_lib.sh"
CH=$CHPOLICY

[ -x "$CH" ] || bail "$CH is not an executable (build first)"
require_tools sqlite3

make_tmpdir TMP || bail "a temporary directory"
DB=$TMP/policy.db
OUT=$TMP/out
ERR=$TMP/err
unset CHPOLICY_DB

q() { sqlite3 "$DB" "$1" 2>&1; }

ch 0 "init" init
for d in a.test b.test c.test; do "$CH" --db "$DB" domain add "$d" --level 2 >/dev/null; done
"$CH" --db "$DB" identity add a.test 127.0.0.2 >/dev/null
R1=$("$CH" --db "$DB" rule add --from any --to any --allow)

# ---------------------------------------------------------------- schema
same "a new rule is enforced by default" "$(q "SELECT mode FROM rules WHERE id = $R1")" "enforce"
out=$(q "INSERT INTO rules (from_kind, to_kind, action, mode) VALUES ('any', 'any', 'deny', 'maybe')")
assert_match "the schema refuses an unknown mode" "mode must be enforce or dry-run" "$out"
out=$(q "UPDATE rules SET mode = NULL WHERE id = $R1")
assert_match "the schema refuses a NULL mode" "NOT NULL" "$out"
same "the mode is part of the audited row" \
	"$(q "SELECT json_extract(new, '\$.mode') FROM audit WHERE tbl = 'rules' ORDER BY id DESC LIMIT 1")" "enforce"

# ---------------------------------------------------------------- rule add --dry-run, rule list
ch 0 "rule add --dry-run" rule add --from domain:a.test --to domain:c.test --deny --priority 10 --dry-run --note "trial"
R2=$(cat "$OUT")
same "rule add --dry-run stores mode dry-run" "$(q "SELECT mode FROM rules WHERE id = $R2")" "dry-run"
ch 0 "rule list" rule list
head -n 1 "$OUT" | grep -q "^ID  *PRIORITY  *FROM  *TO  *ACTION  *MODE  *EXPIRES  *NOTE" && ok "rule list has a MODE column" || not_ok "rule list columns: $(head -n 1 "$OUT")"
grep -Eq "^$R2 +10 +domain:a.test +domain:c.test +deny +dry-run +never +trial" "$OUT" && ok "rule list shows dry-run" || not_ok "rule list row: $(grep "^$R2 " "$OUT")"
grep -Eq "^$R1 .* allow +enforce " "$OUT" && ok "rule list shows enforce" || not_ok "rule list row: $(grep "^$R1 " "$OUT")"

# ---------------------------------------------------------------- check
ch 0 "check a.test c.test: still allowed (the deny is dry-run)" check a.test c.test
out_has "check gives the enforced decision" "allow a.test -> c.test: rule $R1 (any -> any allow)"
out_has "check says what the dry-run rule would do" "rule $R2 (dry-run) would deny a.test -> c.test: domain:a.test -> domain:c.test deny (not enforced)"
ch 0 "check 127.0.0.2 c.test: by address" check 127.0.0.2 c.test
out_has "check by address names the dry-run rule too" "rule $R2 (dry-run) would deny 127.0.0.2 (a.test) -> c.test"
ch 0 "check a.test b.test" check a.test b.test
out_lacks "no dry-run line when nothing would change" "dry-run"
ch 0 "check --all" check a.test c.test --all
grep -Eq "^    rule $R2  priority 10 .* deny  dry-run" "$OUT" && ok "check --all marks the dry-run rule, without *" || not_ok "check --all: $(tr '\n' '|' <"$OUT")"
# the mutual side: b -> a is allowed only by a dry-run rule
R3=$("$CH" --db "$DB" rule add --from domain:b.test --to domain:a.test --deny --priority 5)
R4=$("$CH" --db "$DB" rule add --from domain:b.test --to domain:a.test --allow --priority 1 --dry-run)
ch 1 "check a.test b.test: no mutual consent" check a.test b.test
out_has "a dry-run allow on the reverse side would allow" "rule $R4 (dry-run) would allow a.test -> b.test: domain:b.test -> domain:a.test allow"

# ---------------------------------------------------------------- rule set
s0=$(q "SELECT value FROM meta WHERE key = 'serial'")
ch 0 "rule set --enforce" --actor alice rule set "$R2" --enforce
out_has "rule set says the new mode" "rule $R2: enforce"
same "the mode is stored" "$(q "SELECT mode FROM rules WHERE id = $R2")" "enforce"
same "the serial went up by one" "$(q "SELECT value FROM meta WHERE key = 'serial'")" "$((s0 + 1))"
same "the change is audited under its actor, old and new mode" \
	"$(q "SELECT actor || ' ' || op || ' ' || json_extract(old, '\$.mode') || ' ' || json_extract(new, '\$.mode') FROM audit ORDER BY id DESC LIMIT 1")" \
	"alice update dry-run enforce"
ch 1 "check a.test c.test: the enforced deny bites" check a.test c.test
out_has "denied by the rule now enforced" "deny a.test -> c.test: rule $R2"
ch 0 "rule set --dry-run" rule set "$R2" --dry-run
same "back to dry-run" "$(q "SELECT mode FROM rules WHERE id = $R2")" "dry-run"
ch 2 "rule set without a mode" rule set "$R2"
ch 2 "rule set with both modes" rule set "$R2" --enforce --dry-run
ch 2 "rule set with a bad id" rule set x --enforce
ch 3 "rule set of a missing rule" rule set 999 --enforce
ch 0 "rule set --help" rule set --help
out_has "rule set --help" "usage: chpolicy"

# ---------------------------------------------------------------- verify
ch 1 "verify (warnings for the domains without identity)" verify
out_has "verify lists each dry-run rule as a reminder" "note: rule $R2 (domain:a.test -> domain:c.test deny) is in dry-run mode"
out_has "verify lists the other one" "note: rule $R4 "
out_has "verify counts them" "(2 dry-run)"
out_lacks "a dry-run rule shadows nothing" "shadowed by rule $R4"
"$CH" --db "$DB" rule remove "$R4" >/dev/null
"$CH" --db "$DB" rule remove "$R3" >/dev/null
"$CH" --db "$DB" rule set "$R2" --enforce >/dev/null
ch 1 "verify without dry-run rules" verify
out_lacks "no reminder without dry-run rules" "note:"
out_has "summary: none in dry-run" "(0 dry-run)"

finish
