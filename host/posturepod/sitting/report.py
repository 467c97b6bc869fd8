"""HTML report of a sitting day: timeline, hourly slouch and head-forward minutes,
distributions against the sitting reference, breaks and bouts, the postural chain, and a
comparison with earlier days of the same pseudonymous ID.

Self-contained and printable: built with the shared helpers of
:mod:`posturepod.report.html` (inline SVG figures, inline CSS, no script, no URL).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from posturepod.report import html as H, placement as PL

C_SIT = "#dfe6ee"
C_UPRIGHT = "#9ec5e8"
C_SLOUCH = "#b71c1c"
C_LEAN = "#e6a23c"
C_HEAD = "#8064a2"
C_BREAK = "#2e7d32"

REFERENCES = [
    ("Claus 2009", "Claus AP, Hides JA, Moseley GL, Hodges PW. Is 'ideal' sitting posture "
                   "real? Measurement of spinal curves in four sitting postures. Manual "
                   "Therapy 2009;14(4):404-408. doi:10.1016/j.math.2008.06.001"),
    ("O'Sullivan 2006", "O'Sullivan PB, Dankaerts W, Burnett AF, et al. Effect of different "
                        "upright sitting postures on spinal-pelvic curvature and trunk muscle "
                        "activation in a pain-free population. Spine 2006;31(19):E707-E712."),
    ("O'Sullivan 2012", "O'Sullivan K, O'Sullivan P, O'Sullivan L, Dankaerts W. What do "
                        "physiotherapists consider to be the best sitting spinal posture? "
                        "Manual Therapy 2012;17(5):432-437. doi:10.1016/j.math.2012.04.007"),
    ("Caneiro 2010", "Caneiro JP, O'Sullivan P, Burnett A, et al. The influence of different "
                     "sitting postures on head/neck posture and muscle activity. Manual "
                     "Therapy 2010;15(1):54-60. doi:10.1016/j.math.2009.06.002"),
    ("Kendall 2005", "Kendall FP, McCreary EK, Provance PG, Rodgers MM, Romani WA. Muscles: "
                     "Testing and Function with Posture and Pain, 5th ed. Lippincott "
                     "Williams & Wilkins, 2005."),
    ("Healy 2008", "Healy GN, Dunstan DW, Salmon J, et al. Breaks in sedentary time: "
                   "beneficial associations with metabolic risk. Diabetes Care "
                   "2008;31(4):661-666."),
    ("Dunstan 2012", "Dunstan DW, Kingwell BA, Larsen R, et al. Breaking up prolonged "
                     "sitting reduces postprandial glucose and insulin responses. Diabetes "
                     "Care 2012;35(5):976-983. doi:10.2337/dc11-1931"),
]


# --------------------------------------------------------------------------- helpers
def _clock_start(summary: dict) -> datetime | None:
    txt = summary.get("recorded_at")
    if not txt:
        return None
    try:
        dt = datetime.fromisoformat(str(txt).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:           # a recording's date is UTC (as the header's local_time)
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone()          # clock times in this computer's local time


def _deg(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def _hm(seconds: float) -> str:
    """One style for every duration in the report: 43 s, 4 min 05 s, 2 h 05 min."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        m, sec = divmod(int(round(seconds)), 60)
        return f"{m} min {sec:02d} s"
    m = int(round(seconds / 60.0))
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _alert_rows(s: dict, brk_after: float) -> list[tuple[str, str]]:
    """The buzzes the wearer really got (the live tool's buzz events in the recording), and
    what the analysis' episodes would have given by the same rule: they differ when the live
    angles (causal filter) and the offline ones part near a threshold, or the live tool ran
    with other settings."""
    a = s["alerts"]
    rows = []
    live = s.get("live_alerts")
    if live is not None:
        rows.append(("Buzzes given live", f"{live['slouch_buzzes']} slouch, "
                     f"{live['head_forward_buzzes']} head forward, "
                     f"{live['break_reminders']} break reminder(s) (events in the recording)"))
    rows.append(("Alerts by this analysis" if live is not None else
                 "Alerts the live tool would have given",
                 f"{a['slouch_buzzes']} slouch, {a['head_forward_buzzes']} head forward (after "
                 f"{a['buzz_after_s']:.0f} s of one posture, again every "
                 f"{a.get('buzz_repeat_s', 0):.0f} s while it lasts), {a['break_reminders']} "
                 f"break reminder(s) (after {brk_after / 60:.0f} min)"))
    return rows


def what_next(s: dict) -> list[str]:
    """Plain suggestions from the day's numbers, for the wearer and the clinician (not a
    diagnosis, not a prescription): breaks, slouch, head, and measuring again."""
    sit = s.get("sitting_s") or 0.0
    brk_after = s["alerts"]["break_after_s"]
    out = []
    longest = s.get("longest_sitting_bout_s") or 0.0
    if longest > brk_after:
        out.append(f"Stand up or walk at least every {brk_after / 60:.0f} min: the longest "
                   f"sitting bout was {_hm(longest)}. The live tool reminds you "
                   f"(posturepod sitting --pod ...).")
    slouch = s["slouch_s"] / sit if sit else 0.0
    if slouch > 0.25:
        out.append(f"Slouched for {100 * slouch:.0f}% of the sitting time: sit back in the "
                   "chair with the pelvis upright; the live buzz after a minute of slouch "
                   "helps to notice it. A pelvis that keeps tilting back can come from tight "
                   "hamstrings and hip muscles: ask your clinician about the forward-flexion "
                   "test (posturepod flexion).")
    hf = s.get("head_forward_s")
    if hf is not None and sit and hf / sit > 0.15:
        out.append(f"Head forward for {100 * hf / sit:.0f}% of the sitting time: check the "
                   "screen height and distance, and what draws the head forward (a laptop, "
                   "small text, a phone).")
    if s.get("calibration", {}).get("quality") not in (None, "good"):
        out.append("The calibration was not good (see the banner): repeat it at the start "
                   "of the next day, standing still and looking ahead.")
    if not out:
        out.append("Nothing stands out on this day: keep the breaks and the upright sitting.")
    out.append("Measure again on a similar day in a few weeks (same pods, same places) and "
               "compare: the report then shows the earlier days, and posturepod history "
               "lists them.")
    return out


def _mask_from_intervals(t0: np.ndarray, t1: np.ndarray, eps: list[dict]) -> np.ndarray:
    m = np.zeros(len(t0), bool)
    for e in eps:
        m |= (t0 < e["end_s"]) & (t1 > e["start_s"])
    return m


def _runs(mask: np.ndarray, t0: np.ndarray, t1: np.ndarray, min_s: float = 0.0):
    """(start, width) of the True runs of a per-epoch mask (for broken_barh)."""
    if not len(mask):
        return []
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    out = []
    for a, b in zip(starts, ends):
        s, e = t0[a], t1[b - 1]
        if e - s >= min_s:
            out.append((s, e - s))
    return out


def _per_minute(t0, values, sel, start, n_min):
    """Median per minute of ``values`` where ``sel``; NaN where none."""
    out = np.full(n_min, np.nan)
    if not len(t0):
        return out
    k = ((t0 - start) // 60.0).astype(int)
    ok = sel & np.isfinite(values) & (k >= 0) & (k < n_min)
    if not ok.any():
        return out
    k, v = k[ok], values[ok]
    order = np.lexsort((v, k))
    k, v = k[order], v[order]
    bounds = np.flatnonzero(np.r_[True, k[1:] != k[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[k[a]] = v[(a + b - 1) // 2] if (b - a) % 2 else 0.5 * (v[(a + b) // 2 - 1] +
                                                                  v[(a + b) // 2])
    return out


def _time_axis(ax, start_s, end_s, clock0: datetime | None):
    """Ticks that fit the recording's length (4-8 of them, from 1 min to 2 h apart): clock
    time when the recording's start time is known, else minutes (under 2 h) or hours from
    the start. The axis itself is in hours."""
    dur_h = max((end_s - start_s) / 3600.0, 1e-6)
    step = next((m / 60.0 for m in (1, 2, 5, 10, 15, 30, 60, 120)
                 if dur_h / (m / 60.0) <= 8), 4.0)
    ticks = np.arange(0.0, dur_h + 1e-9, step)
    ax.set_xticks(ticks)
    if clock0 is not None:
        ax.set_xticklabels([(clock0 + timedelta(hours=float(h))).strftime("%H:%M")
                            for h in ticks])
        ax.set_xlabel("time of day")
    elif dur_h < 2.0:
        ax.set_xticklabels([f"{h * 60:.0f}" for h in ticks])
        ax.set_xlabel("minutes from the start of the recording")
    else:
        ax.set_xticklabels([f"{h:g}" for h in ticks])
        ax.set_xlabel("hours from the start of the recording")
    ax.set_xlim(0.0, dur_h)


def _style(ax):
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


# --------------------------------------------------------------------------- figures
def fig_timeline(summary, tl, clock0):
    start, end = summary["start_s"], summary["end_s"]
    fig = H.new_figure(10.0, 4.6)
    gs = fig.add_gridspec(2, 1, height_ratios=[1.15, 1.0], hspace=0.35)
    ax = fig.add_subplot(gs[0])
    t0, t1 = tl.t0, tl.t1
    brk = _mask_from_intervals(t0, t1, summary["breaks"])
    slouch = _mask_from_intervals(t0, t1, summary["slouch_episodes"])
    head = _mask_from_intervals(t0, t1, summary["head_forward_episodes"])
    lean = (tl.trunk == 3) & ~slouch & ~brk
    upright = ~brk & ~slouch & ~lean & (tl.activity != 0)
    lanes = [("standing / walking", [(brk, C_BREAK)]),
             ("trunk", [(upright, C_UPRIGHT), (lean, C_LEAN), (slouch, C_SLOUCH)]),
             ("head", [(head, C_HEAD)])]
    for i, (name, parts) in enumerate(lanes):
        y = len(lanes) - 1 - i
        ax.broken_barh([(0.0, (end - start) / 3600.0)],
                       (y - 0.38, 0.76), facecolors="#f4f4f4", edgecolor="none")
        for mask, col in parts:
            runs = _runs(mask, t0, t1, min_s=5.0 if col == C_LEAN else 0.0)
            if runs:
                ax.broken_barh([((s - start) / 3600.0, w / 3600.0) for s, w in runs],
                               (y - 0.38, 0.76), facecolors=col, edgecolor="none")
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([n for n, _ in lanes][::-1], fontsize=8)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    _time_axis(ax, start, end, clock0)
    ax.set_xlabel("")
    _style(ax)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=C_UPRIGHT, label="upright sitting"),
                       Patch(color=C_LEAN, label="forward lean"),
                       Patch(color=C_SLOUCH, label="slouched"),
                       Patch(color=C_HEAD, label="head forward"),
                       Patch(color=C_BREAK, label="standing / walking (break)")],
              loc="upper center", bbox_to_anchor=(0.5, 1.32), ncol=5, fontsize=8,
              frameon=False)
    ax2 = fig.add_subplot(gs[1], sharex=ax)
    n_min = max(1, int(math.ceil((end - start) / 60.0)))
    sit = (tl.activity == 1) & ~brk
    xm = (np.arange(n_min) + 0.5) / 60.0
    th = summary["thresholds"]
    for col, name, color, thr in ((0, "pelvis", H.COLORS["pelvis"], -th["slouch_pelvis_deg"]),
                                  (3, "lumbar", H.COLORS["lumbar"], th["slouch_lumbar_deg"]),
                                  (4, "neck", H.COLORS["neck"], th["head_forward_deg"])):
        y = _per_minute(t0, tl.rel[:, col] if len(tl) else np.zeros(0), sit, start, n_min)
        ax2.plot(xm, y, color=color, lw=1.0, label=f"{name} (minute median)")
        ax2.axhline(thr, color=color, lw=0.8, ls="--")
    ax2.axhline(0.0, color="#555", lw=0.6)
    ax2.set_ylabel("° vs upright\nsitting", fontsize=8)
    ax2.legend(fontsize=7, ncol=3, loc="upper left", frameon=False)
    _time_axis(ax2, start, end, clock0)
    _style(ax2)
    return fig


def fig_hourly(summary, clock0):
    hourly = summary["hourly"]
    fig = H.new_figure(10.0, 2.8)
    ax = fig.add_subplot(111)
    x = np.arange(len(hourly))
    sit = np.array([r["sitting_min"] for r in hourly])
    sl = np.array([r["slouch_min"] for r in hourly])
    hf = np.array([r["head_forward_min"] for r in hourly])
    ax.bar(x, sit, width=0.8, color=C_SIT, label="sitting")
    ax.bar(x - 0.18, sl, width=0.34, color=C_SLOUCH, label="slouched")
    ax.bar(x + 0.18, hf, width=0.34, color=C_HEAD, label="head forward")
    ax.set_ylim(0, 62)
    ax.set_ylabel("minutes", fontsize=8)
    if clock0 is not None:
        labels = [(clock0 + timedelta(hours=int(r["hour"]))).strftime("%H:%M") for r in hourly]
    else:
        labels = [f"hour {r['hour'] + 1}" for r in hourly]
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.legend(fontsize=8, ncol=3, frameon=False, loc="lower center",
              bbox_to_anchor=(0.5, 1.0))
    _style(ax)
    return fig


def fig_distributions(summary):
    th = summary["thresholds"]
    fig = H.new_figure(10.0, 2.9)
    specs = (("pelvis_rel_deg", "pelvic tilt (°)\nnegative: tilted back", H.COLORS["pelvis"],
              -th["slouch_pelvis_deg"], "below"),
             ("lumbar_rel_deg", "lumbar flexion (°)\npositive: more flexed (flatter)",
              H.COLORS["lumbar"], th["slouch_lumbar_deg"], "above"),
             ("neck_rel_deg", "neck flexion (°)\npositive: head forward", H.COLORS["neck"],
              th["head_forward_deg"], "above"))
    specs = tuple(x for x in specs if x[0] in summary["distributions"])
    for i, (key, label, color, thr, side) in enumerate(specs):
        ax = fig.add_subplot(1, len(specs), i + 1)
        d = summary["distributions"][key]
        sec = np.asarray(d["seconds"], float)
        edges = d["lo_deg"] + d["bin_deg"] * np.arange(len(sec) + 1)
        centers = 0.5 * (edges[:-1] + edges[1:])
        beyond = centers < thr if side == "below" else centers > thr
        ax.bar(centers[~beyond], sec[~beyond] / 60.0, width=d["bin_deg"], color=color,
               alpha=0.55)
        ax.bar(centers[beyond], sec[beyond] / 60.0, width=d["bin_deg"], color=C_SLOUCH)
        ax.axvline(0.0, color="#333", lw=0.8)
        ax.axvline(thr, color=C_SLOUCH, lw=0.9, ls="--")
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("minutes sitting", fontsize=8)
        _style(ax)
    fig.subplots_adjust(wspace=0.3, bottom=0.25)
    return fig


def fig_bouts(summary, clock0, break_after_s):
    start, end = summary["start_s"], summary["end_s"]
    fig = H.new_figure(10.0, 2.4)
    ax = fig.add_subplot(111)
    bouts = summary.get("sitting_bouts", [])
    for b in bouts:
        d = b["end_s"] - b["start_s"]
        col = C_SLOUCH if d > break_after_s else C_UPRIGHT
        ax.broken_barh([((b["start_s"] - start) / 3600.0, d / 3600.0)], (0, d / 60.0),
                       facecolors=col, edgecolor="white")
    for b in summary["breaks"]:
        ax.axvspan((b["start_s"] - start) / 3600.0, (b["end_s"] - start) / 3600.0,
                   color=C_BREAK, alpha=0.6, lw=0)
    ax.axhline(break_after_s / 60.0, color="#333", ls="--", lw=0.8)
    ymax = max([break_after_s / 60.0 * 1.2] + [(b["end_s"] - b["start_s"]) / 60.0 * 1.1
                                               for b in bouts])
    ax.set_ylim(0, ymax)
    ax.set_ylabel("bout length (min)", fontsize=8)
    _time_axis(ax, start, end, clock0)
    _style(ax)
    return fig


def fig_chain(summary):
    """The postural chain, each link annotated with the day's measure."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    d = summary["distributions"]
    th = summary["thresholds"]
    sit = summary["sitting_s"]

    def beyond(key, thr, below):
        h = d.get(key)
        if not h or not sum(h["seconds"]):
            return "–"
        sec = np.asarray(h["seconds"], float)
        c = h["lo_deg"] + h["bin_deg"] * (np.arange(len(sec)) + 0.5)
        m = c < thr if below else c > thr
        return f"{100 * sec[m].sum() / sec.sum():.0f}% of sitting"

    def share(x):
        return f"{100 * x / sit:.0f}% of sitting" if sit else "–"
    links = [
        ("Posterior\npelvic tilt", f"> {th['slouch_pelvis_deg']:g} deg back: "
         + beyond("pelvis_rel_deg", -th["slouch_pelvis_deg"], True)),
        ("Flattened\nlumbar lordosis", f"> {th['slouch_lumbar_deg']:g} deg flexed: "
         + beyond("lumbar_rel_deg", th["slouch_lumbar_deg"], False)),
        ("Rounded\nthoracic spine", "slouched: " + share(summary["slouch_s"])),
        ("Head forward", f"neck > {th['head_forward_deg']:g} deg: "
         + beyond("neck_rel_deg", th["head_forward_deg"], False)),
        ("Neck strain", "head-forward episodes:\n" + (
            "not measured" if summary["head_forward_s"] is None
            else share(summary["head_forward_s"]))),
    ]
    fig = H.new_figure(10.0, 1.7)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 1.7)
    ax.axis("off")
    w, gap = 1.62, 0.43
    for i, (title, value) in enumerate(links):
        x = 0.15 + i * (w + gap)
        ax.add_patch(FancyBboxPatch((x, 0.3), w, 1.1, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor="#eef3f8", edgecolor=H.COLORS["info"], lw=1.2))
        ax.text(x + w / 2, 1.05, title, ha="center", va="center", fontsize=8.5,
                fontweight="bold", linespacing=1.2)
        ax.text(x + w / 2, 0.58, value.replace(": ", ":\n", 1) if "\n" not in value
                else value, ha="center", va="center", fontsize=7.5, color=C_SLOUCH,
                linespacing=1.2)
        if i < len(links) - 1:
            ax.add_patch(FancyArrowPatch((x + w + 0.03, 0.85), (x + w + gap - 0.03, 0.85),
                                         arrowstyle="-|>", mutation_scale=14, lw=1.4,
                                         color="#333"))
    return fig


def fig_history(days):
    fig = H.new_figure(10.0, 2.6)
    ax = fig.add_subplot(111)
    x = np.arange(len(days))
    sl = [d["summary"].get("slouch_pct") or 0.0 for d in days]
    hf = [d["summary"].get("head_forward_pct") or 0.0 for d in days]
    ax.plot(x, sl, "o-", color=C_SLOUCH, label="slouched (% of sitting)")
    ax.plot(x, hf, "s-", color=C_HEAD, label="head forward (% of sitting)")
    ax.set_xticks(x)
    ax.set_xticklabels([d["label"] for d in days], fontsize=7)
    ax.set_ylabel("% of sitting", fontsize=8)
    ax.set_ylim(0, max([10.0] + sl + hf) * 1.15)
    ax.legend(fontsize=8, frameon=False)
    _style(ax)
    return fig


# --------------------------------------------------------------------------- page
def _day_label(d: dict, fallback: str) -> str:
    txt = d.get("recorded_at")
    if txt:
        try:
            return datetime.fromisoformat(str(txt).replace("Z", "+00:00")).strftime("%Y-%m-%d")
        except ValueError:
            return str(txt)[:16]
    return fallback


def build_report(result, *, history: list[dict] | None = None, title: str | None = None) -> str:
    """The HTML page for a :class:`~posturepod.sitting.SittingResult` (``history``: earlier
    days' sitting.json of the same patient, oldest first)."""
    s, tl = result.summary, result.timeline
    clock0 = _clock_start(s)
    ref = s["reference"]
    th = s["thresholds"]
    sit = s["sitting_s"]
    hdr = [("Patient", s.get("patient") or "–"),
           ("Recorded", H.local_time(s.get("recorded_at"))),
           ("Recording", s.get("recording") or "–"),
           ("Duration", _hm(s["duration_s"])), PL.header_item(s.get("placement"))]
    secs = [H.calibration_banner(s.get("calibration"))]
    if ref.get("source") == "none":
        secs.append(H.callout(ref["note"], kind="alert", title="No analysis"))
        return H.page(title or "Sitting day", secs, subtitle="posturepod sitting",
                      header_items=hdr)

    def pct(x):
        return f"{100 * x / sit:.0f}% of sitting" if sit > 0 else "–"
    longest = s["longest_sitting_bout_s"]
    brk_after = s["alerts"]["break_after_s"]
    kind = "alert" if longest > 2 * brk_after or (sit and s["slouch_s"] / sit > 0.5) else \
        "warn" if longest > brk_after or (sit and s["slouch_s"] / sit > 0.25) else "ok"
    key = H.key_values([
        ("Sitting", _hm(sit)),
        ("Slouched", f"{_hm(s['slouch_s'])} ({pct(s['slouch_s'])}), "
                     f"{len(s['slouch_episodes'])} episode(s) of at least "
                     f"{th['slouch_min_s']:.0f} s (shorter slumps are not counted)"),
        ("Head forward", "not measured (needs the head and thorax pods)"
         if s["head_forward_s"] is None else
         f"{_hm(s['head_forward_s'])} ({pct(s['head_forward_s'])}), "
                         f"{len(s['head_forward_episodes'])} episode(s)"),
        ("Forward lean (neutral spine)", _hm(s.get("forward_lean_s", 0.0))),
        ("Breaks", f"{len(s['breaks'])} (standing or walking at least "
                   f"{th['break_min_s']:.0f} s)"),
        ("Longest sitting bout", _hm(longest)),
        *_alert_rows(s, brk_after),
    ])
    secs.append(H.section("Summary", H.callout(key, kind=kind, title="The day at a glance"),
                          H.paragraph(
        "Reference: the person's own upright sitting "
        f"({'sit_reference event' if ref['source'] == 'event' else ref['source']}"
        + (f", {ref['start_s']:.0f}-{ref['end_s']:.0f} s" if ref.get("start_s") is not None
           else "") + f"): pelvis {_deg(ref['pelvis_deg'])} deg, "
        f"lumbar {_deg(ref['lumbar_deg'])} deg, neck {_deg(ref['neck_deg'])} deg against the "
        "standing calibration", f" ({ref['note']})." if ref.get("note") else ".")))
    secs.append(H.section(
        "The day", H.figure(H.figure_svg(fig_timeline(s, tl, clock0), title="posture timeline"),
                            "Posture timeline. Lanes: breaks (standing or walking), trunk "
                            "(upright, forward lean from the hips with a neutral spine, "
                            "slouch episodes), head-forward episodes. Below: minute medians "
                            "while sitting, against the upright-sitting reference; dashed "
                            f"lines: the thresholds (pelvis -{th['slouch_pelvis_deg']:g}, "
                            f"lumbar +{th['slouch_lumbar_deg']:g}, neck "
                            f"+{th['head_forward_deg']:g} deg).")))
    rows = [[(clock0 + timedelta(hours=r["hour"])).strftime("%H:%M") if clock0
             else f"hour {r['hour'] + 1}", H.fmt(r["sitting_min"], 0),
             H.fmt(r["slouch_min"], 1), H.fmt(r["head_forward_min"], 1),
             H.fmt(r["forward_lean_min"], 1), r["breaks"]] for r in s["hourly"]]
    secs.append(H.section(
        "Hour by hour",
        H.figure(H.figure_svg(fig_hourly(s, clock0), title="hourly minutes"),
                 "Minutes per hour sitting, slouched and with the head forward."),
        H.table(["Hour", "Sitting (min)", "Slouched (min)", "Head forward (min)",
                 "Forward lean (min)", "Breaks"], rows, align="lrrrrr", cls="data compact")))
    secs.append(H.section(
        "Pelvic tilt, lumbar and neck angles",
        H.figure(H.figure_svg(fig_distributions(s), title="distributions"),
                 "Time spent sitting at each pelvic tilt, lumbar flexion and neck angle, "
                 "against the person's upright sitting (0). Signs: a negative pelvic tilt is "
                 "the pelvis tilted back; a positive lumbar angle is the lower back more "
                 "flexed (flatter); a positive neck angle is the head more forward. Slouch is "
                 "the pelvis or the lumbar spine beyond its threshold. Red: beyond the slouch "
                 "/ head-forward threshold (dashed); a posture counts as an episode only when "
                 "held "
                 f"{th['slouch_min_s']:.0f} s (slouch) or {th['head_forward_min_s']:.0f} s "
                 "(head forward).")))
    brk_rows = []
    for i, b in enumerate(s["breaks"]):
        when = ((clock0 + timedelta(seconds=b["start_s"] - s["start_s"])).strftime("%H:%M:%S")
                if clock0 else f"{_hm(b['start_s'] - s['start_s'])} from the start")
        brk_rows.append([i + 1, when, H.fmt(b["duration_s"] / 60.0, 1)])
    bout_part = [H.figure(H.figure_svg(fig_bouts(s, clock0, brk_after), title="sitting bouts"),
                          "Sitting bouts (bar height = length; red when longer than the "
                          f"{brk_after / 60:.0f}-min break reminder) and breaks (green).")]
    if brk_rows:
        bout_part.append(H.table(["Break", "Start", "Length (min)"], brk_rows, align="lrr",
                                 cls="data compact"))
    else:
        bout_part.append(H.paragraph("No break of standing or walking for at least "
                                     f"{th['break_min_s']:.0f} s was found."))
    bout_part.append(H.paragraph(f"Longest sitting bout: {_hm(longest)}. Breaking up sitting "
                                 "regularly is associated with better metabolic health "
                                 "[Healy 2008] and short walking breaks every 20 min lowered "
                                 "glucose and insulin after a test drink [Dunstan 2012]."))
    secs.append(H.section("Breaks and sitting bouts", *bout_part))
    secs.append(H.section("What next", H.bullet_list(what_next(s)), H.paragraph(
        "Suggestions from this day's numbers, not a diagnosis; the clinician decides what "
        "to do."), id="next"))
    secs.append(H.section(
        "Why it matters: the chain",
        H.figure(H.figure_svg(fig_chain(s), title="postural chain"),
                 "Long sitting with tight hips tilts the pelvis backwards; the lumbar "
                 "lordosis flattens, the thoracic spine rounds and the head drifts forward, "
                 "loading the neck. Values: this day's share of sitting time beyond each "
                 "threshold, against the person's upright sitting."),
        H.paragraph("Slumped sitting changes the lumbar and thoracic curves and moves the "
                    "head forward with more head/neck flexion and neck-muscle activity than "
                    "upright sitting [Caneiro 2010]; upright postures themselves differ in "
                    "lumbar extension and pelvic tilt [O'Sullivan 2006] and in the "
                    "thoraco-lumbar and lumbar curves [Claus 2009]; the posture faults are "
                    "described in [Kendall 2005]. Forward lean from the hips with a neutral "
                    "spine is not counted as a slouch.")))
    if history:
        days = []
        for d in history:
            days.append({**d, "label": _day_label(d, d.get("_dir", "?"))})
        days.append({**s, "label": _day_label(s, "this day") + " (this day)"})
        hrows = []
        for d in days:
            sm = d.get("summary", {})
            hrows.append([d["label"], H.fmt(sm.get("sitting_min"), 0),
                          H.fmt(sm.get("slouch_pct"), 0, "%"),
                          H.fmt(sm.get("head_forward_pct"), 0, "%"), sm.get("breaks", "–"),
                          H.fmt(sm.get("longest_sitting_bout_min"), 0)])
        secs.append(H.section(
            "Compared with earlier days",
            H.figure(H.figure_svg(fig_history(days), title="earlier days"),
                     f"Days of patient {s.get('patient')} found beside this recording."),
            H.table(["Day", "Sitting (min)", "Slouched", "Head forward", "Breaks",
                     "Longest bout (min)"], hrows, align="lrrrrr", cls="data compact",
                    row_classes=[""] * (len(hrows) - 1) + ["ok"])))
    else:
        secs.append(H.section("Compared with earlier days", H.paragraph(
            "No earlier day of this patient was found beside this recording"
            + ("" if s.get("patient") else " (no patient ID given)") + ".")))
    notes = list(s.get("notes", [])) + list(s.get("warnings", [])) + [
        "Head forward is the head's flexion on the upper trunk (head minus thorax pitch), not "
        "the forward head translation the craniovertebral angle measures, and one thoracic "
        "pod gives trunk inclination, not the kyphosis angle."]
    defs = H.range_box([
        ("Slouch", f"pelvis > {th['slouch_pelvis_deg']:g} deg further back or lumbar > "
                   f"{th['slouch_lumbar_deg']:g} deg more flexed than upright sitting, held "
                   f">= {th['slouch_min_s']:.0f} s (gaps < {th['gap_max_s']:g} s joined)",
         "project default (size not from a study); O'Sullivan 2006, Claus 2009, "
         "Caneiro 2010"),
        ("Head forward", f"neck > {th['head_forward_deg']:g} deg more flexed than upright "
                         f"sitting, >= {th['head_forward_min_s']:.0f} s",
         "project default; Caneiro 2010"),
        ("Break", f"standing or walking >= {th['break_min_s']:.0f} s, from pelvis/trunk "
                  "orientation and gait periodicity", "project default; Healy 2008"),
        ("Reference", f"{th['reference_s']:g} s of upright sitting (sit_reference event)",
         "project protocol; O'Sullivan 2012"),
    ], title="Definitions", headers=("Measure", "Definition", "Source"))
    secs.append(H.section("Definitions and notes", defs,
                          H.bullet_list(notes) if notes else "",
                          H.reference_box(REFERENCES)))
    secs.append(PL.section(s.get("placement"), history_levels=PL.levels_of(history)))
    secs.append(H.calibration_section(s.get("calibration")))
    return H.page(title or "Sitting day", secs,
                  subtitle="Slouch, head-forward posture and breaks through a desk day",
                  header_items=hdr)


def write_report(path, result, *, history: list[dict] | None = None) -> Path:
    return H.write_page(path, build_report(result, history=history))
