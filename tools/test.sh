#!/usr/bin/env bash
# The test command: the Swift test suite in release mode (numerics and the real model need it), then the
# C ABI example compiled with cc and run against the real model, then the official openai Python client
# against `redflag serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
# A hung test fails here with a message instead of running into CI's overall limit (the suite takes ≈ 1 min after
# a ≈ 5-10 min release build).
limit=${REDFLAG_TEST_TIMEOUT:-2700}
timeout -k 30 "$limit" swift test -c release "$@" || {
  rc=$?; [ $rc -eq 124 ] && echo "tools/test.sh: swift test did not finish within $limit s (a hung test?)" >&2
  exit $rc
}
tools/check_c_example.sh
tools/check_openai_client.sh
