"""Live paths with virtual boards playing a simulated patient: guided flexion capture."""
import json
import time

import pytest

from posturepod.commands.demo import make_trace
from posturepod.flexion_live import run_guided
from posturepod.loader import load
from posturepod.virtual.patient import VirtualPatient, monotonic_us

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
