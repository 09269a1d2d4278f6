"""Layer tables and parameter counts of the two networks (the ``info`` command, notebook 3).

Reads :mod:`acgan_lib.models` without changing it; shapes are computed with ``jax.eval_shape``
(nothing runs), so the networks may be abstract: ``nnx.eval_shape(lambda: models.Generator(rngs=
nnx.Rngs(0)))`` describes a generator without drawing its 2.6 M random weights.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .models import DISCRIMINATOR_LAYERS, GENERATOR_LAYERS, IMAGE_SHAPE, Discriminator, Generator


def count_params(module: nnx.Module, kind=nnx.Param) -> int:
    """Number of scalars in the module's variables of ``kind`` (trainable parameters by default)."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(module, kind))))


@dataclasses.dataclass(frozen=True)
class LayerRow:
    name: str
    shape: tuple[int, ...]
    params: int


def summary_rows(gen: Generator, disc: Discriminator) -> dict[str, list[LayerRow]]:
    """Per-layer output shape and parameter count of both networks (batch of 1, shapes only)."""
    def params_of(*mods):
        return sum(count_params(m) for m in mods)

    z = jnp.zeros((1, gen.latent_dim))
    lab = jnp.zeros((1,), jnp.int32)
    # shapes only: the networks' variables enter as arguments, so abstract networks (nnx.eval_shape) work too
    g_def, g_state = nnx.split(gen)
    glayers = jax.eval_shape(lambda s: [a for _, a in nnx.merge(g_def, s).layers(z, lab, train=False)], g_state)
    gparams = [params_of(gen.embedding), 0, params_of(gen.dense), params_of(gen.deconv1, gen.bn1),
               params_of(gen.deconv2, gen.bn2), params_of(gen.deconv3)]
    g_rows = [LayerRow(n, tuple(s.shape[1:]), p) for n, s, p in zip(GENERATOR_LAYERS, glayers, gparams)]
    x = jnp.zeros((1, *IMAGE_SHAPE))
    d_def, d_state = nnx.split(disc)
    dlayers = jax.eval_shape(lambda s: [a for _, a in nnx.merge(d_def, s).features(x, train=False)], d_state)
    dparams = [params_of(c) for c in disc.convs] + [0]
    d_rows = [LayerRow(n, tuple(s.shape[1:]), p) for n, s, p in zip(DISCRIMINATOR_LAYERS, dlayers, dparams)]
    d_rows.append(LayerRow("realness head (logit)", (1,), params_of(disc.realness_head)))
    d_rows.append(LayerRow("class head (logits)", (disc.num_classes,), params_of(disc.class_head)))
    return {"generator": g_rows, "discriminator": d_rows}


def format_summary(gen: Generator, disc: Discriminator) -> str:
    """A printable layer table of both networks with totals (the ``info`` command)."""
    lines = []
    for net, rows in summary_rows(gen, disc).items():
        module = gen if net == "generator" else disc
        lines.append(f"{net}")
        lines.append(f"  {'layer':<32}{'output shape':<18}{'params':>12}")
        for r in rows:
            lines.append(f"  {r.name:<32}{str(r.shape):<18}{r.params:>12,}")
        lines.append(f"  {'trainable parameters':<50}{count_params(module):>12,}")
        stats = count_params(module, nnx.BatchStat)
        if stats:
            lines.append(f"  {'batch-norm statistics (not trained)':<50}{stats:>12,}")
        lines.append("")
    return "\n".join(lines)
