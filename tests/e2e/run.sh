#!/usr/bin/env bash
# End-to-end test: real XMPP servers federate through the clearinghouse.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/e2e/run.sh   (as root)
#
# Builds a small network of namespaces on a test bridge (198.18.0.0/24, see
# e2e-lib.sh): resolverd and NSD (the community zones) in a hub namespace, and
# three Prosody servers (alpha.test, bravo.test, charlie.test), each in its own
# namespace with its own address, which is how resolverd tells them apart.
# Each Prosody uses resolverd as its only resolver. ejabberd (delta.test)
# joins when it is installed. One user per server, logged in with a real XMPP
# client (slixmpp, xmppclient.py) running in its server's namespace.
#
# Asserts that allowed pairs deliver both ways within seconds, that a denied
# pair never delivers and the sender gets an error back quickly with each sink
# mode, measures what a blackhole sink costs, flips a pair from deny to allow
# with the sqlite3 shell while everything runs, and shows what server
# dialback does to a one-way allow.
#
# Prints TAP ("ok - ...", "not ok - ...", "ok - ... # SKIP ...") and timings
# ("# ..."). Exits non-zero on any failure. When the machine cannot run it (no
# network namespaces, a missing package), or CHECK_E2E=0, it prints the plan
# "1..0 # SKIP reason" and exits 0: a skip is never counted as a pass.
#
# The phases, each with resolverd restarted in another configuration:
#   1  sink-mode host, the sink refuses (TCP reset): allowed pairs deliver
#      both ways, dialback shows in resolverd's log, denied pairs bounce
#   2  sink-mode refuse (SRV target "."), Prosody and ejabberd
#   3  sink-mode listener, when resolverd -h lists it (else skipped)
#   4  require-mutual no: a one-way allow meets dialback (its outcome takes
#      Prosody's 90 s s2s timeout and is collected at the end); then the live
#      flip of a pair from deny to allow with the sqlite3 shell
#   5  sink-mode host with a blackhole sink address: the connect timeout
#   6  ejabberd with failing SRV lookups falls back to the domain's A/AAAA:
#      police-domain-address holds, and without it the denied peer is reached
#
# Bounded: a watchdog stops the run after E2E_TIMEOUT seconds (default 280);
# a normal run takes about 110 s. Everything started is stopped and every
# namespace removed, on success, on failure and on interrupt.
# Environment: KEEP_TMP=1 keeps the logs (configs, resolverd, Prosody,
# ejabberd and client logs), E2E_TTL_CAP (default 5) the ttl-cap used,
# E2E_BLACKHOLE_WAIT (default 25) and E2E_ONEWAY_WAIT (default 100) how long
# those two measurements wait, E2E_PROSODY_LOG (default debug) Prosody's log
# level, E2E_PAUSE=SECONDS holds the network once set up (for debugging).

set -u

. "$(dirname "$0")/e2e-lib.sh"

START_MS=$(now_ms)
TTL_CAP=${E2E_TTL_CAP:-5}
BLACKHOLE_WAIT=${E2E_BLACKHOLE_WAIT:-25}
ONEWAY_WAIT=${E2E_ONEWAY_WAIT:-100}
E2E_TIMEOUT=${E2E_TIMEOUT:-280}

# ------------------------------------------------------------------ can we run?

[ "${CHECK_E2E:-1}" = 0 ] && skip_all "CHECK_E2E=0"
require_resolverd
missing=()
for tool in prosody prosodyctl lua5.4 nsd nsd-checkconf dig sqlite3 setsid ip mount runuser timeout; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x $PY ] || missing+=("$PY")
$PY -c 'import slixmpp' 2>/dev/null || missing+=("python3-slixmpp")
lua5.4 -e 'require "lunbound"' 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/lua/5.4/lunbound.so ] \
    || missing+=("lua-unbound")
[ "${#missing[@]}" -eq 0 ] || skip_all "missing: ${missing[*]} (tests/e2e/deps.sh installs them)"
if ! why=$(e2e_can_netns); then
    skip_all "cannot create network namespaces: $why"
fi

# the watchdog: the whole run is bounded, whatever hangs
# (in its own session, its output closed: it must not hold a pipe open)
setsid bash -c "sleep $E2E_TIMEOUT; kill -TERM $$" >/dev/null 2>&1 </dev/null &
track_pid $!

make_tmpdir T
CLIENT_DIR=$T/clients
mkdir -p "$CLIENT_DIR"
# files bind-mounted over /etc/ inside some namespaces (see WITH_ETC)
mkdir -p "$T/etc"
printf 'nameserver %s\n' "$E2E_HUB_ADDR" >"$T/etc/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$T/etc/hosts"
chmod 644 "$T/etc/resolv.conf" "$T/etc/hosts"

elapsed() { ms_to_s $(( $(now_ms) - START_MS )); }

# ------------------------------------------------------------------ network

SERVERS=(alpha bravo charlie)
declare -A ADDR=([alpha]=198.18.0.11 [bravo]=198.18.0.12 [charlie]=198.18.0.13 [delta]=198.18.0.14)
declare -A USER=([alpha]=alice [bravo]=bob [charlie]=carol [delta]=dave)
PASSWORD=e2e-secret

e2e_net_hub || bail "hub namespace with bridge br0 created"
for s in "${SERVERS[@]}" delta; do
    e2e_net_server "$s" "${ADDR[$s]}" || bail "namespace for $s created and plugged into the bridge"
done
for s in "${SERVERS[@]}" delta; do
    e2e_wait_reachable "${ADDR[$s]}" || bail "${ADDR[$s]} ($s) is reachable from the hub"
done
ok "namespaces: hub (bridge 198.18.0.1/24) and ${#SERVERS[@]}+1 servers, each with its own address"

# ------------------------------------------------------------------ NSD

NETNS=$E2E_NS_HUB start_nsd "$T/nsd" 5300 "$E2E_DIR/zones" \
    || bail "NSD serves the community zones in the hub namespace"
ok "NSD serves the community zones on 127.0.0.1@5300 in the hub namespace"

# ------------------------------------------------------------------ policy

DB=$T/policy.db
new_policy_db "$DB" <"$E2E_DIR/policy.sql" >/dev/null 2>"$T/policy.err" \
    || bail "schema.sql and the e2e policy.sql load: $(cat "$T/policy.err")"
ok "policy database created with the sqlite3 shell"

# ------------------------------------------------------------------ resolverd

RESOLVERD_HELP=$("$RESOLVERD" -h 2>&1)
HAVE_LISTENER=no
grep -E '^ *sink-mode' <<<"$RESOLVERD_HELP" | grep -q listener && HAVE_LISTENER=yes
HAVE_POLICE_ADDR=no
grep -qE '^ *police-domain-address' <<<"$RESOLVERD_HELP" && HAVE_POLICE_ADDR=yes

UPSTREAM=""
for f in "$E2E_DIR"/zones/*.zone; do
    UPSTREAM+="stub-zone: $(basename "$f" .zone). 127.0.0.1@5300"$'\n'
done

RESOLVERD_PID=""
RESOLVERD_GEN=0
POLICE_ADDR=yes    # police-domain-address, when this resolverd has it
# resolverd_stop: stop the running resolverd; a resolverd that died on its
# own, or that left a sanitizer report in its log, is a failure.
RESOLVERD_PROBLEMS=""
resolverd_stop() {
    [ -n "$RESOLVERD_PID" ] || return 0
    if ! kill -0 "$RESOLVERD_PID" 2>/dev/null; then
        RESOLVERD_PROBLEMS+=" config $RESOLVERD_GEN: exited before it was stopped;"
    fi
    stop_pid "$RESOLVERD_PID" 5 || true
    if sanitizer_errors "$RESOLVERD_LOG" >/dev/null; then
        RESOLVERD_PROBLEMS+=" config $RESOLVERD_GEN: sanitizer report in $(basename "$RESOLVERD_LOG");"
    fi
    RESOLVERD_PID=""
}

# resolverd_start MODE SINKHOST MUTUAL [EXTRA]: (re)start resolverd in the hub
# with that sink mode, sink host and require-mutual. Waits until it answers.
resolverd_start() {
    local mode=$1 host=$2 mutual=$3 extra=${4:-} listen="" conf log
    resolverd_stop
    RESOLVERD_GEN=$((RESOLVERD_GEN + 1))
    conf=$T/resolverd-$RESOLVERD_GEN.conf
    log=$T/resolverd-$RESOLVERD_GEN.log
    [ "$mode" = listener ] && listen="sink-listen: $E2E_LISTENER_ADDR@5269"
    [ "$HAVE_POLICE_ADDR" = yes ] && extra+=$'\n'"police-domain-address: $POLICE_ADDR"
    e2e_render "$E2E_DIR/resolverd.conf.in" "$conf" HUB="$E2E_HUB_ADDR" DB="$DB" \
        ZONEFILE="$E2E_DIR/clearinghouse.test.zone" SINKMODE="$mode" SINKHOST="$host" \
        SINKLISTEN="$listen" TTLCAP="$TTL_CAP" MUTUAL="$mutual" EXTRA="$extra" UPSTREAM="$UPSTREAM"
    : >"$log"
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        e2e_start "$E2E_NS_HUB" "$log" "$RESOLVERD" -c "$conf" -f -v 2
    RESOLVERD_PID=$E2E_PID
    RESOLVERD_LOG=$log
    if ! NETNS=$E2E_NS_HUB wait_for_dns 53 sink.clearinghouse.test "$E2E_HUB_ADDR" 20 "$E2E_HUB_ADDR" "$RESOLVERD_PID"; then
        diag "config:" "$(cat "$conf")" "log:" "$(tail -n 30 "$log")"
        return 1
    fi
}

# dig_from SERVER NAME TYPE: what resolverd answers SERVER (asked from its namespace).
dig_from() {
    in_ns "$(ns "$1")" dig @"$E2E_HUB_ADDR" +time=2 +tries=1 +short "$2" "$3" 2>&1
}

resolverd_start host sink.clearinghouse.test yes \
    || bail "resolverd (sink-mode host) answers on $E2E_HUB_ADDR@53 in the hub"
ok "resolverd answers on $E2E_HUB_ADDR@53 (sink-mode host, sink $E2E_SINK_ADDR: nothing listens on 5269)"

assert_eq "resolverd answers alpha the real SRV of bravo" \
    "0 0 5269 xmpp.bravo.test." "$(dig_from alpha _xmpp-server._tcp.bravo.test SRV)"
assert_eq "resolverd answers alpha the sink for charlie (no rule)" \
    "0 0 5269 sink.clearinghouse.test." "$(dig_from alpha _xmpp-server._tcp.charlie.test SRV)"
assert_eq "resolverd gives bravo the sink for charlie (one-way rule bravo -> charlie, require-mutual yes)" \
    "0 0 5269 sink.clearinghouse.test." "$(dig_from bravo _xmpp-server._tcp.charlie.test SRV)"

# ------------------------------------------------------------------ Prosody's resolver setting

# unbound_check MODE: in alpha's namespace, with /etc/resolv.conf naming a
# decoy name server, build a resolver as Prosody does with the `unbound`
# setting MODE (see unbound-check.lua) and count the lookups the decoy gets.
# Sets DECOY_COUNT and UB_RESULT.
printf 'nameserver %s\n' "$E2E_DECOY_ADDR" >"$T/etc/resolv-decoy.conf"
unbound_check() {
    local count=$T/decoy-$1.count
    : >"$count"
    e2e_start "$E2E_NS_HUB" "$T/decoy.log" $PY "$E2E_DIR/dnsdecoy.py" "$E2E_DECOY_ADDR" 53 "$count" 30
    local decoy=$E2E_PID
    sleep 0.3
    UB_RESULT=$(timeout 25 ip netns exec "$(ns alpha)" "${WITH_ETC[@]}" "$T/etc/resolv-decoy.conf" "$T/etc/hosts" \
        lua5.4 "$E2E_DIR/unbound-check.lua" "$1" "$E2E_HUB_ADDR@53" 16 2>&1)
    stop_pid "$decoy" 2 || true
    DECOY_COUNT=$(wc -l <"$count")
}
unbound_check recommended
if [ "$DECOY_COUNT" -eq 0 ] && [ "$UB_RESULT" = "answered 16 of 16" ]; then
    ok "Prosody's setting unbound = { resolvconf = false; forward = \"$E2E_HUB_ADDR@53\" } sends every lookup to resolverd ($UB_RESULT, decoy in resolv.conf: 0)"
else
    not_ok "Prosody's setting unbound = { resolvconf = false; forward = ... } sends every lookup to resolverd"
    diag "$UB_RESULT" "lookups that reached the decoy named in /etc/resolv.conf: $DECOY_COUNT"
fi
unbound_check forward-only
if [ "$DECOY_COUNT" -gt 0 ]; then
    ok "with only unbound = { forward = ... }, Prosody's lua-unbound also uses /etc/resolv.conf: $DECOY_COUNT lookup(s) went to the decoy ($UB_RESULT by resolverd)"
else
    not_ok "with only unbound = { forward = ... }, lua-unbound also asks the resolv.conf servers (as docs/xmpp-servers.md says)"
    diag "$UB_RESULT" "the decoy got no lookup: the docs' warning may be out of date"
fi

# ------------------------------------------------------------------ Prosody

# prosody_start NAME: render the config, register the user, start Prosody in
# the server's namespace and wait until c2s and s2s accept.
prosody_start() {
    local s=$1 d=$T/prosody-$1 n
    n=$(ns "$s")
    mkdir -p "$d/data" "$d/certs"
    e2e_render "$E2E_DIR/prosody.cfg.lua.in" "$d/prosody.cfg.lua" DIR="$d" \
        ADDR="${ADDR[$s]}" DOMAIN="$s.test" RESOLVER="$E2E_HUB_ADDR@53" \
        LOGLEVEL="${E2E_PROSODY_LOG:-debug}" EXTRA=""
    if ! prosodyctl --config "$d/prosody.cfg.lua" register "${USER[$s]}" "$s.test" "$PASSWORD" \
        >"$d/register.log" 2>&1; then
        diag "$(cat "$d/register.log")"
        return 1
    fi
    e2e_start "$n" "$d/stdout.log" prosody --config "$d/prosody.cfg.lua" -F
    PROSODY_PID[$s]=$E2E_PID
}
declare -A PROSODY_PID
for s in "${SERVERS[@]}"; do
    prosody_start "$s" || bail "Prosody for $s.test configured, user ${USER[$s]} registered"
done
# ejabberd runs with a resolv.conf naming resolverd and a hosts file with
# only localhost bind-mounted over /etc/ in its namespace (see
# ejabberd.inetrc.in: ejabberd uses the system's resolver settings).

# ejabberd_ctl ARGS...: ejabberdctl for the test's ejabberd node, as the
# ejabberd user (ejabberdctl run as root would su to it anyway).
ejabberd_ctl() {
    local d=$T/ejabberd
    in_ns "$(ns delta)" "${WITH_ETC[@]}" "$T/etc/resolv.conf" "$T/etc/hosts" \
        runuser -u ejabberd -- env HOME="$d" ejabberdctl --config-dir "$d" \
        --config "$d/ejabberd.yml" --ctl-config /dev/null --logs "$d/logs" --spool "$d/spool" \
        --node ejabberd@localhost "$@"
}

# ejabberd_launch DNS: write the config (DNS: the resolver lines of the inetrc)
# and start epmd and ejabberd in delta's namespace. Sets EJABBERD_PID.
ejabberd_launch() {
    local d=$T/ejabberd
    mkdir -p "$d/spool" "$d/logs"
    e2e_render "$E2E_DIR/ejabberd.yml.in" "$d/ejabberd.yml" DOMAIN=delta.test ADDR="${ADDR[delta]}"
    e2e_render "$E2E_DIR/ejabberd.inetrc.in" "$d/inetrc" DNS="$1"
    chown -R ejabberd:ejabberd "$d"
    # epmd (the Erlang port mapper) in the foreground, so that it is stopped with the rest
    e2e_start "$(ns delta)" "$d/epmd.log" runuser -u ejabberd -- epmd -address 127.0.0.1
    EPMD_PID=$E2E_PID
    sleep 0.2
    e2e_start "$(ns delta)" "$d/stdout.log" "${WITH_ETC[@]}" "$T/etc/resolv.conf" "$T/etc/hosts" \
        runuser -u ejabberd -- env HOME="$d" ejabberdctl --config-dir "$d" --config "$d/ejabberd.yml" \
        --ctl-config /dev/null --logs "$d/logs" --spool "$d/spool" --node ejabberd@localhost foreground
    EJABBERD_PID=$E2E_PID
}

# ejabberd_ready: wait until ejabberd listens (bounded); 0 when it does.
ejabberd_ready() {
    e2e_wait_port "$(ns delta)" "${ADDR[delta]}" 5269 30 "$EJABBERD_PID" \
        && e2e_wait_port "$(ns delta)" "${ADDR[delta]}" 5222 5 "$EJABBERD_PID"
}

HAVE_EJABBERD=no
EJABBERD_DNS_NORMAL='{file, resolv, "/etc/resolv.conf"}.'
if command -v ejabberdctl >/dev/null 2>&1 && command -v erl >/dev/null 2>&1 \
    && getent passwd ejabberd >/dev/null 2>&1; then
    HAVE_EJABBERD=yes
    chmod 711 "$T"    # the ejabberd user reaches its files under $T/ejabberd
    ejabberd_launch "$EJABBERD_DNS_NORMAL"
else
    skip "ejabberd (delta.test) starts and joins the phases" "not installed (tests/e2e/deps.sh installs it)"
fi

for s in "${SERVERS[@]}"; do
    if e2e_wait_port "$(ns "$s")" "${ADDR[$s]}" 5269 20 "${PROSODY_PID[$s]}" \
        && e2e_wait_port "$(ns "$s")" 127.0.0.1 5222 5 "${PROSODY_PID[$s]}"; then
        ok "Prosody $s.test listens on ${ADDR[$s]} (c2s 5222, s2s 5269) in its namespace"
    else
        diag "$(tail -n 20 "$T/prosody-$s/prosody.log" "$T/prosody-$s/stdout.log" 2>&1)"
        bail "Prosody $s.test listens on ${ADDR[$s]} in its namespace"
    fi
done

if [ "$HAVE_EJABBERD" = yes ]; then
    t0=$(now_ms)
    if ejabberd_ready && ejabberd_ctl register dave delta.test "$PASSWORD" >"$T/ejabberd/register.log" 2>&1; then
        ok "ejabberd delta.test listens on ${ADDR[delta]} in its namespace, user dave registered ($(ms_to_s $(( $(now_ms) - t0 ))) s)"
        SERVERS_ALL=("${SERVERS[@]}" delta)
    else
        not_ok "ejabberd delta.test starts in its namespace and dave is registered"
        diag "$(tail -n 20 "$T/ejabberd/stdout.log" "$T/ejabberd/register.log" 2>&1)"
        HAVE_EJABBERD=no
        SERVERS_ALL=("${SERVERS[@]}")
    fi
else
    SERVERS_ALL=("${SERVERS[@]}")
fi

for s in "${SERVERS_ALL[@]}"; do
    if client_start "$s" "${USER[$s]}@$s.test" "$PASSWORD" "${ADDR[$s]}" "$(ns "$s")"; then
        ok "client ${USER[$s]}@$s.test logged in (slixmpp, from $s's namespace)"
    else
        diag "$(cat "$CLIENT_DIR/$s.events" "$CLIENT_DIR/$s.log" 2>&1 | tail -n 20)"
        bail "client ${USER[$s]}@$s.test logged in"
    fi
done

# debugging: E2E_PAUSE=SECONDS holds the set-up network here
if [ -n "${E2E_PAUSE:-}" ]; then
    echo "# paused: T=$T prefix=$E2E_PREFIX; kill $$ to end"
    sleep "$E2E_PAUSE" &
    track_pid $!
    wait $!
fi

# ------------------------------------------------------------------ the admin's check

# What an admin runs to see what the server's own resolver answers:
# prosodyctl shell talks to the running Prosody, which does the lookup.
from_line=$(( $(wc -l <"$RESOLVERD_LOG") + 1 ))
ans=$(timeout 20 prosodyctl --config "$T/prosody-alpha/prosody.cfg.lua" shell \
    "dns:lookup('_xmpp-server._tcp.charlie.test', 'SRV')" 2>&1)
assert_match "admin check: prosodyctl shell dns:lookup on alpha shows the sink for charlie" \
    'SRV[[:space:]]+0 0 5269 sink\.clearinghouse\.test' "$ans"
if tail -n +"$from_line" "$RESOLVERD_LOG" \
    | grep -qE "decision requester=alpha.test source=${ADDR[alpha]//./\\.} peer=charlie.test deny"; then
    ok "admin check: resolverd logged that lookup as alpha.test (source ${ADDR[alpha]}) -> charlie.test deny"
else
    not_ok "admin check: resolverd logged that lookup as alpha.test (source ${ADDR[alpha]}) -> charlie.test deny"
    diag "$(tail -n +"$from_line" "$RESOLVERD_LOG")"
fi

# ------------------------------------------------------------------ messages

DENIED_IDS=()      # (receiver:id) of every message that must never arrive
declare -A LAST_LOOKUP   # "from>to" -> time (ms) the sender last resolved the peer
LAST_LOOKUP["alpha>charlie"]=$(now_ms)   # the admin check above

# send_and_wait FROM TO ID TIMEOUT_S: e2e_send_and_wait (e2e-lib.sh), and the
# time FROM resolved TO last.
send_and_wait() {
    LAST_LOOKUP["$1>$2"]=$(now_ms)
    e2e_send_and_wait "$@"
}

# wait_ttl_passed FROM TO: wait until the answer FROM cached for TO has expired.
wait_ttl_passed() {
    local last=${LAST_LOOKUP["$1>$2"]:-0} until_ms
    until_ms=$(( last + (TTL_CAP + 1) * 1000 ))
    while [ "$(now_ms)" -lt "$until_ms" ]; do sleep 0.1; done
}

# expect_delivery FROM TO ID: the message arrives within 5 s.
expect_delivery() {
    send_and_wait "$1" "$2" "$3" 5
    if [ "$OUTCOME" = recv ]; then
        ok "$1 -> $2 allowed: ${USER[$1]}@$1.test's message reached ${USER[$2]}@$2.test in $(ms_to_s "$LATENCY_MS") s"
    else
        not_ok "$1 -> $2 allowed: the message arrives within 5 s"
        diag "outcome: $OUTCOME $ERRLINE" "$(tail -n 15 "$T/prosody-$1/prosody.log")"
    fi
}

# expect_bounce FROM TO ID LIMIT_S WHAT: a denied message never arrives and
# the sender gets an error back within LIMIT_S seconds.
expect_bounce() {
    local from=$1 to=$2 id=$3 limit=$4 what=$5
    DENIED_IDS+=("$to:$id")
    send_and_wait "$from" "$to" "$id" "$limit"
    case $OUTCOME in
        error)
            ok "$from -> $to denied ($what): the sender got an error back in $(ms_to_s "$LATENCY_MS") s"
            printf '#   error: %s\n' "$ERRLINE"
            ;;
        recv)
            not_ok "$from -> $to denied ($what): the message must not arrive"
            ;;
        *)
            not_ok "$from -> $to denied ($what): the sender gets an error back within $limit s"
            diag "outcome: $OUTCOME" "$(grep -E 's2s|net.connect|unbound' "$T/prosody-$from/prosody.log" | tail -n 15)"
            ;;
    esac
}

# decided LOGFILE REQUESTER PEER ACTION: resolverd logged that decision.
decided() {
    grep -qE "decision requester=$2 source=[^ ]+ peer=$3 $4" "$1"
}

# sql EDIT: one transaction with the sqlite3 shell on the live database.
sql() {
    printf '.timeout 5000\nBEGIN;\n%s\nCOMMIT;\n' "$1" | sqlite3 "$DB" >"$T/sql.out" 2>&1
}

# ---- phase 1: sink-mode host, the sink address refuses (TCP reset)
echo "# phase 1: sink-mode host, sink $E2E_SINK_ADDR (nothing listens on 5269), require-mutual yes, ttl-cap $TTL_CAP"
expect_delivery alpha bravo p1-ab
assert_cmd "dialback: bravo resolved alpha to verify alpha's stream (resolverd logged bravo -> alpha allow)" \
    decided "$RESOLVERD_LOG" bravo.test alpha.test allow
expect_delivery bravo alpha p1-ba
expect_bounce alpha charlie p1-ac 5 "no rule; the host sink refuses the connection"
expect_bounce bravo charlie p1-bc 5 "one-way rule bravo -> charlie, require-mutual yes"
if [ "$HAVE_EJABBERD" = yes ]; then
    expect_delivery delta alpha p1-da
    expect_delivery alpha delta p1-ad
    expect_bounce delta charlie p1-dc 5 "ejabberd, no rule; host sink"
fi

# ---- phase 2: sink-mode refuse
echo "# phase 2: sink-mode refuse (SRV 0 0 0 .)"
if resolverd_start refuse sink.clearinghouse.test yes; then
    assert_eq "resolverd (refuse) answers charlie's SRV lookup of alpha with target ." \
        "0 0 0 ." "$(dig_from charlie _xmpp-server._tcp.alpha.test SRV)"
    expect_bounce charlie alpha p2-ca 5 "sink-mode refuse"
    if [ "$HAVE_EJABBERD" = yes ]; then
        expect_bounce delta bravo p2-db 10 "ejabberd, sink-mode refuse"
    fi
else
    not_ok "resolverd restarts with sink-mode refuse"
fi

# ---- phase 3: sink-mode listener
if [ "$HAVE_LISTENER" = yes ]; then
    echo "# phase 3: sink-mode listener on $E2E_LISTENER_ADDR@5269"
    if resolverd_start listener listener.clearinghouse.test yes; then
        if e2e_wait_port "$E2E_NS_HUB" "$E2E_LISTENER_ADDR" 5269 3 "$RESOLVERD_PID"; then
            ok "resolverd accepts s2s connections on the listener sink $E2E_LISTENER_ADDR@5269"
        else
            not_ok "resolverd accepts s2s connections on the listener sink $E2E_LISTENER_ADDR@5269"
        fi
        wait_ttl_passed alpha charlie
        expect_bounce alpha charlie p3-ac 5 "sink-mode listener"
        assert_match "the error the sender gets names the policy violation" \
            'policy-violation' "$ERRLINE"
    else
        not_ok "resolverd starts with sink-mode listener"
    fi
else
    skip "phase 3: sink-mode listener" "not implemented (resolverd -h lists no 'listener' sink mode)"
fi

# ---- phase 4: require-mutual no: a one-way allow meets dialback
echo "# phase 4: require-mutual no (sink-mode host, refusing sink): one-way allow bravo -> charlie"
resolverd_start host sink.clearinghouse.test no || not_ok "resolverd restarts with require-mutual no"
wait_ttl_passed bravo charlie
assert_eq "resolverd (require-mutual no) gives bravo charlie's real SRV, from the targets table (one-way rule)" \
    "0 0 5269 xmpp.charlie.test." "$(dig_from bravo _xmpp-server._tcp.charlie.test SRV)"
assert_eq "resolverd gives charlie the sink for bravo (no charlie -> bravo rule)" \
    "0 0 5269 sink.clearinghouse.test." "$(dig_from charlie _xmpp-server._tcp.bravo.test SRV)"
# The outcome takes Prosody's s2s_timeout (90 s): collected at the end of the
# run, while the other phases go on.
DENIED_IDS+=("charlie:p4-bc")
LAST_LOOKUP["bravo>charlie"]=$(now_ms)
client_send bravo carol@charlie.test p4-bc
wait_event bravo sent p4-bc 5
ONEWAY_SENT=$(event_time bravo sent p4-bc)
[ -n "$ONEWAY_SENT" ] || ONEWAY_SENT=$(now_ms)
ONEWAY_LOG=$RESOLVERD_LOG
deadline=$(( $(now_ms) + 5000 ))
until decided "$ONEWAY_LOG" charlie.test bravo.test deny || [ "$(now_ms)" -ge "$deadline" ]; do sleep 0.05; done
LAST_LOOKUP["charlie>bravo"]=$(now_ms)
assert_cmd "dialback: charlie, receiving bravo's stream, resolved bravo and got the sink (resolverd logged charlie -> bravo deny)" \
    decided "$ONEWAY_LOG" charlie.test bravo.test deny

# ---- the live policy flip (still require-mutual no, refusing host sink)
echo "# live policy flip: alpha <-> charlie from deny to allow with the sqlite3 shell"
wait_ttl_passed alpha charlie
expect_bounce alpha charlie p4-ac-before 5 "before the edit; alpha now caches the sink for ttl-cap"
T_EDIT=$(now_ms)
if sql "INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note) VALUES
    (5, 'domain', 'alpha.test', 'domain', 'charlie.test', 'allow', 'e2e flip'),
    (5, 'domain', 'charlie.test', 'domain', 'alpha.test', 'allow', 'e2e flip');"; then
    ok "sqlite3 shell: rules alpha <-> charlie allow committed while everything runs"
else
    not_ok "sqlite3 shell: rules alpha <-> charlie allow committed"
    diag "$(cat "$T/sql.out")"
fi
deadline=$(( T_EDIT + 1000 ))
while :; do
    ans=$(dig_from alpha _xmpp-server._tcp.charlie.test SRV)
    [ "$ans" = "0 0 5269 xmpp.charlie.test." ] && break
    [ "$(now_ms)" -ge "$deadline" ] && break
    sleep 0.02
done
assert_eq "resolverd answers alpha charlie's real SRV within 1 s of the edit ($(ms_to_s $(( $(now_ms) - T_EDIT ))) s)" \
    "0 0 5269 xmpp.charlie.test." "$ans"
n=0 bounced=0 delivered=""
deadline=$(( T_EDIT + (TTL_CAP + 20) * 1000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
    n=$((n + 1))
    send_and_wait alpha charlie "p4-flip$n" 3
    if [ "$OUTCOME" = recv ]; then
        delivered=$(( $(event_time charlie recv "p4-flip$n") - T_EDIT ))
        break
    fi
    [ "$OUTCOME" = error ] && bounced=$((bounced + 1))
    sleep 1
done
if [ -n "$delivered" ]; then
    ok "after the flip a new message alpha -> charlie delivers, $(ms_to_s "$delivered") s after the edit (ttl-cap $TTL_CAP s; $bounced earlier message(s) bounced on alpha's cached sink)"
    assert_le "... within ttl-cap + 3 s of the edit" $(( (TTL_CAP + 3) * 1000 )) "$delivered"
else
    not_ok "after the flip a new message alpha -> charlie delivers within ttl-cap + 20 s"
    diag "$(grep -E 's2s|unbound' "$T/prosody-alpha/prosody.log" | tail -n 20)"
fi
expect_delivery charlie alpha p4-ca

# ---- phase 5: a blackhole sink
echo "# phase 5: sink-mode host, a sink address that drops packets ($E2E_BLACKHOLE_ADDR)"
if resolverd_start host blackhole.clearinghouse.test yes; then
    wait_ttl_passed charlie bravo
    DENIED_IDS+=("bravo:p5-cb")
    send_and_wait charlie bravo p5-cb "$BLACKHOLE_WAIT"
    case $OUTCOME in
        error) ok "blackhole sink: charlie -> bravo bounced only after $(ms_to_s "$LATENCY_MS") s (a connect timeout; a refusing sink took milliseconds)"
               printf '#   error: %s\n' "$ERRLINE" ;;
        recv) not_ok "blackhole sink: charlie -> bravo must not arrive" ;;
        *) ok "blackhole sink: charlie -> bravo not delivered, and no error either after >${BLACKHOLE_WAIT} s (the sender waits for a connect timeout)" ;;
    esac
else
    not_ok "resolverd restarts with the blackhole sink"
fi

# ---- phase 6: ejabberd's fallback to the domain's own A/AAAA after an SRV error
if [ "$HAVE_EJABBERD" = yes ]; then
    echo "# phase 6: ejabberd falls back to A/AAAA of the domain when its SRV lookup fails"
    # An SRV lookup can fail for reasons of its own (a lost packet, resolverd
    # restarting); ejabberd then connects to the domain's A/AAAA, port 5269.
    # Here ejabberd's Erlang resolver (SRV) asks the sink address, where no
    # name server answers, while getaddrinfo (A/AAAA) still asks resolverd. A
    # one-way rule bravo -> delta lets bravo's dialback check of delta pass,
    # so only resolverd's answer for bravo.test's own A record stands between
    # delta and bravo.
    [ "$HAVE_POLICE_ADDR" = yes ] || echo "#   (this resolverd has no police-domain-address setting)"
    sql "INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action, note) VALUES
        (5, 'domain', 'bravo.test', 'domain', 'delta.test', 'allow', 'e2e: one way'),
        (5, 'domain', 'charlie.test', 'domain', 'delta.test', 'allow', 'e2e: one way');" \
        || not_ok "sqlite3 shell: rules bravo -> delta and charlie -> delta added"
    resolverd_start host sink.clearinghouse.test no || not_ok "resolverd restarts (host sink, require-mutual no)"
    a=$(dig_from delta bravo.test A)
    if [ "$a" = "${ADDR[bravo]}" ]; then
        not_ok "resolverd does not give delta bravo.test's own address (delta -> bravo is denied)"
    else
        ok "resolverd does not give delta bravo.test's own address (delta -> bravo is denied): '${a:-none}'"
    fi
    assert_eq "resolverd gives delta alpha.test's own address (allowed)" "${ADDR[alpha]}" "$(dig_from delta alpha.test A)"
    t0=$(now_ms)
    stop_pid "${CLIENT_PID[delta]}" 3 || true
    stop_pid "$EJABBERD_PID" 15 || true
    stop_pid "$EPMD_PID" 3 || true
    ejabberd_launch "$(printf '%s\n' '{resolv_conf, ""}.' "{nameserver, {${E2E_SINK_ADDR//./,}}, 53}." '{timeout, 1000}.' '{retry, 1}.')"
    if ejabberd_ready && client_start delta "dave@delta.test" "$PASSWORD" "${ADDR[delta]}" "$(ns delta)"; then
        ok "ejabberd restarted with its SRV lookups failing, dave logged in again ($(ms_to_s $(( $(now_ms) - t0 ))) s)"
        from_line=$(( $(wc -l <"$RESOLVERD_LOG") + 1 ))
        expect_delivery delta alpha p6-da
        # ejabberd's SRV lookups go nowhere now: what resolverd sees from delta is getaddrinfo's A/AAAA
        if tail -n +"$from_line" "$RESOLVERD_LOG" | grep -qE 'decision requester=delta.test source=[^ ]+ peer=alpha.test allow'; then
            ok "... through the fallback: resolverd decided delta's A/AAAA lookup of alpha.test"
        else
            not_ok "... through the fallback: resolverd decided delta's A/AAAA lookup of alpha.test"
        fi
        expect_bounce delta bravo p6-db 10 "ejabberd's fallback to bravo.test's A/AAAA"
        if [ "$HAVE_POLICE_ADDR" = yes ]; then
            # the control: the same fallback, to charlie, with the policing off
            POLICE_ADDR=no
            resolverd_start host sink.clearinghouse.test no || not_ok "resolverd restarts with police-domain-address: no"
            POLICE_ADDR=yes
            send_and_wait delta charlie p6-dc-control 10
            if [ "$OUTCOME" = recv ]; then
                ok "control: with police-domain-address: no, the same fallback (delta -> charlie, denied) reaches charlie in $(ms_to_s "$LATENCY_MS") s: the leak the setting closes"
            else
                not_ok "control: with police-domain-address: no, ejabberd's fallback reaches the denied peer (outcome: $OUTCOME $ERRLINE)"
            fi
        fi
    else
        not_ok "ejabberd restarts with failing SRV lookups and dave logs in again"
        diag "$(tail -n 20 "$T/ejabberd/stdout.log" "$CLIENT_DIR/delta.events" 2>&1)"
    fi
fi

# ---- the one-way allow of phase 4, at last
remaining=$(( ONEWAY_SENT + ONEWAY_WAIT * 1000 - $(now_ms) ))
[ "$remaining" -lt 0 ] && remaining=0
wait_either charlie bravo p4-bc $(( (remaining + 999) / 1000 ))
OUTCOME=$WAITED
case $OUTCOME in
    recv) not_ok "one-way allow bravo -> charlie (require-mutual no): must not deliver (charlie's dialback lookup of bravo is denied)" ;;
    error)
        t=$(( $(event_time bravo error p4-bc) - ONEWAY_SENT ))
        ok "one-way allow bravo -> charlie (require-mutual no): not delivered; bravo's user got an error only after $(ms_to_s "$t") s (dialback never completes: Prosody's s2s_timeout)"
        printf '#   error: %s\n' "$(event_line bravo error p4-bc | cut -d' ' -f5-)"
        ;;
    *) ok "one-way allow bravo -> charlie (require-mutual no): not delivered, and no error within ${ONEWAY_WAIT} s either" ;;
esac

# ------------------------------------------------------------------ the end

resolverd_stop
assert_eq "resolverd ran in $RESOLVERD_GEN configurations without exiting on its own or a sanitizer report" \
    "" "$RESOLVERD_PROBLEMS"

leaked=""
for d in "${DENIED_IDS[@]}"; do
    [ -n "$(event_time "${d%%:*}" recv "${d#*:}")" ] && leaked+=" ${d#*:}"
done
assert_eq "no denied message arrived by the end of the run (${#DENIED_IDS[@]} checked)" "" "$leaked"

echo "# e2e run took $(elapsed) s"
finish
