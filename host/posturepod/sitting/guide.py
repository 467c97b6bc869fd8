"""Live sitting: guides the calibration and the sitting reference, records, shows the
current posture and today's totals, buzzes the chosen pod (the firmware's buzz command)
when a slouch or head-forward posture has lasted longer than ``buzz_after_s``, and reminds
of a break after ``break_after_s`` of continuous sitting.

Decisions come from :class:`posturepod.sitting.live.LivePostureMonitor`, fed with the
causal (live) angles: the same engine the offline analysis runs, so the feedback matches
what the report later finds. Events written: the calibration ones, ``sit_reference``,
``buzz:<kind>`` and ``notice:<kind>``."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from posturepod.motion.calibration_guide import (CalibrationGuide, angle_text, attach_live,
                                                 guide_view)

PROMPTS = {
    "sit": "Sit down on your chair, sit upright and keep still for 5 s (your reference).",
    "monitor": "Monitoring your sitting. Work as usual.",
}


@dataclass
class SittingGuide(CalibrationGuide):
    after_calibration: str = "sit"
    monitor: object = None            # LivePostureMonitor
    buzz: object = None               # callable(kind, message)
    reference_s: float = 5.0
    notices: list = field(default_factory=list)
    total_s: float | None = None      # planned length of the session (--seconds), if any
    _sit_since: float | None = None
    _acc_role: str = "pelvis"

    def prompt(self) -> str:
        return PROMPTS.get(self.phase) or super().prompt()

    def tick_after(self, t: float) -> bool:
        a = self.live.angles()
        if any(math.isnan(v) for v in a.values()):
            return False
        p = self.live.pods.get(self._acc_role)
        acc = p.acc_last if p is not None else None
        notes = self.monitor.update(t, a["pelvis_deg"], a["thorax_deg"], a["head_deg"],
                                    a["lumbar_deg"], a["neck_deg"], acc=acc)
        if self.phase == "sit":
            seated = a["pelvis_deg"] < -5.0 and self.all_still()
            if seated:
                if self._sit_since is None:
                    self._sit_since = t
                elif t - self._sit_since >= self.reference_s:
                    self.mark("sit_reference", self._sit_since)
                    self.monitor.mark_reference(self._sit_since)
                    self.phase = "monitor"
            else:
                self._sit_since = None
        for n in notes:
            self.notices.append(n)
            if n.kind.endswith("_buzz") or n.kind == "break_reminder":
                self.mark(f"buzz:{n.kind}", t)
                if self.buzz:
                    self.buzz(n.kind, n.message)
            elif n.kind != "reference":
                self.mark(f"notice:{n.kind}", n.time_s)
        return False

    def totals(self) -> dict:
        out = {"slouch_buzzes": 0, "head_forward_buzzes": 0, "break_reminders": 0}
        for n in self.notices:
            if n.kind == "slouch_buzz":
                out["slouch_buzzes"] += 1
            elif n.kind == "head_forward_buzz":
                out["head_forward_buzzes"] += 1
            elif n.kind == "break_reminder":
                out["break_reminders"] += 1
        return out


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def status_line(state: dict) -> str:
    """What the wearer reads now, from ``PostureEngine.state()``: "now: slouched for 0:35 /
    head forward for 0:12 / sitting 12 min", or what the tool is waiting for."""
    if state.get("phase") != "running":
        return f"now: {state.get('phase', 'starting')}"
    parts = []
    activity = state.get("activity")
    if activity and activity != "sitting":
        parts.append(activity)
    trunk = state.get("trunk")
    if trunk == "slouched":
        parts.append(f"slouched for {_mmss(state.get('slouch_s') or 0.0)}")
    elif trunk:
        parts.append(trunk)
    if state.get("head_forward"):
        parts.append(f"head forward for {_mmss(state.get('head_forward_s') or 0.0)}")
    elif trunk is not None:
        parts.append("head OK")
    bout = state.get("sitting_bout_s") or 0.0
    if bout > 0:
        parts.append(f"sitting {int(bout // 60)} min" if bout >= 60 else
                     f"sitting {int(bout)} s")
    return "now: " + (" / ".join(parts) if parts else "-")


def render(guide: SittingGuide, session, elapsed: float):
    """The wearer's screen: what to do, the posture now in words, today's alerts with clock
    times, pod trouble in red; the engineering table only when something is wrong."""
    import time as _time
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text
    from posturepod.pods.acquire import pod_problems, status_table
    eng = getattr(guide.monitor, "engine", None)
    state = eng.state() if eng is not None else {}
    rel = state.get("rel_deg")
    if rel:       # what the thresholds look at: the angles against upright sitting
        shown = {k: rel[k] for k in ("pelvis_deg", "lumbar_deg", "neck_deg") if k in rel}
        angles = angle_text(shown, "vs your upright sitting")
    else:
        angles = angle_text(guide.live.angles())
    body = [Text(guide.prompt(), style="bold"), Text(angles)]
    if eng is not None:
        body.append(Text(status_line(state), style="bold"))
    tot = guide.totals()
    body.append(Text(f"today: {tot['slouch_buzzes']} slouch buzzes, "
                     f"{tot['head_forward_buzzes']} head-forward buzzes, "
                     f"{tot['break_reminders']} break reminders"))
    # the newest data of any pod is "now" (a silent pod must not hold the clock back)
    now_s = max([p.t_last for p in guide.live.pods.values() if p.t_last is not None],
                default=0.0)
    for n in guide.notices[-3:]:
        clock = _time.strftime("%H:%M", _time.localtime(_time.time() - (now_s - n.time_s)))
        body.append(Text(f"{clock}  {n.message}", style="yellow"))
    for _, m in guide.warnings[-2:]:
        body.append(Text(f"! {m}", style="yellow"))
    problems = pod_problems(session)
    for m in problems:
        body.append(Text(f"! {m}", style="bold red"))
    if problems:
        body.append(status_table(session, elapsed, title="pods"))
    done = f"recording {_mmss(elapsed)}" + (f" of {_mmss(guide.total_s)}"
                                            if guide.total_s else "")
    body.append(Text(f"{done} · Ctrl-C stops and writes the report", style="dim"))
    return Panel(Group(*body), title="posturepod sitting", expand=False, width=80)


def buzz_pattern(kind: str, ms: int = 400) -> tuple[int, ...]:
    """What each alert feels like (played by the firmware, docs/sitting.md): sit up = one
    long pulse; head = two short; take a break = three short and a long."""
    if kind == "head_forward_buzz":
        return (ms // 2, 150, ms // 2)
    if kind == "break_reminder":
        return (150, 150, 150, 150, 150, 150, ms)
    return (ms,)


def run_live(pods: dict[str, str], out, *, buzz_after_s: float = 60.0,
             break_after_s: float = 1800.0, buzz_pod: str = "thorax", buzz_ms: int = 400,
             seconds: float | None = None, patient: str = "", live_view: bool = True,
             extra_meta=None, buzz_repeat_s: float | None = None) -> dict:
    from posturepod.pods.acquire import record
    from posturepod.sitting.live import LivePostureMonitor
    state: dict = {}

    def connected(session):
        live, mark, events = attach_live(session)

        def buzz(kind, message):
            role = buzz_pod if buzz_pod in session.pods else next(iter(session.pods))
            try:
                session.pods[role].link.buzz(pattern=buzz_pattern(kind, buzz_ms))
                state["buzzes"].append((kind, live.time_s()))
            except Exception as e:  # noqa: BLE001 - feedback must not stop the recording
                guide.warnings.append((live.time_s(), f"buzz failed: {e}"))

        mon = LivePostureMonitor(buzz_after_s=buzz_after_s, break_after_s=break_after_s,
                                 acc_rate_hz=20.0, buzz_repeat_s=buzz_repeat_s)
        guide = SittingGuide(live, mark, monitor=mon, buzz=buzz, events=events,
                             total_s=seconds)
        state["guide"] = guide
        state["buzzes"] = []
        state["t_tick"] = -1.0

    def tick(session, el):
        g = state.get("guide")
        if g is None:
            return False
        if seconds is not None and el >= seconds:
            return True
        t = g.live.time_s()
        if t - state["t_tick"] >= 0.05:          # the monitor runs at 20 Hz
            state["t_tick"] = t
            g.tick()
        return False

    record(pods, out, protocol="sitting", patient=patient, live=live_view, on_tick=tick,
           on_connected=connected, render=guide_view(state, render), extra_meta=extra_meta)
    g = state["guide"]
    return {"phase": g.phase, "buzzes": state["buzzes"], **g.totals(),
            "warnings": [m for _, m in g.warnings]}
