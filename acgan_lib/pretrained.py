"""Where the shipped pretrained weights live (see each directory's PROVENANCE.md)."""
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
GENERATOR_DIR = ASSETS / "pretrained_generator"
JUDGE_DIR = ASSETS / "judge"
