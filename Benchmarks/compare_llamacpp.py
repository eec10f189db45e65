#!/usr/bin/env python3
"""Race redflag against llama.cpp on the same GGUF files, same thread counts, interleaved in one run.

llama.cpp comes from PyPI: `pip install llama-cpp-python==0.3.36` builds the llama.cpp it vendors
(CMAKE_ARGS="-DGGML_NATIVE=ON"; pip caches the wheel, so the build happens once per machine).

For every round, model file, thread count and test, the two engines run back to back (order alternating
by round), each in a fresh process; the table reports medians over rounds and the ratio redflag/llama.cpp.
Peak RSS of a 64-token generation is measured with /usr/bin/time -v for both (llama.cpp through a
minimal Python driver; the driver's own RSS without a model is printed so it can be subtracted).

Usage:
  Benchmarks/compare_llamacpp.py [--models q4_k_m,q8_0,q4_0,mixed] [--threads 1,2] [--tests pp64,pp256,tg64]
                                 [--rounds 3] [--json OUT.json]
Model names map to models/gemma-3-270m-<name>.gguf; q8_0, q4_0 and mixed are created with
`redflag quantize` when missing (our q4_0 file is byte-identical to llama.cpp's requantized Q4_0).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDFLAG = os.path.join(ROOT, ".build", "release", "redflag")

LLAMA_DRIVER = r'''
import json, random, sys, time
import llama_cpp
from llama_cpp import Llama
path, threads, tests = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=512, n_batch=512, n_ubatch=512,
            verbose=False, logits_all=False)
rng = random.Random(42)
vocab = llm.n_vocab()
out = []
def toks(n): return [rng.randrange(1000, vocab - 1000) for _ in range(n)]
for t in tests:
    n = int(t[2:])
    # warm-up
    llm.reset(); llm.eval([llm.token_bos()] + toks(min(n, 16)))
    llm.reset()
    if t.startswith("pp"):
        seq = [llm.token_bos()] + toks(n - 1)
        t0 = time.perf_counter(); llm.eval(seq); dt = time.perf_counter() - t0
    else:
        llm.eval([llm.token_bos()])
        seq = toks(n)
        t0 = time.perf_counter()
        for x in seq: llm.eval([x])
        dt = time.perf_counter() - t0
    out.append({"test": t, "tps": n / dt})
print(json.dumps(out))
'''

LLAMA_GEN = r'''
import sys
from llama_cpp import Llama
if sys.argv[1] == "-":
    import llama_cpp  # interpreter + library only, no model: the driver's own footprint
    sys.exit(0)
llm = Llama(model_path=sys.argv[1], n_threads=int(sys.argv[2]), n_ctx=512, verbose=False)
llm("The capital of France is", max_tokens=64, temperature=0.0)
'''


def ensure_model(name):
    path = os.path.join(ROOT, "models", f"gemma-3-270m-{name}.gguf")
    if not os.path.exists(path):
        src = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
        subprocess.run([REDFLAG, "quantize", src, path, "--type", name], check=True)
    return path


def ours(path, threads, tests):
    r = subprocess.run([REDFLAG, "bench", "-m", path, "-t", str(threads), "--tests", ",".join(tests), "-r", "1",
                        "--guard", "halt", "--ctx", "512", "--json"], check=True, capture_output=True, text=True)
    return {x["test"]: x["tps_mean"] for x in json.loads(r.stdout.strip().splitlines()[-1])}


def theirs(path, threads, tests):
    r = subprocess.run([sys.executable, "-c", LLAMA_DRIVER, path, str(threads), ",".join(tests)],
                       check=True, capture_output=True, text=True)
    return {x["test"]: x["tps"] for x in json.loads(r.stdout.strip().splitlines()[-1])}


def peak_rss_kib(cmd):
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.run(["/usr/bin/time", "-v", "-o", f.name] + cmd, check=True, capture_output=True)
        for line in open(f.name):
            if "Maximum resident set size" in line:
                return int(line.split(":")[1])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="q4_k_m,q8_0,q4_0,mixed")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--tests", default="pp64,pp256,tg64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--rss-only", action="store_true", help="only the peak-RSS comparison (no timing; safe on a busy machine)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.path.exists(REDFLAG):
        sys.exit(f"build first: swift build -c release --product redflag ({REDFLAG} missing)")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        sys.exit("llama.cpp missing: pip install llama-cpp-python==0.3.36 (CMAKE_ARGS=-DGGML_NATIVE=ON)")
    models = {m: ensure_model(m) for m in a.models.split(",")}
    threads = [int(t) for t in a.threads.split(",")]
    tests = a.tests.split(",")
    samples = {}
    if a.rss_only:
        a.rounds, tests = 0, []
    for rnd in range(a.rounds):
        for m, path in models.items():
            for t in threads:
                order = [("redflag", ours), ("llama.cpp", theirs)]
                if rnd % 2:
                    order.reverse()
                for eng, fn in order:
                    for test, tps in fn(path, t, tests).items():
                        samples.setdefault((m, t, test, eng), []).append(tps)
                print(f"round {rnd + 1}/{a.rounds} {m} t={t} done", file=sys.stderr, flush=True)
    rows = []
    print(f"| model | threads | test | redflag t/s | llama.cpp t/s | ratio |")
    print(f"| --- | ---: | --- | ---: | ---: | ---: |")
    for m in models:
        for t in threads:
            for test in tests:
                ours_m = statistics.median(samples[(m, t, test, "redflag")])
                theirs_m = statistics.median(samples[(m, t, test, "llama.cpp")])
                rows.append({"model": m, "threads": t, "test": test, "redflag_tps": ours_m,
                             "llamacpp_tps": theirs_m, "ratio": ours_m / theirs_m})
                print(f"| {m} | {t} | {test} | {ours_m:.1f} | {theirs_m:.1f} | {ours_m / theirs_m:.2f} |")
    rss = {}
    if not a.no_rss:
        base = peak_rss_kib([sys.executable, "-c", LLAMA_GEN, "-", "1"])
        print(f"\npeak RSS, 64-token generation, ctx 512 (llama.cpp via Python; the bare driver is {base / 1024:.1f} MiB):")
        for m, path in models.items():
            r1 = peak_rss_kib([REDFLAG, "run", "-m", path, "-t", "2", "--ctx", "512", "-n", "64", "--guard", "off",
                               "The capital of France is"])
            r2 = peak_rss_kib([sys.executable, "-c", LLAMA_GEN, path, "2"])
            rss[m] = {"redflag_mib": r1 / 1024, "llamacpp_mib": r2 / 1024, "driver_mib": base / 1024}
            print(f"  {m}: redflag {r1 / 1024:.1f} MiB, llama.cpp {r2 / 1024:.1f} MiB "
                  f"({(r2 - base) / 1024:.1f} MiB without the driver)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "rss": rss, "samples": {"|".join(map(str, k)): v for k, v in samples.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
