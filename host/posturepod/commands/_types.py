"""argparse value types shared by the commands: a bad number is a clear usage error
(exit status 2, the option named), never a traceback deep in the analysis."""
from __future__ import annotations

import argparse
import math


def positive(text: str) -> float:
    """A finite number above zero."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return v


def bounded(lo: float, hi: float):
    """A finite number in [lo, hi]."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise argparse.ArgumentTypeError(f"must be between {lo:g} and {hi:g}, not {text}")
        return v
    return parse
