"""Command line: ``python -m acgan_lib {train,generate,info,evaluate}``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path


def _number(parse, ok, rule: str):
    """An argparse type: ``parse`` the text, then require ``ok(value)`` (message: "must be <rule>")."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    return convert


_positive_int = _number(int, lambda v: v >= 1, ">= 1")
_non_negative_int = _number(int, lambda v: v >= 0, ">= 0")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive finite number")
_unit_float = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")
_soft_one = _number(float, lambda v: 0 < v <= 1, "in (0, 1]")


def _data_source(text: str) -> str:
    if text in ("auto", "bundled", "full") or Path(text).expanduser().is_dir():
        return text
    raise argparse.ArgumentTypeError(f"must be auto, bundled, full or an existing directory, got {text!r}")


def _writable_dir(text: str) -> str:
    """An output directory that exists and is writable, or can be created (checked, not created)."""
    path = Path(text).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise argparse.ArgumentTypeError(f"{probe} is a file, not a directory")
    try:  # a real probe: permission bits say little for root or read-only file systems
        import tempfile
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot write to {probe} ({e.strerror or e})") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    from . import models, training

    p = argparse.ArgumentParser(prog="python -m acgan_lib", description="ACGAN on MNIST (JAX / Flax NNX).")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an ACGAN, writing checkpoints, samples and logs to --out")
    t.add_argument("--epochs", type=_positive_int, default=100, help="epochs to train to (default 100)")
    t.add_argument("--max-steps", type=_positive_int, default=None,
                   help="stop after this many iterations in total (a checkpoint is saved)")
    t.add_argument("--batch-size", type=_positive_int, default=training.BATCH_SIZE)
    t.add_argument("--latent-dim", type=_positive_int, default=models.LATENT_DIM)
    t.add_argument("--lr", type=_positive_float, default=training.LEARNING_RATE)
    t.add_argument("--beta1", type=_unit_float, default=training.ADAM_BETA1)
    t.add_argument("--soft-one", type=_soft_one, default=training.SOFT_ONE)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data", type=_data_source, default="auto",
                   help="auto (full MNIST if cached/downloadable, else bundled), bundled, full, or a directory")
    t.add_argument("--data-dir", default=None, help="where full MNIST is cached (default $ACGAN_DATA_DIR or ~/.cache)")
    t.add_argument("--out", type=_writable_dir, default="runs/acgan", help="run directory")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    t.add_argument("--log-every", type=_positive_int, default=10, help="fetch metrics every N iterations")
    t.add_argument("--explicit-gradients", action="store_true",
                   help="compute each loss's gradient separately and add them (same update, slower)")
    t.add_argument("--ema-decay", type=_unit_float, default=0.0,
                   help="also keep a moving average of the generator with this decay, e.g. 0.999 "
                        "(0 = off; training is unchanged either way); export it with export --ema")
    t.add_argument("--devices", type=_non_negative_int, default=0,
                   help="split each batch over this many devices (data parallel; the batch size must be a "
                        "multiple); 0 = all local GPUs/TPUs, 1 on CPU (default 0)")
    t.add_argument("--eval-every-epoch", action="store_true",
                   help="score samples with the digit judge after every epoch (evaluation.jsonl)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    g = sub.add_parser("generate", help="draw digits from a trained generator")
    g.add_argument("--checkpoint", required=True, help="checkpoint, run directory, or 'pretrained'")
    g.add_argument("--labels", type=int, nargs="+", default=None, help="classes to draw (default: all)")
    g.add_argument("--per-class", type=_positive_int, default=1, help="samples per class (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npz (images, labels)")

    sub.add_parser("info", help="layer and parameter summary of both networks").add_argument(
        "--latent-dim", type=_positive_int, default=models.LATENT_DIM)

    j = sub.add_parser("train-judge", help="train the independent digit judge on real digits")
    j.add_argument("--epochs", type=_positive_int, default=15)
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--data", type=_data_source, default="bundled",
                   help="bundled (hold out 100 per class) or full MNIST (train split; test split to score)")
    j.add_argument("--out", type=_writable_dir, required=True)

    x = sub.add_parser("export", help="export a run's generator (and discriminator) as standalone weights")
    x.add_argument("--checkpoint", required=True, help="run directory or checkpoint")
    x.add_argument("--generator-out", required=True, type=_writable_dir)
    x.add_argument("--discriminator-out", default=None, type=_writable_dir)
    x.add_argument("--ema", action="store_true",
                   help="export the generator's moving average (a run trained with --ema-decay)")
    x.add_argument("--with-logs", action="store_true",
                   help="also copy the run's losses.csv, evaluation.jsonl and a few sample grids, "
                        "and write PROVENANCE.md")

    e = sub.add_parser("evaluate", help="score a generator with the digit judge")
    e.add_argument("--checkpoint", required=True, help="checkpoint, run directory, or 'pretrained'")
    e.add_argument("--per-class", type=_positive_int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", default=None, help="write the metrics here (default: <checkpoint>/evaluation.json)")
    d = sub.add_parser("demo", help="serve a local web page: pick a class, move z sliders, see the digit")
    d.add_argument("--checkpoint", default="pretrained", help="checkpoint, run directory, or 'pretrained'")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    d.add_argument("--port", type=_number(int, lambda v: 0 <= v <= 65535, "in 0..65535"), default=8000)
    return p


def cmd_demo(args) -> int:
    from . import demo
    return demo.serve(args.checkpoint, args.host, args.port)


def _resolve_checkpoint(text: str) -> Path:
    from . import pretrained
    return pretrained.GENERATOR_DIR if text == "pretrained" else Path(text)


def cmd_train(args) -> int:
    from . import checkpoint, data, trainer

    cfg = trainer.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, latent_dim=args.latent_dim,
                              lr=args.lr, beta1=args.beta1, soft_one=args.soft_one, seed=args.seed,
                              log_every=args.log_every, explicit_gradients=args.explicit_gradients,
                              ema_decay=args.ema_decay, devices=args.devices)
    out = Path(args.out)
    if not args.resume and (out / "checkpoints").is_dir() and checkpoint.complete_checkpoints(out / "checkpoints"):
        print(f"error: {out} already holds a run; pass --resume to continue it or choose another --out",
              file=sys.stderr)
        return 2
    ds = data.load_mnist(args.data, data_dir=args.data_dir)
    tr = trainer.Trainer(cfg, ds, out)
    tr.command = "python -m acgan_lib " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else ""
    if args.resume:
        try:
            tr.restore()
        except checkpoint.CheckpointError as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
    on_log = None
    if args.eval_every_epoch:
        on_log = _epoch_evaluator(tr)
    t0 = time.perf_counter()
    try:
        tr.train(max_steps=args.max_steps, progress=not args.no_progress, on_log=on_log)
    except trainer.Interrupted as e:
        print(str(e), file=sys.stderr)
        return 130
    except trainer.TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    print(f"trained to step {tr.step} in {time.perf_counter() - t0:.1f} s; outputs in {out}")
    return 0


def _epoch_evaluator(tr):
    """An on_log callback that scores the generator with the judge at every epoch end."""
    from . import evaluation

    judge = evaluation.load_judge()
    reference = evaluation.reference_features(judge)

    def on_log(rows):
        if tr.step % tr.steps_per_epoch:
            return
        tr._sync_modules()
        res = evaluation.evaluate_generator(tr.gen, judge, per_class=50, seed=0, reference=reference,
                                            with_diversity=False)
        res.update(step=tr.step, epoch=tr.step // tr.steps_per_epoch)
        if tr.gen_ema is not None:
            res["ema"] = evaluation.evaluate_generator(tr.gen_ema, judge, per_class=50, seed=0,
                                                       reference=reference, with_diversity=False)
        with open(tr.out / "evaluation.jsonl", "a") as f:
            f.write(json.dumps(res) + "\n")

    return on_log


def _labels_for(args, num_classes: int):
    import numpy as np

    labels = list(range(num_classes)) if args.labels is None else args.labels
    bad = [l for l in labels if not 0 <= l < num_classes]
    if bad:
        raise ValueError(f"--labels must be in 0..{num_classes - 1}, got {bad}")
    return np.repeat(np.array(labels, np.int32), args.per_class)


def cmd_generate(args) -> int:
    import jax
    import numpy as np

    from . import checkpoint, plotting, trainer

    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        print(f"error: --out must end in .png or .npz, got {out}", file=sys.stderr)
        return 2
    try:
        gen = checkpoint.load_generator(_resolve_checkpoint(args.checkpoint))
        labels = _labels_for(args, gen.num_classes)
    except (checkpoint.CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    images = trainer.generate(gen, labels, key=jax.random.key(args.seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        tmp = out.with_name(f".{out.name}.tmp.npz")
        np.savez(tmp, images=images.astype(np.float32), labels=labels)
        os.replace(tmp, out)
    else:
        # one column per requested class, per_class rows
        n_labels = len(labels) // args.per_class
        grid = images.reshape(n_labels, args.per_class, 28, 28, 1).transpose(1, 0, 2, 3, 4).reshape(-1, 28, 28, 1)
        plotting.save_png(plotting.tile(grid, n_labels), out)
    print(f"wrote {len(labels)} digits to {out}")
    return 0


def cmd_info(args) -> int:
    from flax import nnx

    from . import models

    gen = models.Generator(args.latent_dim, rngs=nnx.Rngs(0))
    disc = models.Discriminator(rngs=nnx.Rngs(1))
    print(models.format_summary(gen, disc))
    total = models.count_params(gen) + models.count_params(disc)
    stats = models.count_params(gen, nnx.BatchStat)
    print(f"combined: {total:,} trainable + {stats:,} batch-norm statistics = {total + stats:,} parameters")
    print(f"transposed convolution implementation on this backend: {models.default_conv_impl()}")
    return 0


def cmd_evaluate(args) -> int:
    from . import checkpoint, evaluation

    path = _resolve_checkpoint(args.checkpoint)
    try:
        gen = checkpoint.load_generator(path)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    judge = evaluation.load_judge()
    res = evaluation.evaluate_generator(gen, judge, per_class=args.per_class, seed=args.seed)
    print(evaluation.format_report(res))
    target = Path(args.json) if args.json else checkpoint.resolve(path) / "evaluation.json"
    try:
        checkpoint.write_json_atomic(target, res)
        print(f"wrote {target}")
    except OSError as e:
        print(f"warning: could not write {target}: {e}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from flax import nnx

    from . import checkpoint, models

    try:
        meta = checkpoint.read_meta(args.checkpoint)
        cfg = meta["config"]
        gen = models.Generator(cfg["latent_dim"], cfg["num_classes"], rngs=nnx.Rngs(0))
        disc = models.Discriminator(cfg["num_classes"], rngs=nnx.Rngs(0))
        if args.ema and "generator_ema" not in meta.get("objects", []):
            raise checkpoint.CheckpointError(
                f"{checkpoint.resolve(args.checkpoint)} has no moving average of the generator; "
                f"train (or resume) with --ema-decay 0.999 to keep one, or export without --ema")
        checkpoint.load(args.checkpoint, {"generator_ema" if args.ema else "generator": gen,
                                          "discriminator": disc})
    except (checkpoint.CheckpointError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    prov = {k: meta.get(k) for k in ("command", "step", "epoch", "data_source", "train_seconds", "config")}
    prov["source_checkpoint"] = str(checkpoint.resolve(args.checkpoint))
    prov["weights"] = (f"moving average of the generator (ema_decay={meta['config'].get('ema_decay')})"
                       if args.ema else "the generator as trained")
    checkpoint.save_generator(args.generator_out, gen, prov)
    print(f"generator (step {meta['step']}) -> {args.generator_out}")
    if args.with_logs:
        _copy_run_logs(Path(args.checkpoint), Path(args.generator_out), prov, args.ema)
    if args.discriminator_out:
        checkpoint.save(args.discriminator_out, 0, {"discriminator": disc},
                        {"config": {"num_classes": cfg["num_classes"]}, "provenance": prov}, keep=None)
        print(f"discriminator -> {args.discriminator_out}")
    return 0


def _copy_run_logs(run: Path, dest: Path, prov: dict, ema: bool = False) -> None:
    """Copy the loss log, evaluations and a few sample grids of ``run`` next to exported weights."""
    import shutil

    for name in ("losses.csv", "evaluation.jsonl", "metadata.json"):
        if (run / name).exists():
            shutil.copy2(run / name, dest / name)
    shots = sorted((run / "samples").glob("epoch_*.png"))
    if shots:
        last = int(shots[-1].stem.split("_")[1])
        keep = {e for e in (1, 2, 5, 10, 20, 40, last) if e <= last}
        (dest / "samples").mkdir(exist_ok=True)
        for old in (dest / "samples").glob("*.png"):
            old.unlink()
        for p in shots:
            if int(p.stem.split("_")[1]) in keep:
                shutil.copy2(p, dest / "samples" / p.name)
    minutes = (prov.get("train_seconds") or 0) / 60
    lines = ["# Pretrained ACGAN generator", "",
             "## Provenance", "",
             f"- command: `{prov.get('command') or 'unknown'}`",
             f"- data: {prov.get('data_source')}",
             f"- seed: {prov.get('config', {}).get('seed')}; iterations: {prov.get('step')} "
             f"(epoch {prov.get('epoch')}); batch {prov.get('config', {}).get('batch_size')}",
             f"- training wall time: {minutes:.1f} minutes (2-core CPU, JAX {__import__('jax').__version__})",
             f"- weights: {prov.get('weights', 'the generator as trained')}",
             f"- exported with: `python -m acgan_lib export --checkpoint {run} --generator-out {dest} "
             f"{'--ema ' if ema else ''}--with-logs`",
             "", "Files: `ckpt-00000000/` (weights, load with `acgan_lib.checkpoint.load_generator`), "
             "`losses.csv` (one row per iteration), `evaluation.jsonl` (the digit judge's scores after "
             "every epoch), `samples/` (grids at a few epochs: columns = classes, rows = shared z).", ""]
    evals = dest / "evaluation.jsonl"
    if evals.exists():
        rows = [json.loads(l) for l in evals.read_text().splitlines() if l.strip()]
        if rows:
            lines += ["## Quality during training (judge, 50 samples per class)", "",
                      "| epoch | iteration | class accuracy | Fréchet / real floor | moving average: accuracy | Fréchet / floor |",
                      "|---|---|---|---|---|---|"]
            for r in rows:
                if r["epoch"] in (1, 2, 5, 10, 20, 40) or r["epoch"] % 20 == 0 or r is rows[-1]:
                    e = r.get("ema")
                    avg = f"{e['class_accuracy']:.3f} | {e['frechet_ratio']:.2f}" if e else "— | —"
                    lines.append(f"| {r['epoch']} | {r['step']} | {r['class_accuracy']:.3f} | "
                                 f"{r['frechet_ratio']:.2f} | {avg} |")
            lines.append("")
    (dest / "PROVENANCE.md").write_text("\n".join(lines))


def cmd_train_judge(args) -> int:
    from . import evaluation

    cmd = "python -m acgan_lib train-judge " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["train-judge"] else ""
    prov = evaluation.train_and_save_judge(args.out, epochs=args.epochs, seed=args.seed, command=cmd,
                                             source=args.data)
    print(f"judge held-out accuracy {prov['heldout_accuracy']:.4f} ({prov['heldout_examples']} digits); saved to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return {"train": cmd_train, "generate": cmd_generate, "info": cmd_info, "evaluate": cmd_evaluate,
            "train-judge": cmd_train_judge, "export": cmd_export, "demo": cmd_demo}[args.command](args)
