#!/usr/bin/env bash
# Runs tools/openai_client_check.py: the official `openai` Python client (from PyPI, installed into
# .cache/openai-venv on first use) against `redflag serve` on a free loopback port.
# $REDFLAG_BIN: use this binary instead of building .build/release/redflag.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/openai-venv
if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
  echo "==> installing the openai client into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "openai>=1.40"
fi
# $REDFLAG_BIN: an already built binary (default: build .build/release/redflag).
if [ -z "${REDFLAG_BIN:-}" ]; then
  swift build -c release --product redflag
  REDFLAG_BIN="$PWD/.build/release/redflag"
fi
REDFLAG_BIN="$REDFLAG_BIN" "$venv/bin/python" tools/openai_client_check.py
