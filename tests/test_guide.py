"""The guided flexion capture's phase logic and warnings, fed through the real live path
(LiveAngles: causal fusion, the same calibration code as offline) from simulated pods."""
import numpy as np
import pytest

from posturepod.flexion.guide import FlexionGuide, GuideSettings
from posturepod.motion.live import LiveAngles
from posturepod.sim.simulate import simulate

INFO = {"odr_hz": 100, "acc_scale": 1.0, "gyr_scale": 1.0}


def _drive(res, settings=None, speedup_s=None):
    """Feed the simulated pods 0.1 s at a time and tick the guide like the live loop."""
    pods = res.recording.pods
    live = LiveAngles({r: INFO for r in pods})
    events = []
    guide = FlexionGuide(live, lambda label, t: events.append((label, t)),
                         settings or GuideSettings(reps=len(res.truth["reps"])))
    t_end = min(p.time_s[-1] for p in pods.values())
    for t in np.arange(0.1, t_end, 0.1):
        for r, p in pods.items():
            sel = (p.time_s > t - 0.1) & (p.time_s <= t)
            if sel.any():
                live.feed(r, p.time_s[sel], p.acc_m_s2[sel], p.gyr_rad_s[sel])
        if guide.tick():
            break
    return guide, events


@pytest.mark.parametrize("pattern", ["normal", "inhibited_hip"])
def test_phases_and_bends_found(pattern):
    res = simulate("flexion", 4, pattern=pattern, rate_hz=100)
    guide, events = _drive(res)
    labels = [e[0] for e in events if not e[0].startswith("warn:")]
    assert labels[:3] == ["calib_stand", "calib_bend", "calib_done"], events
    assert labels.count("rep_start") == len(res.truth["reps"])
    assert guide.phase == "done"
    assert not [e for e in events if e[0].startswith("warn:")], events


def test_fast_bend_and_small_calibration_bend_are_warned():
    res = simulate("flexion", 4, pattern="normal", rate_hz=100)
    # a guide that finds the same bends "too fast" and the calibration bend too small
    s = GuideSettings(reps=len(res.truth["reps"]), fast_deg_s=10.0, calib_min_deg=70.0)
    guide, events = _drive(res, s)
    warns = [e[0] for e in events if e[0].startswith("warn:")]
    assert any("too fast" in w for w in warns), warns
    assert any("calibration bend only" in w for w in warns), warns


def test_pod_slipped_is_warned():
    """The thorax pod turns 15 deg on the skin (about the trunk's left axis) while the
    patient stands between two bends: the guide says it may have slipped."""
    from scipy.spatial.transform import Rotation
    res = simulate("flexion", 4, pattern="normal", rate_hz=100)
    p = res.recording.pods["thorax"]
    w, x, y, z = res.truth["mountings"]["thorax"]            # sensor -> segment
    r_ss = Rotation.from_quat([x, y, z, w]).as_matrix()
    n = r_ss.T @ np.array([0.0, 1.0, 0.0])                  # segment left axis, sensor coords
    t_slip = res.truth["reps"][0]["end_s"] + 0.5
    dur, deg = 0.3, 15.0
    frac = np.clip((p.time_s - t_slip) / dur, 0.0, 1.0)
    for i in np.flatnonzero(frac > 0):
        rt = Rotation.from_rotvec(n * np.radians(deg * frac[i])).as_matrix().T
        p.acc_m_s2[i] = rt @ p.acc_m_s2[i]
        p.gyr_rad_s[i] = rt @ p.gyr_rad_s[i]
        if frac[i] < 1.0:
            p.gyr_rad_s[i] += n * np.radians(deg / dur)
    guide, events = _drive(res)
    warns = [e[0] for e in events if e[0].startswith("warn:")]
    assert any("thorax pod" in w and "slipped" in w for w in warns), warns
    assert not any("pelvis pod" in w or "head pod" in w for w in warns), warns


def test_restless_stand_is_asked_again():
    """A head nodding through the calibration stand: the guide does not take it for a stand
    and asks for a quiet one ("look at a point ahead and stand still"); the same patient
    standing as restlessly as real people do (the simulator at twice real sway) gets
    through the calibration without a word."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from test_calibration import routine_recording

    def nod(t):
        return {"head": np.where(t < 12.0, 18.0 * np.sin(2 * np.pi * 0.7 * t), 0.0)}
    rec, _, _ = routine_recording(5, stand_s=14.0, stand_extra=nod)
    live = LiveAngles({r: INFO for r in rec.pods})
    events = []
    guide = FlexionGuide(live, lambda label, t: events.append((label, t)), GuideSettings())
    for t in np.arange(0.1, 12.0, 0.1):
        for r, p in rec.pods.items():
            sel = (p.time_s > t - 0.1) & (p.time_s <= t)
            live.feed(r, p.time_s[sel], p.acc_m_s2[sel], p.gyr_rad_s[sel])
        guide.tick()
    assert guide.phase == "stand", events
    assert guide.prompt().startswith("Stand upright")
    assert not any(e[0] == "calib_stand" for e in events), events
    assert any("look at a point ahead and stand still" in e[0] for e in events), events

    res = simulate("flexion", 100, sway=2.0, rate_hz=100)
    guide, events = _drive(res)
    labels = [e[0] for e in events if not e[0].startswith("warn:")]
    assert labels[:3] == ["calib_stand", "calib_bend", "calib_done"], events
    assert not [e for e in events if e[0].startswith("warn:")], events
