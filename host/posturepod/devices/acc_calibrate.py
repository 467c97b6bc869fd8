"""``posturepod calibrate-acc``: calibrate a pod's accelerometer once, on a table.

The person lays the pod still on each of its six faces and on a few edges (about 2 s each);
the pod buzzes briefly whenever a new pose is taken. When every axis has pointed up and
down and at least 12 poses are in, bias and a symmetric gain matrix are fitted
(:mod:`posturepod.recordings.acc_calibration`), written to the pod (``set_config``
``acc_cal``: kept in its pod.json, reported in every INFO, so every later recording carries
it and is corrected when loaded) and, with ``--out``, to a JSON file. See docs/deploy.md.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturepod.devices.selftest import SampleCollector
from posturepod.recordings.acc_calibration import (G_M_S2, AccCalibration, coverage_problems,
                                                   fit, still_poses)

GOOD_POSES = 12


@dataclass
class AccCalibrationRun:
    info: dict
    poses_m_s2: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    calibration: AccCalibration | None = None
    error: str = ""
    written: bool = False

    def tilt_change_deg(self) -> float:
        """Largest change of a pose's gravity direction that the calibration makes (how far
        the raw accelerometer was off, degrees)."""
        if self.calibration is None or not len(self.poses_m_s2):
            return 0.0
        a = self.poses_m_s2
        b = self.calibration.apply(a)
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max())

    def to_dict(self) -> dict:
        return {"pod_id": self.info.get("pod_id"), "role": self.info.get("role"),
                "imu": self.info.get("imu"), "acc_range_g": self.info.get("acc_range_g"),
                "poses_m_s2": np.round(self.poses_m_s2, 5).tolist(),
                "acc_cal": self.calibration.to_dict() if self.calibration else None,
                "error": self.error or None, "written_to_pod": self.written,
                "made_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_acc_calibration(port: str, *, timeout_s: float = 180.0, write: bool = True,
                        poses: int = GOOD_POSES, say=print) -> AccCalibrationRun:
    """Collect still poses from the pod at ``port`` until the coverage is complete and
    ``poses`` are in (or ``timeout_s``), fit, and write the result to the pod. Raises
    PodError when the pod cannot be reached; a failed fit is ``run.error``."""
    from posturepod.pods.podlink import PodError, PodLink

    link = PodLink(port, auto_reconnect=False)
    info = link.open(5.0)
    run = AccCalibrationRun(info)
    if not info.get("imu") or info.get("imu_error"):
        link.close()
        run.error = f"the pod has no working IMU: {info.get('imu_error') or 'none found'}"
        return run
    odr = float(info.get("odr_hz") or info.get("rate_hz") or 100)
    col = SampleCollector(float(info["acc_scale"]), float(info["gyr_scale"]))
    link.on_message = col.on_message
    try:
        link.request("start", timeout_s=2.0)
        say("Lay the pod still on each of its six faces, then on a few edges, about 2 s "
            "each; it buzzes when a pose is taken.")
        t_end = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < t_end:
            time.sleep(0.5)
            s = col.stream()
            run.poses_m_s2 = still_poses(s.acc, s.gyr, odr, hold_s=1.5)
            k = len(run.poses_m_s2)
            if k > seen:
                seen = k
                missing = coverage_problems(run.poses_m_s2)
                say(f"  pose {k}: {_dir(run.poses_m_s2[-1])}"
                    + (f"; still needed: {missing[-1]}" if missing else ""))
                try:
                    link.request("buzz", timeout_s=1.0, ms=80)
                except PodError:
                    pass
                if k >= poses and not missing:
                    break
        link.request("stop", timeout_s=1.0)
        try:
            run.calibration = fit(run.poses_m_s2)
        except ValueError as e:
            run.error = str(e)
            return run
        if write:
            link.request("set_config", timeout_s=3.0, acc_cal=run.calibration.to_dict())
            back = link.request("info", timeout_s=2.0).body
            run.written = _same(back.get("acc_cal"), run.calibration.to_dict())
            if not run.written:
                run.error = "the pod did not keep the calibration (its INFO does not show it)"
    finally:
        link.close()
    return run


def _same(a, b) -> bool:
    if not isinstance(a, dict):
        return False
    return all(np.allclose(a.get(k), b[k], atol=1e-6) for k in ("bias_m_s2", "gain"))


def _dir(a: np.ndarray) -> str:
    k = int(np.argmax(np.abs(a)))
    return (f"{'+' if a[k] > 0 else '-'}{'xyz'[k]} axis up, reads "
            f"{np.linalg.norm(a) / G_M_S2:.3f} g")


def save_run(run: AccCalibrationRun, path: str | Path) -> None:
    Path(path).write_text(json.dumps(run.to_dict(), indent=1) + "\n")
