"""posturepod info: what a recording holds."""
import json

import numpy as np


def register(sub):
    p = sub.add_parser("info", help="pods, rates, duration, samples, gaps, errors, events")
    p.add_argument("rec", help="native recording or CSV interchange directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def summary(path) -> dict:
    from posturepod.recordings.daylog import is_daylog
    if is_daylog(path):
        return daylog_summary(path)
    from posturepod.recordings.loader import load
    from posturepod.recordings.placement import from_meta
    rec = load(path)
    pods = []
    log = rec.meta.get("log", [])
    stop = next((e for e in reversed(log) if e.get("kind") == "stop"), {})
    live_stats = stop.get("stats", {})
    for role, p in rec.pods.items():
        tl = getattr(p, "timeline", None)
        ls = live_stats.get(role, {})
        d = {
            "role": role,
            "samples": len(p),
            "rate_hz": round(p.rate_hz, 3),
            "seq_gaps": tl.seq_gaps if tl else 0,
            "lost_samples": tl.lost_samples if tl else 0,
            "late_samples": int(getattr(p, "late_samples", 0)),
            "crc_errors": int(ls.get("crc_errors", 0)),
            "resyncs": int(ls.get("resyncs", 0)),
            "link_drops": int(ls.get("link_drops", 0)),
            "reboots": int(ls.get("reboots", 0)),
            "gaps": [{"start_s": round(a, 4), "end_s": round(b, 4)} for a, b in p.gaps],
            "outage_s": round(sum(b - a for a, b in p.gaps), 3),
            "start_s": round(float(p.time_s[0]), 4) if len(p) else None,
            "end_s": round(float(p.time_s[-1]), 4) if len(p) else None,
            "odr_hz": p.info.get("odr_hz"),
            "imu": p.info.get("imu"), "fw": p.info.get("fw"),
            "pod_id": p.info.get("pod_id"),
            "warnings": list(getattr(p, "warnings", []) or []),
        }
        if tl and "imported_from" in rec.meta:
            # an import copies the recording clock: its "pings" were written, not measured
            d["clock"] = [{"offset_s": None, "drift_ppm": None, "pings": 0,
                           "residual_ms": None, "method": "imported", "samples": s.n}
                          for s in tl.segments]
        elif tl:
            d["clock"] = [{"offset_s": round(s.offset_s, 6), "drift_ppm": round(s.drift_ppm, 1),
                           "rate": round(1 + s.drift_ppm * 1e-6, 4),
                           "pings": s.n_pings, "residual_ms": round(s.residual_ms, 3),
                           "method": s.method, "samples": s.n} for s in tl.segments]
        pods.append(d)
    return {"path": str(path), "format": rec.meta.get("format", "csv"),
            "created_utc": rec.meta.get("created_utc"), "patient": rec.meta.get("patient", ""),
            "duration_s": round(rec.duration_s, 4), "pods": pods,
            "imported_from": rec.meta.get("imported_from"),
            "placement": from_meta(rec.meta, where=str(path)),
            "events": [{"time_s": e.time_s, "label": e.label} for e in rec.events]}


def daylog_summary(path) -> dict:
    """What a day-log recording holds, per pod: records, span, gaps, damage, clock."""
    from datetime import datetime, timezone
    from posturepod.motion.pod_angles import pod_angle_grid
    from posturepod.recordings.daylog import F_BOOT, F_BUZZ, read_daylog
    dl = read_daylog(path)
    grid = pod_angle_grid(dl)
    pods = []
    for role, p in dl.pods.items():
        c = grid.clocks[role]
        w = c.wall_s[np.isfinite(c.wall_s)] if len(p) else c.wall_s[:0]
        gaps = p.seq_gaps
        syncs = p.meta.get("syncs") or []
        drifts = [s.drift_ppm for s in c.segments if s.drift_ppm is not None]
        measured = [(s.measured_drift_ppm, 1e6 / s.measured_span_s) for s in c.segments
                    if s.measured_drift_ppm is not None]
        pods.append({
            "role": role, "records": len(p), "pod_id": p.meta.get("pod_id"),
            "first_seq": int(p.seq[0]) if len(p) else None,
            "last_seq": int(p.seq[-1]) if len(p) else None,
            "start_s": round(float(w.min()) - grid.t0_wall_s, 3) if len(w) else None,
            "end_s": round(float(w.max()) + 1.0 - grid.t0_wall_s, 3) if len(w) else None,
            "span_s": round(float(w.max()) + 1.0 - float(w.min()), 3) if len(w) else 0.0,
            "gaps": [{"from_seq": a, "missing": n} for a, n in gaps],
            "lost_records": int(sum(n for _, n in gaps)),
            "overwritten": p.meta.get("overwritten"), "torn": p.meta.get("torn"),
            "bad_crc_records": p.bad_crc, "torn_tail_bytes": p.torn_bytes,
            "boots": int(((p.flags & F_BOOT) != 0).sum()),
            "buzzes": int(((p.flags & F_BUZZ) != 0).sum()),
            "unmapped_records": c.unmapped,
            "drift_ppm": round(float(np.median(drifts)), 1) if drifts else None,
            "measured_drift_ppm": round(measured[-1][0], 1) if measured else None,
            "measured_drift_uncertainty_ppm": round(measured[-1][1], 1) if measured else None,
            "clock": c.describe(), "syncs": len(syncs),
            "settings": p.meta.get("settings"),
            "imu": (p.meta.get("info") or {}).get("imu"),
            "fw": (p.meta.get("info") or {}).get("fw"),
            "warnings": list(p.warnings),
        })
    dur = grid.n_seconds
    return {"path": str(path), "format": dl.meta.get("format"), "kind": "day-log",
            "created_utc": dl.meta.get("created_utc"), "patient": dl.meta.get("patient", ""),
            "t0_utc": (datetime.fromtimestamp(grid.t0_wall_s, timezone.utc)
                       .isoformat(timespec="seconds") if dur else None),
            "duration_s": float(max((p["end_s"] or 0.0 for p in pods), default=0.0)),
            "pods": pods, "events": []}


def _print_daylog(s: dict) -> None:
    print(f"{s['path']}: day-log from {s['t0_utc']}, {s['duration_s']:.0f} s, "
          f"{len(s['pods'])} pods (per-second angles logged on the pods)")
    for p in s["pods"]:
        drift = "--" if p["drift_ppm"] is None else f"{p['drift_ppm']:+.1f} ppm"
        if p["drift_ppm"] is None and p["measured_drift_ppm"] is not None:
            drift = (f"{p['measured_drift_ppm']:+.0f}+-{p['measured_drift_uncertainty_ppm']:.0f}"
                     f" ppm (not applied: too short)")
        print(f"  {p['role']:7s} {p['records']:7d} records  span {p['span_s']:8.0f} s  "
              f"lost {p['lost_records']} in {len(p['gaps'])} gaps  overwritten "
              f"{p['overwritten']}  torn {p['torn']}  boots {p['boots']}  buzzes "
              f"{p['buzzes']}  drift {drift}  syncs {p['syncs']}")
        if p["unmapped_records"]:
            print(f"          {p['unmapped_records']} records with no wall time (a boot "
                  f"neither armed nor synced)")
        for w in p["warnings"]:
            print(f"          warning: {w}")


def print_summary(path) -> None:
    s = summary(path)
    if s.get("kind") == "day-log":
        _print_daylog(s)
        return
    print(f"{s['path']}: {s['duration_s']:.1f} s, {len(s['pods'])} pods, "
          f"{len(s['events'])} events")
    for p in s["pods"]:
        print(f"  {p['role']:7s} {p['samples']:8d} samples  {p['rate_hz']:8.2f} Hz  "
              f"gaps {p['seq_gaps']} (lost {p['lost_samples']})  CRC errors {p['crc_errors']}"
              f"  drops {p['link_drops']}  reboots {p['reboots']}  imu {p['imu']}")
        out = _outages(p, s["pods"])
        if out:
            print(f"          outage: {out}")
        for w in p.get("warnings", []):
            print(f"          warning: {w}")
        for c in p.get("clock", []):
            if c["method"] == "imported":
                print(f"          clock: imported from {s['imported_from'] or 'elsewhere'} "
                      f"(the recording clock was copied; nothing was measured)")
                continue
            rate = (f"runs at {c['rate']:.3f}x real time (an emulated board?)"
                    if c["method"] == "pings-rate" else f"drift {c['drift_ppm']:+.1f} ppm")
            print(f"          clock: offset {c['offset_s']:.6f} s, {rate}, {c['pings']} pings, "
                  f"residual {c['residual_ms']:.3f} ms ({c['method']})")
    from posturepod.recordings.placement import text_lines
    for line in text_lines(s["placement"]):
        print(f"  {line}")
    for e in s["events"]:
        print(f"  event {e['time_s']:9.3f} s  {e['label']}")


def _outages(p: dict, pods: list[dict]) -> str:
    """Where the pod's data is missing, in words: gaps (lost samples, a link that dropped,
    a reboot) over 0.5 s, and a late start or early end against the whole recording."""
    long = [g for g in p["gaps"] if g["end_s"] - g["start_s"] >= 0.5]
    parts = []
    if long:
        worst = max(long, key=lambda g: g["end_s"] - g["start_s"])
        parts.append(f"{len(long)} gap{'s' if len(long) > 1 else ''} of "
                     f"{sum(g['end_s'] - g['start_s'] for g in long):.1f} s, longest "
                     f"{worst['end_s'] - worst['start_s']:.1f} s from {worst['start_s']:.1f} s")
    starts = [q["start_s"] for q in pods if q["start_s"] is not None]
    ends = [q["end_s"] for q in pods if q["end_s"] is not None]
    if p["start_s"] is not None and p["start_s"] - min(starts) > 2.0:
        parts.append(f"started {p['start_s'] - min(starts):.1f} s after the first pod")
    if p["end_s"] is not None and max(ends) - p["end_s"] > 2.0:
        parts.append(f"no data for the last {max(ends) - p['end_s']:.1f} s")
    return "; ".join(parts)


def _run(a):
    if a.json:
        print(json.dumps(summary(a.rec)))
    else:
        print_summary(a.rec)
    return 0
