"""HTML report of the standing forward-flexion test (self-contained, printable)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from posturepod.flexion import analysis as F
from posturepod.report import html as H, placement as PL

PATTERN_WORDS = {
    F.NORMAL: "Normal lumbopelvic rhythm",
    F.INHIBITED: "Inhibited hip pattern",
    F.INCONCLUSIVE: "Not judged (inconclusive)",
}
PATTERN_KIND = {F.NORMAL: "ok", F.INHIBITED: "alert", F.INCONCLUSIVE: "muted"}
SHADE = {F.NORMAL: "#c8e6c9", F.INHIBITED: "#ffcdd2", F.INCONCLUSIVE: "#e0e0e0"}

REFERENCES = [
    ("Esola 1996", "Esola MA, McClure PW, Fitzgerald GK, Siegler S. Analysis of lumbar spine "
                   "and hip motion during forward bending in subjects with and without a "
                   "history of low back pain. Spine 1996;21(1):71-78. "
                   "doi:10.1097/00007632-199601010-00017"),
    ("McClure 1997", "McClure PW, Esola M, Schreier R, Siegler S. Kinematic analysis of lumbar "
                     "and hip motion while rising from a forward, flexed position in patients "
                     "with and without a history of low back pain. Spine 1997;22(5):552-558."),
    ("Tully 2002", "Tully EA, Wagh P, Galea MP. Lumbofemoral rhythm during hip flexion in "
                   "young adults and children. Spine 2002;27(20):E432-E440. "
                   "doi:10.1097/00007632-200210150-00013"),
    ("Vazirian 2016", "Vazirian M, Van Dillen LR, Bazrgari B. Lumbopelvic rhythm in the "
                      "sagittal plane: a review of the effects of participants and task "
                      "characteristics. Int Musculoskelet Med 2016;38(2):51-58. "
                      "doi:10.1080/17536146.2016.1241525"),
    ("Gajdosik 1992", "Gajdosik RL, Hatcher CK, Whitsitt S. Influence of short hamstring "
                      "muscles on the pelvis and lumbar spine in standing and during the "
                      "toe-touch test. Clin Biomech 1992;7(1):38-42. "
                      "doi:10.1016/0268-0033(92)90006-P"),
    ("Laird 2019", "Laird RA, Keating JL, Ussing K, Li P, Kent P. Does movement matter in "
                   "people with back pain? Investigating 'atypical' lumbo-pelvic kinematics "
                   "in people with and without back pain using wireless movement sensors. "
                   "BMC Musculoskelet Disord 2019;20:28. doi:10.1186/s12891-018-2387-x"),
    ("Page 2010", "Page P, Frank CC, Lardner R. Assessment and Treatment of Muscle Imbalance: "
                  "The Janda Approach. Human Kinetics; 2010 (Janda's lower- and "
                  "upper-crossed syndromes)."),
    ("Kendall 2005", "Kendall FP, McCreary EK, Provance PG, Rodgers MM, Romani WA. Muscles: "
                     "Testing and Function with Posture and Pain, 5th ed. Lippincott Williams "
                     "& Wilkins; 2005 (flat-back posture, hamstring length)."),
    ("Balasubramanian 2015", "Balasubramanian S, Melendez-Calderon A, Roby-Brami A, Burdet E. "
                             "On the analysis of movement smoothness. J NeuroEng Rehabil "
                             "2015;12:112 (SPARC, LDLJ). doi:10.1186/s12984-015-0090-9"),
    ("Hogan 2009", "Hogan N, Sternad D. Sensitivity of smoothness measures to movement "
                   "duration, amplitude, and arrests. J Mot Behav 2009;41(6):529-534. "
                   "doi:10.3200/35-09-004-RC"),
]


# --------------------------------------------------------------------------- figures
def fig_angles(result: F.FlexionResult):
    s = result.signals
    t = s["time_s"]
    fig = H.new_figure(10, 3.8)
    ax = fig.add_subplot(111)
    names = [("thorax_deg", "trunk (thorax)", H.COLORS["trunk"], 1.8),
             ("pelvis_deg", "pelvis", H.COLORS["pelvis"], 1.6),
             ("lumbar_deg", "lumbar (thorax - pelvis)", H.COLORS["lumbar"], 1.4),
             ("neck_deg", "neck (head - thorax)", H.COLORS["neck"], 1.0)]
    present = [(k, lab, c, lw) for k, lab, c, lw in names if np.isfinite(s[k]).all()]
    dec = H.decimate(t, *[s[k] for k, *_ in present], max_points=1600)
    for (k, lab, c, lw), y in zip(present, dec[1:]):
        ax.plot(dec[0], y, color=c, lw=lw, label=lab)
    cb = result.calibration_bend
    if cb:
        ax.axvspan(cb["start_s"], cb["end_s"], color="#bdbdbd", alpha=0.35, hatch="//",
                   lw=0)
        ax.text((cb["start_s"] + cb["end_s"]) / 2, 1.01, "calib.", ha="center", va="bottom",
                fontsize=8, color="#616161", transform=ax.get_xaxis_transform())
    for r in result.reps:
        ax.axvspan(r.start_s, r.end_s, color=SHADE[r.pattern], alpha=0.6, lw=0)
        ax.text((r.start_s + r.end_s) / 2, 1.01, f"{r.index}", ha="center", va="bottom",
                fontsize=9, fontweight="bold", transform=ax.get_xaxis_transform())
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("time (s, recording clock)")
    ax.set_ylabel("forward inclination (deg)")
    ax.set_xlim(t[0], t[-1])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=4,
              frameon=False)
    fig.tight_layout()
    return fig


def _rep_curve(result, r, key, start, stop, max_points=300):
    s = result.signals
    sl = slice(start, stop + 1)
    y = s[key][sl]
    step = max(1, len(y) // max_points)
    return y[::step]


def fig_rhythm(result: F.FlexionResult):
    s = result.signals
    band = result.config.band
    rule = result.config.rule
    fig = H.new_figure(10, 4.2)
    ax1 = fig.add_subplot(121)
    ax2 = fig.add_subplot(122)
    tmax = max([r.peak_trunk_deg for r in result.reps] + [120.0]) + 5
    tt = np.linspace(0, tmax, 120)
    lo, hi = band.pelvis_range(tt)
    ax1.fill_between(tt, lo, hi, color=H.COLORS["band"], alpha=0.9, lw=0,
                     label="normal band (illustrative)")
    ax2.fill(np.concatenate([lo, hi[::-1]]), np.concatenate([tt - lo, (tt - hi)[::-1]]),
             color=H.COLORS["band"], alpha=0.9, lw=0, label="normal band (illustrative)")
    cmap = ["#1f4e79", "#e07b00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457", "#33691e"]
    have_pelvis = np.isfinite(s["pelvis_deg"]).all()
    for i, r in enumerate(result.reps):
        if not have_pelvis:
            break
        c = cmap[i % len(cmap)]
        for a, b, ls, lab in ((r.start_i, r.peak_i, "-", f"rep {r.index}"),
                              (r.peak_i, r.end_i, "--", None)):
            tr = _rep_curve(result, r, "thorax_deg", a, b)
            pe = _rep_curve(result, r, "pelvis_deg", a, b)
            lu = _rep_curve(result, r, "lumbar_deg", a, b)
            ax1.plot(tr, pe, ls, color=c, lw=1.4, label=lab)
            ax2.plot(pe, lu, ls, color=c, lw=1.4, label=lab)
        ax1.plot([r.peak_trunk_deg], [r.pelvis_at_trunk_peak_deg], "o", color=c, ms=5)
        ax2.plot([r.pelvis_at_trunk_peak_deg], [r.lumbar_at_trunk_peak_deg], "o", color=c, ms=5)
    ax1.axhline(rule.max_pelvis_deg, color=H.COLORS["alert"], lw=0.9, ls=":")
    if rule.band_pelvis_deg > 0:
        ax1.axhspan(rule.max_pelvis_deg - rule.band_pelvis_deg,
                    rule.max_pelvis_deg + rule.band_pelvis_deg, color=H.COLORS["alert"],
                    alpha=0.12, lw=0)
    ax1.axvline(rule.min_trunk_deg, color="#757575", lw=0.9, ls=":")
    ax1.text(2, rule.max_pelvis_deg + 1, f"pelvis {rule.max_pelvis_deg:.0f} deg",
             fontsize=7, color=H.COLORS["alert"])
    ax1.text(rule.min_trunk_deg + 1, 2, f"judged from {rule.min_trunk_deg:.0f} deg",
             fontsize=7, color="#616161", rotation=90, va="bottom")
    ax1.set_xlabel("trunk (thorax) flexion (deg)")
    ax1.set_ylabel("pelvic rotation (deg)")
    ax1.set_title("Pelvis against trunk (solid: down, dashed: up)", fontsize=10)
    ax1.set_xlim(0, tmax)
    ax1.set_ylim(min(-5, ax1.get_ylim()[0]), max(90, ax1.get_ylim()[1]))
    # lumbar share = min_lumbar_share  <=>  lumbar = pelvis * k / (1 - k)
    k = rule.min_lumbar_share
    pmax = max(90.0, ax2.get_xlim()[1])
    px = np.array([0.0, pmax])
    if k < 1:
        ax2.plot(px, px * k / (1 - k), color=H.COLORS["alert"], lw=0.9, ls=":")
        ax2.text(pmax * 0.62, pmax * 0.62 * k / (1 - k) + 2,
                 f"lumbar share {k:.2f}", fontsize=7, color=H.COLORS["alert"], rotation=0)
    ax2.axvline(rule.max_pelvis_deg, color=H.COLORS["alert"], lw=0.9, ls=":")
    if rule.band_pelvis_deg > 0:
        ax2.axvspan(rule.max_pelvis_deg - rule.band_pelvis_deg,
                    rule.max_pelvis_deg + rule.band_pelvis_deg, color=H.COLORS["alert"],
                    alpha=0.12, lw=0)
    ax2.set_xlabel("pelvic rotation (deg)")
    ax2.set_ylabel("lumbar flexion (thorax - pelvis) (deg)")
    ax2.set_title("Lumbar against pelvis", fontsize=10)
    ax2.set_xlim(min(-5, ax2.get_xlim()[0]), pmax)
    ax2.set_ylim(min(-5, ax2.get_ylim()[0]), max(90, ax2.get_ylim()[1]))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- text blocks
def _verdict_text(result: F.FlexionResult) -> tuple[str, str, str]:
    """(kind, title, plain-words paragraph)."""
    s = result.summary
    rule = result.config.rule
    pat = s.get("pattern", F.INCONCLUSIVE)
    n, nc = s.get("n_reps", 0), s.get("n_conclusive", 0)
    votes = s.get("votes", {})
    if not result.reps:
        return ("muted", "No test repetition found",
                "No forward bend was found after the calibration bend, so nothing could be "
                "judged. Record the test again: after calibrating, bend forward slowly as far "
                "as comfortable, knees straight, and come back up, three to five times.")
    trunk = H.fmt(s.get("peak_trunk_deg"), 0)
    pelvis = H.fmt(s.get("peak_pelvis_deg"), 0)
    share = s.get("lumbar_share")
    share_pc = H.fmt(None if share is None else 100 * share, 0)
    n_band = int(s.get("n_within_band") or 0)
    band = (f"within the measurement's uncertainty (about 95 % of its error: "
            f"±{rule.band_pelvis_deg:g}° of pelvic rotation, ±{rule.band_share:g} of lumbar "
            f"share) of the rule's thresholds ({rule.max_pelvis_deg:.0f}° pelvis, "
            f"{rule.min_lumbar_share:.2f} lumbar share)")
    if pat == F.INCONCLUSIVE and nc:
        return ("muted", PATTERN_WORDS[pat],
                f"{nc} of {n} repetitions could be judged, but they are split "
                f"({votes.get(F.NORMAL, 0)} normal, {votes.get(F.INHIBITED, 0)} inhibited "
                f"hip), and the typical repetition (pelvis {pelvis} degrees, lumbar share "
                f"{share_pc}%) lies {band}, so no verdict is given. Look at the curves and "
                f"the earlier sessions, or repeat the test.")
    if pat == F.INCONCLUSIVE and n_band:
        shallow = n - n_band
        return ("muted", PATTERN_WORDS[pat],
                f"{n_band} of {n} repetition(s) were deep enough to judge, but their pelvic "
                f"rotation or lumbar share lay {band}: the measurement cannot tell on which "
                f"side of the rule this patient is, so no verdict is given"
                + (f" ({shallow} other repetition(s) were too shallow to judge)"
                   if shallow else "")
                + f". In a typical repetition the trunk bent {trunk} degrees, the pelvis "
                f"rotated {pelvis} degrees and the lower back made up {share_pc}% of the "
                f"bend: a patient at the edge of the rule. Look at the curves and the "
                f"earlier sessions, or repeat the test.")
    if pat == F.INCONCLUSIVE:
        return ("muted", PATTERN_WORDS[pat],
                f"None of the {n} repetition(s) was deep enough to judge: the trunk bent "
                f"{trunk} degrees at most, and at least {rule.min_trunk_deg:.0f} degrees are "
                f"needed because the pelvis normally takes over late in the bend. Repeat the "
                f"test with a full, relaxed bend (knees straight, hands towards the floor).")
    head = f"{nc} of {n} repetitions could be judged ({votes.get(F.NORMAL, 0)} normal, " \
           f"{votes.get(F.INHIBITED, 0)} inhibited hip)" + \
           (f"; {n_band} lay too close to the thresholds to judge. " if n_band else ". ")
    if pat == F.INHIBITED:
        body = (f"{head}In a typical repetition the trunk bent {trunk} degrees, but the pelvis "
                f"rotated forward only {pelvis} degrees (a free hip gives about 60 to 70 "
                f"degrees in a 110 to 120 degree bend) and the lower back made up {share_pc}% "
                f"of the bend. The hips are not taking their share of the movement, so the "
                f"lumbar spine bends more to make up for it. This is the movement pattern of "
                f"tight hamstrings and hip external rotators with under-active glutes.")
    else:
        body = (f"{head}In a typical repetition the trunk bent {trunk} degrees, the pelvis "
                f"rotated forward {pelvis} degrees and the lower back made up {share_pc}% of "
                f"the bend: the hips took their share of the movement.")
    if s.get("borderline"):
        body += (" Some measures lie close to the thresholds of the rule: treat the "
                 "verdict as borderline and look at the curves and the earlier sessions.")
    return PATTERN_KIND[pat], PATTERN_WORDS[pat], body


def _margin_text(result: F.FlexionResult) -> str | None:
    """One line in plain words: how far the typical repetition lies from the rule."""
    s = result.summary
    rule = result.config.rule
    m = s.get("margin")
    trunk = s.get("peak_trunk_deg")
    if not m or trunk is None or trunk < rule.min_trunk_deg:
        return None
    dp, ds, sig = m.get("pelvis_deg"), m.get("lumbar_share"), m.get("sigmas")
    if dp is None or ds is None:
        return None
    head = (f"Margin (typical repetition): pelvic rotation {abs(dp):.1f}° "
            f"{'above' if dp >= 0 else 'below'} its {rule.max_pelvis_deg:.0f}° threshold, "
            f"lumbar share {abs(ds):.3f} {'above' if ds >= 0 else 'below'} its "
            f"{rule.min_lumbar_share:.2f} threshold")
    if sig is None:
        return head + "; no measurement error is allowed for (uncertainty band off)."
    if m.get("within_band"):
        return (head + f": an error of {sig:.1f} times the measurement's typical error "
                f"(SD) could change the verdict, so it is not judged (a verdict needs at "
                f"least {rule.k_sigma:g}).")
    return (head + f": a different verdict would need an error of {sig:.1f} times the "
            f"measurement's typical error (SD; a verdict needs at least {rule.k_sigma:g}).")


CHAIN = [
    ("Tight hamstrings and hip external rotators, weak glutes", "cause"),
    ("Inhibited hip: little pelvic rotation in the bend", "measured"),
    ("Pelvis tilted backwards (posterior tilt)", "chain"),
    ("Flattened lumbar lordosis", "chain"),
    ("Rounded thoracic spine (increased kyphosis)", "chain"),
    ("Head carried forward", "chain"),
    ("Neck strain", "chain"),
]


def _chain_html(active: bool) -> H.Markup:
    css = ("display:flex;flex-wrap:wrap;gap:4px;align-items:center;margin:8px 0 4px 0;"
           "font-size:13px")
    parts = []
    for i, (txt, kind) in enumerate(CHAIN):
        if kind == "measured":
            bg = "#ffcdd2" if active else "#e8f5e9"
            bd = "#b71c1c" if active else "#2e7d32"
        else:
            bg, bd = "#f5f5f5", "#9e9e9e"
        parts.append(f'<span style="border:1.5px solid {bd};background:{bg};padding:4px 8px;'
                     f'border-radius:4px;max-width:170px">{H.escape(txt)}</span>')
        if i < len(CHAIN) - 1:
            parts.append('<span style="color:#616161;font-weight:bold">&#8594;</span>')
    return H.Markup(f'<div style="{css}">' + "".join(parts) + "</div>")


EXERCISES = [
    ("Hamstring stretching", "lengthen the hamstrings so the pelvis can rotate forward over "
                             "the hips (e.g. supine or standing hamstring stretches with a "
                             "neutral back)."),
    ("Hip external rotator stretching", "piriformis and deep rotators (e.g. figure-four "
                                        "stretch)."),
    ("Gluteal strengthening", "gluteus maximus and medius (e.g. bridges, hip-hinge training "
                              "with a neutral spine, side-lying abduction)."),
    ("Thoracic extension mobility", "counter the rounded upper back (e.g. extension over a "
                                    "foam roller, open-book rotations)."),
    ("Neck and scapular stabilisation", "deep neck flexors (chin nods) and lower/middle "
                                        "trapezius and serratus anterior."),
]


def _rep_rows(result: F.FlexionResult):
    rows, classes = [], []
    cb = result.calibration_bend
    if cb:
        rows.append(["calib.", f"{cb['start_s']:.1f}–{cb['end_s']:.1f}",
                     H.fmt(cb["peak_trunk_deg"], 0), *["–"] * 8,
                     "calibration bend, not a test repetition"])
        classes.append("muted")
    for r in result.reps:
        tm = r.timing
        led = tm.get("descent_lumbar_led_fraction")
        order = {"pelvis_first": "pelvis first", "lumbar_first": "lumbar first",
                 "together": "together"}.get(tm.get("return_order"), "–")
        verdict = PATTERN_WORDS[r.pattern].replace(" (inconclusive)", "")
        if F.withheld(r, result.config.rule):
            verdict += " (too close to the thresholds)"
        if r.borderline:
            verdict += " (borderline)"
        rows.append([str(r.index), f"{r.start_s:.1f}–{r.end_s:.1f}",
                     H.fmt(r.peak_trunk_deg, 0), H.fmt(r.peak_pelvis_deg, 0),
                     H.fmt(r.peak_lumbar_deg, 0), H.fmt(r.peak_neck_deg, 0),
                     H.fmt(r.lumbar_share, 2),
                     H.fmt(None if led is None else 100 * led, 0, "%"),
                     H.fmt(tm.get("pelvis_takeover_trunk_deg"), 0),
                     order, H.fmt(r.smoothness.get("sparc"), 2), verdict])
        classes.append({F.NORMAL: "ok", F.INHIBITED: "alert"}.get(r.pattern, "muted"))
    return rows, classes


def _rhythm_rows(result: F.FlexionResult):
    rh = result.summary.get("rhythm") or {}
    down = {(b["trunk_from_deg"], b["trunk_to_deg"]): b for b in rh.get("down", [])}
    up = {(b["trunk_from_deg"], b["trunk_to_deg"]): b for b in rh.get("up", [])}
    rows = []
    for key in sorted(set(down) | set(up)):
        a, b = key
        d, u = down.get(key, {}), up.get(key, {})
        mid = (a + b) / 2
        ref = ("lumbar-dominant" if mid < 30 else "mixed" if mid < 60 else "hip-dominant")
        rows.append([f"{a:.0f}–{b:.0f}", H.fmt(d.get("lumbar_deg"), 1),
                     H.fmt(d.get("pelvis_deg"), 1), _ratio(d), H.fmt(u.get("lumbar_deg"), 1),
                     H.fmt(u.get("pelvis_deg"), 1), _ratio(u), ref])
    return rows


def _ratio(b: dict) -> str:
    if not b:
        return "–"
    if b.get("ratio") is None:
        if b.get("lumbar_deg") is not None and b.get("pelvis_deg") is not None:
            return "lumbar only" if abs(b["lumbar_deg"]) >= 1 else "–"
        return "–"
    return "> 10" if b["ratio"] > 10 else f"{b['ratio']:.2f}"


def _reference_rows(result: F.FlexionResult):
    rule = result.config.rule
    return [
        ["Trunk flexion, standing forward bend", "about 110° (111° mean)",
         "Esola 1996; Laird 2019"],
        ["Pelvic (hip) rotation at full bend", "about 60–70° in a 110–120° bend "
         "(69° Esola; 59° Laird; 72±4° normal vs 52±9° short hamstrings, Gajdosik)",
         "Esola 1996; Laird 2019; Gajdosik 1992"],
        ["Lumbar flexion at full bend", "about 40–52°", "Esola 1996; Laird 2019"],
        ["Lumbar share at full bend", "about 0.37–0.47", "derived from Esola 1996, Laird 2019"],
        ["Rhythm going down", "lumbar-dominant early (0–30°), about equal (30–60°), "
         "hip-dominant late (60–90°); the lumbar share varies with age, sex, back pain and "
         "pace", "Esola 1996; Vazirian 2016"],
        ["Rhythm coming up", "a history of low back pain goes with earlier lumbar "
         "extension in the return", "McClure 1997"],
        ["Smoothness (SPARC)", "≈ −1.4 for one ideal smooth (minimum-jerk) movement; lower = "
         "less smooth; no clinical norm for trunk bending",
         "Balasubramanian 2015 (method); −1.4 computed by this tool"],
        ["Verdict rule (this tool)",
         f"inhibited hip if pelvis < {rule.max_pelvis_deg:.0f}° {rule.combine} lumbar share > "
         f"{rule.min_lumbar_share:.2f}; not judged if trunk < {rule.min_trunk_deg:.0f}°, "
         f"nor when the verdict would change within ±{rule.band_pelvis_deg:g}° of pelvis "
         f"or ±{rule.band_share:g} of share ({rule.k_sigma:g} × the measurement error)",
         "docs/flexion.md"],
    ]


def _progress(sessions, current_path: Path | None):
    from posturepod.report import history as HI
    rows = []
    for s in sessions:
        sm = s.summary
        rows.append([s.recorded_at.strftime("%Y-%m-%d %H:%M") if s.recorded_at else "?",
                     H.fmt(sm.get("peak_trunk_deg"), 0), H.fmt(sm.get("peak_pelvis_deg"), 0),
                     H.fmt(sm.get("peak_lumbar_deg"), 0), H.fmt(sm.get("peak_neck_deg"), 0),
                     H.fmt(sm.get("lumbar_share"), 2),
                     PATTERN_WORDS.get(s.pattern, s.pattern or "–").replace(" (inconclusive)", "")
                     + (" (this session)" if current_path is not None
                        and s.path == current_path else "")])
    fig = HI.plot(sessions, H.new_figure(10, 4), protocol="flexion", highlight=current_path)
    first, last = sessions[0].summary, sessions[-1].summary
    change = []
    for key, lab in (("peak_pelvis_deg", "pelvic rotation"), ("lumbar_share", "lumbar share"),
                     ("peak_trunk_deg", "trunk flexion")):
        a, b = first.get(key), last.get(key)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if key == "lumbar_share":
                change.append(f"{lab} {a:.2f} → {b:.2f}")
            else:
                change.append(f"{lab} {a:.0f}° → {b:.0f}°")
    text = (f"{len(sessions)} sessions from {sessions[0].recorded_at:%Y-%m-%d} to "
            f"{sessions[-1].recorded_at:%Y-%m-%d}: " + "; ".join(change) + ". "
            "More pelvic rotation and a smaller lumbar share mean the hips are taking a "
            "bigger part of the bend.")
    return H.Markup(H.paragraph(text) + H.figure(
        H.figure_svg(fig, title="Progress over sessions"),
        "Key measures per session (median of the judged repetitions); marker colour: green "
        "normal, red inhibited hip, grey not judged; outlined: this session. Dashed lines: "
        "the thresholds of the verdict rule.")
        + H.table(["Date", "Trunk °", "Pelvis °", "Lumbar °", "Neck °", "Lumbar share",
                   "Verdict"], rows, align="lrrrrrl"))


# --------------------------------------------------------------------------- report
def build_report(result: F.FlexionResult, *, patient: str | None = None,
                 recorded_at: str | None = None, recording: str | None = None,
                 history: Sequence | None = None, current_path: Path | None = None,
                 placement: dict | None = None) -> str:
    """The report as one HTML string. ``history``: earlier and current sessions of the same
    patient (``posturepod.report.history.Session``, date order); progress is shown when there are
    at least two."""
    s = result.summary
    pat = s.get("pattern", F.INCONCLUSIVE)
    kind, title, text = _verdict_text(result)
    sections = []

    # verdict
    margin = _margin_text(result)
    verdict = H.callout(H.Markup(
        H.paragraph(text)
        + (H.paragraph("Reasons (typical repetition): " + H.degree_signs("; ".join(
            result.config.rule.classify(s.get("peak_trunk_deg"), s.get("peak_pelvis_deg"),
                                        s.get("lumbar_share"))[1])) + ".")
           if result.reps else "")
        + (H.paragraph(margin) if margin else "")), kind=kind, title=title)
    key = H.table(
        ["Measure (median of judged repetitions)", "Value", "Reference"],
        [["Peak trunk (thorax) flexion", H.fmt(s.get("peak_trunk_deg"), 0, "°"), "≈ 110°"],
         ["Peak pelvic rotation", H.fmt(s.get("peak_pelvis_deg"), 0, "°"), "≈ 60–70°"],
         ["Peak lumbar flexion (thorax − pelvis)", H.fmt(s.get("peak_lumbar_deg"), 0, "°"),
          "≈ 40–52°"],
         ["Lumbar share of the bend at its peak", H.fmt(s.get("lumbar_share"), 2),
          "≈ 0.37–0.47"],
         ["Peak neck flexion (head − thorax)", H.fmt(s.get("peak_neck_deg"), 0, "°"),
          "no reference: follow over time"],
         ["Return order (hips vs lower back)",
          {"pelvis_first": "hips first", "lumbar_first": "lower back first",
           "together": "together"}.get(s.get("return_order"), "–"),
          "hips first is the usual pattern"],
         ["Smoothness of the bend (SPARC)", H.fmt(s.get("sparc"), 2),
          "−1.4 for one perfectly smooth movement; more negative = more hesitant or jerky"]],
        align="lrl", cls="data compact")
    cal = (result.meta or {}).get("calibration")
    sections.append(H.calibration_banner(cal))
    sections.append(H.section("Result", verdict, key, id="result"))

    if result.warnings:
        sections.append(H.callout(H.bullet_list(result.warnings), kind="warn",
                                  title="Data quality notes"))

    # figures
    sections.append(H.section(
        "Angles during the test",
        H.figure(H.figure_svg(fig_angles(result), title="Angles over time"),
                 "Forward inclination of trunk (thorax pod) and pelvis (sacrum pod), and the "
                 "lumbar (thorax − pelvis) and neck (head − thorax) angles, 0 = calibration "
                 "standing posture. Shaded: test repetitions (green normal, red inhibited hip, "
                 "grey not judged), numbered; hatched: the calibration bend (excluded)."),
        id="angles"))
    sections.append(H.section(
        "Lumbopelvic rhythm",
        H.figure(H.figure_svg(fig_rhythm(result), title="Lumbopelvic rhythm"),
                 "Left: pelvic rotation against trunk flexion; right: lumbar flexion against "
                 "pelvic rotation; each repetition going down (solid) and coming up (dashed), "
                 "dot = peak trunk flexion. Green: illustrative normal band (see reference "
                 "ranges). Dotted red: thresholds of the verdict rule — below the pelvic line "
                 "and above the lumbar-share line is the inhibited-hip region; the pale red "
                 "strip around the pelvic line is the measurement's uncertainty band (a "
                 "verdict that would change inside it is not given)."),
        H.heading("Lumbar : pelvic ratio per 30° of trunk flexion (mean of judged "
                  "repetitions)"),
        H.table(["Trunk flexion (°)", "Down: lumbar °", "Down: pelvis °", "Down: ratio",
                 "Up: lumbar °", "Up: pelvis °", "Up: ratio", "Usual pattern"],
                _rhythm_rows(result), align="lrrrrrrl", cls="data compact"),
        H.paragraph("Ratio above 1: the lower back moves more than the pelvis in that part "
                    "of the bend; below 1: the hips move more. Normally the ratio falls from "
                    "early to late in the bend as the hips take over; in an inhibited hip pattern "
                    "the hips stop early and the ratio stays high, or rises, late in the "
                    "bend."),
        id="rhythm"))

    rows, classes = _rep_rows(result)
    sections.append(H.section(
        "Repetitions",
        H.table(["#", "Time (s)", "Trunk °", "Pelvis °", "Lumbar °", "Neck °", "Lumbar share",
                 "Lumbar-led descent", "Pelvis takes over at trunk °", "Return",
                 "SPARC", "Verdict"], rows, row_classes=classes,
                align="llrrrrrrrlrl", cls="data compact", nowrap=(1,)),
        H.paragraph("Peaks are maxima over the repetition; lumbar share = lumbar ÷ trunk "
                    "angle at the moment of peak trunk flexion. Lumbar-led descent: part of "
                    "the bend (by trunk angle) during which the lower back moved faster than "
                    "the pelvis. Pelvis takes over: trunk angle from which the pelvis leads to the "
                    "end of the descent (– = it never does). Return: which of hips and lower "
                    "back had done half of its return first."),
        id="reps"))

    # meaning
    active = pat == F.INHIBITED
    meaning = [H.paragraph(
        "Why it matters: tight hamstrings and hip external rotators with weak glutes hold "
        "the pelvis back. In the forward bend the hips then barely move and the lumbar "
        "spine makes up the bend. The same tightness tilts the pelvis backwards in standing, "
        "which sets off a chain up the spine (Janda's crossed syndromes; Kendall's flat-back "
        "posture):"), _chain_html(active)]
    if active:
        meaning.append(H.paragraph(
            "This test measured the second box (the hip pattern) and found it. The later "
            "links are what it commonly leads to; they are not measured here and should be "
            "checked in the standing posture."))
        meaning.append(H.heading("Exercise areas this points to"))
        meaning.append(H.Markup("<ul>" + "".join(
            f"<li><b>{H.escape(a)}</b>: {H.escape(b)}</li>" for a, b in EXERCISES) + "</ul>"))
        meaning.append(H.paragraph(
            "These are areas to consider, not a prescription: the clinician chooses and "
            "doses the exercises."))
    elif pat == F.NORMAL:
        meaning.append(H.paragraph(
            "This test found the hips taking their share of the bend, so it gives no sign of "
            "the start of this chain. Neck and upper-back posture may still need their own "
            "assessment."))
    else:
        meaning.append(H.paragraph("The test could not be judged, so no conclusion is drawn "
                                   "about this chain."))
    sections.append(H.section("What it means", *meaning, id="meaning"))

    # progress
    if history is not None and len(history) >= 2:
        sections.append(H.section("Progress over time", _progress(list(history), current_path),
                                  id="progress"))
    elif patient:
        sections.append(H.section("Progress over time", H.paragraph(
            f"No earlier session found for patient {patient}: this is the baseline."),
            id="progress"))

    # references and notes
    notes = [
        "Angles are forward inclinations relative to the calibration standing posture; the "
        "absolute pelvic tilt, lordosis and kyphosis of standing are not measured by this "
        "test.",
        "lumbar = thorax − pelvis. When the thoracic pod sits above T12 (for example at "
        "T7–T8), this angle includes lower thoracic flexion and so overestimates lumbar "
        "flexion and the lumbar share; the pelvic angle is not affected.",
        "The pelvis pod measures pelvic (sacral) rotation in space, which in a standing "
        "bend is mostly hip flexion; it is compared with the hip values of the studies.",
        "The calibration bend (the first bend after the initial standing) is not a test "
        "repetition and is never judged.",
        "neck = head − thorax is head flexion on the trunk, not forward head translation "
        "(craniovertebral angle), and one thoracic pod gives thoracic inclination, not kyphosis.",
        "This report describes movement; it is not a diagnosis.",
    ]
    sections.append(H.section(
        "Reference ranges and notes",
        H.range_box(_reference_rows(result)),
        H.bullet_list(notes),
        H.reference_box(REFERENCES, note="The normal band in the rhythm plots is illustrative: "
                        "built from the end-range values and the qualitative pattern of these "
                        "studies, not a published normative curve."),
        id="refs"))

    header = []
    if patient:
        header.append(("Patient ID", patient))
    if recorded_at:
        header.append(("Recorded", H.local_time(recorded_at)))
    if recording:
        header.append(("Recording", recording))
    header.append(("Repetitions", f"{len(result.reps)} found, "
                   f"{s.get('n_conclusive', 0)} judged"))
    header.append(("Verdict", PATTERN_WORDS[pat]))
    header.append(PL.header_item(placement))
    sections.append(PL.section(placement, history_levels=PL.levels_of(
        [x for x in history or [] if getattr(x, "path", None) != current_path])))
    sections.append(H.calibration_section(cal))
    return H.page("Standing forward-flexion test", sections,
                  subtitle="Lumbopelvic rhythm: pelvis, lumbar spine, trunk and neck",
                  header_items=header)


def write_report(path, result: F.FlexionResult, **kw) -> Path:
    return H.write_page(path, build_report(result, **kw))
