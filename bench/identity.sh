#!/bin/bash
# bench/identity.sh -- what identifying a requester costs: resolverd loaded by
# dnsperf with plain UDP queries (source address identity), TSIG-signed UDP
# queries (every query verified, every answer signed, hmac-sha256), plain TCP
# and DNS over TLS, side by side in one run against one resolverd.
#
# 1,000 community domains with their SRV targets in the database (answers
# from the snapshot, no upstream), 127.0.0.2 identified by address and by a
# TSIG key; resolverd pinned to CPU 0, dnsperf to CPU 1. Reports, per mode,
# the median QPS and the server's CPU per answer (server cores / QPS, in
# microseconds): on 2 cores dnsperf fills its own near 150k QPS, so QPS at
# saturation is client-bound and CPU per answer is the figure that compares.
# dnsperf's DoT mode has no client certificate: over DoT the address
# identifies (the certificate check is per connection, not per query).
#
# Usage: bench/identity.sh
# Env: RESOLVERD, CHPOLICY (binaries; default build/ in the source tree),
#      DUR (s, default 10), REPS (default 3), CLIENTS (10), OUTST (100),
#      TMPDIR (where the work dir goes), KEEP=1 keeps it.
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESOLVERD=${RESOLVERD:-$SRC/build/resolverd/resolverd}
CHPOLICY=${CHPOLICY:-$SRC/build/dbtools/chpolicy}
DUR=${DUR:-10}; REPS=${REPS:-3}; CLIENTS=${CLIENTS:-10}; OUTST=${OUTST:-100}
for need in dnsperf:dnsperf openssl:openssl taskset:util-linux dig:bind9-dnsutils bc:bc; do
  command -v "${need%%:*}" >/dev/null 2>&1 || { echo "bench/identity.sh: ${need%%:*} not found (Debian package ${need#*:})" >&2; exit 1; }
done
[ -x "$RESOLVERD" ] && [ -x "$CHPOLICY" ] || { echo "bench/identity.sh: build first (RESOLVERD=$RESOLVERD, CHPOLICY=$CHPOLICY)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/resolverd-identity.XXXXXX")
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port); TLSPORT=$(free_port)

# the policy: r.example (127.0.0.2, key r-key.example) may reach every peer
DB=$WORK/policy.db
"$CHPOLICY" --db "$DB" init >/dev/null && chmod o-rwx "$DB"
{
  echo "BEGIN;"
  echo "INSERT INTO domains (name) VALUES ('r.example');"
  echo "INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'r.example');"
  echo "INSERT INTO rules (priority, from_kind, to_kind, action) VALUES (10, 'any', 'any', 'allow');"
  for i in $(seq 1 1000); do
    echo "INSERT INTO domains (name) VALUES ('peer$i.example');"
    echo "INSERT INTO targets (domain, priority, weight, port, host) VALUES ('peer$i.example', 0, 5, 5269, 'xmpp.peer$i.example');"
    echo "INSERT INTO target_addresses (host, address) VALUES ('xmpp.peer$i.example', '198.18.$((i / 250)).$((i % 250 + 1))');"
  done
  echo "COMMIT;"
} | sqlite3 "$DB" || { echo "bench/identity.sh: the policy does not load" >&2; exit 1; }
SECRET=$(head -c 32 /dev/urandom | base64 -w0)
printf '%s\n' "$SECRET" >"$WORK/key.secret"
"$CHPOLICY" --db "$DB" identity add r.example --tsig r-key.example --secret-file "$WORK/key.secret" || exit 1
for i in $(seq 1 1000); do echo "_xmpp-server._tcp.peer$i.example SRV"; done >"$WORK/queries.txt"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/server.key" \
  -out "$WORK/server.pem" -days 2 -subj "/CN=bench.clearinghouse.test" >/dev/null 2>&1 || exit 1
cat >"$WORK/resolverd.conf" <<CONF
listen: 127.0.0.1@$PORT
tls-listen: 127.0.0.1@$TLSPORT
tls-cert: $WORK/server.pem
tls-key: $WORK/server.key
database: $DB
zone-file: $SRC/zones/clearinghouse.test.zone
username: root
# one client is the whole load here: no response rate limit
rate-limit: 0
rate-limit-identified: 0
CONF
taskset -c 0 "$RESOLVERD" -c "$WORK/resolverd.conf" -f >"$WORK/resolverd.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  dig +short +time=1 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.peer1.example SRV 2>/dev/null | grep -q xmpp && break
  sleep 0.1
done
out=$(dig +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 -y "hmac-sha256:r-key.example:$SECRET" _xmpp-server._tcp.peer1.example SRV)
grep -q "xmpp.peer1.example" <<<"$out" && ! grep -qE "Couldn't verify|WARNING" <<<"$out" \
  || { echo "bench/identity.sh: a signed query is not answered and signed: $out" >&2; exit 1; }

proc_cpu() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)
# run [DNSPERF ARGS]: one dnsperf run; prints "QPS US_PER_ANSWER", answers that are not
# NOERROR logged (a bench of errors would measure nothing)
run() {
  local c0 c1 out qps done codes
  c0=$(proc_cpu "$PID")
  out=$(taskset -c 1 dnsperf -a 127.0.0.2 -s 127.0.0.1 -d "$WORK/queries.txt" -l "$DUR" -c "$CLIENTS" -q "$OUTST" "$@" 2>&1)
  c1=$(proc_cpu "$PID")
  qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
  done=$(awk '/Queries completed:/ {print $3}' <<<"$out")
  codes=$(awk '/Response codes:/ {sub(/.*codes: */, ""); print}' <<<"$out")
  [ -n "$qps" ] && [ "${done:-0}" -gt 0 ] || { log "dnsperf: $(tail -n 3 <<<"$out")"; echo "0 0"; return; }
  [[ $codes =~ ^NOERROR\ [0-9]+\ \(100\.00%\)$ ]] || log "dnsperf $*: response codes $codes"
  awk -v c="$((c1 - c0))" -v hz="$HZ" -v n="$done" -v q="$qps" 'BEGIN { printf "%.0f %.2f\n", q, c / hz / n * 1e6 }'
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A QPS CPU
MODES=(udp tsig tcp dot)
for m in "${MODES[@]}"; do QPS[$m]=""; CPU[$m]=""; done
run -p "$PORT" >/dev/null   # warm-up
for r in $(seq 1 "$REPS"); do
  for m in "${MODES[@]}"; do
    case $m in
      udp) res=$(run -p "$PORT") ;;
      tsig) res=$(run -p "$PORT" -y "hmac-sha256:r-key.example:$SECRET") ;;
      tcp) res=$(run -p "$PORT" -m tcp) ;;
      dot) res=$(run -p "$TLSPORT" -m dot) ;;
    esac
    log "$m run $r: qps=${res% *} server=${res#* } us/answer"
    QPS[$m]+="${res% *} "; CPU[$m]+="${res#* } "
  done
done
printf '\n| transport | identity | QPS (median of %s) | server CPU per answer (us, median) |\n|---|---|---|---|\n' "$REPS"
for m in "${MODES[@]}"; do
  case $m in udp) what="UDP | source address";; tsig) what="UDP | TSIG hmac-sha256 (verify + sign)";;
             tcp) what="TCP | source address";; dot) what="DoT | source address";; esac
  printf '| %s | %s | %s |\n' "$what" "$(tr ' ' '\n' <<<"${QPS[$m]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${CPU[$m]}" | grep . | median)"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); dnsperf $CLIENTS clients x $OUTST outstanding, $DUR s a run"
