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


# ------------------------------------------------------------------ restless patients
# quiet standing measured on an independent body simulator modelled on real quiet standing
# (docs/simulation.md, "Restless patients"): gyro norm medians during a stand, deg/s
QUIET_GYRO_MEDIAN = {"head": 5.0, "thorax": 2.4, "pelvis": 1.3}
QUIET_HEAD_GYRO_P90 = 8.0
SERIES = ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg")


def _stand_gyro_deg_s(level, seeds=range(8)):
    """Gyro norm (deg/s, error-free) during the calibration stand, pooled over seeds."""
    out = {r: [] for r in QUIET_GYRO_MEDIAN}
    for seed in seeds:
        res = simulate("flexion", seed, sway=level, exact_protocol=True)
        t0, t1 = _calib(res)
        for role, (t, _, gyr) in res.sensors_true.items():
            s = (t >= t0) & (t < t1)
            out[role].append(np.degrees(np.linalg.norm(gyr[s], axis=1)))
    return {r: np.concatenate(v) for r, v in out.items()}


def test_sway_zero_is_the_old_simulator_bit_for_bit(flex):
    """sway=0 / exact_protocol=False draw nothing and add nothing: the values below were
    printed by the simulator before restless sway existed (rtol 1e-9 only allows for libm
    differences between machines; any extra random draw or signal changes them grossly).
    The pods' maker calibration (``acc_calibrated``, after these values were taken) draws
    from a stream of its own and is applied on top: without it the accelerometer is as
    before, with it it is that calibration applied to the same values."""
    from posturepod.recordings.acc_calibration import AccCalibration
    explicit = simulate("flexion", 1, sway=0.0, exact_protocol=False, acc_calibrated=False)
    old_acc = [1.037422665090524, 7.1372303120549505, -6.72790029643275]
    for res in (flex, explicit):
        p, h = res.recording.pods["pelvis"], res.recording.pods["head"]
        assert (len(p), len(h)) == (5870, 5869)
        assert np.allclose(p.time_s[1234], 12.347614431042922, rtol=1e-12)
        cal = p.info.get("acc_cal")
        want = AccCalibration.from_dict(cal).apply([old_acc])[0] if cal else old_acc
        assert np.allclose(p.acc_m_s2[1234], want, rtol=1e-9)
        assert np.allclose(h.gyr_rad_s[1234], [-0.34036356019961944, 0.17729253061720784,
                                               -0.611167337603417], rtol=1e-9)
        tr = res.truth
        assert np.allclose([tr["thorax_deg"][3000], tr["head_deg"][300], tr["pelvis_deg"][5000]],
                           [-0.25872586347738785, -0.06906722966235318, 67.79865998435238],
                           rtol=1e-9)
        assert tr["calibration"]["stand_end_s"] == 7.207587527441927 and len(tr["reps"]) == 3
        gyr = res.sensors_true["thorax"][2]
        assert np.allclose(gyr[400], [-0.00750483190204714, 0.0007299936780475692,
                                      -0.005423433344531867], rtol=1e-9)
        assert tr["sway"] == 0.0 and tr["exact_protocol"] is False and "restless" not in tr
    for role in ("pelvis", "thorax", "head"):
        a, b = flex.recording.pods[role], explicit.recording.pods[role]
        for k in ("time_s", "gyr_rad_s"):
            assert np.array_equal(getattr(a, k), getattr(b, k))
        cal = AccCalibration.from_dict(a.info["acc_cal"])
        assert np.allclose(a.acc_m_s2, cal.apply(b.acc_m_s2), rtol=1e-12, atol=1e-12)
    for k in SERIES:
        assert flex.truth[k] == explicit.truth[k]
    # sway draws from its own stream: mountings, clocks and sensor errors stay the seed's
    restless = simulate("flexion", 1, sway=2.0)
    for k in ("mountings", "clocks", "sensor_errors", "calibration", "events"):
        assert restless.truth[k] == flex.truth[k], k
    assert not np.array_equal(restless.recording.pods["head"].gyr_rad_s,
                              flex.recording.pods["head"].gyr_rad_s)


def test_sway_gyro_matches_measured_quiet_standing():
    """Level 1 = the measured quiet-standing gyro figures within a factor 1.3: pooled over
    8 seeds the model lands within ~5 % of the medians (head p90 +18 %); single 5-s stands
    scatter by a factor ~2 (hence the pooling), and the figures themselves come from another
    simulator and are approximate, so +-30 % is what "matches" can mean here, while a
    component badly off fails (checked: trunk sway 0.2 instead of 0.5 deg, or the pelvis
    sway 1.5x faster). Level 2
    doubles the added motion (the model's own small sway stays, so the totals grow a little
    less than 2x). Level 0 is far below."""
    g0, g1, g2 = (_stand_gyro_deg_s(lev) for lev in (0.0, 1.0, 2.0))
    for role, target in QUIET_GYRO_MEDIAN.items():
        m0, m1, m2 = (float(np.median(g[role])) for g in (g0, g1, g2))
        assert target / 1.3 <= m1 <= target * 1.3, (role, m1)
        assert 1.6 <= m2 / m1 <= 2.2, (role, m1, m2)
        assert m0 < target / 1.5, (role, m0)
    p90 = float(np.percentile(g1["head"], 90))
    assert QUIET_HEAD_GYRO_P90 / 1.3 <= p90 <= QUIET_HEAD_GYRO_P90 * 1.3, p90


@pytest.mark.parametrize("protocol,pattern,seed", [("flexion", "normal", 0),
                                                   ("flexion", "inhibited_hip", 1),
                                                   ("flexion", "normal", 2),
                                                   ("sitting", "normal", 3)])
def test_exact_protocol(protocol, pattern, seed):
    kw = {"duration_s": 120.0, "truth_rate_hz": 100.0} if protocol == "sitting" else {}
    for level in (0.0, 1.0):
        res = simulate(protocol, seed, pattern=pattern, exact_protocol=True, sway=level, **kw)
        tr = res.truth
        assert tr["exact_protocol"] is True and tr["sway"] == level
        assert [(e["label"], e["time_s"]) for e in tr["events"][:2]] == \
            [("calib_stand", 0.0), ("calib_bend", 5.0)]
        assert [(e.label, e.time_s) for e in res.recording.events[:2]] == \
            [("calib_stand", 0.0), ("calib_bend", 5.0)]
        c = tr["calibration"]
        assert (c["stand_start_s"], c["stand_end_s"], c["bend_start_s"]) == (0.0, 5.0, 5.0)
        assert c["bend_end_s"] == pytest.approx(11.5) and c["still_end_s"] == pytest.approx(14.5)
        t = np.asarray(tr["time_s"])
        th = np.asarray(tr["thorax_deg"])
        s = (t >= 5.0) & (t <= 11.5)
        assert abs(th[s].max() - 60.0) <= 2.0, th[s].max()
        assert t[s][np.argmax(th[s])] == pytest.approx(8.25, abs=0.5)    # 3 s down, 0.5 hold
        after = (t >= 11.5) & (t < 14.5)
        assert np.abs(th[after]).max() < 4.0                              # 3 s still
        if protocol == "flexion":
            assert tr["events"][2] == {"time_s": pytest.approx(14.5), "label": "rep_start"}
    quiet = simulate(protocol, seed, pattern=pattern, exact_protocol=True, events=False, **kw)
    assert quiet.recording.events == [] and quiet.truth["events"][0]["time_s"] == 0.0


@pytest.mark.parametrize("protocol,seed,exact", [("flexion", 0, True), ("flexion", 1, False),
                                                 ("flexion", 5, True), ("sitting", 2, True)])
def test_truth_zero_over_the_stand_at_sway_3(protocol, seed, exact):
    kw = {"duration_s": 120.0, "truth_rate_hz": 100.0} if protocol == "sitting" else {}
    res = simulate(protocol, seed, sway=3.0, exact_protocol=exact, **kw)
    s = _window(res, *_calib(res))
    for k in SERIES:
        a = np.asarray(res.truth[k])[s]
        assert abs(a.mean()) < 0.05, (k, a.mean())
    # and the stand is restless indeed (level 0: head ~0.5 deg SD)
    assert np.std(np.asarray(res.truth["head_deg"])[s]) > 1.2
    # the zeroing constants (second-order effects of the sway) stay small
    assert max(abs(v) for v in res.truth["restless"]["stand_zeroing_deg"].values()) < 1.0


def test_restless_movements_after_the_stand_only():
    flex = simulate("flexion", 4, sway=1.0, duration_s=150.0)
    sit = simulate("sitting", 3, sway=1.0, rate_hz=25, duration_s=900)
    for res in (flex, sit):
        ev = res.truth["restless"]["events"]
        t1 = _calib(res)[1]
        assert ev and all(e["start_s"] >= t1 for e in ev)
        assert [e["start_s"] for e in ev] == sorted(e["start_s"] for e in ev)
        looks = [e for e in ev if e["kind"] == "look_about"]
        assert looks and all(10 <= abs(e["head_yaw_deg"]) <= 30 and
                             1 <= e["end_s"] - e["start_s"] <= 3 for e in looks)
    kinds = {e["kind"] for e in flex.truth["restless"]["events"]}
    assert kinds >= {"look_about", "weight_shift"}, kinds
    kinds = {e["kind"] for e in sit.truth["restless"]["events"]}
    assert kinds >= {"look_about", "nodding"}, kinds
    # nothing restless while bending (the flexion bends stay what was planned) ...
    for e in flex.truth["restless"]["events"]:
        for r in flex.truth["reps"]:
            assert e["end_s"] <= r["start_s"] or e["start_s"] >= r["end_s"], (e, r)
    # ... nor head movements inside the sitting day's head-forward spells
    spells = [b["head_forward"] for b in sit.truth["script"] if "head_forward" in b]
    assert spells
    for e in sit.truth["restless"]["events"]:
        for h in spells:
            assert e["end_s"] <= h["start_s"] or e["start_s"] >= h["end_s"], (e, h)
    # a person told to stand still does not look about: the stand has continuous sway only
    g = _stand_gyro_deg_s(1.0, seeds=[4])
    assert np.percentile(g["head"], 99) < 40


@pytest.mark.parametrize("pattern", ["normal", "inhibited_hip"])
@pytest.mark.parametrize("pelvis,share", [(45.0, 0.55), (50.0, 0.5), (55.0, 0.45)])
def test_borderline_flexion_patients(pattern, pelvis, share):
    """Planned peaks at the verdict rule (pelvis < 50 deg and lumbar share > 0.5 =
    inhibited hip): per rep the plan is within the rep noise (pelvis N(0, 1.5) clipped to
    +-4.5 deg, share N(0, 0.01) clipped to +-0.03), the truth peaks follow the plan."""
    for seed, level in ((0, 0.0), (1, 1.0)):
        res = simulate("flexion", seed, pattern=pattern, pelvis_deg=pelvis, lumbar_share=share,
                       sway=level)
        reps = res.truth["reps"]
        assert res.truth["borderline"] == {"pelvis_deg": pelvis, "lumbar_share": share}
        assert 3 <= len(reps) <= 5
        for r in reps:
            pp, pl = r["planned_pelvis_deg"], r["planned_lumbar_deg"]
            assert abs(pp - pelvis) <= 4.5 + 1e-9
            assert abs(pl / (pp + pl) - share) <= 0.03 + 1e-9
            assert abs(r["peak_pelvis_deg"] - pp) <= 2.5, (r, level)
            assert abs(r["lumbar_share"] - share) <= 0.045, (r, level)
        assert abs(np.mean([r["peak_pelvis_deg"] for r in reps]) - pelvis) <= 3.0
        assert abs(np.mean([r["lumbar_share"] for r in reps]) - share) <= 0.03
    # timing still from the pattern: normal = lumbar leads early in the bend
    t = np.asarray(res.truth["time_s"])
    r = reps[0]
    s = (t >= r["start_s"]) & (t <= r["peak_s"])
    th, p, lu = (np.asarray(res.truth[k])[s] for k in ("thorax_deg", "pelvis_deg", "lumbar_deg"))
    i30 = np.argmax(th > 0.3 * r["peak_trunk_deg"])
    assert (lu[i30] > p[i30]) == (pattern == "normal")


def test_restless_options_are_checked(tmp_path, capsys):
    from posturepod.cli import main
    from posturepod.commands.simulate import MAX_SWAY
    from posturepod.sim.restless import MAX_LEVEL
    assert MAX_SWAY == MAX_LEVEL == 5.0
    for bad in (-0.1, 5.5, float("nan")):
        with pytest.raises(ValueError, match="sway"):
            simulate("flexion", 0, sway=bad)
    with pytest.raises(ValueError, match="flexion"):
        simulate("sitting", 0, duration_s=60, pelvis_deg=45.0)
    with pytest.raises(ValueError, match="lumbar_share"):
        simulate("flexion", 0, lumbar_share=1.0)
    with pytest.raises(ValueError, match="90 deg of lumbar"):
        simulate("flexion", 0, pelvis_deg=60.0, lumbar_share=0.65)
    for bad in ("7", "-1", "nan", "lots"):
        with pytest.raises(SystemExit) as e:
            main(["simulate", "--protocol", "flexion", "--sway", bad, "--out", str(tmp_path)])
        assert e.value.code == 2 and "--sway" in capsys.readouterr().err
    assert main(["simulate", "--protocol", "flexion", "--sway", "1.5", "--exact-protocol",
                 "--pelvis-deg", "48", "--lumbar-share", "0.52", "--rate-hz", "50",
                 "--out", str(tmp_path / "r")]) == 0
    tr = json.loads((tmp_path / "r" / "truth.json").read_text())
    assert tr["sway"] == 1.5 and tr["exact_protocol"] is True
    assert tr["borderline"] == {"pelvis_deg": 48.0, "lumbar_share": 0.52}
    assert [e["time_s"] for e in tr["events"][:2]] == [0.0, 5.0]
    assert main(["simulate", "--protocol", "sitting", "--pelvis-deg", "48",
                 "--out", str(tmp_path / "s")]) == 2


def test_restless_signals_are_smooth_and_zero_mean():
    """Moves (shifts, excursions) and Bursts (nodding) are C2, so the sensor model's second
    differences stay spike-free, and zero_mean makes them average 0 over a window."""
    from posturepod.sim.signals import Bursts, Moves, Sum
    m, b = Moves(), Bursts()
    m.bump(1.0, 0.5, 1.0, 0.7, 3.0)
    m.add(4.0, 1.5, -2.0)
    b.add(2.0, 3.0, 4.0, 1.5, 0.4)
    with pytest.raises(ValueError, match="overlaps"):
        m.add(4.5, 1.0, 1.0)
    for sig in (m, b):
        # the largest step of the second derivative between samples shrinks with the
        # sampling step (bounded jerk); a jump in it would not
        steps = []
        for h in (1e-3, 5e-4):
            t = np.arange(0.0, 8.0, h)
            steps.append(np.abs(np.diff(np.diff(sig(t), 2) / h ** 2)).max())
        assert steps[1] < 0.6 * steps[0], steps
    assert m(np.array([0.5, 2.0, 3.5, 7.0])).tolist() == pytest.approx([0.0, 3.0, 0.0, -2.0])
    def mean(sig, a, z, n=200000):      # midpoint rule
        return float(np.mean(sig(a + (np.arange(n) + 0.5) * (z - a) / n)))
    s = Sum(m, b)
    s.zero_mean(0.5, 6.0)
    assert abs(mean(s, 0.5, 6.0)) < 1e-6
    b.zero_mean(2.5, 3.9)           # part of a burst: the quadrature
    assert abs(b.offset) > 0.01 and abs(mean(b, 2.5, 3.9)) < 1e-6


def test_simulate_writes_a_trace_that_virtual_boards_accept(tmp_path):
    """simulate --trace: what each pod's IMU feels, as a virtual board reads it; the check a
    virtual board makes first says what is wrong with any other file."""
    import subprocess
    import sys

    import numpy as np

    from posturepod.devices.virtual.trace import check_trace, read_trace
    from posturepod.sim.simulate import simulate
    trace = tmp_path / "p.trace"
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "simulate", "--protocol",
                        "flexion", "--seed", "2", "--out", str(tmp_path / "rec"), "--trace",
                        str(trace)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "trace for virtual boards" in r.stdout
    rate, pods = read_trace(trace)
    res = simulate("flexion", 2)
    t, acc, gyr = res.sensors_true["thorax"]
    assert rate == round(res.true_rate_hz) and set(pods) == {"pelvis", "thorax", "head"}
    n = min(len(acc), len(pods["thorax"]["acc_m_s2"]))
    assert np.allclose(pods["thorax"]["acc_m_s2"][:n], acc[:n], atol=1e-5)
    assert np.allclose(pods["thorax"]["gyr_rad_s"][:n], gyr[:n], atol=1e-6)
    assert check_trace(trace, "head") is None
    assert "no 'knee' in the trace (it has pelvis, thorax, head)" in check_trace(trace, "knee")
    assert "not a posturepod motion trace" in check_trace(tmp_path / "rec" / "meta.json",
                                                          "head")
    assert "cannot read" in check_trace(tmp_path / "none.trace", "head")
