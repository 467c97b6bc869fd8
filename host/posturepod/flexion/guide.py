"""Guided capture of the standing flexion test: prompts, automatic phase detection from
the live (causal) angles, warnings when a phase is done wrong, events written into the
recording, then the offline analysis and report at once.

Phases: the guided calibration (:mod:`posturepod.motion.calibration_guide`: stand, bend,
settle, solve) -> test bends (each: trunk past 30 deg and back below 10 deg) -> done.
Events: the calibration ones, rep_start, rep_end (and warn:* with the warning text)."""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from posturepod.motion.calibration_guide import (CalibrationGuide, CalibrationSettings,
                                                 angle_text, attach_live, guide_view)


@dataclass
class GuideSettings(CalibrationSettings):
    rep_start_deg: float = 30.0     # a test bend: trunk beyond this ...
    rep_end_deg: float = 10.0       # ... and back below this
    reps: int = 3
    finish_s: float = 3.0           # keep recording after the last bend (settling)
    slip_deg: float = 8.0           # standing between bends: a segment this far from 0 has slipped


PROMPTS = {
    "reps": "Test: bend forward slowly as far as you can, then come back up. ({done}/{n} done)",
    "finish": "Well done. Stand still a moment...",
    "done": "Done. Analysing...",
}


@dataclass
class FlexionGuide(CalibrationGuide):
    settings: GuideSettings = field(default_factory=GuideSettings)
    after_calibration: str = "reps"
    reps_done: int = 0
    _in_rep: bool = False
    _rep_peak: float = 0.0
    _trace: deque = field(default_factory=lambda: deque(maxlen=600))
    _finish_at: float = 0.0

    def tick_after(self, t: float) -> bool:
        s = self.settings
        if self.phase == "reps":
            a = self.live.angles()
            trunk = a["thorax_deg"]
            self._trace.append((trunk, a["pelvis_deg"]))
            if not math.isnan(trunk):
                self._speed_check(trunk, t, "bend")
                if not self._in_rep and trunk > s.rep_start_deg:
                    self._in_rep = True
                    self._rep_peak = trunk
                    self.mark("rep_start", t)
                elif self._in_rep:
                    self._rep_peak = max(self._rep_peak, trunk)
                    if trunk < s.rep_end_deg:
                        self._in_rep = False
                        self.reps_done += 1
                        self.mark("rep_end", t)
                else:
                    for seg in ("pelvis", "thorax", "head"):
                        v = a.get(f"{seg}_deg", float("nan"))
                        if seg in self.live.pods and not math.isnan(v) and \
                                abs(v) > s.slip_deg and self.steady(seg):
                            self._warn(f"{seg} pod reads {v:+.0f} deg standing: "
                                       f"it may have slipped, check the clip", t)
            if self.reps_done >= s.reps:
                self.phase = "finish"
                self._finish_at = t + s.finish_s
        elif self.phase == "finish":
            if t >= self._finish_at:
                self.phase = "done"
                return True
        return self.phase == "done"

    def prompt(self) -> str:
        return PROMPTS.get(self.phase, "").format(done=self.reps_done, n=self.settings.reps) \
            or super().prompt()

    def trace_plot(self, width: int = 46, height: int = 12) -> str:
        """Trunk (x, 0..120 deg) against pelvis (y, 0..80 deg) in text, with the normal
        band (pelvis about half the trunk angle late in the bend) as dots."""
        grid = [[" "] * width for _ in range(height)]
        for x in range(width):
            trunk = 120.0 * x / (width - 1)
            lo = max(0.0, 0.55 * trunk - 10) if trunk > 60 else max(0.0, 0.3 * trunk - 5)
            y = int(round((height - 1) * (1 - lo / 80.0)))
            if 0 <= y < height:
                grid[y][x] = "."
        for trunk, pelvis in self._trace:
            if math.isnan(trunk) or math.isnan(pelvis):
                continue
            x = int(round((width - 1) * min(max(trunk, 0), 120) / 120))
            y = int(round((height - 1) * (1 - min(max(pelvis, 0), 80) / 80)))
            grid[y][x] = "*"
        rows = ["pelvis " + ("80" if i == 0 else "  ") + " |" + "".join(r)
                for i, r in enumerate(grid)]
        rows.append("          +" + "-" * width)
        rows.append("           0" + " " * (width - 12) + "trunk 120")
        return "\n".join(rows)



def render(guide: FlexionGuide, session, elapsed: float):
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text
    from posturepod.pods.acquire import status_table
    warn = "\n".join(f"! {m}" for _, m in guide.warnings[-3:])
    body = [Text(guide.prompt(), style="bold"), Text(angle_text(guide.live.angles()))]
    if guide.phase in ("reps", "done"):
        body.append(Text(guide.trace_plot()))
    if warn:
        body.append(Text(warn, style="yellow"))
    body.append(status_table(session, elapsed, title="flexion test"))
    return Panel(Group(*body), title="posturepod flexion", expand=False)


def run_guided(pods: dict[str, str], out, *, reps: int = 3, patient: str = "",
               live_view: bool = True, max_s: float = 600.0, extra_meta=None) -> dict:
    """Guided capture, then the offline analysis. Returns the guide's summary."""
    from posturepod.pods.acquire import record
    state: dict = {}

    def connected(session):
        live, mark, events = attach_live(session)
        state["guide"] = FlexionGuide(live, mark, GuideSettings(reps=reps), events=events)

    def tick(session, el):
        g = state.get("guide")
        if g is None:
            return False
        if el > max_s:
            g.warnings.append((el, f"stopped after {max_s:.0f} s"))
            return True
        return g.tick()

    record(pods, out, protocol="flexion", patient=patient, live=live_view, on_tick=tick,
           on_connected=connected, render=guide_view(state, render), extra_meta=extra_meta)
    g = state["guide"]
    lat = np.array(g.live.latency_s) if g.live.latency_s else np.zeros(1)
    return {"phase": g.phase, "reps": g.reps_done, "warnings": [m for _, m in g.warnings],
            "latency_ms_median": float(np.median(lat) * 1e3),
            "latency_ms_p99": float(np.percentile(lat, 99) * 1e3)}
