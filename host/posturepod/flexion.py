"""Standing forward-flexion test: find the repetitions, measure the lumbopelvic rhythm,
judge the pattern.

Input is an :class:`posturepod.angles.AngleSeries` (sagittal inclinations in degrees,
positive = forward, 0 in the calibration standing posture; ``lumbar = thorax - pelvis``,
``neck = head - thorax``) plus, where the recording has them, its events.

What is measured per repetition (see docs/flexion.md for the definitions and sources):

* start, peak and end of the bend (seconds on the recording clock);
* peak trunk (thorax), pelvic, lumbar (thoracopelvic) and neck angles: maxima over the
  repetition of the lightly smoothed series;
* lumbar share: ``lumbar / thorax`` at the instant of peak trunk flexion;
* lumbopelvic rhythm: lumbar:pelvic ratio of the angle changes inside 30 degree bins of
  trunk flexion, going down and coming up;
* timing: which segment leads the descent and the return, pelvic onset delay, the trunk
  angle at which the pelvis takes over;
* smoothness of the trunk angular speed: SPARC (Balasubramanian et al. 2012, 2015) and
  LDLJ (Hogan & Sternad 2009);
* pattern: ``normal``, ``inhibited_hip`` or ``inconclusive``, by :class:`VerdictRule`.

The calibration bend (the first bend after the initial quiet standing, 30-60 degrees) is
never a test repetition: it is found from the ``calib_bend`` event when present, else it
is the first bend of the recording.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

PROTOCOL = "flexion"
NORMAL = "normal"
INHIBITED = "inhibited_hip"
INCONCLUSIVE = "inconclusive"
PATTERNS = (NORMAL, INHIBITED, INCONCLUSIVE)

# JSON contract (docs/flexion.md): these keys must be present, spelt exactly so.
REP_KEYS = ("start_s", "end_s", "peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg",
            "peak_neck_deg", "lumbar_share", "rhythm", "pattern")
SUMMARY_KEYS = ("peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg", "peak_neck_deg",
                "lumbar_share", "pattern")


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict (docs/flexion.md, "Verdict rule").

    A repetition whose peak trunk flexion is below ``min_trunk_deg`` is ``inconclusive``:
    the pelvis normally takes over late in the bend, so a shallow bend cannot show it.
    Otherwise it is ``inhibited_hip`` when the peak pelvic rotation is below
    ``max_pelvis_deg`` and (``combine="and"``) / or (``combine="or"``) the lumbar share of
    the trunk flexion at its peak is above ``min_lumbar_share``; else ``normal``.
    Values within ``borderline_pelvis_deg`` / ``borderline_share`` of a threshold are
    flagged as borderline (the verdict is still given).
    """
    min_trunk_deg: float = 60.0
    max_pelvis_deg: float = 50.0
    min_lumbar_share: float = 0.5
    combine: str = "and"
    borderline_pelvis_deg: float = 5.0
    borderline_share: float = 0.05

    def __post_init__(self):
        if self.combine not in ("and", "or"):
            raise ValueError(f"VerdictRule.combine must be 'and' or 'or', not {self.combine!r}")

    def classify(self, peak_trunk: float | None, peak_pelvis: float | None,
                 lumbar_share: float | None) -> tuple[str, list[str]]:
        """Return (pattern, reasons in plain words)."""
        if peak_trunk is None or not math.isfinite(peak_trunk):
            return INCONCLUSIVE, ["no trunk angle"]
        if peak_trunk < self.min_trunk_deg:
            return INCONCLUSIVE, [f"bend too shallow to judge: peak trunk flexion "
                                  f"{peak_trunk:.0f} deg < {self.min_trunk_deg:.0f} deg"]
        if peak_pelvis is None or lumbar_share is None or not (
                math.isfinite(peak_pelvis) and math.isfinite(lumbar_share)):
            return INCONCLUSIVE, ["pelvic angle missing"]
        low_pelvis = peak_pelvis < self.max_pelvis_deg
        high_share = lumbar_share > self.min_lumbar_share
        reasons = [
            f"pelvic rotation {peak_pelvis:.0f} deg "
            f"{'<' if low_pelvis else '>='} {self.max_pelvis_deg:.0f} deg",
            f"lumbar share {lumbar_share:.2f} {'>' if high_share else '<='} "
            f"{self.min_lumbar_share:.2f}",
        ]
        inhibited = (low_pelvis and high_share) if self.combine == "and" else (
            low_pelvis or high_share)
        if abs(peak_pelvis - self.max_pelvis_deg) <= self.borderline_pelvis_deg or \
                abs(lumbar_share - self.min_lumbar_share) <= self.borderline_share:
            reasons.append("borderline: a measure lies close to its threshold")
        return (INHIBITED if inhibited else NORMAL), reasons

    def is_borderline(self, peak_pelvis: float | None, lumbar_share: float | None) -> bool:
        if peak_pelvis is None or lumbar_share is None:
            return False
        return (abs(peak_pelvis - self.max_pelvis_deg) <= self.borderline_pelvis_deg
                or abs(lumbar_share - self.min_lumbar_share) <= self.borderline_share)


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


@dataclass(frozen=True)
class NormalBand:
    """Reference band of pelvic rotation against trunk flexion for a normal bend.

    Illustrative, built from the end-range values of Esola et al. 1996 (111 deg trunk:
    41.6 lumbar + 69.4 hip), Laird et al. 2019 (111 trunk, 52 lumbar, 59 pelvis),
    Gajdosik et al. 1992 (pelvis 72 +- 4 deg at toe touch with normal hamstrings) and the
    qualitative lumbar-early / hip-late pattern (Esola 1996; Pries et al. 2015): not a
    published normative curve. The lumbar band is ``trunk - pelvis``.
    """
    trunk_deg: tuple = (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)
    pelvis_lo_deg: tuple = (0.0, 5.0, 17.0, 36.0, 60.0, 85.0)
    pelvis_hi_deg: tuple = (0.0, 14.0, 32.0, 55.0, 78.0, 105.0)

    def pelvis_range(self, trunk_deg):
        t = np.asarray(trunk_deg, float)
        return (np.interp(t, self.trunk_deg, self.pelvis_lo_deg),
                np.interp(t, self.trunk_deg, self.pelvis_hi_deg))


@dataclass(frozen=True)
class FlexionConfig:
    rule: VerdictRule = field(default_factory=VerdictRule)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    band: NormalBand = field(default_factory=NormalBand)


# --------------------------------------------------------------------------- results
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


@dataclass
class FlexionResult:
    reps: list[Repetition]
    summary: dict
    calibration_bend: dict | None
    excluded: list[dict]
    standing: dict
    warnings: list[str]
    config: FlexionConfig
    signals: dict                   # smoothed uniform series for plots (not in JSON)
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "protocol": PROTOCOL,
            "reps": [r.to_json() for r in self.reps],
            "summary": _clean(self.summary),
            "calibration_bend": _clean(self.calibration_bend),
            "excluded_bends": _clean(self.excluded),
            "standing": _clean(self.standing),
            "warnings": list(self.warnings),
            "rule": asdict(self.config.rule),
            "meta": _clean(self.meta),
        }


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


def sparc(speed: np.ndarray, fs: float, *, padlevel: int = 4, fc_hz: float = 10.0,
          amp_threshold: float = 0.05) -> float | None:
    """Spectral arc length of a speed profile (Balasubramanian et al. 2012, IEEE TBME
    59:2126; adaptive cut-off version, Balasubramanian et al. 2015, JNER 12:112).
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


# --------------------------------------------------------------------------- per repetition
def _level_times(tr: np.ndarray, levels: Sequence[float], going_down: bool) -> list:
    """Fractional sample index at which the monotone envelope of ``tr`` first reaches each
    level (``tr`` runs start->peak when going down, peak->end when coming up)."""
    env = np.maximum.accumulate(tr) if going_down else np.minimum.accumulate(tr)
    out = []
    for lev in levels:
        if going_down:
            idx = np.flatnonzero(env >= lev)
        else:
            idx = np.flatnonzero(env <= lev)
        if not len(idx):
            out.append(None)
            continue
        i = int(idx[0])
        if i == 0:
            out.append(0.0)
            continue
        y0, y1 = env[i - 1], env[i]
        frac = 0.0 if y1 == y0 else (lev - y0) / (y1 - y0)
        out.append(i - 1 + float(np.clip(frac, 0.0, 1.0)))
    return out


def _at(y: np.ndarray, fi: float) -> float:
    i = int(math.floor(fi))
    if i >= len(y) - 1:
        return float(y[-1])
    f = fi - i
    return float(y[i] * (1 - f) + y[i + 1] * f)


def _rhythm(tr, pe, lu, start, peak, end, cfg: SegmentConfig, pad: int = 0) -> dict:
    """Lumbar:pelvic ratio of the angle changes inside bins of trunk flexion. The first bin
    starts in the standing before the bend (``pad`` samples before ``start`` / after
    ``end``), so it covers 0-30 degrees and not just the part after the onset threshold."""
    bw = cfg.bin_deg
    n = len(tr)
    start = max(0, start - pad)
    end = min(n - 1, end + pad)
    top = float(tr[peak])
    low_d = float(np.min(tr[start:peak + 1]))
    low_u = float(np.min(tr[peak:end + 1]))
    edges = [0.0]
    while edges[-1] + bw < top - 1e-9:
        edges.append(edges[-1] + bw)
    edges.append(top)
    if len(edges) > 2 and edges[-1] - edges[-2] < cfg.min_bin_span_deg:
        edges.pop(-1)
        partial_top = True       # last partial bin too narrow: ends at the previous edge
    else:
        partial_top = False
    down_seg = slice(start, peak + 1)
    up_seg = slice(peak, end + 1)
    tdn, pdn, ldn = tr[down_seg], pe[down_seg], lu[down_seg]
    tup, pup, lup = tr[up_seg], pe[up_seg], lu[up_seg]
    fd = _level_times(tdn, [max(e, low_d) for e in edges], True)
    fu = _level_times(tup, [max(e, low_u) for e in edges], False)

    def bins(fi, p, lum, sign):
        out = []
        for k in range(len(edges) - 1):
            a, b = fi[k], fi[k + 1]
            lo_e, hi_e = edges[k], edges[k + 1]
            item = {"trunk_from_deg": round(lo_e, 1), "trunk_to_deg": round(hi_e, 1),
                    "partial": bool(hi_e - lo_e < bw - 1e-6),
                    "lumbar_deg": None, "pelvis_deg": None, "ratio": None,
                    "lumbar_fraction": None}
            if a is not None and b is not None:
                dl = sign * (_at(lum, b) - _at(lum, a))
                dp = sign * (_at(p, b) - _at(p, a))
                item["lumbar_deg"] = round(dl, 2)
                item["pelvis_deg"] = round(dp, 2)
                item["ratio"] = round(dl / dp, 3) if abs(dp) >= 1.0 else None
                tot = dl + dp
                item["lumbar_fraction"] = round(dl / tot, 3) if abs(tot) >= 1.0 else None
            out.append(item)
        return out

    # both directions: change = value at the bin's upper-edge crossing minus value at its
    # lower-edge crossing, i.e. flexion going down, extension (positive) coming up
    down = bins(fd, pdn, ldn, +1.0)
    up = bins(fu, pup, lup, +1.0)
    return {"bin_deg": bw, "down": down, "up": up,
            "note": "ratio = lumbar change / pelvic change inside the bin (None when the "
                    "pelvis moved < 1 deg); lumbar_fraction = lumbar / (lumbar + pelvis)"
                    + ("; a last bin narrower than %g deg is left out" % cfg.min_bin_span_deg
                       if partial_top else "")}


def _timing(t, tr, pe, lu, vt, start, peak, end, fs, cfg: SegmentConfig) -> dict:
    dt = 1.0 / fs
    vl = np.gradient(lu, dt)
    vp = np.gradient(pe, dt)
    res: dict[str, Any] = {}
    # descent
    d = slice(start, peak + 1)
    vtd = vt[d]
    if len(vtd) > 3 and np.max(vtd) > 0:
        moving = vtd > cfg.lead_velocity_fraction * np.max(vtd)
        lumbar_led = (vl[d] > vp[d]) & moving
        w = np.clip(vtd, 0, None) * dt
        tot = float(np.sum(w[moving]))
        res["descent_lumbar_led_fraction"] = (float(np.sum(w[lumbar_led])) / tot) if tot else None
        # the pelvis "takes over" at the first instant from which it leads for >= 80% of
        # the rest of the descent (weighted by trunk angle), with >= 10 deg of trunk
        # flexion still to come: the normal late-hip phase. None when it never does.
        pel_led = (vp[d] >= vl[d]) & moving
        wm = np.where(moving, w, 0.0)
        rest = np.cumsum(wm[::-1])[::-1]
        rest_pel = np.cumsum((wm * pel_led)[::-1])[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac_after = np.where(rest > 0, rest_pel / rest, 0.0)
        ok = pel_led & (frac_after >= 0.8) & (rest >= 10.0)
        takeover = float(tr[start + int(np.flatnonzero(ok)[0])]) if ok.any() else None
        res["pelvis_takeover_trunk_deg"] = takeover
        exc_l = lu[peak] - lu[start]
        exc_p = pe[peak] - pe[start]

        def onset(y, exc):
            if exc <= 1.0:
                return None
            idx = np.flatnonzero(y[d] - y[start] >= 0.05 * exc)
            return float(t[start + int(idx[0])]) if len(idx) else None
        ol, op = onset(lu, exc_l), onset(pe, exc_p)
        res["lumbar_onset_s"] = ol
        res["pelvis_onset_s"] = op
        res["pelvis_onset_delay_s"] = (op - ol) if (ol is not None and op is not None) else None
        res["first_mover"] = (None if res["pelvis_onset_delay_s"] is None else
                              "lumbar" if res["pelvis_onset_delay_s"] > 0.05 else
                              "pelvis" if res["pelvis_onset_delay_s"] < -0.05 else "together")
    # return
    u = slice(peak, end + 1)
    vtu = -vt[u]
    if len(vtu) > 3 and np.max(vtu) > 0:
        moving = vtu > cfg.lead_velocity_fraction * np.max(vtu)
        lumbar_led = (-vl[u] > -vp[u]) & moving
        w = np.clip(vtu, 0, None) * dt
        tot = float(np.sum(w[moving]))
        res["return_lumbar_led_fraction"] = (float(np.sum(w[lumbar_led])) / tot) if tot else None

        def half(y):
            exc = y[peak] - y[end]
            if exc <= 1.0:
                return None
            idx = np.flatnonzero(y[peak] - y[u] >= 0.5 * exc)
            return float(t[peak + int(idx[0])]) if len(idx) else None
        hl, hp = half(lu), half(pe)
        res["lumbar_half_return_s"] = hl
        res["pelvis_half_return_s"] = hp
        if hl is None or hp is None:
            res["return_order"] = None
        elif hp < hl - 0.1:
            res["return_order"] = "pelvis_first"
        elif hl < hp - 0.1:
            res["return_order"] = "lumbar_first"
        else:
            res["return_order"] = "together"
    res["descent_s"] = float(t[peak] - t[start])
    res["return_s"] = float(t[end] - t[peak])
    return res


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


def _rep_values(sig, b: Bend):
    s = slice(b.start, b.end + 1)

    def mx(name):
        y = sig[name][s]
        return float(np.max(y)) if np.isfinite(y).any() else None
    tr = sig["thorax_deg"]
    share = None
    lum_pk = sig["lumbar_deg"][b.peak]
    if math.isfinite(lum_pk) and tr[b.peak] > 1e-6:
        share = float(lum_pk / tr[b.peak])
    pel_pk = sig["pelvis_deg"][b.peak]
    return dict(peak_trunk_deg=mx("thorax_deg"), peak_pelvis_deg=mx("pelvis_deg"),
                peak_lumbar_deg=mx("lumbar_deg"), peak_neck_deg=mx("neck_deg"),
                lumbar_share=share,
                pelvis_at_trunk_peak_deg=float(pel_pk) if math.isfinite(pel_pk) else None,
                lumbar_at_trunk_peak_deg=float(lum_pk) if math.isfinite(lum_pk) else None)


# --------------------------------------------------------------------------- main entry
def analyze(series, events: Iterable | None = None,
            config: FlexionConfig | None = None) -> FlexionResult:
    """Analyse one forward-flexion recording given as an AngleSeries (see module doc)."""
    cfg = config or FlexionConfig()
    sc = cfg.segment
    warnings: list[str] = []
    sig = _prepare(series, sc, warnings)
    t, fs = sig["time_s"], sig["fs"]
    tr = sig["thorax_deg"]
    if not np.isfinite(tr).all():
        raise ValueError("no usable trunk (thorax) angle: the thoracic pod is required")
    # lumbar from the series, or thorax - pelvis where the series has none
    if not np.isfinite(sig["lumbar_deg"]).all() and np.isfinite(sig["pelvis_deg"]).all():
        sig["lumbar_deg"] = tr - sig["pelvis_deg"]
        sig["lumbar_deg_raw"] = sig["thorax_deg_raw"] - sig["pelvis_deg_raw"]
    bends = find_bends(t, tr, fs, sc)
    ci, how = _pick_calibration(bends, t, events, sc, warnings)
    calib = None
    excluded: list[dict] = []
    if ci is not None:
        cb = bends[ci]
        calib = {"start_s": float(t[cb.start]), "peak_s": float(t[cb.peak]),
                 "end_s": float(t[cb.end]), "peak_trunk_deg": float(tr[cb.peak]),
                 "identified_by": how}
        if not 25.0 <= tr[cb.peak] <= 75.0:
            warnings.append(f"calibration bend peaks at {tr[cb.peak]:.0f} deg "
                            f"(expected 30-60 deg); it is excluded from the test anyway")
        for i in range(ci):
            b = bends[i]
            excluded.append({"start_s": float(t[b.start]), "end_s": float(t[b.end]),
                             "peak_trunk_deg": float(tr[b.peak]),
                             "reason": "before the calibration bend"})
    elif sc.calibration != "none":
        warnings.append("no bend found at all")
    test_bends = bends[ci + 1:] if ci is not None else list(bends)
    calib_end = bends[ci].end if ci is not None else None
    rep_ev = [ts for ts, lab in _events(events) if lab == "rep_start"]
    if rep_ev and calib is not None:
        first = rep_ev[0]
        keep = []
        for b in test_bends:
            if t[b.peak] < first - 0.5:
                excluded.append({"start_s": float(t[b.start]), "end_s": float(t[b.end]),
                                 "peak_trunk_deg": float(tr[b.peak]),
                                 "reason": "before the first rep_start event"})
            else:
                keep.append(b)
        test_bends = keep
        if len(rep_ev) != len(test_bends):
            warnings.append(f"{len(rep_ev)} rep_start event(s) but {len(test_bends)} "
                            f"repetition(s) found")
    # standing before the calibration bend
    standing: dict[str, Any] = {}
    first_start = bends[0].start if bends else len(t)
    quiet = slice(0, max(first_start, 1))
    standing["initial_standing_s"] = float(t[max(first_start, 1) - 1] - t[0])
    for name in ("thorax_deg", "pelvis_deg", "head_deg"):
        y = sig[name + "_raw"][quiet]
        standing[name.replace("_deg", "_sd_deg")] = (float(np.std(y)) if len(y) > 1
                                                     and np.isfinite(y).all() else None)
    if bends and standing["initial_standing_s"] < 3.0:
        warnings.append(f"only {standing['initial_standing_s']:.1f} s of quiet standing "
                        f"before the first bend (>= 5 s expected)")
    reps: list[Repetition] = []
    pe = sig["pelvis_deg"]
    lu = sig["lumbar_deg"]
    have_pelvis = np.isfinite(pe).all()
    for k, b in enumerate(test_bends, start=1):
        vals = _rep_values(sig, b)
        if have_pelvis:
            lo_lim = test_bends[k - 2].end if k >= 2 else (calib_end or 0)
            hi_lim = test_bends[k].start if k < len(test_bends) else len(t) - 1
            pad = max(0, min(int(0.5 * fs), b.start - lo_lim, hi_lim - b.end))
            rhythm = _rhythm(tr, pe, lu, b.start, b.peak, b.end, sc, pad=pad)
            timing = _timing(t, tr, pe, lu, sig["trunk_vel"], b.start, b.peak, b.end, fs, sc)
        else:
            rhythm, timing = {"bin_deg": sc.bin_deg, "down": [], "up": []}, {}
        smooth = _smoothness(sig["thorax_deg_raw"], fs, b.start, b.peak, b.end, sc)
        pattern, reasons = cfg.rule.classify(vals["peak_trunk_deg"], vals["peak_pelvis_deg"],
                                             vals["lumbar_share"])
        reps.append(Repetition(
            index=k, start_s=float(t[b.start]), peak_s=float(t[b.peak]), end_s=float(t[b.end]),
            rhythm=rhythm, timing=timing, smoothness=smooth, pattern=pattern,
            reasons=reasons,
            borderline=(pattern != INCONCLUSIVE and cfg.rule.is_borderline(
                vals["peak_pelvis_deg"], vals["lumbar_share"])),
            start_i=b.start, peak_i=b.peak, end_i=b.end, **vals))
        if b.end >= len(t) - 1:
            warnings.append(f"repetition {k} runs to the end of the recording "
                            f"(return not complete)")
    if not reps:
        warnings.append("no test repetition found after the calibration bend")
    summary = summarize(reps, cfg.rule)
    meta = {"rate_hz": fs, "duration_s": float(t[-1] - t[0]), "n_bends": len(bends)}
    smeta = getattr(series, "meta", None) or {}
    cal = smeta.get("calibration")
    if isinstance(cal, dict):
        for w in cal.get("warnings", []) or []:
            warnings.append(f"calibration: {w}")
        for role, pod in (cal.get("pods") or {}).items():
            for w in (pod.get("warnings") or []) if isinstance(pod, dict) else []:
                warnings.append(f"calibration ({role}): {w}")
    for key in ("calibration", "calibration_quality", "pods", "method", "thorax_level"):
        if key in smeta:
            meta[key] = _clean(smeta[key])
    plot_sig = {k: sig[k] for k in ("time_s", "thorax_deg", "pelvis_deg", "lumbar_deg",
                                    "neck_deg", "head_deg")}
    return FlexionResult(reps=reps, summary=summary, calibration_bend=calib, excluded=excluded,
                         standing=standing, warnings=warnings, config=cfg, signals=plot_sig,
                         meta=meta)


def summarize(reps: list[Repetition], rule: VerdictRule) -> dict:
    """Session summary: medians over the conclusive repetitions (over all repetitions when
    none is conclusive); pattern by majority of the conclusive repetitions, a tie decided
    by the rule applied to the medians; ``inconclusive`` when no repetition is conclusive."""
    conclusive = [r for r in reps if r.pattern != INCONCLUSIVE]
    pool = conclusive or reps

    def med(attr):
        vals = [getattr(r, attr) for r in pool if getattr(r, attr) is not None]
        return float(np.median(vals)) if vals else None
    s: dict[str, Any] = {k: med(k) for k in ("peak_trunk_deg", "peak_pelvis_deg",
                                             "peak_lumbar_deg", "peak_neck_deg",
                                             "lumbar_share")}
    n_inh = sum(r.pattern == INHIBITED for r in conclusive)
    n_norm = sum(r.pattern == NORMAL for r in conclusive)
    if not conclusive:
        pattern = INCONCLUSIVE
    elif n_inh > n_norm:
        pattern = INHIBITED
    elif n_norm > n_inh:
        pattern = NORMAL
    else:
        pattern, _ = rule.classify(s["peak_trunk_deg"], s["peak_pelvis_deg"], s["lumbar_share"])
    s["pattern"] = pattern
    s["n_reps"] = len(reps)
    s["n_conclusive"] = len(conclusive)
    s["votes"] = {NORMAL: n_norm, INHIBITED: n_inh,
                  INCONCLUSIVE: len(reps) - len(conclusive)}
    s["method"] = ("median of conclusive repetitions" if conclusive else
                   "median of all repetitions (none conclusive)")
    s["rhythm"] = mean_rhythm(conclusive or reps)
    for key in ("descent_lumbar_led_fraction", "return_lumbar_led_fraction",
                "pelvis_onset_delay_s", "pelvis_takeover_trunk_deg"):
        vals = [r.timing.get(key) for r in pool if r.timing.get(key) is not None]
        s[key] = float(np.median(vals)) if vals else None
    orders = [r.timing.get("return_order") for r in pool if r.timing.get("return_order")]
    s["return_order"] = max(set(orders), key=orders.count) if orders else None
    sp = [r.smoothness.get("sparc") for r in pool if r.smoothness.get("sparc") is not None]
    s["sparc"] = float(np.median(sp)) if sp else None
    lj = [r.smoothness.get("ldlj") for r in pool if r.smoothness.get("ldlj") is not None]
    s["ldlj"] = float(np.median(lj)) if lj else None
    s["borderline"] = bool(pattern != INCONCLUSIVE and rule.is_borderline(
        s["peak_pelvis_deg"], s["lumbar_share"]))
    return s


def mean_rhythm(reps: list[Repetition]) -> dict:
    """Per bin and direction: mean lumbar and pelvic change over the repetitions, and the
    ratio of those means (robust to a near-zero pelvic change in one repetition)."""
    out = {}
    for direction in ("down", "up"):
        acc: dict[tuple, list] = {}
        for r in reps:
            for b in r.rhythm.get(direction, []):
                if b["partial"] or b["lumbar_deg"] is None:
                    continue
                key = (b["trunk_from_deg"], b["trunk_to_deg"])
                acc.setdefault(key, []).append((b["lumbar_deg"], b["pelvis_deg"]))
        rows = []
        for (a, b), v in sorted(acc.items()):
            lm = float(np.mean([x[0] for x in v]))
            pm = float(np.mean([x[1] for x in v]))
            rows.append({"trunk_from_deg": a, "trunk_to_deg": b, "n": len(v),
                         "lumbar_deg": round(lm, 2), "pelvis_deg": round(pm, 2),
                         "ratio": round(lm / pm, 3) if abs(pm) >= 1.0 else None,
                         "lumbar_fraction": round(lm / (lm + pm), 3)
                         if abs(lm + pm) >= 1.0 else None})
        out[direction] = rows
    return out


def result_json(result: FlexionResult, **extra) -> dict:
    """The JSON object of the CLI (contract keys plus extras)."""
    d = result.to_json()
    d.update(_clean(extra))
    return d
