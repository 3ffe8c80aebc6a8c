#!/bin/bash
# make-examples.sh OUTDIR CHPOLICY SRCDIR: the example exports of zones/export/,
# made from the integration test's policy (tests/integration/policy.sql) with
# one dry-run rule added, so that every kind of entry shows. `make
# export-examples` writes them into zones/export/; tests/cli/test_export.sh
# makes them afresh and compares (timestamps aside).
#
# Paths that depend on where it runs are written as a deployment has them:
# the views' directory as /var/lib/clearinghouse/export/views, the zone file
# as zones/clearinghouse.test.zone.
set -euo pipefail
out=$1 ch=$2 src=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/export-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
db=$tmp/policy.db
sqlite3 "$db" <"$src/dbtools/schema.sql" >/dev/null
sqlite3 -bail "$db" <"$src/tests/integration/policy.sql" >/dev/null
C() { "$ch" --db "$db" --actor examples "$@" >/dev/null; }
C rule add --from any --to domain:b.test --deny --priority 1 --dry-run --note "trial: nobody reaches b.test"
C target add d.test xmpp.d.test --address 192.0.2.44
zone=$src/zones/clearinghouse.test.zone
mkdir -p "$out/views"
rm -f "$out"/views/*.rpz "$out"/views/*.conf
C export view a.test --zone-file "$zone" --out "$out/a.test.rpz"
C export views "$out/views" --zone-file "$zone"
C export matrix --out "$out/matrix.csv"
C export matrix --format json --out "$out/matrix.jsonl"
C export table --out "$out/table.json"
C export table --format csv --out "$out/table.csv"
C export table --format zone --out "$out/table.zone"
views=$(cd "$out/views" && pwd -P)
for f in "$out"/*.rpz "$out"/views/* "$out"/matrix.* "$out"/table.*; do
    sed -i -e "s|$views|/var/lib/clearinghouse/export/views|g" -e "s|$zone|zones/clearinghouse.test.zone|g" "$f"
done
