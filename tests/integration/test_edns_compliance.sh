#!/usr/bin/env bash
# EDNS compliance: the queries of ISC's EDNS compliance tester (genreport:
# dns, aflag, adflag, cd, zflag, edns, edns1, edns@512, ednsopt, edns1opt,
# do, ednsflags, optlist, opcode, opcodeflg, tcp, ednstcp) and checks of the
# UDP size limit, asked with dig, each with the answer RFC 8906 section 8
# expects. For an upstream zone resolverd is a recursive server (RD=1 asked
# and echoed, RA=1, AA=0, AD=0 for an unsigned zone); for its own zone it is
# authoritative (AA=1, RD not asked, not echoed).
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_edns_compliance.sh
#
# Each check prints the dig options and what the answer must hold:
#   status, opcode   the RCODE (extended: BADVERS) and opcode of the answer
#   qr aa tc rd ra ad cd   header flags (1 set, 0 clear); z: the reserved
#                    header bit (dig's MBZ), which must be clear
#   opt, ver, do     an OPT record, its EDNS version, its DO bit;
#   embz             unknown EDNS flags (dig's MBZ in the EDNS line): cleared
#   opt100           the unknown option 100 echoed (it must not be)
#   soa, answer      the zone's SOA in the answer section; the answer count
#   question, size, udp   QDCOUNT, the answer's size, the buffer size offered

set -u
. "$(dirname "$0")/../lib.sh"
require_tools nsd nsd-checkconf dig sqlite3 python3 setsid
require_resolverd
make_tmpdir T

# comply.test: unsigned, with a DNSKEY RRset of about 1.6 kB (bigger than
# 512 and than our 1232-byte EDNS buffer) and a TXT RRset of about 800 bytes.
mkdir -p "$T/zones"
python3 - "$T/zones/comply.test.zone" <<'PY'
import base64, random, sys
rnd = random.Random(8906)
with open(sys.argv[1], "w") as f:
    f.write("$ORIGIN comply.test.\n$TTL 3600\n"
            "@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n")
    for k in range(6):
        key = bytes([3, 1, 0, 1]) + bytes(rnd.getrandbits(8) for _ in range(256))
        f.write("@ IN DNSKEY %d 3 8 %s\n" % (257 if k == 0 else 256, base64.b64encode(key).decode()))
    for k in range(4):
        f.write('medium IN TXT "%s"\n' % ("%d" % k * 180))
PY
NSD_PORT=$(free_port) || bail "a free port for nsd"
start_nsd "$T/nsd" "$NSD_PORT" "$T/zones" || bail "nsd serves comply.test"

DB=$T/policy.db
new_policy_db "$DB" <<'SQL' || bail "test policy loads"
INSERT INTO domains (name) VALUES ('probe.test');
INSERT INTO identities (value, domain) VALUES ('127.0.0.5/32', 'probe.test');
SQL
run_resolverd edns <<CONF
stub-zone: comply.test. 127.0.0.1@$NSD_PORT
transparent-zone: test.
recursion-acl: 127.0.0.1/32
edns-buffer-size: 1232
CONF

# fields OUT: the dig answer as "key=value" words (see above)
fields() {
    awk '
    /->>HEADER<<-/ { for (i = 1; i <= NF; i++) { if ($i == "opcode:") { op = $(i + 1); sub(/,$/, "", op) }
                                                  if ($i == "status:") { st = $(i + 1); sub(/,$/, "", st) } } }
    /^;; flags:/ { fl = $0; sub(/^;; flags:/, "", fl); z = (fl ~ /MBZ/) ? 1 : 0; sub(/;.*/, "", fl)
                   for (i = 1; i <= NF; i++) { if ($i == "QUERY:") q = $(i + 1) + 0; if ($i == "ANSWER:") an = $(i + 1) + 0 } }
    /^;; OPT PSEUDOSECTION:/ { opt = 1 }
    /^; EDNS: version:/ { ver = $4 + 0; dof = ($0 ~ /flags:[^;]*do/) ? 1 : 0; embz = ($0 ~ /MBZ/) ? 1 : 0
                          if (match($0, /udp: [0-9]+/)) udp = substr($0, RSTART + 5, RLENGTH - 5) }
    /^; OPT=100/ { o100 = 1 }
    /^;; ANSWER SECTION:/ { ans = 1; next }
    /^$/ { ans = 0 }
    ans && $4 == "SOA" { soa = 1 }
    /^;; MSG SIZE/ { size = $NF }
    END {
        n = split("qr aa tc rd ra ad cd", names, " ")
        printf "status=%s opcode=%s", st, op
        for (i = 1; i <= n; i++) printf " %s=%d", names[i], (fl ~ ("(^| )" names[i] "( |$)")) ? 1 : 0
        printf " z=%d opt=%d ver=%s do=%d embz=%d opt100=%d soa=%d answer=%d question=%d size=%d udp=%s\n",
            z, opt, opt ? ver : "-", dof, embz, o100, soa, an, q, size, opt ? udp : "-"
    }'
}

# check NAME ZONE QTYPE "DIG OPTIONS" "EXPECTATIONS": one assertion. Each
# expectation is key=value, key<=number or key>number.
check() {
    local name=$1 zone=$2 qtype=$3 opts=$4 expect=$5 out got e k v bad=""
    # shellcheck disable=SC2086
    out=$(dig -b 127.0.0.5 -p "$PORT" @127.0.0.1 +time=3 +tries=1 $opts $qtype $zone 2>&1)
    got=$(fields <<<"$out")
    for e in $expect; do
        case $e in
            *'<='*) k=${e%%<=*} v=${e#*<=}
                    [ "$(kv "$k" "$got")" -le "$v" ] 2>/dev/null || bad="$bad $e" ;;
            *'>'*)  k=${e%%>*} v=${e#*>}
                    [ "$(kv "$k" "$got")" -gt "$v" ] 2>/dev/null || bad="$bad $e" ;;
            *)      k=${e%%=*} v=${e#*=}
                    [ "$(kv "$k" "$got")" = "$v" ] || bad="$bad $e" ;;
        esac
    done
    local desc="$name: dig $opts $qtype ${zone:-(no question)} -> $expect"
    if [ -z "$bad" ] && [ -n "$(kv status "$got")" ]; then
        ok "$desc"
    else
        not_ok "$desc"
        diag "not as expected:${bad:- (no answer)}" "answer: $got"
    fi
}
kv() { grep -oE "(^| )$1=[^ ]*" <<<"$2" | head -n 1 | sed 's/^ *[^=]*=//'; }

# the queries of the SOA of zone $1 common to both roles; $2: +rec or +norec;
# $3: what every NOERROR answer holds (flags); $4: what BADVERS holds
soa_checks() {
    local z=$1 rd=$2 f=$3 bv=$4
    check dns       "$z" SOA "+noedns +noad $rd"                  "status=NOERROR soa=1 opt=0 $f ad=0 cd=0 tc=0"
    check aflag     "$z" SOA "+noedns +noad $rd +aaflag"          "status=NOERROR soa=1 opt=0 $f ad=0"
    check adflag    "$z" SOA "+noedns +ad $rd"                    "status=NOERROR soa=1 opt=0 $f ad=0"
    check cd        "$z" SOA "+noedns +noad $rd +cd"              "status=NOERROR soa=1 opt=0 $f cd=1 ad=0"
    check zflag     "$z" SOA "+noedns +noad $rd +zflag"           "status=NOERROR soa=1 opt=0 $f"
    check edns      "$z" SOA "+edns=0 +nocookie +noad $rd"        "status=NOERROR soa=1 opt=1 ver=0 do=0 embz=0 $f ad=0"
    check edns1     "$z" SOA "+edns=1 +noednsneg +nocookie +noad $rd"  "status=BADVERS soa=0 answer=0 opt=1 ver=0 $bv"
    check ednsopt   "$z" SOA "+edns=0 +nocookie +noad $rd +ednsopt=100"  "status=NOERROR soa=1 opt=1 ver=0 opt100=0 $f"
    check edns1opt  "$z" SOA "+edns=1 +noednsneg +nocookie +noad $rd +ednsopt=100"  "status=BADVERS soa=0 opt=1 ver=0 opt100=0 $bv"
    check "do"      "$z" SOA "+edns=0 +nocookie +noad $rd +dnssec"  "status=NOERROR soa=1 opt=1 ver=0 do=1 $f ad=0"
    check edns1do   "$z" SOA "+edns=1 +noednsneg +nocookie +noad $rd +dnssec"  "status=BADVERS soa=0 opt=1 ver=0 do=1 $bv"
    check ednsflags "$z" SOA "+edns=0 +nocookie +noad $rd +ednsflags=0x80"  "status=NOERROR soa=1 opt=1 ver=0 embz=0 $f"
    check optlist   "$z" SOA "+edns=0 +noad $rd +nsid +subnet=0.0.0.0/0 +expire +cookie=0102030405060708"  "status=NOERROR soa=1 opt=1 ver=0 $f"
    check tcp       "$z" SOA "+noedns +noad $rd +tcp"             "status=NOERROR soa=1 opt=0 $f"
}

# The recursive server: comply.test through the upstream.
Z=comply.test
REC="rd=1 ra=1 aa=0 z=0 question=1"
echo "# recursive: $Z (upstream)"
soa_checks $Z +rec "$REC" "$REC"
check edns@512  $Z DNSKEY "+edns=0 +nocookie +noad +rec +dnssec +ignore +bufsize=512"  "status=NOERROR opt=1 ver=0 do=1 tc=1 size<=512 answer=0 $REC"
check ednstcp   $Z DNSKEY "+edns=0 +nocookie +noad +rec +dnssec +bufsize=512 +tcp"  "status=NOERROR tc=0 answer=6 size>1232 opt=1 ver=0 do=1 $REC"

echo "# unknown opcode: NOTIMP, the header only, no flag echoed"
NOTIMP="status=NOTIMP opcode=RESERVED15 qr=1 aa=0 tc=0 rd=0 ra=0 ad=0 cd=0 z=0 opt=0 question=0 answer=0"
check opcode    "" "" "+noedns +noad +norec +header-only +opcode=15"  "$NOTIMP"
check opcodeflg "" "" "+noedns +header-only +opcode=15 +tcflag +rec +raflag +cd +ad +aaflag +zflag"  "$NOTIMP"

echo "# the UDP size limit: the client's buffer (512 without EDNS, below 512 counts as 512), at most our 1232"
check bufsize-noedns   $Z DNSKEY "+noedns +rec +ignore"                          "status=NOERROR tc=1 answer=0 size<=512 opt=0"
check bufsize-4096     $Z DNSKEY "+edns=0 +nocookie +rec +ignore +bufsize=4096"  "status=NOERROR tc=1 answer=0 size<=1232 opt=1 udp=1232"
check bufsize-512-txt  medium.$Z TXT "+edns=0 +nocookie +rec +ignore +bufsize=512"  "status=NOERROR tc=1 answer=0 size<=512 opt=1"
check bufsize-1232-txt medium.$Z TXT "+edns=0 +nocookie +rec +ignore +bufsize=1232" "status=NOERROR tc=0 answer=4 size>512 size<=1232 opt=1"
check bufsize-100      $Z SOA "+edns=0 +nocookie +rec +ignore +bufsize=100"      "status=NOERROR tc=0 soa=1 opt=1 udp=1232"

# The authoritative server: the clearinghouse's own zone, RD not asked.
Z=clearinghouse.test
echo "# authoritative: $Z (resolverd's own zone)"
soa_checks $Z +norec "aa=1 rd=0 z=0 question=1" "rd=0 z=0 question=1"

if san=$(sanitizer_errors "$LOG"); then not_ok "no sanitizer report in the log"; diag "$san"; else ok "no sanitizer report in the log"; fi
assert_eq "resolverd still answers over UDP and TCP" "127.0.0.1 127.0.0.1" \
    "$(dig +short +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 sink.clearinghouse.test A) $(dig +short +tcp +time=2 +tries=1 -b 127.0.0.5 -p "$PORT" @127.0.0.1 sink.clearinghouse.test A)"
finish
