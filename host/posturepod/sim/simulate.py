"""Simulated recordings with ground truth: three pods (pelvis on the sacrum, thoracic spine,
back of the head) on a three-segment body doing a scripted protocol.

    res = simulate("flexion", seed=3, pattern="inhibited_hip")
    res.recording          # what a CSV interchange recording would hold (sensor + clock errors)
    res.truth              # JSON-able ground truth (angles, events, reps / episodes, ...)
    res.sensors_true       # role -> (time_s, acc, gyr): error-free, true time, regular grid
    write_sim(res, "out")  # pelvis.csv thorax.csv head.csv events.csv meta.json truth.json

Model, parameters and sources: docs/simulation.md. Internals: :mod:`posturepod.sim`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posturepod.motion import quaternion as Q
from posturepod.recordings.data import ROLES, Event, PodData, Recording
from posturepod.sim import protocols, restless, truth as T
from posturepod.sim.body import SEGMENTS, Anthropometry, Body, Gait, Plan
from posturepod.recordings.acc_calibration import AccCalibration
from posturepod.sim.sensors import (PodClock, SensorErrors, earth_field, maker_acc_calibration,
                                    pod_samples, random_mounting)

PROTOCOLS = ("flexion", "sitting")
PATTERNS = ("normal", "inhibited_hip")
SERIES = ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg")
ANGLE_DEFINITION = ("theta = atan2(f . u, Z . u) in degrees; u = segment cranial axis (z), "
                    "m = segment left axis (y), both in earth frame, Z = earth up, "
                    "f = normalize(m x Z); positive = forward inclination; 0 in the standing "
                    "calibration posture. lumbar = thorax - pelvis, neck = head - thorax.")
# independent random streams per purpose, so changing one part leaves the others alone
_S_BODY, _S_MOUNT, _S_FIELD, _S_ERR, _S_CLOCK, _S_NOISE, _S_SWAY, _S_ACAL = range(8)
MAX_SWAY = restless.MAX_LEVEL


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *stream])


@dataclass
class SimResult:
    recording: Recording
    truth: dict
    body: Body | None = field(default=None, repr=False)
    mountings: dict = field(default_factory=dict, repr=False)   # role -> (4,) sensor->segment
    true_rate_hz: float = 100.0
    mag_field_ut: np.ndarray | None = field(default=None, repr=False)
    _sensors_true: dict | None = field(default=None, repr=False)
    _mag_true: dict | None = field(default=None, repr=False)

    @property
    def _body(self) -> Body:
        if self.body is None:
            raise ValueError("this SimResult carries no body model")
        return self.body

    @property
    def duration_s(self) -> float:
        return float(self.truth["duration_s"])

    def true_grid(self, rate_hz: float | None = None) -> np.ndarray:
        r = float(rate_hz or self.true_rate_hz)
        return np.arange(int(np.floor(self.duration_s * r + 1e-9)) + 1) / r

    @property
    def sensors_true(self) -> dict:
        """role -> (time_s, acc_m_s2, gyr_rad_s): error-free readings on true time, regular
        grid at ``true_rate_hz`` (computed on first access)."""
        if self._sensors_true is None:
            t = self.true_grid()
            out, mags = {}, {}
            for role in ROLES:
                acc, gyr, mag = pod_samples(self._body, role, self.mountings[role], t,
                                            field=self.mag_field_ut)
                out[role] = (t, acc, gyr)
                mags[role] = mag
            self._sensors_true = out
            self._mag_true = mags if self.mag_field_ut is not None else None
        return self._sensors_true

    @property
    def mag_true(self) -> dict | None:
        """role -> (N, 3) uT on the :attr:`sensors_true` grid, when simulated with mag."""
        _ = self.sensors_true
        return self._mag_true

    def sensors_true_chunks(self, rate_hz: float | None = None, chunk_s: float = 600.0):
        """Stream error-free readings for long days: yields (time_s, {role: (acc, gyr, mag)})
        chunk by chunk (mag is None unless simulated with mag)."""
        r = float(rate_hz or self.true_rate_hz)
        n = int(np.floor(self.duration_s * r + 1e-9)) + 1
        step = max(1, int(chunk_s * r))
        for i0 in range(0, n, step):
            t = np.arange(i0, min(n, i0 + step)) / r
            yield t, {role: pod_samples(self._body, role, self.mountings[role], t,
                                        field=self.mag_field_ut) for role in ROLES}

    def segment_orientation(self, segment: str, t) -> np.ndarray:
        """True segment -> earth quaternions (N, 4), w-first, at true times t."""
        i = SEGMENTS.index(segment)
        return self._body.segment_quats(np.asarray(t, dtype=float), upto=i + 1)[i]

    def orientation_true(self, role: str, t) -> np.ndarray:
        """True sensor -> earth quaternions (N, 4), w-first, at true times t."""
        return Q.mul(self.segment_orientation(role, t), self.mountings[role])

    def angles_true(self, t) -> dict:
        """Truth angles (degrees) at arbitrary true times."""
        return self._body.angles(np.asarray(t, dtype=float))


def simulate(protocol: str, seed: int = 0, *, rate_hz: float = 100.0, pattern: str = "normal",
             duration_s: float | None = None, mag: bool = False, events: bool = True,
             clock_errors: bool = True, sensor_errors: bool = True,
             true_rate_hz: float | None = None, truth_rate_hz: float | None = None,
             quantize: bool = False, sway: float = 0.0, exact_protocol: bool = False,
             pelvis_deg: float | None = None,
             lumbar_share: float | None = None, acc_calibrated: bool = True) -> SimResult:
    """Simulate one recording. ``flexion``: calibration + 3-5 forward bends (``pattern``
    normal or inhibited_hip; ``duration_s`` only pads with standing). ``sitting``: calibration,
    sit down, ``sit_reference``, then a sitting day until ``duration_s`` (default 1800 s).

    ``sway``: level of postural restlessness (0-5; 1 = a real person told to stand still,
    :mod:`posturepod.sim.restless`), added on top of the model's small sway; 0 adds nothing
    and draws nothing. ``exact_protocol``: the calibration routine exactly as documented
    (stand 5.0 s from t = 0, one 60 deg bend 3 s down, 0.5 s hold, 3 s up, 3 s still).
    Flexion only, borderline patients: ``pelvis_deg`` = planned peak pelvis angle of every
    test bend, ``lumbar_share`` = planned lumbar / (pelvis + lumbar) at the peak (None: from
    ``pattern``, which always sets the timing). ``acc_calibrated``: each pod's accelerometer
    was calibrated by its maker (:func:`posturepod.sim.sensors.maker_acc_calibration`); the
    recording is as loaded, with the calibration applied and kept in the pod's info."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} ({', '.join(PROTOCOLS)})")
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r} ({', '.join(PATTERNS)})")
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    sway = float(sway)
    if not 0.0 <= sway <= MAX_SWAY:      # also refuses nan
        raise ValueError(f"sway must be between 0 and {MAX_SWAY:g}, not {sway}")
    if (pelvis_deg is not None or lumbar_share is not None) and protocol != "flexion":
        raise ValueError("pelvis_deg and lumbar_share are for the flexion protocol")
    if pelvis_deg is not None and not 5.0 <= pelvis_deg <= 85.0:
        raise ValueError(f"pelvis_deg must be between 5 and 85, not {pelvis_deg}")
    if lumbar_share is not None and not 0.1 <= lumbar_share <= 0.9:
        raise ValueError(f"lumbar_share must be between 0.1 and 0.9, not {lumbar_share}")
    rb = _rng(seed, _S_BODY)
    plan = Plan.new(0.0, rb, Anthropometry.random(rb), Gait.random(rb))
    if protocol == "flexion":
        end = protocols.flexion(plan, rb, pattern, exact_protocol, pelvis_deg, lumbar_share)
        dur = max(end, float(duration_s or 0.0))
        truth_rate = float(truth_rate_hz or 100.0)
    else:
        dur = float(1800.0 if duration_s is None else duration_s)
        if dur < 60:
            raise ValueError("sitting needs duration_s >= 60")
        protocols.sitting(plan, rb, dur, exact_protocol)
        truth_rate = float(truth_rate_hz or 10.0)
    plan.duration_s = dur
    calib = plan.notes["calibration"]
    fidgets = None
    if sway > 0:
        fidgets = restless.add(plan, _rng(seed, _S_SWAY), sway,
                               (calib["stand_start_s"], calib["stand_end_s"]), dur)
    body = Body(plan.freeze())
    if fidgets is not None:
        zeroing = restless.zero_truth(body, (calib["stand_start_s"], calib["stand_end_s"]))

    rm = _rng(seed, _S_MOUNT)
    mounts = {role: random_mounting(rm) for role in ROLES}
    field_ut = earth_field(_rng(seed, _S_FIELD)) if mag else None

    # ---- truth
    tt = np.arange(int(np.floor(dur * truth_rate + 1e-9)) + 1) / truth_rate
    ang = body.angles(tt)
    ev = sorted(plan.events)
    tr = {"protocol": protocol, "seed": int(seed), "rate_hz": float(rate_hz),
          "truth_rate_hz": truth_rate, "duration_s": dur,
          "time_s": np.round(tt, 6).tolist(),
          **{k: ang[k].tolist() for k in SERIES},
          "events": [{"time_s": float(t), "label": lab} for t, lab in ev],
          "mountings": {r: mounts[r].tolist() for r in ROLES},
          "mounting_convention": "quaternion w,x,y,z rotating sensor-frame vectors into the "
                                 "segment frame (x anterior, y left, z cranial)",
          "angle_definition": ANGLE_DEFINITION,
          "calibration": calib, "sway": sway, "exact_protocol": bool(exact_protocol),
          "anthropometry": plan.anthro.to_dict(), "gait": dict(plan.gait.__dict__)}
    if fidgets is not None:
        tr["restless"] = {"events": fidgets, "stand_zeroing_deg": zeroing}
    if protocol == "flexion":
        tr["pattern"] = pattern
        tr["reps"] = T.rep_summaries(tt, ang, plan.notes["reps"])
        if pelvis_deg is not None or lumbar_share is not None:
            tr["borderline"] = {"pelvis_deg": pelvis_deg, "lumbar_share": lumbar_share}
    else:
        act = T.activity(body, tt)
        sr = plan.notes["sit_reference"]
        ref = T.reference(tt, ang, sr["start_s"], sr["end_s"])
        tr["activity"] = act.tolist()
        tr["activity_codes"] = {"0": "sitting", "1": "standing", "2": "walking"}
        tr["reference"] = ref
        tr.update(T.sitting_truth(tt, ang, act, ref))
        tr["script"] = plan.notes["script"]

    # ---- sensors, clocks
    pods = {}
    tr["clocks"], tr["sensor_errors"] = {}, {}
    for k, role in enumerate(ROLES):
        rc = _rng(seed, _S_CLOCK, k)
        clock = PodClock.random(rc, rate_hz) if clock_errors else PodClock()
        t_true, stamp = clock.times(dur, rate_hz, rc)
        err = SensorErrors.random(_rng(seed, _S_ERR, k)) if sensor_errors else None
        acc, gyr, m = pod_samples(body, role, mounts[role], t_true, errors=err,
                                  rng=_rng(seed, _S_NOISE, k), field=field_ut,
                                  quantize=quantize)
        info = {"simulated": True, "role": role, "rate_hz": rate_hz}
        if err is not None and acc_calibrated:
            kept = maker_acc_calibration(err, _rng(seed, _S_ACAL, k)).to_dict()  # as on a pod
            acc = AccCalibration.from_dict(kept).apply(acc)
            info["acc_cal"] = {**kept, "applied": True}
        pods[role] = PodData(role=role, time_s=stamp, acc_m_s2=acc, gyr_rad_s=gyr, mag_ut=m,
                             info=info)
        tr["clocks"][role] = {**clock.to_dict(), "actual_rate_hz":
                              rate_hz * (1 + clock.drift_ppm * 1e-6)}
        if err is not None:
            tr["sensor_errors"][role] = err.to_dict()
    if field_ut is not None:
        tr["mag_field_ut"] = field_ut.tolist()
    tr["true_rate_hz"] = float(true_rate_hz or rate_hz)
    rec = Recording(path=None, pods=pods,
                    events=[Event(float(t), lab) for t, lab in ev] if events else [],
                    meta={"source": "posturepod simulate", "simulated": True,
                          "protocol": protocol, "seed": int(seed),
                          **({"pattern": pattern} if protocol == "flexion" else {}),
                          "rate_hz": float(rate_hz)})
    return SimResult(recording=rec, truth=tr, body=body, mountings=mounts,
                     true_rate_hz=tr["true_rate_hz"], mag_field_ut=field_ut)


def truth_for_file(truth: dict, max_rate_hz: float = 20.0, long_s: float = 600.0) -> dict:
    """The truth as written to truth.json: series of recordings longer than ``long_s``
    are decimated to <= ``max_rate_hz`` (key ``file_rate_hz``; ``decimation`` says by how
    much), floats rounded to 1e-4 deg."""
    out = dict(truth)
    rate = float(truth["truth_rate_hz"])
    step = 1
    if truth["duration_s"] > long_s and rate > max_rate_hz:
        step = int(np.ceil(rate / max_rate_hz))
    keys = ["time_s", *SERIES] + (["activity"] if "activity" in truth else [])
    for k in keys:
        a = np.asarray(truth[k])[::step]
        out[k] = a.tolist() if k in ("time_s", "activity") else np.round(a, 4).tolist()
    out["file_rate_hz"] = rate / step
    out["decimation"] = step
    return out


def write_sim(result: SimResult, out_dir) -> None:
    """CSV interchange directory (pelvis.csv, thorax.csv, head.csv, events.csv, meta.json)
    plus truth.json (see :func:`truth_for_file`)."""
    from posturepod.recordings.csvio import write_csv_dir
    out = Path(out_dir)
    write_csv_dir(out, result.recording)
    with (out / "truth.json").open("w") as f:
        json.dump(truth_for_file(result.truth), f, separators=(",", ":"))
