"""Time one reference ACGAN iteration: acgan_lib (JAX) against PyTorch, side by side.

    python benchmarks/train_step.py [--repeats 5] [--iters 5] [--batch-size 100] [--conv-impl auto]

One iteration = discriminator step on B real + B generated digits, then generator step on 2B
(the reference recipe). Both implementations are timed in this process, alternating, after
warm-up; the figures are medians over the repeats. Also prints the iteration's FLOP count
(analytic), the achieved GFLOP/s against this machine's measured fp32 matmul throughput, the
JAX compile time and each implementation's peak memory (measured in separate child processes).
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
def make_jax(ds, batch: int, conv_impl: str):
    """A Trainer's fused, donated, jitted iteration; returns (run_n(n), compile_seconds)."""
    import jax

    from acgan_lib import trainer

    tmp = tempfile.mkdtemp(prefix="acgan-bench-")
    t = trainer.Trainer(trainer.TrainConfig(batch_size=batch, conv_impl=conv_impl), ds, tmp)
    compile_s = t.compile_seconds()
    return t, compile_s


def make_torch(ds, batch: int, device: str):
    import torch

    from torch_acgan import Peer

    torch.set_num_threads(os.cpu_count() or 1)
    return Peer(ds.images, ds.labels, batch_size=batch, device=device)


def time_jax(t, iters: int) -> float:
    return t.run_iterations(iters) / iters


def time_torch(peer, iters: int) -> float:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iters", type=int, default=5, help="iterations per timed repeat")
    ap.add_argument("--conv-impl", default="auto", choices=["auto", "matmul", "xla"])
    ap.add_argument("--torch-device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    import jax
    import torch

    from acgan_lib import conv_transpose, data

    device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    ds = data.load_mnist("bundled", verbose=False)
    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}); "
          f"torch {torch.__version__} on {device}; {os.cpu_count()} CPU cores")
    impl = args.conv_impl if args.conv_impl != "auto" else conv_transpose.default_conv_impl()
    print(f"transposed convolution implementation: {impl}")
    jt, compile_s = make_jax(ds, args.batch_size, args.conv_impl)
    peer = make_torch(ds, args.batch_size, device)
    time_jax(jt, 2)     # warm-up
    time_torch(peer, 2)
    j_times, t_times = [], []
    for r in range(args.repeats):
        j_times.append(time_jax(jt, args.iters))
        t_times.append(time_torch(peer, args.iters))
        print(f"  repeat {r + 1}: jax {1000 * j_times[-1]:7.1f} ms/it   torch {1000 * t_times[-1]:7.1f} ms/it", flush=True)
    j, t = statistics.median(j_times), statistics.median(t_times)
    flops = iteration_flops(args.batch_size)
    mm = matmul_gflops() if jax.default_backend() == "cpu" else {}
    res = {"batch_size": args.batch_size, "jax_ms_per_iteration": 1000 * j, "torch_ms_per_iteration": 1000 * t,
           "ratio_jax_over_torch": j / t, "iteration_gflop": flops / 1e9, "jax_gflops": flops / j / 1e9,
           "torch_gflops": flops / t / 1e9, "jax_compile_s": compile_s, "matmul_gflops": mm,
           "backend": jax.default_backend(), "conv_impl": impl}
    print()
    print(f"iteration FLOPs (analytic): {flops / 1e9:.1f} GFLOP")
    print(f"acgan_lib (JAX) : {1000 * j:8.1f} ms/iteration  {flops / j / 1e9:7.1f} GFLOP/s   compile {compile_s:.1f} s")
    print(f"PyTorch (eager) : {1000 * t:8.1f} ms/iteration  {flops / t / 1e9:7.1f} GFLOP/s")
    print(f"ratio JAX / PyTorch time: {j / t:.2f}  (PyTorch / JAX speed-up {t / j:.2f}x)")
    if mm:
        print(f"fp32 2048^2 matmul on this machine: jax {mm['jax']:.0f} GFLOP/s, torch {mm['torch']:.0f} GFLOP/s")
        peak = max(mm.values())
        res["jax_fraction_of_matmul_peak"] = flops / j / 1e9 / peak
        print(f"acgan_lib reaches {100 * flops / j / 1e9 / peak:.0f} % of the measured matmul throughput "
              f"(PyTorch {100 * flops / t / 1e9 / peak:.0f} %)")
    if not args.no_memory:
        mj = child_peak_memory("jax", args.batch_size, 3, args.conv_impl, device)
        mt = child_peak_memory("torch", args.batch_size, 3, args.conv_impl, device)
        res.update(jax_peak_rss_mib=mj, torch_peak_rss_mib=mt)
        print(f"peak process memory (RSS, 3 iterations in a fresh process): jax {mj:.0f} MiB, torch {mt:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
