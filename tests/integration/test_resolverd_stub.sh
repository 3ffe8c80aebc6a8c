#!/usr/bin/env bash
# test_resolverd.sh again, with resolverd reaching NSD through stub-zone
# lines instead of forward.
#
#   make check, or by hand: [RESOLVERD=BINARY] tests/integration/test_resolverd_stub.sh
RESOLVERD_UPSTREAM=stub exec bash "$(dirname "$0")/test_resolverd.sh" "$@"
