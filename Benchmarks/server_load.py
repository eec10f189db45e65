#!/usr/bin/env python3
"""Load test of `redflag serve` on loopback (stdlib only).

Starts the server (`--port 0`, binary $REDFLAG_BIN or .build/release/redflag) unless --port is given, then
runs CLIENTS concurrent clients × REQUESTS sequential requests each (POST /v1/chat/completions, short
max_tokens, keep-alive connection per client; every 4th request streamed). Reports throughput, p50/p99
latency, failed requests, and the server's RSS (from /proc) before and after. Exit status 1 if any request
failed.

    python3 Benchmarks/server_load.py [--clients 8] [--requests 20] [--max-tokens 8] [--json OUT]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["What is the capital of France?", "Name a colour.", "Count to three.", "Say hello.",
           "What is 2 + 2?", "Name a fruit.", "What day comes after Monday?", "Give me a word that rhymes with cat."]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_request(conn, i, max_tokens):
    stream = i % 4 == 3
    body = json.dumps({"messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                       "max_tokens": max_tokens, "stream": stream})
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"status {resp.status}: {data[:200]!r}")
    if stream:
        events = [l[6:] for l in data.decode().split("\n") if l.startswith("data: ")]
        if events[-1] != "[DONE]":
            raise RuntimeError("stream did not end with [DONE]")
        return sum(1 for e in events[:-1] if json.loads(e)["choices"] and json.loads(e)["choices"][0]["delta"].get("content"))
    return json.loads(data)["usage"]["completion_tokens"]


def client(port, n, max_tokens, offset, latencies, failures, tokens, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for k in range(n):
        t0 = time.perf_counter()
        try:
            got = one_request(conn, offset + k, max_tokens)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                tokens.append(got)
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            with lock:
                failures.append(repr(e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.close()


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args()

    binary = os.environ.get("REDFLAG_BIN", os.path.join(ROOT, ".build/release/redflag"))
    # The queue must hold every client but the running one: 8 clients, queue 8.
    cmd = [binary, "serve", "--port", "0", "-t", str(args.threads), "--queue-size", str(args.clients),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        m = re.search(r"listening on http://[^ ]+:(\d+)", proc.stdout.readline())
        if not m:
            sys.exit("server did not start")
        port = int(m.group(1))
        # Warm-up (first-use allocations), then the RSS baseline.
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for i in range(3):
            one_request(warm, i, args.max_tokens)
        warm.close()
        rss_before = rss_kib(proc.pid)

        latencies, failures, tokens, lock = [], [], [], threading.Lock()
        threads = [threading.Thread(target=client, args=(port, args.requests, args.max_tokens, c * args.requests,
                                                         latencies, failures, tokens, lock))
                   for c in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss_after = rss_kib(proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    total = args.clients * args.requests
    result = {
        "clients": args.clients, "requests_per_client": args.requests, "max_tokens": args.max_tokens,
        "threads": args.threads, "requests": total, "ok": len(latencies), "failed": len(failures),
        "wall_s": round(wall, 2), "requests_per_s": round(len(latencies) / wall, 2),
        "completion_tokens_per_s": round(sum(tokens) / wall, 1),
        "latency_p50_s": round(percentile(latencies, 50), 3), "latency_p99_s": round(percentile(latencies, 99), 3),
        "latency_max_s": round(max(latencies) if latencies else float("nan"), 3),
        "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
        "server_stats": health.get("stats"),
        "first_failures": failures[:3],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
