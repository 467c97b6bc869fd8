"""Sagittal segment angles and the joint angles between them (definitions: docs/angles.md).

Sagittal angle of a segment, degrees::

    theta = atan2(f . u, Z . u),   f = normalize(m x Z)

u: the segment's cranial axis, m: its left axis, both in the earth frame; Z: earth up.
Positive = forward (anterior) inclination; 0 in the calibration stand; heading-free;
continuous past 90 degrees (range -180..180).

``pelvis_deg`` (pelvic tilt, anterior positive), ``thorax_deg``, ``head_deg``,
``lumbar_deg`` = thorax - pelvis, ``neck_deg`` = head - thorax.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from posturepod.motion import quaternion as Q
from posturepod.recordings.data import Recording

__all__ = ["AngleSeries", "recording_angles", "iter_angles", "sagittal_angle_deg",
           "segment_angle_deg", "ANGLE_NAMES"]

ANGLE_NAMES = ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg")
SEGMENTS = ("pelvis", "thorax", "head")


@dataclass
class AngleSeries:
    """Angles on one time axis (seconds on the recording clock), degrees; NaN where a pod
    is missing or lost data. ``meta``: rate_hz, causal, filter, calibration (dict)."""
    time_s: np.ndarray
    pelvis_deg: np.ndarray
    thorax_deg: np.ndarray
    head_deg: np.ndarray
    lumbar_deg: np.ndarray
    neck_deg: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.time_s)

    @classmethod
    def concat(cls, parts: list["AngleSeries"], meta: dict | None = None) -> "AngleSeries":
        if not parts:
            e = np.zeros(0)
            return cls(e, e, e, e, e, e, dict(meta or {}))
        cols = {k: np.concatenate([getattr(p, k) for p in parts])
                for k in ("time_s",) + ANGLE_NAMES}
        return cls(**cols, meta=dict(meta if meta is not None else parts[0].meta))


def sagittal_angle_deg(u_earth: np.ndarray, m_earth: np.ndarray) -> np.ndarray:
    """theta = atan2(f . u, Z . u), f = normalize(m x Z); u (..., 3) cranial axis, m (..., 3)
    left axis, both in the earth frame (z up). Degrees, -180..180, forward positive."""
    u = np.asarray(u_earth, float)
    m = np.asarray(m_earth, float)
    # m x Z = (m_y, -m_x, 0)
    fx, fy = m[..., 1], -m[..., 0]
    h = np.hypot(fx, fy)
    h = np.where(h > 1e-12, h, np.nan)
    return np.degrees(np.arctan2((fx * u[..., 0] + fy * u[..., 1]) / h, u[..., 2]))


def segment_angle_deg(quat: np.ndarray, axes_in_sensor: np.ndarray) -> np.ndarray:
    """Sagittal angle of a segment from its pod's orientation ``quat`` (N, 4: w-first,
    sensor to earth, earth z up) and the calibration axes (rows x, y, z in sensor
    coordinates)."""
    u = Q.rotate(quat, axes_in_sensor[2])
    m = Q.rotate(quat, axes_in_sensor[1])
    return sagittal_angle_deg(u, m)


def _settings(causal: bool, calib_pod, rate: float):
    from posturepod.motion.fusion import LIVE_DEFAULT, RECORDED_DEFAULT
    base = LIVE_DEFAULT if causal else RECORDED_DEFAULT
    return replace(base, rate_hz=rate, gyr_bias_rad_s=tuple(map(float, calib_pod.gyr_bias_rad_s)))


def _grid(rec: Recording, rate_hz: float | None):
    pods = [p for p in rec.pods.values() if len(p) >= 2]
    t0 = max(p.time_s[0] for p in pods)
    t1 = min(p.time_s[-1] for p in pods)
    rate = float(rate_hz) if rate_hz else float(min(p.rate_hz for p in pods))
    return t0, t1, rate


class _PodStream:
    """Chunked fusion of one pod: orientation-derived sagittal angle for successive time
    windows, carrying the causal filter's state, or padding non-causal windows."""

    def __init__(self, pod, calib_pod, causal: bool, pad_s: float):
        from posturepod.motion.fusion import LiveFusion
        self.pod = pod
        self.cal = calib_pod
        self.causal = causal
        self.pad_s = pad_s
        self.rate = pod.rate_hz
        self.settings = _settings(causal, calib_pod, self.rate)
        self.live = LiveFusion(self.settings, self.rate) if causal else None
        self.done = 0          # causal: samples already fed to the live filter
        self.cache_start = 0   # causal: angles of samples cache_start..done-1
        self.cache_th = np.zeros(0)

    def angles(self, t_lo: float, t_hi: float):
        """(time_s, theta_deg) for samples covering [t_lo, t_hi] plus one either side."""
        from posturepod.motion.fusion import fuse
        p = self.pod
        i0 = max(int(p.time_s.searchsorted(t_lo, "right")) - 1, 0)
        i1 = min(int(p.time_s.searchsorted(t_hi, "left")) + 1, len(p))
        if self.causal:
            if i1 > self.done:
                sl = slice(self.done, i1)
                q_new = self.live.update_batch(p.gyr_rad_s[sl], p.acc_m_s2[sl],
                                               None if p.mag_ut is None else p.mag_ut[sl])
                th_new = segment_angle_deg(q_new, self.cal.axes_in_sensor)
                self.cache_th = np.concatenate([self.cache_th, th_new])
                self.done = i1
            i0 = max(i0, self.cache_start)
            th = self.cache_th[i0 - self.cache_start:i1 - self.cache_start]
            keep = max(i1 - 8, self.cache_start)       # a few samples for the next chunk
            self.cache_th = self.cache_th[keep - self.cache_start:]
            self.cache_start = keep
            return p.time_s[i0:i1], th
        j0 = int(p.time_s.searchsorted(p.time_s[i0] - self.pad_s))
        j1 = int(p.time_s.searchsorted(p.time_s[i1 - 1] + self.pad_s, "right"))
        sl = slice(j0, j1)
        q = fuse(p.time_s[sl], p.gyr_rad_s[sl], p.acc_m_s2[sl],
                 None if p.mag_ut is None else p.mag_ut[sl], self.settings)
        th = segment_angle_deg(q[i0 - j0:i1 - j0], self.cal.axes_in_sensor)
        return p.time_s[i0:i1], th


def _interp_angle(tg, t, th, gaps):
    """Interpolate angles (deg) at tg, unwrapping so a crossing of 180 deg does not
    interpolate through 0; NaN outside the data and inside gaps."""
    if len(t) == 0:
        return np.full(len(tg), np.nan)
    thu = np.unwrap(np.radians(th))
    out = np.degrees(np.interp(tg, t, thu, left=np.nan, right=np.nan))
    out = (out + 180.0) % 360.0 - 180.0
    for a, b in gaps:
        out[(tg > a) & (tg < b)] = np.nan
    return out


def iter_angles(rec: Recording, *, causal: bool = False, rate_hz: float | None = None,
                calibration=None, chunk_s: float = 1800.0, pad_s: float = 30.0
                ) -> Iterator[AngleSeries]:
    """Angles in successive chunks of ``chunk_s`` seconds (memory bounded by the chunk, not
    the recording). Causal: one live filter per pod carried across chunks (identical to an
    unchunked causal run). Non-causal: each chunk is fused with ``pad_s`` seconds of data
    either side (offline filter), so chunk edges are seamless in practice.
    ``calibration``: a :class:`~posturepod.motion.calibration.Calibration`, or None to find it."""
    from posturepod.motion.calibration import calibrate
    cal = calibration if calibration is not None else calibrate(rec)
    t0, t1, rate = _grid(rec, rate_hz)
    meta = {"rate_hz": rate, "causal": causal, "filter": "vqf",
            "calibration": cal.to_dict()}
    streams = {r: _PodStream(rec.pods[r], cal.pods[r], causal, pad_s)
               for r in SEGMENTS if r in rec.pods and r in cal.pods}
    n_total = int(np.floor((t1 - t0) * rate + 1e-9)) + 1
    n_chunk = max(int(round(chunk_s * rate)), 1)
    for k0 in range(0, n_total, n_chunk):
        k1 = min(k0 + n_chunk, n_total)
        tg = t0 + np.arange(k0, k1) / rate
        seg = {}
        for r in SEGMENTS:
            if r in streams:
                t, th = streams[r].angles(tg[0], tg[-1])
                seg[r] = _interp_angle(tg, t, th, rec.pods[r].gaps)
            else:
                seg[r] = np.full(len(tg), np.nan)
        yield AngleSeries(tg, seg["pelvis"], seg["thorax"], seg["head"],
                          _wrap(seg["thorax"] - seg["pelvis"]),
                          _wrap(seg["head"] - seg["thorax"]), meta)


def _wrap(d):
    return (d + 180.0) % 360.0 - 180.0


def recording_angles(rec: Recording, *, causal: bool = False, rate_hz: float | None = None,
                     calibration=None) -> AngleSeries:
    """The five angles of a recording on one time axis (all pods resampled to it).

    causal: False = offline fusion (recorded data default), True = live filter.
    rate_hz: output rate; None = the slowest pod's rate. The axis runs over the span all
    pods cover. calibration: None = found from the recording's calibration routine.
    """
    from posturepod.motion.calibration import calibrate
    cal = calibration if calibration is not None else calibrate(rec)
    parts = list(iter_angles(rec, causal=causal, rate_hz=rate_hz, calibration=cal,
                             chunk_s=3600.0))
    return AngleSeries.concat(parts)
