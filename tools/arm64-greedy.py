#!/usr/bin/env python3
"""Greedy continuation of the golden prompts (Tests/Golden/logits.json) with a `redflag` binary.

Record the x86 result once (native build):
    python3 tools/arm64-greedy.py --binary .build/release/redflag --record tools/arm64-greedy-x86.json
Compare another build (tools/arm64-check.sh runs the aarch64 one under qemu-user):
    python3 tools/arm64-greedy.py --binary <aarch64 redflag> --compare tools/arm64-greedy-x86.json
For every case: `redflag tokenize --json` must give the golden prompt_token_ids, and
`redflag next --json --greedy N` must give the recorded greedy ids (the top-5 logits are printed as a diff
for information). Two builds whose kernels add floats in different orders may split a near-tie the other
way: a difference at a step where the recorded top-1/top-2 margin is below TIE_MARGIN[format] is reported as a tie
and ends that case's comparison (the continuations legitimately diverge there); any other difference fails. Prints "ALL EQUAL" when everything matches; exit status 1 otherwise.
"""
import argparse, json, os, subprocess, sys, time

# Logit margin (top-1 minus top-2) below which two correct builds may choose differently, per --format.
# Quantized path: kernels that add the same integer block sums in a different float order differ by ~1e-6
# in the first step's logits, but a 1e-6 change can move an activation across an int8 rounding boundary
# (one quantization step, ~max|x|/127, in one lane), and such flips accumulate through 18 layers and the KV
# cache: after ~10 steps logits differ by up to ~0.1 (measured: x86 AVX2 vs portable kernels split a
# 0.085 margin at step 11 of `capital_fact`). Exact f32 path: same operations in the same order.
TIE_MARGIN = {"quantized": 0.25, "exact": 1e-3}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# One `redflag` call may take this long before it counts as hung (the longest, the 185-token prompt under
# qemu-user, takes ≈ 90 s): a hang fails the check in minutes instead of stalling CI until its limit.
RUN_TIMEOUT_S = 600


def run(binary, args):
    try:
        p = subprocess.run([binary] + args, capture_output=True, text=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{' '.join([binary] + args[:6])} ... did not finish within {RUN_TIMEOUT_S} s (hung?)")
    if p.returncode != 0:
        raise SystemExit(f"{' '.join([binary] + args[:6])} ... exited {p.returncode}: {p.stderr.strip()[-400:]}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--formats", default="quantized",
                    help="comma-separated --format values, each optionally limited to some cases: exact=capital_fact+code")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record")
    g.add_argument("--compare")
    a = ap.parse_args()

    golden = json.load(open(os.path.join(ROOT, "Tests/Golden/logits.json")))
    expected = json.load(open(os.path.join(ROOT, a.compare))) if a.compare else None
    result = {"steps": a.steps, "model": a.model, "cases": {}}
    ok = True
    for spec in a.formats.split(","):
        fmt, _, only = spec.partition("=")
        for c in golden["cases"]:
            if only and c["name"] not in only.split("+"):
                continue
            assert c["add_bos"] and not c["parse_special"]
            key = f"{c['name']}/{fmt}"
            t0 = time.time()
            ids = run(a.binary, ["tokenize", "--json", "-m", a.model, "--", c["prompt"]])["ids"]
            out = run(a.binary, ["next", "--json", "--top", "5", "--greedy", str(a.steps), "-t", str(a.threads),
                                 "--format", fmt, "-m", a.model, "--", c["prompt"]])
            r = {"prompt_token_ids": ids, "greedy_ids": out["greedy_ids"], "greedy_margins": out.get("greedy_margins"),
                 "top_ids": [e["id"] for e in out["top"]], "top_logits": [e["logit"] for e in out["top"]]}
            result["cases"][key] = r
            line = f"{key:28s} prompt {len(ids):3d} tokens, greedy {r['greedy_ids'][:8]}… ({time.time() - t0:.1f} s)"
            if ids != c["prompt_token_ids"]:
                ok = False; line += "  TOKENIZATION DIFFERS from the golden prompt_token_ids"
            if expected is not None:
                e = expected["cases"].get(key)
                if e is None:
                    ok = False; line += "  (no recorded x86 result)"
                elif e["greedy_ids"] != r["greedy_ids"]:
                    first = next(i for i, (u, v) in enumerate(zip(e["greedy_ids"] + [None] * 99, r["greedy_ids"])) if u != v)
                    em = (e.get("greedy_margins") or [None] * 999)[first]
                    rm = (r.get("greedy_margins") or [None] * 999)[first]
                    margin = min(m for m in (em, rm) if m is not None) if (em, rm) != (None, None) else None
                    if margin is not None and margin < TIE_MARGIN.get(fmt, 1e-3):
                        line += (f"  = x86 for {first} steps, then a near-tie (margin {margin:.4f} < {TIE_MARGIN.get(fmt, 1e-3)}): "
                                 f"x86 chose {e['greedy_ids'][first]}, this build {r['greedy_ids'][first]}")
                    else:
                        ok = False
                        line += f"  GREEDY DIFFERS at step {first}: x86 {e['greedy_ids']} vs {r['greedy_ids']}"
                else:
                    d = max(abs(u - v) for u, v in zip(e["top_logits"], r["top_logits"])) if e["top_ids"] == r["top_ids"] else None
                    line += "  = x86" + (f" (top-5 ids equal, max |Δlogit| {d:.1e})" if d is not None else " (top-5 order differs)")
            print(line, flush=True)
    if a.record:
        with open(os.path.join(ROOT, a.record), "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"recorded {len(result['cases'])} cases in {a.record}")
    if expected is not None:
        print("ALL EQUAL" if ok else "GREEDY CHECK FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
