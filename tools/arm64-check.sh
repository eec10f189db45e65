#!/usr/bin/env bash
# arm64-check.sh - cross-build redflag for aarch64 Linux (Raspberry Pi 4 = Cortex-A72, Pi 5 = Cortex-A76)
# on an x86_64 Debian host and run it under qemu-user. Derived from shared/tools/arm64-check.sh
# (see shared/docs/ARM.md); everything comes from Debian's archive.
#
#   compiler : Debian trixie's swiftlang 6.0.3 (amd64) in a throwaway amd64 chroot, cross-compiling against
#   sysroot  : an arm64 trixie tree of the SAME swiftlang build (stdlib, Foundation, XCTest, glibc, OpenBLAS,
#              liblz4), unpacked with `mmdebstrap --variant=extract` (no emulation)
#   packages : swift-argument-parser from /opt/swift-packages (bind-mounted, git url.insteadOf in the chroot)
#   builds   : release + tests (the suite needs release), one per -target-cpu:
#                a72  REDFLAG_TARGET_CPU=cortex-a72  (the Pi 4 build; also runs on a Pi 5)
#                a76  REDFLAG_TARGET_CPU=cortex-a76 and -Xswiftc -DREDFLAG_DOTPROD (the Pi 5 build: sdot;
#                     dies with SIGILL on a Pi 4)
#   tests    : the whole XCTest suite under qemu-user with REDFLAG_EMULATED=1 (a few slow tests skip
#              themselves, each with its reason): a72 build under QEMU_CPU=cortex-a72, a76 build under
#              QEMU_CPU=cortex-a76; plus the kernel tests of the a72 build under cortex-a76. Never QEMU_CPU=max.
#   greedy   : `redflag next --json --greedy 16` on the golden prompts (Tests/Golden/logits.json) with both
#              builds; the ids must equal the x86 result recorded in tools/arm64-greedy-x86.json
#              (RECORD_X86=1 rewrites that file from the native .build/release/redflag).
#   neon     : tools/neon-table.sh on the release objects of both builds (sdot in the a76 kernels, smull/saddw
#              in the a72 ones, no `bl` inside any loop of the kernels).
#
# Usage (root):  tools/arm64-check.sh
# Env knobs   :  WORK=/var/cache/redflag-arm (chroot, sysroot, scratch builds, logs; reruns reuse it)
#                SUITE=trixie  MIRROR=<Debian mirror, default: the first of this machine's apt sources>
#                STEPS="build test greedy neon"   BUILDS="a72 a76"   JOBS=<swift build -j>
#                NICE=10 (niceness of builds and emulated runs)   MIN_FREE_GB=6.5 (else: loud skip, exit 0)
#                TEST_FILTER=<swift test --filter> (default: the whole suite)
#                SUITE_TIMEOUT=1500 (seconds per emulated suite run; tools/arm64-greedy.py limits each run to 600 s)
set -euo pipefail

PKG_DIR=$(realpath "${PKG_DIR:-$(dirname "$0")/..}")
SUITE=${SUITE:-trixie}
WORK=${WORK:-/var/cache/redflag-arm}
STEPS=${STEPS:-"build test greedy neon"}
BUILDS=${BUILDS:-"a72 a76"}
NICE=${NICE:-10}
MIN_FREE_GB=${MIN_FREE_GB:-6.5}
TEST_FILTER=${TEST_FILTER:-}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-1500}   # seconds one emulated suite run may take (≈ 290 s normally) before it counts as hung
TARGET_PKGS=${TARGET_PKGS:-libopenblas-dev,liblz4-dev}
PKGS_MIRROR=${PKGS_MIRROR:-/opt/swift-packages}
SYSROOT=$WORK/sysroot          # arm64 files (never has anything mounted on it)
BUILD=$WORK/build              # amd64 chroot with swiftlang
SCRATCH=$WORK/scratch          # SwiftPM scratch paths, mounted at /scratch
LOGS=$WORK/logs
APTOPT=(--aptopt='Acquire::Check-Valid-Until "false"')

t0=$(date +%s); stamp() { echo "### [$(( $(date +%s) - t0 ))s] $*"; }
loud_skip() {
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! ARM64 CHECK SKIPPED: $*"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo
  exit 0
}
has() { [[ " $1 " == *" $2 "* ]]; }
cpu_of() { case $1 in a72) echo cortex-a72;; a76) echo cortex-a76;; *) echo "unknown build $1" >&2; exit 2;; esac; }
# The int8 kernels take their sdot form only with REDFLAG_DOTPROD (Sources/RedflagKernels/DotProductsARM.swift):
# without it they use smull + saddl, the best form for a CPU without the dot-product extension.
dotprod_flag() { [ "$1" = a76 ] && echo "-Xswiftc -DREDFLAG_DOTPROD" || true; }

# ---- preconditions (a machine that cannot run this skips loudly; a failing check fails) ----
[ "$(id -u)" = 0 ] || loud_skip "needs root (chroot, mounts, binfmt_misc); run it as root"
[ "$(uname -m)" = x86_64 ] || loud_skip "host is $(uname -m); this script cross-builds from x86_64"
d=$WORK; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
avail_kb=$(df -Pk "$d" | awk 'NR==2 {print $4}')
need_gb=$MIN_FREE_GB
# with the chroot and sysroot already cached, only the build outputs (≈ 2.5 GB) are new
if [ -f "$WORK/.sysroot.ok" ] && [ -f "$WORK/.build.ok" ]; then need_gb=2.5; fi
if awk -v a="$avail_kb" -v n="$need_gb" 'BEGIN { exit !(a < n * 1024 * 1024) }'; then
  loud_skip "only $(( avail_kb / 1024 )) MiB free under $d, need ≈ $need_gb GB (WORK=$WORK)"
fi
[ -f "$PKG_DIR/models/gemma-3-270m-q4_k_m.gguf" ] || { echo "model missing: run python3 tools/fetch_model.py" >&2; exit 1; }
mkdir -p "$WORK" "$SCRATCH" "$LOGS"

default_mirror() {
  { grep -hm1 '^URIs:.*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hm1 '^deb .*/debian ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } | head -1 || true
}
MIRROR=${MIRROR:-$(default_mirror)}

cleanup() {
  for m in "$BUILD/src" "$BUILD/scratch" "$BUILD/opt/swift-packages" "$BUILD/sysroot" "$BUILD/tmp" "$BUILD/dev" "$BUILD/proc"; do
    mountpoint -q "$m" 2>/dev/null && umount -R "$m" || true
  done
}
trap cleanup EXIT

stamp "host tools"
missing=()
for p in qemu-user-static mmdebstrap arch-test python3 binutils-aarch64-linux-gnu; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp "binfmt_misc for aarch64"
# A container without the privilege to register binfmt_misc handlers cannot run aarch64 binaries at all: skip loudly.
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
  || loud_skip "cannot mount binfmt_misc (no privilege for it on this machine); aarch64 binaries cannot run here"
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register 2>/dev/null \
  || loud_skip "cannot register the qemu-aarch64 binfmt_misc handler on this machine"
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || loud_skip "the qemu-aarch64 binfmt_misc handler is disabled on this machine"

if [ ! -f "$WORK/.sysroot.ok" ]; then
  [ -n "$MIRROR" ] || { echo "no Debian mirror found in apt sources; set MIRROR" >&2; exit 2; }
  stamp "arm64 sysroot ($SUITE, extract only)"
  rm -rf "$SYSROOT"
  mmdebstrap --arch=arm64 --variant=extract "${APTOPT[@]}" \
    --include="libswiftlang,swiftlang,libc6-dev,g++,$TARGET_PKGS" \
    "$SUITE" "$SYSROOT" "$MIRROR"
  for d in bin lib sbin; do [ -e "$SYSROOT/$d" ] || ln -s "usr/$d" "$SYSROOT/$d"; done
  ML=$SYSROOT/usr/lib/aarch64-linux-gnu
  if [ -d "$ML/openblas-pthread" ]; then          # what update-alternatives would have linked
    ln -sf openblas-pthread/libopenblas.so   "$ML/libopenblas.so"
    ln -sf openblas-pthread/libopenblas.so.0 "$ML/libopenblas.so.0"
    ln -sf openblas-pthread/libblas.so.3     "$ML/libblas.so.3"
    ln -sf openblas-pthread/cblas.h "$SYSROOT/usr/include/aarch64-linux-gnu/cblas.h"
    mkdir -p "$ML/pkgconfig"; ln -sf ../openblas-pthread/pkgconfig/openblas.pc "$ML/pkgconfig/openblas.pc"
  fi
  # absolute symlinks must become relative, or they point into the build chroot
  python3 - "$SYSROOT" <<'EOF'
import os, sys
root = os.path.realpath(sys.argv[1])
def resolve(p):
    for _ in range(40):
        full = root + p
        if not os.path.islink(full): return p
        t = os.readlink(full)
        p = t if t.startswith('/') else os.path.normpath(os.path.join(os.path.dirname(p), t))
    return p
for sub in ("usr/lib", "usr/include", "usr/libexec"):
    for dp, dns, fns in os.walk(os.path.join(root, sub)):
        for n in dns + fns:
            full = os.path.join(dp, n)
            if os.path.islink(full) and os.readlink(full).startswith('/'):
                inner = '/' + os.path.relpath(full, root)
                rel = os.path.relpath(resolve(os.readlink(full)), os.path.dirname(inner))
                os.unlink(full); os.symlink(rel, full)
EOF
  touch "$WORK/.sysroot.ok"
fi

if [ ! -f "$WORK/.build.ok" ]; then
  [ -n "$MIRROR" ] || { echo "no Debian mirror found in apt sources; set MIRROR" >&2; exit 2; }
  stamp "amd64 build chroot ($SUITE, swiftlang)"
  if findmnt -rn -o TARGET | grep -q "^$BUILD/"; then echo "stale mounts under $BUILD" >&2; exit 1; fi
  rm -rf "$BUILD"
  mmdebstrap --arch=amd64 --variant=apt "${APTOPT[@]}" \
    --include=swiftlang,libc6-dev,g++,pkgconf,git,python3 "$SUITE" "$BUILD" "$MIRROR"
  touch "$WORK/.build.ok"
fi

# the amd64 compiler and the arm64 .swiftmodules must come from the same swiftlang build
vb=$(zcat "$BUILD/usr/share/doc/swiftlang/changelog.Debian.gz" | head -1)
vs=$(zcat "$SYSROOT/usr/share/doc/swiftlang/changelog.Debian.gz" | head -1)
echo "build chroot: $vb"; echo "sysroot     : $vs"; [ "$vb" = "$vs" ]

stamp "mounts + Swift SDK description"
if findmnt -rn -o TARGET | grep -q "^$BUILD/"; then echo "stale mounts under $BUILD (another run?)" >&2; trap - EXIT; exit 1; fi
mkdir -p "$BUILD/sysroot" "$BUILD/src" "$BUILD/scratch" "$BUILD/root/sdk"
mount -t proc proc "$BUILD/proc"
mount --rbind /dev "$BUILD/dev"; mount --make-rslave "$BUILD/dev"
mount -t tmpfs tmpfs "$BUILD/tmp"
mount --bind "$SYSROOT" "$BUILD/sysroot"; mount -o remount,bind,ro "$BUILD/sysroot"
mount --bind "$PKG_DIR" "$BUILD/src"       # models/ and Tests/Golden/ are reached at the same relative paths
mount --bind "$SCRATCH" "$BUILD/scratch"
if [ -d "$PKGS_MIRROR" ]; then               # Swift packages served locally instead of https://github.com/
  mkdir -p "$BUILD/opt/swift-packages"
  mount --bind "$PKGS_MIRROR" "$BUILD/opt/swift-packages"; mount -o remount,bind,ro "$BUILD/opt/swift-packages"
  chroot "$BUILD" git config --system --replace-all url./opt/swift-packages/.insteadOf https://github.com/
  chroot "$BUILD" git config --system --replace-all safe.directory '*'
fi
cat > "$BUILD/root/sdk/swift-sdk.json" <<'EOF'
{ "schemaVersion": "4.0",
  "targetTriples": { "aarch64-unknown-linux-gnu": {
      "sdkRootPath": "/sysroot",
      "swiftResourcesPath": "/sysroot/usr/libexec/swift/lib/swift",
      "swiftStaticResourcesPath": "/sysroot/usr/libexec/swift/lib/swift_static",
      "toolsetPaths": ["toolset.json"] } } }
EOF
cat > "$BUILD/root/sdk/toolset.json" <<'EOF'
{ "schemaVersion": "1.0",
  "rootPath": "/usr/libexec/swift/bin",
  "swiftCompiler": { "extraCLIOptions": ["-sdk", "/sysroot", "-use-ld=lld",
      "-Xlinker", "-rpath", "-Xlinker", "/usr/libexec/swift/lib/swift/linux"] },
  "cCompiler": { "extraCLIOptions": ["--sysroot=/sysroot"] },
  "linker": { "path": "ld.lld" } }
EOF

# inchroot VAR=value... -- command : run in the build chroot, in the package directory, niced.
# QEMU_LD_PREFIX makes qemu-aarch64 look up the aarch64 loader and every absolute library path
# (including the rpath /usr/libexec/swift/lib/swift/linux) in the sysroot first.
inchroot() {
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done; shift
  chroot "$BUILD" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin TERM=dumb LANG=C.UTF-8 \
    QEMU_LD_PREFIX=/sysroot QEMU_CPU=cortex-a72 \
    PKG_CONFIG_PATH=/sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:/sysroot/usr/share/pkgconfig \
    PKG_CONFIG_SYSROOT_DIR=/sysroot "${vars[@]}" \
    nice -n "$NICE" sh -c "cd /src && $*"
}
SDK="--destination /root/sdk/swift-sdk.json"
# Release like tools/test.sh (the suite needs it); 6.0.3's `swift build --build-tests -c release` does not
# compile the modules for @testable import by itself, hence -enable-testing.
JOBS_FLAG=${JOBS:+-j $JOBS}

if has "$STEPS" build; then
  for b in $BUILDS; do
    cpu=$(cpu_of "$b")
    stamp "cross build $b (release + tests, REDFLAG_TARGET_CPU=$cpu)"
    inchroot REDFLAG_TARGET_CPU="$cpu" -- \
      "swift build -c release --build-tests -Xswiftc -enable-testing $(dotprod_flag "$b") $SDK --scratch-path /scratch/$b $JOBS_FLAG" 2>&1 | tee "$LOGS/build-$b.log" | grep -E "error|warning: unre|Compiling|Build complete" | grep -v "^\[" || true
    grep -q "Build complete" "$LOGS/build-$b.log" || { echo "cross build $b FAILED (log: $LOGS/build-$b.log)"; tail -40 "$LOGS/build-$b.log"; exit 1; }
    # no x86 CPU flag may reach an aarch64 compile (Package.swift defaults to haswell on an x86 host)
    if grep -qiE "haswell|not a recognized processor" "$LOGS/build-$b.log"; then echo "x86 CPU flag in the aarch64 build" >&2; exit 1; fi
  done
fi

# run_suite BUILD QEMU_CPU [FILTER]
run_suite() {
  local b=$1 cpu=$2 filter=${3:-} log=$LOGS/test-$1-$2.log s=$(date +%s) rc=0
  stamp "tests of build $b under QEMU_CPU=$cpu${filter:+ (filter $filter)}"
  inchroot REDFLAG_EMULATED=1 QEMU_CPU="$cpu" REDFLAG_TARGET_CPU="$(cpu_of "$b")" -- \
    "timeout -k 30 $SUITE_TIMEOUT swift test -c release $SDK --scratch-path /scratch/$b --skip-build ${filter:+--filter '$filter'}" >"$log" 2>&1 || rc=$?
  [ $rc -eq 124 ] && echo "  TIMED OUT after $SUITE_TIMEOUT s (a hung test?); the log ends with:" && tail -5 "$log" | sed 's/^/    /'
  echo "  log: $log  ($(( $(date +%s) - s )) s, exit $rc)"
  grep -E "^Test Suite '(All tests|Selected tests)' (passed|failed)|Executed [0-9]+ tests?, with" "$log" | tail -2 | sed 's/^/  /'
  local skipped; skipped=$(grep -cE "^Test Case .* skipped" "$log" || true)
  echo "  skipped: $skipped"
  grep -E " : Test skipped - " "$log" | sed -E 's/^.*: ([A-Za-z0-9_]+\.[A-Za-z0-9_]+) : Test skipped - /    \1: /' || true
  if [ $rc -ne 0 ]; then
    grep -E "^Test Case .* failed \(" "$log" | sed 's/^/  /' || true
    grep -E ": error: |[Ff]atal error|Illegal instruction|[Ss]ignal [0-9]+|Segmentation" "$log" | head -15 | cut -c1-300 | sed 's/^/  /' || true
  fi
  return $rc
}

fail=0
if has "$STEPS" test; then
  for b in $BUILDS; do
    run_suite "$b" "$(cpu_of "$b")" "$TEST_FILTER" || fail=1
  done
  # the Pi 4 build must also run on a Pi 5: its kernels under the A76 model
  if has "$BUILDS" a72; then run_suite a72 cortex-a76 "RedflagKernelsTests" || fail=1; fi
fi

if has "$STEPS" greedy; then
  # The reference: the native x86 build of the same checkout (CI builds it first), else the recorded file.
  X86_BIN=${X86_BIN:-$PKG_DIR/.build/release/redflag}
  REF=tools/arm64-greedy-x86.json
  if [ -x "$X86_BIN" ]; then
    stamp "greedy continuations on x86 ($X86_BIN) as the reference"
    mkdir -p "$PKG_DIR/.build"
    nice -n "$NICE" python3 "$PKG_DIR/tools/arm64-greedy.py" --binary "$X86_BIN" --formats quantized,exact=capital_fact+question \
      --record .build/arm64-greedy-x86.json > "$LOGS/greedy-x86.log" 2>&1 || { cat "$LOGS/greedy-x86.log"; exit 1; }
    REF=.build/arm64-greedy-x86.json
    python3 - "$PKG_DIR/tools/arm64-greedy-x86.json" "$PKG_DIR/$REF" <<'EOF'
import json, sys
rec, live = (json.load(open(p))["cases"] for p in sys.argv[1:3])
diff = [k for k in live if k in rec and rec[k]["greedy_ids"] != live[k]["greedy_ids"]]
if diff: print("  note: this x86 build's greedy ids differ from tools/arm64-greedy-x86.json for", ", ".join(diff), "(numerics changed since it was recorded?)")
EOF
  else
    echo "  no native x86 build at $X86_BIN: comparing with the recorded $REF"
  fi
  for b in $BUILDS; do
    cpu=$(cpu_of "$b")
    stamp "greedy continuation of the golden prompts, build $b, QEMU_CPU=$cpu"
    bin=/scratch/$b/aarch64-unknown-linux-gnu/release/redflag
    # both builds: the quantized path on every golden prompt; the a72 build also the exact (f32) path on
    # two short prompts (the float-heavy exact path is slow under qemu: ≈ 40 s a prompt)
    formats=quantized; [ "$b" = a72 ] && formats="quantized,exact=capital_fact+question"
    inchroot QEMU_CPU="$cpu" -- "python3 tools/arm64-greedy.py --binary $bin --formats $formats --compare $REF" \
      2>&1 | tee "$LOGS/greedy-$b.log" | sed 's/^/  /'
    grep -q "^ALL EQUAL" "$LOGS/greedy-$b.log" || fail=1
  done
fi

if has "$STEPS" neon; then
  stamp "NEON instruction table (release objects)"
  for b in $BUILDS; do
    OBJDIR=$SCRATCH/$b/aarch64-unknown-linux-gnu/release CPU_LABEL=$(cpu_of "$b") \
      REQUIRE_PROFILE=$b "$PKG_DIR/tools/neon-table.sh" || fail=1
  done
fi

# Deployable binaries (not in the default STEPS): the CLI with the Swift runtime linked in, for each build,
# copied to $WORK/dist/redflag-<cpu>; prints what the target needs (glibc version, shared libraries).
if has "$STEPS" dist; then
  mkdir -p "$WORK/dist"
  for b in $BUILDS; do
    cpu=$(cpu_of "$b")
    stamp "static-stdlib CLI, REDFLAG_TARGET_CPU=$cpu"
    inchroot REDFLAG_TARGET_CPU="$cpu" -- \
      "swift build -c release --product redflag --static-swift-stdlib $(dotprod_flag "$b") $SDK --scratch-path /scratch/dist-$b $JOBS_FLAG" \
      >"$LOGS/dist-$b.log" 2>&1 || { tail -30 "$LOGS/dist-$b.log"; exit 1; }
    out=$WORK/dist/redflag-$cpu
    cp "$SCRATCH/dist-$b/aarch64-unknown-linux-gnu/release/redflag" "$out"
    glibc=$(aarch64-linux-gnu-objdump -T "$out" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    needed=$(aarch64-linux-gnu-readelf -d "$out" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "  $out: $(du -h "$out" | cut -f1), needs $glibc; shared libraries: $needed"
    QEMU_CPU=$cpu inchroot QEMU_CPU="$cpu" -- "/scratch/dist-$b/aarch64-unknown-linux-gnu/release/redflag next --greedy 4 -t 2 'The capital of France is'" | tail -2 | sed 's/^/  /'
  done
fi

stamp "done (wall time $(( $(date +%s) - t0 )) s)"
if [ $fail -ne 0 ]; then echo "ARM64 CHECK FAILED (logs in $LOGS)"; exit 1; fi
echo "ARM64 CHECK PASSED"
