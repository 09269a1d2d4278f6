"""Time one reference ACGAN iteration: acgan_lib (JAX) against PyTorch, side by side.

    python benchmarks/train_step.py [--repeats 5] [--iters 5] [--batch-size 100] [--conv-impl auto]
    python benchmarks/train_step.py --sweep          # batch 100, 250, 500, 1000, 2000 (GPU targets)

One iteration = discriminator step on B real + B generated digits, then generator step on 2B
(the reference recipe). Both implementations are timed in this process, alternating, after
warm-up; the figures are medians over the repeats. Also prints the iteration's FLOP count
(analytic), the achieved GFLOP/s against this machine's measured fp32 matmul throughput, the
JAX compile time and each implementation's peak memory (measured in separate child processes).
On CUDA a second PyTorch peer runs too: cudnn.benchmark + TF32 matmuls/convolutions (the
fastest plain-PyTorch settings; flags switched per timed call). With several batch sizes the
summary table checks the GPU targets of issue #14: >= 5x PyTorch eager at batch 100, and faster
than both peers at every batch size.
Requires torch (`pip install torch==2.13.0`, benchmark only).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


# ----------------------------------------------------------------------------- FLOPs
def layer_macs(latent: int = 100) -> tuple[dict, dict]:
    """Multiply-accumulates per image of every layer's forward pass (direct convolution count)."""
    g = {"dense": latent * 3456, "deconv1": 3 * 3 * 384 * 25 * 192, "deconv2": 7 * 7 * 192 * 25 * 96,
         "deconv3": 14 * 14 * 96 * 25 * 1}
    d = {"conv1": 14 * 14 * 9 * 1 * 32, "conv2": 14 * 14 * 9 * 32 * 64, "conv3": 7 * 7 * 9 * 64 * 128,
         "conv4": 7 * 7 * 9 * 128 * 256, "heads": 12544 * 11}
    return g, d


def iteration_flops(b: int = 100, latent: int = 100) -> float:
    """FLOPs of one iteration: forward = 2*MACs; backward = weight grads + input grads (2*MACs each)."""
    g, d = layer_macs(latent)
    fg, fd, fc1 = 2 * sum(g.values()), 2 * sum(d.values()), 2 * d["conv1"]
    d_step = b * fg + 2 * b * fd + 2 * b * fd + 2 * b * (fd - fc1)  # G fwd, D fwd, D weight + input grads
    g_step = 2 * b * (fg + fd + fd + 2 * fg)                        # G fwd, D fwd, D input grads, G both grads
    return float(d_step + g_step)


def matmul_gflops(n: int = 2048, reps: int = 10) -> dict:
    """fp32 n x n matmul throughput of jax and torch on this machine (best of reps)."""
    import jax
    import jax.numpy as jnp
    import torch

    out = {}
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(reps))
    out["jax"] = 2 * n ** 3 / best / 1e9
    t = torch.randn(n, n)
    t @ t
    out["torch"] = 2 * n ** 3 / min(_timed(lambda: t @ t) for _ in range(reps)) / 1e9
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----------------------------------------------------------------------------- the two contenders
def make_jax(ds, batch: int, conv_impl: str, devices: int = 0):
    """A Trainer's fused, donated, jitted iteration; returns (trainer, compile_seconds)."""
    from acgan_lib import trainer

    tmp = tempfile.mkdtemp(prefix="acgan-bench-")
    t = trainer.Trainer(trainer.TrainConfig(batch_size=batch, conv_impl=conv_impl, devices=devices), ds, tmp,
                        log=lambda s: None)
    compile_s = t.compile_seconds()
    return t, compile_s


def make_torch(ds, batch: int, device: str):
    import torch

    from torch_acgan import Peer

    torch.set_num_threads(os.cpu_count() or 1)
    return Peer(ds.images, ds.labels, batch_size=batch, device=device)


def time_jax(t, iters: int) -> float:
    return t.run_iterations(iters) / iters


def torch_flags(tuned: bool) -> None:
    """cudnn.benchmark + TF32 (tuned) or PyTorch's defaults (eager): read at call time, so the
    two peers can alternate in one process."""
    import torch

    torch.backends.cudnn.benchmark = tuned
    torch.backends.cuda.matmul.allow_tf32 = tuned
    torch.backends.cudnn.allow_tf32 = True if tuned else torch.backends.cudnn.allow_tf32


def time_torch(peer, iters: int, tuned: bool | None = None) -> float:
    if tuned is not None:
        torch_flags(tuned)
    t0 = time.perf_counter()
    for _ in range(iters):
        peer.iteration()
    peer.sync()
    return (time.perf_counter() - t0) / iters


def child_peak_memory(which: str, batch: int, iters: int, conv_impl: str, device: str) -> float:
    """Peak RSS (MiB) of a fresh process that runs `iters` iterations of one implementation."""
    code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {str(HERE)!r}); sys.path.insert(0, {str(HERE.parent)!r});"
            f"import train_step as b; b._child({which!r}, {batch}, {iters}, {conv_impl!r}, {device!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return float("nan")
    return float(r.stdout.strip().splitlines()[-1])


def _child(which, batch, iters, conv_impl, device):
    from acgan_lib import data

    ds = data.load_mnist("bundled", verbose=False)
    if which == "jax":
        t, _ = make_jax(ds, batch, conv_impl)
        t.run_iterations(iters)
    else:
        p = make_torch(ds, batch, device)
        time_torch(p, iters)
    print(_peak_rss_mib())


def _peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across
    fork + exec, so a child started from a big parent would report the parent's peak."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SWEEP = (100, 250, 500, 1000, 2000)


def conv_impl_name(choice: str) -> str:
    """The transposed-convolution implementation ``choice`` ("auto" resolved for this backend)."""
    from acgan_lib import conv_transpose

    return conv_transpose.default_conv_impl() if choice == "auto" else choice


def bench_one(ds, batch: int, args, device: str) -> dict:
    """Time acgan_lib and the PyTorch peer(s) at one batch size, alternating; medians."""
    import jax

    tuned = device.startswith("cuda")
    jt, compile_s = make_jax(ds, batch, args.conv_impl, args.devices)
    peer = make_torch(ds, batch, device)
    time_jax(jt, 2)     # warm-up
    time_torch(peer, 2, False if tuned else None)
    if tuned:
        time_torch(peer, 2, True)
    times = {"jax": [], "torch": [], "torch_tuned": []}
    for r in range(args.repeats):
        times["jax"].append(time_jax(jt, args.iters))
        times["torch"].append(time_torch(peer, args.iters, False if tuned else None))
        if tuned:
            times["torch_tuned"].append(time_torch(peer, args.iters, True))
        print(f"  batch {batch} repeat {r + 1}: " + "   ".join(
            f"{k} {1000 * v[-1]:7.1f} ms/it" for k, v in times.items() if v), flush=True)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    flops = iteration_flops(batch)
    res = {"batch_size": batch, "jax_ms_per_iteration": 1000 * med["jax"],
           "torch_ms_per_iteration": 1000 * med["torch"], "ratio_jax_over_torch": med["jax"] / med["torch"],
           "iteration_gflop": flops / 1e9, "jax_gflops": flops / med["jax"] / 1e9,
           "torch_gflops": flops / med["torch"] / 1e9, "jax_compile_s": compile_s,
           "backend": jax.default_backend(), "conv_impl": conv_impl_name(args.conv_impl),
           "devices": jt.num_devices}
    if "torch_tuned" in med:
        res["torch_tuned_ms_per_iteration"] = 1000 * med["torch_tuned"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[100], help="one or more batch sizes")
    ap.add_argument("--sweep", action="store_true", help=f"batch sizes {SWEEP}")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=5, help="iterations per timed repeat")
    ap.add_argument("--conv-impl", default="auto", choices=["auto", "matmul", "xla"])
    ap.add_argument("--devices", type=int, default=0, help="JAX data-parallel devices (0 = all local; 1 on CPU)")
    ap.add_argument("--torch-device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    import jax
    import torch

    from acgan_lib import data

    device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    ds = data.load_mnist("bundled", verbose=False)
    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}); "
          f"torch {torch.__version__} on {device}; {os.cpu_count()} CPU cores")
    print(f"transposed convolution implementation: {conv_impl_name(args.conv_impl)}")
    batches = list(SWEEP) if args.sweep else args.batch_size
    results = [bench_one(ds, b, args, device) for b in batches]
    res = results[0]
    b, j, t = res["batch_size"], res["jax_ms_per_iteration"] / 1000, res["torch_ms_per_iteration"] / 1000
    flops = iteration_flops(b)
    mm = matmul_gflops() if jax.default_backend() == "cpu" else {}
    res["matmul_gflops"] = mm
    print()
    print(f"batch {b}: iteration FLOPs (analytic): {flops / 1e9:.1f} GFLOP")
    print(f"acgan_lib (JAX) : {1000 * j:8.1f} ms/iteration  {flops / j / 1e9:7.1f} GFLOP/s   "
          f"compile {res['jax_compile_s']:.1f} s")
    print(f"PyTorch (eager) : {1000 * t:8.1f} ms/iteration  {flops / t / 1e9:7.1f} GFLOP/s")
    print(f"ratio JAX / PyTorch time: {j / t:.2f}  (PyTorch / JAX speed-up {t / j:.2f}x)")
    if mm:
        print(f"fp32 2048^2 matmul on this machine: jax {mm['jax']:.0f} GFLOP/s, torch {mm['torch']:.0f} GFLOP/s")
        peak = max(mm.values())
        res["jax_fraction_of_matmul_peak"] = flops / j / 1e9 / peak
        print(f"acgan_lib reaches {100 * flops / j / 1e9 / peak:.0f} % of the measured matmul throughput "
              f"(PyTorch {100 * flops / t / 1e9 / peak:.0f} %)")
    if len(results) > 1 or "torch_tuned_ms_per_iteration" in res:
        print(f"\n{'batch':>6} {'acgan_lib':>11} {'torch eager':>12} {'torch tuned':>12} {'speed-up vs eager':>18}")
        for r in results:
            tt = r.get("torch_tuned_ms_per_iteration")
            tuned_cell = f"{tt:>9.1f} ms" if tt is not None else f"{'n/a':>12}"
            print(f"{r['batch_size']:>6} {r['jax_ms_per_iteration']:>8.1f} ms {r['torch_ms_per_iteration']:>9.1f} ms "
                  f"{tuned_cell} {r['torch_ms_per_iteration'] / r['jax_ms_per_iteration']:>17.2f}x")
        fastest = all(r["jax_ms_per_iteration"] < min(r["torch_ms_per_iteration"],
                                                      r.get("torch_tuned_ms_per_iteration", float("inf")))
                      for r in results)
        at100 = [r for r in results if r["batch_size"] == 100]
        if res["backend"] != "gpu":
            print(f"(the GPU targets below are not meaningful on {res['backend']})")
        if at100:
            s = at100[0]["torch_ms_per_iteration"] / at100[0]["jax_ms_per_iteration"]
            print(f"target >= 5x PyTorch eager at batch 100: {s:.1f}x -> {'met' if s >= 5 else 'not met'}")
        print(f"target faster than every PyTorch peer at every batch: {'met' if fastest else 'not met'}")
    if not args.no_memory:
        mj = child_peak_memory("jax", b, 3, args.conv_impl, device)
        mt = child_peak_memory("torch", b, 3, args.conv_impl, device)
        res.update(jax_peak_rss_mib=mj, torch_peak_rss_mib=mt)
        print(f"peak process memory (RSS, 3 iterations in a fresh process): jax {mj:.0f} MiB, torch {mt:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results if len(results) > 1 else res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
