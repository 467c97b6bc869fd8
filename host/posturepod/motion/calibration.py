"""Sensor-to-segment calibration from the routine every recording starts with: at least
5 s of quiet upright standing, one slow forward bend of 30-60 degrees and back up, then
2 s still. See docs/angles.md.

For each pod, in its sensor frame:

- z (cranial) = the up direction measured by the accelerometer during quiet standing;
- y (left) = the rotation axis of the calibration bend (flexion = positive rotation about
  +y), made orthogonal to z;
- x (anterior) = y cross z.

Pods may be clipped on in any orientation, upside down included. The standing window and
the bend are found automatically, or from the events ``calib_stand`` / ``calib_bend``
(their times mark the start of the stand and of the bend). The gyro bias is the mean gyro
over the standing window.

A calibration that cannot be trusted raises :class:`CalibrationError` naming the pod (or
warns, naming the pod, when the result is usable but doubtful): too little standing still,
a pod moving during the stand, a bend too small or too twisted, a pod whose standing
posture after the bend (or in a later stand) differs from the calibration stand.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturepod.motion import quaternion as Q
from posturepod.recordings.data import DataError, PodData, Recording

__all__ = ["CalibrationError", "CalibrationWarning", "PodCalibration", "Calibration",
           "calibrate", "LIMITS"]


class CalibrationError(DataError):
    """The calibration routine cannot be trusted; the message names the pod."""


class CalibrationWarning(UserWarning):
    """The calibration is usable but doubtful; the message names the pod."""


#: thresholds (error / warning), documented in docs/angles.md
LIMITS = dict(
    still_gyr_dps=4.5,          # gyro spread (norm of per-axis std, 1 s windows) for "still"
    stand_gyr_max_dps=6.0,      # error above: a pod not still over the calibration stand
    still_acc_m_s2=0.4,         # accelerometer spread for "still"
    stand_min_s=3.0,            # error below, warning below stand_ok_s
    stand_ok_s=5.0,
    bend_min_deg={"pelvis": 3.0, "thorax": 10.0, "head": 5.0},   # error below
    bend_ok_deg={"pelvis": 6.0, "thorax": 25.0, "head": 10.0},   # warning below
    axis_tilt_max_deg=25.0,     # error above: bend axis far from horizontal (twisted bend)
    axis_tilt_ok_deg=12.0,      # warning above
    axis_spread_max_deg=30.0,   # error above: instantaneous bend axes scattered
    axis_spread_ok_deg=15.0,    # warning above
    return_ok_deg=6.0,          # warning above: posture after the bend vs the stand
    drift_ok_deg={"pelvis": 8.0, "thorax": 8.0, "head": 15.0},   # later stands vs calib
    search_s=240.0,             # the routine is looked for in the first search_s seconds
)


@dataclass
class PodCalibration:
    """One pod's segment frame. ``axes_in_sensor`` rows are the segment's x (anterior),
    y (left), z (cranial) unit axes in sensor coordinates; ``gyr_bias_rad_s`` the gyro
    bias over the stand; ``quality`` the figures documented in docs/angles.md."""
    role: str
    axes_in_sensor: np.ndarray
    gyr_bias_rad_s: np.ndarray
    quality: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def quat_segment_to_sensor(self) -> np.ndarray:
        """w-first quaternion rotating segment-frame vectors into the sensor frame."""
        return Q.from_matrix(self.axes_in_sensor.T)

    def to_dict(self) -> dict:
        ax = self.axes_in_sensor
        return {"axes_in_sensor": {"x_anterior": ax[0].round(6).tolist(),
                                   "y_left": ax[1].round(6).tolist(),
                                   "z_cranial": ax[2].round(6).tolist()},
                "gyr_bias_rad_s": np.round(self.gyr_bias_rad_s, 7).tolist(),
                "quality": _jsonable(self.quality),
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, role: str, d: dict) -> "PodCalibration":
        a = d["axes_in_sensor"]
        axes = np.array([a["x_anterior"], a["y_left"], a["z_cranial"]], float)
        return cls(role, axes, np.asarray(d["gyr_bias_rad_s"], float),
                   dict(d.get("quality", {})), list(d.get("warnings", [])))


@dataclass
class Calibration:
    """Result of :func:`calibrate`: the stand and bend windows (seconds on the recording
    clock), one :class:`PodCalibration` per pod, cross-pod quality and all warnings."""
    stand_s: tuple[float, float]
    bend_s: tuple[float, float]
    pods: dict[str, PodCalibration]
    quality: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"stand_s": [round(self.stand_s[0], 4), round(self.stand_s[1], 4)],
                "bend_s": [round(self.bend_s[0], 4), round(self.bend_s[1], 4)],
                "pods": {r: p.to_dict() for r, p in self.pods.items()},
                "quality": _jsonable(self.quality),
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(tuple(d["stand_s"]), tuple(d["bend_s"]),
                   {r: PodCalibration.from_dict(r, p) for r, p in d["pods"].items()},
                   dict(d.get("quality", {})), list(d.get("warnings", [])))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def summary(self) -> str:
        lines = [f"calibration: stand {self.stand_s[0]:.2f}-{self.stand_s[1]:.2f} s, "
                 f"bend {self.bend_s[0]:.2f}-{self.bend_s[1]:.2f} s"]
        for r, p in self.pods.items():
            q = p.quality
            ax = p.axes_in_sensor
            lines.append(
                f"  {r:7s} x {_v(ax[0])} y {_v(ax[1])} z {_v(ax[2])}  "
                f"bias {_v(np.degrees(p.gyr_bias_rad_s), 3)} deg/s")
            lines.append(
                f"          stand still {q['stand_gyr_std_dps']:.2f} deg/s, "
                f"bend {q['bend_deg']:.1f} deg, axis tilt {q['bend_axis_tilt_deg']:.1f} deg, "
                f"spread {q['bend_axis_spread_deg']:.1f} deg, "
                f"return {q.get('return_deg', float('nan')):.1f} deg")
        for k, v in self.quality.items():
            lines.append(f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


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
            v = round(v, 4)
        out[k] = v
    return out


# ---------------------------------------------------------------- detection

def _still(pod: PodData, rate: float) -> tuple[np.ndarray, np.ndarray]:
    from posturepod.motion.fusion import rest_mask
    rest, _ = rest_mask(pod.gyr_rad_s, pod.acc_m_s2, rate, window_s=1.0,
                        th_gyr_dps=LIMITS["still_gyr_dps"],
                        th_acc_m_s2=LIMITS["still_acc_m_s2"], max_gyr_dps=15.0)
    return rest, pod.time_s


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


def _find_stand_and_bend(rec: Recording, pods: dict[str, PodData]):
    """(stand_t0, stand_t1, bend_t0) from events or automatically."""
    stand_ev = rec.events_named("calib_stand")
    bend_ev = rec.events_named("calib_bend")
    if stand_ev and bend_ev:
        t0 = stand_ev[0].time_s
        tb = min((e.time_s for e in bend_ev if e.time_s > t0), default=None)
        if tb is None:
            raise CalibrationError("event calib_bend does not follow calib_stand")
        return t0, tb, tb
    t_start = max(p.time_s[0] for p in pods.values())
    t_end = min(p.time_s[-1] for p in pods.values())
    t_end = min(t_end, t_start + LIMITS["search_s"])
    if bend_ev:
        tb = bend_ev[0].time_s
        t_end = tb
    grid = np.arange(t_start, t_end, 0.05)
    still = np.ones(len(grid), bool)
    moving_pods = {}
    for r, p in pods.items():
        s, t = _still(p, p.rate_hz)
        on = np.interp(grid, t, s.astype(float)) > 0.5
        moving_pods[r] = on
        still &= on
    runs = [(grid[a], grid[b - 1]) for a, b in _runs(still)
            if grid[b - 1] - grid[a] >= LIMITS["stand_min_s"]]
    if bend_ev:
        runs = [r for r in runs if r[1] >= tb - 1.0]
        if not runs:
            raise CalibrationError(_not_still_message(pods, moving_pods, grid, None))
        return runs[-1][0], tb, tb
    for a, b in runs:
        # a bend must follow: some pod turns by more than 10 deg within 20 s
        if _max_rotation_after(pods, b, 20.0) > 10.0:
            return max(a, b - 30.0), b, b
    if not runs:
        raise CalibrationError(_not_still_message(pods, moving_pods, grid, None))
    raise CalibrationError(
        f"no forward bend after the quiet stand at {runs[0][0]:.1f}-{runs[0][1]:.1f} s "
        f"(no pod turned more than 10 deg in the next 20 s)")


def _not_still_message(pods, moving, grid, _):
    best = {r: max(((grid[b - 1] - grid[a]) for a, b in _runs(m)), default=0.0)
            for r, m in moving.items()}
    worst = min(best, key=best.get)
    return (f"no quiet stand of {LIMITS['stand_min_s']:.0f} s with all pods still in the "
            f"first {LIMITS['search_s']:.0f} s; longest still stretch per pod: "
            + ", ".join(f"{r} {v:.1f} s" for r, v in best.items())
            + f" (pod {worst} moves the most)")


def _max_rotation_after(pods, t0, span_s):
    best = 0.0
    for p in pods.values():
        w = _window(p, t0 - 1.0, t0)
        if w.stop - w.start < 2:
            continue
        b = p.gyr_rad_s[w].mean(0)
        w2 = _window(p, t0, t0 + span_s)
        if w2.stop - w2.start < 2:
            continue
        g = p.gyr_rad_s[w2] - b
        dt = np.diff(p.time_s[w2], prepend=p.time_s[w2][0])
        # cheap bound: the angle of the summed rotation vector, good for a one-axis bend
        cum = np.cumsum(g * dt[:, None], axis=0)
        best = max(best, float(np.degrees(np.linalg.norm(cum, axis=1).max())))
    return best


# ---------------------------------------------------------------- per pod

def _pod_stand(role, pod, t0, t1):
    w = _window(pod, t0, t1)
    n = w.stop - w.start
    if n < 5:
        raise CalibrationError(f"pod {role}: no samples in the stand window "
                               f"{t0:.1f}-{t1:.1f} s")
    g = pod.gyr_rad_s[w]
    a = pod.acc_m_s2[w]
    bias = g.mean(0)
    up = a.mean(0)
    acc_norm = float(np.linalg.norm(up))
    up /= acc_norm
    q = {"stand_s": float(pod.time_s[w][-1] - pod.time_s[w][0]),
         "stand_gyr_std_dps": float(np.degrees(np.sqrt(g.var(0).sum()))),
         "stand_acc_std_m_s2": float(np.sqrt(a.var(0).sum())),
         "stand_acc_norm_m_s2": acc_norm}
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


def _bend_onset(pods, ts0, ts1):
    """A slow bend starts before the stillness test notices. Onset: going back from the
    moment the thorax pod (else the most turning pod) has turned 5 deg from its mid-stand
    pose, the last moment its rate about the bend direction (0.2 s mean) was not positive."""
    tm = 0.5 * (ts0 + ts1)
    best = None
    for r, p in pods.items():
        b = p.gyr_rad_s[_window(p, ts0, tm)].mean(0)
        w = _window(p, tm, ts1 + 20.0)
        if w.stop - w.start < 3:
            continue
        t = p.time_s[w]
        g = p.gyr_rad_s[w] - b
        rv = _integrate(g, np.diff(t, prepend=t[0]))
        ang = np.degrees(np.linalg.norm(rv, axis=1))
        cand = (r == "thorax", ang.max())
        if best is None or cand > best[0]:
            best = (cand, t, g, rv, ang)
    if best is None:
        return ts1
    _, t, g, rv, ang = best
    over = np.flatnonzero(ang > 5.0)
    if not over.size:
        return ts1
    i5 = int(over[0])
    axis = rv[i5] / np.linalg.norm(rv[i5])
    n = max(int(round(0.2 * (len(t) - 1) / max(t[-1] - t[0], 1e-9))), 1)
    rate = np.convolve(g @ axis, np.ones(n) / n, mode="same")
    calm = np.flatnonzero(rate[:i5] <= 0.0)
    return float(min(t[calm[-1]], ts1)) if calm.size else ts1


def _bend_end(pods, biases, tb0, t_max):
    """End of the calibration bend: the first time every pod is still for 1.5 s and back
    within max(5 deg, 30 % of its largest rotation so far) of the standing pose."""
    grid = np.arange(tb0, t_max, 0.05)
    ok = np.ones(len(grid), bool)
    for r, p in pods.items():
        res = _bend_angle(p, biases[r], tb0, t_max)
        if res is None:
            continue
        t, _, rv = res
        ang = np.degrees(np.linalg.norm(rv, axis=1))
        a = np.interp(grid, t, ang)
        ok &= a < np.maximum(5.0, 0.3 * np.maximum.accumulate(a))
        ok &= np.interp(grid, p.time_s, _still(p, p.rate_hz)[0].astype(float)) > 0.5
    # still for 1.5 s: a run of ok of that length, starting after some movement
    n = int(1.5 / 0.05)
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
    # principal direction of the integrated rotation vector over the bend: for a one-axis
    # bend every rv(t) lies on the axis; a twist or a wobble spreads them
    big = ang > 0.3 * peak
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


def _check(role, q, warns):
    L = LIMITS
    if q["stand_gyr_std_dps"] > L["stand_gyr_max_dps"] or q["stand_acc_std_m_s2"] > 2 * L[
            "still_acc_m_s2"]:
        raise CalibrationError(
            f"pod {role}: not still during the calibration stand (gyro spread "
            f"{q['stand_gyr_std_dps']:.1f} deg/s, acc spread {q['stand_acc_std_m_s2']:.2f} "
            f"m/s^2)")
    if abs(q["stand_acc_norm_m_s2"] - 9.81) > 1.5:
        warns.append(f"pod {role}: accelerometer reads {q['stand_acc_norm_m_s2']:.2f} m/s^2 "
                     f"standing still (expected 9.81): check its scale")
    lo, ok = L["bend_min_deg"].get(role, 5.0), L["bend_ok_deg"].get(role, 10.0)
    if q["bend_deg"] < lo:
        raise CalibrationError(f"pod {role}: calibration bend too small ({q['bend_deg']:.1f} "
                               f"deg < {lo:.0f}): cannot find its left axis")
    if q["bend_deg"] < ok:
        warns.append(f"pod {role}: small calibration bend ({q['bend_deg']:.1f} deg < "
                     f"{ok:.0f}): left axis uncertain")
    if q["bend_axis_tilt_deg"] > L["axis_tilt_max_deg"] or q["bend_axis_spread_deg"] > L[
            "axis_spread_max_deg"]:
        raise CalibrationError(
            f"pod {role}: calibration bend too twisted (axis {q['bend_axis_tilt_deg']:.1f} "
            f"deg from horizontal, spread {q['bend_axis_spread_deg']:.1f} deg)")
    if q["bend_axis_tilt_deg"] > L["axis_tilt_ok_deg"] or q["bend_axis_spread_deg"] > L[
            "axis_spread_ok_deg"]:
        warns.append(f"pod {role}: calibration bend somewhat twisted (axis "
                     f"{q['bend_axis_tilt_deg']:.1f} deg from horizontal, spread "
                     f"{q['bend_axis_spread_deg']:.1f} deg)")


def calibrate(rec: Recording, *, check_later: bool = True, warn: bool = True) -> Calibration:
    """Find the calibration routine in ``rec`` and each pod's segment frame.

    Raises :class:`CalibrationError` (naming the pod) when it cannot be trusted; issues a
    :class:`CalibrationWarning` (naming the pod) per doubtful figure when ``warn``; the
    warnings are also kept in ``Calibration.warnings``.
    """
    full = {r: p for r, p in rec.pods.items() if len(p) >= 2}
    if not full:
        raise CalibrationError("recording has no pod data")
    # the routine is at the start: work on the first search_s + 60 s only
    t_lim = min(p.time_s[0] for p in full.values()) + LIMITS["search_s"] + 60.0
    pods = {r: _head(p, t_lim) for r, p in full.items()}
    ts0, ts1, tb0 = _find_stand_and_bend(rec, pods)
    if not (rec.events_named("calib_stand") and rec.events_named("calib_bend")):
        ts1 = tb0 = _bend_onset(pods, ts0, ts1)
    ts1 = ts1 - 0.3          # keep the bend onset out of the stand
    stand_len = ts1 - ts0
    warns: list[str] = []
    if stand_len < LIMITS["stand_min_s"]:
        raise CalibrationError(f"calibration stand only {stand_len:.1f} s "
                               f"(need {LIMITS['stand_ok_s']:.0f} s still)")
    if stand_len < LIMITS["stand_ok_s"] - 0.5:
        warns.append(f"calibration stand only {stand_len:.1f} s "
                     f"(asked for {LIMITS['stand_ok_s']:.0f} s)")
    t_max = min(tb0 + 40.0, min(p.time_s[-1] for p in pods.values()))
    stands = {r: _pod_stand(r, p, ts0, ts1) for r, p in pods.items()}
    tb1 = _bend_end(pods, {r: v[1] for r, v in stands.items()}, tb0, t_max)
    out: dict[str, PodCalibration] = {}
    for r, p in pods.items():
        up, bias, q = stands[r]
        axis, qb = _pod_bend(r, p, up, bias, tb0, tb1)
        q.update(qb)
        y = axis - np.dot(axis, up) * up
        y /= np.linalg.norm(y)
        x = np.cross(y, up)
        q["gyr_bias_dps"] = np.degrees(bias)
        _check(r, q, warns)
        out[r] = PodCalibration(r, np.vstack([x, y, up]), bias, q)
    # posture after the bend (the "2 s still") against the stand
    for r, p in pods.items():
        up = out[r].axes_in_sensor[2]
        w = _window(p, tb1 + 0.3, tb1 + 2.3)
        if w.stop - w.start >= 3:
            a = p.acc_m_s2[w].mean(0)
            d = float(np.degrees(np.arccos(np.clip(np.dot(a / np.linalg.norm(a), up), -1, 1))))
            out[r].quality["return_deg"] = d
            if d > LIMITS["return_ok_deg"]:
                warns.append(f"pod {r}: standing posture after the bend differs from the "
                             f"calibration stand by {d:.1f} deg (pod slipped, or the stand "
                             f"was not upright)")
    qual = {}
    if len(out) > 1:
        tilts = [c.quality["bend_axis_tilt_deg"] for c in out.values()]
        peaks = [c.quality["bend_peak_time_s"] for c in out.values()]
        qual["axis_tilt_range_deg"] = float(max(tilts) - min(tilts))
        qual["peak_time_range_s"] = float(max(peaks) - min(peaks))
        if qual["peak_time_range_s"] > 3.0:
            late = max(out, key=lambda r: abs(out[r].quality["bend_peak_time_s"]
                                              - float(np.median(peaks))))
            warns.append(f"pod {late}: its bend peaks {qual['peak_time_range_s']:.1f} s apart "
                         f"from the other pods' (did it bend with the body?)")
    cal = Calibration((float(ts0), float(ts1)), (float(tb0), tb1), out, qual, warns)
    if check_later:
        check_later_stands(rec, cal)
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
    reported as moved on the body (warning naming the pod, figure ``drift_deg``). In such
    automatically found periods only the sideways (frontal-plane) part of the difference
    counts, since upright sitting tilts the pelvis back; in a later stand marked by a
    ``calib_stand`` event the whole difference counts. Adds to ``cal.warnings``."""
    pods = {r: p for r, p in rec.pods.items() if r in cal.pods}
    if len(pods) < 2:
        return
    t_after = cal.bend_s[1] + 3.0
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
        still &= ok & (gstd < LIMITS["still_gyr_dps"]) & (np.degrees(
            np.linalg.norm(gm, axis=1)) < 3.0)
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
    tol = LIMITS["drift_ok_deg"]
    worst: dict[str, float] = {}
    for a, b in stands:
        d = {r: float(np.median(v[a:b])) for r, v in dev.items()}
        labelled = any(edges[a] - 2 <= te <= edges[b] for te in ev_times)
        for r in d:
            others = [o for o in d if o != r]
            if labelled:        # a stand by protocol: the whole up direction must agree
                worst[r] = max(worst.get(r, 0.0), d[r])
            elif all(d[o] <= tol.get(o, 10.0) for o in others):
                # looks like a stand, but could be upright sitting (pelvis tilted back):
                # only the sideways (frontal-plane) part counts
                worst[r] = max(worst.get(r, 0.0), float(np.median(lat[r][a:b])))
    for r, v in worst.items():
        cal.pods[r].quality["drift_deg"] = v
        if v > tol.get(r, 10.0):
            cal.warnings.append(
                f"pod {r}: in a later stand its up direction differs from the calibration by "
                f"{v:.1f} deg while the other pods agree: it may have moved on the body; "
                f"recalibrate")
