"""Command line: ``python -m acgan_lib COMMAND [options]`` (``--help`` after a command lists its options).

Commands:

* ``train``        train an ACGAN, writing checkpoints, sample grids, ``losses.csv`` and
                   ``metadata.json`` to ``--out`` (``--resume`` continues a run);
* ``generate``     draw digits from a trained generator (a run, a checkpoint or ``pretrained``)
                   into a PNG grid or an ``.npz`` file;
* ``evaluate``     score a generator with the digit judge (class accuracy, Fréchet distance,
                   diversity) and write the numbers as JSON;
* ``export``       export a run's generator (optionally its moving average, its discriminator and
                   its logs) as standalone weights;
* ``info``         layer and parameter table of both networks;
* ``train-judge``  train the independent digit judge on real digits;
* ``demo``         serve a local web page (127.0.0.1 by default): pick a class, move z sliders, see the digit.

Exit codes: 0 success; 2 a problem with the input or the environment (bad option, missing or
damaged file, no space, no permission, a run directory in use), reported as one line
``error: ...`` on stderr naming the problem and the fix, with nothing half-written; 3 training
diverged (a loss became NaN/inf or exceeded ``trainer.DIVERGENCE_LIMIT``); 130 interrupted
(Ctrl-C / SIGTERM; a training run saves a checkpoint first).  Anything else is a bug and keeps
its Python traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import sys
import time
import warnings
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130
MAX_SEED = 2**31 - 1           # jax.random.key takes an int32 seed (= config.MAX_SEED)
MAX_LATENT_DIM = 10_000
MAX_PER_CLASS = 10_000


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def _number(parse, ok, rule: str):
    """An argparse type: ``parse`` the text, then require ``ok(value)`` (message: "must be <rule>")."""
    def convert(text: str):
        try:
            value = parse(text)
        except (ValueError, OverflowError):
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    return convert


_positive_int = _number(int, lambda v: v >= 1, ">= 1")
_seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"in 0..{MAX_SEED}")
_latent_dim = _number(int, lambda v: 1 <= v <= MAX_LATENT_DIM, f"in 1..{MAX_LATENT_DIM}")
_per_class = _number(int, lambda v: 1 <= v <= MAX_PER_CLASS, f"in 1..{MAX_PER_CLASS}")
_eval_per_class = _number(int, lambda v: 2 <= v <= MAX_PER_CLASS,
                          f"in 2..{MAX_PER_CLASS} (the metrics compare pairs of samples)")


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


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field marked for the CLI: its help, default and rule come from the field."""
    from . import config

    for f in dataclasses.fields(config.TrainConfig):
        if not f.metadata.get("cli"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", default=f.default, help=f.metadata["help"])
        elif "choices" in f.metadata:
            parser.add_argument(flag, choices=f.metadata["choices"], default=f.default, help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=config.cli_type(f), default=f.default, help=f.metadata["help"])


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option that has a default worth showing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpWithDefaults
    p = argparse.ArgumentParser(prog="python -m acgan_lib", description="ACGAN on MNIST (JAX / Flax NNX).",
                                epilog="exit codes: 0 ok, 2 bad input or environment, 3 training diverged, "
                                       "130 interrupted", formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an ACGAN, writing checkpoints, samples and logs to --out",
                       formatter_class=fmt)
    _add_config_options(t)
    t.add_argument("--max-steps", type=_positive_int, default=None,
                   help="stop after this many iterations in total (a checkpoint is saved); default: no limit")
    t.add_argument("--data", type=_data_source, default="auto",
                   help="auto (full MNIST if cached/downloadable, else bundled), bundled, full, or a directory")
    t.add_argument("--data-dir", default=None,
                   help="where full MNIST is cached; default: $ACGAN_DATA_DIR or ~/.cache/acgan_lib/mnist")
    t.add_argument("--out", type=_writable_dir, default="runs/acgan", help="run directory")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    t.add_argument("--eval-every-epoch", action="store_true",
                   help="score samples with the digit judge after every epoch (evaluation.jsonl)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    g = sub.add_parser("generate", help="draw digits from a trained generator", formatter_class=fmt)
    g.add_argument("--checkpoint", required=True, help="checkpoint, run directory, or 'pretrained'")
    g.add_argument("--labels", type=int, nargs="+", default=None, help="classes to draw; default: all")
    g.add_argument("--per-class", type=_per_class, default=1, help="samples per class")
    g.add_argument("--seed", type=_seed, default=0, help="random seed of the latent vectors")
    g.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npz (images, labels)")

    sub.add_parser("info", help="layer and parameter summary of both networks", formatter_class=fmt).add_argument(
        "--latent-dim", type=_latent_dim, default=100, help="length of the latent vector z")

    j = sub.add_parser("train-judge", help="train the independent digit judge on real digits", formatter_class=fmt)
    j.add_argument("--epochs", type=_positive_int, default=15, help="epochs of judge training")
    j.add_argument("--seed", type=_seed, default=0, help="random seed")
    j.add_argument("--data", type=_data_source, default="bundled",
                   help="bundled (hold out 100 per class) or full MNIST (train split; test split to score)")
    j.add_argument("--out", type=_writable_dir, required=True, help="where to save the judge")

    x = sub.add_parser("export", help="export a run's generator (and discriminator) as standalone weights",
                       formatter_class=fmt)
    x.add_argument("--checkpoint", required=True, help="run directory or checkpoint")
    x.add_argument("--generator-out", required=True, type=_writable_dir,
                   help="new directory for the generator (outside the run; replaced as a whole if it "
                        "holds an earlier export)")
    x.add_argument("--discriminator-out", default=None, type=_writable_dir,
                   help="new directory for the discriminator; default: not exported")
    x.add_argument("--ema", action="store_true",
                   help="export the generator's moving average (a run trained with --ema-decay)")
    x.add_argument("--with-logs", action="store_true",
                   help="also copy the run's losses.csv, evaluation.jsonl and a few sample grids, "
                        "and write PROVENANCE.md")

    e = sub.add_parser("evaluate", help="score a generator with the digit judge", formatter_class=fmt)
    e.add_argument("--checkpoint", required=True, help="checkpoint, run directory, or 'pretrained'")
    e.add_argument("--per-class", type=_eval_per_class, default=100, help="generated digits per class")
    e.add_argument("--seed", type=_seed, default=0, help="random seed of the latent vectors")
    e.add_argument("--json", default=None,
                   help="write the metrics here; default: <checkpoint>/evaluation.json, or ./evaluation.json "
                        "for the installed package's checkpoints (e.g. pretrained), which are never written to")

    d = sub.add_parser("demo", help="serve a local web page: pick a class, move z sliders, see the digit",
                       formatter_class=fmt)
    d.add_argument("--checkpoint", default="pretrained", help="checkpoint, run directory, or 'pretrained'")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)")
    d.add_argument("--port", type=_number(int, lambda v: 0 <= v <= 65535, "in 0..65535"), default=8000,
                   help="TCP port (0: any free port)")
    return p


def cmd_demo(args) -> int:
    from . import demo
    return demo.serve(args.checkpoint, args.host, args.port)


def _resolve_checkpoint(text: str) -> Path:
    from . import pretrained
    return pretrained.GENERATOR_DIR if text == "pretrained" else Path(text)


def _inside(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or lies under it (both resolved)."""
    path, root = Path(path).expanduser().resolve(), Path(root).expanduser().resolve()
    return path == root or root in path.parents


# ----------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    from . import checkpoint, data, files, trainer

    names = [f.name for f in dataclasses.fields(trainer.TrainConfig) if f.metadata.get("cli")]
    cfg = trainer.TrainConfig(**{n: getattr(args, n) for n in names})
    out = Path(args.out)
    if not args.resume and (out / "checkpoints").is_dir() and checkpoint.complete_checkpoints(out / "checkpoints"):
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    ds = data.load_mnist(args.data, data_dir=args.data_dir)
    try:
        tr = trainer.Trainer(cfg, ds, out)
    except ValueError as e:            # settings that do not fit the data (e.g. batch > data set)
        raise UserError(str(e)) from None
    tr.command = "python -m acgan_lib " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else ""
    with files.RunLock(out):
        if args.resume:
            try:
                tr.restore()
            except checkpoint.CheckpointError as e:
                raise UserError(f"cannot resume: {e}") from None
        on_log = _epoch_evaluator(tr) if args.eval_every_epoch else None
        t0 = time.perf_counter()
        try:
            tr.train(max_steps=args.max_steps, progress=not args.no_progress, on_log=on_log)
        except trainer.Interrupted as e:
            print(str(e), file=sys.stderr)
            return EXIT_INTERRUPTED
        except trainer.TrainingDiverged as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_DIVERGED
    print(f"trained to step {tr.step} in {time.perf_counter() - t0:.1f} s; outputs in {out}")
    _grey_grid_hint(tr)
    return EXIT_OK


def _grey_grid_hint(tr) -> None:
    """Say so when the last sample grid is still grey squares: expected early in training."""
    from . import trainer

    std = float(tr.sample_grid().std())
    if std < trainer.GREY_GRID_STD:
        print(f"note: the sample grid is still grey (pixel standard deviation {std:.2f}, digits give about "
              f"0.6). That is expected early in training: in the shipped run the judge recognised a "
              f"quarter of the digits at iteration 500 and 98% at iteration 2,000 "
              f"(acgan_lib/assets/pretrained_generator/PROVENANCE.md). Train longer with --resume.")


def _epoch_evaluator(tr):
    """An on_log callback that scores the generator with the judge at every epoch end."""
    from . import evaluation

    judge = evaluation.load_judge()
    reference = evaluation.reference_features(judge)

    def on_log(rows):
        if tr.step % tr.steps_per_epoch:
            return
        res = evaluation.evaluate_generator(tr.gen, judge, per_class=50, seed=0, reference=reference,
                                            with_diversity=False)
        res.update(step=tr.step, epoch=tr.step // tr.steps_per_epoch)
        if tr.gen_ema is not None:
            res["ema"] = evaluation.evaluate_generator(tr.gen_ema, judge, per_class=50, seed=0,
                                                       reference=reference, with_diversity=False)
        with open(tr.out / "evaluation.jsonl", "a") as f:   # a log: one line appended per epoch
            f.write(json.dumps(res) + "\n")

    return on_log


# ----------------------------------------------------------------------------- generate / evaluate / info
def _labels_for(args, num_classes: int):
    import numpy as np

    labels = list(range(num_classes)) if args.labels is None else args.labels
    bad = [l for l in labels if not 0 <= l < num_classes]
    if bad:
        raise UserError(f"--labels must be in 0..{num_classes - 1}, got {bad}")
    return np.repeat(np.array(labels, np.int32), args.per_class)


def cmd_generate(args) -> int:
    import jax
    import numpy as np

    from . import checkpoint, files, models, plotting

    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        raise UserError(f"--out must end in .png or .npz, got {out}")
    gen = checkpoint.load_generator(_resolve_checkpoint(args.checkpoint))
    labels = _labels_for(args, gen.num_classes)
    images = models.generate(gen, labels, key=jax.random.key(args.seed))
    if out.suffix == ".npz":
        with files.atomic_write(out, "wb") as f:
            np.savez(f, images=images.astype(np.float32), labels=labels)
    else:
        # one column per requested class, per_class rows
        n_labels = len(labels) // args.per_class
        grid = images.reshape(n_labels, args.per_class, *images.shape[1:]).swapaxes(0, 1).reshape(images.shape)
        plotting.save_png(plotting.tile(grid, n_labels), out)
    print(f"wrote {len(labels)} digits to {out}")
    return EXIT_OK


def cmd_info(args) -> int:
    from flax import nnx

    from . import conv_transpose, models

    # abstract networks (shapes only): no random weights are drawn, nothing is compiled
    gen = nnx.eval_shape(lambda: models.Generator(args.latent_dim, rngs=nnx.Rngs(0)))
    disc = nnx.eval_shape(lambda: models.Discriminator(rngs=nnx.Rngs(1)))
    print(models.format_summary(gen, disc))
    total = models.count_params(gen) + models.count_params(disc)
    stats = models.count_params(gen, nnx.BatchStat)
    print(f"combined: {total:,} trainable + {stats:,} batch-norm statistics = {total + stats:,} parameters")
    print(f"transposed convolution implementation on this backend: {conv_transpose.default_conv_impl()}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from . import checkpoint, evaluation, files

    path = _resolve_checkpoint(args.checkpoint)
    gen = checkpoint.load_generator(path)
    package = Path(__file__).resolve().parent
    ckpt = checkpoint.resolve(path)
    if args.json:
        target = Path(args.json)
    elif _inside(ckpt, package):     # never write into the installed package
        target = Path.cwd() / "evaluation.json"
    else:
        target = ckpt / "evaluation.json"
    if _inside(target, package):
        raise UserError(f"--json {target} lies inside the installed acgan_lib package; write it elsewhere")
    res = evaluation.evaluate_generator(gen, per_class=args.per_class, seed=args.seed)
    print(evaluation.format_report(res))
    files.write_json_atomic(target, res)
    print(f"wrote {target}")
    return EXIT_OK


# ----------------------------------------------------------------------------- export
def _run_root(ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to (RUN for RUN/checkpoints/ckpt-N)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def _check_export_target(target: Path, run: Path, what: str) -> None:
    """Refuse to export into (or over) the run itself, or over a directory that is not an export."""
    if _inside(target, run) or _inside(run, target):
        raise UserError(f"{what} {target} is inside the run {run} (or contains it); exporting there would "
                        f"overwrite the run's checkpoints or logs. Choose a directory outside the run")
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / "ckpt-00000000").is_dir())):
        raise UserError(f"{what} {target} exists and is not an earlier export; choose a new or empty directory")


def cmd_export(args) -> int:
    from flax import nnx

    from . import checkpoint, files, models

    ckpt = checkpoint.resolve(args.checkpoint)
    run = _run_root(ckpt)
    gen_out = Path(args.generator_out)
    _check_export_target(gen_out, run, "--generator-out")
    if args.discriminator_out:
        _check_export_target(Path(args.discriminator_out), run, "--discriminator-out")
        if _inside(Path(args.discriminator_out), gen_out) or _inside(gen_out, Path(args.discriminator_out)):
            raise UserError("--generator-out and --discriminator-out must be separate directories")
    meta = checkpoint.read_meta(ckpt)
    num_classes = checkpoint.config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt)
    gen = models.Generator(checkpoint.config_value(meta, "latent_dim", int, models.LATENT_DIM, ckpt), num_classes,
                           rngs=nnx.Rngs(0))
    disc = models.Discriminator(num_classes, rngs=nnx.Rngs(0))
    if args.ema and "generator_ema" not in meta.get("objects", []):
        raise UserError(f"{ckpt} has no moving average of the generator; train (or resume) with "
                        f"--ema-decay 0.999 to keep one, or export without --ema")
    checkpoint.load(ckpt, {"generator_ema" if args.ema else "generator": gen, "discriminator": disc})
    prov = {k: meta.get(k) for k in ("command", "step", "epoch", "data_source", "train_seconds", "config")}
    prov["source_checkpoint"] = str(ckpt)
    prov["weights"] = (f"moving average of the generator (ema_decay={meta['config'].get('ema_decay')})"
                       if args.ema else "the generator as trained")
    with files.atomic_directory(gen_out) as tmp:     # the export appears as a whole, or not at all
        checkpoint.save_generator(tmp, gen, prov)
        if args.with_logs:
            _copy_run_logs(run, tmp, gen_out, prov, args.ema)
    print(f"generator (step {meta['step']}) -> {gen_out}")
    if args.discriminator_out:
        with files.atomic_directory(Path(args.discriminator_out)) as tmp:
            checkpoint.save(tmp, 0, {"discriminator": disc},
                            {"config": {"num_classes": num_classes}, "provenance": prov}, keep=None)
        print(f"discriminator -> {args.discriminator_out}")
    return EXIT_OK


def _copy_run_logs(run: Path, dest: Path, final_dest: Path, prov: dict, ema: bool = False) -> None:
    """Copy the loss log, evaluations and a few sample grids of ``run`` into ``dest`` (the export being built)."""
    import jax

    from . import files

    for name in ("losses.csv", "evaluation.jsonl", "metadata.json"):
        if (run / name).exists():
            files.copy_file(run / name, dest / name)
    shots = sorted((run / "samples").glob("epoch_*.png"))
    if shots:
        last = int(shots[-1].stem.split("_")[1])
        keep = {e for e in (1, 2, 5, 10, 20, 40, last) if e <= last}
        for p in shots:
            if int(p.stem.split("_")[1]) in keep:
                files.copy_file(p, dest / "samples" / p.name)
    minutes = (prov.get("train_seconds") or 0) / 60
    lines = ["# Pretrained ACGAN generator", "",
             "## Provenance", "",
             f"- command: `{prov.get('command') or 'unknown'}`",
             f"- data: {prov.get('data_source')}",
             f"- seed: {prov.get('config', {}).get('seed')}; iterations: {prov.get('step')} "
             f"(epoch {prov.get('epoch')}); batch {prov.get('config', {}).get('batch_size')}",
             f"- training wall time: {minutes:.1f} minutes (2-core CPU, JAX {jax.__version__})",
             f"- weights: {prov.get('weights', 'the generator as trained')}",
             f"- exported with: `python -m acgan_lib export --checkpoint {run} --generator-out {final_dest} "
             f"{'--ema ' if ema else ''}--with-logs`",
             "", "Files: `ckpt-00000000/` (weights, load with `acgan_lib.checkpoint.load_generator`), "
             "`losses.csv` (one row per iteration), `evaluation.jsonl` (the digit judge's scores after "
             "every epoch), `samples/` (grids at a few epochs: columns = classes, rows = shared z).", ""]
    evals = dest / "evaluation.jsonl"
    if evals.exists():
        rows = []
        for line in evals.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:    # a torn last line of a crashed run
                continue
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
    files.write_text_atomic(dest / "PROVENANCE.md", "\n".join(lines))


def cmd_train_judge(args) -> int:
    from . import judge

    cmd = "python -m acgan_lib train-judge " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["train-judge"] else ""
    prov = judge.train_and_save_judge(args.out, epochs=args.epochs, seed=args.seed, command=cmd, source=args.data)
    print(f"judge held-out accuracy {prov['heldout_accuracy']:.4f} ({prov['heldout_examples']} digits); saved to {args.out}")
    return EXIT_OK


# ----------------------------------------------------------------------------- error boundary
_OS_FIXES = {
    errno.ENOSPC: "the disk is full; free some space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another location",
    errno.EACCES: "permission denied; choose a location you can write to",
    errno.EPERM: "operation not permitted; choose a location you can write to",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.EISDIR: "that is a directory; give a file name",
    errno.ENOTDIR: "a part of that path is a file, not a directory; choose another path",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EEXIST: "it already exists; choose another path",
}


def _os_error_line(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    fix = _OS_FIXES.get(e.errno, e.strerror or type(e).__name__)
    return f"error: {where}: {fix}" if where else f"error: {e.strerror or e}: {fix}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Run one command; user-caused errors become one ``error:`` line and exit code 2 (see the module doc)."""
    args = build_parser().parse_args(argv)
    from . import checkpoint, compile_cache, data, files

    compile_cache.enable()   # as the notebooks do: compiled programs kept on disk (ACGAN_JAX_CACHE=off: not)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {_one_line(message)}", file=sys.stderr)

    warnings.showwarning = show_warning
    command = {"train": cmd_train, "generate": cmd_generate, "info": cmd_info, "evaluate": cmd_evaluate,
               "train-judge": cmd_train_judge, "export": cmd_export, "demo": cmd_demo}[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        print(f"interrupted before {args.command} finished; nothing was half-written (every file is "
              f"written atomically){'; a training run can be continued with --resume' if args.command == 'train' else ''}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, checkpoint.CheckpointError, data.DataError, data.DownloadError, files.RunLocked) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(_os_error_line(e), file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: not enough memory for this request; use smaller numbers (e.g. --per-class, --batch-size)",
              file=sys.stderr)
        return EXIT_USAGE
