"""``posturepod wear``: get the pods ready for a day on their own.

With the pods streaming (the ordinary acquisition, recorded into the wear directory), the
guided calibration (:class:`~posturepod.motion.calibration_guide.CalibrationGuide`, or a
saved calibration), then the seated reference exactly as the live sitting tool takes it
(:class:`~posturepod.sitting.guide.SittingGuide`: sit upright and still for 5 s; the
:class:`~posturepod.sitting.live.LivePostureMonitor` averages it); then each pod is armed
(docs/protocol.md ``arm``) with its segment axes, its seated angle, its rule and buzz
pattern (:mod:`posturepod.sitting.standalone`), quiet hours, the wall time and the radio
choice, and the host leaves. ``stream_until`` (host monotonic time) keeps recording the raw
stream after the arming (the demo's ``--with-stream``: the same day both ways, for
comparison; the pods log and buzz on their own all the same).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .standalone import arm_settings, describe_arming


class WearError(Exception):
    pass


def local_utc_offset_min() -> int:
    return int(time.localtime().tm_gmtoff // 60)


def parse_quiet(items) -> list[list[int]]:
    """``HH:MM-HH:MM`` (may wrap midnight) -> [[start_min, end_min], ...]."""
    out = []
    for it in items or []:
        try:
            a, b = it.split("-")
            mins = []
            for x in (a, b):
                h, m = x.strip().split(":")
                if not (0 <= int(h) < 24 and 0 <= int(m) < 60):
                    raise ValueError
                mins.append(int(h) * 60 + int(m))
        except ValueError:
            raise ValueError(f"--quiet wants HH:MM-HH:MM, e.g. 12:00-13:00 (got {it!r})"
                             ) from None
        out.append(mins)
    return out


def run_wear(pods: dict[str, str], out, *, calibration=None, quiet=(), utc_offset_min=None,
             radio: str = "off", live_view: bool = True, stream_until: float | None = None,
             timeout_s: float | None = 600.0, patient: str = "", extra_meta=None,
             log=print) -> dict:
    """Calibrate (or use ``calibration``), take the seated reference, arm every pod.
    Returns {"settings": role -> arm args, "replies": role -> reply, "reference": ...,
    "recording": path, "notices": the live rule's notices while streaming after}."""
    from posturepod.motion.calibration_guide import attach_live, guide_view
    from posturepod.pods.acquire import record
    from posturepod.sitting.guide import SittingGuide, render
    from posturepod.sitting.live import LivePostureMonitor
    utc_off = local_utc_offset_min() if utc_offset_min is None else int(utc_offset_min)
    state: dict = {"armed_at": None, "error": None}

    def connected(session):
        live, mark, events = attach_live(session)
        mon = LivePostureMonitor(acc_rate_hz=20.0)
        g = SittingGuide(live, mark, monitor=mon, buzz=None, events=events)
        if calibration is not None:
            live.calibration = calibration
            g.phase = "sit"
        state["guide"] = g
        state["t_tick"] = -1.0

    def arm(session, g) -> None:
        cal = g.live.calibration
        ref = g.monitor.reference
        wall = int(time.time())
        for role, ps in session.pods.items():
            st = arm_settings(role, cal.pods[role].axes_in_sensor,
                              float(ref[f"{role}_deg"]), wall_s=wall, utc_offset_min=utc_off,
                              quiet=list(quiet), radio=radio, pod_cal=cal.pods[role])
            rep = ps.link.request("arm", timeout_s=3.0, **st).body
            state.setdefault("settings", {})[role] = st
            state.setdefault("replies", {})[role] = rep
            g.mark(f"armed:{role}", g.live.time_s())
        state["armed_at"] = time.monotonic()
        state["cal"] = cal
        state["ref"] = dict(ref)

    def tick(session, el):
        g = state.get("guide")
        if g is None:
            return False
        if timeout_s is not None and state["armed_at"] is None and el >= timeout_s:
            state["error"] = (f"no calibration and seated reference within {timeout_s:.0f} s "
                              f"(now: {g.phase}); the pods were NOT armed")
            return True
        t = g.live.time_s()
        if t - state["t_tick"] >= 0.05:
            state["t_tick"] = t
            g.tick()
        if state["armed_at"] is None and g.phase == "monitor" \
                and g.monitor.reference is not None:
            try:
                arm(session, g)
            except Exception as e:  # noqa: BLE001 - say which pod refused and stop
                done = ", ".join(state.get("replies", {})) or "none"
                state["error"] = f"arming failed: {e} (armed: {done})"
                return True
        return state["armed_at"] is not None and \
            (stream_until is None or time.monotonic() >= stream_until)

    path, _session = record(pods, out, protocol="sitting", patient=patient, live=live_view,
                            on_tick=tick, on_connected=connected,
                            render=guide_view(state, render), extra_meta=extra_meta)
    if state["error"]:
        raise WearError(state["error"])
    if state["armed_at"] is None:
        raise WearError("stopped before the pods were armed; they were NOT armed")
    out = Path(path)
    state["cal"].save(out / "calibration.json")
    arming = {"utc_offset_min": utc_off, "reference": state["ref"],
              "settings": state["settings"], "replies": state["replies"]}
    g = state["guide"]
    cal = state["cal"]
    if cal.grade != "good":       # a failed one never gets here (the guide asks again)
        g.warnings.append((0.0, f"the calibration is {cal.grade.upper()}: "
                                + "; ".join(cal.reasons or ["(no reason recorded)"])
                                + ": the pods' angles rest on it all day; wear again to redo it"))
    arming["calibration_quality"] = cal.grade
    (out / "arming.json").write_text(json.dumps(arming, indent=1))
    return {**arming, "recording": str(out), "calibration": state["cal"],
            "notices": list(g.notices), "warnings": [m for _, m in g.warnings]}


def what_pods_do(res: dict) -> list[str]:
    """One line per pod: what it will do now (printed by ``posturepod wear``)."""
    lines = []
    for role, st in res["settings"].items():
        rep = res["replies"].get(role, {})
        cap = rep.get("capacity_records")
        hours = f"; its log holds {cap / 3600:.1f} h" if cap else ""
        lines.append(describe_arming(role, st) + hours)
    return lines
