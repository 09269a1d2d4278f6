"""argparse value types shared by the command line and :mod:`acgan_lib.config` (no JAX import here:
the CLI installs its signal handlers before anything imports JAX)."""
from __future__ import annotations

import argparse
from typing import Any, Callable


def number_arg(parse: Callable[[str], Any], ok: Callable[[Any], bool] | None, rule: str,
               name: str = "number") -> Callable[[str], Any]:
    """An argparse ``type``: ``parse`` the text (``int`` or ``float``), then require ``ok(value)``.

    Errors read ``expected a whole number, got 'x'`` or ``must be <rule>, got <text>`` (argparse
    prefixes the option). The CLI's own options and every TrainConfig field use this one converter.
    """
    def convert(text: str):
        try:
            value = parse(text)
        except (ValueError, OverflowError):
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if ok is not None and not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    convert.__name__ = name
    return convert
