"""Sitting, standing or walking from the pelvis and thorax pods alone (no thigh pod).

Angles are 0 in the standing calibration posture. Sitting tilts the pelvis backwards and
flexes the lumbar spine relative to standing (the person's own sitting reference measures by
how much); standing brings both back towards 0. So an epoch is *standing* when pelvis and
lumbar angle have both moved at least ``stand_fraction`` of the way from the sitting
reference back to standing and the trunk is near its standing inclination. Leaning forward
from the hips while seated moves the pelvis but not the lumbar angle, so it stays sitting.

*Walking* is a periodic pelvis acceleration (the band-passed magnitude of the acceleration
has a strong autocorrelation at a step or stride lag, and enough energy) with a posture at
least ``walk_fraction`` of the way to standing.
"""
from __future__ import annotations

import math

from .config import SittingConfig
from .epochs import Epoch

UNKNOWN, SIT, STAND, WALK = 0, 1, 2, 3
ACTIVITY_NAMES = {UNKNOWN: "unknown", SIT: "sitting", STAND: "standing", WALK: "walking"}


def uprightness(ep: Epoch, ref: dict, cfg: SittingConfig) -> float:
    """0 at the sitting reference, 1 at the standing calibration; the smaller of the pelvis
    and the lumbar measure (each used only when the reference differs enough from standing).
    NaN when neither can be used."""
    p, _, _, lum, _ = ep.angles
    scores = []
    rp, rl = ref.get("pelvis_deg", math.nan), ref.get("lumbar_deg", math.nan)
    if math.isfinite(rp) and abs(rp) >= cfg.stand_separation_min_deg and math.isfinite(p):
        scores.append((p - rp) / (0.0 - rp))
    if math.isfinite(rl) and abs(rl) >= cfg.stand_separation_min_deg and math.isfinite(lum):
        scores.append((lum - rl) / (0.0 - rl))
    return min(scores) if scores else math.nan


def is_gait(ep: Epoch, cfg: SittingConfig) -> bool:
    return (math.isfinite(ep.acc_rms) and ep.acc_rms >= cfg.gait_rms_m_s2
            and math.isfinite(ep.periodicity) and ep.periodicity >= cfg.gait_periodicity)


def strictly_standing(ep: Epoch, ref: dict, cfg: SittingConfig, u: float) -> bool:
    """Pelvis, lumbar and thorax all close to the standing calibration (and far enough from
    the sitting reference): evidence for a standing break without walking."""
    p, t, _, lum, _ = ep.angles
    lim = cfg.strict_stand_deg
    return (math.isfinite(u) and u >= cfg.strict_stand_fraction
            and all(math.isfinite(v) and abs(v) <= lim for v in (p, t, lum)))


def classify_activity(ep: Epoch, ref: dict, cfg: SittingConfig) -> tuple[int, bool]:
    """(activity code, strict standing). STAND means standing-like posture: on its own it
    does not make a break (leaning forward while seated can look the same); a break also
    needs walking or strict standing (see PostureEngine)."""
    p, t = ep.angles[0], ep.angles[1]
    if not math.isfinite(p):
        return UNKNOWN, False
    u = uprightness(ep, ref, cfg)
    if is_gait(ep, cfg) and (not math.isfinite(u) or u >= cfg.walk_fraction):
        return WALK, False
    if (math.isfinite(u) and u >= cfg.stand_fraction
            and (not math.isfinite(t) or abs(t) <= cfg.stand_thorax_max_deg)):
        return STAND, strictly_standing(ep, ref, cfg, u)
    return SIT, False


def is_still(ep: Epoch, cfg: SittingConfig) -> bool:
    """Within the epoch the trunk angles (pelvis, thorax, lumbar) vary less than
    ``still_sd_deg``, the head and neck less than ``still_head_sd_deg`` (a restless head is
    still a person sitting still), and the pelvis is not jolted."""
    lims = (cfg.still_sd_deg, cfg.still_sd_deg, cfg.still_head_sd_deg, cfg.still_sd_deg,
            cfg.still_head_sd_deg)
    sds = [(s, lim) for s, lim in zip(ep.sd, lims) if math.isfinite(s)]
    if not sds or any(s > lim for s, lim in sds):
        return False
    return not (math.isfinite(ep.acc_rms) and ep.acc_rms > cfg.still_acc_rms_m_s2)


def looks_seated(ep: Epoch, cfg: SittingConfig) -> bool:
    """Without a reference: clearly away from the standing calibration in the way sitting
    is (pelvis back or lumbar flexed), and not walking."""
    p, _, _, lum, _ = ep.angles
    if not math.isfinite(p):
        return False
    if is_gait(ep, cfg):
        return False
    return p <= -cfg.sit_pelvis_min_deg or (math.isfinite(lum) and lum >= cfg.sit_lumbar_min_deg)
