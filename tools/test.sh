#!/usr/bin/env bash
# The test command: the Swift test suite in release mode (numerics and the real model need it), then the
# C ABI example compiled with cc and run against the real model, then the official openai Python client
# against `redflag serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test -c release "$@"
tools/check_c_example.sh
tools/check_openai_client.sh
