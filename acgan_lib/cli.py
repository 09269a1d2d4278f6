"""Command line: ``python -m acgan_lib COMMAND [options]`` (``--help`` after a command lists its options;
``--version`` prints the library's).  Help, the version and argument errors answer before JAX is imported.

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
diverged (a loss became NaN/inf or exceeded ``trainer.DIVERGENCE_LIMIT``); 130 interrupted by
Ctrl-C or SIGTERM, in every command including ``demo`` (a training run saves a checkpoint first,
unless no step has finished yet; see :mod:`acgan_lib.interrupts`).  Anything else is a bug and
keeps its Python traceback.

Where commands write: never inside the installed package (its shipped weights, judge and data
are read-only; see :func:`acgan_lib.files.check_output`) and never inside a run's
``checkpoints/``.  ``~`` in a path means the home folder, quoted or not.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import sys
import time
import warnings
from pathlib import Path

from . import __version__
from .argtypes import number_arg
from .config import MAX_LATENT_DIM, MAX_SEED   # (config imports no JAX: --help and argument errors stay fast)
from .files import EXPORT_MARKER

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130   # = interrupts.EXIT_INTERRUPTED
MAX_PER_CLASS = 10_000
MAX_PNG_PER_CLASS = 100         # rows of a PNG grid; more digits go to an .npz file


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


_number = number_arg   # the one argparse number converter (TrainConfig fields use it too)


_positive_int = _number(int, lambda v: v >= 1, ">= 1")
_seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"in 0..{MAX_SEED}")
_latent_dim = _number(int, lambda v: 1 <= v <= MAX_LATENT_DIM, f"in 1..{MAX_LATENT_DIM}")
_per_class = _number(int, lambda v: 1 <= v <= MAX_PER_CLASS, f"in 1..{MAX_PER_CLASS}")
_eval_per_class = _number(int, lambda v: 2 <= v <= MAX_PER_CLASS,
                          f"in 2..{MAX_PER_CLASS} (the metrics compare pairs of samples)")


def _path(text: str) -> str:
    """A path option: ``~`` means the home folder even when the shell did not expand it (quoted)."""
    return os.path.expanduser(text)


def _checkpoint_path(text: str) -> str:
    return text if text == "pretrained" else _path(text)


def _data_source(text: str) -> str:
    if text in ("auto", "bundled", "full"):
        return text
    if Path(_path(text)).is_dir():
        return _path(text)
    raise argparse.ArgumentTypeError(f"must be auto, bundled, full or an existing directory, got {text!r}")


def _writable_dir(text: str) -> str:
    """An output directory that exists and is writable, or can be created (checked, not created)."""
    path = Path(_path(text))
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
    return str(path)


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
                                       "130 interrupted (Ctrl-C or SIGTERM)", formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"acgan_lib {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an ACGAN, writing checkpoints, samples and logs to --out",
                       formatter_class=fmt)
    _add_config_options(t)
    t.add_argument("--max-steps", type=_positive_int, default=None,
                   help="stop after this many iterations in total (a checkpoint is saved); default: no limit")
    t.add_argument("--data", type=_data_source, default="auto",
                   help="auto (full MNIST if cached/downloadable, else bundled), bundled, full, or a directory")
    t.add_argument("--data-dir", type=_path, default=None,
                   help="where full MNIST is cached; default: $ACGAN_DATA_DIR or ~/.cache/acgan_lib/mnist")
    t.add_argument("--out", type=_writable_dir, default="runs/acgan", help="run directory")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    t.add_argument("--eval-every-epoch", action="store_true",
                   help="score samples with the digit judge after every epoch (evaluation.jsonl)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    g = sub.add_parser("generate", help="draw digits from a trained generator", formatter_class=fmt)
    g.add_argument("--checkpoint", type=_checkpoint_path, required=True,
                   help="checkpoint, run directory, or 'pretrained'")
    g.add_argument("--labels", type=int, nargs="+", default=None, help="classes to draw; default: all")
    g.add_argument("--per-class", type=_per_class, default=1, help="samples per class")
    g.add_argument("--seed", type=_seed, default=0, help="random seed of the latent vectors")
    g.add_argument("--out", type=_path, required=True,
                   help=f"FILE.png (a grid, at most {MAX_PNG_PER_CLASS} per class) or FILE.npz (images, labels)")

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
    x.add_argument("--checkpoint", type=_checkpoint_path, required=True,
                   help="run directory, checkpoint, or 'pretrained'")
    x.add_argument("--generator-out", required=True, type=_writable_dir,
                   help="new directory for the generator (outside the run; replaced as a whole if it "
                        f"holds an earlier export, i.e. has the {EXPORT_MARKER} an export writes)")
    x.add_argument("--discriminator-out", default=None, type=_writable_dir,
                   help="new directory for the discriminator; default: not exported")
    x.add_argument("--ema", action="store_true",
                   help="export the generator's moving average (a run trained with --ema-decay)")
    x.add_argument("--with-logs", action="store_true",
                   help="also copy the run's losses.csv, evaluation.jsonl and a few sample grids, "
                        "and write PROVENANCE.md")

    e = sub.add_parser("evaluate", help="score a generator with the digit judge", formatter_class=fmt)
    e.add_argument("--checkpoint", type=_checkpoint_path, required=True,
                   help="checkpoint, run directory, or 'pretrained'")
    e.add_argument("--per-class", type=_eval_per_class, default=100, help="generated digits per class")
    e.add_argument("--seed", type=_seed, default=0, help="random seed of the latent vectors")
    e.add_argument("--json", type=_path, default=None,
                   help="write the metrics here; default: RUN/evaluation-ckpt-N.json for a run's checkpoint "
                        "(outside checkpoints/, so it outlives the checkpoint), EXPORT/evaluation.json for an "
                        "export, or ./evaluation.json for the installed package's checkpoints (e.g. "
                        "pretrained), which are never written to")

    d = sub.add_parser("demo", help="serve a local web page: pick a class, move z sliders, see the digit",
                       formatter_class=fmt)
    d.add_argument("--checkpoint", type=_checkpoint_path, default="pretrained",
                   help="checkpoint, run directory, or 'pretrained'")
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


def _load_generator(path: Path):
    """(generator in inference mode, its checkpoint's meta, the checkpoint dir); for a run, a damaged
    newest checkpoint is skipped for the newest valid one (a warning line on stderr)."""
    from flax import nnx

    from . import checkpoint, models

    made = {}

    def build(meta, ckpt):
        made["generator"] = models.Generator(
            checkpoint.config_value(meta, "latent_dim", int, models.LATENT_DIM, ckpt),
            checkpoint.config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt), rngs=nnx.Rngs(0))
        return made

    meta, ckpt = checkpoint.load_newest_valid(path, build, log=_warn, verb="using")
    made["generator"].eval()
    return made["generator"], meta, ckpt


def _warn(message: str) -> None:
    print(message if message.startswith(("warning:", "note:")) else f"warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------- train
def _check_run_dir(out: Path) -> None:
    """``train --out``: not in the package, not inside checkpoints, not an export or a bare checkpoints folder."""
    from . import files

    files.check_output(out, "--out")
    if files.is_export(out) or files.is_checkpoints_root(out):
        raise UserError(f"--out {out} is an export or a folder of checkpoints, not a run directory; train into "
                        f"a new --out (a run keeps its checkpoints in OUT/checkpoints/)")


def _trim_evaluations(out: Path, step: int) -> None:
    """Keep only ``evaluation.jsonl`` lines of this run up to ``step`` (one run's rows, as losses.csv)."""
    from . import files

    path = out / "evaluation.jsonl"
    if not path.exists():
        return
    lines = path.read_text(errors="replace").splitlines()
    keep = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and 0 < row["step"] <= step:
            keep.append(line)
    if not keep:
        path.unlink()
    elif keep != lines:
        files.write_text_atomic(path, "\n".join(keep) + "\n")


def cmd_train(args) -> int:
    from . import checkpoint, data, files, trainer

    names = [f.name for f in dataclasses.fields(trainer.TrainConfig) if f.metadata.get("cli")]
    cfg = trainer.TrainConfig(**{n: getattr(args, n) for n in names})
    out = Path(args.out)
    _check_run_dir(out)
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
        _trim_evaluations(out, tr.step)
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

    from . import evaluation, files, plotting

    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        raise UserError(f"--out must end in .png or .npz, got {out}")
    if out.suffix == ".png" and args.per_class > MAX_PNG_PER_CLASS:
        raise UserError(f"a PNG grid holds at most {MAX_PNG_PER_CLASS} digits per class (got --per-class "
                        f"{args.per_class}); write FILE.npz for more")
    files.check_output(out, "--out")
    gen, _, _ = _load_generator(_resolve_checkpoint(args.checkpoint))
    labels = _labels_for(args, gen.num_classes)
    images = evaluation.generate_in_chunks(gen, labels, jax.random.key(args.seed))
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


def _default_evaluation_json(ckpt: Path) -> Path:
    """Where ``evaluate`` writes without --json: beside the checkpoint, never inside it (nor the package)."""
    from . import files

    if files.inside(ckpt, files.PACKAGE_DIR):      # never write into the installed package
        return Path.cwd() / "evaluation.json"
    if ckpt.parent.name == "checkpoints":          # a run's checkpoint rotates out; its score stays
        return ckpt.parent.parent / f"evaluation-{ckpt.name}.json"
    return ckpt.parent / "evaluation.json"         # an export: EXPORT/evaluation.json


def cmd_evaluate(args) -> int:
    from . import evaluation, files

    if args.json:
        files.check_output(args.json, "--json")
    gen, _, ckpt = _load_generator(_resolve_checkpoint(args.checkpoint))
    target = Path(args.json) if args.json else _default_evaluation_json(ckpt)
    files.check_output(target, "--json")
    res = evaluation.evaluate_generator(gen, per_class=args.per_class, seed=args.seed)
    print(evaluation.format_report(res))
    files.write_json_atomic(target, res)
    print(f"wrote {target}")
    return EXIT_OK


# ----------------------------------------------------------------------------- export
SAMPLE_EPOCHS = (1, 2, 5, 10, 20, 40)      # sample grids an export copies (and the last one)


def _run_root(ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to (RUN for RUN/checkpoints/ckpt-N)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def _check_export_target(target: Path, run: Path, what: str) -> None:
    """Refuse to export into the package, into (or over) the run, or over a directory that is not an export."""
    from . import files

    if files.inside(target, run) or files.inside(run, target):
        raise UserError(f"{what} {target} is inside the run {run} (or contains it); exporting there would "
                        f"overwrite the run's checkpoints or logs. Choose a directory outside the run")
    files.check_output(target, what)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not files.is_export(target))):
        raise UserError(f"{what} {target} exists and is not an earlier export (it has no {EXPORT_MARKER}); "
                        f"choose a new or empty directory")


def _marker(kind: str, ckpt: Path, step) -> dict:
    return {"what": f"acgan_lib export: {kind}", "source_checkpoint": str(ckpt), "step": step,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def cmd_export(args) -> int:
    from flax import nnx

    from . import checkpoint, files, models, pretrained

    source = _resolve_checkpoint(args.checkpoint)
    run = _run_root(checkpoint.resolve(source))
    gen_out = Path(args.generator_out)
    disc_out = Path(args.discriminator_out) if args.discriminator_out else None
    _check_export_target(gen_out, run, "--generator-out")
    if disc_out:
        _check_export_target(disc_out, run, "--discriminator-out")
        if files.inside(disc_out, gen_out) or files.inside(gen_out, disc_out):
            raise UserError("--generator-out and --discriminator-out must be separate directories")
    # the shipped generator and discriminator live in two folders; a run keeps both in one checkpoint
    disc_source = pretrained.DISCRIMINATOR_DIR if args.checkpoint == "pretrained" else None
    made: dict = {}

    def build(meta: dict, ckpt: Path) -> dict:
        if args.ema and "generator_ema" not in meta.get("objects", []):
            raise UserError(f"{ckpt} has no moving average of the generator; train (or resume) with "
                            f"--ema-decay 0.999 to keep one, or export without --ema")
        num_classes = checkpoint.config_value(meta, "num_classes", int, models.NUM_CLASSES, ckpt)
        made.clear()
        made["generator_ema" if args.ema else "generator"] = models.Generator(
            checkpoint.config_value(meta, "latent_dim", int, models.LATENT_DIM, ckpt), num_classes, rngs=nnx.Rngs(0))
        if disc_out and disc_source is None:
            made["discriminator"] = models.Discriminator(num_classes, rngs=nnx.Rngs(0))
        return made

    meta, ckpt = checkpoint.load_newest_valid(source, build, log=_warn, verb="using")
    gen = made["generator_ema" if args.ema else "generator"]
    disc = made.get("discriminator")
    if disc_out and disc is None:
        disc = checkpoint.load_discriminator(disc_source, log=_warn)
    # re-exporting an export keeps the original run's provenance
    prov = dict(meta["provenance"]) if isinstance(meta.get("provenance"), dict) else \
        {k: meta.get(k) for k in ("command", "step", "epoch", "data_source", "train_seconds", "machine", "config")}
    prov["source_checkpoint"] = str(ckpt)
    if args.ema:
        cfg = meta.get("config", {})
        prov["weights"] = f"moving average of the generator (ema_decay={cfg.get('ema_decay')})"
    else:
        prov.setdefault("weights", "the generator as trained")
    step = prov.get("step", meta["step"])
    targets = [gen_out] + ([disc_out] if disc_out else [])
    with files.atomic_directories(*targets) as tmps:   # both appear, or neither (a full disk leaves nothing)
        checkpoint.save_generator(tmps[0], gen, prov)
        files.write_json_atomic(tmps[0] / EXPORT_MARKER, _marker("generator", ckpt, step))
        if args.with_logs:
            _copy_run_logs(run, tmps[0], gen_out, prov, args)
        if disc_out:
            checkpoint.save(tmps[1], 0, {"discriminator": disc},
                            {"config": {"num_classes": disc.num_classes}, "provenance": prov}, keep=None)
            files.write_json_atomic(tmps[1] / EXPORT_MARKER, _marker("discriminator", ckpt, step))
    print(f"generator (step {step}) -> {gen_out}")
    if disc_out:
        print(f"discriminator -> {disc_out}")
    return EXIT_OK


def _epoch_of(path: Path) -> int | None:
    """N for a sample grid ``epoch_N.png`` (None for any other name, e.g. ``epoch_final.png``)."""
    digits = path.stem[len("epoch_"):]
    return int(digits) if path.stem.startswith("epoch_") and digits.isdigit() else None


def _number_fields(row, *keys) -> bool:
    return isinstance(row, dict) and all(isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool)
                                         for k in keys)


def _copy_run_logs(run: Path, dest: Path, final_dest: Path, prov: dict, args) -> None:
    """Copy the loss log, evaluations and a few sample grids of ``run`` into ``dest`` (the export being
    built) and write PROVENANCE.md listing exactly what was copied."""
    from . import files

    copied = []
    for name in ("losses.csv", "evaluation.jsonl", "metadata.json"):
        if (run / name).is_file():
            files.copy_file(run / name, dest / name)
            copied.append(name)
    shots = sorted((p for p in (run / "samples").glob("epoch_*.png") if _epoch_of(p) is not None), key=_epoch_of)
    if shots:
        last = _epoch_of(shots[-1])
        keep = {e for e in (*SAMPLE_EPOCHS, last) if e <= last}
        for p in shots:
            if _epoch_of(p) in keep:
                files.copy_file(p, dest / "samples" / p.name)
        copied.append("samples")
    cfg = prov.get("config") if isinstance(prov.get("config"), dict) else {}
    seconds = prov.get("train_seconds")
    wall = f"{seconds / 60:.1f} minutes" if _number_fields(prov, "train_seconds") else "not recorded"
    machine = prov.get("machine") or "machine not recorded"
    what = "moving average of an ACGAN generator" if args.ema else "ACGAN generator"
    lines = [f"# Exported {what}", "",
             "## Provenance", "",
             f"- command: `{prov.get('command') or 'unknown'}`",
             f"- data: {prov.get('data_source')}",
             f"- seed: {cfg.get('seed')}; iterations: {prov.get('step')} "
             f"(epoch {prov.get('epoch')}); batch {cfg.get('batch_size')}",
             f"- training wall time: {wall} ({machine})",
             f"- weights: {prov.get('weights', 'the generator as trained')}",
             f"- exported with: `python -m acgan_lib export --checkpoint {args.checkpoint} --generator-out "
             f"{final_dest} {'--ema ' if args.ema else ''}--with-logs`",
             ""]
    described = {
        "losses.csv": "`losses.csv` (the run's loss log)",
        "evaluation.jsonl": "`evaluation.jsonl` (the digit judge's scores after every epoch)",
        "metadata.json": "`metadata.json` (the run's progress)",
        "samples": "`samples/` (grids at a few epochs: columns = classes, rows = shared z)",
    }
    lines += ["Files: `ckpt-00000000/` (weights, load with `acgan_lib.checkpoint.load_generator`), "
              + ", ".join(described[c] for c in copied) + (", " if copied else "")
              + f"`{EXPORT_MARKER}` (marks the folder as an export).", ""]
    rows = []
    if "evaluation.jsonl" in copied:
        for line in (dest / "evaluation.jsonl").read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:    # a torn last line of a crashed run
                continue
            if _number_fields(row, "epoch", "step", "class_accuracy", "frechet_ratio"):
                rows.append(row)
    if rows:
        lines += ["## Quality during training (judge, 50 samples per class)", "",
                  "| epoch | iteration | class accuracy | Fréchet / real floor | moving average: accuracy | Fréchet / floor |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            if r["epoch"] in SAMPLE_EPOCHS or r["epoch"] % 20 == 0 or r is rows[-1]:
                e = r.get("ema")
                avg = f"{e['class_accuracy']:.3f} | {e['frechet_ratio']:.2f}" \
                    if _number_fields(e, "class_accuracy", "frechet_ratio") else "— | —"
                lines.append(f"| {r['epoch']} | {r['step']} | {r['class_accuracy']:.3f} | "
                             f"{r['frechet_ratio']:.2f} | {avg} |")
        lines.append("")
    files.write_text_atomic(dest / "PROVENANCE.md", "\n".join(lines))


def cmd_train_judge(args) -> int:
    from . import judge

    from . import files

    out = Path(args.out)
    files.check_output(out, "--out")
    if out.is_dir() and any(out.iterdir()) and not files.is_checkpoints_root(out):
        raise UserError(f"--out {out} exists and holds other files; choose a new or empty directory "
                        f"(or a folder an earlier train-judge wrote)")
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
    """Run one command; user-caused errors become one ``error:`` line and exit code 2 (see the module doc).

    SIGINT and SIGTERM raise KeyboardInterrupt from the first line on (also while JAX is imported
    or a network compiled), and every command answers them with one line and 130.
    """
    from . import interrupts

    command = ["the command"]
    with interrupts.raising():
        try:
            return _main(argv, command)
        except KeyboardInterrupt:
            with interrupts.ignored():       # a second Ctrl-C does not cut the message short
                resume = "; a training run can be continued with --resume" if command[0] == "train" else ""
                print(f"interrupted before {command[0]} finished; nothing was half-written (every file is "
                      f"written atomically){resume}", file=sys.stderr)
            return EXIT_INTERRUPTED


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix (one line, exit 2)."""
    from . import checkpoint, data, evaluation, files

    return (UserError, checkpoint.CheckpointError, data.DataError, data.DownloadError, files.RunLocked,
            files.OutputRefused, evaluation.GeneratorOutputError)


def _main(argv: list[str] | None, command_name: list[str]) -> int:
    args = build_parser().parse_args(argv)
    command_name[0] = args.command
    from . import compile_cache

    compile_cache.enable()   # as the notebooks do: compiled programs kept on disk (ACGAN_JAX_CACHE=off: not)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {_one_line(message)}", file=sys.stderr)

    warnings.showwarning = show_warning
    command = {"train": cmd_train, "generate": cmd_generate, "info": cmd_info, "evaluate": cmd_evaluate,
               "train-judge": cmd_train_judge, "export": cmd_export, "demo": cmd_demo}[args.command]
    try:
        return command(args)
    except _user_errors() as e:       # (evaluated only when something was raised: no imports up front)
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(_os_error_line(e), file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: not enough memory for this request; use smaller numbers (e.g. --per-class, --batch-size)",
              file=sys.stderr)
        return EXIT_USAGE


def run() -> None:
    """The process entry point (``python -m acgan_lib``, the ``acgan`` script): :func:`main`, then exit.

    After an interrupt the process ends at once (:func:`acgan_lib.interrupts.exit_now`): the
    clean-up has run, and a normal shutdown while XLA threads still work can hang or crash.
    """
    from . import interrupts

    code = main()
    if code == EXIT_INTERRUPTED:
        interrupts.exit_now(code)
    sys.exit(code)
