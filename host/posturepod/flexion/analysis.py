"""Standing forward-flexion test: find the repetitions, measure the lumbopelvic rhythm,
judge the pattern.

Input is an :class:`posturepod.motion.angles.AngleSeries` (sagittal inclinations in degrees,
positive = forward, 0 in the calibration standing posture; ``lumbar = thorax - pelvis``,
``neck = head - thorax``) plus, where the recording has them, its events.

What is measured per repetition (see docs/flexion.md for the definitions and sources):

* start, peak and end of the bend (seconds on the recording clock);
* peak trunk (thorax), pelvic, lumbar (thoracopelvic) and neck angles: maxima over the
  repetition of the lightly smoothed series;
* lumbar share: ``lumbar / thorax`` at the instant of peak trunk flexion;
* lumbopelvic rhythm: lumbar:pelvic ratio of the angle changes inside 30 degree bins of
  trunk flexion, going down and coming up;
* timing: which segment leads the descent and the return, pelvic onset delay, the trunk
  angle at which the pelvis takes over;
* smoothness of the trunk angular speed: SPARC (Balasubramanian et al. 2015) and
  LDLJ (Hogan & Sternad 2009);
* pattern: ``normal``, ``inhibited_hip`` or ``inconclusive``, by :class:`VerdictRule`;
  ``inconclusive`` too when the verdict would change within the measurement's uncertainty
  band (``VerdictRule.sigma_pelvis_deg`` / ``sigma_share`` times ``k_sigma``);
* margin (JSON only, :func:`margin_json`): how far the peak pelvis and the lumbar share lie
  from their thresholds, and how many measurement SDs away a different verdict is.

The calibration bend (the first bend after the initial quiet standing, 30-60 degrees) is
never a test repetition: it is found from the ``calib_bend`` event when present, else it
is the first bend of the recording.

Where the parts live (all in :mod:`posturepod.flexion`): ``signals`` (settings, uniform
resampling, smoothing), ``repetitions`` (bends, calibration bend, :class:`Repetition`),
``rhythm`` (peaks, lumbar share, rhythm bins, timing, :class:`NormalBand`), ``smoothness``
(SPARC, LDLJ), ``verdict`` (:class:`VerdictRule` and the pattern names) and ``jsonsafe``
(JSON-safe numbers). This module holds :class:`FlexionConfig`, :class:`FlexionResult`,
:func:`analyze`, the session summary and the JSON; the names above stay importable from it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from posturepod.flexion.jsonsafe import _clean, _r
from posturepod.flexion.repetitions import Bend, Repetition, _events, _pick_calibration, find_bends
from posturepod.flexion.rhythm import NormalBand, _rep_values, _rhythm, _timing, mean_rhythm
from posturepod.flexion.signals import SegmentConfig, _prepare
from posturepod.flexion.smoothness import _smoothness, ldlj, sparc
from posturepod.flexion.verdict import INCONCLUSIVE, INHIBITED, NORMAL, PATTERNS, VerdictRule

__all__ = [
    "INCONCLUSIVE", "INHIBITED", "NORMAL", "PATTERNS", "PROTOCOL", "REP_KEYS", "SUMMARY_KEYS",
    "Bend", "FlexionConfig", "FlexionResult", "NormalBand", "Repetition", "SegmentConfig",
    "VerdictRule", "analyze", "find_bends", "ldlj", "margin_json", "mean_rhythm",
    "result_json", "sparc", "summarize", "withheld",
]

PROTOCOL = "flexion"

# JSON contract (docs/flexion.md): these keys must be present, spelt exactly so.
REP_KEYS = ("start_s", "end_s", "peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg",
            "peak_neck_deg", "lumbar_share", "rhythm", "pattern")
SUMMARY_KEYS = ("peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg", "peak_neck_deg",
                "lumbar_share", "pattern")


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class FlexionConfig:
    rule: VerdictRule = field(default_factory=VerdictRule)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    band: NormalBand = field(default_factory=NormalBand)


# --------------------------------------------------------------------------- results
@dataclass
class FlexionResult:
    reps: list[Repetition]
    summary: dict
    calibration_bend: dict | None
    excluded: list[dict]
    standing: dict
    warnings: list[str]
    config: FlexionConfig
    signals: dict                   # smoothed uniform series for plots (not in JSON)
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        rule = self.config.rule
        return {
            "protocol": PROTOCOL,
            "reps": [{**r.to_json(), "margin": margin_json(rule, r.peak_pelvis_deg,
                                                           r.lumbar_share)}
                     for r in self.reps],
            "summary": _clean(self.summary),
            "calibration_bend": _clean(self.calibration_bend),
            "excluded_bends": _clean(self.excluded),
            "standing": _clean(self.standing),
            "warnings": list(self.warnings),
            "rule": asdict(self.config.rule),
            "meta": _clean(self.meta),
        }


def _seated(t, pelvis_deg, b, limit_deg: float) -> str:
    """Why bend ``b`` is a sit-down or a stand-up ("" when it is not): the pelvis is tilted
    back as in sitting (median beyond ``limit_deg``) over the 2 s before it or after it."""
    for name, lo, hi in (("starts", t[b.start] - 2.0, t[b.start]),
                         ("ends", t[b.end], t[b.end] + 2.0)):
        w = (t >= lo) & (t <= hi)
        if w.sum() >= 3:
            med = float(np.median(pelvis_deg[w]))
            if med < limit_deg:
                return (f"{name} seated (pelvis tilted back {-med:.0f} deg): a "
                        f"{'stand-up' if name == 'starts' else 'sit-down'}, not a test bend")
    return ""


# --------------------------------------------------------------------------- main entry
def analyze(series, events: Iterable | None = None,
            config: FlexionConfig | None = None) -> FlexionResult:
    """Analyse one forward-flexion recording given as an AngleSeries (see module doc)."""
    cfg = config or FlexionConfig()
    sc = cfg.segment
    warnings: list[str] = []
    sig = _prepare(series, sc, warnings)
    t, fs = sig["time_s"], sig["fs"]
    tr = sig["thorax_deg"]
    if not np.isfinite(tr).all():
        raise ValueError("no usable trunk (thorax) angle: the thoracic pod is required")
    # lumbar from the series, or thorax - pelvis where the series has none
    if not np.isfinite(sig["lumbar_deg"]).all() and np.isfinite(sig["pelvis_deg"]).all():
        sig["lumbar_deg"] = tr - sig["pelvis_deg"]
        sig["lumbar_deg_raw"] = sig["thorax_deg_raw"] - sig["pelvis_deg_raw"]
    bends = find_bends(t, tr, fs, sc)
    ci, how = _pick_calibration(bends, t, events, sc, warnings)
    calib = None
    excluded: list[dict] = []
    if ci is not None:
        cb = bends[ci]
        calib = {"start_s": float(t[cb.start]), "peak_s": float(t[cb.peak]),
                 "end_s": float(t[cb.end]), "peak_trunk_deg": float(tr[cb.peak]),
                 "identified_by": how}
        if not 25.0 <= tr[cb.peak] <= 75.0:
            warnings.append(f"calibration bend peaks at {tr[cb.peak]:.0f} deg "
                            f"(expected 30-60 deg); it is excluded from the test anyway")
        for i in range(ci):
            b = bends[i]
            excluded.append({"start_s": float(t[b.start]), "end_s": float(t[b.end]),
                             "peak_trunk_deg": float(tr[b.peak]),
                             "reason": "before the calibration bend"})
    elif sc.calibration != "none":
        warnings.append("no bend found at all")
    test_bends = bends[ci + 1:] if ci is not None else list(bends)
    calib_end = bends[ci].end if ci is not None else None
    rep_ev = [ts for ts, lab in _events(events) if lab == "rep_start"]
    if rep_ev and calib is not None:
        first = rep_ev[0]
        keep = []
        for b in test_bends:
            if t[b.peak] < first - 0.5:
                excluded.append({"start_s": float(t[b.start]), "end_s": float(t[b.end]),
                                 "peak_trunk_deg": float(tr[b.peak]),
                                 "reason": "before the first rep_start event"})
            else:
                keep.append(b)
        test_bends = keep
        if len(rep_ev) != len(test_bends):
            warnings.append(f"{len(rep_ev)} rep_start event(s) but {len(test_bends)} "
                            f"repetition(s) found")
    # a bend that starts or ends seated is a stand-up or sit-down, not a test bend
    if np.isfinite(sig["pelvis_deg"]).all():
        keep = []
        for b in test_bends:
            why = _seated(t, sig["pelvis_deg"], b, sc.seated_pelvis_deg)
            if why:
                excluded.append({"start_s": float(t[b.start]), "end_s": float(t[b.end]),
                                 "peak_trunk_deg": float(tr[b.peak]), "reason": why})
            else:
                keep.append(b)
        if len(keep) < len(test_bends) and not keep:
            warnings.append("no standing forward bend in this recording: every bend "
                            "starts or ends seated (is it a sitting recording?)")
        test_bends = keep
    # standing before the calibration bend
    standing: dict[str, Any] = {}
    first_start = bends[0].start if bends else len(t)
    quiet = slice(0, max(first_start, 1))
    standing["initial_standing_s"] = float(t[max(first_start, 1) - 1] - t[0])
    for name in ("thorax_deg", "pelvis_deg", "head_deg"):
        y = sig[name + "_raw"][quiet]
        standing[name.replace("_deg", "_sd_deg")] = (float(np.std(y)) if len(y) > 1
                                                     and np.isfinite(y).all() else None)
    if bends and standing["initial_standing_s"] < 3.0:
        warnings.append(f"only {standing['initial_standing_s']:.1f} s of quiet standing "
                        f"before the first bend (>= 5 s expected)")
    reps: list[Repetition] = []
    pe = sig["pelvis_deg"]
    lu = sig["lumbar_deg"]
    have_pelvis = np.isfinite(pe).all()
    for k, b in enumerate(test_bends, start=1):
        vals = _rep_values(sig, b)
        if have_pelvis:
            lo_lim = test_bends[k - 2].end if k >= 2 else (calib_end or 0)
            hi_lim = test_bends[k].start if k < len(test_bends) else len(t) - 1
            pad = max(0, min(int(0.5 * fs), b.start - lo_lim, hi_lim - b.end))
            rhythm = _rhythm(tr, pe, lu, b.start, b.peak, b.end, sc, pad=pad)
            timing = _timing(t, tr, pe, lu, sig["trunk_vel"], b.start, b.peak, b.end, fs, sc)
        else:
            rhythm, timing = {"bin_deg": sc.bin_deg, "down": [], "up": []}, {}
        smooth = _smoothness(sig["thorax_deg_raw"], fs, b.start, b.peak, b.end, sc)
        pattern, reasons = cfg.rule.classify(vals["peak_trunk_deg"], vals["peak_pelvis_deg"],
                                             vals["lumbar_share"])
        reps.append(Repetition(
            index=k, start_s=float(t[b.start]), peak_s=float(t[b.peak]), end_s=float(t[b.end]),
            rhythm=rhythm, timing=timing, smoothness=smooth, pattern=pattern,
            reasons=reasons,
            borderline=(pattern != INCONCLUSIVE and cfg.rule.is_borderline(
                vals["peak_pelvis_deg"], vals["lumbar_share"])),
            start_i=b.start, peak_i=b.peak, end_i=b.end, **vals))
        if b.end >= len(t) - 1:
            warnings.append(f"repetition {k} runs to the end of the recording "
                            f"(return not complete)")
    if not reps:
        warnings.append("no test repetition found after the calibration bend")
    summary = summarize(reps, cfg.rule)
    meta = {"rate_hz": fs, "duration_s": float(t[-1] - t[0]), "n_bends": len(bends)}
    smeta = getattr(series, "meta", None) or {}
    cal = smeta.get("calibration")
    if isinstance(cal, dict):
        # the calibration's doubts and failures name their pod; the pods' own lists repeat
        # them (older calibration files kept some only there)
        seen = set(cal.get("warnings") or [])
        for w in cal.get("warnings", []) or []:
            warnings.append(f"calibration: {w}")
        for role, pod in (cal.get("pods") or {}).items():
            for w in (pod.get("warnings") or []) if isinstance(pod, dict) else []:
                if w not in seen:
                    warnings.append(f"calibration ({role}): {w}")
    for key in ("calibration", "calibration_quality", "pods", "method", "thorax_level"):
        if key in smeta:
            meta[key] = _clean(smeta[key])
    plot_sig = {k: sig[k] for k in ("time_s", "thorax_deg", "pelvis_deg", "lumbar_deg",
                                    "neck_deg", "head_deg")}
    return FlexionResult(reps=reps, summary=summary, calibration_bend=calib, excluded=excluded,
                         standing=standing, warnings=warnings, config=cfg, signals=plot_sig,
                         meta=meta)


def margin_json(rule: VerdictRule, peak_pelvis: float | None,
                lumbar_share: float | None) -> dict | None:
    """The ``margin`` object of the JSON (docs/flexion.md, "Uncertainty band"):
    ``pelvis_deg`` = peak pelvis - ``max_pelvis_deg`` (positive: the normal side),
    ``lumbar_share`` = share - ``min_lumbar_share`` (positive: the inhibited side),
    ``sigmas`` = smallest move, in measurement SDs, that changes the verdict (None when none
    can), ``within_band`` = ``sigmas < k_sigma``. None when a measure is missing."""
    m = rule.margin(peak_pelvis, lumbar_share)
    if m is None:
        return None
    return {"pelvis_deg": _r(m["pelvis_deg"], 2), "lumbar_share": _r(m["lumbar_share"], 4),
            "sigmas": _r(m["sigmas"], 2), "within_band": bool(m["within_band"])}


def withheld(rep: Repetition, rule: VerdictRule) -> bool:
    """True when ``rep`` is ``inconclusive`` only because a measure lies within the
    uncertainty band of the rule (deep enough, pelvis present, too close to call)."""
    return rep.pattern == INCONCLUSIVE and rule.withheld(rep.peak_trunk_deg,
                                                         rep.peak_pelvis_deg, rep.lumbar_share)


def summarize(reps: list[Repetition], rule: VerdictRule) -> dict:
    """Session summary: medians over the conclusive repetitions (over all repetitions when
    none is conclusive); pattern by majority of the conclusive repetitions, a tie decided
    by the rule (uncertainty band included) applied to the medians; ``inconclusive`` when
    no repetition is conclusive. ``margin``: :func:`margin_json` of the medians;
    ``n_within_band``: repetitions left inconclusive by the uncertainty band."""
    conclusive = [r for r in reps if r.pattern != INCONCLUSIVE]
    pool = conclusive or reps

    def med(attr):
        vals = [getattr(r, attr) for r in pool if getattr(r, attr) is not None]
        return float(np.median(vals)) if vals else None
    s: dict[str, Any] = {k: med(k) for k in ("peak_trunk_deg", "peak_pelvis_deg",
                                             "peak_lumbar_deg", "peak_neck_deg",
                                             "lumbar_share")}
    n_inh = sum(r.pattern == INHIBITED for r in conclusive)
    n_norm = sum(r.pattern == NORMAL for r in conclusive)
    if not conclusive:
        pattern = INCONCLUSIVE
    elif n_inh > n_norm:
        pattern = INHIBITED
    elif n_norm > n_inh:
        pattern = NORMAL
    else:
        pattern, _ = rule.classify(s["peak_trunk_deg"], s["peak_pelvis_deg"], s["lumbar_share"])
    s["pattern"] = pattern
    s["n_reps"] = len(reps)
    s["n_conclusive"] = len(conclusive)
    s["votes"] = {NORMAL: n_norm, INHIBITED: n_inh,
                  INCONCLUSIVE: len(reps) - len(conclusive)}
    s["n_within_band"] = sum(withheld(r, rule) for r in reps)
    s["method"] = ("median of conclusive repetitions" if conclusive else
                   "median of all repetitions (none conclusive)")
    s["rhythm"] = mean_rhythm(conclusive or reps)
    for key in ("descent_lumbar_led_fraction", "return_lumbar_led_fraction",
                "pelvis_onset_delay_s", "pelvis_takeover_trunk_deg"):
        vals = [r.timing.get(key) for r in pool if r.timing.get(key) is not None]
        s[key] = float(np.median(vals)) if vals else None
    orders = [r.timing.get("return_order") for r in pool if r.timing.get("return_order")]
    s["return_order"] = max(set(orders), key=orders.count) if orders else None
    sp = [r.smoothness.get("sparc") for r in pool if r.smoothness.get("sparc") is not None]
    s["sparc"] = float(np.median(sp)) if sp else None
    lj = [r.smoothness.get("ldlj") for r in pool if r.smoothness.get("ldlj") is not None]
    s["ldlj"] = float(np.median(lj)) if lj else None
    s["borderline"] = bool(pattern != INCONCLUSIVE and rule.is_borderline(
        s["peak_pelvis_deg"], s["lumbar_share"]))
    s["margin"] = margin_json(rule, s["peak_pelvis_deg"], s["lumbar_share"])
    return s


def result_json(result: FlexionResult, **extra) -> dict:
    """The JSON object of the CLI (contract keys plus extras)."""
    d = result.to_json()
    d.update(_clean(extra))
    return d
