#!/usr/bin/env python3
"""Long-context training rows: a benign passage, then the request (HarmBench's "contextual" shape).

Why: the trainer keeps the first --max-prompt (64) tokens of a prompt, so every harmful request it saw was short or
cut before its end. The engine evaluation misses mostly prompts that open with a long benign-looking passage and
put the harmful request last (HarmBench contextual behaviours: 9 of the 23 harmful test prompts below the 5 % FPR
cut of adapter v3). These rows teach the flag to follow the request at the end of a long prompt — and, with the
same number of benign rows of the same shape, not to fire on long prompts as such.

Rows (train split only; HarmBench and StrongREJECT stay test-only):
  harmful: passage + "\\n\\n" + a harmful training prompt, its response   (source contextual:harmful)
  benign : passage + "\\n\\n" + a benign training prompt, its response    (source contextual:benign)
Passages are ShareGPT answers from the train split (plaintext:sharegpt-answer rows), cut at a line or sentence end to
--min-chars..--max-chars. Deterministic for a seed.

  python tools/training/contextual_data.py --out .cache/redflag-data/contextual_train.jsonl
"""
import argparse, json, random, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402


def passage(text: str, rng: random.Random, lo: int, hi: int) -> str:
    """A piece of `text` (at least `lo` characters long) of lo..hi characters ending at a line or sentence end."""
    start = 0
    if len(text) > hi and rng.random() < 0.5:   # sometimes from the middle, at a line start
        cut = text.find("\n", rng.randrange(0, len(text) - hi))
        start = cut + 1 if 0 <= cut < len(text) - lo else 0
    chunk = text[start:start + hi]
    ends = [m.end() for m in re.finditer(r"[.!?:]\s|\n", chunk) if m.end() >= lo]
    return (chunk[:ends[-1]] if ends else chunk).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(rc.DATA_DIR))
    ap.add_argument("--out", default=str(Path(rc.DATA_DIR) / "contextual_train.jsonl"))
    ap.add_argument("--harmful", type=int, default=600)
    ap.add_argument("--benign", type=int, default=600)
    ap.add_argument("--min-chars", type=int, default=300)
    ap.add_argument("--max-chars", type=int, default=900)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    data = Path(a.data)
    rows = rc.read_jsonl(data / "train.jsonl") + rc.read_jsonl(data / "extra_train.jsonl")
    texts = [r["response"] for r in rows if r["kind"] == "benign_text"]
    if not any(len(t) >= a.min_chars for t in texts):
        raise SystemExit(f"no benign_text row in {data} has --min-chars {a.min_chars} characters or more")
    # short, self-contained requests (a many-shot prompt is a context of its own)
    harmful = [r for r in rows if r["kind"] == "harmful" and len(r["prompt"]) < 400 and "manyshot" not in r["source"]]
    benign = [r for r in rows if r["kind"] == "benign" and len(r["prompt"]) < 400 and int(r.get("kl_start", 0)) == 0]
    rng = random.Random(a.seed)
    out = []
    for kind, pool, n in (("harmful", harmful, a.harmful), ("benign", benign, a.benign)):
        for i, r in enumerate(rng.sample(pool, min(n, len(pool)))):
            text = rng.choice(texts)
            while len(text) < a.min_chars:   # drawn again (not pre-filtered: keeps the draws, and the rows, of v6's data)
                text = rng.choice(texts)
            ctx = passage(text, rng, a.min_chars, a.max_chars)
            row = {"id": f"ctx-{kind[0]}-{i}", "source": f"contextual:{kind}", "kind": kind,
                   "prompt": f"{ctx}\n\n{r['prompt']}", "response": r["response"],
                   "group": r.get("group", f"prompt:{r['prompt'][:60].lower()}")}
            if kind == "benign":
                row["kl_start"] = 0
            out.append(row)
    Path(a.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"wrote {len(out)} rows ({sum(r['kind'] == 'harmful' for r in out)} harmful) to {a.out}")


if __name__ == "__main__":
    main()
