"""Where the shipped pretrained weights live (see each directory's PROVENANCE.md)."""
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
GENERATOR_DIR = ASSETS / "pretrained_generator"
DISCRIMINATOR_DIR = ASSETS / "pretrained_discriminator"
JUDGE_DIR = ASSETS / "judge"
