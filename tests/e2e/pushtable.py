#!/usr/bin/python3
"""Make variants of a clearinghouse policy table for the policy-push test.

    pushtable.py edit IN OUT [--serial N] [--made T] [--valid-until T]
                             [--level DOMAIN=N]... [--disable DOMAIN]...
    pushtable.py sign FILE KEY
    pushtable.py time T

The table is the JSON of `chpolicy export table` (docs/chpolicy.md, "The
policy table"): `edit` reads one and writes another in exactly that layout
(header line, one line per domain sorted by name, `]}`, LF, final newline),
with the changes asked for. T is `now`, `now+SECONDS`, `now-SECONDS`, or an
RFC 3339 UTC time. `sign` writes FILE.sig as chpolicy does: the base64 of
the Ed25519 signature over FILE's bytes, made with `openssl pkeyutl -rawin`,
on one line. `time T` prints T as RFC 3339 (for the test's messages).
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time


def when(text):
    """T as an RFC 3339 UTC string."""
    if text.startswith("now"):
        t = int(time.time()) + (int(text[3:]) if len(text) > 3 else 0)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")  # a ValueError if it is not one
    return text


def dump(doc):
    head = {k: doc[k] for k in ("format", "version", "serial", "made", "valid_until")}
    out = json.dumps(head, separators=(",", ":"))[:-1] + ',"domains":[\n'
    lines = []
    for d in sorted(doc["domains"], key=lambda d: d["name"].encode()):
        d = {"name": d["name"], "level": d["level"], "enabled": d["enabled"],
             "groups": sorted(d["groups"], key=str.encode)}
        lines.append(json.dumps(d, separators=(",", ":")))
    out += ",\n".join(lines) + ("\n" if lines else "") + "]}\n"
    return out.encode("ascii")


def write_atomically(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def edit(args):
    src, dst, rest = args[0], args[1], args[2:]
    with open(src, "rb") as f:
        doc = json.loads(f.read())
    by_name = {d["name"]: d for d in doc["domains"]}
    i = 0
    while i < len(rest):
        opt, val = rest[i], rest[i + 1]
        i += 2
        if opt == "--serial":
            doc["serial"] = int(val)
        elif opt == "--made":
            doc["made"] = when(val)
        elif opt == "--valid-until":
            doc["valid_until"] = when(val)
        elif opt == "--level":
            name, level = val.split("=", 1)
            by_name[name]["level"] = int(level)
        elif opt == "--disable":
            by_name[val]["enabled"] = False
        else:
            sys.exit("pushtable.py: unknown option " + opt)
    write_atomically(dst, dump(doc))


def sign(args):
    path, key = args
    raw = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", path],
                         check=True, stdout=subprocess.PIPE).stdout
    if len(raw) != 64:
        sys.exit("pushtable.py: openssl made a %d-byte signature" % len(raw))
    write_atomically(path + ".sig", base64.b64encode(raw) + b"\n")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "edit":
        edit(args)
    elif cmd == "sign":
        sign(args)
    elif cmd == "time":
        print(when(args[0]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
