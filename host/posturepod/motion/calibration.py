"""Sensor-to-segment calibration from the routine every recording starts with: at least
5 s of quiet upright standing, one slow forward bend of 30-60 degrees and back up, then
2 s still. See docs/angles.md.

For each pod, in its sensor frame:

- z (cranial) = the up direction measured by the accelerometer during quiet standing
  (a robust mean over the stand: jolts left out);
- y (left) = the rotation axis of the calibration bend (flexion = positive rotation about
  +y), made orthogonal to z;
- x (anterior) = y cross z.

Pods may be clipped on in any orientation, upside down included. The routine is found from
the protocol's structure (:mod:`.calibration_routine`) or from the guided capture's events.
The gyro bias is the median gyro over the stand (sway averages out, a look about does not
pull it). A calibration can also be reused from an earlier recording (``Calibration.load``)
for a day on which the pods were not moved; :func:`check_later_stands` then says whether
they were.

Every calibration is graded ``good``, ``doubtful`` or ``failed`` per pod and overall, with
reasons naming the pod (:mod:`.calibration_quality`). A failed one raises
:class:`CalibrationError` naming the pod and what to redo, unless ``accept_failed``; doubts
are issued as :class:`CalibrationWarning` s.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturepod.motion import quaternion as Q
from posturepod.motion.calibration_quality import (FAILED, GOOD, LIMITS, REDO_ROUTINE, REDO_STAND,
                                                   grade_pod, worst)
from posturepod.motion.calibration_routine import (EXTENT_ACC_M_S2, SEARCH_S, RoutineNotFound,
                                                   angle_deg, bend_onset, find_bend,
                                                   from_events,
                                                   rolling_sway_deg, smoothed_up,
                                                   stand_before, unit)
from posturepod.recordings.data import DataError, PodData, Recording, read_json_object

__all__ = ["CalibrationError", "CalibrationWarning", "PodCalibration", "Calibration",
           "calibrate", "calibration_for", "check_later_stands", "LIMITS"]


class CalibrationError(DataError):
    """The calibration routine cannot be trusted; the message names the pod."""


class CalibrationWarning(UserWarning):
    """The calibration is usable but doubtful; the message names the pod."""


#: "still" for the end of the calibration bend and for later stands (gyro and accelerometer
#: spread over 1 s windows)
STILL = dict(gyr_dps=4.5, acc_m_s2=0.4)
#: figures every pod's entry in the JSON ``calibration`` object carries at its top level
POD_KEYS = ("stand_length_s", "stand_sway_deg", "stand_rotation_deg", "bend_deg",
            "bend_axis_tilt_deg", "bend_axis_spread_deg", "bend_peak_lag_s", "bend_shape_r",
            "return_deg", "drift_deg")


@dataclass
class PodCalibration:
    """One pod's segment frame. ``axes_in_sensor`` rows are the segment's x (anterior),
    y (left), z (cranial) unit axes in sensor coordinates; ``gyr_bias_rad_s`` the gyro
    bias over the stand; ``quality`` the figures documented in docs/angles.md; ``grade``
    good / doubtful / failed with ``reasons``."""
    role: str
    axes_in_sensor: np.ndarray
    gyr_bias_rad_s: np.ndarray
    quality: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    grade: str = GOOD
    reasons: list[str] = field(default_factory=list)
    acc_calibrated: bool | None = None     # the pod's own accelerometer calibration (None:
                                           # not known, e.g. a CSV recording)

    @property
    def quat_segment_to_sensor(self) -> np.ndarray:
        """w-first quaternion rotating segment-frame vectors into the sensor frame."""
        return Q.from_matrix(self.axes_in_sensor.T)

    def to_dict(self) -> dict:
        ax = self.axes_in_sensor
        q = _jsonable(self.quality)
        top = {k: q.get("stand_s" if k == "stand_length_s" else k) for k in POD_KEYS}
        return {"quality": self.grade, "reasons": list(self.reasons), **top,
                "axes_in_sensor": {"x_anterior": ax[0].round(6).tolist(),
                                   "y_left": ax[1].round(6).tolist(),
                                   "z_cranial": ax[2].round(6).tolist()},
                "gyr_bias_rad_s": np.round(self.gyr_bias_rad_s, 7).tolist(),
                "acc_calibrated": self.acc_calibrated,
                "figures": q, "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, role: str, d: dict) -> "PodCalibration":
        a = d["axes_in_sensor"]
        axes = np.array([a["x_anterior"], a["y_left"], a["z_cranial"]], float)
        figs = d.get("figures", d.get("quality"))        # older files: figures in "quality"
        grade = d.get("quality") if isinstance(d.get("quality"), str) else GOOD
        return cls(role, axes, np.asarray(d["gyr_bias_rad_s"], float),
                   dict(figs) if isinstance(figs, dict) else {},
                   list(d.get("warnings", [])), grade, list(d.get("reasons", [])),
                   d.get("acc_calibrated"))


@dataclass
class Calibration:
    """Result of :func:`calibrate`: the stand and bend windows (seconds on the recording
    clock), one :class:`PodCalibration` per pod, cross-pod figures (``quality``), the
    overall ``grade`` with ``reasons``, all warnings, and where it came from (``source``:
    "automatic", "events", or "file:PATH" for a calibration reused from another
    recording)."""
    stand_s: tuple[float, float]
    bend_s: tuple[float, float]
    pods: dict[str, PodCalibration]
    quality: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    grade: str = GOOD
    reasons: list[str] = field(default_factory=list)
    source: str = "automatic"

    def to_dict(self) -> dict:
        return {"quality": self.grade, "reasons": list(self.reasons), "source": self.source,
                "stand_s": [round(self.stand_s[0], 4), round(self.stand_s[1], 4)],
                "bend_s": [round(self.bend_s[0], 4), round(self.bend_s[1], 4)],
                "agreement": _jsonable(self.quality),
                "pods": {r: p.to_dict() for r, p in self.pods.items()},
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        figs = d.get("agreement", d.get("quality"))
        grade = d.get("quality") if isinstance(d.get("quality"), str) else GOOD
        return cls(tuple(d["stand_s"]), tuple(d["bend_s"]),
                   {r: PodCalibration.from_dict(r, p) for r, p in d["pods"].items()},
                   dict(figs) if isinstance(figs, dict) else {},
                   list(d.get("warnings", [])), grade, list(d.get("reasons", [])),
                   str(d.get("source", "automatic")))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        """A calibration saved by ``save`` (``calibration.json`` in a recording that was
        analysed, or any copy); errors name the file."""
        path = Path(path)
        d = read_json_object(path)
        try:
            cal = cls.from_dict(d)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise DataError(f"{path}: not a posturepod calibration file (needs stand_s, "
                            f"bend_s and pods with axes_in_sensor)") from None
        cal.source = f"file:{path}"
        return cal

    def summary(self) -> str:
        lines = [f"calibration: {self.grade}, stand {self.stand_s[0]:.2f}-{self.stand_s[1]:.2f}"
                 f" s, bend {self.bend_s[0]:.2f}-{self.bend_s[1]:.2f} s ({self.source})"]
        for r, p in self.pods.items():
            q = p.quality
            ax = p.axes_in_sensor
            lines.append(
                f"  {r:7s} {p.grade:8s} x {_v(ax[0])} y {_v(ax[1])} z {_v(ax[2])}  "
                f"bias {_v(np.degrees(p.gyr_bias_rad_s), 3)} deg/s")
            lines.append(
                f"          stand {q.get('stand_s', float('nan')):.1f} s, sway "
                f"{q.get('stand_sway_deg', float('nan')):.1f} deg, turned "
                f"{q.get('stand_rotation_deg', float('nan')):.0f} deg; bend "
                f"{q.get('bend_deg', float('nan')):.1f} deg, axis tilt "
                f"{q.get('bend_axis_tilt_deg', float('nan')):.1f} deg, spread "
                f"{q.get('bend_axis_spread_deg', float('nan')):.1f} deg, "
                f"return {q.get('return_deg', float('nan')):.1f} deg")
            if p.acc_calibrated is False:
                lines.append("          accelerometer not calibrated (posturepod calibrate-acc):"
                             " deep bends may read 1-2 deg off")
        for k, v in self.quality.items():
            lines.append(f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}")
        for w in self.reasons:
            lines.append(f"  {'FAILED' if self.grade == FAILED else 'doubt'}: {w}")
        return "\n".join(lines)

    def regrade(self) -> None:
        """Grade every pod from its figures, then the whole (the worst pod)."""
        reasons = []
        for r, p in self.pods.items():
            p.grade, p.reasons = grade_pod(r, p.quality)
            p.warnings = list(p.reasons)
            reasons += p.reasons
        self.grade = worst(p.grade for p in self.pods.values())
        self.reasons = reasons
        self.warnings = list(reasons)

    def refuse_message(self) -> str:
        bad = [m for m in self.reasons if not m.endswith("(doubtful)")]
        return "calibration failed: " + "; ".join(bad)


def _acc_calibrated(info: dict | None) -> bool | None:
    """Whether the pod's accelerometer calibration was applied to its data; None when the
    recording does not say what pod it was (no INFO: a CSV recording)."""
    info = info or {}
    if info.get("acc_cal"):
        return True
    return False if info.get("imu") else None


def _v(x, nd=3):
    return "[" + " ".join(f"{c:+.{nd}f}" for c in x) + "]"


def _jsonable(d):
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float):
            v = round(v, 4) if v == v else None
        out[k] = v
    return out


# ---------------------------------------------------------------- windows and integration

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    e = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(e[::2], e[1::2]))


def _head(pod: PodData, t_lim: float) -> PodData:
    k = int(pod.time_s.searchsorted(t_lim))
    return PodData(pod.role, pod.time_s[:k], pod.acc_m_s2[:k], pod.gyr_rad_s[:k],
                   None if pod.mag_ut is None else pod.mag_ut[:k], pod.gaps, pod.info)


def _window(pod: PodData, t0: float, t1: float) -> slice:
    i0, i1 = pod.time_s.searchsorted([t0, t1])
    return slice(int(i0), int(i1))


def _integrate(gyr: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Body-frame rotation relative to the first sample, as rotation vectors (N, 3),
    by integrating the (bias-corrected) gyro (first-order quaternion steps)."""
    h = np.asarray(gyr, float) * (0.5 * np.asarray(dt, float))[:, None]
    w, x, y, z = 1.0, 0.0, 0.0, 0.0
    q = np.empty((len(h), 4))
    # q <- normalize(Q.mul(q, (1, a, b, c))) written out on floats: ~15x faster than
    # per-sample numpy calls
    for i, (a, b, c) in enumerate(h.tolist()):
        w, x, y, z = (w - x * a - y * b - z * c, x + w * a + y * c - z * b,
                      y + w * b - x * c + z * a, z + w * c + x * b - y * a)
        n = (w * w + x * x + y * y + z * z) ** -0.5
        w, x, y, z = w * n, x * n, y * n, z * n
        q[i] = (w, x, y, z)
    q[0] = (1.0, 0.0, 0.0, 0.0)
    return Q.log(q)



# ---------------------------------------------------------------- per pod

def _pod_stand(role, pod, t0, t1):
    """Up direction (robust mean of gravity), gyro bias (median) and the stand figures."""
    w = _window(pod, t0, t1)
    n = w.stop - w.start
    if n < 5:
        raise CalibrationError(f"pod {role}: no samples in the stand window "
                               f"{t0:.1f}-{t1:.1f} s")
    t = np.asarray(pod.time_s[w], float)
    g = np.asarray(pod.gyr_rad_s[w], float)
    a = np.asarray(pod.acc_m_s2[w], float)
    nrm = np.linalg.norm(a, axis=1)
    keep = np.abs(nrm - np.median(nrm)) <= 1.0          # leave jolts out of the mean
    up = unit(a[keep].mean(0) if keep.sum() >= 5 else a.mean(0))
    bias = np.median(g, axis=0)
    grid = np.arange(t[0] + 0.25, t[-1] - 0.25, 0.05)
    sway = 0.0
    if len(grid) >= 2:
        sm, _ = smoothed_up(PodData(role, t, a, g), grid)
        sway = float(np.sqrt(np.mean(angle_deg(sm, up) ** 2)))
    rv = _integrate(g - bias, np.diff(t, prepend=t[0]))
    rot = float(np.degrees(np.linalg.norm(rv - rv.mean(0), axis=1).max()))
    q = {"stand_s": float(t[-1] - t[0]), "stand_sway_deg": sway, "stand_rotation_deg": rot,
         "stand_gyr_std_dps": float(np.degrees(np.sqrt(g.var(0).sum()))),
         "stand_acc_std_m_s2": float(np.sqrt(a.var(0).sum())),
         "stand_acc_norm_m_s2": float(np.median(nrm))}
    return up, bias, q


def _bend_angle(pod, bias, tb0, t_max):
    """Time and rotation angle (deg) of the pod relative to its pose at tb0 - 0.5 s."""
    w = _window(pod, tb0 - 0.5, t_max)
    if w.stop - w.start < 10:
        return None
    t = pod.time_s[w]
    g = pod.gyr_rad_s[w] - bias
    rv = _integrate(g, np.diff(t, prepend=t[0]))
    return t, g, rv


def _bend_end(pods, ups, tb0, t_max):
    """End of the calibration bend: the first time every pod has stood quietly for 1 s (its
    gravity direction within the stand's sway limit over 1 s) back near its standing posture (within
    max(5 deg, or 10 for the head, and 30 % of its largest tilt so far)). Tilts, not gyro
    rotations, so a glance aside after the bend does not keep it open."""
    grid = np.arange(tb0, t_max, 0.05)
    ok = np.ones(len(grid), bool)
    n1 = int(1.0 / 0.05)
    for r, p in pods.items():
        sm, spread = smoothed_up(p, grid)
        tilt = angle_deg(sm, ups[r])
        near = 10.0 if r == "head" else 5.0
        ok &= tilt < np.maximum(near, 0.3 * np.maximum.accumulate(tilt))
        ok &= rolling_sway_deg(sm, n1) <= LIMITS["stand_sway_deg"].get(r, (2.0, 4.0))[1]
        ok &= spread <= EXTENT_ACC_M_S2.get(r, 1.0)
    # quiet for 1 s: a run of ok of that length, starting after some movement
    n = int(1.0 / 0.05)
    for a, b in _runs(ok):
        if grid[a] > tb0 + 1.0 and b - a >= n:
            return float(grid[a])
    return float(t_max)


def _pod_bend(role, pod, up, bias, tb0, tb1):
    """Bend axis (unit, sensor frame, flexion positive), and quality figures."""
    res = _bend_angle(pod, bias, tb0, tb1)
    if res is None:
        raise CalibrationError(f"pod {role}: too few samples in the bend window")
    t, g, rv = res
    ang = np.degrees(np.linalg.norm(rv, axis=1))
    ipk = int(np.argmax(ang))
    peak = float(ang[ipk])
    # principal direction of the integrated rotation vector over the way down: for a
    # one-axis bend every rv(t) lies on the axis; a twist or a wobble spreads them. The
    # way down only: once back up, a glance aside (a turn about the vertical) or sway
    # would count as a twist of the bend
    big = (ang > 0.3 * peak) & (np.arange(len(ang)) <= ipk)
    if peak <= 0 or big.sum() < 3:
        raise CalibrationError(f"pod {role}: no bend movement found after {tb0:.1f} s")
    rb = rv[big]
    evals, evecs = np.linalg.eigh(rb.T @ rb)
    axis = evecs[:, -1]
    if np.dot(axis, rv[ipk]) < 0:
        axis = -axis
    u = rb / np.linalg.norm(rb, axis=1, keepdims=True)
    spread = float(np.degrees(np.sqrt(np.mean(np.arccos(np.clip(u @ axis, -1, 1)) ** 2))))
    tilt = float(np.degrees(np.arcsin(min(abs(float(np.dot(axis, up))), 1.0))))
    q = {"bend_deg": peak, "bend_peak_time_s": float(t[ipk]),
         "bend_axis_spread_deg": spread, "bend_axis_tilt_deg": tilt}
    return axis, q



# ---------------------------------------------------------------- the routine

def _find_routine(rec: Recording, pods: dict[str, PodData]) -> tuple[float, float, str]:
    """(stand start, bend onset, source): the guided capture's events, else the protocol's
    structure (the quiet stand before the first bend all pods share)."""
    t_start = max(float(p.time_s[0]) for p in pods.values())
    t_end = min(min(float(p.time_s[-1]) for p in pods.values()), t_start + SEARCH_S)
    ev = from_events(rec)
    if ev is not None:
        return ev[0], ev[1], "events"
    try:
        t_cross = find_bend(pods, t_start, t_end)
    except RoutineNotFound as e:
        raise CalibrationError(f"{e}: {REDO_ROUTINE}") from None
    tb0 = bend_onset(pods, t_start, t_cross)
    return stand_before(pods, t_start, tb0 - 0.3), tb0, "automatic"


def _agreement(pods, out, curves) -> dict:
    """Cross-pod figures of the bend (the pods share one bend: same time, same course);
    per pod ``bend_peak_lag_s`` and ``bend_shape_r`` go into its figures."""
    if len(out) < 2:
        return {}
    peaks = {r: c.quality["bend_peak_time_s"] for r, c in out.items()}
    tilts = [c.quality["bend_axis_tilt_deg"] for c in out.values()]
    for r, c in out.items():
        others = [v for o, v in peaks.items() if o != r]
        c.quality["bend_peak_lag_s"] = float(peaks[r] - np.median(others))
        mine = curves[r]
        rest = np.median([curves[o] for o in curves if o != r], axis=0)
        ok = np.isfinite(mine) & np.isfinite(rest)
        if ok.sum() > 5 and np.std(mine[ok]) > 0 and np.std(rest[ok]) > 0:
            c.quality["bend_shape_r"] = float(np.corrcoef(mine[ok], rest[ok])[0, 1])
    shapes = [c.quality.get("bend_shape_r", 1.0) for c in out.values()]
    return {"peak_time_range_s": float(max(peaks.values()) - min(peaks.values())),
            "axis_tilt_range_deg": float(max(tilts) - min(tilts)),
            "shape_r_min": float(min(shapes))}


def calibrate(rec: Recording, *, check_later: bool = True, warn: bool = True,
              accept_failed: bool = False) -> Calibration:
    """Find the calibration routine in ``rec`` and each pod's segment frame, graded.

    Raises :class:`CalibrationError` (naming the pod and what to redo) when there is no
    routine to use, or when the grade is ``failed`` and not ``accept_failed``; issues a
    :class:`CalibrationWarning` per doubt when ``warn``. Grade, reasons and figures are in
    the result (``to_dict`` gives the JSON ``calibration`` object).
    """
    full = {r: p for r, p in rec.pods.items() if len(p) >= 2}
    if not full:
        raise CalibrationError("recording has no pod data")
    # the routine is at the start: work on the first SEARCH_S + 60 s only
    t_lim = min(float(p.time_s[0]) for p in full.values()) + SEARCH_S + 60.0
    pods = {r: _head(p, t_lim) for r, p in full.items()}
    late = [r for r, p in pods.items() if len(p) < 2]
    if late:
        raise CalibrationError(
            f"pod(s) {', '.join(late)} have no data in the first {SEARCH_S + 60:.0f} s of the "
            f"recording, where the calibration routine is: the pods' data do not overlap "
            f"(posturepod info shows where each pod has data)")
    ts0, tb0, source = _find_routine(rec, pods)
    ts1 = tb0 - 0.3          # keep the bend onset out of the stand
    if ts1 - ts0 < LIMITS["stand_min_s"]:
        raise CalibrationError(f"calibration stand only {max(ts1 - ts0, 0.0):.1f} s before "
                               f"the bend at {tb0:.1f} s (need 5 s still): {REDO_STAND}")
    t_max = min(tb0 + 40.0, min(float(p.time_s[-1]) for p in pods.values()))
    stands = {r: _pod_stand(r, p, ts0, ts1) for r, p in pods.items()}
    tb1 = _bend_end(pods, {r: v[0] for r, v in stands.items()}, tb0, t_max)
    out: dict[str, PodCalibration] = {}
    grid = np.arange(tb0, tb1, 0.05)
    curves = {}
    for r, p in pods.items():
        up, bias, q = stands[r]
        axis, qb = _pod_bend(r, p, up, bias, tb0, tb1)
        q.update(qb)
        y = axis - np.dot(axis, up) * up
        y /= np.linalg.norm(y)
        x = np.cross(y, up)
        q["gyr_bias_dps"] = np.degrees(bias)
        out[r] = PodCalibration(r, np.vstack([x, y, up]), bias, q,
                                acc_calibrated=_acc_calibrated(rec.pods[r].info))
        res = _bend_angle(p, bias, tb0, tb1)
        if res is not None and len(grid) > 1:
            t, _, rv = res
            curves[r] = np.interp(grid, t, np.degrees(np.linalg.norm(rv, axis=1)))
        # posture after the bend (the "2 s still") against the stand
        w = _window(p, tb1 + 0.3, tb1 + 2.3)
        if w.stop - w.start >= 3:
            a = unit(np.asarray(p.acc_m_s2[w], float).mean(0))
            q["return_deg"] = float(angle_deg(a, up))
    qual = _agreement(pods, out, curves) if len(curves) == len(out) else {}
    cal = Calibration((float(ts0), float(ts1)), (float(tb0), float(tb1)), out, qual,
                      source=source)
    if check_later:
        check_later_stands(rec, cal)
    cal.regrade()
    if cal.grade == FAILED and not accept_failed:
        raise CalibrationError(cal.refuse_message())
    if warn:
        for w_ in cal.warnings:
            warnings.warn(w_, CalibrationWarning, stacklevel=2)
    return cal


def calibration_for(rec: Recording, path: str | Path | None = None, *,
                    accept_failed: bool = False, warn: bool = True) -> Calibration:
    """The calibration the analyses use: the recording's own routine, or (``path``) one
    saved from an earlier recording of a day on which the pods were not moved; the later
    stands of ``rec`` then say whether they were. Refused (CalibrationError naming the pod
    and what to redo) when failed, unless ``accept_failed``."""
    if path is None:
        return calibrate(rec, accept_failed=accept_failed, warn=warn)
    cal = Calibration.load(path)
    missing = [r for r in rec.pods if r not in cal.pods]
    if missing:
        raise CalibrationError(f"{path}: no calibration for pod(s) {', '.join(missing)} "
                               f"(it has {', '.join(cal.pods) or 'none'})")
    check_later_stands(rec, cal)
    if cal.grade == FAILED and not accept_failed:
        raise CalibrationError(f"{path}: {cal.refuse_message()}")
    if warn:
        for w_ in cal.warnings:
            warnings.warn(w_, CalibrationWarning, stacklevel=2)
    return cal


def _block_stats(pod: PodData, idx: np.ndarray, gyr_bias: np.ndarray, per_read: int = 600):
    """Per block ``idx[k]..idx[k+1]`` of a pod's samples: mean acceleration, mean and
    variance of the bias-corrected gyro, each (len(idx) - 1, 3); reads ``per_read`` blocks
    of samples at a time (a long recording is never held whole)."""
    nb = len(idx) - 1
    ma, gm, gv = np.zeros((nb, 3)), np.zeros((nb, 3)), np.zeros((nb, 3))
    for k0 in range(0, nb, per_read):
        k1 = min(k0 + per_read, nb)
        lo, hi = int(idx[k0]), int(idx[k1])
        loc = idx[k0:k1 + 1] - lo
        n = np.maximum(np.diff(loc), 1)[:, None]
        a = np.asarray(pod.acc_m_s2[lo:hi], float)
        g = np.asarray(pod.gyr_rad_s[lo:hi], float) - gyr_bias
        for out, x in ((ma, a), (gm, g), (gv, g * g)):
            cs = np.vstack([np.zeros((1, 3)), np.cumsum(x, axis=0)])
            out[k0:k1] = (cs[loc[1:]] - cs[loc[:-1]]) / n
    gv -= gm ** 2
    return ma, gm, gv


def check_later_stands(rec: Recording, cal: Calibration, *, min_still_s: float = 2.0) -> None:
    """Compare each pod's up direction in later still periods that look like the
    calibration stand (every other pod within its drift tolerance of its calibration up
    direction) to the calibration; a pod beyond its tolerance while the others agree is
    reported as moved on the body (a doubt or a failure naming the pod, figure
    ``drift_deg``; the calibration is graded again). In such
    automatically found periods only the sideways (frontal-plane) part of the difference
    counts, since upright sitting tilts the pelvis back; in a later stand marked by a
    ``calib_stand`` event the whole difference counts."""
    pods = {r: p for r, p in rec.pods.items() if r in cal.pods}
    if len(pods) < 2:
        return
    # a calibration reused from another recording: every stand of this one counts
    reused = cal.source.startswith("file:")
    t_after = -np.inf if reused else cal.bend_s[1] + 3.0
    # 1 s blocks of mean acceleration after the calibration, with still flags
    t0 = max(p.time_s[0] for p in pods.values())
    t1 = min(p.time_s[-1] for p in pods.values())
    if t1 - t_after < min_still_s:
        return
    edges = np.arange(max(t_after, t0), t1, 1.0)
    if len(edges) < 3:
        return
    dev, lat = {}, {}
    still = np.ones(len(edges) - 1, bool)
    for r, p in pods.items():
        i = p.time_s.searchsorted(edges)
        ok = np.diff(i) > 1
        ma, gm, gv = _block_stats(p, i, cal.pods[r].gyr_bias_rad_s)
        gstd = np.degrees(np.sqrt(np.maximum(gv.sum(1), 0)))
        still &= ok & (gstd < STILL["gyr_dps"])
        if not reused:      # another day's gyro bias says nothing about slow turns today
            still &= np.degrees(np.linalg.norm(gm, axis=1)) < 3.0
        v = (ma @ cal.pods[r].axes_in_sensor.T) / np.maximum(
            np.linalg.norm(ma, axis=1), 1e-9)[:, None]       # up in segment coordinates
        dev[r] = np.degrees(np.arccos(np.clip(v[:, 2], -1, 1)))
        lat[r] = np.degrees(np.abs(np.arcsin(np.clip(v[:, 1], -1, 1))))
    # still runs of >= min_still_s blocks
    ev_times = [e.time_s for e in rec.events_named("calib_stand") if e.time_s > t_after]
    stands = []
    for a, b in _runs(still):
        if b - a >= min_still_s:
            stands.append((a, b))
    tol = {r: LIMITS["drift_deg"].get(r, (10.0, 20.0))[0] for r in pods}
    largest: dict[str, float] = {}
    for a, b in stands:
        d = {r: float(np.median(v[a:b])) for r, v in dev.items()}
        labelled = any(edges[a] - 2 <= te <= edges[b] for te in ev_times)
        for r in d:
            others = [o for o in d if o != r]
            if labelled:        # a stand by protocol: the whole up direction must agree
                largest[r] = max(largest.get(r, 0.0), d[r])
            elif all(d[o] <= tol[o] for o in others):
                # looks like a stand, but could be upright sitting (pelvis tilted back):
                # only the sideways (frontal-plane) part counts
                largest[r] = max(largest.get(r, 0.0), float(np.median(lat[r][a:b])))
    for r, v in largest.items():
        cal.pods[r].quality["drift_deg"] = v
    cal.regrade()
