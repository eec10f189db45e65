#!/usr/bin/env python3
"""Hard-negative mining for the benign KL term: benign *training* prompts the current adapter flags on the engine.

Scores a seeded sample of the benign rows of `train.jsonl` with `redflag eval` (quantized engine, adapter merged,
32 greedy tokens: exactly how the test sets are scored) and writes the rows whose max p(<rf>) reaches --min-p to
--out (one {"id", "max_p"} per line). `train.py --hard-negatives FILE --benign-mix …,hard:W` then samples them as an
extra benign source, so L_benign spends its weight where the flag misfires. Only training rows are read: validation
(τ calibration) and test prompts stay unseen.

Usage: python3 tools/training/mine_hard_negatives.py --adapter A.gguf --out .cache/hard.jsonl [--count 1000]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_eval import DATA, read_jsonl, run_eval, write_jsonl  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1000, help="benign training prompts scored (seeded sample)")
    ap.add_argument("--min-p", type=float, default=0.5, help="max p(<rf>) from which a prompt counts as hard")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()

    rows = [r for r in read_jsonl(DATA / "train.jsonl") if r["kind"] == "benign"]
    random.Random(a.seed).shuffle(rows)
    rows = rows[:a.count]
    out = Path(a.out)
    probe = out.with_suffix(".probe.jsonl")
    write_jsonl(probe, [{"prompt": r["prompt"], "label": "benign"} for r in rows])
    doc = run_eval(probe, a.adapter, a.tokens, a.threads)
    scores = {rec["index"]: rec["max_p"] for rec in doc["records"]}
    hard = [{"id": rows[i]["id"], "max_p": p} for i, p in sorted(scores.items()) if p >= a.min_p]
    write_jsonl(out, hard)
    ps = sorted(scores.values())
    print(json.dumps({"scored": len(ps), "hard": len(hard), "min_p": a.min_p,
                      "median_max_p": ps[len(ps) // 2], "p90_max_p": ps[int(0.9 * (len(ps) - 1))],
                      "wall_s": doc["wall_s"]}, indent=1))


if __name__ == "__main__":
    main()
