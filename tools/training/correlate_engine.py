#!/usr/bin/env python3
"""Python (transformers) vs Swift engine: per-example max p(<rf>) on the same prompts.

Both sides run the same thing: the base model de-quantized from the GGUF to f32, the LoRA adapter merged in
f32, the prompt in the engine's chat format, then 32 greedy tokens with <rf> masked out of the choice, and
the max of p(<rf>) (full-vocabulary softmax) over those 32 decoding positions (the first is the first
response position). The engine runs `redflag eval --format exact` (f32 weights, exact activations: "before
quantization") and, separately, its default quantized path. Prints Pearson and Spearman correlations and the
largest per-example differences; writes everything to --out.

Usage (from the repo root, after tools/setup.sh and with the training venv):
  .cache/venv/bin/python tools/training/correlate_engine.py --per-label 20
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402
import eval_python as ev  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REDFLAG = REPO / ".build" / "release" / "redflag"
MODEL = REPO / "models" / "gemma-3-270m-q4_k_m.gguf"
ADAPTER = REPO / "models" / "redflag-lora" / "gemma-3-270m-redflag-lora.gguf"


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a) ** 0.5
    vb = sum((y - mb) ** 2 for y in b) ** 0.5
    return cov / (va * vb) if va > 0 and vb > 0 else float("nan")


def ranks(xs):
    order = sorted(range(len(xs)), key=xs.__getitem__)
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2
        i = j + 1
    return r


def engine(subset: Path, fmt: str | None, tokens: int, threads: int):
    cmd = [str(REDFLAG), "eval", "-m", str(MODEL), "--lora", str(ADAPTER), "--data", str(subset),
           "--tokens", str(tokens), "-t", str(threads), "--json"]
    if fmt:
        cmd += ["--format", fmt]
    t0 = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    doc = json.loads(out[out.index("{"):])
    recs = sorted(doc["records"], key=lambda r: r["index"])
    return [r["max_p"] for r in recs], time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=str(rc.CACHE / "redflag-run" / "final.pt"))
    ap.add_argument("--per-label", type=int, default=20, help="prompts per label (harmful, benign, benign_edgy)")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--max-prompt-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(rc.CACHE / "redflag-corr"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    args = argparse.Namespace(ckpt=a.ckpt)
    base, tok, renderer, rfm, info = ev.load_model(args)
    ev.merge(base, rfm)
    base.eval()
    sc = ev.Scorer(base, renderer)

    rows = rc.read_jsonl(rc.DATA_DIR / "test_eval.jsonl")
    rng = random.Random(a.seed)
    rng.shuffle(rows)
    chosen, per = [], {}
    for r in rows:
        lab = r["label"]
        if per.get(lab, 0) >= a.per_label or len(renderer.text(r["prompt"])) > a.max_prompt_tokens:
            continue
        per[lab] = per.get(lab, 0) + 1
        chosen.append(r)
    subset = out / "subset.jsonl"
    subset.write_text("".join(json.dumps({"prompt": r["prompt"], "label": r["label"]}) + "\n" for r in chosen))
    rc.log(f"{len(chosen)} prompts {per}")

    t0 = time.time()
    py = []
    with torch.no_grad():
        for r in chosen:
            ids, _ = renderer.render(r["prompt"], "", max_prompt=a.max_prompt_tokens, max_len=512)
            _, p_gen, _ = sc.generate(ids, a.tokens)
            py.append(max(p_gen[0]))
    t_py = time.time() - t0
    exact, t_exact = engine(subset, "exact", a.tokens, a.threads)
    quant, t_quant = engine(subset, None, a.tokens, a.threads)

    res = {"prompts": len(chosen), "per_label": per, "tokens": a.tokens, "ckpt": info,
           "pearson_exact": pearson(py, exact), "spearman_exact": pearson(ranks(py), ranks(exact)),
           "pearson_quantized": pearson(py, quant), "spearman_quantized": pearson(ranks(py), ranks(quant)),
           "max_abs_diff_exact": max(abs(x - y) for x, y in zip(py, exact)),
           "max_abs_diff_quantized": max(abs(x - y) for x, y in zip(py, quant)),
           "seconds": {"python": t_py, "engine_exact": t_exact, "engine_quantized": t_quant},
           "records": [{"label": r["label"], "prompt": r["prompt"][:80], "python": p, "exact": e, "quantized": q}
                       for r, p, e, q in zip(chosen, py, exact, quant)]}
    (out / "correlation.json").write_text(json.dumps(res, indent=1))
    print(f"prompts: {len(chosen)} {per}, {a.tokens} greedy tokens each")
    print(f"Python vs engine --format exact : Pearson {res['pearson_exact']:.4f}, Spearman {res['spearman_exact']:.4f}, "
          f"max |Δ| {res['max_abs_diff_exact']:.4f}")
    print(f"Python vs engine quantized      : Pearson {res['pearson_quantized']:.4f}, Spearman {res['spearman_quantized']:.4f}, "
          f"max |Δ| {res['max_abs_diff_quantized']:.4f}")
    worst = sorted(res["records"], key=lambda x: -abs(x["python"] - x["exact"]))[:5]
    for w in worst:
        print(f"  {w['label']:12s} py {w['python']:.4f} exact {w['exact']:.4f} quant {w['quantized']:.4f}  {w['prompt']!r}")
    print(f"wrote {out / 'correlation.json'}")


if __name__ == "__main__":
    main()
