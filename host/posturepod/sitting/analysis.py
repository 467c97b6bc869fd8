"""Offline sitting analysis: stream a recording's angles chunk by chunk through the epoch
builder and the posture engine, and sum the day up.

Memory: besides the recording itself, only one chunk of angles and the per-epoch labels
(one small row per second) are held, so the analysis of a long day does not grow with the
sample rate or the recording length beyond its results.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .activity import SIT
from .config import SittingConfig
from .engine import TRUNK_LEAN, EpochLabel, PostureEngine
from .epochs import ANGLES, Epoch, EpochBuilder, angles_matrix

PROTOCOL = "sitting"
RESULT_VERSION = 1
HIST_RANGE_DEG = (-45.0, 45.0)
HIST_BIN_DEG = 1.0


@dataclass
class Timeline:
    """Per-epoch labels of the analysed part of the day (for the report)."""
    t0: np.ndarray
    t1: np.ndarray
    activity: np.ndarray     # activity codes (see activity.py)
    trunk: np.ndarray        # trunk codes (see engine.py)
    head_forward: np.ndarray  # bool
    rel: np.ndarray          # (n, 5) angles minus the reference, order of ANGLES

    def __len__(self):
        return len(self.t0)


@dataclass
class SittingResult:
    summary: dict
    timeline: Timeline
    notices: list = field(default_factory=list)


class _LabelSink:
    def __init__(self):
        self.k, self.t0, self.t1, self.act, self.trunk, self.head = [], [], [], [], [], []
        self.rel = []

    def __call__(self, ep: Epoch, lab: EpochLabel):
        self.t0.append(lab.t0)
        self.t1.append(lab.t1)
        self.act.append(lab.activity)
        self.trunk.append(lab.trunk)
        self.head.append(lab.head_forward)
        self.rel.append(lab.rel)

    def timeline(self) -> Timeline:
        return Timeline(np.asarray(self.t0, float), np.asarray(self.t1, float),
                        np.asarray(self.act, np.int8), np.asarray(self.trunk, np.int8),
                        np.asarray(self.head, bool),
                        np.asarray(self.rel, float).reshape(-1, 5))


def _intervals(eps) -> list[dict]:
    return [{"start_s": round(float(s), 3), "end_s": round(float(e), 3),
             "duration_s": round(float(e - s), 3)} for s, e in eps]


def _overlap(eps, a: float, b: float) -> float:
    return float(sum(max(0.0, min(e, b) - max(s, a)) for s, e in eps))


def analyse_chunks(chunks: Iterable, *, events=(), pelvis_acc=None, acc_rate_hz=None,
                   cfg: SittingConfig | None = None, span_s: tuple[float, float] | None = None,
                   buzz_after_s: float | None = None, break_after_s: float | None = None,
                   reference: dict | None = None) -> SittingResult:
    """Analyse a stream of AngleSeries-like chunks (attributes ``time_s`` and the five
    angles), in time order.

    ``events``: Event-like objects (``time_s``, ``label``); the first ``sit_reference``
    gives the reference. ``pelvis_acc``: ``(time_s (M,), acc (M, 3))`` of the pelvis pod for
    gait, sliced along with the chunks. ``span_s``: (start, end) of the recording.
    """
    cfg = cfg or SittingConfig()
    ref_events = [e for e in events if e.label == cfg.reference_event]
    ref_t = float(ref_events[0].time_s) if ref_events and reference is None else None
    sink = _LabelSink()
    eng = PostureEngine(cfg, reference=reference, reference_time_s=ref_t,
                        buzz_after_s=buzz_after_s, break_after_s=break_after_s, on_label=sink)
    if pelvis_acc is not None and acc_rate_hz is None:
        at = pelvis_acc[0]
        acc_rate_hz = float((len(at) - 1) / (at[-1] - at[0])) if len(at) > 1 else None
    builder = EpochBuilder(cfg.epoch_s, acc_rate_hz=acc_rate_hz,
                           use_acc=pelvis_acc is not None and len(pelvis_acc[0]) > 1,
                           gait_band_hz=cfg.gait_band_hz, gait_lag_s=cfg.gait_lag_s)
    notices = []
    acc_i = 0
    first_t = last_t = None
    for ch in chunks:
        t = np.asarray(ch.time_s, dtype=np.float64)
        if not len(t):
            continue
        if first_t is None:
            first_t = float(t[0])
        last_t = float(t[-1])
        a = angles_matrix(ch)
        acc_t = acc = None
        if builder.use_acc:
            j = int(pelvis_acc[0].searchsorted(t[-1], side="right"))
            acc_t, acc = pelvis_acc[0][acc_i:j], pelvis_acc[1][acc_i:j]
            acc_i = j
        for ep in builder.push(t, a, acc_t, acc):
            notices += eng.feed(ep)
    if builder.use_acc and acc_i < len(pelvis_acc[0]):
        for ep in builder.push(np.zeros(0), np.zeros((0, 5)), pelvis_acc[0][acc_i:],
                               pelvis_acc[1][acc_i:]):
            notices += eng.feed(ep)
    for ep in builder.finish():
        notices += eng.feed(ep)
    if span_s is None:
        span_s = (first_t if first_t is not None else 0.0,
                  last_t if last_t is not None else 0.0)
    notices += eng.finish(span_s[1])
    tl = sink.timeline()
    summary = summarise(eng, tl, span_s, cfg, n_reference_events=len(ref_events))
    return SittingResult(summary=summary, timeline=tl, notices=notices)


def summarise(eng: PostureEngine, tl: Timeline, span_s, cfg: SittingConfig,
              n_reference_events: int = 0) -> dict:
    t_start, t_end = float(span_s[0]), float(span_s[1])
    duration = max(0.0, t_end - t_start)
    notes = []
    ref = eng.reference
    if ref is None:
        reference = {"source": "none", "start_s": None, "end_s": None,
                     "note": "no sitting reference: no 'sit_reference' event and no "
                             f"{cfg.reference_s:g} s of still sitting found"}
        reference.update({a: None for a in ANGLES})
        notes.append(reference["note"])
    else:
        reference = {**eng.reference_info, **{a: round(v, 3) if math.isfinite(v) else None
                                              for a, v in ref.items()}}
        if eng.reference_info.get("source") == "auto":
            notes.append(eng.reference_info["note"])
        if n_reference_events > 1:
            notes.append(f"{n_reference_events} '{cfg.reference_event}' events: "
                         "the first one was used")
    slouch, head, brk, bouts = (eng.slouch.episodes, eng.head.episodes, eng.brk.episodes,
                                eng.bouts)
    sitting_s = float(sum(e - s for s, e in bouts))
    slouch_s = float(sum(e - s for s, e in slouch))
    head_s = float(sum(e - s for s, e in head))
    dt = tl.t1 - tl.t0 if len(tl) else np.zeros(0)
    lean_mask = tl.trunk == TRUNK_LEAN
    hourly = []
    n_hours = int(math.ceil(duration / 3600.0 - 1e-9)) if duration > 0 else 0
    for h in range(n_hours):
        a = t_start + 3600.0 * h
        b = min(a + 3600.0, t_end)
        in_h = (tl.t0 >= a) & (tl.t0 < b)
        hourly.append({
            "hour": h, "start_s": round(a, 3), "end_s": round(b, 3),
            "sitting_min": round(_overlap(bouts, a, b) / 60.0, 2),
            "slouch_min": round(_overlap(slouch, a, b) / 60.0, 2),
            "head_forward_min": round(_overlap(head, a, b) / 60.0, 2),
            "forward_lean_min": round(float(dt[in_h & lean_mask].sum()) / 60.0, 2),
            "breaks": sum(1 for s, _ in brk if a <= s < b),
        })
    sit_mask = tl.activity == SIT
    dists = {}
    for name, col in (("pelvis_rel_deg", 0), ("neck_rel_deg", 4), ("lumbar_rel_deg", 3)):
        v = tl.rel[sit_mask, col] if len(tl) else np.zeros(0)
        w = dt[sit_mask] if len(tl) else np.zeros(0)
        ok = np.isfinite(v)
        v, w = np.clip(v[ok], *HIST_RANGE_DEG), w[ok]
        edges = np.arange(HIST_RANGE_DEG[0], HIST_RANGE_DEG[1] + HIST_BIN_DEG / 2, HIST_BIN_DEG)
        hist, _ = np.histogram(v, bins=edges, weights=w)
        dists[name] = {"lo_deg": HIST_RANGE_DEG[0], "bin_deg": HIST_BIN_DEG,
                       "seconds": [round(float(x), 1) for x in hist],
                       "median_deg": round(float(np.median(v)), 2) if len(v) else None,
                       "p10_deg": round(float(np.percentile(v, 10)), 2) if len(v) else None,
                       "p90_deg": round(float(np.percentile(v, 90)), 2) if len(v) else None}
    analysed_s = float(dt.sum()) if len(tl) else 0.0
    out = {
        "protocol": PROTOCOL,
        "version": RESULT_VERSION,
        "start_s": round(t_start, 3),
        "end_s": round(t_end, 3),
        "duration_s": round(duration, 3),
        "analysed_from_s": round(eng.start_s, 3) if eng.start_s is not None else None,
        "analysed_s": round(analysed_s, 3),
        "sitting_s": round(sitting_s, 3),
        "slouch_s": round(slouch_s, 3),
        "head_forward_s": round(head_s, 3),
        "forward_lean_s": round(eng.time_s["forward_lean"], 3),
        "standing_s": round(eng.time_s["standing"], 3),
        "walking_s": round(eng.time_s["walking"], 3),
        "slouch_fraction": round(slouch_s / sitting_s, 4) if sitting_s > 0 else None,
        "head_forward_fraction": round(head_s / sitting_s, 4) if sitting_s > 0 else None,
        "slouch_episodes": _intervals(slouch),
        "head_forward_episodes": _intervals(head),
        "breaks": _intervals(brk),
        "sitting_bouts": _intervals(bouts),
        "longest_sitting_bout_s": round(max((e - s for s, e in bouts), default=0.0), 3),
        "reference": reference,
        "hourly": hourly,
        "distributions": dists,
        "alerts": {"buzz_after_s": eng.buzz_after_s, "break_after_s": eng.break_after_s,
                   "buzz_repeat_s": eng.buzz_repeat_s, **eng.counts},
        "thresholds": cfg.thresholds(),
        "notes": notes,
    }
    # key measures for `posturepod history` (numeric scalars, shown in this order)
    out["summary"] = {
        "sitting_min": round(sitting_s / 60.0, 1),
        "slouch_pct": round(100.0 * slouch_s / sitting_s, 1) if sitting_s > 0 else None,
        "head_forward_pct": round(100.0 * head_s / sitting_s, 1) if sitting_s > 0 else None,
        "slouch_min": round(slouch_s / 60.0, 1),
        "head_forward_min": round(head_s / 60.0, 1),
        "breaks": len(brk),
        "longest_sitting_bout_min": round(out["longest_sitting_bout_s"] / 60.0, 1),
        "forward_lean_min": round(eng.time_s["forward_lean"] / 60.0, 1),
    }
    return out


# -- recordings ---------------------------------------------------------------------------

def recorded_at(rec) -> str | None:
    """When the day was recorded (recordings.data.recorded_at, the rule of both analyses)."""
    from posturepod.recordings.data import recorded_at as when
    return when(rec)[0] or None


def analyse_recording(rec, cfg: SittingConfig | None = None, *, patient: str | None = None,
                      buzz_after_s: float | None = None, break_after_s: float | None = None,
                      chunks: Iterable | None = None, calibration=None) -> SittingResult:
    """Analyse a :class:`~posturepod.recordings.data.Recording` (angles computed chunk by
    chunk with ``posturepod.motion.angles.iter_angles``; ``calibration``: a
    :class:`~posturepod.motion.calibration.Calibration`, or None to find it). The summary
    carries the calibration object (``calibration``: quality, reasons, figures)."""
    cfg = cfg or SittingConfig()
    if chunks is None:
        from posturepod.motion.angles import iter_angles
        from posturepod.motion.calibration import calibrate
        calibration = calibration if calibration is not None else calibrate(rec)
        chunks = iter_angles(rec, chunk_s=cfg.chunk_s, calibration=calibration)
    pel = rec.pods.get("pelvis")
    pelvis_acc = (pel.time_s, pel.acc_m_s2) if pel is not None and len(pel) > 1 else None
    t0 = min(p.time_s[0] for p in rec.pods.values() if len(p))
    t1 = max(p.time_s[-1] for p in rec.pods.values() if len(p))
    res = analyse_chunks(chunks, events=rec.events, pelvis_acc=pelvis_acc,
                         acc_rate_hz=pel.rate_hz if pelvis_acc is not None else None,
                         cfg=cfg, span_s=(float(t0), float(t1)), buzz_after_s=buzz_after_s,
                         break_after_s=break_after_s)
    s = res.summary
    _mark_unmeasured(s, set(rec.pods))
    live = [e.label.removeprefix("buzz:") for e in rec.events if e.label.startswith("buzz:")]
    if live:        # the live tool ran: what the wearer really felt
        s["live_alerts"] = {"slouch_buzzes": live.count("slouch_buzz"),
                            "head_forward_buzzes": live.count("head_forward_buzz"),
                            "break_reminders": live.count("break_reminder")}
    patient = patient or (rec.meta.get("patient") if rec.meta else None)
    s["patient"] = patient
    s["recorded_at"] = recorded_at(rec)
    s["recording"] = str(rec.path) if rec.path is not None else None
    from posturepod.recordings.placement import from_meta
    s["placement"] = from_meta(rec.meta, where=s["recording"] or "the recording")
    s["analysed_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if calibration is not None:
        s["calibration"] = calibration.to_dict()
    return res


def unmeasured_notes(roles) -> list[str]:
    """What a sitting session with only these pods cannot measure, one sentence each
    (said before a live session starts, and in the result)."""
    d: dict = {}
    _mark_unmeasured(d, set(roles))
    return d["notes"]


def _mark_unmeasured(s: dict, roles: set) -> None:
    """What the pods present cannot measure is said, not reported as zero: head forward needs
    the head and thorax pods (neck = head - thorax); without the thorax, slouch is judged
    from the pelvis alone (lumbar = thorax - pelvis)."""
    missing = [r for r in ("pelvis", "thorax", "head") if r not in roles]
    s["missing_pods"] = missing
    s["not_measured"] = []
    notes = s.setdefault("notes", [])
    if "head" in missing or "thorax" in missing:
        s["not_measured"].append("head_forward")
        s["head_forward_s"] = None
        s["head_forward_fraction"] = None
        s["head_forward_episodes"] = []
        notes.append(f"no {' or '.join(r for r in ('head', 'thorax') if r in missing)} pod: "
                     f"head-forward time not measured (it needs the head and thorax pods)")
    if "thorax" in missing:
        s["not_measured"].append("lumbar")
        notes.append("no thorax pod: slouch judged from the pelvis alone (the lumbar angle "
                     "needs the thorax pod)")
    if "pelvis" in missing:
        s["not_measured"].append("pelvis")
        notes.append("no pelvis pod: slouch judged from the lumbar angle alone is not "
                     "possible (lumbar = thorax - pelvis); sitting time is uncertain")


def write_result(summary: dict, rec_dir: str | Path) -> Path:
    """Store the result as ``sitting.json`` in the recording directory."""
    p = Path(rec_dir) / "sitting.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1, allow_nan=False))
    tmp.replace(p)
    return p


def earlier_days(rec_dir: str | Path, patient: str | None,
                 history_dir: str | Path | None = None) -> list[dict]:
    """The ``sitting.json`` of the same patient's other recordings, oldest first, by the
    one rule of both reports (:func:`posturepod.report.history.patient_history`)."""
    from posturepod.report.history import patient_history
    if rec_dir is None:
        return []
    out = []
    for s in patient_history(rec_dir, patient, PROTOCOL, history_dir=history_dir):
        d = dict(s.data)
        d["_dir"] = s.path.parent.name
        out.append(d)
    return out
