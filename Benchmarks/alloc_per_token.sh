#!/usr/bin/env bash
# Heap allocations per decoded token after warm-up: runs the decode benchmark (forward pass + fused LM head)
# for 8 and for 40 tokens under valgrind and compares the total allocation counts. Equal totals mean the
# 32 extra tokens allocated nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/redflag
[ -x "$bin" ] || swift build -c release --product redflag
count() { valgrind "$bin" bench -t "${THREADS:-1}" --tests "tg$1" -r 1 --guard halt --ctx 128 2>&1 \
  | sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,; }
a=$(count 8); b=$(count 40)
echo "allocations: tg8 run $a, tg40 run $b → $(( (b - a) / 32 )) per decoded token (difference $((b - a)) over 32 tokens)"
