# Helpers of the end-to-end test (tests/e2e/run.sh): network namespaces on a
# test bridge, NSD, resolverd, Prosody, ejabberd and the slixmpp clients, each
# in its namespace. Sourcing it sources tests/lib.sh too.
#
# Layout (all of it inside namespaces this file creates; nothing is added to
# the host's own network namespace):
#
#   namespace E2E_NS_HUB: bridge br0 198.18.0.1/24 (resolverd on 53, NSD on
#     127.0.0.1@5300), 198.18.0.2 (host sink: nothing on 5269, a TCP reset),
#     198.18.0.3 (listener sink), 198.18.0.5 (a decoy name server)
#   namespace per XMPP server: eth0 (a veth whose peer is a port of br0)
#     alpha 198.18.0.11, bravo .12, charlie .13, delta .14; no default route.
#   198.18.0.99: the blackhole. Nobody owns it; every server namespace has a
#     permanent neighbour entry for it with a MAC nobody has, so a SYN goes out
#     onto the bridge and is never answered.
#
# Every namespace made is removed at cleanup, after every process started
# in it (tracked or not) has been stopped by its pid.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
E2E_DIR=$SRCDIR/tests/e2e
E2E_PREFIX=${E2E_PREFIX:-chxe2e$$}
E2E_NS_HUB=$E2E_PREFIX-hub
E2E_NAMESPACES=()
E2E_HUB_ADDR=198.18.0.1
E2E_SINK_ADDR=198.18.0.2
E2E_LISTENER_ADDR=198.18.0.3
E2E_DECOY_ADDR=198.18.0.5
E2E_BLACKHOLE_ADDR=198.18.0.99
E2E_BLACKHOLE_MAC=02:00:5e:e2:e2:99
PY=/usr/bin/python3

# e2e_render IN OUT VAR=VALUE...: replace @VAR@ with VALUE (which may hold
# newlines, unlike render_template of tests/lib.sh).
e2e_render() {
    local in=$1 out=$2 text kv
    shift 2
    text=$(cat "$in") || return 1
    for kv in "$@"; do
        text=${text//"@${kv%%=*}@"/"${kv#*=}"}
    done
    printf '%s\n' "$text" >"$out"
}

# ns NAME: the namespace name of XMPP server NAME (alpha, bravo, ...).
ns() { printf '%s-%s\n' "$E2E_PREFIX" "$1"; }

# in_ns NAMESPACE COMMAND...: run a command inside a namespace.
in_ns() {
    local n=$1
    shift
    ip netns exec "$n" "$@"
}

# e2e_can_netns: 0 when this machine lets us create a namespace with a bridge
# and a veth pair in it; prints the reason otherwise.
e2e_can_netns() {
    local probe=$E2E_PREFIX-probe out
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        return 1
    fi
    if ! command -v ip >/dev/null 2>&1; then
        echo "the ip command (iproute2) is missing"
        return 1
    fi
    if ! out=$(ip netns add "$probe" 2>&1); then
        echo "ip netns add failed: $out"
        return 1
    fi
    if ! out=$( { ip -n "$probe" link add br0 type bridge \
                  && ip -n "$probe" link add v0 type veth peer name v1; } 2>&1); then
        ip netns del "$probe" 2>/dev/null
        echo "cannot create a bridge or a veth pair in a namespace: $out"
        return 1
    fi
    ip netns del "$probe"
    return 0
}

# e2e_net_hub: the hub namespace with the bridge and its addresses.
e2e_net_hub() {
    ip netns add "$E2E_NS_HUB" || return 1
    E2E_NAMESPACES+=("$E2E_NS_HUB")
    ip -n "$E2E_NS_HUB" link set lo up &&
        ip -n "$E2E_NS_HUB" link add br0 type bridge &&
        ip -n "$E2E_NS_HUB" link set br0 up &&
        ip -n "$E2E_NS_HUB" addr add "$E2E_HUB_ADDR/24" dev br0 &&
        ip -n "$E2E_NS_HUB" addr add "$E2E_SINK_ADDR/24" dev br0 &&
        ip -n "$E2E_NS_HUB" addr add "$E2E_LISTENER_ADDR/24" dev br0 &&
        ip -n "$E2E_NS_HUB" addr add "$E2E_DECOY_ADDR/24" dev br0
}

# e2e_net_server NAME ADDR: a namespace for server NAME, plugged into the bridge.
e2e_net_server() {
    local name=$1 addr=$2 n veth
    n=$(ns "$name")
    veth=v$name
    ip netns add "$n" || return 1
    E2E_NAMESPACES+=("$n")
    ip -n "$n" link set lo up &&
        ip -n "$E2E_NS_HUB" link add "$veth" type veth peer name eth0 netns "$n" &&
        ip -n "$E2E_NS_HUB" link set "$veth" master br0 &&
        ip -n "$E2E_NS_HUB" link set "$veth" up &&
        ip -n "$n" addr add "$addr/24" dev eth0 &&
        ip -n "$n" link set eth0 up &&
        ip -n "$n" neigh replace "$E2E_BLACKHOLE_ADDR" lladdr "$E2E_BLACKHOLE_MAC" dev eth0 nud permanent
}

# e2e_reachable ADDR: 0 when ADDR is reachable from the hub: a TCP
# connection to a closed port there is refused (not timed out).
e2e_reachable() {
    in_ns "$E2E_NS_HUB" $PY -c "
import socket, sys
try:
    socket.create_connection(('$1', 9), 1).close()
except ConnectionRefusedError:
    sys.exit(0)
except OSError:
    sys.exit(1)
" >/dev/null 2>&1
}

# e2e_wait_reachable ADDR: wait (bounded) until ADDR is reachable from the hub.
e2e_wait_reachable() {
    wait_until 10 "" e2e_reachable "$1"
}

# e2e_start NAMESPACE LOG COMMAND...: start a command in a namespace, in its
# own session, in the background; its pid is tracked. Sets E2E_PID.
e2e_start() {
    local n=$1 log=$2
    shift 2
    setsid ip netns exec "$n" "$@" >>"$log" 2>&1 </dev/null &
    E2E_PID=$!
    track_pid "$E2E_PID"
}

# in_ns NS "${WITH_ETC[@]}" RESOLV_CONF HOSTS COMMAND...: run COMMAND with these files
# bind-mounted over /etc/resolv.conf and /etc/hosts. Use it inside
# `ip netns exec`, which gives the command a mount namespace of its own (mounts
# from the host propagate into it, none of its own propagate out), so the
# host's files are not touched.
WITH_ETC=(sh -c 'r=$1 h=$2; shift 2; mount --bind "$r" /etc/resolv.conf && mount --bind "$h" /etc/hosts && exec "$@"' with_etc)

# e2e_wait_port NAMESPACE ADDR PORT TIMEOUT [PID]: wait until a TCP port accepts.
e2e_wait_port() {
    wait_until "$4" "${5:-}" in_ns "$1" $PY -c "import socket; socket.create_connection(('$2', $3), 1).close()" 2>/dev/null
}

# e2e_kill_ns_leftovers: stop every process still running in one of our
# namespaces (ejabberd's epmd daemonizes out of its session, for instance).
# These are processes this test started; they are signalled by pid.
e2e_kill_ns_leftovers() {
    local n pids pid round
    for round in 1 2 3; do
        pids=""
        for n in "${E2E_NAMESPACES[@]}"; do
            pids+=" $(ip netns pids "$n" 2>/dev/null | tr '\n' ' ')"
        done
        [ -z "${pids//[[:space:]]/}" ] && return 0
        for pid in $pids; do
            if [ "$round" -lt 3 ]; then kill -TERM "$pid" 2>/dev/null; else kill -KILL "$pid" 2>/dev/null; fi
        done
        sleep 0.5
    done
}

# e2e_remove_namespaces: at cleanup, once the tracked processes are stopped:
# stop what is left in our namespaces, then remove them.
e2e_remove_namespaces() {
    local n
    e2e_kill_ns_leftovers
    for n in "${E2E_NAMESPACES[@]}"; do
        ip netns del "$n" 2>/dev/null || printf '# could not remove namespace %s\n' "$n"
    done
    E2E_NAMESPACES=()
}
on_cleanup e2e_remove_namespaces

# ---------------------------------------------------------------- XMPP clients

# Each client is xmppclient.py running in its server's namespace, logged in to
# its own server; commands go to CLIENT_DIR/NAME.fifo, events to NAME.events.
declare -A CLIENT_PID

# client_start NAME JID PASSWORD SERVER_ADDR NAMESPACE: start and wait for "ready".
client_start() {
    local name=$1 jid=$2 pw=$3 addr=$4 n=$5 d=$CLIENT_DIR deadline
    rm -f "$d/$name.fifo"
    touch "$d/$name.events"
    mkfifo "$d/$name.fifo"
    # a restarted client appends to its events: "ready" must be a new one
    local before
    before=$(grep -c '^ready ' "$d/$name.events" 2>/dev/null)
    e2e_start "$n" "$d/$name.log" $PY "$E2E_DIR/xmppclient.py" --jid "$jid" --password "$pw" \
        --server "$addr" --control "$d/$name.fifo" --events "$d/$name.events"
    CLIENT_PID[$name]=$E2E_PID
    deadline=$(( $(now_ms) + 20000 ))
    until [ "$(grep -c '^ready ' "$d/$name.events" 2>/dev/null)" -gt "${before:-0}" ]; do
        if grep -q '^failed ' "$d/$name.events" || ! kill -0 "$E2E_PID" 2>/dev/null \
            || [ "$(now_ms)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

# client_send NAME TO ID [BODY]: NAME sends a chat message with id ID to TO.
client_send() {
    printf 'send %s %s %s\n' "$2" "$3" "${4:-hello from $1, $3}" >"$CLIENT_DIR/$1.fifo"
}

# event_time NAME KIND ID: the time (ms) of NAME's first event KIND for message ID.
event_time() {
    awk -v k="$2" -v id="$3" '$1 == k && $3 == id { print $2; exit }' "$CLIENT_DIR/$1.events"
}

# event_line NAME KIND ID: the whole line of that event.
event_line() {
    awk -v k="$2" -v id="$3" '$1 == k && $3 == id { print; exit }' "$CLIENT_DIR/$1.events"
}

# wait_event NAME KIND ID TIMEOUT_S: wait until NAME logs event KIND for ID.
wait_event() {
    local deadline
    deadline=$(( $(now_ms) + $4 * 1000 ))
    until [ -n "$(event_time "$1" "$2" "$3")" ]; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# wait_either RECEIVER SENDER ID TIMEOUT_S: wait until RECEIVER got ID or SENDER
# got an error for it. Sets WAITED to "recv", "error" or "timeout". (Not run in
# a command substitution: a signal, the watchdog's, is handled between two
# polls, not after the whole wait.)
wait_either() {
    local deadline
    deadline=$(( $(now_ms) + $4 * 1000 ))
    while :; do
        if [ -n "$(event_time "$1" recv "$3")" ]; then WAITED=recv; return; fi
        if [ -n "$(event_time "$2" error "$3")" ]; then WAITED=error; return; fi
        if [ "$(now_ms)" -ge "$deadline" ]; then WAITED=timeout; return; fi
        sleep 0.05
    done
}

# e2e_send_and_wait FROM TO ID TIMEOUT_S: FROM's user sends a message to TO's
# user (${USER[TO]}@TO.test; nobody@TO.test for a domain without a server)
# and waits for it to arrive or for an error to come back. Sets OUTCOME (recv,
# error, timeout; nosend when it was not sent), LATENCY_MS (from the send to
# the event) and ERRLINE (the error's condition and text).
e2e_send_and_wait() {
    local from=$1 to=$2 id=$3 t0
    OUTCOME=nosend LATENCY_MS=0 ERRLINE=""
    touch "$CLIENT_DIR/$to.events"
    client_send "$from" "${USER[$to]:-nobody}@$to.test" "$id"
    wait_event "$from" sent "$id" 5 || return
    t0=$(event_time "$from" sent "$id")
    wait_either "$to" "$from" "$id" "$4"
    OUTCOME=$WAITED
    case $OUTCOME in
        recv) LATENCY_MS=$(( $(event_time "$to" recv "$id") - t0 )) ;;
        error)
            LATENCY_MS=$(( $(event_time "$from" error "$id") - t0 ))
            ERRLINE=$(event_line "$from" error "$id" | cut -d' ' -f5-)
            ;;
        timeout) LATENCY_MS=$(( $4 * 1000 )) ;;
    esac
}

# ms_to_s MS: "1.234" seconds.
ms_to_s() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }
