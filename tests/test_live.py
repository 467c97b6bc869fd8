"""Live paths with virtual boards playing a simulated patient: guided flexion capture."""
import json
import time

import pytest

from posturepod.commands.demo import make_trace
from posturepod.flexion.guide import run_guided
from posturepod.recordings.loader import load
from posturepod.devices.virtual.patient import VirtualPatient, monotonic_us

pytestmark = pytest.mark.usefixtures("micropython")


@pytest.mark.slow
def test_guided_flexion_detects_phases_and_bends(tmp_path):
    trace, dur, truth = make_trace("flexion", "inhibited_hip", 5, tmp_path, None, 100)
    n_reps = len(truth["reps"])
    t0 = monotonic_us() + 4_000_000
    with VirtualPatient(tmp_path / "b", trace=trace, t0_us=t0, rate_hz=100) as vp:
        while monotonic_us() < t0 - 1_500_000:
            time.sleep(0.05)
        g = run_guided(vp.links, tmp_path / "rec", reps=n_reps, live_view=False,
                       max_s=dur + 10)
    assert g["phase"] == "done" and g["reps"] == n_reps, g
    rec = load(tmp_path / "rec")
    labels = [e.label for e in rec.events if not e.label.startswith("warn:")]
    assert labels[:3] == ["calib_stand", "calib_bend", "calib_done"], labels
    assert labels.count("rep_start") == n_reps and labels.count("rep_end") == n_reps
    meta = json.loads((tmp_path / "rec" / "recording.json").read_text())
    offset = t0 * 1e-6 - meta["t0_monotonic_s"]
    starts = [e.time_s for e in rec.events if e.label == "rep_start"]
    for s, r in zip(starts, truth["reps"]):
        # the guide marks a bend when the trunk passes 30 deg: after the motion onset and
        # before the peak
        assert r["start_s"] + offset - 0.5 < s < r["peak_s"] + offset + 0.5, (s, r)
    # the calibration bend (first bend) is not counted as a test bend
    calib_bend = next(e.time_s for e in rec.events if e.label == "calib_bend")
    assert calib_bend < starts[0]


@pytest.mark.slow
def test_live_sitting_buzzes_the_pod_at_the_right_moments(tmp_path):
    """Virtual boards play a sitting scenario (seed 22: a head-forward spell from 37 s, a
    slouch from 96 s); the live tool must send buzz commands that the firmware receives
    (its motor log) about buzz_after_s after each posture began, and none before."""
    from posturepod.sim.simulate import simulate
    from posturepod.sitting.guide import run_live
    from posturepod.devices.virtual.trace import write_trace
    res = simulate("sitting", 22, duration_s=240, clock_errors=False, true_rate_hz=200)
    pods = {r: {"acc_m_s2": a, "gyr_rad_s": g} for r, (t, a, g) in res.sensors_true.items()}
    trace = write_trace(tmp_path / "sit.trace", 200, pods)
    hf0 = res.truth["head_forward_episodes"][0]["start_s"]
    sl0 = res.truth["slouch_episodes"][0]["start_s"]
    buzz_after = 20.0
    t0 = monotonic_us() + 4_000_000
    with VirtualPatient(tmp_path / "b", trace=trace, t0_us=t0, rate_hz=50,
                        motor_log=True) as vp:
        while monotonic_us() < t0 - 1_000_000:
            time.sleep(0.05)
        out = run_live(vp.links, tmp_path / "rec", buzz_after_s=buzz_after,
                       break_after_s=3600, buzz_pod="thorax", buzz_ms=200,
                       seconds=sl0 + buzz_after + 15, live_view=False)
    assert out["phase"] == "monitor", out
    log = (tmp_path / "b" / "thorax.motor.log").read_text().split()
    on_s = [int(log[i]) * 1e-6 - t0 * 1e-6 for i in range(0, len(log), 2)
            if log[i + 1] == "on"]
    assert len(on_s) >= 2, (on_s, out)
    # the firmware received a buzz ~buzz_after_s after the head went forward and after the
    # slouch began (the live engine decides per 1 s epoch, plus live-filter settling)
    for want in (hf0 + buzz_after, sl0 + buzz_after):
        assert any(want - 3 < t < want + 8 for t in on_s), (want, on_s, out)
    assert min(on_s) > hf0 + buzz_after - 3
