"""How far a calibration can be trusted: per pod and overall ``good``, ``doubtful`` or
``failed``, each doubt or failure with a reason that names the pod and says what to redo.

Limits are ours, chosen so that a patient standing as still as real people do (and twice
as restless) calibrates ``good``, and so that what would shift every angle by more than a
degree or two is ``failed``; docs/angles.md gives each limit with its reasoning.
"""
from __future__ import annotations

GOOD, DOUBTFUL, FAILED = "good", "doubtful", "failed"
GRADES = (GOOD, DOUBTFUL, FAILED)

#: limits per figure: (doubtful above, failed above); per role where the head differs
LIMITS = dict(
    # RMS angle (deg) between the pod's gravity direction (0.5 s mean) and its stand mean:
    # measured on restless simulated patients (bench/calibration_robustness.py): thorax
    # ~1.2 at real people's sway, ~2.5 at twice that; head ~1.7 and ~3.3; docs/angles.md
    stand_sway_deg={"pelvis": (3.0, 5.0), "thorax": (3.5, 5.0), "head": (4.5, 5.5)},
    # rotation range (deg) over the stand from the gyro: turning about while "standing"
    stand_rotation_deg={"pelvis": (8.0, 20.0), "thorax": (8.0, 20.0), "head": (25.0, 60.0)},
    stand_s=(4.0, 3.0),            # doubtful below 4 s, failed below 3 s
    stand_min_s=1.0,               # below this there is nothing to average: no calibration
    bend_deg={"pelvis": (6.0, 3.0), "thorax": (25.0, 10.0), "head": (10.0, 5.0)},  # below
    # bend axis from horizontal (twisted bend); the head's own sway and glances add more
    bend_axis_tilt_deg={"pelvis": (12.0, 25.0), "thorax": (12.0, 25.0), "head": (20.0, 25.0)},
    bend_axis_spread_deg=(15.0, 30.0),   # instantaneous bend axes scattered
    return_deg=(6.0, 15.0),        # posture after the bend vs the stand (slipped / sat down)
    peak_lag_s=(3.0, 6.0),         # a pod's bend peak vs the other pods' median
    # below: correlation of its bend course with the others' (the pelvis moves late in a
    # normal bend, early in an inhibited one)
    shape_r={"pelvis": (0.6, 0.3), "thorax": (0.75, 0.4), "head": (0.75, 0.4)},
    acc_norm_err_m_s2=(1.5, 4.0),  # |acc| standing vs 9.81 (scale)
    drift_deg={"pelvis": (8.0, 15.0), "thorax": (8.0, 15.0), "head": (15.0, 25.0)},
)

REDO_STAND = "redo the calibration: look at a point ahead and stand still for 5 s"
REDO_BEND = "redo the calibration: after the stand, bend forward slowly half way and back"
REDO_CLIP = "check that the pod is firmly clipped on, then redo the calibration"


def _lim(name: str, role: str):
    v = LIMITS[name]
    return v.get(role, next(iter(v.values()))) if isinstance(v, dict) else v


def grade_pod(role: str, q: dict) -> tuple[str, list[str]]:
    """Grade and reasons of one pod from its figures (``PodCalibration.quality``). Each
    check's text has ``{v}`` for the value and ``{lim}`` for the limit it crossed."""
    out: list[tuple[str, str]] = []

    def check(name, value, text, redo, *, low=False, fmt="{:.1f}"):
        if value is None or value != value:         # missing or NaN
            return
        d, f = _lim(name, role)
        bad = (value < f) if low else (value > f)
        doubt = (value < d) if low else (value > d)
        if bad or doubt:
            lim = fmt.format(f if bad else d)
            msg = f"pod {role}: " + text.format(v=fmt.format(value), lim=lim)
            if bad:
                out.append((FAILED, f"{msg}: {redo}"))
            else:
                out.append((DOUBTFUL, f"{msg} (doubtful)"))

    check("stand_s", q.get("stand_s"), "calibration stand only {v} s (limit {lim} s)",
          REDO_STAND, low=True)
    check("stand_sway_deg", q.get("stand_sway_deg"), "too restless during the stand: its "
          "gravity direction wandered {v} deg RMS (limit {lim})", REDO_STAND)
    check("stand_rotation_deg", q.get("stand_rotation_deg"), "turned {v} deg during the "
          "stand (limit {lim})", REDO_STAND, fmt="{:.0f}")
    if q.get("stand_acc_norm_m_s2") is not None:
        check("acc_norm_err_m_s2", abs(q["stand_acc_norm_m_s2"] - 9.81), "accelerometer "
              "reads {v} m/s^2 off 9.81 standing still (limit {lim})",
              "check its scale (posturepod selftest)", fmt="{:.2f}")
    check("bend_deg", q.get("bend_deg"), "calibration bend too small, {v} deg (limit "
          "{lim}): left axis uncertain", REDO_BEND, low=True)
    check("bend_axis_tilt_deg", q.get("bend_axis_tilt_deg"), "calibration bend too twisted: "
          "axis {v} deg from horizontal (limit {lim})", REDO_BEND)
    check("bend_axis_spread_deg", q.get("bend_axis_spread_deg"), "calibration bend too "
          "twisted: axis spread {v} deg (limit {lim})", REDO_BEND)
    check("return_deg", q.get("return_deg"), "standing posture after the bend differs from "
          "the stand by {v} deg (limit {lim}): pod slipped, a sit-down, or a stand that was "
          "not upright", REDO_CLIP)
    lag = q.get("bend_peak_lag_s")
    check("peak_lag_s", None if lag is None else abs(lag), "its bend peaks {v} s apart from "
          "the other pods' (limit {lim}): did it bend with the body?", REDO_CLIP)
    check("shape_r", q.get("bend_shape_r"), "its bend does not follow the other pods' "
          "(correlation {v}, limit {lim})", REDO_CLIP, low=True, fmt="{:.2f}")
    check("drift_deg", q.get("drift_deg"), "in a later stand its up direction differs from "
          "the calibration by {v} deg while the other pods agree (limit {lim}): it may have "
          "moved on the body", "recalibrate")
    grade = worst(g for g, _ in out)
    return grade, [m for _, m in out]


def worst(grades) -> str:
    return max(grades, key=GRADES.index, default=GOOD)
REDO_ROUTINE = ("record the calibration routine at the start: stand still 5 s, bend forward "
                "slowly half way and back up, stand still 2 s")
