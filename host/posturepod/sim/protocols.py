"""Scripted movements: the calibration routine, the flexion test and a sitting day.

Every script fills the keyframe channels of a :class:`~.body.Plan` (angles in degrees relative
to the standing calibration posture; positive = forward/anterior) and notes what it did in
``plan.events`` / ``plan.notes``. The truth angles themselves are computed afterwards from the
segment orientations (see :mod:`.truth`), never copied from these channel values.
"""
from __future__ import annotations

import numpy as np

from .body import Plan

TRUNK_CHANNELS = ("hip", "lumbar", "neck")


def _u(rng, lo, hi) -> float:
    return float(rng.uniform(lo, hi))


def _moves(plan: Plan, t0: float, t1: float, **targets) -> None:
    for name, value in targets.items():
        plan.ch[name].move(t0, t1, value)


# --------------------------------------------------------------------------- bending
def bend(plan: Plan, t0: float, pelvis: float, lumbar: float, neck: float, down_s: float,
         hold_s: float, up_s: float, pattern: str) -> dict:
    """One forward bend from upright standing and back. ``pattern`` sets the lumbopelvic
    timing: ``normal`` = lumbar spine leads early in the bend and the hips (pelvis) late, and
    the reverse on the way up; ``inhibited_hip`` = the pelvis moves early and stops, the lumbar
    spine does the rest."""
    c = plan.ch
    Td, Tu = down_s, up_s
    tp = t0 + Td + hold_s
    if pattern == "normal":
        c["lumbar"].move(t0, t0 + 0.7 * Td, lumbar)
        c["hip"].move(t0 + 0.2 * Td, t0 + Td, pelvis)
        c["hip"].move(tp, tp + 0.7 * Tu, 0.0)
        c["lumbar"].move(tp + 0.3 * Tu, tp + Tu, 0.0)
    elif pattern == "inhibited_hip":
        c["hip"].move(t0, t0 + 0.45 * Td, pelvis)
        c["lumbar"].move(t0 + 0.05 * Td, t0 + Td, lumbar)
        c["lumbar"].move(tp, tp + 0.8 * Tu, 0.0)
        c["hip"].move(tp + 0.25 * Tu, tp + Tu, 0.0)
    else:
        raise ValueError(f"unknown flexion pattern {pattern!r} (normal, inhibited_hip)")
    c["neck"].move(t0 + 0.3 * Td, t0 + Td, neck)
    c["neck"].move(tp, tp + 0.8 * Tu, 0.0)
    # the hips shift backwards to keep the centre of mass over the feet
    fore0 = c["fore"].last_v
    c["fore"].move(t0 + 0.2 * Td, t0 + Td, fore0 - 0.10 * pelvis / 65.0)
    c["fore"].move(tp, tp + Tu, fore0)
    return {"start_s": t0, "end_s": tp + Tu}


# the calibration routine as documented for users (``exact_protocol``): stand still from
# the start of the recording, one 60 deg forward bend, still again
EXACT_CALIBRATION = {"stand_s": 5.0, "trunk_deg": 60.0, "down_s": 3.0, "hold_s": 0.5,
                     "up_s": 3.0, "still_s": 3.0}


def calibration(plan: Plan, rng: np.random.Generator, pattern: str = "normal",
                exact: bool = False) -> float:
    """Quiet standing (>= 5 s from ``calib_stand``), one slow 30-60 deg forward bend
    (``calib_bend`` at its onset), back up, >= 2 s still. Returns the end time.
    ``exact``: the routine as documented (:data:`EXACT_CALIBRATION`: stand from t = 0 for
    5.0 s, a 60 deg bend 3 s down, 0.5 s hold, 3 s up, 3 s still); the random draws are
    made all the same, so the rest of the protocol is the one of the same seed, shifted."""
    stand = 0.5
    t_bend = stand + _u(rng, 5.6, 7.0)
    trunk = _u(rng, 35.0, 55.0)
    share = _u(rng, 0.35, 0.45) if pattern == "normal" else _u(rng, 0.2, 0.3)
    neck = _u(rng, 3, 8)
    down, hold, up = _u(rng, 2.5, 3.5), _u(rng, 0.5, 1.0), _u(rng, 2.5, 3.5)
    still = _u(rng, 2.5, 3.5)
    if exact:
        x = EXACT_CALIBRATION
        stand, t_bend, trunk = 0.0, x["stand_s"], x["trunk_deg"]
        down, hold, up, still = x["down_s"], x["hold_s"], x["up_s"], x["still_s"]
    b = bend(plan, t_bend, trunk * share, trunk * (1 - share), neck, down, hold, up, pattern)
    end = b["end_s"] + still
    plan.zero_sway(stand, t_bend)
    plan.events += [(stand, "calib_stand"), (t_bend, "calib_bend")]
    plan.notes["calibration"] = {"stand_start_s": stand, "stand_end_s": t_bend,
                                 "bend_start_s": t_bend, "bend_end_s": b["end_s"],
                                 "still_end_s": end, "bend_trunk_deg_planned": trunk}
    return end


def flexion(plan: Plan, rng: np.random.Generator, pattern: str = "normal", exact: bool = False,
            pelvis_deg: float | None = None, lumbar_share: float | None = None) -> float:
    """Calibration, then 3-5 forward bends. ``pattern`` sets the lumbopelvic timing and, by
    default, the magnitudes; ``pelvis_deg`` / ``lumbar_share`` (borderline patients) replace
    the planned peak pelvis angle (+- the usual N(0, 1.5 deg) per rep, clipped to +-4.5) and
    the lumbar share lumbar / (pelvis + lumbar) at the peak (+- N(0, 0.01), clipped to
    +-0.03) of every rep."""
    if pattern not in ("normal", "inhibited_hip"):
        raise ValueError(f"unknown flexion pattern {pattern!r} (normal, inhibited_hip)")
    t = calibration(plan, rng, pattern, exact)
    if pattern == "normal":
        trunk = _u(rng, 110.0, 115.0)
        lum = _u(rng, max(42.0, trunk - 68.0), min(48.0, trunk - 62.0))
        lims = {"pelvis": (60.5, 69.5), "lumbar": (40.5, 49.5)}
    else:
        trunk = _u(rng, 88.0, 102.0)
        pel = _u(rng, max(23.0, trunk - 68.0), 36.0)
        lum = trunk - pel
        lims = {"pelvis": (21.0, 39.0), "lumbar": (max(lum - 6, 40.0), lum + 6)}
    pel_m = trunk - lum
    if pelvis_deg is not None:
        pel_m = float(pelvis_deg)
        lims["pelvis"] = (pel_m - 4.5, pel_m + 4.5)
    if lumbar_share is not None and pel_m * (lumbar_share + 0.03) / (0.97 - lumbar_share) > 90:
        raise ValueError(f"pelvis {pel_m:.0f} deg with lumbar share {lumbar_share:g} needs more "
                         "than 90 deg of lumbar flexion")
    neck_m = _u(rng, 10.0, 22.0)
    reps = []
    for _ in range(int(rng.integers(3, 6))):
        start = t
        t0 = t + _u(rng, 2.0, 4.0)
        pel = float(np.clip(pel_m + rng.normal(0, 1.5), *lims["pelvis"]))
        e_lu = rng.normal(0, 1.5)
        if lumbar_share is None:
            lu = float(np.clip(lum + e_lu, *lims["lumbar"]))
        else:       # the same draw, as N(0, 0.01) on the share
            sh = float(np.clip(lumbar_share + e_lu / 150.0, lumbar_share - 0.03,
                               lumbar_share + 0.03))
            lu = pel * sh / (1.0 - sh)
        b = bend(plan, t0, pel, lu, float(np.clip(neck_m + rng.normal(0, 2), 5, 28)),
                 _u(rng, 3.0, 5.0), _u(rng, 0.8, 1.5), _u(rng, 3.0, 5.0), pattern)
        plan.events.append((start, "rep_start"))
        reps.append({"stand_start_s": start, "start_s": b["start_s"], "end_s": b["end_s"],
                     "planned_pelvis_deg": pel, "planned_lumbar_deg": lu})
        t = b["end_s"]
    plan.notes["reps"] = reps
    return t + _u(rng, 2.5, 3.5)


# --------------------------------------------------------------------------- sitting day
class SittingDay:
    """Scripts a sitting day block by block (see docs/simulation.md)."""

    KINDS = ("slouch", "short_slouch", "lean", "fidget", "break", "pause", "upright")
    PROBS = (0.22, 0.14, 0.14, 0.14, 0.08, 0.06, 0.22)

    def __init__(self, plan: Plan, rng: np.random.Generator, duration_s: float):
        self.p = plan
        self.rng = rng
        self.t_end = float(duration_s)
        self.script: list[dict] = []
        self.hf_queue = ["long", "short"]

    # ---------------------------------------------------------------- transitions
    def sit_down(self, t: float, target: dict) -> float:
        p, r = self.p, self.rng
        _moves(p, t, t + 1.3, hip=30.0, lumbar=5.0, neck=5.0)
        p.ch["height"].move(t + 0.6, t + 2.2, p.anthro.sit_hip_height)
        p.ch["fore"].shift(t + 0.5, t + 2.2, -0.2)
        t1 = t + 1.3 + _u(r, 1.4, 2.0)
        _moves(p, t + 1.3, t1, **target)
        return t1

    def stand_up(self, t: float) -> float:
        p = self.p
        _moves(p, t, t + 1.2, hip=30.0, lumbar=5.0, neck=3.0, lumbar_lat=0.0,
               lumbar_twist=0.0, head_turn=0.0)
        p.ch["height"].move(t + 0.8, t + 2.4, p.anthro.stand_hip_height)
        p.ch["fore"].shift(t + 0.6, t + 2.4, 0.2)
        _moves(p, t + 1.2, t + 2.8, hip=0.0, lumbar=0.0, neck=0.0)
        return t + 2.8

    # ---------------------------------------------------------------- blocks
    def targets(self, kind: str) -> dict:
        r, ref = self.rng, self.ref
        if kind == "upright":
            return {"hip": ref["hip"] + _u(r, -3, 3), "lumbar": ref["lumbar"] + _u(r, -3, 3),
                    "neck": ref["neck"] + _u(r, -3, 4)}
        if kind in ("slouch", "short_slouch"):
            v = r.choice(["both", "both", "pelvis", "lumbar"])
            if v == "both":
                d = {"hip": -_u(r, 12, 20), "lumbar": _u(r, 12, 22)}
            elif v == "pelvis":
                d = {"hip": -_u(r, 13, 20), "lumbar": _u(r, 0, 6)}
            else:
                d = {"hip": _u(r, -4, 2), "lumbar": _u(r, 13, 22)}
            return {"hip": ref["hip"] + d["hip"], "lumbar": ref["lumbar"] + d["lumbar"],
                    "neck": ref["neck"] + _u(r, 0, 8)}
        if kind == "lean":
            return {"hip": ref["hip"] + _u(r, 15, 30), "lumbar": ref["lumbar"] + _u(r, -3, 3),
                    "neck": ref["neck"] + _u(r, -4, 6)}
        raise ValueError(kind)

    def block(self, t: float, kind: str, hold: float, trans: float, decorate=True) -> float:
        tg = self.targets(kind)
        _moves(self.p, t, t + trans, **tg)
        a, b = t + trans, t + trans + hold
        extra = self.decorate(a + 0.5, b - 0.5, tg["neck"]) if decorate else {}
        self.script.append({"kind": kind, "start_s": t, "end_s": b, **tg, **extra})
        return b

    def decorate(self, a: float, b: float, neck_base: float) -> dict:
        """Head-forward spells, chair swivels, head turns and small lateral bends/twists
        inside a sitting block [a, b]."""
        p, r = self.p, self.rng
        out = {}
        span = b - a
        hf = None
        if self.hf_queue and span >= (45 if self.hf_queue[0] == "long" else 28):
            hf = self.hf_queue.pop(0)
        elif span >= 45 and r.random() < 0.3:
            hf = "long"
        elif span >= 28 and r.random() < 0.25:
            hf = "short"
        if hf:
            if hf == "long":
                s = _u(r, a, b - 42)
                hold = _u(r, 34, min(300.0, b - s - 5))
            else:
                s = _u(r, a, b - 26)
                hold = _u(r, 5, 18)
            target = self.ref["neck"] + _u(r, 18, 30)
            p.ch["neck"].move(s, s + 2.0, target)
            p.ch["neck"].move(s + 2.0 + hold, s + 4.0 + hold, neck_base)
            out["head_forward"] = {"kind": hf, "start_s": s, "end_s": s + 4.0 + hold,
                                   "neck_deg": target}
        if span > 6 and r.random() < 0.5:
            n = 1 + int(span > 60 and r.random() < 0.5)
            times = np.sort(r.uniform(a, b - 3, n))
            if n == 2 and times[1] - times[0] < 3:
                times = times[:1]
            for s in times:
                d = float(r.choice([-1, 1]) * _u(r, 15, 70))
                p.ch["heading"].shift(s, s + _u(r, 1.0, 2.5), d)
            out["swivels"] = len(times)
        if span > 10 and r.random() < 0.5:
            # a turned head changes the sagittal neck angle (by definition), so keep the head
            # turns out of the head-forward spells: those are then exactly what was planned
            free = [(a, b - 9)]
            if hf:
                hs, he = out["head_forward"]["start_s"], out["head_forward"]["end_s"]
                free = [(x, y) for x, y in ((a, hs - 9), (he + 1, b - 9)) if y > x]
            s = _u(r, *free[int(r.integers(len(free)))]) if free else None
        else:
            s = None
        if s is not None:
            d = float(r.choice([-1, 1]) * _u(r, 25, 70))
            up, hold = _u(r, 0.6, 1.0), _u(r, 1.0, 5.0)
            p.ch["head_turn"].move(s, s + up, d)
            p.ch["head_turn"].move(s + up + hold, s + 2 * up + hold, 0.0)
            out["head_turn_deg"] = d
        if span > 12 and r.random() < 0.3:
            s = _u(r, a, b - 10)
            hold = _u(r, 3.0, max(3.5, min(30.0, b - s - 5)))
            lat = float(r.choice([-1, 1]) * _u(r, 2, 6))
            tw = float(r.choice([-1, 1]) * _u(r, 3, 8))
            _moves(p, s, s + 2.0, lumbar_lat=lat, lumbar_twist=tw)
            _moves(p, s + 2.0 + hold, s + 4.0 + hold, lumbar_lat=0.0, lumbar_twist=0.0)
        return out

    def fidget(self, t: float) -> float:
        r, ref = self.rng, self.ref
        start = t
        for _ in range(int(r.integers(1, 4))):
            d = _u(r, 0.6, 1.5)
            _moves(self.p, t, t + d, hip=ref["hip"] + _u(r, -6, 6),
                   lumbar=ref["lumbar"] + _u(r, -6, 6))
            t += d + _u(r, 1.0, 5.0)
        self.script.append({"kind": "fidget", "start_s": start, "end_s": t})
        return t

    def walk_break(self, t: float, walk_s: float) -> float:
        p, r = self.p, self.rng
        start = t
        t = self.stand_up(t) + _u(r, 1.0, 4.0)
        turn = float(r.choice([-1, 1]) * _u(r, 90, 180))
        h0 = p.ch["heading"].last_v
        d = _u(r, 1.5, 2.5)
        p.ch["heading"].move(t, t + d, h0 + turn)
        t += d + 0.3
        p.walk(t, t + walk_s)
        t += walk_s + 0.3
        p.ch["heading"].move(t, t + 2.0, h0 + turn + 180.0)
        t += 2.3
        p.walk(t, t + walk_s)
        t += walk_s + 0.3
        back = -((turn + 180.0 + 180.0) % 360.0 - 180.0)
        p.ch["heading"].move(t, t + 2.0, h0 + turn + 180.0 + back)
        t += 2.0 + _u(r, 0.5, 2.0)
        t = self.sit_down(t, self.targets("upright"))
        self.script.append({"kind": "break", "start_s": start, "end_s": t, "walk_s": 2 * walk_s})
        return t

    def pause(self, t: float) -> float:
        start = t
        t = self.stand_up(t) + _u(self.rng, 4.0, 15.0)
        t = self.sit_down(t, self.targets("upright"))
        self.script.append({"kind": "pause", "start_s": start, "end_s": t})
        return t

    # ---------------------------------------------------------------- the day
    def run(self, exact: bool = False) -> float:
        p, r = self.p, self.rng
        t = calibration(p, r, "normal", exact)
        self.ref = {"hip": _u(r, -20, -10), "lumbar": _u(r, 5, 15), "neck": _u(r, 0, 6)}
        t = self.sit_down(t, dict(self.ref))
        t_ref = t + _u(r, 2.0, 3.0)
        p.events.append((t_ref, "sit_reference"))
        p.notes["sit_reference"] = {"start_s": t_ref, "end_s": t_ref + 5.0,
                                    "planned": dict(self.ref)}
        t = t_ref + _u(r, 7.0, 9.0)
        queue = list(r.permutation(["slouch", "short_slouch", "lean", "fidget", "break",
                                    "pause"]))
        while True:
            hold = _u(r, 15, 90)
            if t + 5 + hold + 10 > self.t_end:
                break
            t = self.block(t, "upright", hold, _u(r, 2, 5))
            kind = str(queue.pop(0)) if queue else str(r.choice(self.KINDS, p=self.PROBS))
            left = self.t_end - t - 10
            if kind == "slouch":
                hold, trans = _u(r, 70, 420), _u(r, 2, 4)
                if hold + trans > left:
                    continue
                t = self.block(t, kind, hold, trans)
            elif kind == "short_slouch":
                t = self.block(t, kind, _u(r, 8, 40), _u(r, 1.5, 3)) if left > 50 else t
            elif kind == "lean":
                hold, trans = _u(r, 20, 200), _u(r, 1.5, 3)
                if hold + trans > left:
                    continue
                t = self.block(t, kind, hold, trans)
            elif kind == "upright":
                hold = _u(r, 60, 400)
                if hold + 5 > left:
                    continue
                t = self.block(t, kind, hold, _u(r, 2, 5))
            elif kind == "fidget":
                t = self.fidget(t) if left > 25 else t
            elif kind == "break":
                walk_s = _u(r, 15, 90)
                if 2 * walk_s + 25 > left:
                    continue
                t = self.walk_break(t, walk_s)
            elif kind == "pause":
                t = self.pause(t) if left > 30 else t
        p.notes["script"] = self.script
        p.notes["reference_planned"] = dict(self.ref)
        return self.t_end


def sitting(plan: Plan, rng: np.random.Generator, duration_s: float,
            exact: bool = False) -> float:
    return SittingDay(plan, rng, duration_s).run(exact)
