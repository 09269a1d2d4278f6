"""Answer checkers for the notebooks' exercises: ``check_*`` says right or wrong, never the answer.

Each notebook's exercises that have a definite answer call one of these; the worked solutions
live in hidden ``solution`` cells of the instructor notebooks (``make student`` removes them).
Every checker prints one line starting with "right" or "not yet" and returns a bool.
"""
from __future__ import annotations


def _report(ok: bool, right: str, hint: str) -> bool:
    """Print the verdict (``right: ...`` or ``not yet: <hint>``) and return ``ok``."""
    print(f"right: {right}" if ok else f"not yet: {hint}")
    return bool(ok)


# ----------------------------------------------------------------------------- notebook 01


# ----------------------------------------------------------------------------- notebook 02 (2-D toy)


# ----------------------------------------------------------------------------- notebook 03


# ----------------------------------------------------------------------------- notebook 04


# ----------------------------------------------------------------------------- notebook 05


# ----------------------------------------------------------------------------- notebook 06


# ----------------------------------------------------------------------------- notebook 07
