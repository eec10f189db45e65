#!/usr/bin/env bash
# The test suite under a sanitizer, in its own build folder (.build-asan, .build-tsan):
#
#   tools/sanitize.sh asan [extra swift test arguments]
#   tools/sanitize.sh tsan [extra swift test arguments]
#
# Release builds (the real-model tests take minutes in debug, and -O keeps every bounds check). Both run the whole
# suite: AddressSanitizer with LeakSanitizer at exit (false positives suppressed in tools/sanitize-lsan.supp, each
# explained there), ThreadSanitizer on everything (≈ 4 min here; the threaded parts are the kernels and the
# worker pool, generation, streaming and cancellation, sessions, the fused head, the server).
# SANITIZE_FILTER narrows a run (e.g. 'RedflagKernelsTests|RedflagServerTests').
# The last lines of the log (summary of the test run, any sanitizer report) are printed; the exit status is the
# test run's, and any "ERROR: AddressSanitizer"/"WARNING: ThreadSanitizer" line fails it too.
set -uo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: tools/sanitize.sh asan|tsan [swift test arguments]}
shift
case "$kind" in
    asan) sanitizer=address; default_filter="" ;;
    tsan) sanitizer=thread; default_filter="" ;;
    *) echo "usage: tools/sanitize.sh asan|tsan" >&2; exit 2 ;;
esac
filter=${SANITIZE_FILTER-$default_filter}
scratch=.build-$kind
log=$scratch/sanitize.log
mkdir -p "$scratch"
export SWIFT_BACKTRACE=enable=no
# halt_on_error keeps the first report readable; detect_leaks stays on for ASan (LeakSanitizer).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tools/sanitize-lsan.supp}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}
args=(-c release --sanitize="$sanitizer" --scratch-path "$scratch")
[ -n "$filter" ] && args+=(--filter "$filter")
echo "sanitize: swift test ${args[*]} $*  (log $log)" >&2
swift test "${args[@]}" "$@" >"$log" 2>&1
rc=$?
reports=$(grep -cE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer' "$log")
grep -E 'SUMMARY: (Address|Thread|Leak)Sanitizer|^Test Suite .All tests. (passed|failed)|Executed [0-9]+ tests|error:' "$log" | tail -8
echo "sanitize: $kind: test exit status $rc, $reports sanitizer report(s)"
[ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]
