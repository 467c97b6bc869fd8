"""The calibration object and its refusal path through the commands: ``angles``, ``flexion
--json`` and ``sitting --json`` carry ``calibration`` (quality good / doubtful / failed with
reasons, per-pod figures); a failed calibration exits 1 naming the pod and what to redo,
unless ``--accept-doubtful-calibration``; ``--calibration FILE`` reuses an earlier one and
says when a pod has moved since."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posturepod.recordings.csvio import write_csv_dir
from posturepod.sim.simulate import simulate, write_sim

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from test_calibration import random_mounting, routine_recording  # noqa: E402

CLI = [sys.executable, "-m", "posturepod.cli"]


def run(*args, timeout=300):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def nodding_head(t):
    on = (t > 0.5) & (t < 5.8)
    return {"head": np.where(on, 18.0 * np.sin(2 * np.pi * 0.7 * t), 0.0)}


@pytest.fixture(scope="module")
def flexion_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("flex") / "rec"
    write_sim(simulate("flexion", 5, events=False), d)
    return d


def test_flexion_json_carries_the_calibration_object(flexion_dir):
    p = run("flexion", flexion_dir, "--json", "--no-save")
    assert p.returncode == 0, p.stderr
    cal = json.loads(p.stdout)["calibration"]
    assert cal["quality"] == "good" and cal["source"] == "automatic"
    assert set(cal["pods"]) == {"pelvis", "thorax", "head"}
    for pod in cal["pods"].values():
        assert pod["quality"] in ("good", "doubtful", "failed")
        assert pod["stand_length_s"] > 4.0 and 0.0 <= pod["stand_sway_deg"] < 2.0
        assert pod["bend_deg"] > 5.0 and "bend_peak_lag_s" in pod


def test_failed_calibration_is_refused_naming_the_pod(tmp_path):
    rec, _, _ = routine_recording(21, stand_extra=nodding_head)
    write_csv_dir(tmp_path / "rec", rec)
    p = run("angles", tmp_path / "rec", "-o", tmp_path / "a.csv")
    assert p.returncode == 1
    assert "pod head" in p.stderr and "stand still" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "a.csv").exists()
    p = run("angles", tmp_path / "rec", "-o", tmp_path / "a.csv",
            "--accept-doubtful-calibration")
    assert p.returncode == 0, p.stderr
    assert "calibration: FAILED" in p.stdout
    saved = json.loads((tmp_path / "rec" / "calibration.json").read_text())
    assert saved["quality"] == "failed" and saved["pods"]["head"]["quality"] == "failed"
    assert saved["pods"]["thorax"]["quality"] == "good"
    assert any("pod head" in r for r in saved["reasons"])


def test_reused_calibration_file_and_a_moved_pod(tmp_path):
    rng = np.random.default_rng(31)
    mounts = {r: random_mounting(rng) for r in ("pelvis", "thorax", "head")}
    day1, _, _ = routine_recording(31, mounts=mounts, events=True)
    write_csv_dir(tmp_path / "day1", day1)
    assert run("angles", tmp_path / "day1", "-o", tmp_path / "1.csv").returncode == 0
    cal_file = tmp_path / "day1" / "calibration.json"
    day2, _, _ = routine_recording(32, mounts=mounts, events=True)
    write_csv_dir(tmp_path / "day2", day2)
    p = run("angles", tmp_path / "day2", "-o", tmp_path / "2.csv", "--calibration", cal_file)
    assert p.returncode == 0, p.stderr
    assert "reused from" in p.stdout and "GOOD" in p.stdout
    moved = dict(mounts)
    moved["head"] = Rotation.from_euler("x", 30, degrees=True).as_matrix() @ mounts["head"]
    day3, _, _ = routine_recording(33, mounts=moved, events=True)
    write_csv_dir(tmp_path / "day3", day3)
    p = run("angles", tmp_path / "day3", "-o", tmp_path / "3.csv", "--calibration", cal_file)
    assert p.returncode == 1 and "pod head" in p.stderr and "moved" in p.stderr, p.stderr
    p = run("angles", tmp_path / "day3", "-o", tmp_path / "3.csv", "--calibration",
            tmp_path / "nothing.json")
    assert p.returncode == 1 and "nothing.json" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
def test_sitting_json_and_report_carry_the_calibration(tmp_path):
    d = tmp_path / "day"
    write_sim(simulate("sitting", 7, duration_s=600.0, rate_hz=50.0), d)
    p = run("sitting", d, "--json", "--report", tmp_path / "r.html")
    assert p.returncode == 0, p.stderr
    cal = json.loads(p.stdout)["calibration"]
    assert cal["quality"] == "good" and set(cal["pods"]) == {"pelvis", "thorax", "head"}
    html = (tmp_path / "r.html").read_text()
    assert 'id="calibration"' in html and "Calibration FAILED" not in html
    assert (d / "calibration.json").exists()


def test_flexion_with_a_reused_calibration(flexion_dir, tmp_path):
    """flexion --calibration FILE: the same repetitions and peaks as with the recording's
    own calibration, the source says where it came from; a recording without calibration
    events counts every bend as a test bend."""
    own = run("flexion", flexion_dir, "--json")          # saves calibration.json
    assert own.returncode == 0, own.stderr
    cal_file = flexion_dir / "calibration.json"
    assert json.loads(cal_file.read_text())["quality"] == "good"
    p = run("flexion", flexion_dir, "--json", "--no-save", "--calibration", cal_file)
    assert p.returncode == 0, p.stderr
    a, b = json.loads(own.stdout), json.loads(p.stdout)
    assert b["calibration"]["source"] == f"file:{cal_file}"
    assert len(b["reps"]) == len(a["reps"]) + 1      # no calib events: the bend counts
    for ra, rb in zip(a["reps"], b["reps"][1:]):
        assert abs(ra["peak_pelvis_deg"] - rb["peak_pelvis_deg"]) < 1.0
