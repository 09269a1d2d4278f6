"""Sample quality against training time, from scratch on the bundled data.

    python benchmarks/quality.py --out runs/quality --iterations 250 500 1000 2000 4000
    python benchmarks/quality.py --from-run acgan_lib/assets/pretrained_generator   # tabulate a logged run
    python benchmarks/quality.py --time-to 0.9 0.98 --eval-every 250          # time to quality, this machine

Trains the reference recipe (seed 0, batch 100) with acgan_lib's Trainer and, at each listed
iteration count, scores the generator with the independent digit judge (100 samples per class):
class accuracy (overall, worst class), Fréchet distance over the real-vs-real floor, and the
lowest per-class diversity ratio, with the training wall time. A run trained with
``python -m acgan_lib train --eval-every-epoch`` can be tabulated without training
(``--from-run``; 50 samples per class, no diversity). Writes a JSON file and prints a table.

Time to quality (``--time-to A B ...``): trains from scratch, scoring every ``--eval-every``
iterations, until the judge's class accuracy reaches every threshold (or ``--max-iterations``),
then prints the wall-clock minutes and iterations to each, with this machine's CPU / device
named. With ``--from-run`` the same thresholds are read off a logged run instead.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def table(rows: list[dict]) -> str:
    """Markdown table; a run logged with a moving average of the generator gets its columns too."""
    with_ema = any("ema" in r for r in rows)
    head = "| iterations | train time (min) | class accuracy | worst class | Fréchet / floor | min diversity |"
    rule = "|---|---|---|---|---|---|"
    if with_ema:
        head += " averaged: accuracy | averaged: Fréchet / floor |"
        rule += "---|---|"
    lines = [head, rule]
    for r in rows:
        worst = min(r["class_accuracy_per_class"].values())
        div = r.get("diversity_ratio_per_class")
        line = (f"| {r['step']} | {r['train_seconds'] / 60:.1f} | {r['class_accuracy']:.3f} | {worst:.2f} | "
                f"{r['frechet_ratio']:.2f} | {f'{min(div.values()):.2f}' if div else '—'} |")
        if with_ema:
            e = r.get("ema")
            line += f" {e['class_accuracy']:.3f} | {e['frechet_ratio']:.2f} |" if e else " — | — |"
        lines.append(line)
    return "\n".join(lines)


def machine() -> str:
    """The CPU model and JAX's device, for quoting figures with the machine they came from."""
    import jax

    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
        cpu += " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else ""
    except (OSError, StopIteration):
        pass
    import os
    return f"{cpu}, {os.cpu_count()} cores; jax {jax.__version__} on {jax.devices()[0].device_kind}"


def time_to(rows: list[dict], thresholds: list[float]) -> dict[float, dict | None]:
    """For each accuracy threshold, the first scored row that reaches it (None: never reached)."""
    return {th: next((r for r in rows if r["class_accuracy"] >= th), None) for th in thresholds}


def format_time_to(reached: dict[float, dict | None], source: str) -> str:
    lines = [f"time to quality ({source}):"]
    for th, r in reached.items():
        lines.append(f"  class accuracy >= {th:.2f}: " + (
            f"{r['train_seconds'] / 60:.1f} min wall, {r['step']} iterations" if r else "not reached"))
    return "\n".join(lines)


def from_run(run: Path, every: int) -> list[dict]:
    from acgan_lib import trainer

    log = trainer.read_log(run)
    secs = dict(zip(log["step"].astype(int), log["train_seconds"]))
    rows = [json.loads(l) for l in (run / "evaluation.jsonl").read_text().splitlines() if l.strip()]
    out = []
    for r in rows:
        if r["epoch"] % every == 0 or r is rows[-1]:
            r["train_seconds"] = float(secs.get(r["step"], float("nan")))
            out.append(r)
    return out


def train_until(out: Path, thresholds: list[float], eval_every: int, max_iterations: int, per_class: int,
                seed: int) -> list[dict]:
    """Train from scratch, scoring every ``eval_every`` iterations, until every threshold is met."""
    from acgan_lib import data, evaluation, trainer

    ds = data.load_mnist("bundled")
    t = trainer.Trainer(trainer.TrainConfig(seed=seed, epochs=10 ** 6, log_every=50), ds, out)
    judge = evaluation.load_judge()
    ref = evaluation.reference_features(judge)
    rows: list[dict] = []
    while t.step < max_iterations:
        t.train(max_steps=t.step + eval_every, progress=False)
        r = evaluation.evaluate_generator(t.gen, judge, per_class=per_class, seed=0, reference=ref)
        r.update(step=t.step, train_seconds=t.train_seconds)
        rows.append(r)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
        if r["class_accuracy"] >= max(thresholds):
            break
    return rows


def train_and_measure(out: Path, milestones: list[int], per_class: int, seed: int) -> list[dict]:
    from acgan_lib import data, evaluation, trainer

    ds = data.load_mnist("bundled")
    cfg = trainer.TrainConfig(seed=seed, epochs=10 ** 6, log_every=50)
    t = trainer.Trainer(cfg, ds, out)
    judge = evaluation.load_judge()
    ref = evaluation.reference_features(judge)
    rows = []
    for m in sorted(milestones):
        t.train(max_steps=m, progress=False)
        r = evaluation.evaluate_generator(t.gen, judge, per_class=per_class, seed=0, reference=ref)
        r.update(step=t.step, train_seconds=t.train_seconds)
        rows.append(r)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/quality")
    ap.add_argument("--iterations", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from-run", default=None, help="tabulate a run trained with --eval-every-epoch")
    ap.add_argument("--every", type=int, default=5, help="with --from-run: every N-th epoch")
    ap.add_argument("--time-to", type=float, nargs="+", default=None, metavar="ACCURACY",
                    help="class-accuracy thresholds: report the wall time to reach each, e.g. 0.9 0.98")
    ap.add_argument("--eval-every", type=int, default=250, help="with --time-to: score every N iterations")
    ap.add_argument("--max-iterations", type=int, default=6000, help="with --time-to: give up after this many")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print("machine:", machine())
    if args.from_run:
        rows = from_run(Path(args.from_run), 1 if args.time_to else args.every)
    elif args.time_to:
        rows = train_until(Path(args.out), args.time_to, args.eval_every, args.max_iterations, args.per_class,
                           args.seed)
    else:
        rows = train_and_measure(Path(args.out), args.iterations, args.per_class, args.seed)
    if args.time_to:
        source = (f"logged run {args.from_run}; wall times as logged on the machine that trained it") if args.from_run else f"trained here, scored every {args.eval_every}"
        print(format_time_to(time_to(rows, args.time_to), source))
    else:
        print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
