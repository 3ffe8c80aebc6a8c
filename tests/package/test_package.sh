#!/bin/bash
# test_package.sh -- the Debian package, from build to purge, on this machine:
#
#  1. builds xmpp-clearinghouse from a clean copy of the source (the files git
#     tracks or would track, as they are in the working tree; a plain copy of
#     a release tree) with `dpkg-buildpackage -us -uc -b`,
#  2. lintian finds no error in it (its warnings are printed as comments),
#  3. `apt-get install` of the .deb creates the clearinghouse user and group
#     and /var/lib/clearinghouse, /run/clearinghouse and /var/log/clearinghouse
#     (clearinghouse, 0750), installs the
#     configuration, the unit, the man pages, and neither enables nor starts
#     the service,
#  4. the first policy (`chpolicy init` as the clearinghouse user) makes
#     `resolverd -t` of the installed configuration pass, and every file in
#     /var/lib/clearinghouse stays the clearinghouse user's,
#  5. `systemd-analyze verify` accepts the installed unit and
#     `systemd-analyze security` rates it no worse than docs/operations.md says,
#  6. a reinstallation (an upgrade's maintainer scripts) keeps a changed
#     configuration and the policy,
#  7. `apt-get purge` removes the programs, the configuration and the logs,
#     and keeps the policy database.
#
# The machine is left as it was found, also on failure and on interrupt: the
# package is purged, and the user, group and directories the package made are
# removed. Skipped when not root, without dpkg-buildpackage, or when the
# package or its directories are already there (a real installation).
#
# usage: make check, or by hand as root: tests/package/test_package.sh
# CHECK_PACKAGE=0 skips it (scripts/check.sh does for the sanitizer build and
# distcheck); KEEP_TMP=1 keeps the build tree.

set -u
. "$(dirname "$0")/../lib.sh"

PKG=xmpp-clearinghouse
STATE=/var/lib/clearinghouse
RUNDIR=/run/clearinghouse
LOGDIR=/var/log/clearinghouse
CONF=/etc/clearinghouse/resolverd.conf
UNIT=/lib/systemd/system/resolverd.service
DB=$STATE/policy.db
# the exposure score docs/operations.md gives for the unit (systemd 252)
MAX_EXPOSURE=2.6

[ "${CHECK_PACKAGE:-1}" = 0 ] && skip_all "CHECK_PACKAGE=0"
# a package build runs the unit tests only, but never this test inside itself
[ -n "${CLEARINGHOUSE_PACKAGE_BUILD:-}" ] && skip_all "inside a package build"
[ "$(id -u)" -eq 0 ] || skip_all "not root (installs and purges the package)"
require_tools dpkg-buildpackage dpkg-checkbuilddeps dh lintian apt-get dpkg-query runuser
if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
    skip_all "$PKG is installed here: the test would replace and purge it"
fi
for d in "$STATE" "$RUNDIR" "$LOGDIR" /etc/clearinghouse; do
    [ -e "$d" ] && skip_all "$d exists here: the test would remove it"
done
had_user=no had_group=no
getent passwd clearinghouse >/dev/null && had_user=yes
getent group clearinghouse >/dev/null && had_group=yes

make_tmpdir T
SRC=$T/src
mkdir -p "$SRC"

# apt_get ARGS...: apt-get without questions, waiting for the dpkg lock.
apt_get() {
    env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@"
}

# Leave the machine as it was: purge the package, remove what it made.
restore_machine() {
    if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
        apt_get purge "$PKG" >>"$T/cleanup.log" 2>&1 || echo "# cleanup: apt-get purge $PKG failed, see $T/cleanup.log"
    fi
    rm -rf -- "$STATE" "$RUNDIR" "$LOGDIR" /etc/clearinghouse
    if [ "$had_user" = no ] && getent passwd clearinghouse >/dev/null; then
        userdel clearinghouse 2>/dev/null || echo "# cleanup: userdel clearinghouse failed"
    fi
    if [ "$had_group" = no ] && getent group clearinghouse >/dev/null; then
        groupdel clearinghouse 2>/dev/null || echo "# cleanup: groupdel clearinghouse failed"
    fi
}
on_cleanup restore_machine

# stop_here: the rest needs what just failed; print the plan and end.
stop_here() {
    finish
    exit
}

# --------------------------------------------------------------- 1. build

echo "# the source: a clean copy"
if git -C "$SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked and untracked files, not the ignored ones (builds, generated
    # files), as they are in the working tree
    (cd "$SRCDIR" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$SRC"
    from="the git working tree"
else
    # a release tree: everything but the build trees made inside it
    excludes=(--exclude=./_build --exclude=./_inst)
    for d in "$SRCDIR"/*/; do
        [ -f "$d/config.status" ] && excludes+=("--exclude=./$(basename "$d")")
    done
    tar -C "$SRCDIR" "${excludes[@]}" -cf - . | tar -xf - -C "$SRC"
    from="$SRCDIR"
fi
assert_cmd "a copy of the source from $from holds debian/ and contrib/systemd/" \
    test -f "$SRC/debian/control" -a -f "$SRC/contrib/systemd/resolverd.service" || stop_here

missing=$(cd "$SRC" && dpkg-checkbuilddeps 2>&1) \
    || skip_all "build dependencies missing (scripts/deps.sh installs them): ${missing#*: }"

# make check's own make must not reach into the package build: its
# MAKEFLAGS carry the jobserver and any variable given on its command line.
t0=$(now_ms)
if (cd "$SRC" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
        CLEARINGHOUSE_PACKAGE_BUILD=1 DEB_BUILD_OPTIONS="parallel=$(nproc)" \
        timeout -k 10 400 dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 </dev/null; then
    ok "dpkg-buildpackage -us -uc -b builds the package ($(( ($(now_ms) - t0) / 1000 )) s)"
else
    not_ok "dpkg-buildpackage -us -uc -b builds the package"
    diag "$(grep -E ' error: |^(FAIL|ERROR): |\*\*\* ' "$T/build.log" | head -n 20)" "$(tail -n 15 "$T/build.log")"
    stop_here
fi
DEB=$(ls "$T"/${PKG}_*.deb 2>/dev/null | head -n 1)
assert_match "the build made ${PKG}_VERSION_ARCH.deb" "/${PKG}_[^_]+_[a-z0-9]+\.deb$" "$DEB" || stop_here

contents=$(dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in /usr/sbin/resolverd /usr/bin/chpolicy "$CONF" "$UNIT" \
    /usr/lib/sysusers.d/$PKG.conf /usr/lib/tmpfiles.d/$PKG.conf \
    /usr/share/$PKG/schema.sql /usr/share/$PKG/clearinghouse.test.zone \
    /usr/share/man/man8/resolverd.8.gz /usr/share/man/man5/resolverd.conf.5.gz \
    /usr/share/man/man8/chpolicy.8.gz /usr/share/man/man8/resolverd-control.8.gz \
    /usr/share/doc/$PKG/copyright /usr/share/doc/$PKG/examples/resolverd.conf.example \
    /etc/logrotate.d/$PKG; do
    grep -qxF "$f" <<<"$contents" || missing_files+=("$f")
done
assert_eq "the package holds the programs, config, unit, sysusers/tmpfiles, data, man pages, docs" \
    "" "${missing_files[*]:-}"
assert_eq "the example configuration is documentation, not a second file in /etc" "" \
    "$(grep -x '/etc/clearinghouse/resolverd.conf.example' <<<"$contents")"
assert_match "the package's configuration drops to the clearinghouse user" '^username: clearinghouse$' \
    "$(dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ".$CONF")"

# --------------------------------------------------------------- 2. lintian

echo "# lintian"
lintian --no-tag-display-limit "$DEB" >"$T/lintian.log" 2>&1
errors=$(grep -E '^E: ' "$T/lintian.log")
assert_eq "lintian reports no error" "" "$errors"
while IFS= read -r line; do
    [ -n "$line" ] && echo "# lintian: $line"
done < <(grep -E '^[WIP]: ' "$T/lintian.log")

# --------------------------------------------------------------- 3. install

echo "# apt-get install ./$(basename "$DEB")"
if apt_get install "$DEB" >"$T/install.log" 2>&1 </dev/null; then
    ok "apt-get install of the package"
else
    not_ok "apt-get install of the package"
    diag "$(tail -n 25 "$T/install.log")"
    stop_here
fi
assert_match "the installation says how to create the policy" \
    "chpolicy --db $DB init" "$(cat "$T/install.log")"

assert_match "the system user clearinghouse exists, home $STATE, no login shell" \
    "^clearinghouse:x:[0-9]+:[0-9]+:[^:]*:$STATE:/usr/sbin/nologin$" "$(getent passwd clearinghouse)"
assert_match "the group clearinghouse exists" '^clearinghouse:' "$(getent group clearinghouse)"
assert_eq "$STATE is the clearinghouse user's, mode 0750" "clearinghouse:clearinghouse 750" \
    "$(stat -c '%U:%G %a' "$STATE" 2>&1)"
assert_eq "$RUNDIR is the clearinghouse user's, mode 0750" "clearinghouse:clearinghouse 750" \
    "$(stat -c '%U:%G %a' "$RUNDIR" 2>&1)"
assert_eq "$LOGDIR is the clearinghouse user's, mode 0750" "clearinghouse:clearinghouse 750" \
    "$(stat -c '%U:%G %a' "$LOGDIR" 2>&1)"
assert_match "$CONF is a conffile" "^ $CONF [0-9a-f]{32}$" \
    "$(dpkg-query -W -f='${Conffiles}\n' "$PKG")"
assert_eq "$CONF is readable by all, written by root" "root:root 644" "$(stat -c '%U:%G %a' "$CONF" 2>&1)"
assert_match "the installed resolverd runs" '^resolverd [0-9]' "$(/usr/sbin/resolverd -V 2>&1)"
assert_match "resolverd reads $CONF by default" "default $CONF" "$(/usr/sbin/resolverd -h 2>&1)"

# the service: not enabled, not started, not failed
running=()
for exe in /proc/[0-9]*/exe; do
    [ "$(readlink "$exe" 2>/dev/null)" = /usr/sbin/resolverd ] && running+=("${exe//[^0-9]/}")
done
assert_eq "no resolverd of the package runs after the installation" "" "${running[*]:-}"
assert_eq "resolverd.service is not enabled" "disabled" "$(systemctl is-enabled resolverd.service 2>&1)"
if [ -d /run/systemd/system ]; then
    assert_ne "resolverd.service is not active" "active" "$(systemctl is-active resolverd.service 2>&1)"
    assert_ne "resolverd.service is not failed" "failed" "$(systemctl is-failed resolverd.service 2>&1)"
else
    skip "resolverd.service is neither active nor failed" "systemd is not PID 1 here"
fi

# --------------------------------------------------------------- 4. first policy

echo "# the first policy"
out=$(/usr/sbin/resolverd -t -c "$CONF" 2>&1) && rc=0 || rc=$?
assert_ne "resolverd -t refuses to run without a policy database (exit $rc)" 0 "$rc"
assert_cmd "chpolicy --db $DB init, as the clearinghouse user" \
    runuser -u clearinghouse -- chpolicy --db "$DB" init
assert_eq "the policy database is the clearinghouse user's" "clearinghouse:clearinghouse" \
    "$(stat -c '%U:%G' "$DB" 2>&1)"
assert_cmd "resolverd -t -c $CONF passes (as the unit's ExecStartPre runs it)" \
    /usr/sbin/resolverd -t -c "$CONF"
assert_eq "every file in $STATE is still the clearinghouse user's after resolverd -t as root" "" \
    "$(find "$STATE" ! -user clearinghouse -printf '%p %u\n')"
assert_cmd "chpolicy edits the policy as the clearinghouse user" \
    runuser -u clearinghouse -- chpolicy --db "$DB" domain add a.example --level 3

# --------------------------------------------------------------- 5. the unit

echo "# the unit"
if ! out=$(systemd-analyze --version 2>&1); then
    skip "systemd-analyze verify accepts $UNIT" "systemd-analyze does not run here: $out"
else
    # Documentation= is checked with man(1) when there is one
    man_opt=--man=yes
    command -v man >/dev/null 2>&1 || man_opt=--man=no
    assert_cmd "systemd-analyze verify accepts $UNIT" systemd-analyze verify "$man_opt" "$UNIT"
    sec=$(systemd-analyze security --offline=true "$UNIT" 2>&1)
    score=$(sed -n 's/.*Overall exposure level for resolverd.service: \([0-9.]*\).*/\1/p' <<<"$sec")
    if [ -z "$score" ]; then
        skip "systemd-analyze security rates the unit at most $MAX_EXPOSURE" "no --offline rating here: $(tail -n 1 <<<"$sec")"
    elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
        ok "systemd-analyze security rates the unit $score (at most $MAX_EXPOSURE)"
    else
        not_ok "systemd-analyze security rates the unit at most $MAX_EXPOSURE"
        diag "exposure $score" "$(grep '✗' <<<"$sec")"
    fi
fi
assert_match "the unit runs resolverd -t before it starts" \
    "^ExecStartPre=/usr/sbin/resolverd -t -c $CONF$" "$(cat "$UNIT")"

# --------------------------------------------------------------- 6. upgrade

echo "# a reinstallation keeps a changed configuration and the policy"
echo "# changed by the administrator" >>"$CONF"
if apt_get install --reinstall "$DEB" >"$T/reinstall.log" 2>&1 </dev/null; then
    ok "apt-get install --reinstall of the package"
else
    not_ok "apt-get install --reinstall of the package"
    diag "$(tail -n 25 "$T/reinstall.log")"
fi
assert_eq "the changed configuration is kept" "# changed by the administrator" "$(tail -n 1 "$CONF")"
assert_match "the policy is kept" '^a\.example ' \
    "$(runuser -u clearinghouse -- chpolicy --db "$DB" domain list 2>&1)"
assert_not_match "a reinstallation does not repeat the first-installation message" \
    "chpolicy --db $DB init" "$(cat "$T/reinstall.log")"
assert_eq "resolverd.service is still not enabled" "disabled" "$(systemctl is-enabled resolverd.service 2>&1)"

# --------------------------------------------------------------- 7. purge

echo "# apt-get purge"
if apt_get purge "$PKG" >"$T/purge.log" 2>&1 </dev/null; then
    ok "apt-get purge of the package"
else
    not_ok "apt-get purge of the package"
    diag "$(tail -n 25 "$T/purge.log")"
fi
left=()
for f in /usr/sbin/resolverd /usr/bin/chpolicy "$CONF" /etc/clearinghouse "$UNIT" \
    /usr/share/$PKG /usr/share/man/man8/resolverd.8.gz "$RUNDIR" "$LOGDIR"; do
    [ -e "$f" ] && left+=("$f")
done
assert_eq "the purge removes the programs, the configuration, the unit, $RUNDIR and $LOGDIR" "" "${left[*]:-}"
assert_eq "dpkg knows the package no more" "not-installed" \
    "$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || echo not-installed)"
assert_cmd "the purge keeps the policy database" test -f "$DB"
assert_match "the purge says it kept the policy database" "$STATE" "$(cat "$T/purge.log")"

finish
