#!/usr/bin/python3
"""Render ejabberd's s2s access rule from the clearinghouse's signed policy table.

    clearinghouse-ejabberd.py [--config FILE] [--reload] [--explain DOMAIN]...

The "policy push" model for ejabberd (docs/policy-push.md). ejabberd has no
module for it here; instead this script, run by a timer, reads the table that
`chpolicy export table --sign` wrote (JSON, with FILE.sig), checks its
Ed25519 signature with `openssl pkeyutl -verify -rawin` and its validity
end, applies this server's local policy (the same language as the Prosody
module mod_clearinghouse: min_level, max_level, groups, require_groups,
allow and deny lists, unknown peers) and writes a YAML file that ejabberd
includes (include_config_file): ACLs of the table's domains by level and by
group, and the access rule `clearinghouse_s2s`, set as `s2s_access`. With
--reload it runs `ejabberdctl reload_config` when the file changed.

Fail-static: a table that does not verify, is older than the last good one,
or has expired is refused, and the last good table (a verified copy kept in
the state directory) is used until its validity end plus the grace period;
after that the configured fail mode is written ("closed": no remote domain,
"open": every one but the deny list).

The configuration (default /etc/ejabberd/clearinghouse.ini):

    [table]
    file = /var/lib/clearinghouse/table.json
    # signature = /var/lib/clearinghouse/table.json.sig
    pubkey = /etc/clearinghouse/table.pub
    grace = 7d
    fail = closed

    [output]
    file = /etc/ejabberd/clearinghouse.yml
    # state = /var/lib/ejabberd/clearinghouse
    # ejabberdctl = ejabberdctl

    [policy]
    # this server's own domains: never denied (nor the names below them)
    hosts = xmpp.example.org
    unknown_peer = deny
    allow_domains = partner.example
    deny_domains = rogue.example

    # one or more [allow] or [allow NAME] sections; a domain matching any
    # of them is allowed. Keys: min_level, max_level, groups (any of),
    # require_groups (all of); lists are separated by spaces or commas.
    [allow]
    min_level = 3
    groups = finance

Exit status: 0 the fragment is up to date and made from a valid table;
1 it is up to date but something needs attention (a table was refused, the
table in use is in its grace period, or the fail mode applies); 2 usage or
configuration error; 3 the fragment could not be written, or reload_config
failed. Every problem is one line on stderr.
"""

import argparse
import base64
import calendar
import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

FORMAT = "xmpp-clearinghouse-policy-table"
CLOCK_SKEW = 300
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
GROUP = re.compile(r"^[a-z0-9:._-]+$")


class Refused(Exception):
    """A table that cannot be used, and why."""


def log(msg):
    print("clearinghouse-ejabberd: " + msg, file=sys.stderr)


def fail_usage(msg):
    log(msg)
    sys.exit(2)


# ------------------------------------------------------------------ helpers

def parse_duration(text):
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text or "")
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def parse_time(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|\+00:00)?", value)
    if not m:
        return None
    try:
        return calendar.timegm(time.strptime(" ".join(m.groups()[:6]), "%Y %m %d %H %M %S"))
    except ValueError:
        return None


def fmt_time(t):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t is not None else "never"


def canonical_domain(name):
    if not isinstance(name, str) or not name:
        return None
    name = name.rstrip(".")
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if len(name) > 253 or not all(LABEL.match(lb) for lb in name.split(".")):
        return None
    return name


def suffix_in(names, name):
    """The longest of NAMES that is NAME or a parent domain of it, or None."""
    n = name
    while n:
        if n in names:
            return n
        n = n.partition(".")[2]
    return None


def split_list(text):
    return [x for x in re.split(r"[\s,]+", text or "") if x]


def write_atomically(path, data, mode=0o644):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".clearinghouse-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------ the table

def verify(data, sig_text, pubkey, openssl):
    """Raise Refused unless SIG_TEXT is the base64 Ed25519 signature of DATA."""
    m = re.fullmatch(rb"([A-Za-z0-9+/]{86}==)\r?\n?", sig_text)
    if not m:
        raise Refused("the signature file is not one line of base64 of a 64-byte Ed25519 signature")
    raw = base64.b64decode(m.group(1))
    with tempfile.TemporaryDirectory(prefix="clearinghouse-verify-") as d:
        data_f, sig_f = os.path.join(d, "table"), os.path.join(d, "sig")
        with open(data_f, "wb") as f:
            f.write(data)
        with open(sig_f, "wb") as f:
            f.write(raw)
        r = subprocess.run([openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubkey, "-rawin",
                            "-in", data_f, "-sigfile", sig_f],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    out = r.stdout.decode("utf-8", "replace").strip()
    if r.returncode != 0 or out != "Signature Verified Successfully":
        raise Refused("signature does not verify with %s (openssl: %s)" % (pubkey, out.splitlines()[0] if out else "?"))


def parse_table(data):
    try:
        doc = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused("signature good, but not JSON: %s" % e)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != 1:
        raise Refused("signature good, but not a %s version 1" % FORMAT)
    serial, made, until = doc.get("serial"), parse_time(doc.get("made")), parse_time(doc.get("valid_until"))
    if not isinstance(serial, int) or isinstance(serial, bool) or made is None or until is None:
        raise Refused("signature good, but serial, made or valid_until is missing or malformed")
    domains = {}
    for d in doc.get("domains") if isinstance(doc.get("domains"), list) else []:
        name = d.get("name") if isinstance(d, dict) else None
        if canonical_domain(name) != name or name in domains:
            raise Refused("signature good, but a domain name is invalid or listed twice: %r" % (name,))
        level, enabled, groups = d.get("level"), d.get("enabled"), d.get("groups", [])
        if not isinstance(level, int) or isinstance(level, bool) or level < 0 \
                or not isinstance(enabled, bool) or not isinstance(groups, list) \
                or not all(isinstance(g, str) and GROUP.match(g) for g in groups):
            raise Refused("signature good, but domain %s has a bad level, enabled flag or groups" % name)
        domains[name] = {"level": level, "enabled": enabled, "groups": set(groups)}
    if not isinstance(doc.get("domains"), list):
        raise Refused("signature good, but there is no domains list")
    return {"serial": serial, "made": made, "valid_until": until, "domains": domains,
            "digest": hashlib.sha256(data).hexdigest()[:16]}


def load(path, sig_path, pubkey, openssl):
    try:
        with open(path, "rb") as f:
            data = f.read()
        with open(sig_path, "rb") as f:
            sig = f.read(4096)
    except OSError as e:
        raise Refused("cannot read: %s" % e)
    verify(data, sig, pubkey, openssl)
    t = parse_table(data)
    t["data"], t["sig"] = data, sig
    return t


def consider(t, current, now):
    """Raise Refused when T may not replace CURRENT (rollback, expiry)."""
    if t["made"] > now + CLOCK_SKEW:
        raise Refused("serial %d is made in the future (%s)" % (t["serial"], fmt_time(t["made"])))
    if current is None:
        return
    if t["serial"] < current["serial"]:
        raise Refused("serial %d is older than the last good table (serial %d)" % (t["serial"], current["serial"]))
    if t["serial"] == current["serial"] and t["digest"] != current["digest"] \
            and (t["valid_until"] < current["valid_until"] or t["made"] < current["made"]):
        raise Refused("serial %d again, but not newer than the last good table" % t["serial"])
    if now > t["valid_until"] and t["digest"] != current["digest"]:
        raise Refused("serial %d expired at %s" % (t["serial"], fmt_time(t["valid_until"])))


def state_of(t, now, grace):
    if t is None:
        return "none"
    if now <= t["valid_until"]:
        return "valid"
    if now <= t["valid_until"] + grace:
        return "grace"
    return "expired"


# ------------------------------------------------------------------ the local policy

RULE_KEYS = {"min_level", "max_level", "groups", "require_groups"}


class Policy:
    def __init__(self, cp):
        p = cp["policy"] if cp.has_section("policy") else {}
        self.hosts = []
        for h in split_list(p.get("hosts", "")):
            c = canonical_domain(h)
            if not c:
                fail_usage("[policy] hosts: %r is not a domain name" % h)
            self.hosts.append(c)
        self.unknown = p.get("unknown_peer", "deny")
        if self.unknown not in ("deny", "allow"):
            fail_usage("[policy] unknown_peer must be deny or allow")
        self.allow_domains, self.deny_domains = set(), set()
        for key, target in (("allow_domains", self.allow_domains), ("deny_domains", self.deny_domains)):
            for name in split_list(p.get(key, "")):
                c = canonical_domain(name)
                if not c:
                    fail_usage("[policy] %s: %r is not a domain name" % (key, name))
                target.add(c)
        self.rules = []
        for sec in cp.sections():
            if sec != "allow" and not sec.startswith("allow "):
                continue
            r = {}
            for k, v in cp[sec].items():
                if k not in RULE_KEYS:
                    fail_usage("[%s]: unknown key %r (known: %s)" % (sec, k, ", ".join(sorted(RULE_KEYS))))
                if k in ("min_level", "max_level"):
                    if not re.fullmatch(r"\d+", v.strip()):
                        fail_usage("[%s] %s must be an integer >= 0" % (sec, k))
                    r[k] = int(v)
                else:
                    r[k] = split_list(v)
                    if not r[k]:
                        fail_usage("[%s] %s is empty" % (sec, k))
            if "min_level" in r and "max_level" in r and r["min_level"] > r["max_level"]:
                fail_usage("[%s] min_level is above max_level" % sec)
            r["name"] = sec
            self.rules.append(r)
        if not self.rules:
            # as mod_clearinghouse without clearinghouse_allow: every enabled community domain
            self.rules.append({"name": "allow (not configured)"})

    @staticmethod
    def describe(r):
        parts = []
        if "min_level" in r:
            parts.append("min_level %d" % r["min_level"])
        if "max_level" in r:
            parts.append("max_level %d" % r["max_level"])
        if "groups" in r:
            parts.append("groups any of " + ", ".join(r["groups"]))
        if "require_groups" in r:
            parts.append("require_groups " + ", ".join(r["require_groups"]))
        return ", ".join(parts) or "any community domain"

    @staticmethod
    def matches(r, e):
        if "min_level" in r and e["level"] < r["min_level"]:
            return False
        if "max_level" in r and e["level"] > r["max_level"]:
            return False
        if "groups" in r and not e["groups"] & set(r["groups"]):
            return False
        if "require_groups" in r and not set(r["require_groups"]) <= e["groups"]:
            return False
        return True

    def decide(self, table, state, fail, peer):
        """(allowed, reason) for PEER, as mod_clearinghouse decides."""
        peer = canonical_domain(peer) or peer.lower()
        if suffix_in(set(self.hosts), peer):
            return True, "served here"
        listed = suffix_in(self.deny_domains, peer)
        if listed:
            return False, "on the deny list (%s)" % listed
        if state in ("none", "expired"):
            return (fail == "open"), "no valid table: fail %s" % fail
        key = suffix_in(table["domains"], peer)
        e = table["domains"].get(key) if key else None
        if e and not e["enabled"]:
            return False, "disabled in the table (%s)" % key
        listed = suffix_in(self.allow_domains, peer)
        if listed:
            return True, "on the allow list (%s)" % listed
        if not e:
            return self.unknown == "allow", "not in the table (unknown_peer = %s)" % self.unknown
        for r in self.rules:
            if self.matches(r, e):
                return True, "level %d, groups %s: matches %s" % (
                    e["level"], ",".join(sorted(e["groups"])) or "none", self.describe(r))
        return False, "level %d, groups %s: outside %s" % (
            e["level"], ",".join(sorted(e["groups"])) or "none",
            "; or ".join(self.describe(r) for r in self.rules))


# ------------------------------------------------------------------ rendering

def acl_name(kind, name):
    """An ACL name for a group or level: [a-z0-9] kept, anything else as _XX."""
    return "clearinghouse_%s_%s" % (kind, "".join(
        c if c.isascii() and c.isalnum() else "_%02x" % ord(c) for c in str(name)))


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def acl_block(name, domains, comment=None):
    lines = []
    if comment:
        lines.append("  # " + comment)
    lines.append("  %s:" % name)
    lines.append("    server:")
    lines += ["      - %s" % q(d) for d in sorted(domains)]
    lines.append("    server_glob:")
    lines += ["      - %s" % q("*." + d) for d in sorted(domains)]
    return lines


def render(policy, table, state, fail, now):
    acls, rules = [], []
    head = ["# Rendered by clearinghouse-ejabberd.py at %s: do not edit, it is rewritten." % fmt_time(now)]
    defined = set()

    def define(name, domains, comment=None):
        if not domains:
            return False
        if name not in defined:
            acls.extend(acl_block(name, domains, comment))
            defined.add(name)
        return True

    if policy.hosts:
        define("clearinghouse_local", policy.hosts, "this server's own domains (never denied)")
        rules += ["  - allow: clearinghouse_local"]
    if state in ("none", "expired"):
        if state == "none":
            head.append("# NO VALID TABLE: fail mode %s." % fail)
        else:
            head.append("# Table serial %d expired at %s; grace ended: fail mode %s."
                        % (table["serial"], fmt_time(table["valid_until"]), fail))
        if fail == "open":
            if define("clearinghouse_deny_domains", policy.deny_domains, "clearinghouse deny_domains"):
                rules += ["  - deny: clearinghouse_deny_domains"]
            rules += ["  - allow: all"]
        else:
            rules += ["  - deny: all"]
    else:
        doms = table["domains"]
        head.append("# Table serial %d, made %s, valid until %s%s." % (
            table["serial"], fmt_time(table["made"]), fmt_time(table["valid_until"]),
            " (EXPIRED: in its grace period)" if state == "grace" else ""))
        enabled = {d: e for d, e in doms.items() if e["enabled"]}
        # a table domain below another key name: decided on its own, first,
        # deepest first (a name is decided by its longest listed suffix)
        keys = set(doms) | policy.allow_domains | policy.deny_domains
        nested = sorted((k for k in keys if k.partition(".")[2] and suffix_in(keys, k.partition(".")[2])),
                        key=lambda k: (-k.count("."), k))
        for i, k in enumerate(nested, 1):
            ok, why = policy.decide(table, state, fail, k)
            name = "clearinghouse_nested_%d" % i
            define(name, [k], "%s: %s" % (k, why))
            rules += ["  - %s: %s" % ("allow" if ok else "deny", name)]
        if define("clearinghouse_deny_domains", policy.deny_domains, "clearinghouse deny_domains"):
            rules += ["  - deny: clearinghouse_deny_domains"]
        if define("clearinghouse_disabled", [d for d, e in doms.items() if not e["enabled"]],
                  "disabled in the table"):
            rules += ["  - deny: clearinghouse_disabled"]
        if define("clearinghouse_allow_domains", policy.allow_domains, "clearinghouse allow_domains"):
            rules += ["  - allow: clearinghouse_allow_domains"]
        # the ACLs of the table: one per level and one per group (enabled domains)
        levels = sorted({e["level"] for e in enabled.values()})
        for lv in levels:
            define(acl_name("level", lv), [d for d, e in enabled.items() if e["level"] == lv], "level %d" % lv)
        for g in sorted({g for e in enabled.values() for g in e["groups"]}):
            define(acl_name("group", g), [d for d, e in enabled.items() if g in e["groups"]], "group %s" % g)
        for i, r in enumerate(policy.rules, 1):
            rules.append("  # [%s]: %s" % (r["name"], policy.describe(r)))
            extra = []
            if "groups" in r:
                name = "clearinghouse_allow%d_any_group" % i
                if not define(name, [d for d, e in enabled.items() if e["groups"] & set(r["groups"])],
                              "[%s] groups any of %s" % (r["name"], ", ".join(r["groups"]))):
                    rules.append("  #   no domain is in any of those groups")
                    continue
                extra.append(name)
            missing = [g for g in r.get("require_groups", []) if acl_name("group", g) not in defined]
            if missing:
                rules.append("  #   no domain is in group %s" % ", ".join(missing))
                continue
            extra += [acl_name("group", g) for g in r.get("require_groups", [])]
            chosen = [lv for lv in levels if lv >= r.get("min_level", 0) and lv <= r.get("max_level", lv)]
            if not chosen:
                rules.append("  #   no domain has a level in that range")
            for lv in chosen:
                rules.append("  - allow:")
                rules += ["      - %s" % a for a in [acl_name("level", lv)] + extra]
        if define("clearinghouse_community", list(doms), "every domain of the table"):
            rules += ["  - deny: clearinghouse_community"]
        rules += ["  - %s: all" % ("allow" if policy.unknown == "allow" else "deny")]
        head.append("# Local policy: %s; unknown peers: %s." % (
            "; or ".join(policy.describe(r) for r in policy.rules), policy.unknown))

    out = head + [""]
    if acls:
        out += ["acl:"] + acls + [""]
    out += ["access_rules:", "  clearinghouse_s2s:"] + ["  " + r for r in rules] + [""]
    out += ["s2s_access: clearinghouse_s2s", ""]
    return "\n".join(out).encode("ascii")


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=None)
    ap.add_argument("--config", default="/etc/ejabberd/clearinghouse.ini")
    ap.add_argument("--reload", action="store_true", help="run ejabberdctl reload_config when the file changed")
    ap.add_argument("--explain", action="append", default=[], metavar="DOMAIN",
                    help="print the decision for DOMAIN (repeatable)")
    ap.add_argument("--now", type=int, help=argparse.SUPPRESS)  # tests: the time to judge by
    args = ap.parse_args()

    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    try:
        if not cp.read(args.config):
            fail_usage("cannot read %s" % args.config)
    except configparser.Error as e:
        fail_usage("%s: %s" % (args.config, str(e).replace("\n", " ")))
    for sec in ("table", "output"):
        if not cp.has_section(sec):
            fail_usage("%s: no [%s] section" % (args.config, sec))
    tconf, oconf = cp["table"], cp["output"]
    table_path = tconf.get("file", "/var/lib/clearinghouse/table.json")
    sig_path = tconf.get("signature", table_path + ".sig")
    pubkey = tconf.get("pubkey")
    if not pubkey:
        fail_usage("[table] pubkey is required")
    grace = parse_duration(tconf.get("grace", "7d"))
    if grace is None:
        fail_usage("[table] grace must be a duration (seconds, or e.g. 7d, 12h)")
    fail = tconf.get("fail", "closed")
    if fail not in ("closed", "open"):
        fail_usage("[table] fail must be closed or open")
    openssl = tconf.get("openssl", "openssl")
    out_path = oconf.get("file")
    if not out_path:
        fail_usage("[output] file is required")
    state_dir = oconf.get("state", os.path.join(os.path.dirname(os.path.abspath(out_path)), "clearinghouse-state"))
    policy = Policy(cp)
    now = args.now if args.now is not None else int(time.time())

    attention = False
    os.makedirs(state_dir, mode=0o750, exist_ok=True)
    last_good = os.path.join(state_dir, "last-good.json")
    current = None
    if os.path.exists(last_good):
        try:
            current = load(last_good, last_good + ".sig", pubkey, openssl)
        except Refused as e:
            log("ignoring the last good copy %s: %s" % (last_good, e))
    try:
        t = load(table_path, sig_path, pubkey, openssl)
        consider(t, current, now)
        if current is None or t["digest"] != current["digest"]:
            write_atomically(last_good, t["data"], 0o640)
            write_atomically(last_good + ".sig", t["sig"], 0o640)
        current = t
    except Refused as e:
        attention = True
        log("refused %s: %s; %s" % (table_path, e, "the last good table, serial %d, stays in use"
                                    % current["serial"] if current else "there is no last good table"))
    state = state_of(current, now, grace)
    if state == "grace":
        attention = True
        log("WARNING: table serial %d expired at %s; in use for the grace period until %s"
            % (current["serial"], fmt_time(current["valid_until"]), fmt_time(current["valid_until"] + grace)))
    elif state in ("none", "expired"):
        attention = True
        log("no valid table (%s): fail mode %s applies" % (
            "none" if state == "none" else "serial %d, grace ended %s" % (
                current["serial"], fmt_time(current["valid_until"] + grace)), fail))

    for d in args.explain:
        ok, why = policy.decide(current, state, fail, d)
        print("%s %s: %s" % ("allow" if ok else "deny", d, why))

    text = render(policy, current, state, fail, now)
    # the first line holds the time of rendering: compare without it
    old = None
    try:
        with open(out_path, "rb") as f:
            old = f.read()
    except OSError:
        pass
    changed = old is None or old.split(b"\n", 1)[-1] != text.split(b"\n", 1)[-1]
    if changed:
        try:
            write_atomically(out_path, text)
        except OSError as e:
            log("cannot write %s: %s" % (out_path, e))
            return 3
        print("%s: written (%s%s)" % (out_path, state, ", serial %d" % current["serial"] if current else ""))
        if args.reload:
            ctl = oconf.get("ejabberdctl", "ejabberdctl")
            r = subprocess.run(ctl.split() + ["reload_config"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, check=False)
            if r.returncode != 0:
                log("%s reload_config failed (exit %d): %s" % (ctl, r.returncode,
                    r.stdout.decode("utf-8", "replace").strip()[:300]))
                return 3
            print("%s reload_config: done" % ctl)
    else:
        print("%s: unchanged (%s%s)" % (out_path, state, ", serial %d" % current["serial"] if current else ""))
    return 1 if attention else 0


if __name__ == "__main__":
    sys.exit(main())
