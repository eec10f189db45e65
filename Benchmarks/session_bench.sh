#!/usr/bin/env bash
# Time to first token for a ~1,000-token system prompt: cold vs restored from a session snapshot, plus the
# snapshot's size (LZ4-compressed vs raw) and save/restore times. Uses `redflag run --prompt-cache`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/redflag
[ -x "$bin" ] || swift build -c release --product redflag
T=${THREADS:-2}
prompt=$(head -c 4300 /usr/share/common-licenses/GPL-3)
cache=$(mktemp -d)/prompt.rfs
echo "== cold (evaluates the whole prompt, then saves the snapshot)"
"$bin" run -t "$T" --ctx 2048 -n 1 --guard off --prompt-cache "$cache" "$prompt" 2>&1 >/dev/null | grep -E "prompt cache|^prompt:"
echo "== restored (loads the snapshot, evaluates only the last token)"
"$bin" run -t "$T" --ctx 2048 -n 1 --guard off --prompt-cache "$cache" "$prompt" 2>&1 >/dev/null | grep -E "prompt cache|^prompt:"
ls -l "$cache"
