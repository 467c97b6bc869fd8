"""A pod's own accelerometer calibration: bias and a symmetric gain matrix, fitted from
still poses so that gravity reads 1 g in every orientation (docs/angles.md, "The pod's
accelerometer calibration").

Why: an accelerometer's scale and cross-axis errors (the MPU-6050 product specification,
rev. 3.4, table 6.2, allows +-3 % and +-2 %) tilt the measured gravity by an amount that
depends on the pose. It cancels in the standing reference of the body calibration but not
at the bottom of a bend, where the head pod is 100 deg forward. No body posture can see it;
several still orientations of the pod on a table can.

Model: ``a = G (raw - b)``, ``b`` (3,) m/s^2, ``G`` (3, 3) symmetric. A symmetric ``G`` has
no rotation part, so the accelerometer axes stay those of the gyroscope; 9 parameters, fitted
by least squares of ``|G (raw_k - b)| - g`` over K >= 9 still poses that cover all six axis
directions (an ellipsoid fit).

Where it lives: the pod keeps it in ``pod.json`` (``acc_cal``, set by ``posturepod
calibrate-acc``) and reports it in its INFO; a native recording keeps the INFO, and the
reader applies it when the recording is loaded, so the raw counts on disk stay raw.
``PodData.info["acc_cal"]["applied"]`` says it was applied.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturepod.firmware.pod import config as _pod_config

__all__ = ["AccCalibration", "KEY", "fit", "still_poses", "coverage_problems",
           "from_info", "apply_to_pod_info"]

KEY = "acc_cal"
G_M_S2 = 9.80665
MIN_POSES = 9
# the limits the pod checks too (pod.json acc_cal), defined once in the firmware's config
MAX_GAIN_ERROR = _pod_config.ACC_CAL_MAX_GAIN_ERROR   # |G - I| per element
MAX_BIAS_M_S2 = _pod_config.ACC_CAL_MAX_BIAS_M_S2     # MPU-6050 zero-g offset is up to
#                                                       +-0.08 g x / y, +-0.15 g z
MAX_RMS_M_S2 = 0.05          # residual of |a| - g over the poses (0.5 % of g)


@dataclass
class AccCalibration:
    bias_m_s2: np.ndarray       # (3,)
    gain: np.ndarray            # (3, 3) symmetric
    rms_m_s2: float = 0.0       # |a| - g residual over the fitted poses
    poses: int = 0

    def apply(self, acc_m_s2) -> np.ndarray:
        """Calibrated acceleration (N, 3) from raw (N, 3), m/s^2."""
        return (np.asarray(acc_m_s2, dtype=np.float64) - self.bias_m_s2) @ self.gain.T

    def to_dict(self) -> dict:
        """The form kept in pod.json and INFO (plain numbers, short enough for one command
        line)."""
        return {"bias_m_s2": [round(float(x), 5) for x in self.bias_m_s2],
                "gain": [round(float(x), 6) for x in self.gain.ravel()],
                "rms_m_s2": round(float(self.rms_m_s2), 5), "poses": int(self.poses)}

    @classmethod
    def from_dict(cls, d) -> "AccCalibration":
        """Checked: raises ValueError naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError("acc_cal is not an object")
        try:
            b = np.asarray(d["bias_m_s2"], dtype=np.float64)
            g = np.asarray(d["gain"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"acc_cal needs bias_m_s2 (3 numbers) and gain (9): {e}") from None
        if b.shape != (3,) or g.size != 9 or not (np.isfinite(b).all() and np.isfinite(g).all()):
            raise ValueError("acc_cal needs bias_m_s2 (3 numbers) and gain (9 numbers)")
        g = g.reshape(3, 3)
        if np.abs(g - g.T).max() > _pod_config.ACC_CAL_SYMMETRY:
            raise ValueError("acc_cal gain is not symmetric")
        if np.abs(g - np.eye(3)).max() > MAX_GAIN_ERROR or np.abs(b).max() > MAX_BIAS_M_S2:
            raise ValueError(f"acc_cal is implausible (gain off identity by more than "
                             f"{MAX_GAIN_ERROR}, or bias over {MAX_BIAS_M_S2} m/s^2)")
        return cls(b, g, float(d.get("rms_m_s2", 0.0)), int(d.get("poses", 0)))


def _params(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = p[:3]
    s = p[3:]
    g = np.array([[1 + s[0], s[3], s[4]], [s[3], 1 + s[1], s[5]], [s[4], s[5], 1 + s[2]]])
    return b, g


def fit(poses_m_s2, g_m_s2: float = G_M_S2) -> AccCalibration:
    """Fit bias and symmetric gain to K still poses' mean accelerations (K, 3). Raises
    ValueError when the poses cannot determine it (see :func:`coverage_problems`)."""
    from scipy.optimize import least_squares

    a = np.asarray(poses_m_s2, dtype=np.float64)
    problems = coverage_problems(a)
    if problems:
        raise ValueError("; ".join(problems))

    def resid(p):
        b, g = _params(p)
        return np.linalg.norm((a - b) @ g.T, axis=1) - g_m_s2

    sol = least_squares(resid, np.zeros(9), method="lm", xtol=1e-12, ftol=1e-12)
    b, g = _params(sol.x)
    rms = float(np.sqrt(np.mean(resid(sol.x) ** 2)))
    cal = AccCalibration(b, g, rms, len(a))
    AccCalibration.from_dict(cal.to_dict())          # plausibility, same rule as on load
    if rms > MAX_RMS_M_S2:
        raise ValueError(f"the poses do not fit one calibration (residual {rms:.3f} m/s^2 > "
                         f"{MAX_RMS_M_S2}): was the pod really still in each?")
    return cal


def coverage_problems(poses_m_s2) -> list[str]:
    """What is missing for a well-determined fit: at least ``MIN_POSES`` poses, and for each
    of the six axis directions (+x, -x, ... ) a pose whose gravity lies within 35 deg of it."""
    a = np.asarray(poses_m_s2, dtype=np.float64).reshape(-1, 3)
    out = []
    if len(a) < MIN_POSES:
        out.append(f"{len(a)} still poses, need at least {MIN_POSES}")
    if len(a):
        u = a / np.linalg.norm(a, axis=1, keepdims=True)
        missing = []
        for k, name in enumerate("xyz"):
            for sign, s in ((1, "+"), (-1, "-")):
                if not (sign * u[:, k] > np.cos(np.deg2rad(35))).any():
                    missing.append(s + name)
        if missing:
            out.append("no pose with the " + ", ".join(missing) + " axis pointing up "
                       "(lay the pod on each of its six faces)")
    return out


def still_poses(acc_m_s2, gyr_rad_s, rate_hz: float, *, hold_s: float = 1.0,
                gyr_max_rad_s: float = np.deg2rad(3.0), acc_std_max_m_s2: float = 0.05,
                min_sep_deg: float = 20.0) -> np.ndarray:
    """Mean acceleration (K, 3) of each still hold of at least ``hold_s``: gyro norm below
    ``gyr_max_rad_s`` and acceleration steady. Holds whose gravity directions are within
    ``min_sep_deg`` of an earlier one are merged into it (the longer average wins)."""
    acc = np.asarray(acc_m_s2, dtype=np.float64)
    gyr = np.asarray(gyr_rad_s, dtype=np.float64)
    n = max(int(round(hold_s * rate_hz)), 2)
    if len(acc) < n:
        return np.zeros((0, 3))
    w = max(n // 4, 1)
    kern = np.ones(w) / w
    smooth_g = np.convolve(np.linalg.norm(gyr, axis=1), kern, mode="same")
    still = smooth_g < gyr_max_rad_s
    edges = np.flatnonzero(np.diff(np.r_[0, still.astype(np.int8), 0]))
    holds: list[tuple[np.ndarray, int]] = []
    for i0, i1 in zip(edges[::2], edges[1::2]):
        i0, i1 = i0 + w, i1 - w                 # keep clear of the moves either side
        if i1 - i0 < n:
            continue
        seg = acc[i0:i1]
        if seg.std(axis=0).max() > acc_std_max_m_s2:
            continue
        m = seg.mean(axis=0)
        for j, (other, k) in enumerate(holds):
            cos = float(m @ other / (np.linalg.norm(m) * np.linalg.norm(other)))
            if cos > np.cos(np.deg2rad(min_sep_deg)):
                if i1 - i0 > k:
                    holds[j] = (m, i1 - i0)
                break
        else:
            holds.append((m, i1 - i0))
    return np.array([m for m, _ in holds]).reshape(-1, 3)


def from_info(info: dict | None) -> AccCalibration | None:
    """The calibration a pod reported in its INFO, or None (never calibrated). A malformed
    one raises ValueError."""
    d = (info or {}).get(KEY)
    if d is None:
        return None
    return AccCalibration.from_dict(d)


def apply_to_pod_info(info: dict) -> AccCalibration | None:
    """The calibration to apply to the data of a pod with this INFO, or None when there is
    none or it was applied already; marks it applied (``info["acc_cal"]["applied"]``)."""
    d = info.get(KEY)
    if not isinstance(d, dict) or d.get("applied"):
        return None
    cal = AccCalibration.from_dict(d)
    info[KEY] = {**d, "applied": True}
    return cal
