"""Forward-flexion analysis (posturepod.flexion.analysis, posturepod flexion): synthetic angle series
with known peaks, then end to end from simulate() through recording_angles()."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from posturepod.flexion import analysis as F

TOP_KEYS = {"protocol", "reps", "summary"}


# --------------------------------------------------------------------------- synthetic data
# Smooth bends with known peaks, built here so the analysis is tested without angles.py.
@dataclass
class SynthSeries:
    time_s: np.ndarray
    pelvis_deg: np.ndarray
    thorax_deg: np.ndarray
    head_deg: np.ndarray
    lumbar_deg: np.ndarray
    neck_deg: np.ndarray
    meta: dict = field(default_factory=dict)


@dataclass
class SynthEvent:
    time_s: float
    label: str


def _minjerk(x):
    x = np.clip(x, 0.0, 1.0)
    return 10 * x ** 3 - 15 * x ** 4 + 6 * x ** 5


def lumbar_of_trunk(trunk, pattern, going_down=True):
    """Lumbar angle as a function of trunk flexion for each pattern; a number as the
    pattern: that lumbar share all the way (lumbar = share * trunk)."""
    trunk = np.asarray(trunk, float)
    if isinstance(pattern, (int, float)):
        return float(pattern) * trunk
    if pattern == "normal":
        tau = 32.0 if going_down else 22.0     # lumbar leads going down, returns late
        return np.minimum(trunk, 48.0 * (1 - np.exp(-trunk / tau)))
    if pattern == "inhibited_hip":
        return 0.68 * trunk
    raise ValueError(pattern)


def make_series(peaks=(110, 112, 108), pattern="normal", *, rate_hz=100.0, seed=0,
                calib_peak=45.0, noise_deg=0.3, quiet_s=6.0, pause_s=3.0,
                down_s=3.0, hold_s=1.0, up_s=3.0, neck_gain=0.15, drift_deg=0.0,
                with_calibration=True):
    """Quiet standing, the calibration bend, then one bend per entry in ``peaks``.
    ``pattern`` may be a string or a list (one per bend). Returns (series, truth)."""
    rng = np.random.default_rng(seed)
    bends = []
    t0 = quiet_s
    if with_calibration:
        bends.append(("calib", calib_peak, t0, 2.5, 0.5, 2.5, "normal"))
        t0 += 2.5 + 0.5 + 2.5 + pause_s
    pats = [pattern] * len(peaks) if isinstance(pattern, str) else list(pattern)
    for pk, pat in zip(peaks, pats):
        bends.append(("rep", pk, t0, down_s, hold_s, up_s, pat))
        t0 += down_s + hold_s + up_s + pause_s
    dur = t0 + 2.0
    t = np.arange(0.0, dur, 1.0 / rate_hz)
    trunk = np.zeros_like(t)
    lumbar = np.zeros_like(t)
    truth_reps, events = [], []
    calib = None
    for kind, pk, ts, d, h, u, pat in bends:
        tp0, tp1, te = ts + d, ts + d + h, ts + d + h + u
        seg = (t >= ts) & (t <= te)
        down = (t >= ts) & (t < tp0)
        hold = (t >= tp0) & (t < tp1)
        up = (t >= tp1) & (t <= te)
        tr = np.zeros_like(t)
        tr[down] = pk * _minjerk((t[down] - ts) / d)
        tr[hold] = pk
        tr[up] = pk * (1 - _minjerk((t[up] - tp1) / u))
        lum = np.zeros_like(t)
        lum[down] = lumbar_of_trunk(tr[down], pat, True)
        lum[hold] = lumbar_of_trunk(pk, pat, True)
        lum[up] = lumbar_of_trunk(tr[up], pat, False)
        trunk[seg] = tr[seg]
        lumbar[seg] = lum[seg]
        if kind == "calib":
            calib = {"start_s": ts, "peak_s": tp0, "end_s": te, "peak_trunk_deg": pk}
            events.append(SynthEvent(ts, "calib_bend"))
        else:
            pel = tr - lum
            neck = neck_gain * tr
            truth_reps.append({"start_s": ts, "peak_s": tp0, "end_s": te,
                               "peak_trunk_deg": float(tr[seg].max()),
                               "peak_pelvis_deg": float(pel[seg].max()),
                               "peak_lumbar_deg": float(lum[seg].max()),
                               "peak_neck_deg": float(neck[seg].max()),
                               "lumbar_share": float(lumbar_of_trunk(pk, pat, True) / pk),
                               "pattern": pat})
            events.append(SynthEvent(ts - 0.5, "rep_start"))
    pelvis = trunk - lumbar
    neck = neck_gain * trunk
    drift = np.linspace(0.0, drift_deg, len(t))
    thorax_m = trunk + drift + rng.normal(0, noise_deg, len(t))
    pelvis_m = pelvis + drift + rng.normal(0, noise_deg, len(t))
    head_m = trunk + neck + drift + rng.normal(0, noise_deg, len(t))
    series = SynthSeries(time_s=t, pelvis_deg=pelvis_m, thorax_deg=thorax_m, head_deg=head_m,
                         lumbar_deg=thorax_m - pelvis_m, neck_deg=head_m - thorax_m,
                         meta={"source": "synthetic"})
    truth = {"reps": truth_reps, "calibration_bend": calib, "events": events}
    return series, truth



def make_rule_series(points, *, seed=0, noise_deg=0.0, **kw):
    """Bends with exact peaks at chosen ``(peak_pelvis_deg, lumbar_share)`` points: lumbar
    = share * trunk throughout, peak trunk = pelvis / (1 - share). Returns (series, truth)."""
    peaks = [p / (1.0 - sh) for p, sh in points]
    return make_series(peaks=peaks, pattern=[float(sh) for _, sh in points], seed=seed,
                       noise_deg=noise_deg, **kw)


def _match(reps, truth_reps, tol_s=1.5):
    """Pair found reps with truth reps by peak time."""
    pairs = []
    for tr in truth_reps:
        peak = tr["peak_s"]
        best = min(reps, key=lambda r: abs(r.peak_s - peak))
        assert abs(best.peak_s - peak) < tol_s, (best.peak_s, peak)
        pairs.append((best, tr))
    return pairs


# --------------------------------------------------------------------------- synthetic
@pytest.mark.parametrize("pattern", ["normal", "inhibited_hip"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_reps_peaks_and_verdict(pattern, seed):
    series, truth = make_series(peaks=(108, 115, 111, 113), pattern=pattern, seed=seed)
    res = F.analyze(series, events=None)
    assert len(res.reps) == 4
    # the calibration bend (45 deg, first bend) is excluded and reported
    cb = res.calibration_bend
    assert cb is not None and cb["identified_by"] == "first bend"
    assert abs(cb["peak_trunk_deg"] - 45.0) < 2.0
    assert all(r.start_s > truth["calibration_bend"]["end_s"] - 0.5 for r in res.reps)
    for rep, tr in _match(res.reps, truth["reps"]):
        for key in ("peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg", "peak_neck_deg"):
            assert abs(getattr(rep, key) - tr[key]) < 1.5, key
        assert abs(rep.lumbar_share - tr["lumbar_share"]) < 0.03
        assert rep.start_s < tr["peak_s"] < rep.end_s
        assert abs(rep.start_s - tr["start_s"]) < 1.0
        assert abs(rep.end_s - tr["end_s"]) < 1.0
        assert rep.pattern == pattern
    assert res.summary["pattern"] == pattern
    assert res.summary["n_reps"] == 4 and res.summary["n_conclusive"] == 4


def test_calibration_bend_found_by_event_even_when_not_first():
    # a stray bend before the calibration: the calib_bend event says which one it is
    series, truth = make_series(peaks=(110, 112), seed=4, quiet_s=12.0)
    t = series.time_s
    bump = 35 * np.exp(-0.5 * ((t - 4.0) / 0.6) ** 2)       # stray 35 deg bend at 4 s
    series.thorax_deg = series.thorax_deg + bump
    series.lumbar_deg = series.thorax_deg - series.pelvis_deg
    series.neck_deg = series.head_deg - series.thorax_deg
    res = F.analyze(series, events=truth["events"])
    assert res.calibration_bend["identified_by"].startswith("event")
    assert abs(res.calibration_bend["start_s"] - truth["calibration_bend"]["start_s"]) < 1.0
    assert len(res.reps) == 2
    assert [e["reason"] for e in res.excluded] == ["before the calibration bend"]
    # without events the first bend is taken as the calibration bend: the real calibration
    # bend then shows up as a (shallow, inconclusive) repetition, never as a judged one
    res2 = F.analyze(series, events=None)
    assert len(res2.reps) == 3 and res2.reps[0].pattern == F.INCONCLUSIVE


def test_shallow_bends_are_inconclusive():
    series, _ = make_series(peaks=(45, 52, 40), pattern="inhibited_hip", seed=3)
    res = F.analyze(series)
    assert len(res.reps) == 3
    assert all(r.pattern == F.INCONCLUSIVE for r in res.reps)
    assert res.summary["pattern"] == F.INCONCLUSIVE
    assert res.summary["n_conclusive"] == 0
    assert "shallow" in res.reps[0].reasons[0]


def test_mixed_depths_summary_uses_judged_reps():
    series, truth = make_series(peaks=(50, 110, 112, 55), pattern="inhibited_hip", seed=5)
    res = F.analyze(series)
    pats = [r.pattern for r in res.reps]
    assert pats == [F.INCONCLUSIVE, F.INHIBITED, F.INHIBITED, F.INCONCLUSIVE]
    assert res.summary["pattern"] == F.INHIBITED
    assert res.summary["n_conclusive"] == 2
    assert abs(res.summary["peak_trunk_deg"] - 111) < 2


def test_majority_and_tie():
    series, _ = make_series(peaks=(110, 112, 111), seed=6,
                            pattern=["normal", "inhibited_hip", "inhibited_hip"])
    res = F.analyze(series)
    assert [r.pattern for r in res.reps] == ["normal", "inhibited_hip", "inhibited_hip"]
    assert res.summary["pattern"] == F.INHIBITED
    assert res.summary["votes"] == {"normal": 1, "inhibited_hip": 2, "inconclusive": 0}


def test_rule_is_configurable():
    series, _ = make_series(peaks=(110, 112), pattern="normal", seed=7)
    # normal series: pelvis ~63, share ~0.42 -> inhibited only with a looser rule
    strict = F.analyze(series)
    assert strict.summary["pattern"] == F.NORMAL
    loose = F.analyze(series, config=F.FlexionConfig(rule=F.VerdictRule(max_pelvis_deg=70.0,
                                                                        min_lumbar_share=0.4)))
    assert loose.summary["pattern"] == F.INHIBITED
    either = F.VerdictRule(combine="or", min_lumbar_share=0.4)
    assert either.classify(110, 63, 0.42)[0] == F.INHIBITED
    assert F.VerdictRule().classify(110, 63, 0.42)[0] == F.NORMAL
    assert F.VerdictRule().classify(59.9, 20, 0.8)[0] == F.INCONCLUSIVE
    assert F.VerdictRule(min_trunk_deg=50).classify(59.9, 20, 0.8)[0] == F.INHIBITED
    assert F.VerdictRule().classify(100, 48, 0.52)[0] == F.INHIBITED
    assert F.VerdictRule().is_borderline(48, 0.7)
    with pytest.raises(ValueError):
        F.VerdictRule(combine="xor")


def test_rhythm_bins():
    series, _ = make_series(peaks=(112,), pattern="normal", seed=8, noise_deg=0.1)
    rep = F.analyze(series).reps[0]
    down = rep.rhythm["down"]
    assert [(b["trunk_from_deg"], b["trunk_to_deg"]) for b in down][:3] == [
        (0, 30), (30, 60), (60, 90)]
    assert down[-1]["partial"] and down[-1]["trunk_to_deg"] == pytest.approx(112, abs=1.5)
    for b in down[:3]:
        assert not b["partial"]
        assert b["lumbar_deg"] + b["pelvis_deg"] == pytest.approx(30, abs=2.5)
    # normal: the lumbar fraction falls from early to late in the bend
    fr = [b["lumbar_fraction"] for b in down]
    assert fr[0] > 0.8 and fr[0] > fr[1] > fr[2] > fr[3]
    assert down[2]["ratio"] < 0.5
    up = rep.rhythm["up"]
    assert len(up) == len(down)
    assert all(b["lumbar_deg"] >= -1 and b["pelvis_deg"] >= -1 for b in up)
    # inhibited (synthetic: lumbar = 0.68 trunk throughout): ratio about 0.68/0.32
    series, _ = make_series(peaks=(100,), pattern="inhibited_hip", seed=8, noise_deg=0.1)
    rep = F.analyze(series).reps[0]
    for direction in ("down", "up"):
        for b in rep.rhythm[direction]:
            assert b["ratio"] == pytest.approx(0.68 / 0.32, rel=0.2)
    # summary rhythm: mean over the repetitions, complete bins only
    s = F.analyze(make_series(peaks=(112, 114), seed=9)[0]).summary["rhythm"]
    assert [b["n"] for b in s["down"]] == [2, 2, 2]


def test_timing_and_smoothness():
    series, _ = make_series(peaks=(112,), pattern="normal", seed=10)
    rep = F.analyze(series).reps[0]
    tm = rep.timing
    assert tm["first_mover"] == "lumbar"
    assert tm["pelvis_takeover_trunk_deg"] is not None and 20 < tm["pelvis_takeover_trunk_deg"] < 80
    assert tm["return_order"] == "pelvis_first"
    assert tm["descent_lumbar_led_fraction"] < 0.6
    sm = rep.smoothness
    # one minimum-jerk movement: SPARC close to -1.41 (a little lower with sensor noise)
    assert -1.8 < sm["sparc_descent"] < -1.38 and -1.8 < sm["sparc_return"] < -1.38
    assert sm["ldlj"] is not None and sm["ldlj"] < 0
    # a jerky bend is less smooth
    t = series.time_s
    jerky = series.thorax_deg + 4 * np.sin(2 * np.pi * 2.5 * t) * (series.thorax_deg > 10)
    series.thorax_deg = jerky
    series.lumbar_deg = series.thorax_deg - series.pelvis_deg
    rep2 = F.analyze(series).reps[0]
    assert rep2.smoothness["sparc"] < sm["sparc"] - 0.3


def test_sparc_reference_values():
    fs = 200.0
    # Gaussian speed profile: |FFT| is Gaussian too, so the arc length is known in closed
    # form up to a 1-D integral: M(x) = exp(-ln(20) x^2) on x = f / f_cut in [0, 1]
    sigma = 0.1
    t = np.arange(-0.6, 0.6 + 1e-9, 1 / fs)
    v = np.exp(-t ** 2 / (2 * sigma ** 2))
    x = np.linspace(0, 1, 20001)
    dm = -2 * math.log(20) * x * np.exp(-math.log(20) * x ** 2)
    expected = -np.trapezoid(np.sqrt(1 + dm ** 2), x)
    assert F.sparc(v, fs) == pytest.approx(expected, abs=0.01)
    # minimum-jerk speed profile: about -1.41; two of them in a row are less smooth
    fs = 100.0
    t = np.arange(0, 1 + 1e-9, 1 / fs)
    mj = 30 * t ** 2 - 60 * t ** 3 + 30 * t ** 4
    assert F.sparc(mj, fs) == pytest.approx(-1.41, abs=0.03)
    assert F.sparc(np.concatenate([mj, mj]), fs) < F.sparc(mj, fs) - 0.3
    assert F.sparc(np.zeros(50), fs) is None
    # LDLJ: a jerkier profile scores lower
    wobble = mj * (1 + 0.2 * np.sin(2 * np.pi * 6 * t))
    assert F.ldlj(wobble, fs) < F.ldlj(mj, fs)


def test_gaps_drift_and_irregular_time():
    series, truth = make_series(peaks=(110, 112, 111), pattern="inhibited_hip", seed=11,
                                drift_deg=2.0)
    # lose 0.3 s of thorax data in the middle of a quiet period and jitter the clock
    t = series.time_s.copy()
    gap = (t > 14.0) & (t < 14.3)
    series.thorax_deg = np.where(gap, np.nan, series.thorax_deg)
    rng = np.random.default_rng(0)
    series.time_s = t + rng.uniform(-0.002, 0.002, len(t))
    res = F.analyze(series)
    assert len(res.reps) == 3
    assert res.summary["pattern"] == F.INHIBITED
    for rep, tr in _match(res.reps, truth["reps"]):
        assert abs(rep.peak_trunk_deg - tr["peak_trunk_deg"]) < 3.0


def test_no_bends_and_missing_pelvis():
    series, _ = make_series(peaks=(), seed=12)
    res = F.analyze(series)
    assert res.reps == [] and res.summary["pattern"] == F.INCONCLUSIVE
    assert any("no test repetition" in w for w in res.warnings)
    series, _ = make_series(peaks=(110,), seed=12)
    series.pelvis_deg = np.full_like(series.pelvis_deg, np.nan)
    series.lumbar_deg = np.full_like(series.lumbar_deg, np.nan)
    res = F.analyze(series)
    assert res.reps[0].pattern == F.INCONCLUSIVE
    assert any("pelvis" in w for w in res.warnings)
    json.dumps(res.to_json(), allow_nan=False)


# --------------------------------------------------------------------------- uncertainty band
def test_band_defaults_and_margin_of_the_rule():
    rule = F.VerdictRule()
    # defaults from bench/flexion_repeatability.py (docs/flexion.md, "Uncertainty band")
    assert (rule.sigma_pelvis_deg, rule.sigma_share, rule.k_sigma) == (0.5, 0.0075, 2.0)
    assert rule.band_pelvis_deg == pytest.approx(1.0) and rule.band_share == pytest.approx(0.015)
    m = rule.margin(48.0, 0.53)
    assert m["pelvis_deg"] == pytest.approx(-2.0)        # below the threshold: negative
    assert m["lumbar_share"] == pytest.approx(0.03)       # above the threshold: positive
    assert m["sigmas"] == pytest.approx(4.0)              # 2 deg = 4 sigma < 0.03 = 4 sigma
    assert m["within_band"] is False
    assert rule.margin(None, 0.5) is None and rule.margin(50.0, float("nan")) is None
    # on the threshold: 0 sigma, inside the band
    assert rule.margin(50.0, 0.7)["sigmas"] == 0.0 and rule.margin(50.0, 0.7)["within_band"]


@pytest.mark.parametrize("combine, pelvis, share, sigmas", [
    # and, inhibited (both true): flipping either one changes the verdict
    ("and", 48.0, 0.60, 4.0), ("and", 45.0, 0.51, 0.01 / 0.0075),
    # and, normal with both false: both must flip -> the larger distance
    ("and", 55.0, 0.45, 10.0),
    # and, normal with the share true: only the pelvis matters
    ("and", 55.0, 0.60, 10.0), ("and", 50.5, 0.90, 1.0),
    # and, normal with the pelvis true: only the share matters
    ("and", 20.0, 0.49, 0.01 / 0.0075),
    # or, inhibited by the pelvis only: only the pelvis matters
    ("or", 45.0, 0.30, 10.0),
    # or, inhibited by both: both must flip
    ("or", 45.0, 0.60, 13.333333),
    # or, normal (both false): either flips it
    ("or", 55.0, 0.45, 0.05 / 0.0075), ("or", 50.5, 0.30, 1.0),
])
def test_margin_sigmas_corners(combine, pelvis, share, sigmas):
    rule = F.VerdictRule(combine=combine)
    m = rule.margin(pelvis, share)
    assert m["sigmas"] == pytest.approx(sigmas, rel=1e-6)
    pattern, _ = rule.classify(100.0, pelvis, share)
    assert (pattern == F.INCONCLUSIVE) == (sigmas < 2.0)
    # brute force: the verdict of the bare rule at the corners (and edges) of the box
    box = [(pelvis + a * rule.sigma_pelvis_deg * sigmas * 0.999,
            share + b * rule.sigma_share * sigmas * 0.999)
           for a in (-1, 0, 1) for b in (-1, 0, 1)]
    now = rule.classify(100.0, pelvis, share, band=False)[0]
    assert all(rule.classify(100.0, p, s, band=False)[0] == now for p, s in box)
    wider = [(pelvis + a * rule.sigma_pelvis_deg * sigmas * 1.001,
              share + b * rule.sigma_share * sigmas * 1.001)
             for a in (-1, 0, 1) for b in (-1, 0, 1)]
    assert any(rule.classify(100.0, p, s, band=False)[0] != now for p, s in wider)


def test_band_reasons_in_plain_words_and_settings():
    rule = F.VerdictRule()
    pattern, reasons = rule.classify(100.0, 49.2, 0.62)
    assert pattern == F.INCONCLUSIVE
    assert reasons[0] == ("pelvic rotation 49.2 deg is within 1 deg of the 50 deg threshold: "
                          "the measurement cannot tell")
    assert reasons[1] == "lumbar share 0.62 > 0.50"
    pattern, reasons = rule.classify(100.0, 40.0, 0.49)
    assert pattern == F.INCONCLUSIVE
    assert reasons[0] == ("lumbar share 0.490 is within 0.015 of the 0.50 threshold: the "
                          "measurement cannot tell")
    # the bare rule, the band off, a wider band
    assert rule.classify(100.0, 49.2, 0.62, band=False)[0] == F.INHIBITED
    assert F.VerdictRule(k_sigma=0).classify(100.0, 49.9, 0.51)[0] == F.INHIBITED
    off = F.VerdictRule(sigma_pelvis_deg=0, sigma_share=0)
    assert off.classify(100.0, 49.9, 0.51)[0] == F.INHIBITED
    assert off.margin(49.9, 0.51)["sigmas"] == math.inf
    assert F.VerdictRule(sigma_pelvis_deg=2.0).classify(100.0, 47.0, 0.62)[0] == F.INCONCLUSIVE
    # shallow bends stay "too shallow", whatever the margin
    pattern, reasons = rule.classify(50.0, 49.9, 0.51)
    assert pattern == F.INCONCLUSIVE and "shallow" in reasons[0]
    assert not rule.withheld(50.0, 49.9, 0.51) and rule.withheld(100.0, 49.9, 0.51)
    for bad in ({"sigma_pelvis_deg": -1}, {"sigma_share": float("nan")}, {"k_sigma": -2}):
        with pytest.raises(ValueError):
            F.VerdictRule(**bad)


def test_band_on_synthetic_series_at_exact_peaks():
    points = [(49.5, 0.60),    # pelvis inside the band, share clearly high: inconclusive
              (40.0, 0.51),    # share inside the band, pelvis clearly low: inconclusive
              (48.0, 0.60),    # outside the band, within 5 deg: inhibited, borderline
              (52.0, 0.60),    # outside the band, within 5 deg: normal, borderline
              (30.0, 0.70),    # far: inhibited, not borderline
              (49.5, 0.30),    # pelvis inside the band, but share clearly low: normal
              (70.0, 0.40)]    # far: normal, not borderline
    series, truth = make_rule_series(points, seed=20)
    res = F.analyze(series)
    assert len(res.reps) == len(points)
    for rep, tr in _match(res.reps, truth["reps"]):     # the series is exact
        assert rep.peak_pelvis_deg == pytest.approx(tr["peak_pelvis_deg"], abs=0.05)
        assert rep.lumbar_share == pytest.approx(tr["lumbar_share"], abs=0.002)
    got = [(r.pattern, r.borderline) for r in res.reps]
    assert got == [(F.INCONCLUSIVE, False), (F.INCONCLUSIVE, False), (F.INHIBITED, True),
                   (F.NORMAL, True), (F.INHIBITED, False), (F.NORMAL, True),
                   (F.NORMAL, False)]
    assert "within 1 deg of the 50 deg threshold" in res.reps[0].reasons[0]
    assert "cannot tell" in res.reps[1].reasons[0] and "lumbar share" in res.reps[1].reasons[0]
    assert [F.withheld(r, res.config.rule) for r in res.reps] == [True, True] + [False] * 5
    # the margin in the JSON: signed distances and sigmas
    obj = json.loads(json.dumps(F.result_json(res), allow_nan=False))
    margins = [r["margin"] for r in obj["reps"]]
    for m, (pelvis, share) in zip(margins, points):
        assert set(m) == {"pelvis_deg", "lumbar_share", "sigmas", "within_band"}
        assert m["pelvis_deg"] == pytest.approx(pelvis - 50.0, abs=0.05)
        assert m["lumbar_share"] == pytest.approx(share - 0.5, abs=0.002)
    assert [m["within_band"] for m in margins] == [True, True] + [False] * 5
    assert margins[0]["sigmas"] == pytest.approx(1.0, abs=0.1)
    assert margins[1]["sigmas"] == pytest.approx(0.01 / 0.0075, abs=0.2)
    assert margins[2]["sigmas"] == pytest.approx(4.0, abs=0.1)
    assert margins[2]["pelvis_deg"] < 0 < margins[3]["pelvis_deg"]
    assert margins[5]["sigmas"] == pytest.approx(0.2 / 0.0075, rel=0.02)
    s = obj["summary"]
    assert s["n_within_band"] == 2 and s["n_conclusive"] == 5
    assert s["votes"] == {"normal": 3, "inhibited_hip": 2, "inconclusive": 2}
    assert s["pattern"] == "normal"
    # summary margin: the medians of the judged repetitions
    assert s["margin"]["pelvis_deg"] == pytest.approx(s["peak_pelvis_deg"] - 50.0, abs=0.01)
    assert s["margin"]["lumbar_share"] == pytest.approx(s["lumbar_share"] - 0.5, abs=0.001)
    assert obj["rule"]["sigma_pelvis_deg"] == 0.5 and obj["rule"]["k_sigma"] == 2.0


def test_band_whole_session_too_close():
    series, _ = make_rule_series([(49.4, 0.58), (50.3, 0.56), (49.8, 0.60)], seed=21,
                                 noise_deg=0.1)
    res = F.analyze(series)
    assert [r.pattern for r in res.reps] == [F.INCONCLUSIVE] * 3
    s = res.summary
    assert s["pattern"] == F.INCONCLUSIVE and s["n_conclusive"] == 0
    assert s["n_within_band"] == 3 and s["borderline"] is False
    assert s["margin"]["within_band"] and abs(s["margin"]["pelvis_deg"]) < 1.0
    # a tie of judged repetitions whose medians lie in the band: no verdict either
    series, _ = make_rule_series([(48.6, 0.60), (51.2, 0.60)], seed=22)
    res = F.analyze(series)
    assert [r.pattern for r in res.reps] == [F.INHIBITED, F.NORMAL]
    assert res.summary["pattern"] == F.INCONCLUSIVE and res.summary["n_within_band"] == 0


def _borderline_patients():
    """(seed, sway, pelvis_deg, lumbar_share): patients right at the rule."""
    grid = [(45.0, 0.55), (47.0, 0.53), (49.0, 0.51), (50.0, 0.50), (51.0, 0.49),
            (53.0, 0.47), (55.0, 0.45), (48.5, 0.56), (51.5, 0.54), (46.0, 0.49),
            (49.5, 0.46), (54.0, 0.52)]
    return [(seed, seed % 2, p, sh) for seed, (p, sh) in enumerate(grid)]


@pytest.mark.slow
def test_end_to_end_borderline_patients_never_wrong():
    """Simulated patients at the rule (pelvis 45-55 deg, share 0.45-0.55, sway 0 and 1):
    every repetition is judged as the rule judges its true peaks, or left inconclusive;
    repetitions far outside the band (2 k sigma of the truth) are judged, and right."""
    _sim_modules()
    import inspect

    from posturepod.motion.angles import recording_angles
    from posturepod.sim.simulate import simulate
    if "pelvis_deg" not in inspect.signature(simulate).parameters:
        pytest.skip("simulate() has no pelvis_deg / lumbar_share options yet")
    rule = F.VerdictRule()
    counts = {"right": 0, "inconclusive": 0, "far": 0}
    for seed, sway, pelvis, share in _borderline_patients():
        sim = simulate("flexion", seed, pattern="normal" if seed % 3 else "inhibited_hip",
                       sway=sway, pelvis_deg=pelvis, lumbar_share=share)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = recording_angles(sim.recording)
        res = F.analyze(series, events=sim.recording.events)
        assert len(res.reps) == len(sim.truth["reps"]), seed
        truths = set()
        for rep, tr in _match(res.reps, sim.truth["reps"]):
            truth, _ = rule.classify(tr["peak_trunk_deg"], tr["peak_pelvis_deg"],
                                     tr["lumbar_share"], band=False)
            assert truth != F.INCONCLUSIVE
            what = (seed, rep.index, tr["peak_pelvis_deg"], tr["lumbar_share"],
                    rep.peak_pelvis_deg, rep.lumbar_share, rep.reasons)
            assert rep.pattern in (truth, F.INCONCLUSIVE), what
            counts["right" if rep.pattern == truth else "inconclusive"] += 1
            if rep.pattern == F.INCONCLUSIVE:
                assert F.withheld(rep, rule) and "cannot tell" in rep.reasons[0], what
            if rule.margin(tr["peak_pelvis_deg"], tr["lumbar_share"])["sigmas"] >= \
                    2 * rule.k_sigma:
                counts["far"] += 1
                assert rep.pattern == truth, what
            truths.add(truth)
        # the session verdict: none, or one the truth gives to at least one repetition
        assert res.summary["pattern"] in truths | {F.INCONCLUSIVE}, (seed, res.summary)
    print(f"borderline patients: {counts}")
    # the set is a real test of both sides: some judged, some withheld, some far
    assert counts["right"] >= 10 and counts["inconclusive"] >= 5 and counts["far"] >= 5


# --------------------------------------------------------------------------- JSON contract
def _check_contract(obj):
    assert TOP_KEYS <= set(obj)
    assert obj["protocol"] == "flexion"
    for rep in obj["reps"]:
        for k in F.REP_KEYS:
            assert k in rep, k
        assert rep["pattern"] in F.PATTERNS
        assert isinstance(rep["start_s"], float) and isinstance(rep["end_s"], float)
        assert rep["start_s"] < rep["end_s"]
        assert isinstance(rep["rhythm"], dict)
    for k in F.SUMMARY_KEYS:
        assert k in obj["summary"], k
    assert obj["summary"]["pattern"] in F.PATTERNS


def test_json_contract_keys():
    series, _ = make_series(peaks=(110, 50), pattern="inhibited_hip", seed=13)
    obj = F.result_json(F.analyze(series), patient="P-7", recorded_at="2025-01-02T03:04:05Z")
    text = json.dumps(obj, allow_nan=False)
    back = json.loads(text)
    _check_contract(back)
    assert back["reps"][1]["pattern"] == "inconclusive"
    assert back["patient"] == "P-7"
    # peaks are maxima over the repetition
    r = back["reps"][0]
    assert r["peak_trunk_deg"] >= r["peak_pelvis_deg"]
    assert r["lumbar_share"] == pytest.approx(r["lumbar_at_trunk_peak_deg"] /
                                              r["peak_trunk_deg"], abs=0.02)


class _Rec:
    def __init__(self, path, events):
        self.path = path
        self.pods = {}
        self.events = events
        self.meta = {"patient": "P-42"}


def test_cli_json_prints_one_object(tmp_path, monkeypatch, capsys):
    """--json stdout is exactly one JSON object; flexion.json is saved beside REC."""
    from posturepod.motion import angles
    from posturepod import cli
    from posturepod.recordings import loader
    series, truth = make_series(peaks=(111, 113, 109), pattern="normal", seed=14)
    monkeypatch.setattr(loader, "load", lambda p: _Rec(Path(p), truth["events"]))
    monkeypatch.setattr(angles, "recording_angles", lambda rec, **kw: series)
    from posturepod.motion import calibration
    monkeypatch.setattr(calibration, "calibration_for", lambda rec, path=None, **kw:
                        calibration.Calibration(stand_s=(0.0, 6.0), bend_s=(6.0, 11.5),
                                                pods={}))
    rec = tmp_path / "session1"
    rec.mkdir()
    (rec / "thorax.csv").write_text("time_s\n")
    rc = cli.main(["flexion", str(rec), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    obj = json.loads(out)              # raises if anything else is on stdout
    assert out.strip().count("\n") == 0
    _check_contract(obj)
    assert len(obj["reps"]) == 3 and obj["summary"]["pattern"] == "normal"
    assert obj["calibration_bend"]["identified_by"].startswith("event")
    saved = json.loads((rec / "flexion.json").read_text())
    assert saved["patient"] == "P-42" and saved["recorded_at"]
    assert saved["summary"] == obj["summary"]
    # the rule can be changed from the command line
    rc = cli.main(["flexion", str(rec), "--json", "--no-save", "--max-pelvis", "70",
                   "--min-share", "0.4"])
    obj2 = json.loads(capsys.readouterr().out)
    assert obj2["summary"]["pattern"] == "inhibited_hip" and obj2["rule"]["max_pelvis_deg"] == 70
    # a re-analysis keeps the session date given earlier
    assert cli.main(["flexion", str(rec), "--json", "--recorded-at", "2024-12-01T10:00:00"]) == 0
    capsys.readouterr()
    assert cli.main(["flexion", str(rec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recorded_at"] == "2024-12-01T10:00:00"
    # text mode
    rc = cli.main(["flexion", str(rec), "--no-save"])
    out = capsys.readouterr().out
    assert "verdict: normal" in out and "calibration bend" in out
    assert "margin: pelvis +" in out and "SDs from a different verdict" in out


def test_cli_pod_branch_wants_role_and_port(capsys):
    from posturepod import cli
    assert cli.main(["flexion", "--pod", "/dev/ttyUSB0"]) == 2
    assert "--pod wants ROLE=PORT" in capsys.readouterr().err


# --------------------------------------------------------------------------- end to end
def _simulate_ok(pattern, n, start=0, limit=60):
    """Seeds for which simulate() runs (it raises for a few parameter draws: reported)."""
    from posturepod.sim.simulate import simulate
    out, failed = [], []
    seed = start
    while len(out) < n and seed < start + limit:
        try:
            out.append((seed, simulate("flexion", seed=seed, pattern=pattern)))
        except ValueError as e:
            failed.append((seed, str(e)))
        seed += 1
    if failed:
        warnings.warn(f"simulate('flexion', pattern={pattern!r}) raised for seeds "
                      f"{[s for s, _ in failed]}: {failed[0][1]}")
    return out


def _sim_modules():
    """The simulator and the angles are part of the package: imported, never skipped."""
    from posturepod.motion import angles  # noqa: F401
    from posturepod.sim import simulate  # noqa: F401


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["normal", "inhibited_hip"])
def test_end_to_end_simulated(pattern):
    _sim_modules()
    from posturepod.motion.angles import recording_angles
    sims = _simulate_ok(pattern, 8)
    assert len(sims) >= 6
    worst = 0.0
    for seed, sim in sims:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = recording_angles(sim.recording)
        cal = sim.truth["calibration"]
        for events in (sim.recording.events, None):
            res = F.analyze(series, events=events)
            truth = sim.truth["reps"]
            assert len(res.reps) == len(truth), (seed, events is None)
            # calibration bend excluded: found where the truth has it, no rep inside it
            cb = res.calibration_bend
            assert cal["bend_start_s"] - 1.0 < cb["peak_s"] < cal["bend_end_s"] + 1.0, seed
            assert all(r.start_s > cal["bend_start_s"] for r in res.reps)
            for rep, tr in _match(res.reps, truth):
                for key in ("peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg",
                            "peak_neck_deg"):
                    err = abs(getattr(rep, key) - tr[key])
                    worst = max(worst, err)
                    assert err < 2.0, (seed, key, getattr(rep, key), tr[key])
                assert abs(rep.lumbar_share - tr["lumbar_share"]) < 0.03
                assert rep.pattern == pattern, (seed, rep.index, rep.reasons)
            assert res.summary["pattern"] == pattern
    print(f"{pattern}: {len(sims)} seeds, worst peak error {worst:.2f} deg")


@pytest.mark.slow
def test_cli_end_to_end_subprocess(tmp_path):
    """The installed command on a simulated CSV recording: stdout is one JSON object even
    though the angle code may emit warnings (they go to the result, never to stdout)."""
    _sim_modules()
    from posturepod.sim.simulate import write_sim
    seed, sim = _simulate_ok("inhibited_hip", 1, start=3)[0]
    rec = tmp_path / "P-9" / "2025-05-01"
    write_sim(sim, rec)
    report = tmp_path / "r.html"
    p = subprocess.run([sys.executable, "-m", "posturepod.cli", "flexion", str(rec), "--json",
                        "--patient", "P-9", "--report", str(report)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    _check_contract(obj)
    assert obj["summary"]["pattern"] == "inhibited_hip"
    assert len(obj["reps"]) == len(sim.truth["reps"])
    assert (rec / "flexion.json").exists() and report.exists()
    for r, tr in zip(obj["reps"], sim.truth["reps"]):
        assert math.isclose(r["peak_pelvis_deg"], tr["peak_pelvis_deg"], abs_tol=2.0)


def test_a_sitting_recording_has_no_flexion_test(tmp_path):
    """Sit-downs and stand-ups are forward bends of the trunk too: they must not be taken
    for test repetitions (the pelvis is tilted back, as in sitting, before or after them);
    a recording marked as a sitting day is refused with the command to use instead."""
    import json
    import subprocess
    import sys
    from posturepod.motion.angles import recording_angles
    from posturepod.sim.simulate import simulate, write_sim
    res = simulate("sitting", 0, duration_s=300.0, rate_hz=50.0)
    out = F.analyze(recording_angles(res.recording), events=res.recording.events)
    assert out.reps == [], [(r.start_s, r.peak_trunk_deg) for r in out.reps]
    seated = [e for e in out.excluded if "seated" in e["reason"]]
    assert len(seated) >= 2, out.excluded
    assert any("sit-down" in e["reason"] for e in seated)
    assert any("no standing forward bend" in w for w in out.warnings), out.warnings
    write_sim(res, tmp_path / "day")
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "flexion", str(tmp_path / "day"),
                        "--no-save"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "a sitting recording" in r.stderr, r.stderr
    assert "posturepod sitting" in r.stderr and "Traceback" not in r.stderr
    meta = json.loads((tmp_path / "day" / "meta.json").read_text())
    assert meta["protocol"] == "sitting"
