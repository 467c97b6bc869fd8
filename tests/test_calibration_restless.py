"""Restless patients (the simulator's sway levels, docs/simulation.md): the protocol exactly
as documented, no events, so the routine must be found. Up to twice real people's sway the
calibration is good and the results are right; beyond, a result is right or refused with
a message naming the pod, never confidently wrong. bench/calibration_robustness.py runs
the full sweep."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from posturepod.flexion import analysis as F
from posturepod.motion.angles import ANGLE_NAMES, recording_angles
from posturepod.motion.calibration import CalibrationError, calibrate
from posturepod.sim.simulate import simulate
from posturepod.sitting import analyse_recording


def _rmse(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))


def _flexion(seed, sway, pattern):
    res = simulate("flexion", seed, sway=sway, exact_protocol=True, events=False,
                   pattern=pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cal = calibrate(res.recording)
        except CalibrationError as e:
            return res, None, str(e), None
        ang = recording_angles(res.recording, calibration=cal)
    truth = res.angles_true(ang.time_s)
    return res, cal, {n: _rmse(getattr(ang, n), truth[n]) for n in ANGLE_NAMES}, ang


@pytest.mark.parametrize("sway", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("seed,pattern", [(100, "normal"), (105, "inhibited_hip")])
def test_restless_up_to_twice_real_sway_calibrates_good_and_right(sway, seed, pattern):
    res, cal, rmse, ang = _flexion(seed, sway, pattern)
    assert cal is not None, rmse
    assert cal.grade == "good", cal.reasons
    assert max(rmse.values()) <= 1.0, rmse
    # the stand found is the documented one: from the start, ending at the bend (5 s)
    assert cal.stand_s[0] < 0.3 and 4.5 < cal.stand_s[1] < 5.3, cal.stand_s
    out = F.analyze(ang, events=res.recording.events)
    assert out.summary["pattern"] == pattern
    for r, tr in zip(out.reps, res.truth["reps"]):
        assert abs(r.peak_pelvis_deg - tr["peak_pelvis_deg"]) <= 2.0


@pytest.mark.parametrize("seed", [100, 101, 102, 104])
def test_three_times_real_sway_is_right_or_refused(seed):
    res, cal, rmse, _ = _flexion(seed, 3.0, "normal" if seed % 2 == 0 else "inhibited_hip")
    if cal is None:
        assert "pod " in rmse and ("stand still" in rmse or "bend" in rmse), rmse
    else:
        assert max(rmse.values()) <= 1.0, (cal.grade, cal.reasons, rmse)


def test_restless_head_alone_does_not_spoil_the_stand():
    """The old criterion (gyro spread) refused every real stand because the head sways:
    at real people's sway the head's gyro median is ~5 deg/s, yet the calibration is good
    and the head pod's figures say how restless it was."""
    _, cal, rmse, _ = _flexion(102, 1.0, "normal")
    q = cal.pods["head"].quality
    # the head's gyro is far busier than the trunk's (the old test refused above 4.5 deg/s
    # in any 1 s window, which this head crosses)
    assert q["stand_gyr_std_dps"] > 2 * cal.pods["pelvis"].quality["stand_gyr_std_dps"]
    assert cal.pods["head"].grade == "good" and 0.5 < q["stand_sway_deg"] < 4.5
    assert rmse["head_deg"] <= 1.0


@pytest.mark.slow
def test_restless_desk_day_never_takes_a_seated_stillness_for_the_stand():
    """The issue's desk day: twice real sway, no events. The stand is the one at the start
    (never a later seated stillness), and slouch and head-forward time match the truth."""
    res = simulate("sitting", 200, sway=2.0, exact_protocol=True, events=False,
                   duration_s=1800.0, rate_hz=50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate(res.recording)
        s = analyse_recording(res.recording, calibration=cal).summary
    assert cal.grade == "good" and cal.stand_s[1] < 5.5, (cal.stand_s, cal.reasons)
    tr = res.truth
    for k in ("slouch", "head_forward"):
        assert abs(s[f"{k}_s"] - tr[f"{k}_s"]) <= 0.05 * tr[f"{k}_s"], k
        assert len(s[f"{k}_episodes"]) == len(tr[f"{k}_episodes"]), k
