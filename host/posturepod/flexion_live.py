"""Guided capture of the standing flexion test: prompts, automatic phase detection from
the live (causal) angles, warnings when a phase is done wrong, events written into the
recording, then the offline analysis and report at once.

Phases: stand still (>= 5 s, all pods still) -> calibration bend (30-60 deg, slow) ->
stand still (2 s) -> calibration solved (the same code as offline) -> test bends (each:
trunk past 30 deg and back below 10 deg) -> done. Events: calib_stand, calib_bend,
calib_done, rep_start, rep_end (and warn:* with the warning text)."""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .live import LiveAngles


@dataclass
class GuideSettings:
    stand_s: float = 5.0            # quiet standing before the calibration bend
    still_gyr_rad_s: float = 0.15   # "still": every pod below this rotation rate
    calib_min_deg: float = 25.0     # calibration bend: asked 30-60 deg
    calib_max_deg: float = 75.0
    after_still_s: float = 2.0
    fast_deg_s: float = 90.0        # a bend faster than this (trunk angular speed) is too fast
    rep_start_deg: float = 30.0     # a test bend: trunk beyond this ...
    rep_end_deg: float = 10.0       # ... and back below this
    reps: int = 3
    finish_s: float = 3.0           # keep recording after the last bend (settling)
    slip_deg: float = 8.0           # standing between bends: a segment this far from 0 has slipped


PROMPTS = {
    "stand": "Stand upright, arms relaxed, and keep still.",
    "bend": "Calibration: bend forward slowly, about half way (30-60 degrees), and come back up.",
    "settle": "Stand still again.",
    "reps": "Test: bend forward slowly as far as you can, then come back up. ({done}/{n} done)",
    "finish": "Well done. Stand still a moment...",
    "done": "Done. Analysing...",
}


@dataclass
class FlexionGuide:
    live: LiveAngles
    mark: object                     # callable(label, t_rec_s)
    settings: GuideSettings = field(default_factory=GuideSettings)
    phase: str = "stand"
    warnings: list = field(default_factory=list)
    reps_done: int = 0
    _still_since: float | None = None
    _ref_up: dict = field(default_factory=dict)
    _bend_t0: float | None = None
    _bend_max: float = 0.0
    _in_rep: bool = False
    _rep_peak: float = 0.0
    _trace: deque = field(default_factory=lambda: deque(maxlen=600))
    _prev: tuple | None = None
    _calib_error: str = ""
    _finish_at: float = 0.0
    events: list = field(default_factory=list)   # events written so far (calibration input)
    after_calibration: str = "reps"

    def _warn(self, msg: str, t: float) -> None:
        if not self.warnings or self.warnings[-1][1] != msg:
            self.warnings.append((t, msg))
            self.mark("warn:" + msg, t)

    def all_still(self) -> bool:
        return all(self.live.still(r, 0.5, self.settings.still_gyr_rad_s)
                   for r in self.live.pods)

    def tick(self) -> bool:
        """Advance the guide; returns True when the protocol is complete."""
        s = self.settings
        t = self.live.time_s()
        if self.phase == "stand":
            if self.all_still():
                if self._still_since is None:
                    self._still_since = t - 0.5
                    self._ref_up = {r: self.live.up_in_sensor(r) for r in self.live.pods}
                elif t - self._still_since >= s.stand_s:
                    self.mark("calib_stand", self._still_since)
                    self._ref_up = {r: self.live.up_in_sensor(r) for r in self.live.pods}
                    self.phase = "bend"
            else:
                if self._still_since is not None and t - self._still_since > 1.0:
                    self._warn("moved during the calibration stand: stand still again", t)
                self._still_since = None
        elif self.phase == "bend":
            tilt = self.live.tilt_deg("thorax", self._ref_up["thorax"]) \
                if "thorax" in self.live.pods else 0.0
            if self._bend_t0 is None and tilt > 5.0:
                self._bend_t0 = t
                self.mark("calib_bend", t)
            if self._bend_t0 is not None:
                self._bend_max = max(self._bend_max, tilt)
                self._speed_check(tilt, t, "calibration bend")
                if tilt < 5.0 and t - self._bend_t0 > 1.0:
                    if self._bend_max < s.calib_min_deg:
                        self._warn(f"calibration bend only {self._bend_max:.0f} deg: "
                                   f"bend further (30-60)", t)
                    elif self._bend_max > s.calib_max_deg:
                        self._warn(f"calibration bend {self._bend_max:.0f} deg: "
                                   f"only half way is needed", t)
                    self.phase = "settle"
                    self._still_since = None
        elif self.phase == "settle":
            if self.all_still():
                if self._still_since is None:
                    self._still_since = t
                elif t - self._still_since >= s.after_still_s:
                    try:
                        self.live.calibrate(self.events)
                        self.mark("calib_done", t)
                        self.phase = self.after_calibration
                    except Exception as e:  # noqa: BLE001 - any failure: do it again
                        self._calib_error = str(e)
                        self._warn(f"calibration failed: {e}; once more please", t)
                        self.phase = "stand"
                        self._still_since = None
                        self._bend_t0 = None
                        self._bend_max = 0.0
            else:
                self._still_since = None
        elif self.phase not in ("reps", "finish"):
            return self.tick_after(t)
        elif self.phase == "reps":
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
                elif self.all_still():
                    for seg in ("pelvis", "thorax", "head"):
                        v = a.get(f"{seg}_deg", float("nan"))
                        if not math.isnan(v) and abs(v) > s.slip_deg:
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

    def tick_after(self, t: float) -> bool:
        """Phases after the calibration, for guides built on this one."""
        return self.phase == "done"

    def _speed_check(self, angle: float, t: float, what: str) -> None:
        if self._prev is not None:
            dt = t - self._prev[1]
            if 0.05 < dt < 1.0:
                if abs(angle - self._prev[0]) / dt > self.settings.fast_deg_s:
                    self._warn(f"{what} too fast: slower please", t)
        self._prev = (angle, t)

    def prompt(self) -> str:
        return PROMPTS.get(self.phase, "").format(done=self.reps_done, n=self.settings.reps)

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


def angle_text(angles: dict) -> str:
    """One line of the five angles for the live views."""
    return "angles (deg): " + "  ".join(
        f"{k[:-4]} {v:+6.1f}" if not math.isnan(v) else f"{k[:-4]}   -- "
        for k, v in angles.items())


def attach_live(session) -> tuple[LiveAngles, object, list]:
    """Live angles fed by the session's pods, and a ``mark(label, t_rec_s)`` that writes an
    event into the recording and keeps it in the returned list (the guides' events)."""
    infos = {r: ps.link.info for r, ps in session.pods.items()}
    live = LiveAngles(infos, t0=session.recorder.t0)
    events: list = []

    def mark(label, t_rec):
        events.append(session.recorder.event(label, session.recorder.t0 + t_rec))

    session.on_samples = live.on_samples
    return live, mark, events


def guide_view(state: dict, render_fn):
    """The live view for acquire.record: the status table until the guide exists."""
    def view(session, el):
        g = state.get("guide")
        if g is None:
            from .acquire import status_table
            return status_table(session, el)
        return render_fn(g, session, el)
    return view


def render(guide: FlexionGuide, session, elapsed: float):
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text
    from .acquire import status_table
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
    from .acquire import record
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
