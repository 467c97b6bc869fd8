"""Clock alignment: every pod sample onto the one recording clock. See docs/recording.md.

Each pod has its own clock (a crystal, tens to hundreds of ppm off, restarting at every
boot). Per *segment* (one boot / one connection of a pod) the loader fits

    host_s = a + b * dev_us

to the ping observations (host send/receive mid-point against the device time the pod
stamped): pings with the smallest round trips carry the least asymmetry, so the fit keeps
the faster half, solves least squares and takes the residual scatter as the error figure.
A clock rate beyond 2000 ppm off is only believed from many consistent pings (an
emulated board running at a fraction of real time: ``pings-rate``). With fewer than three
pings, or a rate not believed, the drift is taken as 0 and the offset as the median; with
none, the earliest frame arrivals bound the offset. Device timestamps are unwrapped from
their 32-bit field with the segment's first device time.

Two ways through a pod's records. The usual case (every segment in sequence order, the
segments one after the other in time) is :func:`stream_timeline`: one pass in blocks
finds the gaps and the clock fits and leaves a lazy time axis (:class:`OrderedTime`,
computed from the records' device times on access), so loading a day holds no per-sample
array. Late (back-filled) or repeated samples need sorting: :func:`pod_timeline` does it
in memory, and :func:`lazy_order` keeps the result as runs with the same kind of lazy
time axis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posturepod.recordings.columns import BLOCK, MARK_EVERY, Column, RecordFile, RunMap
from posturepod.recordings.format import SYNC_ARRIVAL, SYNC_PING

U32 = 1 << 32
CHECKPOINT_EVERY = 1024    # records between stored unwrapped device times (lazy time axis)
FAR_RATE_MAX_SCATTER = 0.05   # a far clock rate: ping scatter at most this part of the span


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
    order: np.ndarray | None       # record indices in time order (duplicates removed);
                                   # None: the records as they are (stream_timeline)
    time_s: np.ndarray | Column    # recording clock seconds for those records
    gaps: list = field(default_factory=list)      # (start_s, end_s)
    seq_gaps: int = 0
    lost_samples: int = 0
    duplicates: int = 0
    segments: list = field(default_factory=list)  # SegmentFit
    identity: bool = False         # order is 0..n-1: records already in time order
    dev_us: np.ndarray | None = None   # unwrapped device times (in-memory path only)
    seg_params: list = field(default_factory=list)   # (lo, hi, b, c, dev0) per segment
    runs: RunMap | None = None     # the order as runs (lazy_order)

    def indices(self) -> np.ndarray:
        """Record indices in time order."""
        if self.order is not None:
            return self.order
        if self.runs is not None:
            return self.runs.indices()
        return np.arange(len(self.time_s))

    def device_us(self) -> np.ndarray:
        """Unwrapped device times (us) of the records in time order."""
        if self.dev_us is not None:
            return self.dev_us
        assert isinstance(self.time_s, OrderedTime)
        return self.time_s.device_us(0, len(self.time_s))


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


def far_rate_ok(host_per_dev: float, n_pings: int, residual_s: float, span_s: float) -> bool:
    """A pod clock far from real time (beyond a crystal's 2000 ppm) is believed when many
    pings agree on it: an emulated board (docs/pico.md) runs at a fraction of real time,
    and not quite steadily. Otherwise the fit falls back to the offset alone."""
    return (0.01 < host_per_dev < 100 and n_pings >= 8 and span_s > 0
            and residual_s < FAR_RATE_MAX_SCATTER * span_s)


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
            res = y - (a + b * x)
            if abs(b * 1e6 - 1) < 2e-3:
                return a - b * first_dev_us, b, len(pings), float(np.std(res) * 1e3), "pings"
            if far_rate_ok(b * 1e6, len(p), float(np.std(res)), float(np.ptp(y))):
                return a - b * first_dev_us, b, len(pings), float(np.std(res) * 1e3), "pings-rate"
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
    orders, times, devs, gaps, fits, params = [], [], [], [], [], []
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
        params.append((lo, hi, b, a + b * float(dev[0]), int(dev[0])))
        fits.append(SegmentFit(lo, len(idx), float(a + b * dev[0]) - float(dev[0]) * 1e-6,
                               (1.0 / (b * 1e6) - 1) * 1e6, npings, res_ms, method))
    if not orders:
        return Timeline(np.zeros(0, dtype=np.int64), np.zeros(0),
                        dev_us=np.zeros(0, dtype=np.int64))

    def cat(parts):               # one segment: no copy
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
    n_parts = len(orders)
    order, time_s, dev_us = cat(orders), cat(times), cat(devs)
    del orders, times, devs
    if len(order) and order.dtype != np.int64:
        order = order.astype(np.int64)
    if n_parts > 1 and np.any(np.diff(time_s) <= 0):
        o = np.argsort(time_s, kind="stable")
        keep = np.concatenate([[True], np.diff(time_s[o]) > 0])
        o = o[keep]
        order, time_s, dev_us = order[o], time_s[o], dev_us[o]
    ident = n_parts == 1 and len(order) == n and bool(order[0] == 0) and \
        bool(order[-1] == n - 1)
    return Timeline(order, time_s, sorted(gaps), seq_gaps, lost, dups, fits, ident, dev_us,
                    params)


class OrderedTime(Column):
    """Recording-clock seconds of a pod's records in the order of a :class:`RunMap` (file
    order, or late samples put in place and repeats left out): per run, the device times
    are unwrapped from the run's first one (kept: a checkpoint) and mapped with its
    segment's clock fit, host_s = c + b * (dev_us - dev0). Identical to the in-memory axis
    of :func:`pod_timeline`.

    Runs that follow one another in the file within a segment (all of a segment's runs, in
    file order) are read and unwrapped as one span from the first run's checkpoint; each
    later run is then shifted onto its own checkpoint (a shift of 0 unless the order put
    other records between them), so the numbers are those of run-by-run unwrapping at the
    cost of one read per span instead of one per run."""

    def __init__(self, records: RecordFile, runs: RunMap, dev_start: np.ndarray,
                 seg_params: list):
        super().__init__(runs.n)
        self._rec = records
        self._runs = runs
        self._dev = np.asarray(dev_start, dtype=np.int64)
        los = np.array([p[0] for p in seg_params], dtype=np.int64)
        seg = np.searchsorted(los, runs.file, "right") - 1
        self._b = np.array([p[2] for p in seg_params])[seg]
        self._c = np.array([p[3] for p in seg_params])[seg]
        self._dev0 = np.array([p[4] for p in seg_params], dtype=np.int64)[seg]
        self._new_seg = np.zeros(len(seg), dtype=bool)       # a run starts another segment
        self._new_seg[1:] = np.diff(seg) != 0

    def _spans(self, i0: int, i1: int):
        """(first run k, o0, o1, unwrapped device times of rows o0..o1-1) per span of
        i0..i1, each within one segment."""
        runs = self._runs
        for k0, k1, o0, o1, f0 in runs.spans(i0, i1, self._new_seg):
            fs = int(runs.file[k0])
            dev = unwrap_u32(self._rec.read(fs, f0 + (o1 - o0))["t_us"], int(self._dev[k0]))
            if k1 - k0 > 1:                   # later runs onto their own checkpoints
                st = runs.file[k0 + 1:k1] - fs
                shift = self._dev[k0 + 1:k1] - dev[st]
                if shift.any():
                    dev[st[0]:] += np.repeat(shift, np.diff(np.append(st, len(dev))))
            yield k0, o0, o1, dev[f0 - fs:]

    def device_us(self, i0: int, i1: int) -> np.ndarray:
        out = np.empty(max(i1 - i0, 0), dtype=np.int64)
        for _, o0, o1, dev in self._spans(i0, i1):
            out[o0 - i0:o1 - i0] = dev
        return out

    def _read(self, i0: int, i1: int) -> np.ndarray:
        out = np.empty(max(i1 - i0, 0))
        for k, o0, o1, dev in self._spans(i0, i1):
            t = out[o0 - i0:o1 - i0]
            np.subtract(dev, self._dev0[k], out=t, casting="unsafe")   # int64, then float
            t *= self._b[k]
            t += self._c[k]
        return out


def lazy_order(records: RecordFile, tl: Timeline) -> Timeline:
    """The in-memory timeline ``tl`` of :func:`pod_timeline` with its order kept as runs and
    its time axis as an :class:`OrderedTime`: nothing per sample stays in memory."""
    assert tl.order is not None and tl.dev_us is not None
    runs = RunMap(tl.order, np.array([p[0] for p in tl.seg_params], dtype=np.int64),
                  CHECKPOINT_EVERY)
    time_s = OrderedTime(records, runs, tl.dev_us[runs.out], tl.seg_params)
    return Timeline(None, time_s, tl.gaps, tl.seq_gaps, tl.lost_samples, tl.duplicates,
                    tl.segments, False, None, tl.seg_params, runs)


# -- streaming: one pass in blocks, lazy time axis ------------------------------------------

def stream_timeline(records: RecordFile, sync: np.ndarray, segments: list[dict],
                    rate_hz: float = 100.0) -> Timeline | None:
    """The timeline of a pod's records in one pass of blocks, with a lazy time axis; None
    when the records need reordering (late or repeated samples, overlapping segments):
    use :func:`pod_timeline` then."""
    n = len(records)
    if not segments:
        segments = [{"seg": 0, "first": 0, "t0_dev_us": None}]
    segs = sorted(segments, key=lambda s: s["first"])
    period = 1.0 / rate_hz
    params: list = []
    ck_i, ck_dev, gaps, fits, marks = [], [], [], [], []
    seq_gaps = lost = 0
    last_t = None
    for k, s in enumerate(segs):
        lo = int(s["first"])
        hi = int(segs[k + 1]["first"]) if k + 1 < len(segs) else n
        if hi <= lo:
            continue
        head = records.read(lo, lo + 1)
        t0 = s.get("t0_dev_us")
        dev0 = int(head["t_us"][0]) if t0 is None else int(t0)
        a, b, npings, res_ms, method = fit_clock(sync[sync["seg"] == s["seg"]], float(dev0))
        if not np.isfinite(a):
            a = float(s.get("host_s", 0.0)) - float(dev0) * 1e-6
            method = "segment-start"
        c = a + b * float(dev0)
        prev = None          # (seq, t_us, dev, time) of the previous block's last record
        for b0 in range(lo, hi, BLOCK):
            r = records.read(b0, min(b0 + BLOCK, hi))
            seq = r["seq"].astype(np.int64)
            tus = r["t_us"].astype(np.int64)
            if prev is None:
                dseq = np.diff(seq)
                dev = unwrap_u32(tus, dev0)
            else:
                dseq = np.diff(np.concatenate([[prev[0]], seq]))
                dev = unwrap_u32(np.concatenate([[prev[1]], tus]), prev[2])[1:]
            if np.any(dseq <= 0):
                return None                    # late or repeated samples: sort in memory
            t = (dev - dev0).astype(np.float64)
            t *= b
            t += c
            if b0 == lo and last_t is not None:
                if t[0] <= last_t:
                    return None                # segments overlap in time
                if t[0] - last_t > 1.5 * period:
                    gaps.append((float(last_t), float(t[0])))
            jumps = np.flatnonzero(dseq > 1)
            if len(jumps):
                tt = t if prev is None else np.concatenate([[prev[3]], t])
                gaps += [(float(tt[j]), float(tt[j + 1])) for j in jumps]
                seq_gaps += len(jumps)
                lost += int((dseq[jumps] - 1).sum())
            ck_i.append(np.arange(b0, b0 + len(dev), CHECKPOINT_EVERY))
            ck_dev.append(dev[::CHECKPOINT_EVERY].copy())     # not views: they would keep
                                                              # every block alive
            marks.append(t[(-b0) % MARK_EVERY::MARK_EVERY].copy())
            prev = (int(seq[-1]), int(tus[-1]), int(dev[-1]), float(t[-1]))
        last_t = prev[3] if prev is not None else last_t
        params.append((lo, hi, b, c, dev0))
        fits.append(SegmentFit(lo, hi - lo, float(c) - float(dev0) * 1e-6,
                               (1.0 / (b * 1e6) - 1) * 1e6, npings, res_ms, method))
    covered = sum(p[1] - p[0] for p in params)
    if covered != n or (params and params[0][0] != 0):
        return None                            # records outside any segment
    ck = np.concatenate(ck_i) if ck_i else np.zeros(0, dtype=np.int64)
    time_s = OrderedTime(records, RunMap.from_starts(ck, ck, n),
                         np.concatenate(ck_dev) if ck_dev else np.zeros(0, dtype=np.int64),
                         params)
    time_s._marks = np.concatenate(marks) if marks else np.zeros(0)
    return Timeline(None, time_s, sorted(gaps), seq_gaps, lost, 0, fits, True,
                    seg_params=params)
