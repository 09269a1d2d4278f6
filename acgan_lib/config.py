"""The settings of a training run: :class:`TrainConfig`, the one place each setting is defined.

Every field carries, in its metadata, its help text, the rule a valid value obeys, whether the
command line offers it and whether a resumed run must keep it.  :meth:`TrainConfig.validate`
checks those rules, and the CLI builds ``train``'s options from the same fields
(:func:`cli_type` turns a rule into an argparse type), so a setting's default, help and bounds
are written once, here.  The reference recipe's numbers are defined here too (``models``,
``training`` and ``conv_transpose`` import them), and this module imports no JAX: the command
line builds its options (``--help``, argument errors) before JAX is loaded.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from .argtypes import number_arg

# The reference recipe (tfjs mnist-acgan): defaults of the TrainConfig fields below, read by the
# networks (models.LATENT_DIM, ...) and the training steps (training.SOFT_ONE, ...) from here.
NUM_CLASSES = 10         # digits 0..9
LATENT_DIM = 100         # length of z
BATCH_SIZE = 100         # real digits per discriminator step (the generator step uses twice as many)
LEARNING_RATE = 2e-4     # Adam, both networks
ADAM_BETA1 = 0.5
SOFT_ONE = 0.95          # realness target for real images ("one-sided label smoothing")
CONV_IMPLS = ("auto", "matmul", "xla")   # transposed-convolution implementations (acgan_lib.conv_transpose)

MAX_SEED = 2**31 - 1           # jax.random.key takes an int32 seed
MAX_LATENT_DIM = 10_000

Rule = tuple[Callable[[Any], bool], str]   # (predicate, "what a valid value is", read as "must be ...")
AT_LEAST_ONE: Rule = (lambda v: v >= 1, ">= 1")


def _field(default, help: str, rule: Rule | None = None, *, cli: bool = True, resume_must_match: bool = False,
           **extra):
    """A TrainConfig field: its help text (shown by the CLI), its rule and whether resume must keep it."""
    return dataclasses.field(default=default, metadata={"help": help, "rule": rule, "cli": cli,
                                                        "resume_must_match": resume_must_match, **extra})


def _finite_non_negative(v) -> bool:
    return math.isfinite(v) and v >= 0


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (saved in every checkpoint). Defaults = the reference recipe.

    Each field's metadata holds its help text (the CLI's ``train --help`` is built from it), its
    rule (checked by :meth:`validate` and by the CLI's parser) and whether a resumed run must use
    the same value (:meth:`resume_must_match`).
    """
    epochs: int = _field(100, "epochs to train to", AT_LEAST_ONE)
    batch_size: int = _field(BATCH_SIZE, "real digits per iteration (the generator step uses twice "
                             "as many)", AT_LEAST_ONE, resume_must_match=True)
    latent_dim: int = _field(LATENT_DIM, "length of the latent vector z",
                             (lambda v: 1 <= v <= MAX_LATENT_DIM, f"in 1..{MAX_LATENT_DIM}"), resume_must_match=True)
    num_classes: int = _field(NUM_CLASSES, "number of digit classes", (lambda v: v >= 2, ">= 2"), cli=False,
                              resume_must_match=True)
    lr: float = _field(LEARNING_RATE, "Adam learning rate of both networks",
                       (lambda v: 0 < v < math.inf, "a positive finite number"), resume_must_match=True)
    beta1: float = _field(ADAM_BETA1, "Adam beta1 of both networks", (lambda v: 0 <= v < 1, "in [0, 1)"),
                          resume_must_match=True)
    soft_one: float = _field(SOFT_ONE, "realness target for real digits (one-sided label smoothing: "
                             "0.95 instead of 1 keeps the discriminator from becoming over-confident); "
                             "also the generator's target", (lambda v: 0 < v <= 1, "in (0, 1]"),
                             resume_must_match=True)
    realness_weight: float = _field(1.0, "weight of the realness loss term",
                                    (_finite_non_negative, "a finite number >= 0"), cli=False,
                                    resume_must_match=True)
    class_weight: float = _field(1.0, "weight of the class loss term",
                                 (_finite_non_negative, "a finite number >= 0"), cli=False, resume_must_match=True)
    seed: int = _field(0, "random seed (weights, batches, noise)", (lambda v: 0 <= v <= MAX_SEED, f"in 0..{MAX_SEED}"),
                       resume_must_match=True)
    explicit_gradients: bool = _field(False, "compute each loss's gradient separately and add them (same "
                                      "update, two backward passes)")
    log_every: int = _field(10, "fetch metrics and append to losses.csv every N iterations", AT_LEAST_ONE)
    keep_checkpoints: int = _field(3, "how many of the newest checkpoints to keep", AT_LEAST_ONE, cli=False)
    sample_rows: int = _field(10, "rows of the sample grid written at every epoch end", AT_LEAST_ONE, cli=False)
    conv_impl: str = _field("auto", "transposed-convolution implementation: auto, matmul or xla (same math)",
                            (lambda v: v in CONV_IMPLS, "one of " + "|".join(CONV_IMPLS)), choices=CONV_IMPLS)
    ema_decay: float = _field(0.0, "also keep a moving average of the generator with this decay, e.g. 0.999 "
                              "(0 = off; training is unchanged either way); export it with export --ema",
                              (lambda v: 0 <= v < 1, "in [0, 1) (0 = off)"))
    devices: int = _field(0, "split each batch over this many devices (data parallel, acgan_lib.parallel; the "
                          "batch size must be a multiple); 0 = all local GPUs/TPUs, 1 on a CPU. Not part of "
                          "the recipe: a run may resume on another device count",
                          (lambda v: v >= 0, ">= 0 (0 = all local devices)"))

    def __post_init__(self) -> None:
        # accept what a NumPy user passes: np.int64(100) batch sizes, np.float32 rates
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int) and isinstance(v, np.integer):
                setattr(self, f.name, int(v))
            elif f.type in ("float", float) and isinstance(v, (np.floating, np.integer)):
                setattr(self, f.name, float(v))

    @classmethod
    def resume_must_match(cls) -> list[str]:
        """Settings a resumed run must share with its checkpoint (they change what training computes)."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("resume_must_match")]

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting: ``"<name> must be <rule>, got <value>"``."""
        for f in dataclasses.fields(self):
            v, want = getattr(self, f.name), _PYTHON_TYPES[f.type]
            if isinstance(v, bool) and f.type != "bool" or not isinstance(v, want):
                raise ValueError(f"{f.name} must be of type {f.type}, got {v!r}")
            rule = f.metadata["rule"]
            if rule is not None and not rule[0](v):
                raise ValueError(f"{f.name} must be {rule[1]}, got {v!r}")

    @property
    def weights(self):
        """The two loss weights as :class:`acgan_lib.training.LossWeights`."""
        from .training import LossWeights     # (JAX is imported only when training needs it)

        return LossWeights(self.realness_weight, self.class_weight)


_PYTHON_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}


def cli_type(field: dataclasses.Field) -> Callable[[str], Any]:
    """The argparse ``type`` of a numeric TrainConfig field: parse the text, then apply the field's rule.

    Errors read ``must be <rule>, got <text>`` (argparse prefixes the option), the same rule
    :meth:`TrainConfig.validate` applies.
    """
    rule = field.metadata["rule"]
    return number_arg({"int": int, "float": float}[field.type], rule[0] if rule else None,
                      rule[1] if rule else "", field.name)
