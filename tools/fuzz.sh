#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (swiftc -sanitize=fuzzer,address, one object per module compiled straight
# from Sources/, no Package.swift involved) and runs each for SECONDS_PER_TARGET seconds (default 60):
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]      # build + run (all targets when none named)
#   FUZZ_BUILD_ONLY=1 tools/fuzz.sh                    # build only
#   FUZZ_SEEDS=1 tools/fuzz.sh 0 [TARGET…]             # (re)write the committed seeds in Fuzz/corpus/<target>/
#
# Each target starts from its committed seeds in Fuzz/corpus/<target>/ and grows a working corpus in
# .build-fuzz/corpus/<target>/ (not committed). Crashes, leaks and inputs slower than 1 s land in
# .build-fuzz/artifacts/<target>/; the summary line per target gives executions, corpus size and crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
B=.build-fuzz
# FUZZ_FROM_GIT=REV builds from a snapshot of that commit (git archive) instead of the working tree: useful while
# others edit the checkout.
SRC=.
if [ -n "${FUZZ_FROM_GIT:-}" ]; then
    SRC="$B/src"
    rm -rf "$SRC" && mkdir -p "$SRC"
    git archive "$FUZZ_FROM_GIT" Sources Tests/RedflagTestSupport | tar -x -C "$SRC"
    # FUZZ_OVERLAY="FILE…": working-tree files copied over the snapshot (your own uncommitted fix).
    for f in ${FUZZ_OVERLAY:-}; do cp "$f" "$SRC/$f"; done
fi
ALL_TARGETS=(GGUFReader TokenizerEncode TokenizerDecode SessionFile ChatTemplate)
[ -d "$SRC/Sources/RedflagServer" ] && [ -d Fuzz/ServerRequest ] && ALL_TARGETS+=(ServerRequest)
[ $# -gt 0 ] && TARGETS=("$@") || TARGETS=("${ALL_TARGETS[@]}")
mkdir -p "$B/obj" "$B/bin"
# A Swift runtime trap must reach libFuzzer's handler, not the interactive backtracer.
export SWIFT_BACKTRACE=enable=no

FLAGS=(-O -g -sanitize=fuzzer,address -swift-version 5 -I "$B/obj" -I "$SRC/Sources/CBLAS" -I "$SRC/Sources/CLZ4")

# module name → source folder, in dependency order.
MODULES=(
    "RedflagKernels $SRC/Sources/RedflagKernels"
    "RedflagGGUF $SRC/Sources/RedflagGGUF"
    "RedflagTokenizer $SRC/Sources/RedflagTokenizer"
    "RedflagModel $SRC/Sources/RedflagModel"
    "RedflagFlag $SRC/Sources/RedflagFlag"
    "RedflagGeneration $SRC/Sources/RedflagGeneration"
    "RedflagTestSupport $SRC/Tests/RedflagTestSupport"
)
# The server's request parsing and decoding, without the socket server (HTTPServer.swift needs swift-log, which
# is a SwiftPM dependency this script does not build).
[ -d "$SRC/Sources/RedflagServer" ] && MODULES+=("RedflagServer $SRC/Sources/RedflagServer HTTPServer.swift HTTPServer+Completion.swift HTTPServer+Routes.swift")

# A module is recompiled when its sources, the flags or a module before it changed (content hashes, so a
# snapshot's old mtimes do not matter).
chain=""
build_module() {   # name dir [excluded file names…]
    local name=$1 dir=$2 obj="$B/obj/$1.o"
    shift 2
    local files
    files=$(find "$dir" -name '*.swift' | sort)
    for x in "$@"; do files=$(echo "$files" | grep -v "/$x\$"); done
    chain=$( (echo "$chain ${FLAGS[*]}"; cat $files) | sha256sum | cut -c1-16)
    if [ -f "$obj" ] && [ "$(cat "$obj.hash" 2>/dev/null)" = "$chain" ]; then return; fi
    echo "fuzz: compiling $name" >&2
    rm -f "$obj"
    swiftc "${FLAGS[@]}" -parse-as-library -wmo -module-name "$name" -emit-module -emit-module-path "$B/obj/$name.swiftmodule" \
        -c -o "$obj" $files
    echo "$chain" > "$obj.hash"
}
for m in "${MODULES[@]}"; do build_module $m; done

OBJS=()
for m in "${MODULES[@]}"; do OBJS+=("$B/obj/${m%% *}.o"); done
for t in "${TARGETS[@]}"; do
    exe="$B/bin/fuzz-$t"
    if [ ! -f "$exe" ] || [ -n "$(find "Fuzz/$t" Fuzz/Common "$B/obj" -newer "$exe" -name '*.*' | head -1)" ]; then
        echo "fuzz: linking $t" >&2
        swiftc "${FLAGS[@]}" -use-ld=lld -parse-as-library -module-name "Fuzz$t" Fuzz/Common/*.swift Fuzz/$t/*.swift "${OBJS[@]}" \
            -lopenblas -llz4 -o "$exe"
    fi
done
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0
if [ -n "${FUZZ_SEEDS:-}" ]; then
    for t in "${TARGETS[@]}"; do
        mkdir -p "Fuzz/corpus/$t"
        FUZZ_WRITE_SEEDS="Fuzz/corpus/$t" "$B/bin/fuzz-$t"
        echo "fuzz: seeds of $t: $(ls "Fuzz/corpus/$t" | wc -l) files, $(du -sh "Fuzz/corpus/$t" | cut -f1)" >&2
    done
    exit 0
fi

status=0
for t in "${TARGETS[@]}"; do
    corpus="$B/corpus/$t" artifacts="$B/artifacts/$t/"
    mkdir -p "$corpus" "$artifacts" "Fuzz/corpus/$t"
    log="$B/fuzz-$t.log"
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s (log $log)" >&2
    # Targets that keep a parsed GGUF alive for the whole run (the tiny model of SessionFile) report its metadata
    # arrays as leaked: pointers inside Swift enum payloads that LeakSanitizer does not recognise. The GGUFReader
    # target, which frees every file it parses, runs without this suppression and would catch a real leak there.
    if [ "$t" != GGUFReader ]; then export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp"; else unset LSAN_OPTIONS; fi
    set +e
    "$B/bin/fuzz-$t" "$corpus" "Fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=1 -rss_limit_mb=2048 \
        -max_len=${FUZZ_MAX_LEN:-65536} -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    units=$(ls "$corpus" | wc -l)
    crashes=$(ls "$artifacts" | wc -l)
    printf '%-16s %6ss  %10s execs  %6s/s  corpus %5s files %8s  artifacts %s  exit %s\n' \
        "$t" "$SECONDS_PER_TARGET" "$execs" "$rate" "$units" "$(du -sh "$corpus" | cut -f1)" "$crashes" "$rc"
    [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || status=1
done
exit $status
