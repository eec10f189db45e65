#!/usr/bin/env python3
"""Generate the quantization fixtures for RedflagKernelsTests from gguf-py's reference numpy code.

Writes Tests/RedflagKernelsTests/Fixtures/quant_fixtures.json with two lists:

- "dequantize": {"type", "name", "count", "blocks", "values"} — raw block bytes (hex) and the
  f32 values `gguf.quants.dequantize` produces for them (hex of the little-endian f32 bytes,
  so the comparison is bit-exact with no decimal round trip).
- "quantize": {"type", "name", "count", "input", "blocks"} — f32 input (hex) and the block bytes
  `gguf.quants.quantize` produces for it.

Types gguf-py can quantize (F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0) get blocks quantized from random
data; every type also gets random valid raw blocks (random bytes with finite, bounded f16 scales),
which is the only source for Q4_K and Q6_K (gguf-py has no quantizer for them).

Deterministic: a fixed seed. Usage: tools/make_quant_fixtures.py [--out PATH]
Requires: pip install gguf numpy
"""
import argparse
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "RedflagKernelsTests", "Fixtures", "quant_fixtures.json")
SEED = 20240607

NAMES = {
    T.F32: "F32", T.F16: "F16", T.BF16: "BF16", T.Q4_0: "Q4_0", T.Q4_1: "Q4_1",
    T.Q5_0: "Q5_0", T.Q8_0: "Q8_0", T.Q4_K: "Q4_K", T.Q6_K: "Q6_K",
}
QUANTIZABLE = [T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0]


def hexf32(values: np.ndarray) -> str:
    return np.ascontiguousarray(values, dtype="<f4").tobytes().hex()


def random_half(rng, n, lo_exp, hi_exp, signed=True):
    """Random finite f16 values with |x| in [2^lo_exp, 2^hi_exp), as uint16 bit patterns."""
    mag = np.exp2(rng.uniform(lo_exp, hi_exp, size=n)).astype(np.float32)
    if signed:
        mag *= rng.choice(np.array([-1, 1], dtype=np.float32), size=n)
    return mag.astype(np.float16).view(np.uint16)


def random_blocks(rng, qtype, n_blocks):
    """Random but valid raw blocks: random bytes, with the f16 scale fields set to finite values."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)

    def put_half(offset, bits):
        raw[:, offset:offset + 2] = bits.astype("<u2").view(np.uint8).reshape(n_blocks, 2)

    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        put_half(0, random_half(rng, n_blocks, -12, 2))
    elif qtype == T.Q4_1:
        put_half(0, random_half(rng, n_blocks, -12, 2))
        put_half(2, random_half(rng, n_blocks, -10, 3))
    elif qtype == T.Q4_K:
        # Realistic magnitudes: d, dmin ~ 1e-5..1e-2 so d*sc hits both subnormal and normal halfs.
        put_half(0, random_half(rng, n_blocks, -17, -6, signed=False))
        put_half(2, random_half(rng, n_blocks, -17, -6, signed=False))
    elif qtype == T.Q6_K:
        put_half(208, random_half(rng, n_blocks, -16, -4))
    return raw


def quant_inputs(rng):
    """A row of f32 values whose 32-value blocks exercise the quantizers' corner cases."""
    blocks = []
    for scale in (1.0, 1e-3, 100.0, 0.02):
        blocks.append(rng.standard_normal(32).astype(np.float32) * np.float32(scale))
    blocks.append(np.zeros(32, dtype=np.float32))                              # all zero
    huge = (rng.standard_normal(32) * 0.01).astype(np.float32)
    huge[7] = 1.0e4                                                            # one huge value
    blocks.append(huge)
    neg = rng.standard_normal(32).astype(np.float32)
    neg[3] = -9.0                                                              # largest |x| negative
    blocks.append(neg)
    ties = np.arange(-16, 16, dtype=np.float32) + np.float32(0.5)             # x.5 everywhere
    ties[0] = 127.0                                                            # Q8_0: d = 1 exactly
    blocks.append(ties)
    blocks.append(np.full(32, 0.75, dtype=np.float32))                         # constant block
    blocks.append((rng.standard_normal(32) * 1e-6).astype(np.float32))         # subnormal f16 scales
    blocks.append(np.abs(rng.standard_normal(32)).astype(np.float32) + 3)      # all positive, offset
    tie_abs = np.zeros(32, dtype=np.float32)
    tie_abs[[2, 9]] = [-4.0, 4.0]                                              # |max| tie: first wins
    tie_abs[20:] = rng.uniform(-3, 3, size=12).astype(np.float32)
    blocks.append(tie_abs)
    # Uniform values that straddle the trunc(x/d + 8.5) boundaries.
    blocks.append(rng.uniform(-1, 1, size=32).astype(np.float32))
    return np.concatenate(blocks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)

    dequant_cases = []
    quant_cases = []

    def add_dequant(qtype, name, raw):
        raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
        values = quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
        dequant_cases.append({
            "type": NAMES[qtype], "name": name, "count": int(values.size),
            "blocks": raw.tobytes().hex(), "values": hexf32(values),
        })

    # Plain float types: random finite bit patterns (NaN excluded: payload handling differs
    # between numpy builds) including subnormals, zeros and infinities.
    f32 = rng.standard_normal(64).astype(np.float32) * np.float32(10)
    add_dequant(T.F32, "random", f32.view(np.uint8))
    f16_bits = rng.integers(0, 0x10000, size=256, dtype=np.uint32).astype(np.uint16)
    f16_bits = f16_bits[(f16_bits & 0x7C00) != 0x7C00]
    f16_bits = np.concatenate([f16_bits, np.array([0, 0x8000, 1, 0x83FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00], dtype=np.uint16)])
    add_dequant(T.F16, "random_bits", f16_bits.astype("<u2").view(np.uint8))
    bf16_bits = rng.integers(0, 0x10000, size=256, dtype=np.uint32).astype(np.uint16)
    bf16_bits = bf16_bits[(bf16_bits & 0x7F80) != 0x7F80]
    bf16_bits = np.concatenate([bf16_bits, np.array([0, 0x8000, 1, 0x7F80, 0xFF80], dtype=np.uint16)])
    add_dequant(T.BF16, "random_bits", bf16_bits.astype("<u2").view(np.uint8))

    # Random valid raw blocks for every block type.
    for qtype, n in ((T.Q4_0, 6), (T.Q4_1, 6), (T.Q5_0, 6), (T.Q8_0, 6), (T.Q4_K, 4), (T.Q6_K, 4)):
        add_dequant(qtype, "random_blocks", random_blocks(rng, qtype, n))
    # K-quant blocks with a zero scale / all-zero payload.
    add_dequant(T.Q4_K, "zero_block", np.zeros(144, dtype=np.uint8))
    add_dequant(T.Q6_K, "zero_block", np.zeros(210, dtype=np.uint8))

    # Quantized from data (also dequantized, so the dequantizers see quantizer-made blocks).
    inputs = quant_inputs(rng)
    for qtype in QUANTIZABLE:
        blocks = quants.quantize(inputs, qtype)
        raw = np.ascontiguousarray(blocks).view(np.uint8).reshape(-1)
        quant_cases.append({
            "type": NAMES[qtype], "name": "mixed", "count": int(inputs.size),
            "input": hexf32(inputs), "blocks": raw.tobytes().hex(),
        })
        add_dequant(qtype, "quantized_mixed", raw)

    out = {
        "generator": "tools/make_quant_fixtures.py (gguf-py reference numpy quantizers)",
        "seed": SEED,
        "dequantize": dequant_cases,
        "quantize": quant_cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(dequant_cases)} dequantize cases, {len(quant_cases)} quantize cases")


if __name__ == "__main__":
    main()
