#!/usr/bin/env bash
# neon-table.sh - per-function table of the widening/dot-product NEON instructions in the aarch64 release
# objects of the hot integer kernels, from `aarch64-linux-gnu-objdump -dr` (binutils decodes every AArch64
# extension by default), and checks on it. Used by tools/arm64-check.sh; can be run alone.
#
# Usage: OBJDIR=/var/cache/redflag-arm/scratch/a76/aarch64-unknown-linux-gnu/release \
#        REQUIRE_PROFILE=a76 tools/neon-table.sh
#   OBJDIR          a SwiftPM release directory of an aarch64 build (holds RedflagKernels.build/ …)
#   REQUIRE_PROFILE a72: the kernels use smull (no sdot, which would SIGILL on a Pi 4)
#                   a76: the kernels use sdot
#                   both: no `bl` inside any loop of a kernel; "" = table only
#   CPU_LABEL       printed in the heading (default: the profile)
#   MODULES         object directories searched (default: RedflagKernels RedflagModel RedflagFlag)
# A "kernel" row is DotProducts.q8_0/q4_0/q4_1, DotProductsARM.*, the QuantizedGEMV row loops, and any other
# function that contains sdot/smull/smlal (a kernel inlined elsewhere); thunks to merged copies are left out.
# Loops are found from backward branches (b, b.cond, cbz/cbnz, tbz/tbnz to a lower address in the same
# function); `bl-loop` counts calls inside them, which fails the check in a kernel (not in the scheduling
# loop of QuantizedGEMV.rows, which calls the row-range closure once per chunk).
set -euo pipefail
OBJDIR=${OBJDIR:?set OBJDIR to an aarch64 release directory}
PROFILE=${REQUIRE_PROFILE:-}
LABEL=${CPU_LABEL:-$PROFILE}
MODULES=${MODULES:-"RedflagKernels RedflagModel RedflagFlag"}
OBJDUMP=${OBJDUMP:-aarch64-linux-gnu-objdump}
DEMANGLE=${DEMANGLE:-$(command -v swift-demangle || echo /opt/swift/usr/bin/swift-demangle)}
command -v "$OBJDUMP" >/dev/null || { echo "neon-table: $OBJDUMP missing (apt-get install binutils-aarch64-linux-gnu)" >&2; exit 2; }

objs=()
for m in $MODULES; do
  [ -d "$OBJDIR/$m.build" ] && while IFS= read -r o; do objs+=("$o"); done < <(find "$OBJDIR/$m.build" -name '*.o' | sort)
done
[ ${#objs[@]} -gt 0 ] || { echo "neon-table: no objects under $OBJDIR" >&2; exit 2; }

for o in "${objs[@]}"; do echo "### OBJECT $(basename "$(dirname "$o")")/$(basename "$o")"; "$OBJDUMP" -dr --no-show-raw-insn "$o"; done |
python3 -c '
import re, subprocess, sys
profile, label, demangle = sys.argv[1], sys.argv[2], sys.argv[3]
MN = ["sdot", "smull", "smull2", "smlal", "smlal2", "saddw", "saddw2", "saddl", "saddl2", "sadalp", "sxtl", "sxtl2", "addv", "saddlv", "trn1"]
funcs, cur, obj = [], None, ""
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("### OBJECT "): obj = line[11:]; continue
    m = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
    if m:
        cur = {"obj": obj, "sym": m.group(2), "ins": [], "relocs": {}}; funcs.append(cur); continue
    if cur is None: continue
    m = re.match(r"^\s+([0-9a-f]+):\s+R_AARCH64_\w+\s+(\S+)", line)
    if m and cur["ins"]:
        cur["relocs"][cur["ins"][-1][0]] = m.group(2); continue
    m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
    if m: cur["ins"].append((int(m.group(1), 16), m.group(2), m.group(3)))
syms = sorted({f["sym"] for f in funcs})
try:
    out = subprocess.run([demangle, "--simplified", "--compact"], input="\n".join(syms), capture_output=True, text=True).stdout.split("\n")
    dm = dict(zip(syms, out))
except OSError:
    dm = {s: s for s in syms}
BR = re.compile(r"^(b|b\.\w+|cbn?z|tbn?z)$")
def stats(f):
    c = {k: 0 for k in MN}; loops = []
    for a, mn, ops in f["ins"]:
        if mn in c: c[mn] += 1
        if BR.match(mn) and a not in f["relocs"]:          # a relocated branch leaves the function
            t = re.search(r"\b([0-9a-f]+) <", ops)
            if t and int(t.group(1), 16) <= a: loops.append((int(t.group(1), 16), a))
    bl = [(a, f["relocs"].get(a, ops)) for a, mn, ops in f["ins"] if mn in ("bl", "blr")]
    inloop = [x for x in bl if any(lo <= x[0] <= hi for lo, hi in loops)]
    return c, len(loops), bl, inloop
NAMED = re.compile(r"DotProducts(ARM)?\.(q8_0|q4_0|q4_1)\(|QuantizedGEMV\.rows")
rows = []
for f in funcs:
    if not f["ins"]: continue
    name = dm.get(f["sym"], f["sym"])
    if "Reference" in name: continue
    if len(f["ins"]) == 1 and f["ins"][0][1] == "b": continue      # a thunk to a merged copy
    if name.startswith("partial apply"): continue                  # closure context forwarders
    c, nloops, bl, inloop = stats(f)
    if NAMED.search(name) or c["sdot"] or c["smull"] or c["smlal"]:
        rows.append((f["obj"], name, c, nloops, bl, inloop))
print("NEON table, build %s (%d functions with int8 kernels)" % (label, len(rows)))
hdr = ["sdot", "smull", "smull2", "smlal", "smlal2", "saddl", "saddl2", "saddw", "saddw2", "sxtl", "sxtl2", "addv", "saddlv", "trn1"]
print("  %-50s %s  %5s %4s %7s" % ("function [object]", " ".join("%*s" % (max(4, len(h)), h) for h in hdr), "loops", "bl", "bl-loop"))
fail = []
for obj, name, c, nloops, bl, inloop in rows:
    short = re.sub(r"\([^()]*\)", "", name).replace("static ", "")         # DotProducts.q8_0, closure #1 in QuantizedGEMV.rows
    print("  %-50s %s  %5d %4d %7d" % ("%s [%s]" % (short, obj.split("/")[-1].replace(".swift.o", "")),
          " ".join("%*d" % (max(4, len(h)), c[h]) for h in hdr), nloops, len(bl), len(inloop)))
    kernel = c["sdot"] or c["smull"] or c["smlal"] or ("QuantizedGEMV" not in name and NAMED.search(name))
    if kernel and inloop: fail.append("%s: bl inside a loop -> %s" % (name, ", ".join(sorted({t for _, t in inloop}))))
    if profile == "a72" and c["sdot"]: fail.append("%s: sdot in the cortex-a72 build (SIGILL on a Pi 4)" % name)
    if NAMED.search(name) and "QuantizedGEMV" not in name and profile in ("a72", "a76"):
        if profile == "a76" and not c["sdot"]: fail.append("%s: no sdot in the cortex-a76 build" % name)
        if profile == "a72" and not (c["smull"] or c["smlal"]): fail.append("%s: no smull/smlal in the cortex-a72 build" % name)
if profile and not any(r[2]["sdot"] if profile == "a76" else r[2]["smull"] for r in rows if "QuantizedGEMV" in r[1]):
    fail.append("QuantizedGEMV.rows: the kernels were not inlined into the row loop (no %s there)" % ("sdot" if profile == "a76" else "smull"))
for x in fail: print("  FAIL " + x)
if profile: print("  NEON check (%s): %s" % (label, "FAILED" if fail else "ok"))
sys.exit(1 if fail else 0)
' "$PROFILE" "$LABEL" "$DEMANGLE"
