"""JSON-safe numbers for the forward-flexion results: rounding, NaN/inf -> None, numpy
scalars and arrays -> Python values."""
from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np


def _r(x, nd=2):
    if x is None:
        return None
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(xf):
        return None
    return round(xf, nd)


def _clean(obj):
    """Make ``obj`` JSON-safe: numpy scalars -> float/int, NaN/inf -> None."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return round(f, 4) if math.isfinite(f) else None
    try:
        return _clean(asdict(obj))
    except TypeError:
        return str(obj)
