"""The sitting HTML report: self-contained, every figure an inline SVG with drawn paths,
renders in headless Chromium to a non-blank page."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from test_sitting import analyse_synth, synth_day

from posturepod.report import html as H
from posturepod.sitting.report import build_report, write_report


@pytest.fixture(scope="module")
def result():
    day = synth_day(6, duration_s=2.5 * 3600)
    res = analyse_synth(day)
    res.summary.update(patient="P-42", recorded_at="2026-02-03T08:45:00",
                       recording="/data/P-42/2026-02-03")
    return res


def _history():
    return [{"protocol": "sitting", "patient": "P-42", "recorded_at": f"2026-01-{d:02d}T09:00",
             "_dir": f"2026-01-{d:02d}",
             "summary": {"sitting_min": 400 + d, "slouch_pct": 30.0 - d, "head_forward_pct": 12.0,
                         "breaks": d, "longest_sitting_bout_min": 80 - d}} for d in (5, 12, 19)]


def _figures(text):
    return re.findall(r"<figure.*?</figure>", text, flags=re.S)


def test_report_is_self_contained_with_svg_figures(result, tmp_path):
    text = build_report(result, history=_history())
    assert text.startswith("<!DOCTYPE html>")
    assert H.external_references(text) == []
    assert "<script" not in text.lower() and "<img" not in text.lower()
    figs = _figures(text)
    assert len(figs) >= 6          # timeline, hourly, distributions, bouts, chain, history
    for f in figs:
        assert "<svg" in f
        paths = re.findall(r'<path[^>]*\sd="([^"]+)"', f)
        assert len(paths) > 10, "figure without drawn paths"
    for word in ("Posterior", "Compared with earlier days", "P-42", "Longest sitting bout",
                 "Hour by hour", "sit_reference"):
        assert word in text or word.lower() in text.lower()
    out = write_report(tmp_path / "r.html", result, history=_history())
    # the file holds the same page (the figures' SVG ids are numbered per rendering, and the
    # footer's "Generated" minute changes when the two renderings straddle a minute)
    def same(x):
        return re.sub(r"fig\d+-", "fig-", re.sub(r"Generated [\d-]+ [\d:]+", "Generated", x))
    assert same(out.read_text(encoding="utf-8")) == same(text)


def test_report_without_reference_or_history(result):
    s = dict(result.summary)
    text = build_report(result)
    assert "No earlier day" in text
    s["reference"] = {"source": "none", "note": "no sitting reference found"}
    res2 = type(result)(summary=s, timeline=result.timeline)
    assert "no sitting reference found" in build_report(res2)


def _chromium():
    for c in ("/usr/bin/chromium", shutil.which("chromium") or "",
              shutil.which("chromium-browser") or ""):
        if c and os.path.exists(c):
            return c
    return None


def test_report_renders_in_headless_chromium(result, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("headless Chromium not installed (Debian package 'chromium': "
                    "apt-get install -y chromium)")
    page = write_report(tmp_path / "sitting.html", result, history=_history())
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as prof:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={prof}",
               f"--screenshot={shot}", "--window-size=1200,3000", page.resolve().as_uri()]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 10000, "no screenshot"
    from matplotlib.image import imread
    img = imread(str(shot))
    grey = img[..., :3].mean(axis=2)
    assert float(np.var(grey)) > 1e-3, "blank screenshot"
    # the figures are drawn: many rows of the page carry non-white, non-text colour
    coloured = (np.abs(img[..., 0] - img[..., 2]) > 0.2).any(axis=1).sum()
    assert coloured > 300
    keep = os.environ.get("POSTUREPOD_KEEP_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(shot.read_bytes())


def test_citations_resolve_to_the_checked_reference_list(result):
    """Every [Author YYYY] cited in the page is in REFERENCES, and the list is the one
    checked against the sources on 2026-12-04 (docs/flexion.md, "References")."""
    from posturepod.sitting.report import REFERENCES
    keys = [k for k, _ in REFERENCES]
    assert keys == ["Claus 2009", "O'Sullivan 2006", "O'Sullivan 2012", "Caneiro 2010",
                    "Kendall 2005", "Healy 2008", "Dunstan 2012"]
    for key, entry in REFERENCES:
        assert key.split()[-1] in entry and key.split()[0] in entry, key
    text = build_report(result)
    cited = set()
    for group in re.findall(r"\[([^\[\]]*?(?:19|20)\d\d[^\[\]]*)\]", text):
        cited |= set(re.findall(r"[A-Z][A-Za-z'&#;0-9]*? (?:19|20)\d\d", group))
    cited = {c.replace("&#x27;", "'").replace("&#39;", "'") for c in cited}
    assert {"Healy 2008", "Dunstan 2012", "Caneiro 2010"} <= cited
    assert cited <= set(keys), cited - set(keys)
    assert "Najafi" not in text and "before publication" not in text


def test_report_shows_the_buzzes_really_given_and_one_duration_style(result):
    """The live tool's buzz events are what the wearer felt: the report shows them beside
    what the analysis would give, instead of only the latter (the demo buzzed twice while
    the report said 'would have given: 0'); durations read 43 s, 4 min 05 s, 2 h 05 min."""
    import re
    from posturepod.sitting.report import _hm
    assert (_hm(43.2), _hm(245.0), _hm(7500.0)) == ("43 s", "4 min 05 s", "2 h 05 min")
    s = dict(result.summary)
    s["live_alerts"] = {"slouch_buzzes": 2, "head_forward_buzzes": 1, "break_reminders": 0}
    text = build_report(type(result)(summary=s, timeline=result.timeline))
    plain = re.sub(r"<[^>]+>", " ", text)
    assert re.search(r"Buzzes given live\s+2 slouch, 1 head forward", plain), plain[:3000]
    assert "Alerts by this analysis" in plain and "would have given" not in plain
    assert "shorter slumps are not counted" in plain
    assert "Buzzes given live" not in build_report(result)       # no live run: not invented


def test_the_live_tools_buzz_events_are_counted():
    from posturepod.recordings.data import Event
    from posturepod.sim.simulate import simulate
    from posturepod.sitting import analyse_recording
    rec = simulate("sitting", 3, duration_s=240.0, rate_hz=50.0).recording
    assert "live_alerts" not in analyse_recording(rec).summary
    rec.events += [Event(100.0, "buzz:slouch_buzz"), Event(220.0, "buzz:slouch_buzz"),
                   Event(150.0, "buzz:break_reminder"), Event(151.0, "notice:slouch_episode")]
    assert analyse_recording(rec).summary["live_alerts"] == {
        "slouch_buzzes": 2, "head_forward_buzzes": 0, "break_reminders": 1}


def test_what_next_follows_the_days_numbers(result):
    from posturepod.sitting.report import what_next
    s = dict(result.summary)
    base = what_next(s)
    assert base[-1].startswith("Measure again")
    long_day = {**s, "longest_sitting_bout_s": 3 * 3600.0, "sitting_s": 6 * 3600.0,
                "slouch_s": 3 * 3600.0, "head_forward_s": 0.0}
    tips = " ".join(what_next(long_day))
    assert "every 30 min" in tips and "3 h 00 min" in tips and "Slouched for 50%" in tips
    assert "Head forward" not in tips
    fine = {**s, "longest_sitting_bout_s": 600.0, "sitting_s": 3600.0, "slouch_s": 60.0,
            "head_forward_s": 60.0}
    assert what_next(fine)[0].startswith("Nothing stands out")
    text = build_report(result)
    assert 'id="next"' in text and "What next" in text


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset: POSIX only")
def test_clock_times_and_the_recorded_date_in_the_same_local_time(result, monkeypatch):
    """A recording's date without a zone is UTC: the header's "Recorded" time and the clock
    times of the tables (breaks, hours) both show it in this computer's local time."""
    from posturepod.sitting.report import _clock_start
    monkeypatch.setenv("TZ", "EST+5")          # UTC-5, no daylight saving
    time.tzset()
    try:
        s = dict(result.summary, recorded_at="2026-02-03T08:45:00")
        c0 = _clock_start(s)
        assert c0 is not None and c0.strftime("%H:%M") == "03:45"
        assert _clock_start(dict(s, recorded_at="2026-02-03T08:45:00+00:00")) == c0
        assert "03:45 (UTC-05:00)" in H.local_time(s["recorded_at"])
        text = build_report(type(result)(summary=s, timeline=result.timeline))
        assert "04:45" in text and "08:45" not in text        # the hour-by-hour rows
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
