"""The training loop: fused jitted iterations, logs, sample grids, checkpoints, exact resume.

Speed (see ``benchmarks/train_step.py``): one iteration (discriminator step + generator step) is a
single jitted function of the whole training state, whose buffers are donated so XLA updates them
in place; the training set lives on the device and each batch is gathered by index inside the
jit; metrics stay on the device and are fetched every ``log_every`` steps.

Determinism: one root key ``key(seed)`` is split into one key per purpose (:func:`run_keys`:
network initialisation, data shuffle, step keys, the sample grid's z), so no key is used twice;
step ``t`` draws all its randomness from ``fold_in(steps, t)`` and epoch ``e``'s shuffle from
``fold_in(shuffle, e)``.  (Runs before this scheme, e.g. the shipped pretrained networks, used ``key(seed)``
for both the initialisation and the step keys; their PROVENANCE names the commit.)  A checkpoint holds parameters, optimizer states,
batch-norm statistics, step and epoch, so a resumed run computes exactly what an uninterrupted
one would.

Safety: a run directory has one writer at a time (:class:`acgan_lib.files.RunLock`); every file is
written atomically; a loss that is NaN/inf or larger than :data:`DIVERGENCE_LIMIT` in magnitude
stops training with :class:`TrainingDiverged`; SIGINT/SIGTERM finish the step in flight (at
most one is), save a checkpoint and raise :class:`Interrupted` - or, before any step of the call
has finished (still compiling), raise KeyboardInterrupt at once (:mod:`acgan_lib.interrupts`).
A fresh run (step 0) starts ``losses.csv`` afresh; checkpoints record a fingerprint of the data,
which resuming compares.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import checkpoint, files, interrupts, models, parallel, plotting, training
from .config import TrainConfig
from .data import Dataset
from .runlog import LOG_COLUMNS, LOSS_KEYS, RunLog, read_log

__all__ = ["Trainer", "TrainConfig", "TrainingDiverged", "Interrupted", "RunLog", "read_log", "LOG_COLUMNS",
           "LOSS_KEYS", "DIVERGENCE_LIMIT", "GREY_GRID_STD", "check_losses"]

# A cross-entropy of the reference recipe stays below ~20 (a confidently wrong logit of ~20); a
# loss beyond this bound means the weights have exploded (e.g. --lr 5 reaches 1e15) even before
# it overflows to inf, so training stops as it does for NaN.
DIVERGENCE_LIMIT = 1e4
# The pixel standard deviation of a sample grid below which it is "still grey": an untrained
# generator's grid has ~0.01-0.05, digits on a black background ~0.6 (see the CLI's hint).
GREY_GRID_STD = 0.15


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf or exceeded :data:`DIVERGENCE_LIMIT`; no checkpoint of the diverged state was saved."""


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


def check_losses(rows: list[dict], checkpoint_dir: Path, lr: float) -> None:
    """Raise :class:`TrainingDiverged` at the first loss that is NaN/inf or beyond DIVERGENCE_LIMIT."""
    for row in rows:
        for k in LOSS_KEYS:
            v = row[k]
            if not math.isfinite(v) or abs(v) > DIVERGENCE_LIMIT:
                why = f"became {v}" if not math.isfinite(v) else f"reached {v:.3g} (beyond {DIVERGENCE_LIMIT:g})"
                raise TrainingDiverged(f"{k} {why} at step {row['step']}; training stopped. "
                                       f"{_what_checkpoints_exist(checkpoint_dir)} Lower --lr (now {lr}) "
                                       f"or check the data.")


def _what_checkpoints_exist(root: Path) -> str:
    """A sentence naming the newest saved checkpoint, or saying that none was written."""
    found = checkpoint.complete_checkpoints(root) if root.is_dir() else []
    if not found:
        return "No checkpoint was written before that (nothing to resume from)."
    return f"The newest checkpoint, {found[-1]} (saved before the problem), was left untouched."


KEY_PURPOSES = ("generator_init", "discriminator_init", "shuffle", "steps", "sample_grid")


def run_keys(seed: int) -> dict[str, jax.Array]:
    """One key per purpose, split from ``jax.random.key(seed)``: no two purposes ever share a key.

    ``steps``: iteration ``t`` uses ``fold_in(steps, t)``; ``shuffle``: epoch ``e``'s order is
    ``permutation(fold_in(shuffle, e))``; the init keys seed the networks' ``nnx.Rngs``;
    ``sample_grid`` draws the fixed z of the per-epoch sample grid.
    """
    return dict(zip(KEY_PURPOSES, jax.random.split(jax.random.key(seed), len(KEY_PURPOSES)), strict=True))


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """The settings the fused iteration's program depends on (hashable: a static argument of the jit)."""
    batch_size: int
    soft_one: float
    weights: training.LossWeights
    explicit: bool
    ema_decay: float

    @classmethod
    def of(cls, cfg: TrainConfig) -> _Recipe:
        return cls(cfg.batch_size, cfg.soft_one, cfg.weights, cfg.explicit_gradients, cfg.ema_decay)


@functools.partial(jax.jit, static_argnames=("graphdef", "recipe", "mesh"), donate_argnums=(0,))
def _iteration(state, images, labels, perm, step_in_epoch, step_key, *, graphdef, recipe: _Recipe, mesh=None):
    """The whole reference iteration as one jitted function of the flat training state.

    ``state`` is ``nnx.state`` of (generator, discriminator, their optimizers[, the generator's
    moving average]); its buffers are donated.  jax's own jit cache, keyed by the static
    (structure, recipe, device mesh), makes every Trainer of the same shape reuse one program:
    the optimizers' hyperparameters are state (:func:`acgan_lib.training.adam`), not structure.
    """
    objects = nnx.merge(graphdef, state)
    gen, disc, g_opt, d_opt = objects[:4]
    idx = jax.lax.dynamic_slice_in_dim(perm, step_in_epoch * recipe.batch_size, recipe.batch_size)
    m = training.train_iteration(gen, disc, g_opt, d_opt, images[idx], labels[idx], step_key,
                                 soft_one=recipe.soft_one, weights=recipe.weights, explicit=recipe.explicit,
                                 shard=parallel.batch_constraint(mesh))
    if recipe.ema_decay:
        training.update_ema(objects[4], gen, recipe.ema_decay)
    return nnx.state(objects), m


def _machine() -> str:
    """Where the run was trained, e.g. "cpu: AMD EPYC 9R14 (2 cores)" (recorded in checkpoints)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{jax.default_backend()}: {cpu} ({os.cpu_count()} cores), JAX {jax.__version__}"


class Trainer:
    """Trains an ACGAN on a :class:`~acgan_lib.data.Dataset`, writing everything under ``out_dir``.

    ``out_dir`` gets ``checkpoints/``, ``metadata.json`` (reference-style progress),
    ``losses.csv`` (one row per step), ``samples/epoch_XXXX.png`` (10 columns = classes, each row
    one shared z).

    ``gen``, ``disc``, ``g_opt``, ``d_opt`` and ``gen_ema`` are always up to date when read
    (also inside an ``on_log`` callback): the fused iteration works on a flat copy of their state
    and donates its buffers, and reading an attribute points the modules at the current state.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, out_dir: str | Path,
                 log: Callable[[str], None] = print):
        config.validate()
        n = len(dataset)
        if n < config.batch_size:
            raise ValueError(f"batch_size {config.batch_size} is larger than the data set ({n} digits); "
                             f"use a batch size of at most {n}")
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
        keys = run_keys(config.seed)
        gen = models.Generator(config.latent_dim, config.num_classes, rngs=nnx.Rngs(keys["generator_init"]),
                               conv_impl=config.conv_impl)
        disc = models.Discriminator(config.num_classes, rngs=nnx.Rngs(keys["discriminator_init"]))
        self._objs: dict[str, Any] = {"generator": gen, "discriminator": disc,
                                      "generator_optimizer": training.make_optimizer(gen, config.lr, config.beta1),
                                      "discriminator_optimizer": training.make_optimizer(disc, config.lr, config.beta1)}
        if config.ema_decay:  # the generator's moving average; starts equal to the generator
            self._objs["generator_ema"] = _copy_of(gen)
        self.step = 0  # iterations done
        self._split()
        self._images = self._replicate(jnp.asarray(dataset.images))
        self._labels = self._replicate(jnp.asarray(dataset.labels, jnp.int32))
        self._step_key, self._shuffle_key = keys["steps"], keys["shuffle"]
        self.sample_z = models.sample_latent(keys["sample_grid"], config.sample_rows, config.latent_dim)
        self._stop_signal: int | None = None
        self.run_log = RunLog(self.out)
        self.train_seconds = 0.0   # wall time spent in train() over the whole run (kept across resumes)
        self.command = ""          # how the run was started (recorded in checkpoints)

    # -------------------------------------------------------------- state plumbing
    def _split(self) -> None:
        """(Re)build the flat state the fused iteration works on from the nnx objects."""
        self._graphdef, self._state = nnx.split(tuple(self._objs.values()))
        self._state = self._replicate(self._state)
        self._stale = False

    def _static(self) -> dict[str, Any]:
        """The static arguments of :func:`_iteration` for this trainer."""
        return {"graphdef": self._graphdef, "recipe": _Recipe.of(self.cfg), "mesh": self.mesh}

    def _key_of_step(self, step: int) -> jax.Array:
        """The key all of iteration ``step``'s randomness comes from: a function of (seed, step) only."""
        return jax.random.fold_in(self._step_key, step)

    def _replicate(self, tree):
        """Put ``tree`` on every device of the mesh (a no-op on one device)."""
        return tree if self.mesh is None else jax.device_put(tree, parallel.replicated(self.mesh))

    def _synced(self) -> dict[str, Any]:
        """The nnx objects, pointed at the current (jit-updated) state if they lag behind it."""
        if self._stale:
            nnx.update(tuple(self._objs.values()), self._state)
            self._stale = False
        return self._objs

    def _run(self, perm: jax.Array) -> Any:
        """One fused iteration at ``self.step``; returns its device metrics."""
        if not self._stale:   # the modules are current: take any change made to them since
            self._state = self._replicate(nnx.state(tuple(self._objs.values())))
        self._state, m = _iteration(self._state, self._images, self._labels, perm, self.step % self.steps_per_epoch,
                                    self._key_of_step(self.step), **self._static())
        self._stale = True
        self.step += 1
        return m

    gen = property(lambda self: self._synced()["generator"], doc="The generator (current).")
    disc = property(lambda self: self._synced()["discriminator"], doc="The discriminator (current).")
    g_opt = property(lambda self: self._synced()["generator_optimizer"], doc="The generator's Adam state.")
    d_opt = property(lambda self: self._synced()["discriminator_optimizer"], doc="The discriminator's Adam state.")
    gen_ema = property(lambda self: self._synced().get("generator_ema"),
                       doc="The generator's moving average (None unless ema_decay > 0).")

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def save_checkpoint(self) -> Path:
        """Save the full training state at the current step (atomic)."""
        epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
        meta = {"config": dataclasses.asdict(self.cfg), "epoch": epoch, "step_in_epoch": in_epoch,
                "data_source": self.dataset.source, "num_examples": len(self.dataset),
                "data_fingerprint": self._data_fingerprint(), "machine": _machine(),
                "train_seconds": round(self.train_seconds, 1), "command": self.command}
        return checkpoint.save(self.checkpoint_dir, self.step, self._synced(), meta,
                               keep=self.cfg.keep_checkpoints)

    def _data_fingerprint(self) -> str:
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = self.dataset.fingerprint()
        return self._fingerprint

    # -------------------------------------------------------------- resume
    def _check_resumable(self, meta: dict, ckpt: Path) -> None:
        """Refuse a checkpoint whose recipe or data differ from this run's (CheckpointError)."""
        saved = meta.get("config", {})
        for key in TrainConfig.resume_must_match():
            if key in saved and saved[key] != getattr(self.cfg, key):
                raise checkpoint.CheckpointError(
                    f"{ckpt}: the run was started with {key}={saved[key]} but this run asks for "
                    f"{key}={getattr(self.cfg, key)}; resume with --{key.replace('_', '-')} {saved[key]} "
                    f"or start a new --out directory")
        if meta.get("num_examples") not in (None, len(self.dataset)):
            raise checkpoint.CheckpointError(
                f"the run was trained on {meta['num_examples']} digits ({meta.get('data_source')}) but the "
                f"data now has {len(self.dataset)}; resume with the same --data")
        if meta.get("data_fingerprint") not in (None, self._data_fingerprint()):
            raise checkpoint.CheckpointError(
                f"the run was trained on other digits than these ({meta.get('data_source')}, same count, "
                f"different content); resume with the same --data or start a new --out directory")

    def _exactness_note(self, meta: dict) -> str:
        """One line when the resumed run computes the same math differently (no longer bit-exact)."""
        saved = meta.get("config", {})
        changed = [f"--{k.replace('_', '-')} {saved[k]} -> {getattr(self.cfg, k)}"
                   for k in ("conv_impl", "explicit_gradients") if k in saved and saved[k] != getattr(self.cfg, k)]
        if not changed:
            return ""
        return (f"note: resuming with {', '.join(changed)}: the same math with other rounding, so the run will "
                f"not match an uninterrupted one bit for bit (pass the old values to keep it exact)")

    def restore(self, path: str | Path | None = None) -> dict:
        """Load the newest valid checkpoint (of ``path`` or this run); training continues from its step.

        A damaged newest checkpoint is skipped for the newest valid one (with a message).  A run
        that kept a moving average of the generator keeps it even when this trainer was built
        without ``ema_decay`` (the saved decay is used, with a message); a run without one starts
        it here when ``ema_decay > 0``.
        """
        path = path or self.out
        base = dict(self._synced())
        objects: dict[str, Any] = {}
        plan: dict[str, Any] = {}    # what the chosen checkpoint needs for the moving average

        def check(meta: dict, ckpt: Path) -> None:   # decides, per candidate checkpoint, what to load
            self._check_resumable(meta, ckpt)
            objects.clear()
            objects.update(base)
            plan.clear()
            had_ema = "generator_ema" in meta.get("objects", [])
            if had_ema and "generator_ema" not in objects:
                decay = checkpoint.config_value(meta, "ema_decay", float, 0.0, ckpt)
                objects["generator_ema"] = _copy_of(base["generator"])
                plan.update(adopt_decay=decay, message=f"the run keeps a moving average of the generator; "
                            f"continuing it with its ema_decay={decay} (pass --ema-decay to change the decay)")
            elif not had_ema and "generator_ema" in objects:
                # switching the average on later is allowed: it does not change training
                del objects["generator_ema"]
                plan.update(start=True, message=f"the generator's moving average (ema_decay="
                            f"{self.cfg.ema_decay}) starts at step {meta['step']}")

        meta, ckpt = checkpoint.load_newest_valid(path, objects, check_meta=check, log=self.log)
        if "adopt_decay" in plan:
            self.cfg = dataclasses.replace(self.cfg, ema_decay=plan["adopt_decay"])
            self._objs["generator_ema"] = objects["generator_ema"]
        elif plan.get("start"):
            self._objs["generator_ema"] = _copy_of(self._objs["generator"])
        if plan:
            self.log(plan["message"])
        self._split()
        self.step = int(meta["step"])
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        self.run_log.truncate(self.step)
        self.log(f"resumed from {ckpt} at step {self.step} (epoch {meta.get('epoch')})")
        note = self._exactness_note(meta)
        if note:
            self.log(note)
        return meta

    # -------------------------------------------------------------- start from given networks
    def start_from(self, gen: models.Generator, disc: models.Discriminator, step: int = 0) -> None:
        """Train on from the given networks, e.g. the shipped ``early_run`` exports.

        Copies ``gen``'s and ``disc``'s weights *and* batch-norm running statistics into this
        trainer's own networks (which are trained from then on; ``gen`` and ``disc`` are not
        changed).  What is **not** carried over: the optimizer states, which start fresh (Adam's
        moment estimates at zero, as at step 0; exports do not contain them), and the moving
        average of the generator, which restarts equal to ``gen`` when ``ema_decay > 0``.  So
        this is *not* an exact continuation of the run that made the networks; for that, resume
        a checkpoint (:meth:`restore`).

        ``step`` (default 0) becomes the trainer's iteration count: the next iteration is
        ``step + 1`` and draws its batch and randomness as iteration ``step + 1`` of this
        trainer's seed does (``fold_in(steps, step)``, the shuffle of that epoch).
        ``losses.csv`` keeps only rows up to ``step``.  The networks must have this trainer's
        shapes (ValueError otherwise); the compiled iteration is reused (no recompilation).
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        objs = self._synced()
        for name, given in (("generator", gen), ("discriminator", disc)):
            own = objs[name]
            new = nnx.state(given, nnx.Not(nnx.RngState))
            old = nnx.state(own, nnx.Not(nnx.RngState))
            if jax.tree.structure(new) != jax.tree.structure(old):
                raise ValueError(f"the given {name} has other layers than this trainer's; build it with the "
                                 f"trainer's latent_dim / num_classes")
            for (path, a), b in zip(jax.tree.leaves_with_path(new), jax.tree.leaves(old), strict=True):
                if a.shape != b.shape:
                    raise ValueError(f"the given {name}'s {jax.tree_util.keystr(path)} has shape {a.shape}, "
                                     f"this trainer's {b.shape}; build it with the trainer's latent_dim / num_classes")
            # own buffers, in the trainer's dtypes (the fused iteration donates them; same dtypes = same program)
            nnx.update(own, jax.tree.map(lambda a, b: jnp.array(a, dtype=b.dtype), new, old))
        for name, module in (("generator_optimizer", objs["generator"]), ("discriminator_optimizer", objs["discriminator"])):
            nnx.update(objs[name], nnx.state(training.make_optimizer(module, self.cfg.lr, self.cfg.beta1)))
        if "generator_ema" in objs:
            nnx.update(objs["generator_ema"], jax.tree.map(jnp.copy, nnx.state(objs["generator"])))
        self._split()
        self.step = int(step)
        self.train_seconds = 0.0
        self.run_log.truncate(self.step)

    # -------------------------------------------------------------- outputs
    def sample_grid(self) -> np.ndarray:
        """(rows * num_classes, 28, 28, 1): row r = shared z_r, column c = class c (inference mode)."""
        rows, c = self.cfg.sample_rows, self.cfg.num_classes
        z = jnp.repeat(self.sample_z, c, axis=0)
        labels = jnp.tile(jnp.arange(c, dtype=jnp.int32), rows)
        return models.generate(self.gen, labels, z=z)

    def write_metadata(self, total_epochs: int, **extra: Any) -> None:
        """``metadata.json``: reference-style progress (every run folder has one, also after Ctrl-C)."""
        epoch = self.step // self.steps_per_epoch
        files.write_json_atomic(self.out / "metadata.json", {
            "total_epochs": total_epochs, "current_epoch": epoch, "completed": epoch >= total_epochs,
            "last_updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "step": self.step,
            "data_source": self.dataset.source, "train_seconds": round(self.train_seconds, 1), **extra})

    def _write_epoch_outputs(self, epoch: int, total_epochs: int) -> None:
        plotting.save_png(plotting.tile(self.sample_grid(), self.cfg.num_classes),
                          self.out / "samples" / f"epoch_{epoch:04d}.png")
        self.write_metadata(total_epochs)

    # -------------------------------------------------------------- benchmarking helpers
    def _epoch_permutation(self, epoch: int) -> jax.Array:
        """The shuffle of ``epoch``: a function of (seed, epoch) only, so resume repeats it."""
        return jax.random.permutation(jax.random.fold_in(self._shuffle_key, epoch), len(self.dataset))

    def compile_seconds(self) -> float:
        """Compile the fused iteration ahead of time; returns the seconds XLA took."""
        t0 = time.perf_counter()
        _iteration.lower(self._state, self._images, self._labels, self._epoch_permutation(0), 0,
                         self._key_of_step(0), **self._static()).compile()
        return time.perf_counter() - t0

    def run_iterations(self, n: int) -> float:
        """Run ``n`` iterations with no logging, outputs or checkpoints; returns the wall seconds.

        For benchmarks and quick experiments; ``train`` is the real loop.
        """
        perm = self._epoch_permutation(0)
        t0 = time.perf_counter()
        m = None
        for _ in range(int(n)):
            m = self._run(perm)
        jax.block_until_ready((self._state, m))
        return time.perf_counter() - t0

    # -------------------------------------------------------------- the loop
    def _rows(self, pending: list[tuple[int, Any]], fetched: list[dict], images_per_s: float) -> list[dict]:
        """Turn the fetched metrics of the pending iterations into log rows."""
        return [{"step": step, "epoch": step / self.steps_per_epoch, "images_per_s": images_per_s,
                 "train_seconds": round(self.train_seconds, 2), **{k: float(v) for k, v in m.items()}}
                for (step, _), m in zip(pending, fetched)]

    def train(self, epochs: int | None = None, max_steps: int | None = None, progress: bool = True,
              on_log: Callable[[list[dict]], None] | None = None) -> list[dict]:
        """Train until epoch ``epochs`` (default: config.epochs) or ``max_steps`` total iterations.

        Returns the metric rows logged during this call; ``on_log(rows)`` is called with each
        batch of rows (the trainer's modules are current inside it).  A checkpoint and the epoch's
        outputs (sample grid, ``metadata.json``) are written at every epoch end; ``max_steps``
        ends with a checkpoint too.  SIGINT/SIGTERM: finish the step in flight (and its epoch's
        outputs), save a checkpoint and ``metadata.json``, raise :class:`Interrupted`; before
        any step of this call has finished, raise KeyboardInterrupt at once (nothing to save).  A loss
        that is NaN/inf or beyond :data:`DIVERGENCE_LIMIT` raises :class:`TrainingDiverged`
        without saving.  The run directory is locked against a second writer meanwhile.
        """
        from tqdm.auto import tqdm

        epochs = int(epochs or self.cfg.epochs)
        end = epochs * self.steps_per_epoch if max_steps is None else min(epochs * self.steps_per_epoch, int(max_steps))
        history: list[dict] = []
        pending: list[tuple[int, Any]] = []
        self._stop_signal = None
        perm, perm_epoch = None, -1
        t_start, seconds_before = time.perf_counter(), self.train_seconds
        t_last, n_last = t_start, 0

        finished = [False]    # has a step of this call finished? Before that there is nothing to save

        def signal_received(signum: int) -> None:
            self._stop_signal = signum
            if not finished[0]:   # e.g. still compiling the first step (minutes under load): stop now
                raise KeyboardInterrupt

        with files.RunLock(self.out, log=self.log), interrupts.routed(signal_received), \
                tqdm(total=end, initial=self.step, disable=not progress, unit="it", dynamic_ncols=True) as bar:
            if self.step == 0:    # a fresh run: rows of an earlier run that failed before a checkpoint go
                self.run_log.truncate(0)
            while self.step < end:
                epoch = self.step // self.steps_per_epoch
                if epoch != perm_epoch:
                    perm, perm_epoch = self._epoch_permutation(epoch), epoch
                pending.append((self.step + 1, self._run(perm)))
                n_last += 1
                if len(pending) >= 2:   # at most one step in flight, so a signal stops within one step
                    jax.block_until_ready(pending[-2][1])
                    finished[0] = True
                bar.update(1)
                epoch_done = self.step % self.steps_per_epoch == 0
                if len(pending) >= self.cfg.log_every or epoch_done or self.step == end or self._stop_signal:
                    # dispatch is asynchronous: the clock is read once the device has finished them
                    fetched = jax.device_get([m for _, m in pending])
                    finished[0] = True
                    now = time.perf_counter()
                    self.train_seconds = seconds_before + (now - t_start)
                    rows = self._rows(pending, fetched, n_last * self.cfg.batch_size / max(now - t_last, 1e-9))
                    pending.clear()
                    t_last, n_last = now, 0
                    check_losses(rows, self.checkpoint_dir, self.cfg.lr)
                    self.run_log.append(rows)
                    history.extend(rows)
                    if on_log:
                        on_log(rows)
                    bar.set_postfix(epoch=f"{rows[-1]['epoch']:.2f}", d=f"{rows[-1]['d_loss']:.3f}",
                                    g=f"{rows[-1]['g_loss']:.3f}", img_s=f"{rows[-1]['images_per_s']:.0f}")
                if epoch_done:   # before its checkpoint: a kill in between never loses the epoch's grid
                    self._write_epoch_outputs(self.step // self.steps_per_epoch, epochs)
                if epoch_done or self.step == end or self._stop_signal:
                    path = self.save_checkpoint()
                if self._stop_signal:
                    self.write_metadata(epochs, interrupted=True)
                    raise Interrupted(self.step, path)
        self._synced()
        return history
