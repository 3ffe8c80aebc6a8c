#!/usr/bin/env bash
# What a site fed by zone transfer costs at a community's size: the policy
# zone's size, the first AXFR, and one edit (IXFR) from the primary's commit
# to a site's answer, split into its steps.
#
#   bench/sites.sh [DOMAINS] (default 10000; rules 10 per domain, as scale.sh)
#
# Needs a build in ./build (or BUILD=DIR), knotd, kdig, sqlite3, dig.
# One Knot primary (zonefile-load: difference) on loopback, one site
# resolverd transferring from it with policy-xfr-refresh 1.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
N=${1:-10000}
CH=$BUILD/dbtools/chpolicy
RD=$BUILD/resolverd/resolverd
T=$(mktemp -d "${TMPDIR:-/tmp}/sites-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
APEX=policy.bench
KEY=$(openssl rand -base64 32)

sqlite3 "$T/p.db" <"$SRC/dbtools/schema.sql" >/dev/null
python3 "$SRC/bench/gen_community.py" "$N" 50 $((N * 10)) | sqlite3 "$T/p.db" >/dev/null
sqlite3 "$T/p.db" "PRAGMA journal_mode = WAL" >/dev/null
t0=$(ms)
"$CH" --db "$T/p.db" export zone --apex "$APEX" --out "$T/$APEX.zone" 2>"$T/export.out" || exit 1
echo "export zone: $(cat "$T/export.out"), $(( $(ms) - t0 )) ms, $(du -k "$T/$APEX.zone" | cut -f1) KiB"

P=$(port)
mkdir -p "$T/knot/db"
cat >"$T/knot.conf" <<EOF
server:
    rundir: "$T/knot"
    listen: 127.0.0.1@$P
database:
    storage: "$T/knot/db"
log:
  - target: "$T/knot/knot.log"
    any: info
control:
    listen: "$T/knot/knot.sock"
key:
  - id: site
    algorithm: hmac-sha256
    secret: $KEY
acl:
  - id: sites
    address: 127.0.0.0/8
    key: site
    action: transfer
zone:
  - domain: $APEX
    storage: "$T"
    file: "$T/$APEX.zone"
    zonefile-load: difference
    zonefile-sync: -1
    journal-content: changes
    acl: sites
EOF
knotd -c "$T/knot.conf" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do kdig +short -p "$P" @127.0.0.1 "$APEX" SOA >/dev/null 2>&1 && break; sleep 0.1; done

L=$(port)
cat >"$T/site.conf" <<EOF
listen: 127.0.0.1@$L
database: $T/site.db
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
forward: 127.0.0.1@9
transparent-zone: example.
policy-source: xfr 127.0.0.1@$P site:hmac-sha256:$KEY
policy-zone-apex: $APEX
policy-xfr-refresh: 1
EOF
t0=$(ms)
"$RD" -c "$T/site.conf" -f >"$T/site.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1200); do dig +short +time=1 +tries=1 -p "$L" @127.0.0.1 sink.clearinghouse.test A >/dev/null 2>&1 && break; sleep 0.1; done
echo "site start (first AXFR, check, copy, load): $(( $(ms) - t0 )) ms"
grep "policy transfer: AXFR" "$T/site.log" | sed 's/.*policy transfer: /  /'
RSS=$(ps -o rss= -p "${PIDS[1]}")
echo "site resolverd RSS: $((RSS / 1024)) MiB"

# one edit: a rule; until the site serves its serial (its status file)
served() { sed -n 's/^served-serial: //p' "$T/site.db-status" 2>/dev/null; }
t0=$(ms)
"$CH" --db "$T/p.db" rule add --from domain:d000000.example --to domain:d000001.example --deny --priority 0 >/dev/null
want=$("$CH" --db "$T/p.db" serial)
t1=$(ms)
"$CH" --db "$T/p.db" export zone --apex "$APEX" --out "$T/$APEX.zone" 2>/dev/null
t2=$(ms)
knotc -s "$T/knot/knot.sock" zone-reload "$APEX" >/dev/null
t3=$(ms)
for _ in $(seq 6000); do [ "$(served)" = "$want" ] && break; sleep 0.02; done
t4=$(ms)
echo "one edit: commit $((t1 - t0)) ms, export $((t2 - t1)) ms, knot reload $((t3 - t2)) ms, until the site serves it $((t4 - t3)) ms (poll 1 s); commit to served $((t4 - t0)) ms"
grep "policy transfer: IXFR" "$T/site.log" | tail -n 1 | sed 's/.*policy transfer: /  /'
grep "policy serial .* loaded" "$T/site.log" | tail -n 1 | sed 's/.*resolverd info: /  /'
