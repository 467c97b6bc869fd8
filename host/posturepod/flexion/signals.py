"""The angle signals the forward-flexion analysis works on: :class:`SegmentConfig` (the
signal settings shared by every step: smoothing, bend detection, rhythm bins, timing), the
AngleSeries resampled onto a uniform grid with gaps filled, Savitzky-Golay smoothing and
derivatives, and runs of a boolean mask."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentConfig:
    """How bends are found (docs/flexion.md, "Segmentation")."""
    detect_deg: float = 20.0        # smoothed trunk flexion above this is part of a bend
    onset_min_deg: float = 1.5      # start/end: trunk within this of the standing baseline...
    onset_fraction: float = 0.03    # ...or this fraction of the bend's excursion, if larger
    smooth_s: float = 0.25          # Savitzky-Golay window (order 2) for all angles
    merge_gap_s: float = 0.4        # dips below detect_deg shorter than this are merged
    min_above_s: float = 0.3        # shorter excursions above detect_deg are ignored
    baseline_window_s: float = 5.0  # standing baseline: before/after each bend
    calibration: str = "auto"       # "auto" | "events" | "first" | "none"
    bin_deg: float = 30.0           # rhythm bins of trunk flexion
    min_bin_span_deg: float = 10.0  # a partial last bin is reported when at least this wide
    lead_velocity_fraction: float = 0.1  # timing: ignore samples slower than this x peak
    seated_pelvis_deg: float = -8.0  # pelvis tilted back beyond this (median over 2 s before
    #                                  a bend or after it) is sitting: a sit-down or stand-up


# --------------------------------------------------------------------------- signal helpers
def _fill_nan(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Linear interpolation over non-finite samples; returns (filled, fraction missing)."""
    y = np.asarray(y, float)
    ok = np.isfinite(y)
    if ok.all():
        return y, 0.0
    if not ok.any():
        return np.full_like(y, np.nan), 1.0
    out = y.copy()
    out[~ok] = np.interp(t[~ok], t[ok], y[ok])
    return out, float(1.0 - ok.mean())


def _savgol(y: np.ndarray, window: int, order: int, deriv: int, delta: float) -> np.ndarray:
    """Savitzky-Golay filter (least-squares polynomial of ``order`` over ``window`` odd
    samples), value or derivative; edges from the polynomial fitted to the first / last
    window (like scipy's mode="interp"). Plain numpy: importing scipy.signal costs ~1 s."""
    half = window // 2
    x = np.arange(-half, half + 1, dtype=float)
    pinv = np.linalg.pinv(np.vander(x, order + 1, increasing=True))
    c = pinv[deriv] * math.factorial(deriv) / delta ** deriv
    out = np.convolve(y, c[::-1], mode="same")
    xe = np.arange(window, dtype=float)
    pe = np.linalg.pinv(np.vander(xe, order + 1, increasing=True))
    P = np.polynomial.polynomial
    for seg, pos, dst in ((y[:window], xe[:half], slice(0, half)),
                          (y[-window:], xe[window - half:], slice(len(y) - half, len(y)))):
        coef = pe @ seg
        if deriv:
            coef = P.polyder(coef, deriv)
        out[dst] = P.polyval(pos, coef) / delta ** deriv
    return out


def _smooth(y: np.ndarray, fs: float, window_s: float, deriv: int = 0) -> np.ndarray:
    n = len(y)
    w = int(round(window_s * fs)) | 1
    w = max(w, 5 if deriv < 3 else 7)
    if n < w:
        w = n if n % 2 else n - 1
    order = 2 if deriv < 3 else 3
    if w <= order:
        if deriv == 0:
            return y.copy()
        return np.gradient(y, 1.0 / fs) if deriv == 1 else np.zeros_like(y)
    return _savgol(np.asarray(y, float), w, order, deriv, 1.0 / fs)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of True runs."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist()))


# --------------------------------------------------------------------------- preparation
_FIELDS = ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg")


def _prepare(series, cfg: SegmentConfig, warnings: list[str]) -> dict:
    t = np.asarray(series.time_s, float)
    ok_t = np.isfinite(t)
    if not ok_t.all():
        warnings.append(f"{int((~ok_t).sum())} samples without a time dropped")
    raw = {}
    for name in _FIELDS:
        arr = getattr(series, name, None)
        arr = np.full(len(t), np.nan) if arr is None else np.asarray(arr, float)
        if arr.shape != t.shape:
            raise ValueError(f"AngleSeries.{name} has {arr.shape}, time_s has {t.shape}")
        raw[name] = arr[ok_t]
    t = t[ok_t]
    order = np.argsort(t, kind="stable")
    t = t[order]
    for k in raw:
        raw[k] = raw[k][order]
    keep = np.concatenate(([True], np.diff(t) > 0))
    t = t[keep]
    for k in raw:
        raw[k] = raw[k][keep]
    if len(t) < 10:
        raise ValueError("too few samples to analyse a forward-flexion test")
    dt = float(np.median(np.diff(t)))
    fs = 1.0 / dt
    n = int(math.floor((t[-1] - t[0]) / dt)) + 1
    grid = t[0] + np.arange(n) * dt
    uniform = len(grid) == len(t) and np.allclose(grid, t, atol=0.25 * dt)
    out = {"time_s": grid, "fs": fs}
    missing = {}
    for k, y in raw.items():
        y, frac = _fill_nan(t, y)
        missing[k] = frac
        if not uniform and np.isfinite(y).any():
            y = np.interp(grid, t, y)
        elif not uniform:
            y = np.full(n, np.nan)
        out[k + "_raw"] = y
        out[k] = _smooth(y, fs, cfg.smooth_s) if np.isfinite(y).all() else y
    for k in ("pelvis_deg", "thorax_deg"):
        if missing[k] >= 1.0:
            warnings.append(f"no {k.split('_')[0]} angle in the recording")
        elif missing[k] > 0.01:
            warnings.append(f"{k.split('_')[0]} angle missing in {100 * missing[k]:.1f}% "
                            f"of samples (interpolated)")
    out["missing"] = missing
    out["trunk_vel"] = _smooth(out["thorax_deg_raw"], fs, cfg.smooth_s, deriv=1) \
        if np.isfinite(out["thorax_deg_raw"]).all() else np.gradient(out["thorax_deg"], dt)
    return out
