#!/usr/bin/env bash
# The packages of the end-to-end tests: scripts/deps.sh --e2e installs them
# (Prosody, ejabberd, python3-slixmpp, iproute2, with the build and test set).
exec "$(cd "$(dirname "$0")/../.." && pwd)/scripts/deps.sh" --e2e
