"""Where the shipped pretrained weights live (see each directory's PROVENANCE.md)."""
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
GENERATOR_DIR = ASSETS / "pretrained_generator"
DISCRIMINATOR_DIR = ASSETS / "pretrained_discriminator"
JUDGE_DIR = ASSETS / "judge"
# A short early run of the same recipe (the networks at a few iterations, the log, an animation):
# what notebook 6 loads instead of training for minutes, and where its live payoff starts
# (the generator + discriminator of iteration 750, `Trainer.start_from`; see its PROVENANCE.md)
EARLY_RUN_DIR = ASSETS / "early_run"
