"""The desk day on standalone pods: what each pod is armed with (its rule, from the live
sitting thresholds), and the analysis of the day-log they record.

Rules (docs/sitting.md, "Standalone pods"): the thorax pod buzzes when the thorax leans
more than ``SittingConfig.slouch_lumbar_deg`` (10 deg) forward of the seated reference for
``slouch_min_s`` (60 s), the head pod when the head is more than ``head_forward_deg``
(15 deg) forward of its seated reference for ``head_forward_min_s`` (30 s); both buzz again
every ``buzz_repeat_s`` while it lasts, with the live tool's patterns
(``sitting.guide.buzz_pattern``). The pelvis pod only logs. A pod judges from its own
segment angle only: the head pod's rule is an approximation of the neck angle (head minus
thorax), which the analysis of the synced day uses.

The analysis: the pods' per-second angles (:mod:`posturepod.motion.pod_angles`) go through
the same :func:`~posturepod.sitting.analysis.analyse_chunks` as a streamed day's angles,
with the seated reference taken at arming.
"""
from __future__ import annotations

import datetime as _dt
import math

import numpy as np

from .analysis import SittingResult, _mark_unmeasured, analyse_chunks
from .config import SittingConfig

Q14 = 16384


def pod_rule(role: str, cfg: SittingConfig | None = None) -> dict | None:
    """The rule a pod of ``role`` is armed with (contract ``rule``), None: log only."""
    cfg = cfg or SittingConfig()
    if role == "thorax":
        return {"over_cdeg": int(round(cfg.slouch_lumbar_deg * 100)),
                "hold_s": int(round(cfg.slouch_min_s)), "repeat_s": int(round(cfg.buzz_repeat_s))}
    if role == "head":
        return {"over_cdeg": int(round(cfg.head_forward_deg * 100)),
                "hold_s": int(round(cfg.head_forward_min_s)),
                "repeat_s": int(round(cfg.buzz_repeat_s))}
    return None


def pod_pattern(role: str) -> list[int]:
    from .guide import buzz_pattern
    return list(buzz_pattern("head_forward_buzz" if role == "head" else "slouch_buzz"))


def seg_q14(axes_in_sensor) -> list[int]:
    """The sensor-to-segment matrix as the pod takes it: rows = the segment's x, y, z axes
    in sensor coordinates, row-major, times 16384."""
    a = np.asarray(axes_in_sensor, float).reshape(3, 3)
    return [int(round(v * Q14)) for v in a.ravel()]


def arm_settings(role: str, axes_in_sensor, ref_deg: float, *, wall_s: int,
                 utc_offset_min: int, quiet: list | None = None, radio: str = "off",
                 cfg: SittingConfig | None = None, pod_cal=None) -> dict:
    """The ``arm`` command's arguments for one pod (docs/protocol.md). ``pod_cal``: the
    pod's :class:`~posturepod.motion.calibration.PodCalibration`, whose gyro bias the pod
    starts from and whose grade it keeps for the day-log."""
    st = {"wall_s": int(wall_s), "seg_q14": seg_q14(axes_in_sensor),
          "ref_cdeg": int(round(ref_deg * 100)), "rule": pod_rule(role, cfg),
          "pattern": pod_pattern(role), "quiet": [list(map(int, q)) for q in quiet or []],
          "utc_offset_min": int(utc_offset_min), "radio": radio}
    if pod_cal is not None:
        st["gyr_bias_mdps"] = gyr_bias_mdps(pod_cal.gyr_bias_rad_s)
        st["cal"] = {"quality": pod_cal.grade,
                     "reasons": [r[:200] for r in list(pod_cal.reasons)[:8]]}
    return st


def gyr_bias_mdps(gyr_bias_rad_s) -> list[int]:
    """The calibration's gyro bias as ``arm`` takes it: mdeg/s, sensor axes, within the
    pod's +-50 deg/s."""
    b = np.degrees(np.asarray(gyr_bias_rad_s, float).reshape(3)) * 1000.0
    return [int(v) for v in np.clip(np.round(b), -50000, 50000)]


def describe_arming(role: str, settings: dict) -> str:
    """What the pod will do, in one sentence (printed by ``posturepod wear``)."""
    rule = settings.get("rule")
    ref = settings.get("ref_cdeg", 0) / 100.0
    if not rule:
        what = "logs its angle every second (no buzz)"
    else:
        pulses = settings.get("pattern") or []
        feel = (f"{len(pulses) // 2 + 1} pulse{'s' if len(pulses) > 1 else ''}"
                f" ({'/'.join(map(str, pulses))} ms)")
        again = (f", again every {rule['repeat_s'] // 60} min while it lasts"
                 if rule.get("repeat_s") else "")
        what = (f"buzzes {feel} when the {role} is more than {rule['over_cdeg'] / 100:g} deg "
                f"forward of your seated {ref:+.1f} deg for {rule['hold_s']} s{again}; logs "
                f"its angle every second")
    quiet = settings.get("quiet") or []
    if quiet and rule:
        what += "; quiet " + ", ".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
                                       for a, b in quiet)
    radio = {"off": "radio off", "slow": "advertising slowly for a sync"}.get(
        settings.get("radio"), f"radio {settings.get('radio')}")
    return f"{role}: {what}; {radio}"


def _armed_reference(dl) -> tuple[dict | None, str]:
    refs = {}
    for role, p in dl.pods.items():
        st = p.meta.get("settings") or {}
        if isinstance(st.get("ref_cdeg"), int):
            refs[role] = st["ref_cdeg"] / 100.0
    if not {"pelvis", "thorax"} <= set(refs) and not refs:
        return None, ""
    nan = math.nan
    p, t, h = (refs.get(r, nan) for r in ("pelvis", "thorax", "head"))
    return ({"pelvis_deg": p, "thorax_deg": t, "head_deg": h, "lumbar_deg": t - p,
             "neck_deg": h - t},
            "the seated reference each pod was armed with (posturepod wear)")


POD_ANGLE_NOTES = (
    "angles computed on the pods (kind day-log): per-second means of each pod's own "
    "tilt filter, with the calibration given at arming; lumbar = thorax - pelvis and "
    "neck = head - thorax from those. This implies: no raw samples, so the calibration "
    "cannot be redone or checked, walking is not seen in the pelvis acceleration (a break "
    "needs strict standing), and each second's mean is judged, not every sample")


def analyse_daylog(dl, cfg: SittingConfig | None = None, *, patient: str | None = None,
                   buzz_after_s: float | None = None,
                   break_after_s: float | None = None) -> SittingResult:
    """The sitting analysis of a :class:`~posturepod.recordings.daylog.DayLog`: the same
    JSON contract as :func:`~posturepod.sitting.analysis.analyse_recording`."""
    from posturepod.motion.pod_angles import pod_angle_grid
    cfg = cfg or SittingConfig()
    grid = pod_angle_grid(dl)
    ref, ref_note = _armed_reference(dl)
    res = analyse_chunks(grid.chunks(cfg.chunk_s), cfg=cfg,
                         span_s=(0.0, float(grid.n_seconds)), buzz_after_s=buzz_after_s,
                         break_after_s=break_after_s, reference=ref)
    s = res.summary
    if ref is not None and s["reference"].get("source") == "given":
        s["reference"]["source"] = "armed"
        s["reference"]["note"] = ref_note
    with_data = {r for r, p in dl.pods.items() if len(p)}
    _mark_unmeasured(s, with_data)
    s["notes"].insert(0, POD_ANGLE_NOTES)
    s["source"] = {"kind": "day-log", "angles": "pods",
                   "t0_utc": _iso(grid.t0_wall_s), "t0_wall_s": grid.t0_wall_s,
                   "unmapped_records": {r: c.unmapped for r, c in grid.clocks.items()}}
    unm = sum(c.unmapped for c in grid.clocks.values())
    if unm:
        s["notes"].append(f"{unm} record(s) left out: logged in a boot of the pod that was "
                          f"neither armed nor synced, so their wall time is unknown")
    s["device_alerts"] = device_alerts(dl, grid)
    s["patient"] = patient or dl.meta.get("patient") or None
    s["recorded_at"] = _iso(grid.t0_wall_s) if grid.n_seconds else dl.meta.get("created_utc")
    s["recording"] = str(dl.path)
    s["analysed_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    cal = armed_calibration(dl)     # the pods used the one given at arming (wear)
    if cal is None:
        s.pop("calibration", None)
        s["notes"].append("the calibration's grade is not known: the pods were armed without "
                          "it (by an older posturepod); see the wear recording's "
                          "calibration.json")
    else:
        s["calibration"] = cal
    return res


def armed_calibration(dl) -> dict | None:
    """The calibration each pod was armed with, as the pod kept it (``arm``'s ``cal``):
    {"quality": the worst pod's grade, "source": "armed", "reasons": [...], "pods": {role:
    {"quality", "reasons"}}}; None when no pod kept one."""
    from posturepod.motion.calibration_quality import GRADES, worst
    pods = {}
    for role, p in dl.pods.items():
        c = (p.meta.get("settings") or {}).get("cal")
        if isinstance(c, dict) and c.get("quality") in GRADES:
            pods[role] = {"quality": c["quality"],
                          "reasons": [str(r) for r in c.get("reasons") or []]}
    if not pods:
        return None
    unknown = sorted(set(dl.pods) - set(pods))
    reasons = [f"{r}: {m}" for r, p in pods.items() for m in p["reasons"]]
    if unknown:
        reasons.append(f"{', '.join(unknown)}: armed without the calibration's grade")
    return {"quality": worst(p["quality"] for p in pods.values()), "source": "armed",
            "reasons": reasons, "pods": pods}


def device_alerts(dl, grid) -> dict:
    """What the pods did on their own: buzzes (the BUZZ flag: the pod decided to buzz when
    that second ended, so the time given is the record's end), on the analysis clock."""
    from posturepod.recordings.daylog import F_BUZZ, F_OVER, F_QUIET
    out = {}
    for role, p in dl.pods.items():
        c = grid.clocks[role]
        b = np.flatnonzero((p.flags & F_BUZZ) != 0)
        t = c.wall_s[b] + 1.0 - grid.t0_wall_s
        out[f"{role}_buzzes"] = int(len(b))
        out[f"{role}_buzz_times_s"] = [round(float(x), 1) for x in t if math.isfinite(x)]
        out[f"{role}_over_s"] = int(((p.flags & F_OVER) != 0).sum())
        out[f"{role}_quiet_s"] = int(((p.flags & F_QUIET) != 0).sum())
    return out


def _iso(wall_s: float) -> str:
    return _dt.datetime.fromtimestamp(wall_s, tz=_dt.timezone.utc).isoformat(timespec="seconds")


def rule_buzz_times(time_s, angle_deg, ref_deg: float, rule: dict | None, *,
                    epoch_s: float = 1.0) -> list[float]:
    """When a pod armed with ``rule`` should buzz, by the live tool's own machinery on 1 s
    means of that pod's angle: the condition (more than ``over_cdeg`` forward of the
    reference) tracked by :class:`~posturepod.sitting.episodes.EpisodeTracker` (any second
    without it ends the episode, as the pod's hold timer restarts), the buzz due by
    :meth:`~posturepod.sitting.engine.PostureEngine._due` after ``hold_s`` and every
    ``repeat_s`` (no cap: the pod's rule has none). For checking the pods' own buzzes
    against the host's rule on the same day (tests/test_standalone.py)."""
    from .engine import PostureEngine
    from .episodes import EpisodeTracker
    if not rule:
        return []
    t = np.asarray(time_s, float)
    a = np.asarray(angle_deg, float)
    if not len(t):
        return []
    k = np.floor(t / epoch_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ok = np.isfinite(a)
    sums = np.add.reduceat(np.where(ok, a, 0.0), starts)
    cnt = np.add.reduceat(ok.astype(float), starts)
    over = rule["over_cdeg"] / 100.0
    hold, rep = float(rule["hold_s"]), float(rule.get("repeat_s") or 0)
    tr = EpisodeTracker(hold, epoch_s)
    last, out = None, []
    for j, s in enumerate(starts):
        t0 = float(k[s]) * epoch_s
        mean = sums[j] / cnt[j] if cnt[j] else math.nan
        cond = bool(math.isfinite(mean) and mean - ref_deg > over)
        tr.update(t0, t0 + epoch_s, cond)
        if cond and tr.start is not None:
            n = PostureEngine._due(last, tr.start, t0 + epoch_s, hold, rep, 10 ** 9)
            if n:
                last = (tr.start, t0 + epoch_s, n)
                out.append(t0 + epoch_s)
    return out
