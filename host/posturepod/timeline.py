"""Clock alignment: every pod sample onto the one recording clock. See docs/recording.md.

Each pod has its own clock (a crystal, tens to hundreds of ppm off, restarting at every
boot). Per *segment* (one boot / one connection of a pod) the loader fits

    host_s = a + b * dev_us

to the ping observations (host send/receive mid-point against the device time the pod
stamped): pings with the smallest round trips carry the least asymmetry, so the fit keeps
the faster half, solves least squares and takes the residual scatter as the error figure.
With fewer than three pings the drift is taken as 0 and the offset as the median; with
none, the earliest frame arrivals bound the offset. Device timestamps are unwrapped from
their 32-bit field with the segment's first device time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .recording import SYNC_ARRIVAL, SYNC_PING

U32 = 1 << 32


@dataclass
class SegmentFit:
    first: int
    n: int
    offset_s: float
    drift_ppm: float       # pod clock rate error: + when the pod's clock runs fast
    n_pings: int
    residual_ms: float
    method: str


@dataclass
class Timeline:
    order: np.ndarray              # record indices in time order (duplicates removed)
    time_s: np.ndarray             # recording clock seconds for those records
    dev_us: np.ndarray             # unwrapped device time of those records
    gaps: list = field(default_factory=list)      # (start_s, end_s)
    seq_gaps: int = 0
    lost_samples: int = 0
    duplicates: int = 0
    segments: list = field(default_factory=list)  # SegmentFit
    identity: bool = False         # order is 0..n-1: records already in time order


def unwrap_u32(t: np.ndarray, start: int | None = None) -> np.ndarray:
    """Unwrap a 32-bit microsecond counter into int64, starting at `start` (the full
    device time of the first sample) when known."""
    t = np.asarray(t)
    if t.size == 0:
        return t.astype(np.int64)
    d = np.diff(t.astype(np.int64))
    neg = d < -(U32 >> 1)
    if neg.any():
        d[neg] += U32
    big = d > (U32 >> 1)
    if big.any():
        d[big] -= U32
    out = np.empty(t.size, dtype=np.int64)
    out[0] = int(t[0]) if start is None else int(start)
    np.cumsum(d, out=out[1:])
    out[1:] += out[0]
    return out


def fit_clock(sync: np.ndarray, first_dev_us: float) -> tuple[float, float, int, float, str]:
    """(a, b, n_pings, residual_ms, method) for host_s = a + b * dev_us."""
    pings = sync[sync["kind"] == SYNC_PING]
    if len(pings) >= 3:
        keep = pings["rtt_s"] <= np.percentile(pings["rtt_s"], 50)
        p = pings[keep] if keep.sum() >= 3 else pings
        x = p["dev_us"].astype(np.float64) - first_dev_us
        y = p["host_s"]
        if np.ptp(x) > 2e6:
            b, a = np.polyfit(x, y, 1)
            if abs(b * 1e6 - 1) < 2e-3:
                res = y - (a + b * x)
                return a - b * first_dev_us, b, len(pings), float(np.std(res) * 1e3), "pings"
    if len(pings):
        off = np.median(pings["host_s"] - pings["dev_us"] * 1e-6)
        res = pings["host_s"] - pings["dev_us"] * 1e-6 - off
        return float(off), 1e-6, len(pings), float(np.std(res) * 1e3), "pings-offset"
    arr = sync[sync["kind"] == SYNC_ARRIVAL]
    if len(arr):
        off = np.min(arr["host_s"] - arr["dev_us"] * 1e-6)
        return float(off), 1e-6, 0, float("nan"), "arrivals"
    return float("nan"), 1e-6, 0, float("nan"), "none"


def pod_timeline(imu: np.ndarray, sync: np.ndarray, segments: list[dict],
                 rate_hz: float = 100.0) -> Timeline:
    n = len(imu)
    if not segments:
        segments = [{"seg": 0, "first": 0, "t0_dev_us": None}]
    segs = sorted(segments, key=lambda s: s["first"])
    period = 1.0 / rate_hz
    orders, times, devs, gaps, fits = [], [], [], [], []
    seq_gaps = lost = dups = 0
    for k, s in enumerate(segs):
        lo = int(s["first"])
        hi = int(segs[k + 1]["first"]) if k + 1 < len(segs) else n
        if hi <= lo:
            continue
        rec = imu[lo:hi]
        seq = rec["seq"].astype(np.int64)
        dseq = np.diff(seq)
        if np.all(dseq > 0):                 # the usual case: in order, no duplicates
            idx = np.arange(len(seq))
            seq_sorted = seq
        else:                                # late (backfilled) or repeated samples
            idx = np.argsort(seq, kind="stable")
            seq_sorted = seq[idx]
            uniq = np.concatenate([[True], np.diff(seq_sorted) > 0])
            dups += int((~uniq).sum())
            idx = idx[uniq]
            seq_sorted = seq_sorted[uniq]
            dseq = np.diff(seq_sorted)
        t0 = s.get("t0_dev_us")
        dev = unwrap_u32(rec["t_us"][idx], None if t0 is None else int(t0))
        a, b, npings, res_ms, method = fit_clock(sync[sync["seg"] == s["seg"]],
                                                 float(dev[0]))
        if not np.isfinite(a):
            a = float(s.get("host_s", 0.0)) - float(dev[0]) * 1e-6
            method = "segment-start"
        t = (dev - dev[0]).astype(np.float64)
        t *= b
        t += a + b * float(dev[0])
        jumps = np.flatnonzero(dseq > 1)
        for j in jumps:
            gaps.append((float(t[j]), float(t[j + 1])))
        seq_gaps += len(jumps)
        lost += int((dseq[jumps] - 1).sum()) if len(jumps) else 0
        if times and len(t) and t[0] - times[-1][-1] > 1.5 * period:
            gaps.append((float(times[-1][-1]), float(t[0])))
        orders.append(lo + idx)
        times.append(t)
        devs.append(dev)
        fits.append(SegmentFit(lo, len(idx), float(a + b * dev[0]) - float(dev[0]) * 1e-6,
                               (1.0 / (b * 1e6) - 1) * 1e6, npings, res_ms, method))
    if not orders:
        z = np.zeros(0)
        return Timeline(np.zeros(0, dtype=np.int64), z, z.astype(np.int64))
    order = np.concatenate(orders)
    time_s = np.concatenate(times)
    dev_us = np.concatenate(devs)
    if len(orders) > 1 and np.any(np.diff(time_s) <= 0):
        o = np.argsort(time_s, kind="stable")
        keep = np.concatenate([[True], np.diff(time_s[o]) > 0])
        o = o[keep]
        order, time_s, dev_us = order[o], time_s[o], dev_us[o]
    ident = len(orders) == 1 and len(order) == n and bool(order[0] == 0) and \
        bool(order[-1] == n - 1)
    return Timeline(order, time_s, dev_us, sorted(gaps), seq_gaps, lost, dups, fits, ident)
