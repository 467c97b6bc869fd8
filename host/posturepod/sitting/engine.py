"""The causal posture engine: epochs in, posture states, episodes, breaks and alerts out.

The offline analysis and the live monitor both feed their epochs through one
:class:`PostureEngine`, so their decisions are the same on the same series.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from .activity import SIT, STAND, UNKNOWN, WALK, classify_activity, is_still, looks_seated
from .config import SittingConfig
from .epochs import ANGLES, Epoch
from .episodes import EpisodeTracker

# trunk posture codes (per epoch, while sitting)
TRUNK_NONE, TRUNK_UPRIGHT, TRUNK_SLOUCH, TRUNK_LEAN = 0, 1, 2, 3


def _dur(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"


@dataclass
class Notice:
    """Something the live tool tells the wearer or the clinician."""
    kind: str        # reference, slouch_buzz, head_forward_buzz, break_reminder,
    #                  slouch_episode, head_forward_episode, break_start, break_end
    time_s: float
    message: str
    data: dict = field(default_factory=dict)


@dataclass(slots=True)
class EpochLabel:
    k: int
    t0: float
    t1: float
    activity: int
    trunk: int
    head_forward: bool
    rel: tuple           # the five angles minus the reference


class PostureEngine:
    """Feed epochs in time order with :meth:`feed`; call :meth:`finish` at the end.

    The reference is either given (``reference``: dict with the five angle names), taken at
    ``reference_time_s`` (the ``sit_reference`` event: the mean over the ``reference_s``
    after it), or found automatically: the first ``reference_s`` of still sitting.
    Posture is analysed from the start of the reference on.
    """

    def __init__(self, cfg: SittingConfig | None = None, *, reference: dict | None = None,
                 reference_time_s: float | None = None, buzz_after_s: float | None = None,
                 break_after_s: float | None = None, buzz_repeat_s: float | None = None,
                 on_label=None):
        self.cfg = cfg = cfg or SittingConfig()
        self.buzz_after_s = cfg.buzz_after_s if buzz_after_s is None else float(buzz_after_s)
        self.buzz_repeat_s = (cfg.buzz_repeat_s if buzz_repeat_s is None
                              else float(buzz_repeat_s))      # 0: never again
        self.break_after_s = cfg.break_after_s if break_after_s is None else float(break_after_s)
        self.on_label = on_label
        self.reference: dict | None = None
        self.reference_info: dict = {}
        self.reference_time_s = reference_time_s
        self._n_ref = max(1, int(round(cfg.reference_s / cfg.epoch_s)))
        self._buf: deque[Epoch] = deque()
        self._recent: deque[Epoch] = deque(maxlen=max(1, int(round(120.0 / cfg.epoch_s))))
        if reference is not None:
            self._set_reference(dict(reference), source="given", start=None, end=None)
        self.slouch = EpisodeTracker(cfg.slouch_min_s, cfg.gap_max_s, "slouch")
        self.head = EpisodeTracker(cfg.head_forward_min_s, cfg.head_forward_gap_s,
                                   "head_forward")
        self.brk = EpisodeTracker(cfg.break_min_s, cfg.break_gap_s, "break",
                                  min_qualified_s=cfg.break_evidence_s)
        self.bouts: list[tuple[float, float]] = []
        self.bout_start: float | None = None
        self.in_break = False
        self.start_s: float | None = None      # first analysed epoch (the reference start)
        self.now = math.nan
        self.last: EpochLabel | None = None
        self.counts = {"slouch_buzzes": 0, "head_forward_buzzes": 0, "break_reminders": 0}
        # per kind: (episode start, time of its last buzz, buzzes in it)
        self._buzzed: dict = {"slouch": None, "head_forward": None}
        self._reminded: tuple | None = None      # (bout start, time, reminders in it)
        self.time_s = {"sitting_epochs": 0.0, "standing": 0.0, "walking": 0.0,
                       "forward_lean": 0.0, "unknown": 0.0}
        self.finished = False

    # -- reference --------------------------------------------------------------------
    def _set_reference(self, ref: dict, source: str, start, end, note: str = "") -> None:
        self.reference = {a: float(ref.get(a, math.nan)) for a in ANGLES}
        self.reference_info = {"source": source, "start_s": start, "end_s": end}
        if note:
            self.reference_info["note"] = note

    def _mean_ref(self, eps) -> dict:
        out = {}
        for i, a in enumerate(ANGLES):
            vals = [e.angles[i] for e in eps if math.isfinite(e.angles[i])]
            out[a] = sum(vals) / len(vals) if vals else math.nan
        return out

    def _try_reference(self, ep: Epoch) -> list[Epoch] | None:
        """Collect epochs until the reference is known; then return the epochs to analyse
        (from the reference start on)."""
        cfg = self.cfg
        T = self.reference_time_s
        if T is not None:
            if ep.t0 < T - 1e-9:
                return None
            end = T + cfg.reference_s
            if ep.t1 <= end + 1e-9:
                self._buf.append(ep)
                return None
            win = [e for e in self._buf if e.t1 <= end + 1e-9]
            eps = [e for e in win if math.isfinite(e.angles[0])] or win
            if not eps:
                eps = [ep]
            self._set_reference(self._mean_ref(eps), "event", eps[0].t0, eps[-1].t1,
                                note=f"mean over the {cfg.reference_s:g} s after the "
                                     f"'{cfg.reference_event}' event at {T:.1f} s")
            replay = list(self._buf) + [ep]
            self._buf.clear()
            return replay
        # automatic: the first reference_s of still sitting after the calibration
        if self._buf and ep.k != self._buf[-1].k + 1:
            self._buf.clear()
        if not (is_still(ep, cfg) and looks_seated(ep, cfg)):
            self._buf.clear()
            return None
        self._buf.append(ep)
        if len(self._buf) < self._n_ref:
            return None
        for i, lim in ((0, cfg.still_range_deg), (2, cfg.still_head_range_deg),
                       (3, cfg.still_range_deg)):
            vals = [e.angles[i] for e in self._buf if math.isfinite(e.angles[i])]
            if vals and max(vals) - min(vals) > lim:
                self._buf.popleft()
                return None
        eps = list(self._buf)
        self._set_reference(self._mean_ref(eps), "auto", eps[0].t0, eps[-1].t1,
                            note=f"no '{cfg.reference_event}' event: the first "
                                 f"{cfg.reference_s:g} s of still sitting after the "
                                 f"calibration")
        self._buf.clear()
        return eps

    # -- feeding ----------------------------------------------------------------------
    def set_reference_time(self, time_s: float) -> None:
        """The sitting reference starts at ``time_s`` (may be up to 2 min in the past)."""
        if self.reference is not None:
            return
        self.reference_time_s = float(time_s)
        self._buf = deque(e for e in self._recent if e.t0 >= self.reference_time_s - 1e-9)

    def feed(self, ep: Epoch) -> list[Notice]:
        self.now = ep.t1
        if self.reference is None:
            self._recent.append(ep)
            todo = self._try_reference(ep)
            if todo is None:
                return []
            notes = [Notice("reference", ep.t1, "sitting reference taken",
                            {**self.reference_info, **self.reference})]
            for e in todo:
                notes += self._analyse(e)
            return notes
        return self._analyse(ep)

    def _analyse(self, ep: Epoch) -> list[Notice]:
        cfg, ref = self.cfg, self.reference
        if self.start_s is None:
            self.start_s = ep.t0
            self.bout_start = ep.t0
        rel = tuple(v - ref[a] for v, a in zip(ep.angles, ANGLES))
        act, strict = classify_activity(ep, ref, cfg)
        standish = act == STAND
        # standing-like posture without walking or strict standing may be a seated forward
        # lean: it still counts as sitting for the posture measures
        sit = act == SIT or (act == STAND and not strict)
        if sit:
            act = SIT
        rp, rt, _, rl, rn = rel
        slouch_post = sit and (rp < -cfg.slouch_pelvis_deg or rl > cfg.slouch_lumbar_deg)
        lean = sit and not slouch_post and rt > cfg.lean_thorax_deg
        head_fwd = sit and rn > cfg.head_forward_deg
        trunk = (TRUNK_NONE if not sit else TRUNK_SLOUCH if slouch_post
                 else TRUNK_LEAN if lean else TRUNK_UPRIGHT)
        dt = ep.t1 - ep.t0
        key = {SIT: "sitting_epochs", STAND: "standing", WALK: "walking",
               UNKNOWN: "unknown"}[act]
        self.time_s[key] += dt
        if lean:
            self.time_s["forward_lean"] += dt
        notes: list[Notice] = []
        now = ep.t1
        for what in self.brk.update(ep.t0, ep.t1, act in (STAND, WALK) or standish,
                                    qualifies=act == WALK or strict):
            if what == "confirmed":
                b0 = self.brk.start
                if self.bout_start is not None and b0 > self.bout_start:
                    self.bouts.append((self.bout_start, b0))
                self.bout_start = None
                self.in_break = True
                notes.append(Notice("break_start", now, "break: standing or walking",
                                    {"start_s": b0}))
            elif what == "closed":
                s, e = self.brk.episodes[-1]
                self._end_break(e)
                notes.append(Notice("break_end", now, "break over",
                                    {"start_s": s, "end_s": e}))
        for tracker, cond, kind in ((self.slouch, slouch_post, "slouch"),
                                    (self.head, head_fwd, "head_forward")):
            for what in tracker.update(ep.t0, ep.t1, cond):
                if what == "closed":
                    s, e = tracker.episodes[-1]
                    notes.append(Notice(f"{kind}_episode", now, f"{kind} episode",
                                        {"start_s": s, "end_s": e}))
            if cond and tracker.start is not None:
                n = self._due(self._buzzed[kind], tracker.start, now, self.buzz_after_s,
                              self.buzz_repeat_s, cfg.buzz_repeat_max)
                if n:
                    self._buzzed[kind] = (tracker.start, now, n)
                    self.counts[f"{kind}_buzzes"] += 1
                    again = f" (reminder {n - 1})" if n > 1 else ""
                    notes.append(Notice(f"{kind}_buzz", now,
                                        f"{kind.replace('_', ' ')} for "
                                        f"{_dur(now - tracker.start)}{again}",
                                        {"start_s": tracker.start, "nth": n}))
        if self.bout_start is not None and self.brk.start is None:
            n = self._due(self._reminded, self.bout_start, now, self.break_after_s,
                          cfg.break_repeat_s if self.buzz_repeat_s > 0 else 0.0,
                          cfg.break_repeat_max)
            if n:
                self._reminded = (self.bout_start, now, n)
                self.counts["break_reminders"] += 1
                notes.append(Notice("break_reminder", now,
                                    f"sitting for {(now - self.bout_start) / 60:.0f} min: "
                                    f"time for a break", {"bout_start_s": self.bout_start,
                                                          "nth": n}))
        lab = EpochLabel(ep.k, ep.t0, ep.t1, act, trunk, head_fwd, rel)
        self.last = lab
        if self.on_label is not None:
            self.on_label(ep, lab)
        return notes

    @staticmethod
    def _due(last: tuple | None, start: float, now: float, after_s: float, repeat_s: float,
             repeat_max: int) -> int:
        """The number of this alert within the episode or bout that began at ``start`` when
        one is due now (the first after ``after_s``, then every ``repeat_s`` up to
        ``repeat_max`` more), else 0."""
        if last is None or last[0] != start:
            return 1 if now - start >= after_s - 1e-9 else 0
        _, t_last, n = last
        if repeat_s <= 0 or n > repeat_max or now - t_last < repeat_s - 1e-9:
            return 0
        return n + 1

    def _end_break(self, e: float) -> None:
        self.in_break = False
        self.bout_start = e

    def finish(self, end_s: float | None = None) -> list[Notice]:
        """Close what is open at the end of the data (``end_s``: the end of the recording,
        default the end of the last epoch)."""
        if self.finished:
            return []
        self.finished = True
        notes = []
        if self.reference is None and self.reference_time_s is not None and self._buf:
            # the data ended inside the reference window: use what there is
            eps = list(self._buf)
            self._buf.clear()
            self._set_reference(self._mean_ref(eps), "event", eps[0].t0, eps[-1].t1,
                                note="recording ended within the reference window")
            for e in eps:
                notes += self._analyse(e)
        end = self.now if end_s is None else max(end_s, self.now if math.isfinite(self.now)
                                                 else end_s)
        if self.brk.finish():
            s, e = self.brk.episodes[-1]
            if not self.in_break and self.bout_start is not None and s > self.bout_start:
                self.bouts.append((self.bout_start, s))
            self.bout_start = None
            self.in_break = False
        elif self.bout_start is not None and math.isfinite(self.now):
            if self.now > self.bout_start:
                self.bouts.append((self.bout_start, self.now))
            self.bout_start = None
        self.slouch.finish()
        self.head.finish()
        self.end_s = end
        return notes

    # -- state for the live tool ------------------------------------------------------
    def state(self) -> dict:
        lab = self.last
        if self.reference is None or lab is None:
            return {"phase": "waiting for the sitting reference", "time_s": self.now}
        from .activity import ACTIVITY_NAMES
        trunk = {TRUNK_NONE: None, TRUNK_UPRIGHT: "upright", TRUNK_SLOUCH: "slouched",
                 TRUNK_LEAN: "forward lean"}[lab.trunk]
        return {
            "phase": "running",
            "time_s": self.now,
            "activity": ACTIVITY_NAMES[lab.activity],
            "trunk": trunk,
            "head_forward": lab.head_forward,
            "slouch_s": self.slouch.active_s(self.now),
            "head_forward_s": self.head.active_s(self.now),
            "in_break": self.in_break,
            "sitting_bout_s": (self.now - self.bout_start) if self.bout_start is not None
            else 0.0,
            "rel_deg": dict(zip(ANGLES, lab.rel)),
        }
