"""Simulated recordings for the pod's tilt filter (firmware/pod/tilt.py): one pod's samples
as the chip's int16 counts in the file format of tests/mp/tilt_run.py, its calibration
axes as the Q14 matrix `arm` sends, and the host's per-second angles from its own offline
fusion of the same samples (posturepod.motion.angles: VQF, the calibration's gyro bias).
Shared by tests/test_tilt.py and bench/pod_fusion.py."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

ACC_SCALE = 8 * 9.80665 / 32768          # +-8 g, m/s^2 per count
GYR_SCALE = 1000 / 32768 * np.pi / 180   # +-1000 deg/s, rad/s per count


def case(protocol: str, seed: int, role: str, duration_s: float | None = None,
         causal: bool = False, priors: bool = True):
    """(samples bytes (n, 12 int16 LE), seg_q14 list, rate_hz, host per-sample angles deg,
    header extras). With ``priors`` (what a pod has when armed by `posturepod wear`) the
    samples are the chip's own counts, before the pod's accelerometer calibration, and the
    extras give that calibration (pod.json ``acc_cal``) and the calibration's gyro bias
    (``arm``'s ``gyr_bias_mdps``); without, the counts are the calibrated accelerations and
    the pod learns its gyro bias at rest alone."""
    from posturepod.motion.angles import _settings, segment_angle_deg
    from posturepod.motion.calibration import CalibrationWarning, calibrate
    from posturepod.motion.fusion import fuse
    from posturepod.sim.simulate import simulate
    kw = {"duration_s": duration_s} if duration_s else {}
    res = simulate(protocol, seed, **kw)
    rec = res.recording
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        cal = calibrate(rec)
    pod = rec.pods[role]
    cp = cal.pods[role]
    rate = float(pod.rate_hz)
    q = fuse(pod.time_s, pod.gyr_rad_s, pod.acc_m_s2, None, _settings(causal, cp, rate))
    host_deg = segment_angle_deg(q, cp.axes_in_sensor)
    acc = pod.acc_m_s2
    extra: dict = {}
    kept = pod.info.get("acc_cal")
    if priors:
        extra["gyr_bias_mdps"] = [int(round(v)) for v in np.degrees(cp.gyr_bias_rad_s) * 1000]
        if kept:        # undo the maker's calibration: the counts the chip gave
            from posturepod.recordings.acc_calibration import AccCalibration
            ac = AccCalibration.from_dict(kept)
            acc = np.linalg.solve(ac.gain, acc.T).T + ac.bias_m_s2
            extra["acc_cal"] = {k: kept[k] for k in ("bias_m_s2", "gain")}
    acc = np.clip(np.round(acc / ACC_SCALE), -32768, 32767)
    gyr = np.clip(np.round(pod.gyr_rad_s / GYR_SCALE), -32768, 32767)
    raw = np.hstack([acc, gyr]).astype("<i2").tobytes()
    seg = [int(v) for v in np.round(cp.axes_in_sensor * 16384).astype(int).ravel()]
    return raw, seg, rate, host_deg, extra


def write_samples(path: Path, raw: bytes, seg: list, rate_hz: float,
                  extra: dict | None = None) -> int:
    per = int(round(rate_hz))
    hdr = {"gyr_scale": float(GYR_SCALE), "acc_scale": float(ACC_SCALE),
           "odr_hz": rate_hz, "seg_q14": seg, "per_s": per, **(extra or {})}
    path.write_bytes(json.dumps(hdr).encode() + b"\n" + raw)
    return per


def per_second(deg: np.ndarray, per: int) -> np.ndarray:
    n = len(deg) // per
    return np.nanmean(deg[:n * per].reshape(n, per), axis=1)


def read_out(path: Path) -> np.ndarray:
    """(n, 5) int array of tilt_run.py's lines: mean min max n_valid rest."""
    return np.loadtxt(path, dtype=np.int64, ndmin=2)


def sitting_seconds(protocol: str, seed: int, n_seconds: int, duration_s: float | None = None,
                    margin_s: int = 3) -> np.ndarray:
    """(n_seconds,) bool: the seconds of case()'s recording (sample groups of one second
    from its start) when the simulated patient sits, at least ``margin_s`` seconds from
    standing or walking (the pod's clock, aligned by the host, stays within a sample of
    the simulation's time)."""
    from posturepod.sim.simulate import simulate
    kw = {"duration_s": duration_s} if duration_s else {}
    truth = simulate(protocol, seed, **kw).truth
    t = np.asarray(truth["time_s"])
    act = np.asarray(truth["activity"])
    moving = np.zeros(n_seconds, dtype=bool)
    sec = np.floor(t).astype(int)
    on = (act != 0) & (sec >= 0) & (sec < n_seconds)
    moving[sec[on]] = True
    if margin_s:
        k = np.ones(2 * margin_s + 1)
        moving = np.convolve(moving, k, mode="same") > 0
    return ~moving
