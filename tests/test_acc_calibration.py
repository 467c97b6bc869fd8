"""A pod's own accelerometer calibration: the fit, its checks, the pod keeping it (the real
firmware on a virtual board), `posturepod calibrate-acc` end to end, the reader applying
it, and the simulator's calibrated pods."""
import json
import subprocess
import sys

import numpy as np
import pytest

from posturepod.motion import quaternion as Q
from posturepod.recordings.acc_calibration import (AccCalibration, coverage_problems, fit,
                                                   still_poses)
from posturepod.recordings.data import DataError

CLI = [sys.executable, "-m", "posturepod.cli"]
G = 9.80665
UPS = [np.eye(3)[k] * s for k in range(3) for s in (1.0, -1.0)]
UPS += [np.array(v, float) / np.sqrt(2) for v in
        ((1, 1, 0), (-1, 0, 1), (0, -1, -1), (1, 0, -1), (0, 1, 1), (-1, -1, 0))]
GAIN = np.array([[1.021, 0.004, -0.006], [0.004, 0.985, 0.003], [-0.006, 0.003, 1.012]])
BIAS = np.array([0.12, -0.25, 0.31])


def _raw(f):
    """What an accelerometer with GAIN^-1 and BIAS errors reads for the true force f."""
    return np.asarray(f) @ np.linalg.inv(GAIN).T + BIAS


def _tilt_err_deg(a, b):
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_fit_recovers_bias_and_gain_and_corrects_every_pose():
    rng = np.random.default_rng(1)
    poses = [_raw(Q.rotate(Q.exp(rng.normal(0, 0.04, 3)), u * G)) for u in UPS]
    cal = fit(np.array(poses) + rng.normal(0, 0.002, (len(UPS), 3)))
    assert np.allclose(cal.bias_m_s2, BIAS, atol=0.01)
    assert np.allclose(cal.gain, GAIN, atol=0.002)
    assert cal.rms_m_s2 < 0.005 and cal.poses == 12
    # on poses it never saw, the tilt error goes from over a degree to a few hundredths
    f = rng.normal(size=(500, 3))
    f *= G / np.linalg.norm(f, axis=1, keepdims=True)
    assert _tilt_err_deg(_raw(f), f).max() > 1.0
    assert _tilt_err_deg(cal.apply(_raw(f)), f).max() < 0.05
    assert np.allclose(AccCalibration.from_dict(cal.to_dict()).gain, cal.gain, atol=1e-6)


def test_fit_refuses_what_cannot_determine_it():
    few = np.array([_raw(u * G) for u in UPS[:6]])
    with pytest.raises(ValueError, match="need at least 9"):
        fit(few)
    one_sided = np.array([_raw(Q.rotate(Q.exp([a, b, 0]), [0, 0, G]))
                          for a in (-0.5, 0, 0.5) for b in (-0.5, 0, 0.5)]) + 0.0
    probs = coverage_problems(one_sided)
    assert any("-z" in p and "+x" in p for p in probs), probs
    moved = np.array([_raw(u * G) for u in UPS])
    moved[3] *= 1.05                          # one pose taken while the pod was pushed
    with pytest.raises(ValueError, match="really still"):
        fit(moved)


@pytest.mark.parametrize("bad, msg", [
    ({"bias_m_s2": [0, 0], "gain": [1, 0, 0, 0, 1, 0, 0, 0, 1]}, "3 numbers"),
    ({"bias_m_s2": [0, 0, 0], "gain": [1, 0.1, 0, 0, 1, 0, 0, 0, 1]}, "symmetric"),
    ({"bias_m_s2": [0, 0, 0], "gain": [1.5, 0, 0, 0, 1, 0, 0, 0, 1]}, "implausible"),
    ({"gain": [1, 0, 0, 0, 1, 0, 0, 0, 1]}, "bias_m_s2"),
    ("x", "not an object"),
])
def test_a_malformed_calibration_is_refused(bad, msg):
    with pytest.raises(ValueError, match=msg):
        AccCalibration.from_dict(bad)


def _tumble(rate, hold_s=2.6, move_s=0.6, lead_s=0.0):
    """True specific force and gyro of a pod laid on 12 faces and edges in turn (the first
    for ``lead_s`` longer)."""
    n0 = int(lead_s * rate)
    acc, gyr = [np.tile(UPS[0] * G, (n0, 1))], [np.zeros((n0, 3))]
    for i, u in enumerate(UPS):
        acc.append(np.tile(u * G, (int(hold_s * rate), 1)))
        gyr.append(np.zeros((int(hold_s * rate), 3)))
        v = UPS[(i + 1) % len(UPS)]
        ang = float(np.arccos(np.clip(u @ v, -1, 1)))
        axis = np.cross(u, v)
        axis = axis / np.linalg.norm(axis) if np.linalg.norm(axis) > 1e-9 else \
            np.cross(u, [0.3, 0.5, 0.8]) / np.linalg.norm(np.cross(u, [0.3, 0.5, 0.8]))
        n = int(move_s * rate)
        th = ang * (1 - np.cos(np.pi * np.arange(n) / n)) / 2
        acc.append(np.array([Q.rotate(Q.exp(axis * t), u * G) for t in th]))
        gyr.append(np.tile(-axis * ang / move_s * 1.5, (n, 1)))
    return np.vstack(acc), np.vstack(gyr)


def test_still_poses_finds_each_hold_once():
    acc, gyr = _tumble(100)
    poses = still_poses(acc, gyr, 100.0, hold_s=1.5)
    assert len(poses) == 12
    assert _tilt_err_deg(poses, np.array(UPS) * G).max() < 0.01


@pytest.mark.usefixtures("micropython")
def test_calibrate_acc_on_a_virtual_pod_is_kept_and_applied(tmp_path):
    from posturepod.devices.virtual.patient import monotonic_us, spawn_board
    from posturepod.devices.virtual.trace import write_trace
    rate = 100
    f, gyr = _tumble(rate, lead_s=6.0)       # the command starts a few seconds late
    trace = write_trace(tmp_path / "tumble.trace", rate,
                        {"pelvis": {"acc_m_s2": _raw(f), "gyr_rad_s": gyr}})
    b = spawn_board("pelvis", tmp_path / "p.tty", fs=tmp_path / "fs", trace=trace,
                    t0_us=monotonic_us())
    try:
        r = subprocess.run(CLI + ["calibrate-acc", "--port", str(b.link), "--timeout", "60",
                                  "--out", str(tmp_path / "acc.json")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "written to the pod" in r.stdout
        saved = json.loads((tmp_path / "acc.json").read_text())
        cal = AccCalibration.from_dict(saved["acc_cal"])
        assert np.allclose(cal.bias_m_s2, BIAS, atol=0.02), cal.bias_m_s2
        assert np.allclose(cal.gain, GAIN, atol=0.003), cal.gain
        # the pod keeps it across a restart (pod.json) and reports it in its INFO
        b.restart()
        from posturepod.pods.podlink import PodError, PodLink
        link = PodLink(str(b.link), auto_reconnect=False)
        info = link.open(5.0)
        try:
            assert np.allclose(info["acc_cal"]["gain"], cal.gain.ravel(), atol=1e-6)
            with pytest.raises(PodError, match="refused: bad acc_cal"):
                link.request("set_config", timeout_s=2.0, acc_cal={"bias_m_s2": [1]})
            assert link.request("info", timeout_s=2.0).body["acc_cal"] == info["acc_cal"]
        finally:
            link.close()
    finally:
        b.kill()


def test_the_reader_applies_the_pods_calibration(tmp_path):
    from posturepod.recordings.loader import load
    from posturepod.recordings.writer import write_native
    from posturepod.sim.simulate import simulate
    res = simulate("flexion", 3, duration_s=30, acc_calibrated=False)
    write_native(res.recording, tmp_path / "rec")
    raw = load(tmp_path / "rec")
    cal = AccCalibration(BIAS, GAIN, 0.001, 12)
    meta_path = tmp_path / "rec" / "recording.json"
    meta = json.loads(meta_path.read_text())
    meta["pods"]["thorax"]["info"]["acc_cal"] = cal.to_dict()
    meta_path.write_text(json.dumps(meta))
    got = load(tmp_path / "rec")
    th = got.pods["thorax"]
    assert th.info["acc_cal"]["applied"] is True
    want = cal.apply(np.asarray(raw.pods["thorax"].acc_m_s2[100:900]))
    assert np.allclose(th.acc_m_s2[100:900], want, atol=1e-9)
    assert np.allclose(np.asarray(got.pods["pelvis"].acc_m_s2), raw.pods["pelvis"].acc_m_s2)
    meta["pods"]["thorax"]["info"]["acc_cal"] = {"bias_m_s2": [0, 0, 0], "gain": [2] * 9}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match=r"recording.json: pod thorax: acc_cal"):
        load(tmp_path / "rec")


def test_simulated_pods_are_calibrated_by_their_maker():
    """The simulator's pods carry the calibration a maker would make (calibrate-acc on a
    table), applied: over all directions, its accelerometer's tilt error is at least halved
    (what is left: the rotation part of the cross-axis error and the fit's noise)."""
    from posturepod.sim.simulate import simulate
    res = simulate("flexion", 5, duration_s=20)
    f = np.random.default_rng(0).normal(size=(2000, 3))
    f *= G / np.linalg.norm(f, axis=1, keepdims=True)
    for role, pod in res.recording.pods.items():
        d = pod.info["acc_cal"]
        assert d["applied"] is True and d["poses"] == 12
        e = res.truth["sensor_errors"][role]
        raw = f @ np.asarray(e["acc_gain"]).T + np.asarray(e["acc_bias"])
        before = _tilt_err_deg(raw, f).max()
        after = _tilt_err_deg(AccCalibration.from_dict(d).apply(raw), f).max()
        assert after < 0.5 * before and after < 0.4, (role, before, after)
    plain = simulate("flexion", 5, duration_s=20, acc_calibrated=False)
    assert "acc_cal" not in plain.recording.pods["head"].info


def test_the_calibration_object_says_which_pods_were_acc_calibrated(tmp_path):
    import warnings
    from posturepod.motion.calibration import calibrate
    from posturepod.recordings.loader import load
    from posturepod.recordings.writer import write_native
    from posturepod.sim.simulate import simulate
    res = simulate("flexion", 4, duration_s=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = calibrate(res.recording).to_dict()
    assert {r: p["acc_calibrated"] for r, p in d["pods"].items()} == \
        {"pelvis": True, "thorax": True, "head": True}
    write_native(res.recording, tmp_path / "rec")     # a pod INFO without acc_cal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate(load(tmp_path / "rec"))
    assert cal.to_dict()["pods"]["head"]["acc_calibrated"] is False
    assert "accelerometer not calibrated (posturepod calibrate-acc)" in cal.summary()
