#!/usr/bin/env bash
# resolverd as a service: it refuses to keep root unless told to, drops to
# its user (and chroots) after opening what needs root, tells systemd when it
# is ready (sd_notify), reads its config and zone again on SIGHUP without
# dropping queries, and stops within 100 ms on SIGTERM.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_service.sh

set -u
. "$(dirname "$0")/../lib.sh"
require_tools dig sqlite3 python3 setsid
require_resolverd
[ "$(id -u)" = 0 ] || skip_all "needs root (privilege drop)"
getent passwd nobody >/dev/null || skip_all "no user nobody"
make_tmpdir T
chmod 755 "$T"

# a policy in a directory the service user owns (SQLite's WAL files)
mkdir -p "$T/state"
DB=$T/state/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('a.test'), ('c.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.2/32', 'a.test');
SQL
chown -R nobody "$T/state"
ZONE=$SRCDIR/zones/clearinghouse.test.zone
PORT=$(free_port) || bail "a free port"
conf() { printf 'listen: 127.0.0.1@%s\ndatabase: %s\nzone-file: %s\nrecursion-acl: 127.0.0.1/32\n' "$PORT" "$DB" "$ZONE"; cat; }
srv() { dig +short +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.c.test SRV; }
ttl() { dig +noall +answer +time=2 +tries=1 -b 127.0.0.2 -p "$PORT" @127.0.0.1 _xmpp-server._tcp.c.test SRV | awk '{print $2; exit}'; }

# ---------------------------------------------------------------- root

conf </dev/null >"$T/root.conf"
out=$(timeout 10 "$RESOLVERD" -c "$T/root.conf" -f 2>&1) && rc=0 || rc=$?
assert_ne "started as root without username: refuses to run" 0 "$rc"
assert_match "... and says what to set" "set username: USER" "$out"
out=$("$RESOLVERD" -c "$T/root.conf" -t 2>&1) && rc=0 || rc=$?
assert_eq "resolverd -t of that config still checks it (exit 0)" 0 "$rc"
assert_match "... with the warning" "without 'username'" "$out"
conf <<<"username: nosuchuser-$$" >"$T/nouser.conf"
out=$("$RESOLVERD" -c "$T/nouser.conf" -t 2>&1) && rc=0 || rc=$?
assert_match "an unknown username is a config error, also for -t" "no such user" "$out"

printf 'listen: 127.0.0.1@99999\nbogus: 1\nttl-cap: abc\nno colon here\nzone-file: %s\n' "$ZONE" >"$T/bad.conf"
out=$("$RESOLVERD" -c "$T/bad.conf" -t 2>&1) && rc=0 || rc=$?
assert_ne "resolverd -t of a config with four bad lines: fails" 0 "$rc"
assert_eq "... and names every one with file:line" "1 2 3 4" \
    "$(grep -o "bad.conf:[0-9]*" <<<"$out" | cut -d: -f2 | sort -un | tr '\n' ' ' | sed 's/ $//')"
assert_match "... and what the whole file lacks" "no 'database' configured" "$out"

# ---------------------------------------------------------------- drop and notify

# a stand-in for systemd's notify socket
NOTIFY=$T/notify.sock
python3 - "$NOTIFY" >"$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
try:
    while True:
        print(s.recv(4096).decode().replace("\n", " "), flush=True)
except socket.timeout:
    pass
PY
track_pid $!
# what systemd was told since the log was last emptied (the listener keeps its offset: holes of NULs)
notified() { tr -d '\0' <"$T/notify.log" | tr '\n' ' '; }
for _ in $(seq 1 50); do [ -S "$NOTIFY" ] && break; sleep 0.05; done
chmod 666 "$NOTIFY" # as systemd's own: the service user writes to it
conf <<<"username: nobody" >"$T/svc.conf"
LOG=$T/svc.log
NOTIFY_SOCKET=$NOTIFY start_resolverd "$RESOLVERD" "$T/svc.conf" "$LOG"
wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 20 127.0.0.1 "$RESOLVERD_PID" || bail "resolverd starts: $(tail -n 5 "$LOG")"
assert_eq "it runs as the configured user" nobody "$(ps -o user= -p "$RESOLVERD_PID" | tr -d ' ')"
assert_eq "... with no saved root id (real, effective, saved uid)" "65534 65534 65534" \
    "$(awk '/^Uid:/ {print $2, $3, $4}' "/proc/$RESOLVERD_PID/status")"
assert_match "... and says so" "running as nobody" "$(cat "$LOG")"
wait_until 5 "" grep -q READY=1 "$T/notify.log"
assert_match "systemd is told READY=1 with the serial" "READY=1 STATUS=serving policy serial" "$(notified)"
assert_eq "a denied lookup is answered as nobody" "0 0 5269 sink.clearinghouse.test." "$(srv)"
sqlite3 "$DB" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('any', 'any', 'allow')"
ok_edit=no
for _ in $(seq 1 40); do [ "$(srv)" != "0 0 5269 sink.clearinghouse.test." ] && { ok_edit=yes; break; }; sleep 0.05; done
assert_eq "edits still reach the answers after the drop (the database is read as nobody)" yes "$ok_edit"

# ---------------------------------------------------------------- SIGHUP

sqlite3 "$DB" "DELETE FROM rules"
for _ in $(seq 1 40); do [ "$(srv)" = "0 0 5269 sink.clearinghouse.test." ] && break; sleep 0.05; done
assert_eq "ttl-cap 60 before" 60 "$(ttl)"
python3 - "$PORT" >"$T/during.log" <<'PY' &
import socket, struct, sys, time
# queries all through the reload: none may go unanswered
port = int(sys.argv[1]); lost = 0; sent = 0
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x04sink\x0dclearinghouse\x04test\x00\x00\x01\x00\x01"
s = socket.socket(); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 0)); s.settimeout(1)
end = time.time() + 1.5
while time.time() < end:
    s.sendto(q, ("127.0.0.1", port)); sent += 1
    try:
        s.recv(512)
    except socket.timeout:
        lost += 1
    time.sleep(0.005)
print(sent, lost)
PY
LOADPID=$!
sleep 0.3
conf <<<"username: nobody
ttl-cap: 30
listen: 127.0.0.1@$(free_port)" >"$T/svc.conf"
: >"$T/notify.log"
kill -HUP "$RESOLVERD_PID"
wait "$LOADPID"
read -r sent lost <"$T/during.log"
assert_eq "no query lost while the config is read again ($sent sent)" 0 "$lost"
wait_until 5 "" grep -q 'SIGHUP: config and zone read again' "$LOG"
assert_eq "SIGHUP: the new ttl-cap applies" 30 "$(ttl)"
assert_match "... a changed listen address is named as needing a restart" "SIGHUP: listen changed: it takes effect at the next restart" "$(cat "$LOG")"
assert_match "... systemd is told RELOADING=1, then READY=1" "RELOADING=1 MONOTONIC_USEC=[0-9]+ READY=1" "$(notified)"
printf 'this is not a config\n' >"$T/svc.conf"
kill -HUP "$RESOLVERD_PID"
wait_until 5 "" grep -q 'the running config stays' "$LOG"
assert_match "a broken config on SIGHUP: logged, the running one stays" "SIGHUP: config .*the running config stays" "$(cat "$LOG")"
assert_eq "... answers unchanged" 30 "$(ttl)"

# ---------------------------------------------------------------- SIGTERM

for i in 1 2 3 4 5; do dig +time=1 +tries=1 -b 127.0.0.1 -p "$PORT" @127.0.0.1 "x$i.nowhere.invalid" >/dev/null 2>&1 & done
sleep 0.2
t0=$(now_ms)
kill -TERM "$RESOLVERD_PID"
while kill -0 "$RESOLVERD_PID" 2>/dev/null && [ $(( $(now_ms) - t0 )) -lt 3000 ]; do sleep 0.005; done
# a sanitizer build scans for leaks at exit: it gets more time
limit=100
grep -q __asan_init "$RESOLVERD" && limit=400
assert_le "SIGTERM with lookups in flight: stopped within $limit ms" "$limit" $(( $(now_ms) - t0 ))
wait "$RESOLVERD_PID" 2>/dev/null
wait_until 2 "" grep -q STOPPING=1 "$T/notify.log"
assert_match "... systemd is told STOPPING=1" "STOPPING=1" "$(notified)"

# ---------------------------------------------------------------- chroot

mkdir -p "$T/jail/state"
cp "$ZONE" "$T/jail/zone"
cp "$DB" "$T/jail/state/policy.db"
chown -R nobody "$T/jail/state"
PORT=$(free_port) || bail "a free port"
printf 'listen: 127.0.0.1@%s\ndatabase: %s\nzone-file: %s\nrecursion-acl: 127.0.0.1/32\nusername: nobody\nchroot: %s\n' \
    "$PORT" "$T/jail/state/policy.db" "$T/jail/zone" "$T/jail" >"$T/jail.conf"
LOG=$T/jail.log
start_resolverd "$RESOLVERD" "$T/jail.conf" "$LOG"
wait_for_dns "$PORT" sink.clearinghouse.test 127.0.0.1 20 127.0.0.1 "$RESOLVERD_PID" || bail "resolverd starts in a chroot: $(tail -n 5 "$LOG")"
assert_eq "chroot: its root is the jail" "$T/jail" "$(readlink "/proc/$RESOLVERD_PID/root")"
sqlite3 "$T/jail/state/policy.db" "INSERT INTO rules (from_kind, to_kind, action) VALUES ('any', 'any', 'allow')"
ok_edit=no
for _ in $(seq 1 40); do [ "$(srv)" != "0 0 5269 sink.clearinghouse.test." ] && { ok_edit=yes; break; }; sleep 0.05; done
assert_eq "... and it still follows edits of the database inside the jail" yes "$ok_edit"
stop_pid "$RESOLVERD_PID"
printf 'listen: 127.0.0.1@%s\ndatabase: %s\nzone-file: %s\nusername: nobody\nchroot: %s/jail\n' \
    "$PORT" "$DB" "$ZONE" "$T" >"$T/outside.conf"
out=$("$RESOLVERD" -c "$T/outside.conf" -t 2>&1) && rc=0 || rc=$?
assert_match "a database outside the chroot is a config error" "is not inside chroot" "$out"

for l in "$T/svc.log" "$T/jail.log"; do
    if errs=$(sanitizer_errors "$l"); then not_ok "no sanitizer error in $(basename "$l")"; diag "$errs"; else ok "no sanitizer error in $(basename "$l")"; fi
done
finish
