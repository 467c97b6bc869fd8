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
