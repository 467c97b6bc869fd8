"""Ground truth derived from the truth series (never from the script's intentions).

Episode definitions (thresholds relative to the sitting reference, see docs/simulation.md):

- slouch: sitting and (pelvis_deg < ref_pelvis - 10 or lumbar_deg > ref_lumbar + 10),
  runs separated by gaps shorter than 5 s are joined, kept if >= 60 s long;
- head forward: sitting and neck_deg > ref_neck + 15, kept if >= 30 s (no joining);
- break: not sitting (standing or walking), kept if >= 30 s.

A run of samples i..j (inclusive) on a grid of spacing dt spans [t_i, t_j + dt).
"""
from __future__ import annotations

import numpy as np

DEFINITIONS = {
    "slouch": {"pelvis_below_ref_deg": 10.0, "lumbar_above_ref_deg": 10.0, "min_s": 60.0,
               "join_gap_s": 5.0, "only_sitting": True},
    "head_forward": {"neck_above_ref_deg": 15.0, "min_s": 30.0, "join_gap_s": 0.0,
                     "only_sitting": True},
    "break": {"min_s": 30.0, "join_gap_s": 0.0},
    "sitting": "hip centre below the midpoint of standing and sitting hip height",
    "walking": "pelvis forward speed above 0.3 m/s",
}
SIT, STAND, WALK = 0, 1, 2


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last_exclusive) index pairs of the True runs."""
    m = np.asarray(mask, dtype=bool)
    if not m.size:
        return []
    d = np.diff(np.concatenate([[0], m.view(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def episodes(time_s, mask, min_s: float, join_gap_s: float = 0.0) -> list[dict]:
    """Episodes of ``mask`` on the regular grid ``time_s``: runs joined across gaps shorter
    than ``join_gap_s``, kept when at least ``min_s`` long."""
    t = np.asarray(time_s, dtype=float)
    if len(t) < 2:
        return []
    dt = float(np.median(np.diff(t)))
    spans = []
    for i, j in runs(mask):
        s, e = t[i], t[j - 1] + dt
        if spans and s - spans[-1][1] < join_gap_s - 1e-9:
            spans[-1][1] = e
        else:
            spans.append([s, e])
    return [{"start_s": round(float(s), 6), "end_s": round(float(e), 6)}
            for s, e in spans if e - s >= min_s - 1e-9]


def total_s(eps: list[dict]) -> float:
    return float(sum(e["end_s"] - e["start_s"] for e in eps))


def activity(body, t) -> np.ndarray:
    """0 sitting, 1 standing, 2 walking, from the hip height and walking speed."""
    a = body.plan.anthro
    mid = 0.5 * (a.stand_hip_height + a.sit_hip_height)
    ch = body.plan.ch
    act = np.where(ch["height"](t) < mid, SIT, STAND)
    return np.where((act == STAND) & (ch["speed"](t) > 0.3), WALK, act).astype(np.int8)


def reference(time_s, series: dict, start_s: float, end_s: float) -> dict:
    t = np.asarray(time_s)
    sel = (t >= start_s) & (t < end_s)
    out = {k: float(np.mean(np.asarray(v)[sel]))
           for k, v in series.items()}
    out.update(start_s=float(start_s), end_s=float(end_s))
    return out


def sitting_truth(time_s, series: dict, act: np.ndarray, ref: dict) -> dict:
    d = DEFINITIONS
    sit = act == SIT
    p, lu, nk = (np.asarray(series[k]) for k in ("pelvis_deg", "lumbar_deg", "neck_deg"))
    slouch_mask = sit & ((p < ref["pelvis_deg"] - d["slouch"]["pelvis_below_ref_deg"])
                         | (lu > ref["lumbar_deg"] + d["slouch"]["lumbar_above_ref_deg"]))
    hf_mask = sit & (nk > ref["neck_deg"] + d["head_forward"]["neck_above_ref_deg"])
    slouch = episodes(time_s, slouch_mask, d["slouch"]["min_s"], d["slouch"]["join_gap_s"])
    hf = episodes(time_s, hf_mask, d["head_forward"]["min_s"])
    breaks = episodes(time_s, ~sit, d["break"]["min_s"])
    dt = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 0.0
    return {"slouch_episodes": slouch, "head_forward_episodes": hf, "breaks": breaks,
            "slouch_s": total_s(slouch), "head_forward_s": total_s(hf),
            "break_s": total_s(breaks), "sitting_s": float(np.count_nonzero(sit) * dt),
            "definitions": d}


def rep_summaries(time_s, series: dict, reps: list[dict]) -> list[dict]:
    """Peaks of each flexion repetition, from the truth series: peak_s = time of maximum
    trunk (thorax) inclination; peak_*_deg = maxima over the repetition; lumbar_share =
    lumbar / trunk at peak_s; the script's planned_pelvis_deg / planned_lumbar_deg ride along."""
    t = np.asarray(time_s)
    out = []
    for r in reps:
        sel = np.flatnonzero((t >= r["start_s"]) & (t <= r["end_s"]))
        th = np.asarray(series["thorax_deg"])[sel]
        k = sel[int(np.argmax(th))]
        pk = {f"peak_{n}_deg": float(np.max(np.asarray(series[f"{n}_deg"])[sel]))
              for n in ("pelvis", "lumbar", "neck", "head")}
        out.append({"start_s": float(r["start_s"]), "peak_s": float(t[k]),
                    "end_s": float(r["end_s"]), "stand_start_s": float(r["stand_start_s"]),
                    "peak_trunk_deg": float(series["thorax_deg"][k]), **pk,
                    "lumbar_share": float(series["lumbar_deg"][k] / series["thorax_deg"][k]),
                    **{n: float(r[n]) for n in ("planned_pelvis_deg", "planned_lumbar_deg")
                       if n in r}})
    return out
