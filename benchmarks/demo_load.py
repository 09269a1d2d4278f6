"""Load figure of the demo server: C concurrent clients moving sliders (issue #22 §4).

    python benchmarks/demo_load.py [--clients 8] [--requests 25] [--checkpoint pretrained]

Starts the demo server in this process on 127.0.0.1 (a free port, compiled and warmed up first),
then C client threads each send R ``POST /api/generate`` requests back to back (a random class
and z from a seeded generator per client; one request = the digit plus its 8 variations, the
page's work for one slider move) over fresh connections, as the page does. Prints the latency
percentiles of all C*R requests (p50, p90, max), throughput, and how many were refused (503) or
failed. Not a test: the figures depend on the machine and its load (record them, with the CPU,
in benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def client(url: str, requests: int, seed: int, latent_dim: int, out: list, errors: list) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(requests):
        body = json.dumps({"label": int(rng.integers(10)),
                           "z": rng.uniform(-1, 1, latent_dim).round(4).tolist()}).encode()
        req = urllib.request.Request(url + "api/generate", data=body, headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            out.append(time.perf_counter() - t0)
        except urllib.error.HTTPError as e:
            errors.append(e.code)
        except OSError as e:
            errors.append(type(e).__name__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=25, help="requests per client")
    p.add_argument("--checkpoint", default="pretrained")
    args = p.parse_args(argv)

    from acgan_lib import demo

    t0 = time.perf_counter()
    server = demo.make_server(args.checkpoint, port=0, quiet=True)
    start_s = time.perf_counter() - t0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        latencies: list[float] = []
        errors: list = []
        threads = [threading.Thread(target=client, args=(server.url, args.requests, seed, server.model.latent_dim,
                                                         latencies, errors)) for seed in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.shutdown()
        server.server_close()
    ms = np.asarray(latencies) * 1000
    print(f"CPU: {cpu_name()} ({__import__('os').cpu_count()} cores); server start (load + compile): {start_s:.1f} s")
    print(f"{args.clients} concurrent clients x {args.requests} requests: {len(ms)} answered, "
          f"{len(errors)} refused or failed {sorted(set(map(str, errors)))}")
    if len(ms):
        print(f"latency ms: p50 {np.percentile(ms, 50):.0f}, p90 {np.percentile(ms, 90):.0f}, "
              f"max {ms.max():.0f}, mean {statistics.fmean(ms):.0f}; throughput {len(ms) / wall:.1f} requests/s")
    return 0 if len(ms) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
