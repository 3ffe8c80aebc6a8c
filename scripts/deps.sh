#!/usr/bin/env bash
# Install the Debian packages needed to build and test the clearinghouse.
#
#   scripts/deps.sh          build, unit and integration tests, quick start
#   scripts/deps.sh --e2e    also the end-to-end tests' XMPP servers and client
#
# Fast when everything is already there (no apt at all). Debian 12, as root
# (or through sudo). Services that packages would start (nsd, prosody,
# ejabberd would take ports 53/5222/5269) are not started, and one a package
# script started anyway is stopped (by the pid it started with, never by name).
set -euo pipefail

PACKAGES=(
    build-essential autoconf automake pkg-config
    libldns-dev libunbound-dev libsqlite3-dev libssl-dev libevent-dev libidn2-dev
    sqlite3 nsd bind9-dnsutils knot-dnsutils ldnsutils dnsperf python3 stunnel4 curl
    bc ca-certificates procps util-linux
    unbound bind9-utils knot-dnssecutils
    bind9       # named as a site forwarder that signs with TSIG (identity tests)
    knot openssl   # test_sites.sh: Knot DNS as primary and secondary of the policy zone; TSIG secrets
    clang libclang-rt-dev
    debhelper dpkg-dev lintian mandoc man-db systemd
)
E2E_PACKAGES=(
    prosody lua5.4 lua-unbound ejabberd erlang-base python3-slixmpp
    iproute2 mount coreutils
    openssl     # the policy push test: Ed25519 signatures (Prosody 0.12 has none of its own)
)
case "${1:-}" in
    --e2e) PACKAGES+=("${E2E_PACKAGES[@]}") ;;
    "") ;;
    *) echo "usage: scripts/deps.sh [--e2e]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages are installed"
    exit 0
fi
echo "deps: installing ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

# Keep package scripts from starting services (nsd would take port 53 and
# keep running): a policy-rc.d that denies every start, for the install only.
POLICY=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# installed by scripts/deps.sh for the duration of apt-get install\nexit 101\n' \
        | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    own_policy=yes
fi
# pids of the system services before the install; one that appears during it
# was started by a package script despite the policy and is stopped.
service_pids() {
    {
        cat /run/nsd/nsd.pid /run/prosody/prosody.pid /run/unbound.pid /run/named/named.pid 2>/dev/null || true
        pgrep -x beam.smp -u ejabberd 2>/dev/null || true
        pgrep -x epmd -u ejabberd 2>/dev/null || true
    } | sort -u
}
before=$(service_pids)

restore() {
    if [ "$own_policy" = yes ]; then
        "${SUDO[@]}" rm -f "$POLICY"
    fi
}
trap restore EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        -o DPkg::Lock::Timeout=300 "$@"
}
for attempt in 1 2 3; do
    if apt_get update -q && apt_get install -y -q --no-install-recommends "${missing[@]}"; then
        break
    fi
    if [ "$attempt" -eq 3 ]; then
        echo "deps: apt-get failed three times" >&2
        exit 1
    fi
    echo "deps: apt-get failed, retrying in 5 s" >&2
    sleep 5
done

# The system services are not used (tests run their own instances): keep them
# from starting at boot and stop any that a package script started.
for svc in prosody ejabberd nsd unbound; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
done
for pid in $(service_pids); do
    if ! grep -qx "$pid" <<<"$before" && kill -0 "$pid" 2>/dev/null; then
        echo "deps: stopping $(ps -o comm= -p "$pid") (pid $pid) started by the package install"
        "${SUDO[@]}" kill "$pid" 2>/dev/null || true
    fi
done

still=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
    echo "deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "deps: done"
