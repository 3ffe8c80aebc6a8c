#!/bin/bash
# test_manpages.sh -- the manual pages are clean mdoc and say what the
# programs do: `mandoc -T lint -W warning` finds nothing in any of them,
# every config keyword `resolverd -h` lists is described in resolverd.conf(5),
# every command `chpolicy --help` lists in chpolicy(8), and every command
# `resolverd-control -h` lists in resolverd-control(8). A keyword or command
# added to a program without its manual page fails here.
#
# usage: make check, or by hand: [RESOLVERD=BINARY CHPOLICY=BINARY] tests/package/test_manpages.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools mandoc
require_resolverd
[ -x "$CHPOLICY" ] || bail "$CHPOLICY is not an executable (build first)"
make_tmpdir T
MAN=$SRCDIR/man
PAGES=(resolverd.8 resolverd.conf.5 chpolicy.8 resolverd-control.8)

# text PAGE: the page as plain text, as man(1) shows it (without the
# backspaces of bold and underlined letters).
text() { mandoc -T ascii "$MAN/$1" | sed 's/.\x08//g'; }

echo "# mandoc -T lint -W warning"
for p in "${PAGES[@]}"; do
    if [ ! -f "$MAN/$p" ]; then
        not_ok "$p exists"
        continue
    fi
    # -W warning: warnings and worse; "referenced manual not found" is only a style message
    lint=$(mandoc -T lint -W warning "$MAN/$p" 2>&1) && rc=0 || rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$lint" ]; then
        ok "$p: mandoc -T lint finds no warning"
    else
        not_ok "$p: mandoc -T lint finds no warning (exit $rc)"
        diag "$lint"
    fi
    text "$p" >"$T/$p.txt"
    assert_match "$p renders with a DESCRIPTION" "^DESCRIPTION$" \
        "$(grep -E '^[A-Z]+$' "$T/$p.txt")"
done

echo "# resolverd.conf(5) describes every keyword of resolverd -h"
keywords=$("$RESOLVERD" -h | awk '/^config file keywords/ { k = 1; next } k && NF { print $1 }')
assert_match "resolverd -h lists config keywords" '^listen$' "$keywords"
missing=()
for k in $keywords; do
    # an entry starts "keyword: value" at the indentation of a section's text
    grep -qE "^ {5}${k}: " "$T/resolverd.conf.5.txt" || missing+=("$k")
done
assert_eq "every keyword of resolverd -h has an entry in resolverd.conf(5) ($(wc -w <<<"$keywords") keywords)" \
    "" "${missing[*]}"

echo "# chpolicy(8) describes every command of chpolicy --help"
# the "Commands:" block: "  domain add       add a community domain": the
# command is what comes before the run of spaces that starts its description
commands=$("$CHPOLICY" --help | awk '/^Commands:/ { c = 1; next } c && !/^ / { c = 0 } c' \
    | sed -nE 's/^ +([^ ]+( [^ ]+)*)  +.*/\1/p')
assert_match "chpolicy --help lists commands" '^domain add$' "$commands"
missing=()
while IFS= read -r c; do
    [ -n "$c" ] || continue
    # an entry starts "domain add name ..." at the indentation of a section's text
    grep -qE "^ {5}${c}( |$)" "$T/chpolicy.8.txt" || missing+=("$c")
done <<<"$commands"
assert_eq "every command of chpolicy --help has an entry in chpolicy(8) ($(wc -l <<<"$commands") commands)" \
    "" "${missing[*]}"

echo "# resolverd-control(8) describes every command of the control socket"
# the "commands:" block of resolverd-control -h: "  status     served and ..."
CONTROL=$(dirname "$RESOLVERD")/resolverd-control
if [ -x "$CONTROL" ]; then
    commands=$("$CONTROL" -h | awk '/^commands:/ { c = 1; next } c && !/^ / { c = 0 } c' | awk '{ print $1 }')
    from="resolverd-control -h"
else
    commands="status stats reload flush"
    from="the control socket's commands (no resolverd-control built)"
fi
assert_match "$from lists commands" 'status' "$commands"
missing=()
for c in $commands; do
    grep -qE "^ {5}${c}( |$)" "$T/resolverd-control.8.txt" || missing+=("$c")
done
assert_eq "every command of $from has an entry in resolverd-control(8)" "" "${missing[*]}"

echo "# the pages name the files the package installs"
assert_match "resolverd(8) names the package's config file" '/etc/clearinghouse/resolverd\.conf' \
    "$(cat "$T/resolverd.8.txt")"
assert_match "chpolicy(8) names the package's database" '/var/lib/clearinghouse/policy\.db' \
    "$(cat "$T/chpolicy.8.txt")"

finish
