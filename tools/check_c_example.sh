#!/usr/bin/env bash
# Builds the C ABI library, compiles examples/c/generate.c with cc against include/redflag.h, and runs it on
# the real model: it must generate text, receive a flag event (monitor policy, tiny threshold) and report
# a clear error for a missing file.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product RedflagC
out=$(mktemp -d)
cc -std=c11 -Wall -Wextra -Werror -I include examples/c/generate.c -L .build/release -lRedflagC \
   -Wl,-rpath,"$PWD/.build/release" -o "$out/rf-example"
"$out/rf-example" "${REDFLAG_MODEL:-models/gemma-3-270m-q4_k_m.gguf}" "The capital of France is" 1e-30 >"$out/stdout" 2>"$out/stderr"
cat "$out/stdout"
grep -q "tokens=16 flags=" "$out/stdout" || { echo "FAIL: no tokens line"; exit 1; }
grep -q "^\[flag\]" "$out/stderr" || { echo "FAIL: no flag event"; cat "$out/stderr"; exit 1; }
grep -q "expected error: model file not found: /nonexistent.gguf" "$out/stderr" || { echo "FAIL: no clear error"; exit 1; }
echo "C example: OK ($(grep -c '^\[flag\]' "$out/stderr") flag events)"

# Flag integrity through the C ABI: no callback delivers text generated after a halt (Tests/C/halt_check.c).
cc -std=c11 -Wall -Wextra -Werror -I include Tests/C/halt_check.c -L .build/release -lRedflagC \
   -Wl,-rpath,"$PWD/.build/release" -o "$out/rf-halt-check"
"$out/rf-halt-check" "${REDFLAG_MODEL:-models/gemma-3-270m-q4_k_m.gguf}"
