#!/usr/bin/env bash
# test_resolverd.sh again, with resolverd reaching NSD through stub-zone
# lines instead of forward.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_resolverd_stub.sh
[ "${CHECK_SLOW:-1}" = 0 ] && { echo "1..0 # SKIP CHECK_SLOW=0 (a long test; it runs in the main builds)"; exit 0; }
RESOLVERD_UPSTREAM=stub exec bash "$(dirname "$0")/test_resolverd.sh" "$@"
