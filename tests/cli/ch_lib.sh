# Helpers of the chpolicy tests (tests/cli/*.sh), after tests/lib.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/ch_lib.sh"
#
# They run chpolicy ($CHPOLICY) on the database $DB and keep its standard
# output and error in the files $OUT and $ERR (the caller sets all three).

# ch WANT WHAT ARGS...: run chpolicy --db $DB ARGS, expect exit status WANT.
# Any failure (WANT > 1) must be exactly one line on stderr, "chpolicy: ...".
ch() {
	local want=$1 what=$2 rc
	shift 2
	"$CHPOLICY" --db "$DB" "$@" >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		not_ok "$what: exit $rc, want $want ($(head -n 1 "$ERR"))"
		return 1
	fi
	if [ "$want" -ge 2 ]; then
		if [ "$(wc -l <"$ERR")" -ne 1 ] || ! grep -q '^chpolicy: ' "$ERR"; then
			not_ok "$what: exit $rc but stderr is not one 'chpolicy: ' line: $(tr '\n' '|' <"$ERR")"
			return 1
		fi
	fi
	ok "$what (exit $rc)"
}

# out_has WHAT TEXT / out_lacks WHAT TEXT / err_has WHAT TEXT: a fixed
# string in the last stdout / stderr
out_has() {
	if grep -qF -- "$2" "$OUT"; then ok "$1"; else not_ok "$1: stdout lacks '$2': $(head -n 3 "$OUT" | tr '\n' '|')"; fi
}
out_lacks() {
	if grep -qF -- "$2" "$OUT"; then not_ok "$1: stdout has '$2'"; else ok "$1"; fi
}
err_has() {
	if grep -qF -- "$2" "$ERR"; then ok "$1"; else not_ok "$1: stderr lacks '$2': $(head -n 1 "$ERR")"; fi
}
# same WHAT GOT WANT
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}
