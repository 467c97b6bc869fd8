"""Repetitions of the forward-flexion test: the bends of the trunk angle (start, peak, end
against the standing baseline), which one is the calibration bend, the recording's events,
and :class:`Repetition`, the measured record of one test repetition."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturepod.flexion.jsonsafe import _clean, _r
from posturepod.flexion.signals import SegmentConfig, _runs


@dataclass
class Bend:
    start: int
    peak: int
    end: int
    baseline_deg: float


@dataclass
class Repetition:
    index: int                      # 1-based among the test repetitions
    start_s: float
    peak_s: float
    end_s: float
    peak_trunk_deg: float
    peak_pelvis_deg: float | None
    peak_lumbar_deg: float | None
    peak_neck_deg: float | None
    lumbar_share: float | None
    pelvis_at_trunk_peak_deg: float | None
    lumbar_at_trunk_peak_deg: float | None
    rhythm: dict
    timing: dict
    smoothness: dict
    pattern: str
    reasons: list[str]
    borderline: bool = False
    start_i: int = 0
    peak_i: int = 0
    end_i: int = 0

    def to_json(self) -> dict:
        d = {
            "index": self.index,
            "start_s": _r(self.start_s, 3), "end_s": _r(self.end_s, 3),
            "peak_s": _r(self.peak_s, 3), "duration_s": _r(self.end_s - self.start_s, 3),
            "peak_trunk_deg": _r(self.peak_trunk_deg), "peak_pelvis_deg": _r(self.peak_pelvis_deg),
            "peak_lumbar_deg": _r(self.peak_lumbar_deg), "peak_neck_deg": _r(self.peak_neck_deg),
            "lumbar_share": _r(self.lumbar_share, 3),
            "pelvis_at_trunk_peak_deg": _r(self.pelvis_at_trunk_peak_deg),
            "lumbar_at_trunk_peak_deg": _r(self.lumbar_at_trunk_peak_deg),
            "rhythm": _clean(self.rhythm), "timing": _clean(self.timing),
            "smoothness": _clean(self.smoothness),
            "pattern": self.pattern, "reasons": list(self.reasons),
            "borderline": bool(self.borderline),
        }
        return d


# --------------------------------------------------------------------------- segmentation
def find_bends(time_s: np.ndarray, trunk_deg: np.ndarray, fs: float,
               cfg: SegmentConfig | None = None) -> list[Bend]:
    """All forward bends of the (smoothed) trunk angle, calibration bend included."""
    cfg = cfg or SegmentConfig()
    y = np.asarray(trunk_deg, float)
    n = len(y)
    runs = _runs(y > cfg.detect_deg)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (a - merged[-1][1]) / fs < cfg.merge_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    merged = [r for r in merged if (r[1] - r[0]) / fs >= cfg.min_above_s]
    bends: list[Bend] = []
    win = int(cfg.baseline_window_s * fs)
    for k, (a, b) in enumerate(merged):
        peak = a + int(np.argmax(y[a:b]))
        lo = merged[k - 1][1] if k else 0
        hi = merged[k + 1][0] if k + 1 < len(merged) else n
        before = y[max(lo, a - win):a + 1]
        after = y[b - 1:min(hi, b + win)]
        base_b = float(np.percentile(before, 10)) if len(before) else 0.0
        base_a = float(np.percentile(after, 10)) if len(after) else base_b
        exc = y[peak] - min(base_b, base_a)
        lev = max(cfg.onset_min_deg, cfg.onset_fraction * exc)
        idx = np.flatnonzero(y[lo:a + 1] <= base_b + lev)
        start = lo + int(idx[-1]) if len(idx) else lo
        idx = np.flatnonzero(y[b - 1:hi] <= base_a + lev)
        end = b - 1 + int(idx[0]) if len(idx) else hi - 1
        if bends and start < bends[-1].end:
            start = bends[-1].end
        bends.append(Bend(start=start, peak=peak, end=end, baseline_deg=base_b))
    return bends


def _events(events) -> list[tuple[float, str]]:
    out = []
    for e in events or []:
        if isinstance(e, dict):
            out.append((float(e["time_s"]), str(e["label"])))
        else:
            out.append((float(e.time_s), str(e.label)))
    return sorted(out)


def _pick_calibration(bends: list[Bend], t: np.ndarray, events, cfg: SegmentConfig,
                      warnings: list[str]) -> tuple[int | None, str]:
    """Index in ``bends`` of the calibration bend and how it was identified."""
    if not bends or cfg.calibration == "none":
        return None, "none"
    ev = _events(events)
    calib = [ts for ts, lab in ev if lab == "calib_bend"]
    if calib and cfg.calibration in ("auto", "events"):
        tc = calib[0]
        for i, b in enumerate(bends):
            if t[b.start] - 1.0 <= tc <= t[b.end] + 1.0:
                return i, "event calib_bend"
        later = [i for i, b in enumerate(bends) if t[b.start] >= tc - 1.0]
        if later:
            return later[0], "event calib_bend (next bend)"
        warnings.append("calib_bend event after every bend: taking the first bend as the "
                        "calibration bend")
        return 0, "first bend"
    if cfg.calibration == "events":
        warnings.append("no calib_bend event: taking the first bend as the calibration bend")
    return 0, "first bend"
