"""Live (causal) angles from a running session: one causal fusion filter per pod fed
sample by sample as frames arrive, the calibration once the routine is done, and the five
angles on demand. Also keeps the last minutes of SI data so the calibration routine can
be solved while recording (the same calibration code as offline).

Timing: ``feed`` runs in the pod's reader thread right when a frame arrives; the time
from the frame's arrival to its last sample's orientation being updated is kept in
``latency_s`` (tests/test_live.py holds it under 5 ms)."""
from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

from posturepod.motion.angles import segment_angle_deg
from posturepod.recordings.data import Event, PodData, Recording
from posturepod.motion import quaternion as Q
from posturepod.motion.fusion import LIVE_DEFAULT, LiveFusion
from posturepod.pods.protocol import Samples
from posturepod.recordings.acc_calibration import AccCalibration, from_info


@dataclass
class PodLive:
    role: str
    fusion: LiveFusion
    acc_scale: float
    gyr_scale: float
    t: deque            # chunks of recording-clock times
    acc: deque
    gyr: deque
    q: np.ndarray | None = None
    t_last: float | None = None
    acc_last: np.ndarray | None = None
    gyr_last: np.ndarray | None = None
    acc_cal: AccCalibration | None = None     # the pod's own (INFO acc_cal)


def _acc_cal(role: str, info: dict) -> AccCalibration | None:
    try:
        return from_info(info)
    except ValueError as e:
        warnings.warn(f"pod {role}: its accelerometer calibration is not used: {e}",
                      stacklevel=3)
        return None


class LiveAngles:
    def __init__(self, infos: dict[str, dict], *, keep_s: float = 240.0, t0: float = 0.0):
        """infos: role -> the pod's info message (rates, scale factors). t0: host monotonic
        time of recording time 0 (the recorder's ``t0``)."""
        self.t0 = t0
        self.keep_s = keep_s
        self.pods: dict[str, PodLive] = {}
        for role, info in infos.items():
            rate = float(info.get("odr_hz") or info.get("rate_hz") or 100)
            self.pods[role] = PodLive(
                role, LiveFusion(LIVE_DEFAULT, rate_hz=rate),
                float(info.get("acc_scale") or 9.80665 / 4096),
                float(info.get("gyr_scale") or np.deg2rad(1 / 32.8)),
                deque(), deque(), deque(), acc_cal=_acc_cal(role, info))
        self.calibration = None
        self.latency_s: deque = deque(maxlen=2000)
        self.lock = threading.Lock()

    # -- feeding (reader threads) -----------------------------------------------------
    def on_samples(self, ps, b: Samples, dev0: int, t_arrival: float) -> None:
        """Session callback: convert, time, fuse."""
        p = self.pods.get(ps.role)
        if p is None:
            return
        dev = dev0 + np.concatenate([[0], np.cumsum(b.dt_us[1:], dtype=np.int64)])
        hs = ps.clock.host_s(dev)
        if hs is None:
            hs = t_arrival - (dev[-1] - dev) * 1e-6
        t = np.asarray(hs, dtype=np.float64) - self.t0
        acc = b.counts[:, 0:3] * p.acc_scale
        if p.acc_cal is not None:
            acc = p.acc_cal.apply(acc)
        self.feed(ps.role, t, acc, b.counts[:, 3:6] * p.gyr_scale)
        self.latency_s.append(time.monotonic() - t_arrival)

    def feed(self, role: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        p = self.pods[role]
        prev = p.t_last
        q = p.q
        for i in range(len(t)):
            dt = None if prev is None else float(t[i] - prev)
            if dt is not None and not (0 < dt < 0.5):
                dt = None
            q = p.fusion.update(gyr[i], acc[i], dt)
            prev = t[i]
        with self.lock:
            p.q = q
            p.t_last = float(t[-1])
            p.acc_last = acc[-1]
            p.gyr_last = gyr[-1]
            p.t.append(t)
            p.acc.append(acc)
            p.gyr.append(gyr)
            while p.t and p.t[0][-1] < t[-1] - self.keep_s:
                p.t.popleft()
                p.acc.popleft()
                p.gyr.popleft()

    # -- reading (main thread) --------------------------------------------------------
    def recording(self, events: list[Event] | None = None) -> Recording:
        """The buffered data as a Recording (recording clock), for the calibration."""
        pods = {}
        with self.lock:
            for r, p in self.pods.items():
                if not p.t:
                    continue
                pods[r] = PodData(r, np.concatenate(list(p.t)), np.vstack(list(p.acc)),
                                  np.vstack(list(p.gyr)))
        return Recording(None, pods, list(events or []))

    def calibrate(self, events: list[Event] | None = None):
        from posturepod.motion.calibration import calibrate
        import warnings
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            cal = calibrate(self.recording(events), check_later=False, warn=False)
        self.calibration = cal
        return cal

    def still(self, role: str, window_s: float = 1.0, gyr_rad_s: float = 0.12) -> bool:
        """Whether the pod has been still (small rotation rate) for the last window_s."""
        p = self.pods[role]
        with self.lock:
            if not p.t:
                return False
            t = p.t[-1]
            g = p.gyr[-1]
            k = len(p.t) - 1
            while t[0] > t[-1] - window_s and k > 0:
                k -= 1
                t = np.concatenate([p.t[k], t])
                g = np.vstack([p.gyr[k], g])
        sel = t >= t[-1] - window_s
        if t[-1] - t[0] < window_s * 0.9:
            return False
        return bool(np.max(np.linalg.norm(g[sel], axis=1)) < gyr_rad_s)

    def quiet(self, role: str, window_s: float = 1.0) -> bool:
        """Whether the pod has stood quietly for the last window_s, judged as the offline
        calibration judges a stand: its gravity direction (0.5 s means) wandered less than
        the role's "good" sway limit and no walking-like acceleration; the head may sway
        more than the trunk, and a gyro spread alone does not count."""
        from posturepod.motion.calibration_quality import LIMITS
        from posturepod.motion.calibration_routine import (EXTENT_ACC_M_S2, angle_deg,
                                                           smoothed_up, unit)
        p = self.pods[role]
        with self.lock:
            if not p.t:
                return False
            ts, accs, k = [p.t[-1]], [p.acc[-1]], len(p.t) - 1
            while ts[0][0] > p.t[-1][-1] - window_s - 0.5 and k > 0:
                k -= 1
                ts.insert(0, p.t[k])
                accs.insert(0, p.acc[k])
        t, acc = np.concatenate(ts), np.vstack(accs)
        if t[-1] - t[0] < window_s + 0.4:
            return False
        grid = np.arange(t[-1] - window_s, t[-1] - 0.25, 0.05)
        up, spread = smoothed_up(PodData(role, t, acc, acc), grid)
        sway = float(np.sqrt(np.mean(angle_deg(up, unit(up.mean(axis=0))) ** 2)))
        return sway <= LIMITS["stand_sway_deg"].get(role, (2.0, 4.0))[0] and \
            bool(np.all(spread <= EXTENT_ACC_M_S2.get(role, 1.0)))

    def tilt_deg(self, role: str, ref_up_sensor: np.ndarray) -> float:
        """Angle between the pod's current up direction and a reference one (sensor frame),
        from the live orientation: works before any calibration."""
        p = self.pods[role]
        if p.q is None:
            return float("nan")
        up = Q.rotate_inv(p.q, np.array([0.0, 0.0, 1.0]))
        c = float(np.clip(np.dot(up, ref_up_sensor), -1, 1))
        return float(np.degrees(np.arccos(c)))

    def up_in_sensor(self, role: str) -> np.ndarray | None:
        p = self.pods[role]
        if p.q is None:
            return None
        return Q.rotate_inv(p.q, np.array([0.0, 0.0, 1.0]))

    def angles(self) -> dict[str, float]:
        """The five angles now (degrees); NaN for a pod without data or calibration."""
        out = {}
        cal = self.calibration
        for seg in ("pelvis", "thorax", "head"):
            p = self.pods.get(seg)
            if p is None or p.q is None or cal is None or seg not in cal.pods:
                out[f"{seg}_deg"] = float("nan")
                continue
            out[f"{seg}_deg"] = float(segment_angle_deg(p.q[None, :],
                                                        cal.pods[seg].axes_in_sensor)[0])
        out["lumbar_deg"] = out["thorax_deg"] - out["pelvis_deg"]
        out["neck_deg"] = out["head_deg"] - out["thorax_deg"]
        return out

    def time_s(self) -> float:
        ts = [p.t_last for p in self.pods.values() if p.t_last is not None]
        return min(ts) if ts else 0.0
