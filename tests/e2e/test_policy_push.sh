#!/usr/bin/env bash
# End-to-end test of the "policy push" model: each XMPP server enforces its
# own local policy with the clearinghouse's signed table.
#
#   make check, or by hand: [CHPOLICY=BINARY RESOLVERD=BINARY] tests/e2e/test_policy_push.sh   (as root)
#
# Network namespaces on a test bridge (see e2e-lib.sh): four Prosody servers
# with mod_clearinghouse (contrib/prosody), alpha.test, bravo.test,
# charlie.test and echo.test, and ejabberd (delta.test) with the fragment
# contrib/ejabberd/clearinghouse-ejabberd.py renders. The servers resolve with
# a plain name server (NSD with the community zones, 198.18.0.6), not
# resolverd: nothing but the module stands between them. The table comes from
# `chpolicy export table --sign` of a policy database; its variants (a new
# serial, another level, a validity end) are re-signed with openssl.
#
#   domain        level  groups        server    local policy
#   alpha.test    3      finance       Prosody   min_level 3, groups finance; grace 8 s, fail closed
#   bravo.test    3      finance ops   Prosody   min_level 3, groups finance; grace 8 s, fail open
#   charlie.test  2      finance       Prosody   min_level 4, dry-run (then enforce, by a config reload)
#   delta.test    3      finance       ejabberd  min_level 3, groups finance
#   echo.test     4      finance       Prosody   min_level 3
#   foxtrot.test  5      finance       (none)    disabled in the table
#
# Asserts: allowed pairs deliver; a stanza to a peer below the rule bounces
# with policy-violation naming the peer, its level and the rule, in
# milliseconds, with no DNS question and no TCP SYN for that peer (a packet
# sniffer in the sender's namespace, which does see both for an allowed
# peer); an inbound stream from a denied peer is closed with
# policy-violation; a tampered table is refused and the last good one stays;
# a newly signed table applies within the watch interval without a restart,
# and closes streams it now denies; an older table is refused; an expired
# table is used in its grace period with a warning, and after it the fail
# mode applies (closed on alpha, open on bravo); ejabberd with the rendered
# fragment delivers to allowed peers and refuses the others, and a new table
# applies with reload_config; the module and the renderer decide alike; a
# restart with a damaged table file starts with the last good table; both
# models together: resolverd also decides alpha's lookups, and the stricter
# of the two wins.
#
# Prints TAP; "1..0 # SKIP reason" when it cannot run here (not root, no
# namespaces, a missing package, a chpolicy without `export table`,
# CHECK_E2E=0). Bounded: a watchdog stops it after PUSH_TIMEOUT seconds
# (default 300); a run takes about 35 s. KEEP_TMP=1 keeps every log.

set -u

E2E_PREFIX=${E2E_PREFIX:-chxpush$$}
. "$(dirname "$0")/e2e-lib.sh"

START_MS=$(now_ms)
PUSH_TIMEOUT=${PUSH_TIMEOUT:-300}
GRACE=8            # clearinghouse_grace of alpha and bravo (seconds)
WATCH=1            # clearinghouse_watch_interval
PLAIN_DNS=198.18.0.6
PLUGINS=$SRCDIR/contrib/prosody
RENDER=$SRCDIR/contrib/ejabberd/clearinghouse-ejabberd.py
PUSHTABLE=$E2E_DIR/pushtable.py

# ------------------------------------------------------------------ can we run?

[ "${CHECK_E2E:-1}" = 0 ] && skip_all "CHECK_E2E=0"
missing=()
for tool in prosody prosodyctl nsd nsd-checkconf dig sqlite3 openssl setsid ip mount runuser timeout; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x $PY ] || missing+=("$PY")
$PY -c 'import slixmpp' 2>/dev/null || missing+=("python3-slixmpp")
lua5.4 -e 'require "lunbound"' 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/lua/5.4/lunbound.so ] \
    || missing+=("lua-unbound")
[ "${#missing[@]}" -eq 0 ] || skip_all "missing: ${missing[*]} (tests/e2e/deps.sh installs them)"
[ -x "$CHPOLICY" ] || skip_all "no chpolicy binary at $CHPOLICY (build first)"
"$CHPOLICY" help export table >/dev/null 2>&1 || "$CHPOLICY" export --help 2>&1 | grep -q table \
    || skip_all "this chpolicy has no 'export table'"
if ! why=$(e2e_can_netns); then
    skip_all "cannot create network namespaces: $why"
fi

setsid bash -c "sleep $PUSH_TIMEOUT; kill -TERM $$" >/dev/null 2>&1 </dev/null &
track_pid $!

make_tmpdir T
CLIENT_DIR=$T/clients
mkdir -p "$CLIENT_DIR" "$T/etc" "$T/tables"
chmod 711 "$T"
printf 'nameserver %s\n' "$PLAIN_DNS" >"$T/etc/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$T/etc/hosts"
chmod 644 "$T/etc/resolv.conf" "$T/etc/hosts"

elapsed() { ms_to_s $(( $(now_ms) - START_MS )); }

PROSODYS=(alpha bravo charlie echo)
declare -A ADDR=([alpha]=198.18.0.11 [bravo]=198.18.0.12 [charlie]=198.18.0.13 [delta]=198.18.0.14 [echo]=198.18.0.15)
declare -A USER=([alpha]=alice [bravo]=bob [charlie]=carol [delta]=dave [echo]=erin)
PASSWORD=push-secret

# ------------------------------------------------------------------ the table

# The clearinghouse's policy database: the community (levels, groups, one
# disabled domain) for the table, and identities and rules for resolverd,
# which decides alpha's lookups in the last phase only.
DB=$T/policy.db
KEY=$T/tables/table
if ! { "$CHPOLICY" --db "$DB" init &&
       "$CHPOLICY" --db "$DB" group add finance &&
       "$CHPOLICY" --db "$DB" group add ops &&
       for d in alpha:3 bravo:3 charlie:2 delta:3 echo:4 foxtrot:5; do
           "$CHPOLICY" --db "$DB" domain add "${d%%:*}.test" --level "${d#*:}" || exit 1
           "$CHPOLICY" --db "$DB" member add "${d%%:*}.test" finance || exit 1
       done &&
       "$CHPOLICY" --db "$DB" member add bravo.test ops &&
       "$CHPOLICY" --db "$DB" domain set foxtrot.test --disable &&
       for s in alpha bravo charlie delta echo; do
           "$CHPOLICY" --db "$DB" identity add "$s.test" "${ADDR[$s]}" || exit 1
       done &&
       for pair in alpha:echo echo:alpha alpha:charlie charlie:alpha; do
           "$CHPOLICY" --db "$DB" rule add --from "domain:${pair%%:*}.test" --to "domain:${pair#*:}.test" --allow || exit 1
       done; } >"$T/chpolicy.log" 2>&1; then
    bail "policy database made with chpolicy: $(tail -n 3 "$T/chpolicy.log")"
fi
"$CHPOLICY" --db "$DB" keygen --out "$KEY" >>"$T/chpolicy.log" 2>&1 || bail "chpolicy keygen: $(tail -n 2 "$T/chpolicy.log")"
BASE=$T/tables/base.json
if ! "$CHPOLICY" --db "$DB" export table --out "$BASE" --valid-for 1d --sign "$KEY.key" >>"$T/chpolicy.log" 2>&1; then
    bail "chpolicy export table --sign: $(tail -n 3 "$T/chpolicy.log")"
fi
assert_cmd "chpolicy export table --sign: a table of $(($(wc -l <"$BASE") - 2)) domains, signed; chpolicy verify-table accepts it" \
    "$CHPOLICY" --db "$DB" verify-table "$BASE" --pubkey "$KEY.pub"
SERIAL=$(sed -n 's/.*"serial":\([0-9]*\).*/\1/p' "$BASE" | head -n 1)

# variant NAME [pushtable.py edit options]: $T/tables/NAME.json, from the
# exported table, signed with the clearinghouse key.
variant() {
    local name=$1
    shift
    $PY "$PUSHTABLE" edit "$BASE" "$T/tables/$name.json" "$@" \
        && $PY "$PUSHTABLE" sign "$T/tables/$name.json" "$KEY.key"
}

# publish NAME SERVER...: give the servers that table (a new file renamed
# over the old one, the signature just after it, as chpolicy writes them).
publish() {
    local name=$1 s d
    shift
    for s in "$@"; do
        d=$T/prosody-$s
        cp "$T/tables/$name.json" "$d/table.json.new" && cp "$T/tables/$name.json.sig" "$d/table.json.sig.new" \
            && mv "$d/table.json.new" "$d/table.json" && mv "$d/table.json.sig.new" "$d/table.json.sig"
    done
}

# ------------------------------------------------------------------ network, DNS

e2e_net_hub || bail "hub namespace with bridge br0 created"
ip -n "$E2E_NS_HUB" addr add "$PLAIN_DNS/24" dev br0 || bail "address $PLAIN_DNS added to the bridge"
for s in "${PROSODYS[@]}" delta; do
    e2e_net_server "$s" "${ADDR[$s]}" || bail "namespace for $s created and plugged into the bridge"
done
for s in "${PROSODYS[@]}" delta; do
    e2e_wait_reachable "${ADDR[$s]}" || bail "${ADDR[$s]} ($s) is reachable from the hub"
done

# the community zones, and echo.test's
mkdir -p "$T/zones"
cp "$E2E_DIR"/zones/*.zone "$T/zones/"
sed -e 's/alpha/echo/g' -e 's/198\.18\.0\.11/198.18.0.15/g' "$E2E_DIR/zones/alpha.test.zone" >"$T/zones/echo.test.zone"
NETNS=$E2E_NS_HUB start_nsd "$T/nsd" 5300 "$T/zones" "$E2E_DIR/nsd-push.conf.in" \
    || bail "NSD serves the community zones in the hub namespace"
if [ "$(in_ns "$(ns alpha)" dig @"$PLAIN_DNS" +short +time=2 +tries=1 _xmpp-server._tcp.bravo.test SRV)" = "0 0 5269 xmpp.bravo.test." ]; then
    ok "namespaces up; a plain name server (NSD, $PLAIN_DNS@53) answers the community's SRV records: no resolverd decides here"
else
    bail "NSD answers alpha on $PLAIN_DNS@53"
fi

# ------------------------------------------------------------------ servers

declare -A POLICY=(
    [alpha]='clearinghouse_allow = { min_level = 3, groups = { "finance" } }
clearinghouse_grace = '"$GRACE"
    [bravo]='clearinghouse_allow = { min_level = 3, groups = { "finance" } }
clearinghouse_grace = '"$GRACE"'
clearinghouse_fail = "open"'
    [charlie]='clearinghouse_allow = { min_level = 4 }
clearinghouse_mode = "dry-run"'
    [echo]='clearinghouse_allow = { min_level = 3 }'
)
declare -A PROSODY_PID

# prosody_config NAME RESOLVER: render NAME's prosody.cfg.lua. The public
# key is a file's path, but bravo has the PEM text itself in its config.
prosody_config() {
    local s=$1 d=$T/prosody-$1 key="\"$KEY.pub\""
    [ "$s" = bravo ] && key="[[$(cat "$KEY.pub")]]"
    e2e_render "$E2E_DIR/prosody-push.cfg.lua.in" "$d/prosody.cfg.lua" DIR="$d" ADDR="${ADDR[$s]}" \
        DOMAIN="$s.test" RESOLVER="$2" LOGLEVEL="${E2E_PROSODY_LOG:-debug}" PLUGINS="$PLUGINS" \
        PUBKEY="$key" WATCH="$WATCH" POLICY="${POLICY[$s]}"
}

# prosody_start NAME [RESOLVER]: configure and start NAME's Prosody (its
# table must be in place), register its user; RESOLVER defaults to NSD.
prosody_start() {
    local s=$1 resolver=${2:-$PLAIN_DNS@53} d=$T/prosody-$1
    mkdir -p "$d/data"
    prosody_config "$s" "$resolver"
    prosodyctl --config "$d/prosody.cfg.lua" register "${USER[$s]}" "$s.test" "$PASSWORD" >"$d/register.log" 2>&1 \
        || { diag "$(cat "$d/register.log")"; return 1; }
    e2e_start "$(ns "$s")" "$d/stdout.log" prosody --config "$d/prosody.cfg.lua" -F
    PROSODY_PID[$s]=$E2E_PID
}

prosody_ready() {
    e2e_wait_port "$(ns "$1")" "${ADDR[$1]}" 5269 20 "${PROSODY_PID[$1]}" \
        && e2e_wait_port "$(ns "$1")" 127.0.0.1 5222 5 "${PROSODY_PID[$1]}"
}

variant start
assert_cmd "the test's re-signed variant of the table (pushtable.py) passes chpolicy verify-table too" \
    "$CHPOLICY" --db "$DB" verify-table "$T/tables/start.json" --pubkey "$KEY.pub"
for s in "${PROSODYS[@]}"; do
    mkdir -p "$T/prosody-$s"
    publish start "$s"
    prosody_start "$s" || bail "Prosody for $s.test configured, user ${USER[$s]} registered"
done

# ejabberd (delta.test): the fragment rendered from the table, with its own
# resolver settings (the system's: a resolv.conf naming NSD, bind-mounted)
HAVE_EJABBERD=no
EJ=$T/ejabberd
ejabberd_ctl() {
    in_ns "$(ns delta)" "${WITH_ETC[@]}" "$T/etc/resolv.conf" "$T/etc/hosts" \
        runuser -u ejabberd -- env HOME="$EJ" ejabberdctl --config-dir "$EJ" \
        --config "$EJ/ejabberd.yml" --ctl-config /dev/null --logs "$EJ/logs" --spool "$EJ/spool" \
        --node ejabberd@localhost "$@"
}
# render [TABLE]: the ejabberd fragment from delta's table; sets RENDER_RC, RENDER_OUT
render() {
    RENDER_OUT=$($PY "$RENDER" --config "$EJ/clearinghouse.ini" "$@" 2>&1) && RENDER_RC=0 || RENDER_RC=$?
    chown ejabberd:ejabberd "$EJ/clearinghouse.yml" 2>/dev/null
}
if command -v ejabberdctl >/dev/null 2>&1 && command -v erl >/dev/null 2>&1 \
    && getent passwd ejabberd >/dev/null 2>&1; then
    HAVE_EJABBERD=yes
    mkdir -p "$EJ/spool" "$EJ/logs" "$EJ/state"
    cp "$T/tables/start.json" "$EJ/table.json" && cp "$T/tables/start.json.sig" "$EJ/table.json.sig"
    cat >"$EJ/clearinghouse.ini" <<EOF
[table]
file = $EJ/table.json
pubkey = $KEY.pub
grace = $GRACE

[output]
file = $EJ/clearinghouse.yml
state = $EJ/state

[policy]
hosts = delta.test

[allow]
min_level = 3
groups = finance
EOF
    render
    if [ "$RENDER_RC" = 0 ]; then
        ok "clearinghouse-ejabberd.py verified the table and rendered delta's fragment ($(grep -c '^    - ' "$EJ/clearinghouse.yml") rule entries)"
    else
        not_ok "clearinghouse-ejabberd.py renders delta's fragment (exit $RENDER_RC)"
        diag "$RENDER_OUT"
    fi
    e2e_render "$E2E_DIR/ejabberd-push.yml.in" "$EJ/ejabberd.yml" DOMAIN=delta.test ADDR="${ADDR[delta]}" \
        FRAGMENT="$EJ/clearinghouse.yml"
    printf '%s\n' '{lookup, ["file", "native"]}.' '{host, {127,0,0,1}, ["localhost"]}.' \
        '{file, resolv, "/etc/resolv.conf"}.' >"$EJ/inetrc"
    chown -R ejabberd:ejabberd "$EJ"
    e2e_start "$(ns delta)" "$EJ/epmd.log" runuser -u ejabberd -- epmd -address 127.0.0.1
    sleep 0.2
    e2e_start "$(ns delta)" "$EJ/stdout.log" "${WITH_ETC[@]}" "$T/etc/resolv.conf" "$T/etc/hosts" \
        runuser -u ejabberd -- env HOME="$EJ" ERL_INETRC="$EJ/inetrc" ejabberdctl --config-dir "$EJ" \
        --config "$EJ/ejabberd.yml" --ctl-config /dev/null --logs "$EJ/logs" --spool "$EJ/spool" \
        --node ejabberd@localhost foreground
    EJABBERD_PID=$E2E_PID
else
    skip "ejabberd (delta.test) with the rendered fragment" "not installed (tests/e2e/deps.sh installs it)"
fi

for s in "${PROSODYS[@]}"; do
    prosody_ready "$s" || { diag "$(tail -n 20 "$T/prosody-$s/prosody.log" "$T/prosody-$s/stdout.log" 2>&1)";
                            bail "Prosody $s.test listens on ${ADDR[$s]}"; }
done
if [ "$(grep -l 'clearinghouse table serial [0-9]* (6 domains) from' "$T"/prosody-*/prosody.log | wc -l)" -eq 4 ]; then
    ok "Prosody with mod_clearinghouse: the table verified and loaded on the four servers, bravo with its key as PEM text in its config ($(grep -ho 'clearinghouse table serial [0-9]* (6 domains)' "$T"/prosody-*/prosody.log | sort -u | head -n 1))"
else
    not_ok "mod_clearinghouse loaded the table on the four servers"
    diag "$(grep -i clearinghouse "$T"/prosody-*/prosody.log | tail -n 20)"
fi

CLIENTS=("${PROSODYS[@]}")
if [ "$HAVE_EJABBERD" = yes ]; then
    t0=$(now_ms)
    if e2e_wait_port "$(ns delta)" "${ADDR[delta]}" 5269 40 "$EJABBERD_PID" \
        && e2e_wait_port "$(ns delta)" "${ADDR[delta]}" 5222 5 "$EJABBERD_PID" \
        && ejabberd_ctl register dave delta.test "$PASSWORD" >"$EJ/register.log" 2>&1; then
        ok "ejabberd delta.test started with the rendered fragment included ($(ms_to_s $(( $(now_ms) - t0 ))) s)"
        CLIENTS+=(delta)
        # the ACLs and rules of ejabberd.yml and those of the fragment are merged
        ejabberd_ctl dump_config "$EJ/dump.yml" >"$EJ/dump.log" 2>&1
        if grep -q 'clearinghouse_s2s' "$EJ/dump.yml" 2>/dev/null && grep -qE '^ *c2s:' "$EJ/dump.yml" \
            && grep -q 'clearinghouse_level_3' "$EJ/dump.yml" && grep -qE '^ *local:' "$EJ/dump.yml"; then
            ok "ejabberdctl dump_config: the fragment's ACLs and rules sit beside ejabberd.yml's own (local, c2s)"
        else
            not_ok "ejabberd merges the fragment's acl and access_rules with ejabberd.yml's"
            diag "$(cat "$EJ/dump.log")" "$(grep -A40 -E '^(acl|access_rules):' "$EJ/dump.yml" 2>/dev/null | head -n 60)"
        fi
    else
        not_ok "ejabberd delta.test starts with the rendered fragment included"
        diag "$(tail -n 20 "$EJ/stdout.log" "$EJ/register.log" "$EJ"/logs/*.log 2>&1)"
        HAVE_EJABBERD=no
    fi
fi
for s in "${CLIENTS[@]}"; do
    client_start "$s" "${USER[$s]}@$s.test" "$PASSWORD" "${ADDR[$s]}" "$(ns "$s")" \
        || { diag "$(tail -n 20 "$CLIENT_DIR/$s.events" "$CLIENT_DIR/$s.log" 2>&1)"; bail "client ${USER[$s]}@$s.test logged in"; }
done
ok "clients logged in: ${CLIENTS[*]}"

# ------------------------------------------------------------------ helpers

DENIED_IDS=()
N=0
# expect_delivery FROM TO WHAT: a new message arrives within 5 s.
expect_delivery() {
    N=$((N + 1))
    e2e_send_and_wait "$1" "$2" "m$N" 5
    if [ "$OUTCOME" = recv ]; then
        ok "$1 -> $2 delivers ($3): $(ms_to_s "$LATENCY_MS") s"
    else
        not_ok "$1 -> $2 delivers ($3)"
        diag "outcome: $OUTCOME $ERRLINE" "$(grep -E 'clearinghouse|s2s' "$T/prosody-$1/prosody.log" 2>/dev/null | tail -n 8)"
    fi
}

# expect_bounce FROM TO LIMIT_S WHAT: the message does not arrive and the
# sender gets an error within LIMIT_S s. Sets BOUNCE_MS and ERRLINE.
expect_bounce() {
    local from=$1 to=$2 limit=$3 what=$4
    N=$((N + 1))
    [ -n "${USER[$to]:-}" ] && DENIED_IDS+=("$to:m$N")
    e2e_send_and_wait "$from" "$to" "m$N" "$limit"
    BOUNCE_MS=$LATENCY_MS
    case $OUTCOME in
        error) ok "$from -> $to refused ($what): the sender's error came back in $(ms_to_s "$LATENCY_MS") s"
               printf '#   error: %s\n' "$ERRLINE" ;;
        recv) not_ok "$from -> $to refused ($what): the message must not arrive" ;;
        *) not_ok "$from -> $to refused ($what): an error comes back within $limit s (outcome: $OUTCOME)"
           diag "$(grep -E 'clearinghouse|s2s' "$T/prosody-$from/prosody.log" 2>/dev/null | tail -n 8)" ;;
    esac
}

# log_mark SERVER: the current length of SERVER's Prosody log (for since_mark).
log_mark() { wc -l <"$T/prosody-$1/prosody.log"; }
# wait_log SERVER MARK ERE TIMEOUT_S: wait until a line after MARK matches.
wait_log() {
    local f=$T/prosody-$1/prosody.log deadline=$(( $(now_ms) + $4 * 1000 ))
    until tail -n +"$(( $2 + 1 ))" "$f" | grep -qE -- "$3"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}
log_since() { tail -n +"$(( $2 + 1 ))" "$T/prosody-$1/prosody.log"; }
# expect_log SERVER MARK ERE TIMEOUT_S DESC: ok when SERVER logs a matching
# line after MARK within TIMEOUT_S (the time taken and the line are shown).
expect_log() {
    local t0 line
    t0=$(now_ms)
    if wait_log "$1" "$2" "$3" "$4"; then
        ok "$5 ($(ms_to_s $(( $(now_ms) - t0 ))) s)"
        line=$(log_since "$1" "$2" | grep -m1 -E -- "$3")
        printf '#   log: %s\n' "$(sed -E 's/^.*(info|warn|error)[[:space:]]+//' <<<"$line" | cut -c1-170)"
    else
        not_ok "$5"
        diag "$(log_since "$1" "$2" | grep -E 'clearinghouse|closing' | tail -n 10)"
    fi
}

shell_on() { timeout 20 prosodyctl --config "$T/prosody-$1/prosody.cfg.lua" shell "$2" 2>&1; }

# ------------------------------------------------------------------ phase 1: the local rule

echo "# phase 1: table serial $SERIAL, plain DNS; the module alone decides (t=$(elapsed) s)"
SNIFF=$T/sniff-alpha.txt
e2e_start "$(ns alpha)" "$T/sniff.log" $PY "$E2E_DIR/sniff.py" eth0 "$SNIFF" 240
SNIFF_PID=$E2E_PID
wait_until 5 "$SNIFF_PID" grep -q '^ready' "$SNIFF" 2>/dev/null || not_ok "the packet sniffer starts in alpha's namespace"
SNIFF_FROM=$(now_ms)

expect_delivery alpha bravo "level 3, finance: inside alpha's rule"
expect_delivery bravo alpha "and back"
if awk -v t="$SNIFF_FROM" '$1 == "dns" && $2 >= t && $6 ~ /bravo\.test\.$/' "$SNIFF" | grep -q . \
    && awk -v t="$SNIFF_FROM" '$1 == "syn" && $2 >= t && $4 == "198.18.0.12" && $5 == 5269' "$SNIFF" | grep -q .; then
    ok "control: the sniffer in alpha's namespace saw alpha's DNS questions for bravo.test and its SYN to ${ADDR[bravo]}:5269"
else
    not_ok "control: the sniffer sees alpha's DNS questions and SYN for bravo.test"
    diag "$(cat "$SNIFF")"
fi

T_DENY=$(now_ms)
expect_bounce alpha charlie 5 "level 2 is below alpha's min_level 3"
BOUNCE_CHARLIE=$BOUNCE_MS
assert_match "the error is policy-violation and names the peer, its level and alpha's rule" \
    '^policy-violation .*charlie\.test \(level 2, groups finance\) is outside alpha\.test.s rule: min_level 3, groups any of finance' "$ERRLINE"
assert_le "the bounce took milliseconds (${BOUNCE_CHARLIE} ms <= 200 ms)" 200 "$BOUNCE_CHARLIE"
sleep 0.5
leak=$(awk -v t="$T_DENY" '($1 == "dns" && $2 >= t && $6 ~ /charlie\.test\.$/) || ($1 == "syn" && $2 >= t && $4 == "198.18.0.13")' "$SNIFF")
assert_eq "no DNS question for charlie.test and no SYN to ${ADDR[charlie]} left alpha's namespace" "" "$leak"

expect_bounce alpha foxtrot 3 "foxtrot.test is disabled in the table"
assert_match "... policy-violation: disabled in the table" '^policy-violation .*foxtrot\.test is disabled in the clearinghouse table' "$ERRLINE"
expect_bounce alpha unknown 3 "a domain outside the table"
assert_match "... policy-violation: not in the table" '^policy-violation .*unknown\.test is not in the clearinghouse table' "$ERRLINE"

mark=$(log_mark alpha)
expect_bounce charlie alpha 10 "charlie's rule (dry-run) lets alpha through, alpha's does not allow charlie: inbound"
assert_match "charlie's error carries alpha's stream error: policy-violation naming charlie.test and alpha's rule" \
    'policy-violation.*charlie\.test \(level 2, groups finance\) is outside alpha\.test.s rule' "$ERRLINE"
assert_cmd "alpha logged that it closed the inbound stream from charlie.test" \
    wait_log alpha "$mark" 'closing the inbound stream from charlie\.test \(stream header\)' 2

out=$(shell_on alpha "clearinghouse:check('charlie.test')")
assert_match "prosodyctl shell clearinghouse:check on alpha says deny for charlie.test" \
    'alpha\.test -> charlie\.test: deny \(rule\)' "$out"
# the module and the ejabberd renderer decide alike: alpha's policy in both
PEERS="alpha.test conference.alpha.test bravo.test charlie.test delta.test echo.test foxtrot.test unknown.test conference.bravo.test"
out=$(shell_on alpha "clearinghouse:check('$PEERS')")
mod=$(sed -nE 's/^alpha\.test -> ([a-z.]+): (allow|deny) .*/\2 \1/p' <<<"$out")
mkdir -p "$T/parity"
printf '[table]\nfile = %s\npubkey = %s\n[output]\nfile = %s\nstate = %s\n[policy]\nhosts = alpha.test\n[allow]\nmin_level = 3\ngroups = finance\n' \
    "$T/prosody-alpha/table.json" "$KEY.pub" "$T/parity/out.yml" "$T/parity" >"$T/parity/check.ini"
ren=$($PY "$RENDER" --config "$T/parity/check.ini" $(printf -- '--explain %s ' $PEERS) 2>&1 | sed -nE 's/^(allow|deny) ([a-z.]+):.*/\1 \2/p')
if [ "$mod" = "$ren" ] && [ "$(wc -l <<<"$mod")" -eq 9 ]; then
    ok "mod_clearinghouse and clearinghouse-ejabberd.py decide alike for alpha's policy: $(tr '\n' ' ' <<<"$mod")"
else
    not_ok "mod_clearinghouse and clearinghouse-ejabberd.py decide alike"
    diag "module:" "$mod" "renderer:" "$ren" "$out"
fi
assert_match "alpha's own components are never blocked (conference.alpha.test: allow)" '^allow conference\.alpha\.test$' "$mod"
out=$(shell_on alpha "clearinghouse:status()")
assert_match "prosodyctl shell clearinghouse:status on alpha: serial $SERIAL, valid" "serial $SERIAL, 6 domains.*|state: +valid" "$out"

# ------------------------------------------------------------------ phase 2: a tampered table

echo "# phase 2: a tampered table (t=$(elapsed) s)"
mark=$(log_mark alpha)
d=$T/prosody-alpha
sed 's/"name":"charlie.test","level":2/"name":"charlie.test","level":3/' "$d/table.json" >"$d/table.json.new"
cmp -l "$d/table.json" "$d/table.json.new" | wc -l | grep -qx 1 || not_ok "the tampered table differs in exactly one byte"
mv "$d/table.json.new" "$d/table.json"
expect_log alpha "$mark" 'refused .*signature does not verify.*table serial [0-9]+ stays in use' $((WATCH + 5)) \
    "alpha refused the table with one byte changed (charlie's level 2 -> 3); the last good table stays"
expect_bounce alpha charlie 5 "the tampered file's level 3 does not apply"
expect_delivery alpha echo "a new stream to an allowed peer with the last good table"

# ------------------------------------------------------------------ phase 3: a new table, no restart

echo "# phase 3: newly signed tables replace the file (t=$(elapsed) s)"
PID_BEFORE=${PROSODY_PID[alpha]}
S1=$((SERIAL + 1)) S2=$((SERIAL + 2))
variant up --serial "$S1" --level charlie.test=3
variant down --serial "$S2" --level charlie.test=2
mark=$(log_mark alpha)
publish up alpha
expect_log alpha "$mark" "clearinghouse table serial $SERIAL -> $S1" $((WATCH + 5)) \
    "alpha took the new table (serial $S1, charlie level 3) without a restart, within the watch interval ($WATCH s) after it was written"
expect_delivery alpha charlie "charlie is level 3 in the new table"
assert_cmd "charlie (min_level 4, dry-run) let alpha (level 3) in, and logged that it would have closed the stream" \
    grep -qE 'dry-run: would close the inbound stream from alpha\.test \([a-z ]+\): alpha\.test \(level 3, groups finance\) is outside charlie\.test.s rule: min_level 4' "$T/prosody-charlie/prosody.log"
assert_eq "the same Prosody process (pid $PID_BEFORE) serves alpha" "$PID_BEFORE" "$(cat "$T/prosody-alpha/prosody.pid" 2>/dev/null || echo "$PID_BEFORE")"

mark=$(log_mark alpha)
publish down alpha
expect_log alpha "$mark" "closing the stream alpha\.test (->|<-) charlie\.test after a new table" $((WATCH + 5)) \
    "serial $S2 (charlie level 2 again): alpha closed its open streams with charlie.test"
expect_bounce alpha charlie 5 "serial $S2: level 2 again"

mark=$(log_mark alpha)
publish up alpha
assert_cmd "the older table (serial $S1, properly signed) is refused: a replay" \
    wait_log alpha "$mark" "refused .*serial $S1 is older than the table in use \\(serial $S2\\)" $((WATCH + 5))
expect_bounce alpha charlie 5 "still serial $S2"

# ------------------------------------------------------------------ phase 4: expiry, grace, fail modes

echo "# phase 4: a table that expires; grace $GRACE s; alpha fails closed, bravo open (t=$(elapsed) s)"
S3=$((SERIAL + 3)) S4=$((SERIAL + 4))
UNTIL_MS=$(( ($(date +%s) + 4) * 1000 ))
variant short --serial "$S3" --valid-until "now+4"
variant long --serial "$S4"
ma=$(log_mark alpha) mb=$(log_mark bravo)
publish short alpha bravo
wait_log alpha "$ma" "serial $S2 -> $S3" $((WATCH + 5)) && wait_log bravo "$mb" "-> $S3" $((WATCH + 5)) \
    || not_ok "alpha and bravo take serial $S3 (valid for 4 s)"
expect_log alpha "$ma" "serial $S3 EXPIRED at .*still in use for the grace period" 10 \
    "alpha warns when the table expires, and keeps using it for the grace period"
expect_delivery alpha bravo "an expired table inside its grace period still works"
expect_bounce alpha charlie 5 "... and still denies"
wait_log alpha "$ma" 'grace period ended at .*clearinghouse_fail = "closed" applies' $((GRACE + 5))
t_fail=$(now_ms)
assert_le "after the grace period alpha logged that the fail mode applies ($(ms_to_s $(( t_fail - UNTIL_MS - GRACE * 1000 ))) s after validity end + grace)" \
    $(( (WATCH + 2) * 1000 )) $(( t_fail - UNTIL_MS - GRACE * 1000 ))
expect_bounce alpha bravo 5 "alpha: grace over, clearinghouse_fail = closed"
assert_match "... the error says why" 'policy-violation .*grace period .*clearinghouse_fail = "closed"' "$ERRLINE"
wait_log bravo "$mb" 'clearinghouse_fail = "open" applies' 5 || not_ok "bravo logs that its fail mode (open) applies"
expect_delivery bravo charlie "bravo: grace over, clearinghouse_fail = open lets even level 2 through"

ma=$(log_mark alpha)
publish long alpha bravo
wait_log alpha "$ma" "serial $S3 -> $S4" $((WATCH + 5)) || not_ok "alpha takes serial $S4"
expect_delivery alpha bravo "a new valid table (serial $S4) ends the fail mode"

# ------------------------------------------------------------------ phase 5: ejabberd

if [ "$HAVE_EJABBERD" = yes ]; then
    echo "# phase 5: ejabberd (delta.test) with the rendered fragment (t=$(elapsed) s)"
    expect_delivery delta alpha "ejabberd: alpha is level 3, finance"
    expect_delivery alpha delta "... and back"
    expect_bounce delta charlie 5 "ejabberd: level 2 is below delta's min_level 3"
    assert_match "... ejabberd's own error for s2s_access" 'forbidden|policy' "$ERRLINE"
    N=$((N + 1))
    DENIED_IDS+=("delta:m$N")
    e2e_send_and_wait charlie delta "m$N" 8
    case $OUTCOME in
        recv) not_ok "charlie -> delta (charlie allows delta; delta's rule refuses charlie): must not arrive" ;;
        *) ok "charlie -> delta (charlie allows delta; delta's rule refuses charlie, inbound): not delivered ($OUTCOME${ERRLINE:+: $ERRLINE})" ;;
    esac

    # the renderer's clock (--now): the grace period, then the fail mode
    sed -e "s|^file = $EJ/clearinghouse.yml|file = $EJ/check.yml|" -e "s|^state = .*|state = $EJ/state-check|" \
        "$EJ/clearinghouse.ini" >"$EJ/check.ini"
    until_s=$(( $(date -d "$(sed -n 's/.*"valid_until":"\([^"]*\)".*/\1/p' "$EJ/table.json" | head -n 1)" +%s) ))
    out=$($PY "$RENDER" --config "$EJ/check.ini" --now $((until_s + 1)) 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 1 ] && grep -q 'WARNING: table serial .* expired' <<<"$out" && grep -q 'EXPIRED: in its grace period' "$EJ/check.yml" \
        && grep -q 'clearinghouse_level_3' "$EJ/check.yml"; then
        ok "clearinghouse-ejabberd.py 1 s past the validity end: the table's rule still rendered, with a warning (exit 1)"
    else
        not_ok "clearinghouse-ejabberd.py keeps the table's rule in the grace period, with a warning"
        diag "exit $rc: $out"
    fi
    out=$($PY "$RENDER" --config "$EJ/check.ini" --now $((until_s + GRACE + 1)) 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 1 ] && grep -q 'fail mode closed applies' <<<"$out" \
        && [ "$(grep -E '^    - ' "$EJ/check.yml" | tr -d ' ')" = "$(printf '%s\n' '-allow:clearinghouse_local' '-deny:all')" ]; then
        ok "... past the grace period: the fail mode (closed) rendered: only delta's own domains, then deny all"
    else
        not_ok "clearinghouse-ejabberd.py renders the fail mode past the grace period"
        diag "exit $rc: $out" "$(cat "$EJ/check.yml")"
    fi

    cp "$EJ/clearinghouse.yml" "$T/fragment.before"
    sed 's/"name":"charlie.test","level":2/"name":"charlie.test","level":3/' "$EJ/table.json" >"$EJ/table.json.new" \
        && mv "$EJ/table.json.new" "$EJ/table.json"
    render
    if [ "$RENDER_RC" = 1 ] && grep -q 'signature does not verify' <<<"$RENDER_OUT" \
        && cmp -s "$T/fragment.before" "$EJ/clearinghouse.yml"; then
        ok "clearinghouse-ejabberd.py refuses the tampered table (exit 1) and leaves the fragment as it was"
    else
        not_ok "clearinghouse-ejabberd.py refuses a tampered table and keeps the fragment"
        diag "exit $RENDER_RC" "$RENDER_OUT"
    fi
    cp "$T/tables/up.json" "$EJ/table.json" && cp "$T/tables/up.json.sig" "$EJ/table.json.sig"
    chown ejabberd:ejabberd "$EJ"/table.json*
    t0=$(now_ms)
    render
    rl=$(ejabberd_ctl reload_config 2>&1) && rrc=0 || rrc=$?
    if [ "$RENDER_RC" = 0 ] && [ "$rrc" = 0 ]; then
        ok "a new table (charlie level 3) rendered and applied with ejabberdctl reload_config in $(ms_to_s $(( $(now_ms) - t0 ))) s"
    else
        not_ok "a new table is rendered and ejabberdctl reload_config applies it"
        diag "render exit $RENDER_RC: $RENDER_OUT" "reload_config exit $rrc: $rl"
    fi
    expect_delivery delta charlie "ejabberd after reload_config: charlie is level 3 now"
fi

# ------------------------------------------------------------------ a configuration reload

echo "# charlie: clearinghouse_mode dry-run -> enforce, with a configuration reload (t=$(elapsed) s)"
POLICY[charlie]='clearinghouse_allow = { min_level = 4 }'
prosody_config charlie "$PLAIN_DNS@53"
mark=$(log_mark charlie)
kill -HUP "${PROSODY_PID[charlie]}"
assert_cmd "charlie reloaded its configuration (SIGHUP, as prosodyctl reload): clearinghouse policy now enforced" \
    wait_log charlie "$mark" 'clearinghouse policy reloaded \(enforce\): allow min_level 4' 5
out=$(shell_on charlie "clearinghouse:check('bravo.test')")
assert_match "... clearinghouse:check on charlie: bravo.test (level 3) denied, no longer dry-run" \
    'charlie\.test -> bravo\.test: deny \(rule\): bravo\.test \(level 3' "$out"
if log_since charlie "$mark" | grep -qE 'closing the stream charlie\.test <- (bravo|delta|alpha)\.test after a configuration reload'; then
    ok "... and closed the open inbound streams it now denies: $(log_since charlie "$mark" | grep -oE 'closing the stream charlie\.test <- [a-z.]+' | sort -u | sed 's/closing the stream //' | tr '\n' ' ')"
else
    not_ok "charlie closes the open inbound streams its enforced rule denies"
    diag "$(log_since charlie "$mark" | grep -E 'clearinghouse|closing')"
fi

# ------------------------------------------------------------------ phase 6: both models

echo "# phase 6: resolverd also decides alpha's lookups; the stricter wins (t=$(elapsed) s)"
if [ -x "$RESOLVERD" ]; then
    UPSTREAM=""
    for f in "$T"/zones/*.zone; do
        UPSTREAM+="stub-zone: $(basename "$f" .zone). 127.0.0.1@5300"$'\n'
    done
    e2e_render "$E2E_DIR/resolverd.conf.in" "$T/resolverd.conf" HUB="$E2E_HUB_ADDR" DB="$DB" \
        ZONEFILE="$E2E_DIR/clearinghouse.test.zone" SINKMODE=host SINKHOST=sink.clearinghouse.test \
        SINKLISTEN="" TTLCAP=5 MUTUAL=yes EXTRA="" UPSTREAM="$UPSTREAM"
    RLOG=$T/resolverd.log
    e2e_start "$E2E_NS_HUB" "$RLOG" "$RESOLVERD" -c "$T/resolverd.conf" -f -v 2
    RPID=$E2E_PID
    if NETNS=$E2E_NS_HUB wait_for_dns 53 sink.clearinghouse.test "$E2E_HUB_ADDR" 20 "$E2E_HUB_ADDR" "$RPID"; then
        # alpha again, now with resolverd as its resolver, and a table file
        # damaged while it was down: it starts with its last good table
        stop_pid "${CLIENT_PID[alpha]}" 3 || true
        stop_pid "${PROSODY_PID[alpha]}" 10 || true
        d=$T/prosody-alpha
        sed 's/"name":"echo.test","level":4/"name":"echo.test","level":5/' "$d/table.json" >"$d/table.json.new" \
            && mv "$d/table.json.new" "$d/table.json"
        mv "$d/prosody.log" "$d/prosody-1.log"
        if prosody_start alpha "$E2E_HUB_ADDR@53" && prosody_ready alpha \
            && client_start alpha alice@alpha.test "$PASSWORD" "${ADDR[alpha]}" "$(ns alpha)"; then
            ok "alpha restarted with resolverd ($E2E_HUB_ADDR) as its resolver and mod_clearinghouse as before"
            assert_cmd "... it started with its last good table (serial $S4, the copy in its data directory)" \
                grep -qE "last good clearinghouse table from .*/last-good\.json: serial $S4" "$d/prosody.log"
            assert_cmd "... and refused the table file, damaged while it was down" \
                grep -qE "refused .*signature does not verify.*table serial $S4 stays in use" "$d/prosody.log"
            expect_delivery alpha echo "table allows, resolverd allows (rules alpha <-> echo)"
            rmark=$(wc -l <"$RLOG")
            expect_bounce alpha bravo 5 "table allows, resolverd denies (no rule): the sink"
            assert_not_match "... refused by resolverd's sink, not by the module" 'policy-violation' "$ERRLINE"
            assert_cmd "... resolverd logged alpha -> bravo deny" \
                grep -qE 'decision requester=alpha\.test source=[^ ]+ peer=bravo\.test deny' "$RLOG"
            rmark=$(wc -l <"$RLOG")
            expect_bounce alpha charlie 5 "resolverd allows (rules alpha <-> charlie), the table denies (level 2)"
            assert_match "... refused by the module: policy-violation" '^policy-violation .*charlie\.test \(level 2' "$ERRLINE"
            assert_eq "... before any lookup: resolverd got no question from alpha about charlie.test" "" \
                "$(tail -n +"$((rmark + 1))" "$RLOG" | grep -E 'requester=alpha\.test .*peer=charlie\.test')"
        else
            not_ok "alpha restarts with resolverd as its resolver"
            diag "$(tail -n 20 "$T/prosody-alpha/prosody.log" "$T/prosody-alpha/stdout.log" 2>&1)"
        fi
    else
        not_ok "resolverd answers in the hub"
        diag "$(tail -n 20 "$RLOG")"
    fi
else
    skip "phase 6: resolverd and the table together" "no resolverd binary at $RESOLVERD"
fi

# ------------------------------------------------------------------ the end

leaked=""
for d in "${DENIED_IDS[@]}"; do
    [ -n "$(event_time "${d%%:*}" recv "${d#*:}" 2>/dev/null)" ] && leaked+=" ${d#*:}"
done
assert_eq "no refused message arrived by the end of the run (${#DENIED_IDS[@]} checked)" "" "$leaked"
errs=$(grep -hE 'Traceback|error.*mod_clearinghouse|clearinghouse.*(attempt to|bad argument|nil value)' "$T"/prosody-*/prosody*.log | head -n 5)
assert_eq "no Lua error in any Prosody log" "" "$errs"

echo "# policy-push run took $(elapsed) s; bounce alpha -> charlie: $BOUNCE_CHARLIE ms"
finish
