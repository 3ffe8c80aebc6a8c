#!/usr/bin/env bash
# Install the Debian packages needed to build and test the clearinghouse.
# Fast when everything is already there (no apt at all). Debian 12, as root
# (or through sudo). Services that packages would start (nsd) are not started.
set -euo pipefail

PACKAGES=(
    build-essential autoconf automake pkg-config
    libldns-dev libunbound-dev libsqlite3-dev libssl-dev libevent-dev
    sqlite3 nsd bind9-dnsutils knot-dnsutils ldnsutils dnsperf python3
    ca-certificates procps util-linux
)

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
# the system nsd service's pid, if it runs already (it is left alone)
service_nsd() { cat /run/nsd/nsd.pid 2>/dev/null || true; }
nsd_before=$(service_nsd)

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

# An nsd service that a package script started despite the policy: stop it,
# by the pid in its pidfile (test instances of nsd are left alone).
pid=$(service_nsd)
if [ -n "$pid" ] && [ "$pid" != "$nsd_before" ] && kill -0 "$pid" 2>/dev/null \
    && [ "$(ps -o comm= -p "$pid")" = nsd ]; then
    echo "deps: stopping the nsd service (pid $pid) started by the package install"
    "${SUDO[@]}" kill "$pid" 2>/dev/null || true
fi

still=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
    echo "deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "deps: done"
