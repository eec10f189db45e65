#!/usr/bin/env python3
"""Export a trained red-flag adapter checkpoint to a GGUF LoRA adapter.

Layout (llama.cpp's convert_lora_to_gguf / llama-adapter.cpp convention):
  general.architecture = gemma3, general.type = adapter,
  adapter.type = lora, adapter.lora.alpha = alpha (float32)
  blk.N.<t>.weight.lora_a : numpy (r, in)  = ggml ne [in, r]
  blk.N.<t>.weight.lora_b : numpy (out, r) = ggml ne [r, out]
      for t in attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down;
      delta W (out, in) = (alpha / r) * B @ A, with r = lora_b's ggml ne[0].
Red-flag extension (read by the redflag engine):
  token_embd.weight.rf_row : F32 (640,) -- the trained <rf> embedding row. The
      token embedding is tied to the LM head, so the engine writes this row into
      token_embd both for the input lookup and for the logit of token 6.
  redflag.token_id (uint32) = 6, redflag.threshold (float32) = tau,
  redflag.threshold_rule (string), redflag.lora_rank (uint32).
Stock llama.cpp rejects unknown tensor suffixes: --no-rf-row writes a file
llama.cpp can load (LoRA only; the <rf> row is then missing).

Usage:
  python tools/training/export_adapter.py --ckpt .cache/redflag-run/final.pt \
      --calibration .cache/redflag-eval/calibration.json \
      --out models/redflag-lora/gemma-3-270m-redflag-lora.gguf
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[2]
BASE_GGUF = REPO / "models" / "gemma-3-270m-q4_k_m.gguf"
RF_ID = 6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, help="adapter checkpoint (.pt with 'adapter' and 'args')")
    ap.add_argument("--out", default=str(REPO / "models" / "redflag-lora" / "gemma-3-270m-redflag-lora.gguf"))
    ap.add_argument("--threshold", type=float, default=None, help="tau; overrides --calibration")
    ap.add_argument("--calibration", default=None, help="JSON with 'threshold' and 'rule' (eval_python.py --calibrate)")
    ap.add_argument("--f16", action="store_true", help="store lora_a / lora_b as F16 (the <rf> row stays F32)")
    ap.add_argument("--no-rf-row", action="store_true", help="omit the <rf> row (a file stock llama.cpp loads)")
    args = ap.parse_args()

    import gguf
    import torch

    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    sd, targs = ck["adapter"], ck["args"]
    rank, alpha = int(targs["rank"]), float(targs["lora_alpha"])
    tau, rule = 0.5, "default 0.5 (not calibrated)"
    if args.calibration:
        cal = json.loads(Path(args.calibration).read_text())
        tau, rule = float(cal["threshold"]), cal["rule"]
    if args.threshold is not None:
        tau, rule = args.threshold, "set on the command line"

    base = gguf.GGUFReader(str(BASE_GGUF))
    base_shapes = {t.name: [int(x) for x in t.shape] for t in base.tensors}  # ggml ne order

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(out), arch="gemma3")
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    w.add_name("gemma-3-270m red-flag LoRA")
    w.add_uint32("redflag.token_id", RF_ID)
    w.add_float32("redflag.threshold", float(tau))
    w.add_string("redflag.threshold_rule", rule)
    w.add_uint32("redflag.lora_rank", rank)
    w.add_uint32("redflag.train_steps", int(ck.get("step", 0)))

    ltype = np.float16 if args.f16 else np.float32
    names = sorted({k.rsplit(".", 1)[0] for k in sd if k.endswith(".lora_a")},
                   key=lambda n: (int(n.split(".")[1]), n))
    for name in names:
        A = sd[f"{name}.lora_a"].float().numpy()  # (r, in)
        B = sd[f"{name}.lora_b"].float().numpy()  # (out, r)
        ne = base_shapes.get(name)
        if ne is None:
            raise SystemExit(f"{name}: not a tensor of {BASE_GGUF.name}")
        if A.shape != (rank, ne[0]) or B.shape != (ne[1], rank):
            raise SystemExit(f"{name}: base ne {ne}, lora_a {A.shape}, lora_b {B.shape}: expected "
                             f"({rank}, {ne[0]}) and ({ne[1]}, {rank})")
        w.add_tensor(f"{name}.lora_a", A.astype(ltype))
        w.add_tensor(f"{name}.lora_b", B.astype(ltype))
    if not args.no_rf_row:
        row = sd["rf_row"].float().numpy().astype(np.float32)
        assert row.shape == (base_shapes["token_embd.weight"][0],), row.shape
        w.add_tensor("token_embd.weight.rf_row", row)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # read back and check against the checkpoint
    r = gguf.GGUFReader(str(out))
    tens = {t.name: t for t in r.tensors}
    n0 = names[0]
    a = np.asarray(tens[f"{n0}.lora_a"].data, dtype=np.float32)
    b = np.asarray(tens[f"{n0}.lora_b"].data, dtype=np.float32)
    dW = (alpha / rank) * b @ a
    ref = (alpha / rank) * sd[f"{n0}.lora_b"].float().numpy() @ sd[f"{n0}.lora_a"].float().numpy()
    err = float(np.abs(dW - ref).max())
    fields = {k: r.fields[k] for k in ("general.architecture", "general.type", "adapter.type",
                                       "adapter.lora.alpha", "redflag.token_id", "redflag.threshold")}

    def val(f):
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else v.tolist()[0]

    print(json.dumps({"out": str(out), "bytes": out.stat().st_size, "tensors": len(r.tensors),
                      "lora_pairs": len(names), "rank": rank, "alpha": alpha,
                      "lora_dtype": "F16" if args.f16 else "F32",
                      "kv": {k: val(f) for k, f in fields.items()},
                      f"{n0}.lora_a ne": [int(x) for x in tens[f'{n0}.lora_a'].shape],
                      f"{n0}.lora_b ne": [int(x) for x in tens[f'{n0}.lora_b'].shape],
                      "readback_max_abs_err_deltaW": err}, indent=1))


if __name__ == "__main__":
    main()
