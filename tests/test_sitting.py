"""Sitting analysis (issue 7): episodes, breaks, reference, streaming, live monitor, CLI.

Synthetic days are built here directly as angle series + pelvis acceleration (no dependency
on angles.py); the end-to-end tests run simulate() -> angles -> analysis.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from posturepod.sitting import (LivePostureMonitor, analyse_chunks,
                                earlier_days, write_result)
from posturepod.sitting.episodes import EpisodeTracker

G = 9.80665


# --------------------------------------------------------------------------- synthetic day
@dataclass
class Series:
    time_s: np.ndarray
    pelvis_deg: np.ndarray
    thorax_deg: np.ndarray
    head_deg: np.ndarray
    lumbar_deg: np.ndarray
    neck_deg: np.ndarray
    meta: dict = field(default_factory=dict)


@dataclass
class Ev:
    time_s: float
    label: str


@dataclass
class SynthDay:
    series: Series
    acc_t: np.ndarray
    acc: np.ndarray
    events: list
    truth: dict
    ref: dict

    def chunks(self, chunk_s: float):
        s, t = self.series, self.series.time_s
        step = max(1, int(round(chunk_s / (t[1] - t[0]))))
        for i in range(0, len(t), step):
            sl = slice(i, i + step)
            yield Series(t[sl], s.pelvis_deg[sl], s.thorax_deg[sl], s.head_deg[sl],
                         s.lumbar_deg[sl], s.neck_deg[sl])


def synth_day(seed: int, duration_s: float = 3600.0, rate_hz: float = 25.0,
              with_event: bool = True) -> SynthDay:
    """Calibration stand, sit, reference, then blocks: upright, slouch (>= 75 s), short
    fidget slouches (< 45 s), forward lean from the hips (neutral spine), head forward
    (>= 40 s, or short < 20 s), chair swivels (acc bumps), head turns (brief neck
    artefacts), short stands (< 20 s) and walking breaks (>= 40 s)."""
    r = np.random.default_rng(seed)
    ref = {"pelvis": r.uniform(-22, -10), "lumbar": r.uniform(6, 15), "neck": r.uniform(0, 6)}
    # keyframes of (time, pelvis, lumbar, neck, mode) ; mode 0 sit, 1 stand, 2 walk
    keys = [(0.0, 0.0, 0.0, 0.0, 1)]
    truth = {"slouch_episodes": [], "head_forward_episodes": [], "breaks": []}
    swivels, turns = [], []

    def hold(t, dur, p, lu, nk, mode=0):
        keys.append((t, p, lu, nk, mode))
        keys.append((t + dur, p, lu, nk, mode))
        return t + dur

    def move(t, dur, p, lu, nk, mode=0):
        keys.append((t + dur, p, lu, nk, mode))
        return t + dur

    t = hold(0.0, 15.0, 0, 0, 0, 1)
    t = move(t, 2.0, ref["pelvis"], ref["lumbar"], ref["neck"])      # sit down
    t_ref = t + 2.0
    t = hold(t, 12.0, ref["pelvis"], ref["lumbar"], ref["neck"])
    kinds = ["slouch", "fidget", "lean", "head", "walk", "stand", "upright"]
    order = list(r.permutation(kinds[:6]))
    base = (ref["pelvis"], ref["lumbar"], ref["neck"])
    while t < duration_s - 400:
        t = hold(t, r.uniform(20, 120), *base)
        if r.random() < 0.5:
            swivels.append(t - r.uniform(5, 15))
        if r.random() < 0.4:
            turns.append(t - r.uniform(5, 15))
        kind = order.pop(0) if order else r.choice(kinds, p=[.25, .15, .15, .15, .1, .1, .1])
        if kind == "slouch":
            v = r.choice(["both", "pelvis", "lumbar"])
            dp = -r.uniform(14, 22) if v != "lumbar" else r.uniform(-4, 2)
            dl = r.uniform(14, 22) if v != "pelvis" else r.uniform(0, 5)
            dur = r.uniform(75, 300)
            t1 = move(t, 2.0, ref["pelvis"] + dp, ref["lumbar"] + dl, ref["neck"] + 3)
            truth["slouch_episodes"].append((t + 1.0, t1 + dur + 1.0))
            t = hold(t1, dur, ref["pelvis"] + dp, ref["lumbar"] + dl, ref["neck"] + 3)
            t = move(t, 2.0, *base)
        elif kind == "fidget":
            dur = r.uniform(8, 45)
            t1 = move(t, 1.5, ref["pelvis"] - 18, ref["lumbar"] + 16, ref["neck"])
            t = hold(t1, dur, ref["pelvis"] - 18, ref["lumbar"] + 16, ref["neck"])
            t = move(t, 1.5, *base)
        elif kind == "lean":
            d = r.uniform(15, 30)
            t1 = move(t, 2.0, ref["pelvis"] + d, ref["lumbar"] + r.uniform(-3, 3), ref["neck"])
            t = hold(t1, r.uniform(30, 200), ref["pelvis"] + d, keys[-1][2], ref["neck"])
            t = move(t, 2.0, *base)
        elif kind == "head":
            long = r.random() < 0.7
            dur = r.uniform(40, 200) if long else r.uniform(5, 20)
            nk = ref["neck"] + r.uniform(19, 30)
            t1 = move(t, 2.0, ref["pelvis"], ref["lumbar"], nk)
            if long:
                truth["head_forward_episodes"].append((t + 1.0, t1 + dur + 1.0))
            t = hold(t1, dur, ref["pelvis"], ref["lumbar"], nk)
            t = move(t, 2.0, *base)
        elif kind in ("walk", "stand"):
            t_up = move(t, 2.5, 0, 0, 0, 1)
            if kind == "walk":
                walk = r.uniform(26, 90)
                t2 = hold(t_up, 3.0, 0, 0, 0, 1)
                t2 = hold(t2, walk, 0, 0, 0, 2)
                t2 = hold(t2, 3.0, 0, 0, 0, 1)
                truth["breaks"].append((t + 1.25, t2 + 1.25))
            else:
                t2 = hold(t_up, r.uniform(4, 15), 0, 0, 0, 1)
            t = move(t2, 2.5, *base)
    t = hold(t, duration_s - t, *base)
    kt = np.array([k[0] for k in keys])
    n = int(duration_s * rate_hz)
    tt = np.arange(n) / rate_hz
    pel = np.interp(tt, kt, [k[1] for k in keys])
    lum = np.interp(tt, kt, [k[2] for k in keys])
    nk = np.interp(tt, kt, [k[3] for k in keys])
    mode = np.asarray([k[4] for k in keys])[np.clip(np.searchsorted(kt, tt, "right") - 1, 0,
                                                    len(kt) - 1)]
    # noise, slow drift, breathing
    drift = lambda a, f: a * np.sin(2 * np.pi * f * tt + r.uniform(0, 6))  # noqa: E731
    pel = pel + r.normal(0, 0.6, n) + drift(1.0, 1 / 900)
    lum = lum + r.normal(0, 0.6, n) + drift(1.0, 1 / 700) + drift(0.4, 0.25)
    nk = nk + r.normal(0, 0.8, n) + drift(1.2, 1 / 500)
    walking = mode == 2
    step_hz = r.uniform(1.7, 2.1)
    ph = 2 * np.pi * step_hz * tt
    pel = pel + walking * 2.0 * np.sin(ph / 2)
    for s in turns:                                   # head turns: brief neck artefacts
        m = (tt > s) & (tt < s + r.uniform(2, 5))
        nk[m] += r.uniform(-8, 8)
    thor = pel + lum
    head = thor + nk
    # pelvis acceleration, sensor frame of a randomly oriented pod
    acc_mag = G + r.normal(0, 0.04, n)
    acc_mag += walking * (2.2 * np.sin(ph) + 0.6 * np.sin(2 * ph + 1.0))
    for s in swivels:                                 # chair swivels: non-periodic bumps
        m = (tt > s) & (tt < s + 2.5)
        acc_mag[m] += r.normal(0, 0.7, m.sum())
    rot = _random_rotation(r)
    g_dir = np.array([0.0, 0.0, 1.0])
    acc = (acc_mag[:, None] * g_dir[None, :]) @ rot.T
    series = Series(tt, pel, thor, head, lum, nk)
    events = [Ev(0.5, "calib_stand")] + ([Ev(t_ref, "sit_reference")] if with_event else [])
    truth["reference"] = {"pelvis_deg": ref["pelvis"], "lumbar_deg": ref["lumbar"],
                          "neck_deg": ref["neck"], "start_s": t_ref}
    for k in ("slouch_episodes", "head_forward_episodes", "breaks"):
        truth[k] = [{"start_s": a, "end_s": b} for a, b in truth[k]]
    truth["slouch_s"] = sum(e["end_s"] - e["start_s"] for e in truth["slouch_episodes"])
    truth["head_forward_s"] = sum(e["end_s"] - e["start_s"]
                                  for e in truth["head_forward_episodes"])
    return SynthDay(series, tt, acc, events, truth, ref)


def _random_rotation(r):
    q = r.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def analyse_synth(day: SynthDay, chunk_s: float = 600.0, **kw):
    return analyse_chunks(day.chunks(chunk_s), events=day.events,
                          pelvis_acc=(day.acc_t, day.acc), acc_rate_hz=25.0,
                          span_s=(0.0, float(day.series.time_s[-1])), **kw)


def assert_matches(truth_eps, got_eps, tol_s=5.0, what=""):
    """Every truth episode found with both boundaries within tol_s; no false ones."""
    assert len(got_eps) == len(truth_eps), (what, truth_eps, got_eps)
    for t, g in zip(sorted(truth_eps, key=lambda e: e["start_s"]),
                    sorted(got_eps, key=lambda e: e["start_s"])):
        assert abs(g["start_s"] - t["start_s"]) <= tol_s, (what, t, g)
        assert abs(g["end_s"] - t["end_s"]) <= tol_s, (what, t, g)


def assert_time(truth_s, got_s, what):
    if truth_s == 0:
        assert got_s == 0, what
    else:
        assert abs(got_s - truth_s) <= 0.05 * truth_s, (what, truth_s, got_s)


# --------------------------------------------------------------------------- unit tests
def test_episode_tracker_min_length_and_gaps():
    tr = EpisodeTracker(min_s=60, gap_s=5)
    cond = np.zeros(400, bool)
    cond[10:50] = True          # 40 s: too short
    cond[100:140] = True        # 40 s + gap 4 s + 30 s: joined, 74 s
    cond[144:174] = True
    cond[250:320] = True        # 70 s, then a gap of exactly 5 s splits
    cond[325:340] = True
    for k, c in enumerate(cond):
        tr.update(float(k), float(k + 1), bool(c))
    tr.finish()
    assert tr.episodes == [(100.0, 174.0), (250.0, 320.0)]


def test_episode_tracker_needs_evidence():
    tr = EpisodeTracker(min_s=30, gap_s=2, min_qualified_s=5)
    for k in range(60):
        tr.update(float(k), float(k + 1), True, qualifies=False)
    tr.finish()
    assert tr.episodes == []
    tr = EpisodeTracker(min_s=30, gap_s=2, min_qualified_s=5)
    for k in range(60):
        tr.update(float(k), float(k + 1), True, qualifies=20 <= k < 26)
    tr.finish()
    assert tr.episodes == [(0.0, 60.0)]


# --------------------------------------------------------------------------- synthetic days
@pytest.mark.parametrize("seed", range(12))
def test_synthetic_day_episodes_breaks_and_times(seed):
    day = synth_day(seed, duration_s=3600.0)
    s = analyse_synth(day).summary
    tr = day.truth
    assert s["reference"]["source"] == "event"
    assert abs(s["reference"]["pelvis_deg"] - tr["reference"]["pelvis_deg"]) < 1.5
    assert_matches(tr["slouch_episodes"], s["slouch_episodes"], what="slouch")
    assert_matches(tr["head_forward_episodes"], s["head_forward_episodes"], what="head")
    assert_matches(tr["breaks"], s["breaks"], what="breaks")
    assert_time(tr["slouch_s"], s["slouch_s"], "slouch_s")
    assert_time(tr["head_forward_s"], s["head_forward_s"], "head_forward_s")


def test_forward_lean_is_not_a_slouch():
    """Turn all upright sitting into leaning forward from the hips by 25 deg with a neutral
    spine: no slouch, no break appears; the lean is reported as forward lean."""
    day = synth_day(3)
    s, ref = day.series, day.ref
    m = ((np.abs(s.pelvis_deg - ref["pelvis"]) < 6) & (np.abs(s.lumbar_deg - ref["lumbar"]) < 6)
         & (s.time_s > day.truth["reference"]["start_s"] + 30))
    for a in (s.pelvis_deg, s.thorax_deg, s.head_deg):
        a[m] += 25.0
    res = analyse_synth(day).summary
    assert res["forward_lean_s"] > 0.4 * res["sitting_s"]
    assert_matches(day.truth["slouch_episodes"], res["slouch_episodes"], what="slouch")
    assert_matches(day.truth["breaks"], res["breaks"], what="breaks")


def test_chunk_size_does_not_change_anything():
    day = synth_day(5, duration_s=1800.0)
    a = analyse_synth(day, chunk_s=600.0).summary
    b = analyse_synth(day, chunk_s=7.3).summary
    for k in ("slouch_episodes", "head_forward_episodes", "breaks", "sitting_bouts",
              "slouch_s", "head_forward_s", "sitting_s", "reference", "hourly"):
        assert a[k] == b[k], k


def test_auto_reference_without_event():
    day = synth_day(7, duration_s=1800.0, with_event=False)
    s = analyse_synth(day).summary
    ref = s["reference"]
    assert ref["source"] == "auto"
    assert any("still sitting" in n for n in s["notes"])
    assert abs(ref["pelvis_deg"] - day.truth["reference"]["pelvis_deg"]) < 2.0
    assert abs(ref["start_s"] - day.truth["reference"]["start_s"]) < 10.0
    assert_matches(day.truth["slouch_episodes"], s["slouch_episodes"], what="slouch")


def test_result_contract_keys_and_hourly():
    day = synth_day(1, duration_s=2 * 3600.0 + 600)
    s = analyse_synth(day).summary
    for k in ("protocol", "duration_s", "sitting_s", "slouch_s", "head_forward_s",
              "slouch_episodes", "head_forward_episodes", "breaks",
              "longest_sitting_bout_s", "reference", "hourly"):
        assert k in s, k
    assert s["protocol"] == "sitting"
    assert len(s["hourly"]) == 3
    assert abs(sum(h["slouch_min"] for h in s["hourly"]) * 60 - s["slouch_s"]) < 1.0
    assert abs(sum(h["sitting_min"] for h in s["hourly"]) * 60 - s["sitting_s"]) < 1.0
    for e in s["slouch_episodes"] + s["breaks"]:
        assert set(e) >= {"start_s", "end_s"}
    bouts = s["sitting_bouts"]
    assert s["longest_sitting_bout_s"] == max(b["duration_s"] for b in bouts)
    for b, brk in zip(bouts[1:], s["breaks"]):
        assert b["start_s"] == brk["end_s"]
    json.dumps(s, allow_nan=False)


# --------------------------------------------------------------------------- live monitor
def test_live_monitor_matches_offline_and_buzzes():
    day = synth_day(2, duration_s=1500.0)
    off = analyse_synth(day, buzz_after_s=45.0, break_after_s=600.0)
    live = LivePostureMonitor(buzz_after_s=45.0, break_after_s=600.0, acc_rate_hz=25.0,
                              reference_time_s=day.events[-1].time_s)
    s = day.series
    notes = []
    for i in range(len(s.time_s)):
        notes += live.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i], s.head_deg[i],
                             s.lumbar_deg[i], s.neck_deg[i], acc=day.acc[i])
    notes += live.finish()
    o = off.summary
    pick = lambda eps: [(e["start_s"], e["end_s"]) for e in eps]  # noqa: E731
    assert [(round(a, 3), round(b, 3)) for a, b in live.slouch_episodes] == \
        pick(o["slouch_episodes"])
    assert [(round(a, 3), round(b, 3)) for a, b in live.head_forward_episodes] == \
        pick(o["head_forward_episodes"])
    assert [(round(a, 3), round(b, 3)) for a, b in live.breaks] == pick(o["breaks"])
    assert [(round(a, 3), round(b, 3)) for a, b in live.sitting_bouts] == \
        pick(o["sitting_bouts"])
    buzz = [n for n in notes if n.kind == "slouch_buzz"]
    assert len(buzz) == o["alerts"]["slouch_buzzes"] >= len(o["slouch_episodes"])
    # buzzed once the slouch had lasted buzz_after_s, not before; then again every 120 s
    # (buzz_repeat_s) while it lasted, at most 3 more times
    for n in buzz:
        due = 45.0 + (n.data["nth"] - 1) * 120.0
        assert due - 1e-6 <= n.time_s - n.data["start_s"] <= due + 3.0, (n, due)
    per_episode: dict = {}
    for n in buzz:
        per_episode.setdefault(n.data["start_s"], []).append(n.data["nth"])
    for start, nths in per_episode.items():
        assert nths == list(range(1, len(nths) + 1)) and len(nths) <= 4, (start, nths)
    assert [n.kind for n in notes].count("break_reminder") == o["alerts"]["break_reminders"]
    assert live.state["phase"] == "running"


@pytest.mark.parametrize("repeat_s, want", [(120.0, [1, 2, 3]), (60.0, [1, 2, 3, 4]),
                                            (0.0, [1])])
def test_a_wearer_who_stays_slouched_is_buzzed_again(repeat_s, want):
    """Seed 7: one slouch of about 300 s. With buzz_after 45 s the wearer is buzzed at 45 s,
    then every repeat_s while still slouched, at most 3 more times; 0 = once."""
    day = synth_day(7, duration_s=1500.0)
    ep = day.truth["slouch_episodes"][0]
    mon = LivePostureMonitor(buzz_after_s=45.0, break_after_s=3600.0, acc_rate_hz=25.0,
                             reference_time_s=day.events[-1].time_s, buzz_repeat_s=repeat_s)
    s = day.series
    notes = []
    for i in range(len(s.time_s)):
        notes += mon.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i], s.head_deg[i],
                            s.lumbar_deg[i], s.neck_deg[i], acc=day.acc[i])
    buzz = [n for n in notes if n.kind == "slouch_buzz"]
    assert [n.data["nth"] for n in buzz] == want, [(n.time_s, n.message) for n in buzz]
    for n in buzz:
        assert abs(n.time_s - (ep["start_s"] + 45.0 + (n.data["nth"] - 1) * repeat_s)) < 4.0
        assert n.time_s < ep["end_s"] + 2.0
    assert ("reminder" in buzz[-1].message) == (len(buzz) > 1)


def test_live_monitor_state_and_reference_button():
    day = synth_day(4, duration_s=400.0)
    mon = LivePostureMonitor(acc_rate_hz=25.0)
    s = day.series
    t_ref = day.truth["reference"]["start_s"]
    assert mon.state["phase"].startswith("waiting")
    kinds = []
    for i in range(len(s.time_s)):
        if i == int(t_ref * 25):
            mon.mark_reference(s.time_s[i])
        kinds += [n.kind for n in mon.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i],
                                             s.head_deg[i], acc=day.acc[i])]
    assert "reference" in kinds
    st = mon.state
    assert st["activity"] in ("sitting", "standing", "walking")
    assert set(st["rel_deg"]) == {"pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg",
                                  "neck_deg"}


# --------------------------------------------------------------------------- files, CLI
def test_write_result_and_earlier_days(tmp_path):
    for i, (pat, when) in enumerate((("P1", "2026-01-02T09:00:00"),
                                     ("P2", "2026-01-03T09:00:00"),
                                     ("P1", "2026-01-01T09:00:00"))):
        d = tmp_path / f"day{i}"
        d.mkdir()
        write_result({"protocol": "sitting", "patient": pat, "recorded_at": when,
                      "summary": {"slouch_pct": 10.0 + i}}, d)
    (tmp_path / "day3").mkdir()
    (tmp_path / "day3" / "sitting.json").write_text("{not json")
    got = earlier_days(tmp_path / "day0", "P1")
    assert [g["_dir"] for g in got] == ["day2"]
    assert earlier_days(tmp_path / "day9", "P1")[0]["_dir"] == "day2"
    assert earlier_days(tmp_path / "day0", None) == []


@pytest.fixture(scope="module")
def sim_day_dir(tmp_path_factory):
    from posturepod.sim import simulate as sim
    d = tmp_path_factory.mktemp("simday") / "2026-01-07"
    res = sim.simulate("sitting", seed=11, rate_hz=50.0, duration_s=1200.0)
    sim.write_sim(res, d)
    meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").exists() else {}
    meta["recorded_at"] = "2026-01-07T09:15:00"
    (d / "meta.json").write_text(json.dumps(meta))
    return d, res.truth


def test_cli_json_and_sitting_json(sim_day_dir, capsys):
    from posturepod.cli import main
    d, truth = sim_day_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["sitting", str(d), "--json", "--patient", "P-07"])
    assert rc == 0
    out = capsys.readouterr().out
    obj = json.loads(out)            # exactly one JSON object on stdout
    assert out.strip().startswith("{") and out.strip().endswith("}")
    for k in ("protocol", "duration_s", "sitting_s", "slouch_s", "head_forward_s",
              "slouch_episodes", "head_forward_episodes", "breaks", "longest_sitting_bout_s",
              "reference", "hourly"):
        assert k in obj
    assert obj["reference"]["source"] == "event"
    saved = json.loads((d / "sitting.json").read_text())
    assert saved["patient"] == "P-07"
    assert saved["recorded_at"] == "2026-01-07T09:15:00"
    assert isinstance(saved["summary"], dict)
    from posturepod.report.history import read_session
    ses = read_session(d / "sitting.json")
    assert ses.protocol == "sitting" and ses.patient == "P-07"
    assert_matches(truth["slouch_episodes"], obj["slouch_episodes"], what="slouch")


def test_cli_live_mode_wants_role_and_port(capsys):
    from posturepod.cli import main
    assert main(["sitting", "--pod", "/dev/ttyACM0"]) == 2
    assert "--pod wants ROLE=PORT" in capsys.readouterr().err


def test_cli_text_output(sim_day_dir, capsys):
    from posturepod.cli import main
    d, _ = sim_day_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["sitting", str(d), "--no-save", "--buzz-after", "30",
                     "--break-after", "10"]) == 0
    out = capsys.readouterr().out
    assert "slouched" in out and "breaks" in out


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 3, 8, 13, 21, 34])
def test_simulated_day_end_to_end(seed):
    """simulate() (random pod mountings, sensor and clock errors) -> angles -> analysis:
    slouch and head-forward time within 5 % of truth, every episode and break found with
    no false ones, boundaries within 5 s."""
    from posturepod.sim import simulate as sim
    from posturepod.sitting import analyse_recording
    res = sim.simulate("sitting", seed=seed, rate_hz=50.0, duration_s=2400.0)
    tr = res.truth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = analyse_recording(res.recording).summary
    assert_matches(tr["slouch_episodes"], s["slouch_episodes"], what="slouch")
    assert_matches(tr["head_forward_episodes"], s["head_forward_episodes"], what="head")
    assert_matches(tr["breaks"], s["breaks"], what="breaks")
    assert_time(tr["slouch_s"], s["slouch_s"], "slouch_s")
    assert_time(tr["head_forward_s"], s["head_forward_s"], "head_forward_s")
    assert abs(s["sitting_s"] - tr["sitting_s"]) < 0.03 * tr["sitting_s"]
    for k in ("pelvis_deg", "lumbar_deg", "neck_deg"):
        assert abs(s["reference"][k] - tr["reference"][k]) < 3.0, k
    assert not math.isnan(s["longest_sitting_bout_s"])


def test_live_reference_marked_late_uses_recent_epochs():
    """The live tool may mark the reference after the fact (the wearer sat still for a
    while): the monitor takes the 5 s after the marked time from its recent epochs."""
    day = synth_day(9, duration_s=300.0)
    s = day.series
    t_ref = day.truth["reference"]["start_s"]
    mon = LivePostureMonitor(acc_rate_hz=25.0, reference_time_s=None)
    mon.engine._n_ref = 10 ** 6            # no automatic reference in this test
    marked = False
    for i in range(len(s.time_s)):
        if not marked and s.time_s[i] >= t_ref + 8.0:
            mon.mark_reference(t_ref)
            marked = True
        mon.update(s.time_s[i], s.pelvis_deg[i], s.thorax_deg[i], s.head_deg[i],
                   acc=day.acc[i])
    ref = mon.reference
    assert ref is not None
    assert abs(ref["pelvis_deg"] - day.ref["pelvis"]) < 1.5
    info = mon.engine.reference_info
    assert info["start_s"] >= t_ref and info["end_s"] <= t_ref + 5.0 + 1e-9


def test_analysis_reads_recordings_slice_by_slice(sim_day_dir, tmp_path, monkeypatch):
    """The whole sitting analysis, from a native recording and from a CSV read on demand,
    never turns a whole column into an array (what keeps an 8-hour day's memory flat;
    bench/day_sitting.py measures it), and finds the same as from the CSV in memory."""
    from posturepod.recordings import csvio
    from posturepod.recordings.columns import Column
    from posturepod.recordings.loader import load
    from posturepod.recordings.writer import write_native
    from posturepod.sitting import analyse_recording
    d, _ = sim_day_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = analyse_recording(load(d)).summary
        write_native(load(d), tmp_path / "nat")

        def whole(self, *a, **k):
            raise AssertionError(f"a whole {type(self).__name__} was materialised")
        monkeypatch.setattr(Column, "__array__", whole)
        monkeypatch.setattr(csvio, "STREAM_MIN_BYTES", 0)
        for rec in (load(tmp_path / "nat"), load(d)):
            assert isinstance(rec.pods["pelvis"].time_s, Column)
            got = analyse_recording(rec).summary
            for k in ("slouch_episodes", "head_forward_episodes", "breaks"):
                assert len(got[k]) == len(want[k]), k
                for a, b in zip(got[k], want[k]):
                    assert abs(a["start_s"] - b["start_s"]) <= 1.0, (k, a, b)
                    assert abs(a["end_s"] - b["end_s"]) <= 1.0, (k, a, b)
            assert got["slouch_s"] == pytest.approx(want["slouch_s"], abs=3.0)
