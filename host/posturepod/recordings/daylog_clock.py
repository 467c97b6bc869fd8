"""A standalone pod's clock mapped to wall time (docs/recording.md, "Day-log recording").

The pod stamps each log record with its seconds since boot (``dev_s``, mod 65536). Two
kinds of anchor tie that clock to UTC:

* the arming: the host sent its wall time (whole seconds) and the pod noted its own
  seconds since boot (``arms`` in ``log_info``): good to about +-1 s;
* the pings at every sync: the host's wall time at the middle of the round trip with the
  pod's microseconds (the fastest round trips): good to the round-trip asymmetry, < 1 ms
  over USB.

Per boot of the pod (a *segment*: records after a ``BOOT`` flag, or where the clock went
back) the mapping ``wall = offset + (1 + drift) * dev`` is fitted: two or more syncs in the
same boot give the drift from the pings; one sync and an arming give it over the time
between them when that is long enough to beat the arming's 1 s (``MIN_DRIFT_SPAN_S``);
otherwise drift 0 is assumed and said. A boot with no anchor at all (the pod rebooted and
was neither re-armed nor synced in that boot) stays unmapped: its records are counted,
not placed on the clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from posturepod.recordings.daylog import F_BOOT, PodLog

MIN_DRIFT_SPAN_S = 3600.0     # arming (+-1 s) to sync: the drift is then known to +-280 ppm
#                               and interpolating between the two is never worse than the
#                               arming's 1 s (a crystal's 50 ppm needs 5.5 h to make 1 s)
ARM_UNCERTAINTY_S = 1.0       # wall_s and the pod's dev_s at arming are whole seconds
MAX_SYNC_ELAPSED_S = 4 * 3600  # a sync's ping at most this long after the last record
# a record is written when its second ends, stamped with the pod's second count then
# (firmware/pod/standalone.py: dev_s += 1, then the record): it covers [dev_s - 1, dev_s)
RECORD_SPAN_S = 1


@dataclass
class Segment:
    first: int                 # index of the first record in the PodLog
    end: int                   # one past the last
    dev_u: np.ndarray          # unwrapped pod seconds of each record
    anchors: list = field(default_factory=list)   # (dev_s, wall_s, kind)
    method: str = "unmapped"
    offset_s: float = math.nan
    drift_ppm: float | None = None
    drift_uncertainty_ppm: float | None = None
    uncertainty_s: float | None = None
    # arming to the last sync, always measured when both exist (applied only from
    # MIN_DRIFT_SPAN_S on, where it beats the arming's 1 s)
    measured_drift_ppm: float | None = None
    measured_span_s: float | None = None


@dataclass
class ClockMap:
    role: str
    wall_s: np.ndarray         # (N,) UTC seconds of each record's start (its second is
    #                            [wall_s, wall_s + 1)); NaN: unmapped
    segments: list[Segment]

    @property
    def unmapped(self) -> int:
        return int(np.isnan(self.wall_s).sum())

    def describe(self) -> list[dict]:
        out = []
        for s in self.segments:
            out.append({"records": s.end - s.first, "method": s.method,
                        "drift_ppm": None if s.drift_ppm is None else round(s.drift_ppm, 1),
                        "drift_uncertainty_ppm": None if s.drift_uncertainty_ppm is None
                        else round(s.drift_uncertainty_ppm, 1),
                        "uncertainty_s": None if s.uncertainty_s is None
                        else round(s.uncertainty_s, 4),
                        "arm_to_sync_drift_ppm": None if s.measured_drift_ppm is None
                        else round(s.measured_drift_ppm, 1),
                        "arm_to_sync_drift_uncertainty_ppm": None if not s.measured_span_s
                        else round(1e6 * ARM_UNCERTAINTY_S / s.measured_span_s, 1),
                        "anchors": [k for _, _, k in s.anchors]})
        return out


def _segments(log: PodLog) -> list[Segment]:
    n = len(log)
    if n == 0:
        return []
    dseq = np.diff(log.seq)
    ddev = np.diff(log.dev_s) % 65536
    # a new boot: the BOOT flag, or the clock advanced clearly less than the records did
    # (a reboot hidden in records lost before the sync)
    new = np.flatnonzero(((log.flags[1:] & F_BOOT) != 0) | (ddev + 2 < dseq)) + 1
    cuts = [0, *new.tolist(), n]
    segs = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        du = np.zeros(b - a, np.int64)
        du[1:] = np.cumsum(ddev[a:b - 1])
        segs.append(Segment(a, b, du + int(log.dev_s[a])))
    return segs


def _arm_anchors(log: PodLog, seg: Segment, arms: list) -> None:
    seqs = log.seq[seg.first:seg.end]
    for arm in arms:
        try:
            aseq, wall, adev = int(arm["seq"]), float(arm["wall_s"]), int(arm["dev_s"])
        except (KeyError, TypeError, ValueError):
            continue
        j = int(np.searchsorted(seqs, aseq))
        if j >= len(seqs) or (j == 0 and aseq < seqs[0]):
            continue
        # the arm precedes record j of this boot by a little
        back = (int(log.dev_s[seg.first + j]) - adev) % 65536
        if back > int(seqs[j] - aseq) + 5:
            continue
        seg.anchors.append((float(seg.dev_u[j] - back), wall, "arm"))


def _sync_anchors(log: PodLog, seg: Segment, syncs: list) -> None:
    seqs = log.seq[seg.first:seg.end]
    for sy in syncs:
        pings = sy.get("pings") or []
        last = int(sy.get("next_seq", 0)) - 1
        if not pings or last < seqs[0] or last > seqs[-1] + 0:
            continue
        j = int(np.searchsorted(seqs, last, side="right")) - 1
        if j < 0:
            continue
        best = min(pings, key=lambda p: p[2])      # the fastest round trip
        host_wall, dev_us = float(best[0]), int(best[1])
        dev = dev_us / 1e6
        elapsed = (dev - int(log.dev_s[seg.first + j])) % 65536
        if elapsed > MAX_SYNC_ELAPSED_S:
            continue
        seg.anchors.append((float(seg.dev_u[j]) + elapsed, host_wall, "sync"))


def _fit(seg: Segment, pod_drift: float | None) -> None:
    syncs = [(d, w) for d, w, k in seg.anchors if k == "sync"]
    arms = [(d, w) for d, w, k in seg.anchors if k == "arm"]
    if len(syncs) >= 2 and syncs[-1][0] - syncs[0][0] > 1.0:
        d = np.array([s[0] for s in syncs])
        w = np.array([s[1] for s in syncs])
        b, a = np.polyfit(d, w, 1)
        seg.offset_s, seg.drift_ppm = float(a), float((b - 1) * 1e6)
        seg.method, seg.uncertainty_s = "syncs", 0.01
        seg.drift_uncertainty_ppm = 1e6 * 0.002 / (syncs[-1][0] - syncs[0][0])
        return
    if syncs:
        d0, w0 = syncs[-1]
        drift = 0.0
        seg.method = "sync"
        if arms:
            da, wa = arms[-1]
            span = d0 - da
            if span > 0:
                seg.measured_drift_ppm = ((w0 - wa) / span - 1.0) * 1e6
                seg.measured_span_s = span
            if span >= MIN_DRIFT_SPAN_S:
                drift = (w0 - wa) / span - 1.0
                seg.method = "arm+sync"
                seg.drift_uncertainty_ppm = 1e6 * ARM_UNCERTAINTY_S / span
        if seg.method == "sync" and pod_drift is not None:
            drift = pod_drift
        seg.drift_ppm = None if seg.method == "sync" and pod_drift is None else drift * 1e6
        seg.offset_s = w0 - (1.0 + drift) * d0
        span = d0 - float(seg.dev_u[0])
        seg.uncertainty_s = 0.001 + (ARM_UNCERTAINTY_S if seg.method == "arm+sync"
                                     else 0.0) + (1e-4 * span if seg.drift_ppm is None else 0)
        return
    if arms:
        da, wa = arms[-1]
        drift = pod_drift or 0.0
        seg.method = "arm"
        seg.drift_ppm = None if pod_drift is None else drift * 1e6
        seg.offset_s = wa - (1.0 + drift) * da
        span = float(seg.dev_u[-1]) - da
        seg.uncertainty_s = ARM_UNCERTAINTY_S + (1e-4 * span if pod_drift is None else 0)


def map_clock(log: PodLog) -> ClockMap:
    """Wall time of every record of one pod (``log.meta``: the pod's recording.json entry
    with ``arms`` and ``syncs``)."""
    segs = _segments(log)
    arms = log.meta.get("arms") or []
    syncs = log.meta.get("syncs") or []
    for s in segs:
        _arm_anchors(log, s, arms)
        _sync_anchors(log, s, syncs)
    for s in segs:                       # first the segments that measure their drift
        _fit(s, None)
    measured = [s.drift_ppm for s in segs if s.method in ("syncs", "arm+sync")]
    pod_drift = float(np.median(measured)) * 1e-6 if measured else None
    if pod_drift is not None:            # the same crystal: use its drift where unmeasured
        for s in segs:
            if s.method in ("sync", "arm"):
                _fit(s, pod_drift)
    wall = np.full(len(log), np.nan)
    for s in segs:
        if math.isfinite(s.offset_s):
            rate = 1.0 + (s.drift_ppm or 0.0) * 1e-6
            wall[s.first:s.end] = s.offset_s + rate * (s.dev_u - RECORD_SPAN_S)
    return ClockMap(log.role, wall, segs)
