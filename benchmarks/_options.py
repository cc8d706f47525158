"""Command-line pieces the benchmarks share."""

from __future__ import annotations

import argparse


def option(text: str) -> tuple[str, object]:
    """KEY=VALUE of an environment option (the value parsed as YAML: 80 is a number)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)
