"""The three-segment body (pelvis -> thorax -> head) driven by a :class:`Plan`.

Frames: earth (world) x/y horizontal, z up. Each segment frame is anatomical: x anterior,
y left, z cranial; in the standing calibration posture all three have z = earth up.

Orientation chain (``Rz``/``Ry``/``Rx`` = rotation about the body's own z/y/x axis; positive
``Ry`` tips the cranial axis forward = flexion):

    pelvis = Rz(heading + gait yaw) Ry(hip flexion + sway + gait tilt) Rx(pelvic obliquity)
    thorax = pelvis Ry(lumbar flexion) Rx(lumbar lateral bend) Rz(lumbar axial twist)
    head   = thorax Ry(neck flexion) [Rx(lateral neck bend)] Rz(head turn)

(the lateral neck bend exists only with restless sway, :mod:`.restless`, sway key
``neck_lat``).

Positions: the pelvis frame's origin is the midpoint of the hip joint centres; the lumbar
"joint" (a lumped L3/L4 rotation centre), the cervicothoracic joint (C7/T1) and the three pods
hang off it with fixed offsets in their segment frames, so the thoracic and head pods feel the
lever-arm accelerations of rotations about the hips and the lumbar spine.

Sagittal angle of a segment (what the estimator reports and what the truth uses): with u the
cranial axis and m the left axis in earth frame, f = normalize(m x Z),
theta = atan2(f . u, Z . u) in degrees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturepod.motion import quaternion as Q
from posturepod.sim.signals import Channel, Oscillation

SEGMENTS = ("pelvis", "thorax", "head")
# keyframe channels: angles in degrees, lengths in metres, speed in m/s
CHANNELS = ("heading", "hip", "pelvis_roll", "lumbar", "lumbar_lat", "lumbar_twist",
            "neck", "head_turn", "height", "fore", "speed")
SWAY = ("heading", "hip", "pelvis_roll", "lumbar", "lumbar_lat", "lumbar_twist", "neck",
        "head_turn", "x", "y")
D2R = np.pi / 180.0


@dataclass
class Anthropometry:
    """Segment geometry (m), in the segment frames (x anterior, y left, z cranial)."""
    scale: float = 1.0
    stand_hip_height: float = 0.92
    sit_hip_height: float = 0.55
    r_sacrum: tuple = (-0.11, 0.0, 0.07)      # hip centre -> S1-S2 skin (pelvis pod)
    r_lumbar: tuple = (-0.05, 0.0, 0.17)      # hip centre -> lumped lumbar joint (L3/L4)
    r_thorax_pod: tuple = (-0.11, 0.0, 0.24)  # lumbar joint -> T6-T8 skin (thoracic pod)
    r_neck: tuple = (-0.03, 0.0, 0.40)        # lumbar joint -> C7/T1
    r_head_pod: tuple = (-0.10, 0.0, 0.12)    # C7/T1 -> back of the head (head pod)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Anthropometry":
        s = float(rng.uniform(0.9, 1.1))
        base = cls()
        sc = lambda v: tuple(float(x) * s for x in v)  # noqa: E731
        return cls(scale=s, stand_hip_height=base.stand_hip_height * s,
                   sit_hip_height=float(rng.uniform(0.50, 0.58)),
                   r_sacrum=sc(base.r_sacrum), r_lumbar=sc(base.r_lumbar),
                   r_thorax_pod=sc(base.r_thorax_pod), r_neck=sc(base.r_neck),
                   r_head_pod=sc(base.r_head_pod))

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class Gait:
    """Walking oscillations, scaled by speed / speed_m_s (0 when not walking)."""
    speed_m_s: float = 1.2
    step_hz: float = 1.9
    bounce_m: float = 0.015       # vertical, at step frequency (peak-to-peak = 2x)
    surge_m: float = 0.008        # fore-aft, at step frequency
    sway_m: float = 0.02          # lateral, at stride frequency
    yaw_deg: float = 4.0          # pelvic rotation, stride frequency
    roll_deg: float = 3.5         # pelvic obliquity, stride frequency
    tilt_deg: float = 1.5         # pelvic tilt, step frequency
    phase0: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Gait":
        return cls(speed_m_s=float(rng.uniform(1.1, 1.35)), step_hz=float(rng.uniform(1.8, 2.0)),
                   bounce_m=float(rng.uniform(0.010, 0.020)),
                   surge_m=float(rng.uniform(0.005, 0.010)),
                   sway_m=float(rng.uniform(0.015, 0.025)),
                   yaw_deg=float(rng.uniform(3.0, 6.0)), roll_deg=float(rng.uniform(2.5, 5.0)),
                   tilt_deg=float(rng.uniform(1.0, 2.5)),
                   phase0=float(rng.uniform(0, 2 * np.pi)))


@dataclass
class Plan:
    """What the body does: keyframe channels, sway, gait and walking bouts, plus the
    protocol's annotations (events, reps, script) filled in by :mod:`.protocols`."""
    duration_s: float
    anthro: Anthropometry
    gait: Gait
    ch: dict = field(default_factory=dict)
    sway: dict = field(default_factory=dict)
    bouts: list = field(default_factory=list)    # (t0, t1, heading_deg): straight walks
    events: list = field(default_factory=list)   # (time_s, label)
    notes: dict = field(default_factory=dict)

    @classmethod
    def new(cls, duration_s: float, rng: np.random.Generator, anthro: Anthropometry,
            gait: Gait) -> "Plan":
        p = cls(duration_s=duration_s, anthro=anthro, gait=gait)
        for name in CHANNELS:
            p.ch[name] = Channel(0.0)
        p.ch["height"] = Channel(anthro.stand_hip_height)
        # postural sway and breathing: rms in degrees (metres for x, y)
        rms = {"heading": 0.3, "hip": 0.35, "pelvis_roll": 0.25, "lumbar": 0.35,
               "lumbar_lat": 0.25, "lumbar_twist": 0.3, "neck": 0.5, "head_turn": 0.8,
               "x": 0.004, "y": 0.003}
        for name in SWAY:
            p.sway[name] = Oscillation.random(rng, rms[name], 0.05, 0.6, 4)
        # breathing moves the thorax on the pelvis a little (~0.25 Hz)
        br = Oscillation([float(rng.uniform(0.2, 0.4))], [float(rng.uniform(0.2, 0.3))],
                         [float(rng.uniform(0, 2 * np.pi))])
        p.sway["lumbar"] = Oscillation(np.r_[p.sway["lumbar"].a, br.a],
                                       np.r_[p.sway["lumbar"].w, br.w] / (2 * np.pi),
                                       np.r_[p.sway["lumbar"].p, br.p])
        return p

    def zero_sway(self, t0: float, t1: float) -> None:
        """Make every sway signal zero-mean over [t0, t1] (the calibration standing), so that
        the truth angles average exactly-ish 0 there, as their definition requires."""
        for osc in self.sway.values():
            osc.zero_mean(t0, t1)

    def walk(self, t0: float, t1: float, ramp_s: float = 1.5, speed: float | None = None):
        """A straight walk along the current heading from t0 to t1 (speed ramps up and down)."""
        v = self.gait.speed_m_s if speed is None else speed
        sp = self.ch["speed"]
        sp.move(t0, t0 + ramp_s, v)
        sp.move(t1 - ramp_s, t1, 0.0)
        self.bouts.append((t0, t1, self.ch["heading"].last_v))

    def freeze(self) -> "Plan":
        for c in self.ch.values():
            c.freeze()
        return self


class Body:
    """Evaluates a frozen :class:`Plan` at arbitrary true times (vectorised)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.a = plan.anthro
        self.g = plan.gait
        c = plan.ch
        if plan.bouts:
            b = np.asarray(plan.bouts, dtype=float)
            self._bt0, self._bt1 = b[:, 0], b[:, 1]
            hd = b[:, 2] * D2R
            self._bdir = np.stack([np.cos(hd), np.sin(hd)], axis=1)
            self._bd0 = c["speed"].integral(self._bt0)
            full = self._bdir * (c["speed"].integral(self._bt1) - self._bd0)[:, None]
            self._bcum = np.vstack([np.zeros((1, 2)), np.cumsum(full, axis=0)])
        else:
            self._bt0 = np.zeros(0)

    # -- pieces -------------------------------------------------------------------------
    def _common(self, t):
        c, s, g = self.plan.ch, self.plan.sway, self.g
        env = c["speed"](t) / g.speed_m_s
        if not env.any():           # not walking in this stretch: skip the gait terms
            return c, s, g, 0.0, 0.0
        ph = 2.0 * np.pi * g.step_hz * t + g.phase0
        return c, s, g, env, ph

    def segment_quats(self, t, upto: int = 3):
        """[pelvis, thorax, head][:upto] orientation quaternions (segment -> earth), (N, 4)."""
        t = np.asarray(t, dtype=float)
        c, s, g, env, ph = self._common(t)
        yaw_osc = env * g.yaw_deg * np.sin(0.5 * ph)
        psi = c["heading"](t) + s["heading"](t) + yaw_osc
        tilt = c["hip"](t) + s["hip"](t) + env * g.tilt_deg * np.sin(ph + 1.0)
        roll = c["pelvis_roll"](t) + s["pelvis_roll"](t) + env * g.roll_deg * np.cos(0.5 * ph)
        qp = Q.mul(Q.mul(Q.from_axis_angle(psi * D2R, 2), Q.from_axis_angle(tilt * D2R, 1)),
                   Q.from_axis_angle(roll * D2R, 0))
        out = [qp]
        if upto < 2:
            return out
        lum = c["lumbar"](t) + s["lumbar"](t)
        lat = c["lumbar_lat"](t) + s["lumbar_lat"](t) - 0.5 * env * g.roll_deg * np.cos(0.5 * ph)
        tw = c["lumbar_twist"](t) + s["lumbar_twist"](t) - 1.3 * yaw_osc
        qt = Q.mul(qp, Q.mul(Q.mul(Q.from_axis_angle(lum * D2R, 1),
                                   Q.from_axis_angle(lat * D2R, 0)),
                             Q.from_axis_angle(tw * D2R, 2)))
        out.append(qt)
        if upto < 3:
            return out
        nk = c["neck"](t) + s["neck"](t)
        turn = c["head_turn"](t) + s["head_turn"](t) + 0.3 * yaw_osc
        side = s.get("neck_lat")       # lateral neck bend: only with restless sway
        if side is None:
            qn = Q.from_axis_angle(nk * D2R, 1)
        else:
            qn = Q.mul(Q.from_axis_angle(nk * D2R, 1), Q.from_axis_angle(side(t) * D2R, 0))
        qh = Q.mul(qt, Q.mul(qn, Q.from_axis_angle(turn * D2R, 2)))
        out.append(qh)
        return out

    def walk_displacement(self, t):
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.shape + (2,))
        if not len(self._bt0):
            return out
        k = np.searchsorted(self._bt0, t, side="right") - 1
        on = k >= 0
        kk = np.clip(k, 0, None)
        tc = np.clip(t, self._bt0[kk], self._bt1[kk])
        part = (self.plan.ch["speed"].integral(tc) - self._bd0[kk])[..., None] * self._bdir[kk]
        out = self._bcum[kk] + part
        return np.where(on[..., None], out, 0.0)

    def hip_position(self, t):
        t = np.asarray(t, dtype=float)
        c, s, g, env, ph = self._common(t)
        hb = c["heading"](t) * D2R
        fwd = np.stack([np.cos(hb), np.sin(hb)], axis=-1)
        left = np.stack([-np.sin(hb), np.cos(hb)], axis=-1)
        xy = (c["fore"](t)[..., None] * fwd + self.walk_displacement(t)
              + np.stack([s["x"](t), s["y"](t)], axis=-1)
              + (env * g.surge_m * np.sin(ph))[..., None] * fwd
              + (env * g.sway_m * np.sin(0.5 * ph))[..., None] * left)
        z = c["height"](t) + env * g.bounce_m * np.cos(ph)
        return np.concatenate([xy, z[..., None]], axis=-1)

    def pod_position(self, role: str, t, quats):
        a = self.a
        hip = self.hip_position(t)
        if role == "pelvis":
            return hip + Q.rotate(quats[0], a.r_sacrum)
        lj = hip + Q.rotate(quats[0], a.r_lumbar)
        if role == "thorax":
            return lj + Q.rotate(quats[1], a.r_thorax_pod)
        neck = lj + Q.rotate(quats[1], a.r_neck)
        return neck + Q.rotate(quats[2], a.r_head_pod)

    # -- what the sensors need ----------------------------------------------------------
    def kinematics(self, role: str, t, h: float = 1e-3):
        """Segment orientation q (N,4), pod linear acceleration in earth frame (N,3, m/s^2)
        and segment angular rate in segment frame (N,3, rad/s) at true times t.
        Central differences with step h on the analytic (C2) motion."""
        t = np.asarray(t, dtype=float)
        n = len(t)
        i = SEGMENTS.index(role)
        tt = np.concatenate([t - h, t, t + h])
        qs = self.segment_quats(tt, upto=i + 1)
        p = self.pod_position(role, tt, qs)
        q = qs[i]
        acc = (p[:n] - 2.0 * p[n:2 * n] + p[2 * n:]) / (h * h)
        w = Q.log(Q.mul(Q.conj(q[:n]), q[2 * n:])) / (2.0 * h)
        return q[n:2 * n], acc, w

    # -- truth --------------------------------------------------------------------------
    def angles(self, t) -> dict:
        qp, qt, qh = self.segment_quats(t)
        p, th, hd = sagittal_deg(qp), sagittal_deg(qt), sagittal_deg(qh)
        return {"pelvis_deg": p, "thorax_deg": th, "head_deg": hd,
                "lumbar_deg": th - p, "neck_deg": hd - th}


def sagittal_deg(q) -> np.ndarray:
    """theta = atan2(f . u, Z . u), u = cranial axis, f = normalize(left x Z), in degrees."""
    u = Q.rotate(q, np.array([0.0, 0.0, 1.0]))
    m = Q.rotate(q, np.array([0.0, 1.0, 0.0]))
    f = np.stack([m[..., 1], -m[..., 0]], axis=-1)
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(f[..., 0] * u[..., 0] + f[..., 1] * u[..., 1], u[..., 2]))
