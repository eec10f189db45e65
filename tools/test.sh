#!/usr/bin/env bash
# The test command: the Swift test suite in release mode (numerics and the real model need it), then the
# C ABI example compiled with cc and run against the real model.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test -c release "$@"
tools/check_c_example.sh
