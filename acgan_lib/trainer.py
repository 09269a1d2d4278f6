"""The training loop: fused jitted iterations, logs, sample grids, checkpoints, exact resume.

Speed (see ``benchmarks/train_step.py``): one iteration (discriminator step + generator step) is a
single jitted function of the whole training state, whose buffers are donated so XLA updates them
in place; the training set lives on the device and each batch is gathered by index inside the
jit; metrics stay on the device and are fetched every ``log_every`` steps.

Determinism: step ``t`` draws all its randomness from ``fold_in(key(seed), t)`` and epoch ``e``'s
shuffle from ``fold_in(key(seed + 1), e)``; a checkpoint holds parameters, optimizer states,
batch-norm statistics, step and epoch, so a resumed run computes exactly what an uninterrupted
one would.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import checkpoint, models, parallel, plotting, training
from .data import Dataset

LOG_COLUMNS = ["step", "epoch", "d_loss", "d_realness_loss", "d_class_loss", "d_realness_accuracy",
               "d_class_accuracy", "d_real_probability", "d_fake_probability", "g_loss", "g_realness_loss",
               "g_class_loss", "g_class_accuracy", "g_fool_rate", "g_real_probability", "images_per_s", "train_seconds"]
LOSS_KEYS = ["d_realness_loss", "d_class_loss", "g_realness_loss", "g_class_loss"]


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (saved in every checkpoint). Defaults = the reference recipe."""
    epochs: int = 100
    batch_size: int = training.BATCH_SIZE
    latent_dim: int = models.LATENT_DIM
    num_classes: int = models.NUM_CLASSES
    lr: float = training.LEARNING_RATE
    beta1: float = training.ADAM_BETA1
    soft_one: float = training.SOFT_ONE
    realness_weight: float = 1.0
    class_weight: float = 1.0
    seed: int = 0
    explicit_gradients: bool = False  # True: per-loss gradients summed (2 backward passes, same result)
    log_every: int = 10
    keep_checkpoints: int = 3
    sample_rows: int = 10
    conv_impl: str = "auto"
    # > 0: also keep an exponential moving average of the generator (a remedy taught in notebook 6;
    # it only reads the generator, so training itself is the reference recipe either way)
    ema_decay: float = 0.0
    # data-parallel devices: each batch is split over this many devices of a 1-D mesh (see
    # acgan_lib.parallel); 0 = all local devices of the backend, 1 on CPU. Not part of the recipe:
    # a run may resume on another device count.
    devices: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}"),
            (self.num_classes >= 2, f"num_classes must be >= 2, got {self.num_classes}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (0 <= self.beta1 < 1, f"beta1 must be in [0, 1), got {self.beta1}"),
            (0 < self.soft_one <= 1, f"soft_one must be in (0, 1], got {self.soft_one}"),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}"),
            (self.conv_impl in ("auto", "matmul", "xla"), f"conv_impl must be auto|matmul|xla, got {self.conv_impl}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}"),
            (self.devices >= 0, f"devices must be >= 0 (0 = all local devices), got {self.devices}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    @property
    def weights(self) -> training.LossWeights:
        return training.LossWeights(self.realness_weight, self.class_weight)


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf; training stopped and the last good checkpoint was left untouched."""


class Interrupted(Exception):
    """Training was stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, step: int, path: Path):
        super().__init__(f"interrupted at step {step}; checkpoint saved to {path}; continue with --resume")
        self.step, self.path = step, path


def _copy_of(module: nnx.Module) -> nnx.Module:
    """A clone with its own buffers (the fused iteration donates every buffer of its state once)."""
    twin = nnx.clone(module)
    nnx.update(twin, jax.tree.map(jnp.copy, nnx.state(module)))
    return twin


_ITERATIONS: dict = {}


def _make_iteration(graphdef, cfg: TrainConfig, mesh=None):
    """The whole reference iteration as one jitted function of the flat training state.

    Cached per (model structure, recipe, device mesh), so several trainers in one process compile once.
    """
    cache_key = (graphdef, cfg.batch_size, cfg.soft_one, cfg.weights, cfg.explicit_gradients,
                 cfg.ema_decay, mesh, training.train_iteration)
    if cache_key not in _ITERATIONS:
        _ITERATIONS[cache_key] = _build_iteration(graphdef, cfg, mesh)
    return _ITERATIONS[cache_key]


def _build_iteration(graphdef, cfg: TrainConfig, mesh=None):
    shard = parallel.batch_constraint(mesh)

    def iteration(state, images, labels, perm, step_in_epoch, step, root_key):
        objects = nnx.merge(graphdef, state)
        gen, disc, g_opt, d_opt = objects[:4]
        idx = jax.lax.dynamic_slice_in_dim(perm, step_in_epoch * cfg.batch_size, cfg.batch_size)
        key = jax.random.fold_in(root_key, step)
        m = training.train_iteration(gen, disc, g_opt, d_opt, images[idx], labels[idx], key,
                                     soft_one=cfg.soft_one, weights=cfg.weights,
                                     explicit=cfg.explicit_gradients, shard=shard)
        if cfg.ema_decay:
            training.update_ema(objects[4], gen, cfg.ema_decay)
        return nnx.state(objects), m

    return jax.jit(iteration, donate_argnums=(0,))


class Trainer:
    """Trains an ACGAN on a :class:`~acgan_lib.data.Dataset`, writing everything under ``out_dir``.

    ``out_dir`` gets ``checkpoints/``, ``metadata.json`` (reference-style progress),
    ``losses.csv`` (one row per step), ``samples/epoch_XXXX.png`` (10 columns = classes, each row
    one shared z).
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, out_dir: str | Path,
                 log: Callable[[str], None] = print):
        config.validate()
        n = len(dataset)
        if n < config.batch_size:
            raise ValueError(f"batch_size {config.batch_size} is larger than the data set ({n} digits)")
        models.check_images(dataset.images)
        models.check_labels(dataset.labels, num_classes=config.num_classes, name="dataset labels")
        self.cfg = config
        self.dataset = dataset
        self.out = Path(out_dir)
        self.log = log
        self.steps_per_epoch = n // config.batch_size
        self.num_devices = config.devices or parallel.default_device_count()
        parallel.check_divisible(config.batch_size, self.num_devices)
        # one device: no mesh at all, the plain single-device program
        self.mesh = parallel.make_mesh(self.num_devices) if self.num_devices > 1 else None
        self.gen = models.Generator(config.latent_dim, config.num_classes, rngs=nnx.Rngs(config.seed),
                                    conv_impl=config.conv_impl)
        self.disc = models.Discriminator(config.num_classes, rngs=nnx.Rngs(config.seed + 1))
        self.g_opt = training.make_optimizer(self.gen, config.lr, config.beta1)
        self.d_opt = training.make_optimizer(self.disc, config.lr, config.beta1)
        # the generator's moving average (config.ema_decay > 0); starts equal to the generator
        self.gen_ema = _copy_of(self.gen) if config.ema_decay else None
        self.step = 0  # iterations done
        self._graphdef, self._state = nnx.split(self._modules())
        self._state = self._replicate(self._state)
        self._iteration = _make_iteration(self._graphdef, config, self.mesh)
        self._images = self._replicate(jnp.asarray(dataset.images))
        self._labels = self._replicate(jnp.asarray(dataset.labels, jnp.int32))
        self._step_key = jax.random.key(config.seed)
        self._shuffle_key = jax.random.key(config.seed + 1)
        zkey = jax.random.fold_in(jax.random.key(config.seed + 2), 0)
        self.sample_z = models.sample_latent(zkey, config.sample_rows, config.latent_dim)
        self._stop_signal: int | None = None
        self.train_seconds = 0.0   # wall time spent in train() over the whole run (kept across resumes)
        self.command = ""          # how the run was started (recorded in checkpoints)

    # -------------------------------------------------------------- state plumbing
    def _modules(self) -> tuple:
        base = (self.gen, self.disc, self.g_opt, self.d_opt)
        return base + (self.gen_ema,) if self.gen_ema is not None else base

    def _replicate(self, tree):
        """Put ``tree`` on every device of the mesh (a no-op on one device)."""
        return tree if self.mesh is None else jax.device_put(tree, parallel.replicated(self.mesh))

    def _sync_modules(self) -> None:
        """Point the nnx objects at the current (jit-updated) state."""
        nnx.update(self._modules(), self._state)

    def _objects(self) -> dict[str, Any]:
        objs = {"generator": self.gen, "discriminator": self.disc,
                "generator_optimizer": self.g_opt, "discriminator_optimizer": self.d_opt}
        if self.gen_ema is not None:
            objs["generator_ema"] = self.gen_ema
        return objs

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def save_checkpoint(self) -> Path:
        """Save the full training state at the current step (atomic)."""
        self._sync_modules()
        epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
        meta = {"config": dataclasses.asdict(self.cfg), "epoch": epoch, "step_in_epoch": in_epoch,
                "data_source": self.dataset.source, "num_examples": len(self.dataset),
                "train_seconds": round(self.train_seconds, 1), "command": self.command}
        return checkpoint.save(self.checkpoint_dir, self.step, self._objects(), meta,
                               keep=self.cfg.keep_checkpoints)

    def restore(self, path: str | Path | None = None) -> dict:
        """Load the latest checkpoint (of ``path`` or this run); training continues from its step."""
        path = path or self.out
        meta = checkpoint.read_meta(path)
        saved = meta.get("config", {})
        for key in ("latent_dim", "num_classes", "batch_size", "seed", "lr", "beta1", "soft_one",
                    "realness_weight", "class_weight"):
            if key in saved and saved[key] != getattr(self.cfg, key):
                raise checkpoint.CheckpointError(
                    f"{checkpoint.resolve(path)}: the run was started with {key}={saved[key]} but this "
                    f"run asks for {key}={getattr(self.cfg, key)}; resume with --{key.replace('_', '-')} "
                    f"{saved[key]} or start a new --out directory")
        if meta.get("num_examples") not in (None, len(self.dataset)):
            raise checkpoint.CheckpointError(
                f"the run was trained on {meta['num_examples']} digits ({meta.get('data_source')}) but the "
                f"data now has {len(self.dataset)}; resume with the same --data")
        self._sync_modules()
        objects = self._objects()
        start_ema = self.gen_ema is not None and "generator_ema" not in meta.get("objects", [])
        if start_ema:  # switching the average on later is allowed: it does not change training
            del objects["generator_ema"]
        checkpoint.load(path, objects)
        if start_ema:
            self.gen_ema = _copy_of(self.gen)
            self.log(f"the generator's moving average (ema_decay={self.cfg.ema_decay}) starts at step {meta['step']}")
        self._graphdef, self._state = nnx.split(self._modules())
        self._state = self._replicate(self._state)
        self.step = int(meta["step"])
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        self._truncate_log()
        self.log(f"resumed from {checkpoint.resolve(path)} at step {self.step} (epoch {meta.get('epoch')})")
        return meta

    # -------------------------------------------------------------- outputs
    def _truncate_log(self) -> None:
        """Drop loss-log rows past the restored step (written after the checkpoint, before a crash)."""
        path = self.out / "losses.csv"
        if not path.exists():
            return
        with open(path) as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= self.step]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    def _append_log(self, rows: list[dict]) -> None:
        path = self.out / "losses.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, LOG_COLUMNS, extrasaction="ignore")
            if new:
                w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})

    def sample_grid(self) -> np.ndarray:
        """(rows * num_classes, 28, 28, 1): row r = shared z_r, column c = class c (inference mode)."""
        self._sync_modules()
        rows, c = self.cfg.sample_rows, self.cfg.num_classes
        z = jnp.repeat(self.sample_z, c, axis=0)
        labels = jnp.tile(jnp.arange(c, dtype=jnp.int32), rows)
        return np.asarray(_sample(self.gen, z, labels))

    def _write_epoch_outputs(self, epoch: int, total_epochs: int) -> None:
        plotting.save_png(plotting.tile(self.sample_grid(), self.cfg.num_classes),
                          self.out / "samples" / f"epoch_{epoch:04d}.png")
        checkpoint.write_json_atomic(self.out / "metadata.json", {
            "total_epochs": total_epochs, "current_epoch": epoch, "completed": epoch >= total_epochs,
            "last_updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "step": self.step,
            "data_source": self.dataset.source, "train_seconds": round(self.train_seconds, 1)})

    # -------------------------------------------------------------- benchmarking helpers
    def _epoch_permutation(self, epoch: int) -> jax.Array:
        """The shuffle of ``epoch``: a function of (seed, epoch) only, so resume repeats it."""
        return jax.random.permutation(jax.random.fold_in(self._shuffle_key, epoch), len(self.dataset))

    def _iteration_args(self, i: int, perm: jax.Array):
        return (self._images, self._labels, perm, i % self.steps_per_epoch, i, self._step_key)

    def compile_seconds(self) -> float:
        """Compile the fused iteration ahead of time; returns the seconds XLA took."""
        t0 = time.perf_counter()
        self._iteration.lower(self._state, *self._iteration_args(0, self._epoch_permutation(0))).compile()
        return time.perf_counter() - t0

    def run_iterations(self, n: int) -> float:
        """Run ``n`` iterations with no logging, outputs or checkpoints; returns the wall seconds.

        For benchmarks and quick experiments; ``train`` is the real loop.
        """
        perm = self._epoch_permutation(0)
        t0 = time.perf_counter()
        m = None
        for _ in range(n):
            self._state, m = self._iteration(self._state, *self._iteration_args(self.step, perm))
            self.step += 1
        jax.block_until_ready((self._state, m))
        return time.perf_counter() - t0

    # -------------------------------------------------------------- the loop
    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    def train(self, epochs: int | None = None, max_steps: int | None = None, progress: bool = True,
              on_log: Callable[[list[dict]], None] | None = None) -> list[dict]:
        """Train until epoch ``epochs`` (default: config.epochs) or ``max_steps`` total iterations.

        Returns the metric rows logged during this call.  SIGINT/SIGTERM: finish the current
        step, save a checkpoint, raise :class:`Interrupted`.  A non-finite loss raises
        :class:`TrainingDiverged` without saving.  A checkpoint and epoch outputs are written at
        every epoch end; ``max_steps`` ends with a checkpoint too.
        """
        from tqdm.auto import tqdm

        epochs = epochs or self.cfg.epochs
        end = epochs * self.steps_per_epoch
        if max_steps is not None:
            end = min(end, max_steps)
        self.out.mkdir(parents=True, exist_ok=True)
        history: list[dict] = []
        pending: list[tuple[int, Any]] = []
        old_handlers = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not in the main thread
            old_handlers = {}
        bar = tqdm(total=end, initial=self.step, disable=not progress, unit="it", dynamic_ncols=True)
        t_last, n_last = time.perf_counter(), 0
        t_start, seconds_before = t_last, self.train_seconds
        perm, perm_epoch = None, -1

        def flush():
            nonlocal t_last, n_last
            if not pending:
                return
            fetched = jax.device_get([m for _, m in pending])
            now = time.perf_counter()
            # real training digits consumed per second (one batch per iteration)
            ips = n_last * self.cfg.batch_size / max(now - t_last, 1e-9)
            t_last, n_last = now, 0
            rows = []
            for (step, _), m in zip(pending, fetched):
                row = {"step": step, "epoch": step / self.steps_per_epoch, "images_per_s": ips,
                       **{k: float(v) for k, v in m.items()}}
                for k in LOSS_KEYS:
                    if not math.isfinite(row[k]):
                        pending.clear()
                        raise TrainingDiverged(
                            f"{k} became {row[k]} at step {step}; training stopped and the last good "
                            f"checkpoint in {self.checkpoint_dir} was left untouched. Lower --lr "
                            f"(now {self.cfg.lr}) or check the data.")
                rows.append(row)
            pending.clear()
            self.train_seconds = seconds_before + (now - t_start)
            for r in rows:
                r["train_seconds"] = round(self.train_seconds, 2)
            self._append_log(rows)
            history.extend(rows)
            if on_log:
                on_log(rows)
            last = rows[-1]
            bar.set_postfix(epoch=f"{last['epoch']:.2f}", d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}",
                            img_s=f"{ips:.0f}")

        try:
            while self.step < end:
                epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
                if epoch != perm_epoch:
                    perm = self._epoch_permutation(epoch)
                    perm_epoch = epoch
                self._state, m = self._iteration(self._state, *self._iteration_args(self.step, perm))
                self.step += 1
                n_last += 1
                pending.append((self.step, m))
                bar.update(1)
                epoch_done = self.step % self.steps_per_epoch == 0
                if len(pending) >= self.cfg.log_every or epoch_done or self.step == end:
                    flush()
                if self._stop_signal is not None:
                    flush()
                    path = self.save_checkpoint()
                    raise Interrupted(self.step, path)
                if epoch_done:
                    self.save_checkpoint()
                    self._write_epoch_outputs(self.step // self.steps_per_epoch, epochs)
                elif self.step == end:
                    self.save_checkpoint()
        finally:
            bar.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            self._stop_signal = None
        self._sync_modules()
        return history


@nnx.jit
def _sample(gen: models.Generator, z: jax.Array, labels: jax.Array) -> jax.Array:
    return gen(z, labels, train=False)


def generate(gen: models.Generator, labels, key: jax.Array | None = None, z: jax.Array | None = None) -> np.ndarray:
    """Digits of the given classes from a generator in inference mode.

    labels (N,) int in 0..num_classes-1; z (N, latent_dim) or drawn U[-1, 1] from ``key``.
    Returns (N, 28, 28, 1) float32 in [-1, 1].
    """
    labels = np.asarray(labels)
    models.check_labels(labels, num_classes=gen.num_classes)
    if z is None:
        z = models.sample_latent(key if key is not None else jax.random.key(0), len(labels), gen.latent_dim)
    models.check_latent(z, gen.latent_dim, n=len(labels))
    return np.asarray(_sample(gen, jnp.asarray(z, jnp.float32), jnp.asarray(labels, jnp.int32)))


def read_log(out_dir: str | Path) -> dict[str, np.ndarray]:
    """The run's ``losses.csv`` as columns of floats."""
    with open(Path(out_dir) / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows if r.get(k) not in (None, "")]) for k in LOG_COLUMNS}
