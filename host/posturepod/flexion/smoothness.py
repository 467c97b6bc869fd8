"""Smoothness of the bend: SPARC (spectral arc length) and LDLJ (log dimensionless jerk)
of the trunk angular speed, for the descent and the return of each repetition."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from posturepod.flexion.signals import SegmentConfig, _smooth


def sparc(speed: np.ndarray, fs: float, *, padlevel: int = 4, fc_hz: float = 10.0,
          amp_threshold: float = 0.05) -> float | None:
    """Spectral arc length of a speed profile, adaptive cut-off version (SPARC,
    Balasubramanian et al. 2015, JNER 12:112).
    More negative = less smooth; one ideal minimum-jerk movement gives about -1.41."""
    speed = np.asarray(speed, float)
    if len(speed) < 4 or not np.all(np.isfinite(speed)) or np.max(np.abs(speed)) <= 0:
        return None
    nfft = int(2 ** (math.ceil(math.log2(len(speed))) + padlevel))
    mag = np.abs(np.fft.rfft(speed, nfft))
    mag = mag / mag.max()
    f = np.arange(len(mag)) * fs / nfft
    sel = f <= fc_hz
    f, mag = f[sel], mag[sel]
    above = np.flatnonzero(mag >= amp_threshold)
    if len(above) < 2:
        return None
    f, mag = f[:above[-1] + 1], mag[:above[-1] + 1]
    df = np.diff(f) / (f[-1] - f[0])
    return float(-np.sum(np.sqrt(df ** 2 + np.diff(mag) ** 2)))


def ldlj(velocity: np.ndarray, fs: float, jerk: np.ndarray | None = None) -> float | None:
    """Log dimensionless jerk from velocity (Hogan & Sternad 2009, J Mot Behav 41:529;
    velocity form as in Balasubramanian et al. 2015): ``-ln(T^3/v_peak^2 * int jerk^2)``.
    More negative = less smooth. Depends on the differentiating filter."""
    v = np.asarray(velocity, float)
    if len(v) < 8:
        return None
    dt = 1.0 / fs
    T = (len(v) - 1) * dt
    vpeak = float(np.max(np.abs(v)))
    if vpeak <= 0 or T <= 0:
        return None
    if jerk is None:
        jerk = np.gradient(np.gradient(v, dt), dt)
    integral = float(np.sum(jerk ** 2) * dt)
    if integral <= 0:
        return None
    return float(-math.log(T ** 3 / vpeak ** 2 * integral))


def _smoothness(raw_trunk, fs, start, peak, end, cfg: SegmentConfig) -> dict:
    """SPARC and LDLJ of the trunk angular speed, for the descent and the return
    separately (each is one movement with a bell-shaped speed profile) and their mean."""
    out: dict[str, Any] = {"signal": "trunk (thorax) angular speed"}
    for name, a, b in (("descent", start, peak), ("return", peak, end)):
        seg = raw_trunk[a:b + 1]
        if len(seg) < 8 or not np.isfinite(seg).all():
            out[f"sparc_{name}"] = out[f"ldlj_{name}"] = None
            continue
        v = _smooth(seg, fs, cfg.smooth_s, deriv=1)
        j = _smooth(seg, fs, max(cfg.smooth_s, 0.3), deriv=3)
        out[f"sparc_{name}"] = sparc(np.abs(v), fs)
        out[f"ldlj_{name}"] = ldlj(v, fs, jerk=j)
    for m in ("sparc", "ldlj"):
        vals = [out[f"{m}_{p}"] for p in ("descent", "return") if out[f"{m}_{p}"] is not None]
        out[m] = float(np.mean(vals)) if vals else None
    return out
