"""Restless patients: postural restlessness on top of the scripted movements (``sway`` level).

Level 1.0 = a real person told to stand still; every component scales with the level
(docs/simulation.md, "Restless patients"):

- continuous sway (sums of sinusoids): head pitch / roll / yaw 1 / 1.5 / 2 deg SD (head in
  earth frame, the model's own sway included) at 0.3-0.8 Hz, most of it near 0.3 Hz
  (amplitudes ~ f^-3); trunk (lumbar) pitch and roll 0.5 deg SD, yaw 0.35 deg, at
  0.3-0.8 Hz (~ 1/f); pelvis pitch and roll 0.5 deg SD, yaw 0.35 deg, at 0.12-0.6 Hz
  (~ f^-0.75); always on, including the calibration stand. The spectra are chosen so that
  level 1 reproduces the measured quiet-standing gyro medians (head ~5, thorax ~2.4, pelvis
  ~1.3 deg/s);
- looking about: head yaw turns of 10-30 deg (times min(level, 1)), 1-3 s there and back,
  about 3 a minute times the level, while standing or sitting;
- nodding while talking: bursts of neck pitch oscillation, 2-4 deg (times the level) at
  1-2 Hz, 2-6 s long, about 1 a minute times the level, standing or sitting;
- weight shifts: pelvis roll 1-3 deg (times the level) with a lateral hip shift of 1.2 cm/deg
  and a trunk counter-bend (lumbar lateral bend -0.8 x the roll), reached over 1-2 s, every
  10-30 s (divided by min(level, 1)) while standing.

The occasional movements (looking about, nodding, weight shifts) happen only after the
calibration stand, and only while the scripted body is at rest: between the keyframe moves
of the protocol (bends, sitting down, getting up, chair swivels, ...), never while walking,
and looking about / nodding never inside a sitting day's head-forward spells (so those stay
what was planned). During the calibration stand only the continuous sway moves the body
(no nodding either). Every added signal is made zero-mean over the calibration stand, like
the existing sway, and :func:`zero_truth` then removes the small second-order remainder so
that the truth angles average exactly 0 there.
"""
from __future__ import annotations

import numpy as np

from .body import Plan
from .signals import Bursts, Moves, Oscillation, Sum

MAX_LEVEL = 5.0
# continuous sway at level 1 (deg SD): head in earth frame, trunk (lumbar) and pelvis
HEAD_SD = {"pitch": 1.0, "roll": 1.5, "yaw": 2.0}
TRUNK_SD = {"lumbar": 0.5, "lumbar_lat": 0.5, "lumbar_twist": 0.35}
PELVIS_SD = {"hip": 0.5, "pelvis_roll": 0.5, "heading": 0.35}
NECK_MIN_SD = 0.3
# spectra: (f_lo, f_hi) Hz, amplitude ~ f^-slope, components
BANDS = {"pelvis": (0.12, 0.6, 0.75, 6), "trunk": (0.3, 0.8, 1.0, 6), "head": (0.3, 0.8, 3.0, 6)}
# occasional movements at level 1
LOOK = {"deg": (10.0, 30.0), "per_min": 3.0, "turn_s": (0.35, 0.8), "total_s": (1.0, 3.0)}
NOD = {"deg": (2.0, 4.0), "hz": (1.0, 2.0), "dur_s": (2.0, 6.0), "ramp_s": 0.4,
       "per_min": 1.0}
SHIFT = {"deg": (1.0, 3.0), "move_s": (1.0, 2.0), "every_s": (10.0, 30.0),
         "lateral_m_per_deg": 0.012, "trunk_counter": -0.8}
MARGIN_S = 0.3          # keep the occasional movements this far from scripted moves


def _rest_windows(plan: Plan, t_from: float, t_to: float) -> list[tuple[float, float]]:
    """Stretches of [t_from, t_to] in which no keyframe channel moves and nobody walks."""
    busy = [iv for c in plan.ch.values() for iv in c.moving()]
    busy += [(a, b) for a, b, _ in plan.bouts]
    busy = sorted((a - MARGIN_S, b + MARGIN_S) for a, b in busy)
    out, t = [], t_from
    for a, b in busy:
        if a > t:
            out.append((t, min(a, t_to)))
        t = max(t, b)
        if t >= t_to:
            break
    if t < t_to:
        out.append((t, t_to))
    return [(a, b) for a, b in out if b - a > 0.5]


def _cut(windows, holes):
    """Windows minus the hole intervals."""
    out = []
    for a, b in windows:
        pieces = [(a, b)]
        for ha, hb in holes:
            pieces = [q for x, y in pieces for q in ((x, min(y, ha)), (max(x, hb), y))
                      if q[1] - q[0] > 0.5]
        out += pieces
    return out


def _arrivals(rng: np.random.Generator, windows, per_min: float, dur_s: tuple):
    """Start times and durations of movements arriving as a Poisson process (``per_min``)
    over the whole time line; an arrival is kept when the movement fits in a window (the
    body at rest), and the next one comes after it has ended."""
    if not windows or per_min <= 0:
        return
    mean = 60.0 / per_min
    k, t = 0, windows[0][0] + rng.exponential(mean)
    while k < len(windows):
        dur = float(rng.uniform(*dur_s))
        while k < len(windows) and windows[k][1] < t:
            k += 1
        if k == len(windows):
            return
        a, b = windows[k]
        if a <= t and t + dur <= b:
            yield t, dur
            t += dur
        t += rng.exponential(mean)


def add(plan: Plan, rng: np.random.Generator, level: float, stand: tuple[float, float],
        duration_s: float) -> list[dict]:
    """Add restlessness of ``level`` to ``plan`` (before it is frozen). ``stand`` = the
    calibration stand window (the truth's zero). Returns the occasional movements made
    (kind, start_s, end_s, size), for the truth."""
    level = float(level)
    if not 0.0 <= level <= MAX_LEVEL:
        raise ValueError(f"sway level must be between 0 and {MAX_LEVEL:g}, not {level}")
    # ---- continuous sway: drawn first and independent of the level, so the added sway
    # scales exactly with it for a seed
    add_sig: dict[str, list] = {}

    # the neck makes up what the trunk (restless + the model's own sway) leaves of the head's
    # sway in earth frame, at least NECK_MIN_SD
    def rms(*names) -> float:
        base = sum(0.5 * float(np.sum(plan.sway[k].a ** 2)) for k in names if k in plan.sway)
        return base + sum((PELVIS_SD | TRUNK_SD).get(k, 0.0) ** 2 for k in names)
    neck = {"neck": (HEAD_SD["pitch"], rms("hip", "lumbar", "neck")),
            "neck_lat": (HEAD_SD["roll"], rms("pelvis_roll", "lumbar_lat")),
            "head_turn": (HEAD_SD["yaw"], rms("heading", "lumbar_twist", "head_turn"))}
    neck = {k: float(np.sqrt(max(sd ** 2 - ms, NECK_MIN_SD ** 2)))
            for k, (sd, ms) in neck.items()}
    for sd, (lo, hi, slope, n) in ((PELVIS_SD, BANDS["pelvis"]), (TRUNK_SD, BANDS["trunk"]),
                                   (neck, BANDS["head"])):
        for name, v in sd.items():
            add_sig.setdefault(name, []).append(
                Oscillation.band(rng, level * v, lo, hi, n=n, slope=slope))

    # ---- occasional movements, after the calibration stand, while at rest
    look, nod = Moves(), Bursts()
    roll, lat, side = Moves(), Moves(), Moves()
    made: list[dict] = []
    rest = _rest_windows(plan, stand[1], duration_s)
    spells = [(b["head_forward"]["start_s"] - 1.0, b["head_forward"]["end_s"] + 1.0)
              for b in plan.notes.get("script", []) if "head_forward" in b]
    head_rest = _cut(rest, spells)
    height = plan.ch["height"]
    standing = [(a, b) for a, b in rest
                if abs(height.value_at(0.5 * (a + b)) - plan.anthro.stand_hip_height) < 0.05]

    def u(lo_hi) -> float:
        return float(rng.uniform(*lo_hi))

    if level > 0:
        small = min(level, 1.0)
        # looking about: Poisson arrivals over the whole time line, kept where they fit
        for t, total in _arrivals(rng, head_rest, LOOK["per_min"] * level, LOOK["total_s"]):
            turn = min(u(LOOK["turn_s"]), 0.4 * total)
            deg = float(rng.choice([-1.0, 1.0])) * u(LOOK["deg"]) * small
            look.bump(t, turn, total - 2 * turn, turn, deg)
            made.append({"kind": "look_about", "start_s": t, "end_s": t + total,
                         "head_yaw_deg": deg})
        # nodding while talking
        for t, dur in _arrivals(rng, head_rest, NOD["per_min"] * level, NOD["dur_s"]):
            deg, hz = u(NOD["deg"]) * level, u(NOD["hz"])
            nod.add(t, dur, deg, hz, NOD["ramp_s"])
            made.append({"kind": "nodding", "start_s": t, "end_s": t + dur,
                         "neck_pitch_deg": deg, "hz": hz})
        # weight shifts: a new lateral level every 10-30 s, back to 0 before the window ends
        lateral = ((roll, 1.0), (lat, SHIFT["trunk_counter"]),
                   (side, SHIFT["lateral_m_per_deg"]))
        for a, b in standing:
            t = a + u((0.0, 1.0)) * u(SHIFT["every_s"]) / small
            mv, back = u(SHIFT["move_s"]), u(SHIFT["move_s"])
            cur = 0.0
            while t + mv + 0.5 + back <= b:
                if cur and rng.random() < 0.7:
                    sign = -float(np.sign(cur))       # over to the other leg
                else:
                    sign = float(rng.choice([-1.0, 1.0]))
                deg = sign * u(SHIFT["deg"]) * level
                for m, k in lateral:
                    m.add(t, mv, k * (deg - cur))
                made.append({"kind": "weight_shift", "start_s": t, "end_s": t + mv,
                             "pelvis_roll_deg": deg})
                cur = deg
                t += mv + u(SHIFT["every_s"]) / small
                mv, back_next = u(SHIFT["move_s"]), u(SHIFT["move_s"])
                if t + mv + 0.5 + back_next > b:
                    # no room for another shift: hold, back to neutral as the window ends
                    for m, k in lateral:
                        m.add(b - back, back, -k * cur)
                    made.append({"kind": "weight_shift", "start_s": b - back, "end_s": b,
                                 "pelvis_roll_deg": 0.0})
                    break
                back = back_next
    for name, sig in (("head_turn", look), ("neck", nod), ("pelvis_roll", roll),
                      ("lumbar_lat", lat), ("y", side)):
        if len(sig):
            add_sig.setdefault(name, []).append(sig)

    # ---- attach, zero-mean over the calibration stand (the truth's 0)
    for name, parts in add_sig.items():
        base = plan.sway.get(name)
        sig = Sum(*([base] if base is not None else []), *parts)
        sig.zero_mean(*stand)
        plan.sway[name] = sig
    made.sort(key=lambda e: e["start_s"])
    return made


def zero_truth(body, stand: tuple[float, float], tol_deg: float = 1e-6) -> dict:
    """Make the truth angles average exactly 0 over the calibration stand.

    Zero-mean sway channels do not quite give zero-mean sagittal angles: the angle
    definition couples a turned and sideways-tilted head (or trunk) into the sagittal plane
    (to first order theta ~ neck pitch - head yaw x lateral bend, in radians), which a
    restless 5 s stand does not average away. A constant on the hip, lumbar and neck pitch
    sway (at most ~0.05 deg at level 1, ~0.5 deg at level 3) removes that; returns those
    constants."""
    t0, t1 = stand
    n = int(np.ceil((t1 - t0) * 1000.0))
    t = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n          # midpoint rule, 1 ms
    sw = body.plan.sway
    keys = {"hip": "pelvis_deg", "lumbar": "lumbar_deg", "neck": "neck_deg"}
    for _ in range(8):
        ang = body.angles(t)
        off = {ch: float(np.mean(ang[a])) for ch, a in keys.items()}
        for ch, v in off.items():
            sw[ch].bias -= v
        if max(abs(v) for v in off.values()) < tol_deg:
            break
    return {ch: sw[ch].bias for ch in keys}
