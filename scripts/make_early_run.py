"""Make the ``acgan_lib/assets/early_run`` assets notebook 6 loads instead of training live.

A short deterministic run of the reference recipe (seed 0, bundled data) with the Trainer API:

* ``losses.csv`` - the per-step log (with ``g_real_probability``, the mean P(real) of the
  generator step's fakes);
* ``generator_NNNN/`` - generator-only exports at a few iterations, weights stored as float16
  (``checkpoint.load_generator`` casts them back to float32); batch-norm statistics stay float32;
* ``discriminator_NNNN/`` - the discriminator at iterations 200 and 750 (float16 weights); the
  pair of iteration 750 is where notebook 6's live payoff starts (``Trainer.start_from``);
* ``frames.npz`` - every ``FRAME_EVERY`` iterations up to ``FRAMES_UNTIL``, the sample grid drawn
  with the same z and labels in both batch-norm modes (uint8 pixels);
* ``progress.gif`` - those frames as a matplotlib animation.

    PYTHONPATH=. python scripts/make_early_run.py --out acgan_lib/assets/early_run

``--max-steps``, ``--export-at``, ``--disc-at`` and ``--frames-until`` carry the same run further
and export the generator / discriminator at other iterations (write to a scratch ``--out``: the
run also rewrites ``losses.csv``, ``frames.npz`` and ``progress.gif`` there).
"""
from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from acgan_lib import checkpoint, data, models, trainer

EXPORT_AT = (100, 200, 750)
DISC_AT = (200, 750)
MAX_STEPS = 750
FRAME_EVERY = 20
FRAMES_UNTIL = 200       # the animation shows the first 200 iterations (keeps the gif small)
FRAME_ROWS = 5           # rows of the animated grid (one z per row, one class per column)


def to_float16(ckpt_dir: Path) -> None:
    """Rewrite a checkpoint's large weight matrices as float16 (biases, batch-norm statistics stay float32)."""
    path = next(ckpt_dir.glob("ckpt-*")) / "arrays.npz"
    with np.load(path) as z:
        arrays = {k: (z[k].astype(np.float16) if z[k].ndim >= 2 and z[k].size > 4096 else z[k]) for k in z.files}
    np.savez(path, **arrays)


def float16_pixel_change(gen, path: Path) -> float:
    """Largest pixel change (on the [0, 255] scale) of 1,000 eval-mode samples after the float16 round trip."""
    labels = np.repeat(np.arange(10), 100)
    a = data.to_pixels(models.generate(gen, labels, key=jax.random.key(0))).astype(int)
    b = data.to_pixels(models.generate(checkpoint.load_generator(path), labels, key=jax.random.key(0))).astype(int)
    return float(np.abs(a - b).max())


def both_modes(run: trainer.Trainer, z: jax.Array, labels: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """The same z/labels drawn with running statistics (D step) and batch statistics (G step)."""
    eval_mode = models.generate(run.gen, np.asarray(labels), z=z)
    twin = nnx.clone(run.gen)              # a copy: train mode would update the running averages
    train_mode = np.asarray(twin(z, labels, train=True))
    return data.to_pixels(eval_mode), data.to_pixels(train_mode)


def make_gif(frames: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import animation

    from acgan_lib import plotting

    steps = frames["step"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), dpi=90)
    ims = []
    for ax, key, title in zip(axes, ("eval", "train"), ("D step's fakes: running statistics",
                                                        "G step's fakes: batch statistics")):
        ims.append(ax.imshow(plotting.tile(frames[key][0][..., None] / 127.5 - 1, 10), cmap="gray", vmin=0, vmax=255))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    label = fig.suptitle("")

    def draw(i):
        for im, key in zip(ims, ("eval", "train")):
            im.set_data(plotting.tile(frames[key][i][..., None] / 127.5 - 1, 10))
        label.set_text(f"iteration {steps[i]} (same z and labels in both panels)")
        return ims + [label]

    anim = animation.FuncAnimation(fig, draw, frames=len(steps))
    anim.save(path, writer=animation.PillowWriter(fps=3))
    plt.close(fig)


def iterations(text: str) -> tuple[int, ...]:
    """``"300,530"`` -> ``(300, 530)``; argparse turns the error into a one-line usage message."""
    try:
        steps = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated iterations such as 300,530, got {text!r}")
    if any(s < 1 for s in steps):
        raise argparse.ArgumentTypeError(f"iterations start at 1, got {text!r}")
    return steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="acgan_lib/assets/early_run")
    ap.add_argument("--work", default="/tmp/early_run_work")
    ap.add_argument("--max-steps", type=int, default=MAX_STEPS)
    ap.add_argument("--gif-only", action="store_true", help="only remake progress.gif from frames.npz")
    ap.add_argument("--frames-until", type=int, default=FRAMES_UNTIL,
                    help="keep frames (frames.npz, progress.gif) only up to this iteration (default "
                         "%(default)s); with --gif-only, also trims an existing frames.npz")
    ap.add_argument("--export-at", type=iterations, default=EXPORT_AT,
                    help="comma-separated iterations to export the generator at (default %(default)s)")
    ap.add_argument("--disc-at", type=iterations, default=DISC_AT,
                    help="comma-separated iterations to export the discriminator at (default %(default)s)")
    args = ap.parse_args()
    export_at, disc_at = set(args.export_at), set(args.disc_at)
    until = args.frames_until
    if args.gif_only:
        path = Path(args.out) / "frames.npz"
        with np.load(path) as f:
            frames = {k: f[k] for k in f.files}
        if until is not None:
            keep = frames["step"] <= until
            frames.update({k: frames[k][keep] for k in ("step", "eval", "train")})
            np.savez_compressed(path.with_suffix(".tmp.npz"), **frames)
            path.with_suffix(".tmp.npz").replace(path)
        make_gif(frames, Path(args.out) / "progress.gif")
        return
    out, work = Path(args.out), Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    ds = data.load_mnist("bundled")
    cfg = trainer.TrainConfig(seed=0, log_every=10)        # the reference recipe
    run = trainer.Trainer(cfg, ds, work)
    z = jnp.repeat(run.sample_z[:FRAME_ROWS], 10, axis=0)
    labels = jnp.tile(jnp.arange(10, dtype=jnp.int32), FRAME_ROWS)
    frames = {"step": [], "eval": [], "train": []}

    def save_outputs():
        """Written as the run goes, so a run stopped early still leaves usable assets."""
        shutil.copy(work / "losses.csv", out / "losses.csv")
        np.savez_compressed(out / "frames.npz", step=np.array(frames["step"]), z=np.asarray(z),
                            labels=np.asarray(labels), eval=np.stack(frames["eval"]),
                            train=np.stack(frames["train"]))

    def keep_frame():
        if until is not None and run.step > until:
            return
        e, t = both_modes(run, z, labels)
        frames["step"].append(run.step)
        frames["eval"].append(e)
        frames["train"].append(t)
        if run.step % 100 == 0 and run.step:
            save_outputs()

    def on_log(rows):
        if run.step % FRAME_EVERY == 0:
            keep_frame()
        if run.step in export_at:
            d = out / f"generator_{run.step:04d}"
            shutil.rmtree(d, ignore_errors=True)
            checkpoint.save_generator(d, run.gen, {"step": run.step, "seed": cfg.seed, "data": "bundled"})
            to_float16(d)
            print(f"generator {run.step}: largest pixel change from float16 storage "
                  f"{float16_pixel_change(run.gen, d):.0f} / 255", flush=True)
        if run.step in disc_at:
            d = out / f"discriminator_{run.step:04d}"
            shutil.rmtree(d, ignore_errors=True)
            checkpoint.save(d, 0, {"discriminator": run.disc}, {"config": {"num_classes": cfg.num_classes},
                                                                  "provenance": {"step": run.step}}, keep=None)
            to_float16(d)

    keep_frame()
    t0 = time.perf_counter()
    run.train(max_steps=args.max_steps, progress=False, on_log=on_log)
    wall = time.perf_counter() - t0
    save_outputs()
    make_gif({k: np.array(v) for k, v in frames.items()}, out / "progress.gif")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"wall {wall:.0f} s for {run.step} iterations; commit {commit}; {platform.processor() or platform.machine()}; "
          f"jax {jax.__version__} {jax.devices()[0].device_kind}")


if __name__ == "__main__":
    main()
