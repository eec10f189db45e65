"""Shared pieces of the red-flag training tools: base model, tokenizer, chat
rendering, hand-written LoRA, the trainable `<rf>` row and position-selective
LM-head evaluation.

Shapes in comments: B batch, T sequence length, D = 640 hidden, V = 262,144 vocab.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
GGUF_DIR = REPO / "models"
GGUF_FILE = "gemma-3-270m-q4_k_m.gguf"
FP32_DIR = CACHE / "gemma3-270m-fp32"
DATA_DIR = CACHE / "redflag-data"

RF_ID = 6            # <unused0>, used as the red-flag token <rf>
BOS_ID = 2
START_OF_TURN = 105  # <start_of_turn>
END_OF_TURN = 106    # <end_of_turn>
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# llama.cpp tensor names for the adapted weights (blk.N.<name>.weight)
GGUF_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------ base model ----
def load_base(dtype=torch.float32):
    """Gemma 3 270M from the GGUF, cached as an fp32 safetensors checkpoint.

    transformers de-quantizes the GGUF (45-105 s) but the object it returns cannot
    `save_pretrained`; its state dict is saved as safetensors (tied LM head left
    out) with a clean Gemma3TextConfig and reloaded with from_pretrained (< 1 s).
    """
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig
    if not (FP32_DIR / "model.safetensors").exists():
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM
        log(f"de-quantizing {GGUF_FILE} (first run only) ...")
        # A tokenizer already saved here is kept: transformers 5.17's GGUF tokenizer conversion is wrong
        # (it splits "Hello world" into characters), 5.24's is right; copy a good one in to use an old version.
        tok = None if (FP32_DIR / "tokenizer.json").exists() else AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
        src = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32)
        cfg = src.config.to_dict()
        cfg.pop("quantization_config", None)
        cfg.pop("_name_or_path", None)
        config = Gemma3TextConfig(**{k: v for k, v in cfg.items() if k not in ("architectures",)})
        config.architectures = ["Gemma3ForCausalLM"]
        FP32_DIR.mkdir(parents=True, exist_ok=True)
        config.save_pretrained(FP32_DIR)
        sd = {k: v.contiguous() for k, v in src.state_dict().items() if k != "lm_head.weight"}
        save_file(sd, str(FP32_DIR / "model.safetensors"))
        if tok is not None:
            tok.save_pretrained(FP32_DIR)
        del src
    model = Gemma3ForCausalLM.from_pretrained(FP32_DIR, dtype=torch.float32, attn_implementation="sdpa")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "LM head not tied"
    model.to(dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# Gemma 3's ids for a known string (golden/tokenizer.json agrees): a check that the tokenizer in the
# cache is sane. transformers 5.17 converts the GGUF vocabulary wrongly (characters instead of words),
# and training on that text produced adapters worth nothing (session 9).
TOKENIZER_CHECK = ("Hello world, this is a test.", [9259, 1902, 236764, 672, 563, 496, 1594, 236761])


def load_tokenizer():
    from transformers import AutoTokenizer
    if not (FP32_DIR / "tokenizer_config.json").exists():
        load_base()
    tok = AutoTokenizer.from_pretrained(FP32_DIR)
    text, want = TOKENIZER_CHECK
    got = tok(text, add_special_tokens=False)["input_ids"]
    if got != want:
        raise RuntimeError(f"tokenizer in {FP32_DIR} is wrong: {text!r} -> {got}, expected {want}. Rebuild the "
                           "cache with transformers 5.24 (tools/requirements-train.txt) or copy its tokenizer.json in")
    return tok


# ------------------------------------------------------------- rendering ----
class ChatRenderer:
    """`<bos><start_of_turn>user\\n{prompt}<end_of_turn>\\n<start_of_turn>model\\n{response}`.

    Control tokens are inserted as ids; user and response text is tokenised as
    plain text (no special-token parsing), as the engine does by default.
    """

    def __init__(self, tok):
        self.tok = tok
        self.user_head = [BOS_ID, START_OF_TURN] + self.text("user\n")
        self.model_head = [END_OF_TURN] + self.text("\n") + [START_OF_TURN] + self.text("model\n")

    def text(self, s: str) -> list[int]:
        return self.tok(s, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def render(self, prompt: str, response: str = "", max_prompt: int = 96, max_len: int = 160,
               prompt_ids=None, response_ids=None):
        """-> (ids, response_start). Prompt keeps its first max_prompt tokens; the
        response is cut so the whole sequence is at most max_len tokens."""
        p = prompt_ids if prompt_ids is not None else self.text(prompt)
        p = p[:max_prompt]
        head = self.user_head + p + self.model_head
        r = response_ids if response_ids is not None else (self.text(response) if response else [])
        r = r[: max(0, max_len - len(head))]
        return head + r, len(head)


# ------------------------------------------------------------------ LoRA ----
class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B A x.  A: (r, in), B: (out, r) -- llama.cpp's
    convert_lora_to_gguf layout (ggml shapes [in, r] and [r, out])."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as peft
        self.enabled = True

    def forward(self, x):
        y = self.base(x)
        if self.enabled:
            y = y + F.linear(F.linear(x, self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype)) * self.scale
        return y


def attach_lora(model, r: int, alpha: float):
    mods = {}
    for li, layer in enumerate(model.model.layers):
        for parent in (layer.self_attn, layer.mlp):
            for name in LORA_TARGETS:
                if hasattr(parent, name) and isinstance(getattr(parent, name), nn.Linear):
                    m = LoRALinear(getattr(parent, name), r, alpha)
                    setattr(parent, name, m)
                    mods[f"blk.{li}.{GGUF_NAMES[name]}.weight"] = m
    return mods


def set_lora(mods, enabled: bool):
    for m in mods.values():
        m.enabled = enabled


def merge_lora(mods):
    """Fold B A into the base weights (for evaluation with plain HF generation)."""
    with torch.no_grad():
        for m in mods.values():
            m.base.weight += (m.lora_B @ m.lora_A).to(m.base.weight.dtype) * m.scale
            m.enabled = False


# --------------------------------------------------- <rf>-aware forward ----
class RedFlagModel(nn.Module):
    """Base model + LoRA + a trainable `<rf>` row, tied between input and output.

    The embedding matrix stays frozen; row RF_ID is replaced by `rf_row` both
    when looking up inputs and when computing logits (only in the policy; the
    reference uses the original row).
    """

    def __init__(self, base, r=8, alpha=16.0):
        super().__init__()
        self.base = base
        self.lora = attach_lora(base, r, alpha)
        for i, (name, m) in enumerate(self.lora.items()):
            self.add_module(f"lora_{i}", m)
        E = base.model.embed_tokens.weight  # (V, D)
        self.rf_row = nn.Parameter(E[RF_ID].detach().clone().float())
        self.register_buffer("rf_row_ref", E[RF_ID].detach().clone().float(), persistent=False)
        self._E_bf16 = None  # (V, D) bf16 copy for the LM head under autocast, made once

    def E_for(self, dtype):
        if dtype == torch.bfloat16:
            if self._E_bf16 is None:
                self._E_bf16 = self.E.detach().to(torch.bfloat16)
            return self._E_bf16
        return self.E

    @property
    def E(self):
        return self.base.model.embed_tokens.weight

    def trainable(self):
        ps = [self.rf_row]
        for m in self.lora.values():
            ps += [m.lora_A, m.lora_B]
        return ps

    def hidden(self, ids, policy: bool = True):
        """ids (B, T) -> final-norm hidden states (B, T, D)."""
        set_lora(self.lora, policy)
        emb = self.base.model.embed_tokens
        x = F.embedding(ids, self.E)  # (B, T, D)
        row = self.rf_row if policy else self.rf_row_ref
        mask = (ids == RF_ID).unsqueeze(-1)
        x = torch.where(mask, row.to(x.dtype).expand_as(x), x)
        x = x * emb.embed_scale.to(x.dtype)
        out = self.base.model(inputs_embeds=x, use_cache=False)
        set_lora(self.lora, True)
        return out.last_hidden_state

    def logits(self, h, policy: bool = True):
        """h (N, D) -> logits (N, V) with column RF_ID from the policy / reference row."""
        row = self.rf_row if policy else self.rf_row_ref
        dev = h.device.type
        h = h.to(torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else self.E.dtype)
        lg = F.linear(h, self.E_for(h.dtype))  # (N, V)
        rf = h @ row.to(h.dtype)  # (N,)
        idx = torch.full((h.shape[0], 1), RF_ID, dtype=torch.long, device=h.device)
        return lg.scatter(1, idx, rf[:, None])  # one copy; cheaper backward than slicing + cat

    def rf_logprob(self, h, policy: bool = True):
        """h (N, D) -> log p(<rf>) (N,), float32."""
        lg = self.logits(h, policy).float()
        return lg[:, RF_ID] - torch.logsumexp(lg, dim=-1)

    def adapter_state(self):
        sd = {"rf_row": self.rf_row.detach().clone()}
        for name, m in self.lora.items():
            sd[f"{name}.lora_a"] = m.lora_A.detach().clone()
            sd[f"{name}.lora_b"] = m.lora_B.detach().clone()
        return sd

    def load_adapter_state(self, sd):
        with torch.no_grad():
            self.rf_row.copy_(sd["rf_row"])
            for name, m in self.lora.items():
                m.lora_A.copy_(sd[f"{name}.lora_a"])
                m.lora_B.copy_(sd[f"{name}.lora_b"])


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def to_cpu(sd):
    """A state dict with every tensor on the CPU (checkpoints are device-independent)."""
    return {k: v.detach().cpu() for k, v in sd.items()}


def adapter_from_gguf(path):
    """Read an exported adapter (export_adapter.py) back -> (state dict, rank, alpha).

    The inverse of the export: `<name>.lora_a` (r, in), `<name>.lora_b` (out, r) and
    `token_embd.weight.rf_row` (D,) become the keys of RedFlagModel.adapter_state().
    """
    import gguf
    import numpy as np
    r = gguf.GGUFReader(str(path))
    alpha = float(r.fields["adapter.lora.alpha"].parts[r.fields["adapter.lora.alpha"].data[0]][0])
    sd, rank = {}, None
    for t in r.tensors:
        a = torch.from_numpy(np.array(t.data, dtype=np.float32))
        if t.name == "token_embd.weight.rf_row":
            sd["rf_row"] = a.reshape(-1)
        elif t.name.endswith(".lora_a") or t.name.endswith(".lora_b"):
            sd[t.name] = a
            if t.name.endswith(".lora_a"):
                rank = a.shape[0]
    if "rf_row" not in sd or rank is None:
        raise ValueError(f"{path}: not a red-flag adapter (needs lora_a/lora_b tensors and token_embd.weight.rf_row)")
    return sd, rank, alpha


def load_adapter_file(path):
    """A checkpoint .pt (train.py) or an exported .gguf adapter -> (state dict, rank, alpha)."""
    if str(path).endswith(".gguf"):
        return adapter_from_gguf(path)
    ck = torch.load(path, map_location="cpu", weights_only=False)
    return ck["adapter"], int(ck["args"]["rank"]), float(ck["args"]["lora_alpha"])
