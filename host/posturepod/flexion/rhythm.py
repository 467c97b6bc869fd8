"""Lumbopelvic rhythm of a bend: peak angles and the lumbar share at peak trunk flexion,
the lumbar:pelvic ratio inside bins of trunk flexion (down and up, per repetition and
averaged), which segment leads the descent and the return, and :class:`NormalBand`, the
illustrative reference band of pelvic rotation against trunk flexion."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posturepod.flexion.repetitions import Bend, Repetition
from posturepod.flexion.signals import SegmentConfig


@dataclass(frozen=True)
class NormalBand:
    """Reference band of pelvic rotation against trunk flexion for a normal bend.

    Illustrative, built from the end-range values of Esola et al. 1996 (111 deg trunk:
    41.6 lumbar + 69.4 hip), Laird et al. 2019 (111 trunk, 52 lumbar, 59 pelvis),
    Gajdosik et al. 1992 (pelvis 72 +- 4 deg on the thigh at toe touch with normal
    hamstrings) and the lumbar-early / hip-late pattern of Esola 1996 (lumbar-to-hip ratio
    1.9 at 0-30 deg, 0.9 at 30-60 deg, 0.4 at 60-90 deg of bending): not a published
    normative curve. The lumbar band is ``trunk - pelvis``.
    """
    trunk_deg: tuple = (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)
    pelvis_lo_deg: tuple = (0.0, 5.0, 17.0, 36.0, 60.0, 85.0)
    pelvis_hi_deg: tuple = (0.0, 14.0, 32.0, 55.0, 78.0, 105.0)

    def pelvis_range(self, trunk_deg):
        t = np.asarray(trunk_deg, float)
        return (np.interp(t, self.trunk_deg, self.pelvis_lo_deg),
                np.interp(t, self.trunk_deg, self.pelvis_hi_deg))


# --------------------------------------------------------------------------- per repetition
def _level_times(tr: np.ndarray, levels: Sequence[float], going_down: bool) -> list:
    """Fractional sample index at which the monotone envelope of ``tr`` first reaches each
    level (``tr`` runs start->peak when going down, peak->end when coming up)."""
    env = np.maximum.accumulate(tr) if going_down else np.minimum.accumulate(tr)
    out = []
    for lev in levels:
        if going_down:
            idx = np.flatnonzero(env >= lev)
        else:
            idx = np.flatnonzero(env <= lev)
        if not len(idx):
            out.append(None)
            continue
        i = int(idx[0])
        if i == 0:
            out.append(0.0)
            continue
        y0, y1 = env[i - 1], env[i]
        frac = 0.0 if y1 == y0 else (lev - y0) / (y1 - y0)
        out.append(i - 1 + float(np.clip(frac, 0.0, 1.0)))
    return out


def _at(y: np.ndarray, fi: float) -> float:
    i = int(math.floor(fi))
    if i >= len(y) - 1:
        return float(y[-1])
    f = fi - i
    return float(y[i] * (1 - f) + y[i + 1] * f)


def _rhythm(tr, pe, lu, start, peak, end, cfg: SegmentConfig, pad: int = 0) -> dict:
    """Lumbar:pelvic ratio of the angle changes inside bins of trunk flexion. The first bin
    starts in the standing before the bend (``pad`` samples before ``start`` / after
    ``end``), so it covers 0-30 degrees and not just the part after the onset threshold."""
    bw = cfg.bin_deg
    n = len(tr)
    start = max(0, start - pad)
    end = min(n - 1, end + pad)
    top = float(tr[peak])
    low_d = float(np.min(tr[start:peak + 1]))
    low_u = float(np.min(tr[peak:end + 1]))
    edges = [0.0]
    while edges[-1] + bw < top - 1e-9:
        edges.append(edges[-1] + bw)
    edges.append(top)
    if len(edges) > 2 and edges[-1] - edges[-2] < cfg.min_bin_span_deg:
        edges.pop(-1)
        partial_top = True       # last partial bin too narrow: ends at the previous edge
    else:
        partial_top = False
    down_seg = slice(start, peak + 1)
    up_seg = slice(peak, end + 1)
    tdn, pdn, ldn = tr[down_seg], pe[down_seg], lu[down_seg]
    tup, pup, lup = tr[up_seg], pe[up_seg], lu[up_seg]
    fd = _level_times(tdn, [max(e, low_d) for e in edges], True)
    fu = _level_times(tup, [max(e, low_u) for e in edges], False)

    def bins(fi, p, lum, sign):
        out = []
        for k in range(len(edges) - 1):
            a, b = fi[k], fi[k + 1]
            lo_e, hi_e = edges[k], edges[k + 1]
            item = {"trunk_from_deg": round(lo_e, 1), "trunk_to_deg": round(hi_e, 1),
                    "partial": bool(hi_e - lo_e < bw - 1e-6),
                    "lumbar_deg": None, "pelvis_deg": None, "ratio": None,
                    "lumbar_fraction": None}
            if a is not None and b is not None:
                dl = sign * (_at(lum, b) - _at(lum, a))
                dp = sign * (_at(p, b) - _at(p, a))
                item["lumbar_deg"] = round(dl, 2)
                item["pelvis_deg"] = round(dp, 2)
                item["ratio"] = round(dl / dp, 3) if abs(dp) >= 1.0 else None
                tot = dl + dp
                item["lumbar_fraction"] = round(dl / tot, 3) if abs(tot) >= 1.0 else None
            out.append(item)
        return out

    # both directions: change = value at the bin's upper-edge crossing minus value at its
    # lower-edge crossing, i.e. flexion going down, extension (positive) coming up
    down = bins(fd, pdn, ldn, +1.0)
    up = bins(fu, pup, lup, +1.0)
    return {"bin_deg": bw, "down": down, "up": up,
            "note": "ratio = lumbar change / pelvic change inside the bin (None when the "
                    "pelvis moved < 1 deg); lumbar_fraction = lumbar / (lumbar + pelvis)"
                    + ("; a last bin narrower than %g deg is left out" % cfg.min_bin_span_deg
                       if partial_top else "")}


def _timing(t, tr, pe, lu, vt, start, peak, end, fs, cfg: SegmentConfig) -> dict:
    dt = 1.0 / fs
    vl = np.gradient(lu, dt)
    vp = np.gradient(pe, dt)
    res: dict[str, Any] = {}
    # descent
    d = slice(start, peak + 1)
    vtd = vt[d]
    if len(vtd) > 3 and np.max(vtd) > 0:
        moving = vtd > cfg.lead_velocity_fraction * np.max(vtd)
        lumbar_led = (vl[d] > vp[d]) & moving
        w = np.clip(vtd, 0, None) * dt
        tot = float(np.sum(w[moving]))
        res["descent_lumbar_led_fraction"] = (float(np.sum(w[lumbar_led])) / tot) if tot else None
        # the pelvis "takes over" at the first instant from which it leads for >= 80% of
        # the rest of the descent (weighted by trunk angle), with >= 10 deg of trunk
        # flexion still to come: the normal late-hip phase. None when it never does.
        pel_led = (vp[d] >= vl[d]) & moving
        wm = np.where(moving, w, 0.0)
        rest = np.cumsum(wm[::-1])[::-1]
        rest_pel = np.cumsum((wm * pel_led)[::-1])[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac_after = np.where(rest > 0, rest_pel / rest, 0.0)
        ok = pel_led & (frac_after >= 0.8) & (rest >= 10.0)
        takeover = float(tr[start + int(np.flatnonzero(ok)[0])]) if ok.any() else None
        res["pelvis_takeover_trunk_deg"] = takeover
        exc_l = lu[peak] - lu[start]
        exc_p = pe[peak] - pe[start]

        def onset(y, exc):
            if exc <= 1.0:
                return None
            idx = np.flatnonzero(y[d] - y[start] >= 0.05 * exc)
            return float(t[start + int(idx[0])]) if len(idx) else None
        ol, op = onset(lu, exc_l), onset(pe, exc_p)
        res["lumbar_onset_s"] = ol
        res["pelvis_onset_s"] = op
        res["pelvis_onset_delay_s"] = (op - ol) if (ol is not None and op is not None) else None
        res["first_mover"] = (None if res["pelvis_onset_delay_s"] is None else
                              "lumbar" if res["pelvis_onset_delay_s"] > 0.05 else
                              "pelvis" if res["pelvis_onset_delay_s"] < -0.05 else "together")
    # return
    u = slice(peak, end + 1)
    vtu = -vt[u]
    if len(vtu) > 3 and np.max(vtu) > 0:
        moving = vtu > cfg.lead_velocity_fraction * np.max(vtu)
        lumbar_led = (-vl[u] > -vp[u]) & moving
        w = np.clip(vtu, 0, None) * dt
        tot = float(np.sum(w[moving]))
        res["return_lumbar_led_fraction"] = (float(np.sum(w[lumbar_led])) / tot) if tot else None

        def half(y):
            exc = y[peak] - y[end]
            if exc <= 1.0:
                return None
            idx = np.flatnonzero(y[peak] - y[u] >= 0.5 * exc)
            return float(t[peak + int(idx[0])]) if len(idx) else None
        hl, hp = half(lu), half(pe)
        res["lumbar_half_return_s"] = hl
        res["pelvis_half_return_s"] = hp
        if hl is None or hp is None:
            res["return_order"] = None
        elif hp < hl - 0.1:
            res["return_order"] = "pelvis_first"
        elif hl < hp - 0.1:
            res["return_order"] = "lumbar_first"
        else:
            res["return_order"] = "together"
    res["descent_s"] = float(t[peak] - t[start])
    res["return_s"] = float(t[end] - t[peak])
    return res


def _rep_values(sig, b: Bend):
    s = slice(b.start, b.end + 1)

    def mx(name):
        y = sig[name][s]
        return float(np.max(y)) if np.isfinite(y).any() else None
    tr = sig["thorax_deg"]
    share = None
    lum_pk = sig["lumbar_deg"][b.peak]
    if math.isfinite(lum_pk) and tr[b.peak] > 1e-6:
        share = float(lum_pk / tr[b.peak])
    pel_pk = sig["pelvis_deg"][b.peak]
    return dict(peak_trunk_deg=mx("thorax_deg"), peak_pelvis_deg=mx("pelvis_deg"),
                peak_lumbar_deg=mx("lumbar_deg"), peak_neck_deg=mx("neck_deg"),
                lumbar_share=share,
                pelvis_at_trunk_peak_deg=float(pel_pk) if math.isfinite(pel_pk) else None,
                lumbar_at_trunk_peak_deg=float(lum_pk) if math.isfinite(lum_pk) else None)


def mean_rhythm(reps: list[Repetition]) -> dict:
    """Per bin and direction: mean lumbar and pelvic change over the repetitions, and the
    ratio of those means (robust to a near-zero pelvic change in one repetition)."""
    out = {}
    for direction in ("down", "up"):
        acc: dict[tuple, list] = {}
        for r in reps:
            for b in r.rhythm.get(direction, []):
                if b["partial"] or b["lumbar_deg"] is None:
                    continue
                key = (b["trunk_from_deg"], b["trunk_to_deg"])
                acc.setdefault(key, []).append((b["lumbar_deg"], b["pelvis_deg"]))
        rows = []
        for (a, b), v in sorted(acc.items()):
            lm = float(np.mean([x[0] for x in v]))
            pm = float(np.mean([x[1] for x in v]))
            rows.append({"trunk_from_deg": a, "trunk_to_deg": b, "n": len(v),
                         "lumbar_deg": round(lm, 2), "pelvis_deg": round(pm, 2),
                         "ratio": round(lm / pm, 3) if abs(pm) >= 1.0 else None,
                         "lumbar_fraction": round(lm / (lm + pm), 3)
                         if abs(lm + pm) >= 1.0 else None})
        out[direction] = rows
    return out
