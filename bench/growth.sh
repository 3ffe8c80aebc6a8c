#!/bin/bash
# bench/growth.sh -- resolverd's policy SRV QPS, RSS and start-up as the
# community grows: bench/run.sh --qps-only at 1,000, 10,000 and 100,000 peers
# (the anchors' community and policy at each size).
#
# Usage: bench/growth.sh [PEERS...]    Env: DUR (default 10), REPS (default 3)
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
printf 'peers\tqps_median\tqps_min-max\trss_kib\tstartup_s\n'
for n in ${*:-1000 10000 100000}; do
  DUR=${DUR:-10} REPS=${REPS:-3} "$SRC/bench/run.sh" --qps-only --peers "$n" 2>/dev/null | awk -F'\t' '$1 == "growth"' | cut -f2-
done
