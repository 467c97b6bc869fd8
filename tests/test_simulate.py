"""The simulator: physics, ground truth definitions, protocols, determinism, scaling."""
from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posturepod.sim.simulate import simulate, write_sim
from posturepod.motion import quaternion as Q

G = 9.80665


@pytest.fixture(scope="module")
def flex():
    return simulate("flexion", 1)


@pytest.fixture(scope="module")
def sit():
    return simulate("sitting", 3, rate_hz=50, duration_s=1800)


def _window(res, t0, t1):
    t = np.asarray(res.truth["time_s"])
    return (t >= t0) & (t < t1)


def _calib(res):
    c = res.truth["calibration"]
    return c["stand_start_s"], c["stand_end_s"]


# ------------------------------------------------------------------ physics
def test_rest_acc_magnitude_and_gyro_bias(flex):
    t0, t1 = _calib(flex)
    for role, pod in flex.recording.pods.items():
        s = (pod.time_s > t0) & (pod.time_s < t1)
        assert s.sum() > 400
        assert abs(np.linalg.norm(pod.acc_m_s2[s], axis=1).mean() - G) < 0.25
        bias = np.asarray(flex.truth["sensor_errors"][role]["gyr_bias"])
        assert 0.5 <= np.degrees(np.abs(bias)).min() and np.degrees(np.abs(bias)).max() <= 2.0
        # the error-free signals: gravity only, and (almost) no rotation (sway)
        tt, acc, gyr = flex.sensors_true[role]
        st = (tt > t0) & (tt < t1)
        assert np.allclose(pod.gyr_rad_s[s].mean(axis=0) - gyr[st].mean(axis=0), bias,
                           atol=0.002)
        s = st
        assert np.allclose(np.linalg.norm(acc[s], axis=1), G, atol=0.05)
        assert np.abs(gyr[s]).max() < 0.06


def test_gyro_integration_reproduces_orientation(flex):
    for role, (t, _, gyr) in flex.sensors_true.items():
        q = flex.orientation_true(role, t[:1])[0]
        dq = Q.exp(0.5 * (gyr[1:] + gyr[:-1]) * np.diff(t)[:, None])
        out = np.empty((len(t), 4))
        out[0] = q
        for k in range(len(dq)):
            q = Q.mul(q, dq[k])
            out[k + 1] = q
        err = np.degrees(Q.angle_between(out, flex.orientation_true(role, t)))
        assert err.max() < 0.2, (role, err.max())


def test_standing_acc_points_along_segment_z(flex):
    t0, t1 = _calib(flex)
    for role, (t, acc, _) in flex.sensors_true.items():
        s = (t > t0) & (t < t1)
        m = np.asarray(flex.truth["mountings"][role])          # sensor -> segment, w first
        z_in_sensor = Rotation.from_quat(np.r_[m[1:], m[0]]).inv().apply([0, 0, 1])
        a = acc[s].mean(axis=0)
        ang = np.degrees(np.arccos(a @ z_in_sensor / np.linalg.norm(a)))
        assert ang < 2.0, (role, ang)


def test_truth_angles_zero_in_calibration_standing(flex, sit):
    for res in (flex, sit):
        s = _window(res, *_calib(res))
        for k in ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg"):
            a = np.asarray(res.truth[k])[s]
            assert abs(a.mean()) < 0.3 and np.abs(a).max() < 2.5, k


def _theta(q_wxyz):
    r = Rotation.from_quat(np.c_[q_wxyz[:, 1:], q_wxyz[:, 0]])
    u, m = r.apply([0, 0, 1]), r.apply([0, 1, 0])
    f = np.cross(m, [0, 0, 1])
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return np.degrees(np.arctan2(np.sum(f * u, axis=1), u[:, 2]))


def test_truth_angles_follow_the_definition(sit):
    tr = sit.truth
    t = np.asarray(tr["time_s"])[::50]
    th = {s: _theta(sit.segment_orientation(s, t)) for s in ("pelvis", "thorax", "head")}
    assert np.allclose(np.asarray(tr["pelvis_deg"])[::50], th["pelvis"], atol=1e-6)
    assert np.allclose(np.asarray(tr["lumbar_deg"])[::50], th["thorax"] - th["pelvis"], atol=1e-6)
    assert np.allclose(np.asarray(tr["neck_deg"])[::50], th["head"] - th["thorax"], atol=1e-6)


def test_walking_has_gait_periodicity(sit):
    act = np.asarray(sit.truth["activity"])
    tt = np.asarray(sit.truth["time_s"])
    walking = tt[act == 2]
    assert walking.size > 0
    pod = sit.recording.pods["pelvis"]
    s = (pod.time_s > walking[0] + 3) & (pod.time_s < walking[0] + 13)
    a = np.linalg.norm(pod.acc_m_s2[s], axis=1)
    a -= a.mean()
    spec = np.abs(np.fft.rfft(a))
    f = np.fft.rfftfreq(len(a), 1 / 50)
    assert 1.75 <= f[np.argmax(spec[f > 0.5]) + np.count_nonzero(f <= 0.5)] <= 2.05
    assert a.std() > 0.5


# ------------------------------------------------------------------ flexion
@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_flexion_patterns(seed):
    n = simulate("flexion", seed, pattern="normal", sensor_errors=False)
    h = simulate("flexion", seed, pattern="inhibited_hip", sensor_errors=False)
    assert 3 <= len(n.truth["reps"]) <= 5
    for r in n.truth["reps"]:
        assert 105 <= r["peak_trunk_deg"] <= 122
        assert 58 <= r["peak_pelvis_deg"] <= 72
        assert 38 <= r["peak_lumbar_deg"] <= 52
        assert r["lumbar_share"] < 0.5
        assert 5 <= r["peak_neck_deg"] <= 30
    for r in h.truth["reps"]:
        assert 80 <= r["peak_trunk_deg"] <= 110
        assert 18 <= r["peak_pelvis_deg"] <= 42
        assert r["lumbar_share"] > 0.5
    # timing: normal = lumbar leads early in the bend; inhibited = pelvis done early
    for res, kind in ((n, "normal"), (h, "inhibited_hip")):
        t = np.asarray(res.truth["time_s"])
        for r in res.truth["reps"]:
            s = (t >= r["start_s"]) & (t <= r["peak_s"])
            th, p, lu = (np.asarray(res.truth[k])[s] for k in
                         ("thorax_deg", "pelvis_deg", "lumbar_deg"))
            i30 = np.argmax(th > 0.3 * r["peak_trunk_deg"])
            i60 = np.argmax(th > 0.6 * r["peak_trunk_deg"])
            if kind == "normal":
                assert lu[i30] > 1.5 * p[i30]
            else:
                assert p[i60] > 0.9 * r["peak_pelvis_deg"]


def test_flexion_events(flex):
    labels = [e["label"] for e in flex.truth["events"]]
    assert labels[:2] == ["calib_stand", "calib_bend"]
    assert labels.count("rep_start") == len(flex.truth["reps"])
    assert [e.label for e in flex.recording.events] == labels
    quiet = simulate("flexion", 1, events=False)
    assert quiet.recording.events == [] and quiet.truth["events"] == flex.truth["events"]
    c = flex.truth["calibration"]
    assert c["stand_end_s"] - c["stand_start_s"] >= 5.0
    assert c["still_end_s"] - c["bend_end_s"] >= 2.0
    s = _window(flex, c["bend_start_s"], c["bend_end_s"])
    assert 30 <= np.max(np.asarray(flex.truth["thorax_deg"])[s]) <= 60


# ------------------------------------------------------------------ sitting
def _episodes_reference(t, mask, min_s, gap_s):
    """Plain-loop re-implementation of the episode definitions."""
    dt = t[1] - t[0]
    eps, start, last = [], None, None
    for ti, m in zip(t, mask):
        if m:
            if start is None:
                start = ti
            elif ti - (last + dt) > dt / 2 and ti - (last + dt) >= gap_s - 1e-9:
                eps.append((start, last + dt))
                start = ti
            last = ti
    if start is not None:
        eps.append((start, last + dt))
    return [(a, b) for a, b in eps if b - a >= min_s - 1e-9]


def test_sitting_truth_follows_definitions(sit):
    tr = sit.truth
    t = np.asarray(tr["time_s"])
    act = np.asarray(tr["activity"])
    ref = tr["reference"]
    p, lu, nk = (np.asarray(tr[k]) for k in ("pelvis_deg", "lumbar_deg", "neck_deg"))
    sitting = act == 0
    slouch = sitting & ((p < ref["pelvis_deg"] - 10) | (lu > ref["lumbar_deg"] + 10))
    hf = sitting & (nk > ref["neck_deg"] + 15)

    def same(a, b):
        return len(a) == len(b) and all(abs(x[0] - y["start_s"]) < 1e-6 and
                                        abs(x[1] - y["end_s"]) < 1e-6 for x, y in zip(a, b))
    assert same(_episodes_reference(t, slouch, 60, 5), tr["slouch_episodes"])
    assert same(_episodes_reference(t, hf, 30, 0), tr["head_forward_episodes"])
    assert same(_episodes_reference(t, ~sitting, 30, 0), tr["breaks"])
    assert tr["slouch_episodes"] and tr["head_forward_episodes"] and tr["breaks"]
    eps = tr["slouch_episodes"]
    assert abs(tr["slouch_s"] - sum(e["end_s"] - e["start_s"] for e in eps)) < 1e-6
    assert abs(tr["sitting_s"] - sitting.sum() * 0.1) < 1e-6
    # the reference: >= 5 s of upright sitting starting at the event
    ev = [e["time_s"] for e in tr["events"] if e["label"] == "sit_reference"]
    assert len(ev) == 1 and ref["start_s"] == ev[0] and ref["end_s"] - ref["start_s"] >= 5
    s = _window(sit, ref["start_s"], ref["end_s"])
    assert sitting[s].all() and np.ptp(p[s]) < 3 and -22 <= ref["pelvis_deg"] <= -8


def test_sitting_day_has_the_distractors(sit):
    tr = sit.truth
    kinds = [b["kind"] for b in tr["script"]]
    for k in ("slouch", "short_slouch", "lean", "fidget", "break", "pause"):
        assert k in kinds, k

    def covered(b, eps):
        return any(e["start_s"] <= b["start_s"] + 5 and e["end_s"] >= b["end_s"] - 5
                   for e in eps)
    for b in tr["script"]:
        if b["kind"] in ("short_slouch", "lean", "fidget"):
            assert not covered(b, tr["slouch_episodes"]), b
        if b["kind"] == "slouch":
            assert covered(b, tr["slouch_episodes"]), b
        if b["kind"] == "pause":
            assert not covered(b, tr["breaks"])
        if b["kind"] == "break":
            assert covered(b, [{"start_s": e["start_s"] - 6, "end_s": e["end_s"] + 6}
                               for e in tr["breaks"]])
        hf = b.get("head_forward")
        if hf and hf["kind"] == "short":
            assert not covered(hf, tr["head_forward_episodes"])
    heading_changes = [b for b in tr["script"] if b.get("swivels")]
    assert heading_changes and any("head_turn_deg" in b for b in tr["script"])


# ------------------------------------------------------------------ seeds, clocks, files
def test_mountings_random_per_seed_and_deterministic():
    a, b, c = (simulate("flexion", s) for s in (5, 5, 6))
    for role in ("pelvis", "thorax", "head"):
        assert a.truth["mountings"][role] == b.truth["mountings"][role]
        assert a.truth["mountings"][role] != c.truth["mountings"][role]
        pa, pb = a.recording.pods[role], b.recording.pods[role]
        assert np.array_equal(pa.time_s, pb.time_s) and np.array_equal(pa.acc_m_s2, pb.acc_m_s2)
    assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)
    ups = [np.asarray(s.truth["mountings"][r]) for s in (a, c)
           for r in ("pelvis", "thorax", "head")]
    zs = [Rotation.from_quat(np.r_[m[1:], m[0]]).inv().apply([0, 0, 1]) for m in ups]
    assert len({tuple(np.round(z, 3)) for z in zs}) == len(zs)


def test_clocks():
    res = simulate("flexion", 2, rate_hz=50)
    for role, pod in res.recording.pods.items():
        d = np.diff(pod.time_s)
        assert d.min() > 0
        ppm = res.truth["clocks"][role]["drift_ppm"]
        assert abs(ppm) <= 200
        assert abs(pod.rate_hz / 50 - 1) < 300e-6
        assert 0 < pod.time_s[0] < 0.025
    ideal = simulate("flexion", 2, rate_hz=50, clock_errors=False)
    t = ideal.recording.pods["head"].time_s
    assert np.allclose(t, np.arange(len(t)) / 50)
    rates = {round(p.rate_hz, 6) for p in res.recording.pods.values()}
    assert len(rates) == 3


def test_mag_only_when_asked():
    res = simulate("flexion", 0, sensor_errors=False, mag=True)
    field = np.linalg.norm(res.truth["mag_field_ut"])
    for p in res.recording.pods.values():
        assert p.mag_ut is not None
        assert np.allclose(np.linalg.norm(p.mag_ut, axis=1), field, rtol=1e-9)
    assert all(p.mag_ut is None for p in simulate("flexion", 0).recording.pods.values())


def test_write_sim_and_cli(tmp_path):
    from posturepod.cli import main
    from posturepod.recordings.csvio import read_csv_dir
    res = simulate("flexion", 3, rate_hz=50, events=False)
    write_sim(res, tmp_path / "a")
    rec = read_csv_dir(tmp_path / "a")
    assert set(rec.pods) == {"pelvis", "thorax", "head"} and rec.events == []
    assert np.allclose(rec.pods["pelvis"].time_s, res.recording.pods["pelvis"].time_s, atol=1e-6)
    tr = json.loads((tmp_path / "a" / "truth.json").read_text())
    assert tr["file_rate_hz"] == 100 and len(tr["time_s"]) == len(tr["pelvis_deg"])
    assert main(["simulate", "--protocol", "sitting", "--duration-s", "120", "--rate-hz", "25",
                 "--seed", "4", "--out", str(tmp_path / "b")]) == 0
    rec = read_csv_dir(tmp_path / "b")
    assert [e.label for e in rec.events] == ["calib_stand", "calib_bend", "sit_reference"]
    tr = json.loads((tmp_path / "b" / "truth.json").read_text())
    assert tr["protocol"] == "sitting" and "slouch_episodes" in tr


# ------------------------------------------------------------------ scaling
def test_one_hour_day_scales():
    tracemalloc.start()
    res = simulate("sitting", 11, rate_hz=50, duration_s=3600)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n = sum(len(p) for p in res.recording.pods.values())
    assert abs(n - 3 * 3600 * 50) < 3 * 3600 * 50 * 250e-6
    out_bytes = n * 7 * 8
    assert peak < out_bytes + 150e6, peak / 1e6
    assert res.truth["truth_rate_hz"] == 10 and len(res.truth["time_s"]) == 36001


@pytest.mark.slow
def test_eight_hour_day():
    res = simulate("sitting", 12, rate_hz=50, duration_s=8 * 3600)
    assert len(res.truth["breaks"]) >= 3 and len(res.truth["slouch_episodes"]) >= 5
