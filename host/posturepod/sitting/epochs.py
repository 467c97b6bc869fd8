"""Per-epoch features from a stream of angle samples (and pelvis accelerations).

The same :class:`EpochBuilder` serves the offline analysis (fed chunks of thousands of
samples) and the live monitor (fed one sample at a time). An epoch is computed only once all
of its samples are in, from exactly those samples, with the band-pass filter state carried
across calls, so its features do not depend on how the stream was cut: the offline and the
live decisions are made on bit-identical epochs.

Epoch ``k`` covers ``[k * epoch_s, (k + 1) * epoch_s)`` on the recording clock.

Features of an epoch:
  * the mean of each of the five angles (NaN where it has no valid sample),
  * the within-epoch SD of pelvis, thorax and head angle (stillness),
  * gait: the RMS of the band-passed pelvis acceleration magnitude and its periodicity, the
    highest normalised autocorrelation at a lag of one step or stride, both over the three
    epochs centred on this one (so an epoch is handed out one epoch late).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANGLES = ("pelvis_deg", "thorax_deg", "head_deg", "lumbar_deg", "neck_deg")
P, T, H, L, N = range(5)


@dataclass(slots=True)
class Epoch:
    k: int
    t0: float
    t1: float
    n: int
    angles: tuple            # 5 floats, the order of ANGLES
    sd: tuple                # within-epoch SD of pelvis, thorax, head (deg)
    acc_rms: float = math.nan       # band-passed |acc| RMS over the centred 3 epochs
    periodicity: float = math.nan   # peak autocorrelation at step/stride lags, 0..1


def angles_matrix(series) -> np.ndarray:
    """(N, 5) float array of an AngleSeries-like object's five angles."""
    return np.column_stack([np.asarray(getattr(series, a), dtype=np.float64) for a in ANGLES])


class _AccProcessor:
    """Band-pass |acc| (a causal FIR: the signal minus its moving average over
    ``1 / band[0]`` seconds, smoothed over ``1 / (2 band[1])`` seconds; plain numpy, no
    scipy.signal import) and accumulate per-epoch autocorrelation sums."""

    def __init__(self, rate_hz: float, band: tuple[float, float], lag_s: tuple[float, float]):
        self.rate_hz = float(rate_hz)
        n_long = max(2, int(round(self.rate_hz / band[0])))
        n_short = max(1, int(round(self.rate_hz / (2.0 * band[1]))))
        hp = -np.full(n_long, 1.0 / n_long)
        hp[0] += 1.0
        self.kernel = np.convolve(hp, np.full(n_short, 1.0 / n_short))
        self.hist: np.ndarray | None = None        # the last len(kernel) - 1 raw samples
        l1 = max(1, int(round(lag_s[0] * self.rate_hz)))
        l2 = max(l1, int(round(lag_s[1] * self.rate_hz)))
        self.lags = np.arange(l1, l2 + 1)
        self.maxlag = int(self.lags[-1])
        self.tail = np.zeros(self.maxlag)          # the last band-passed samples

    def process(self, mag: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Band-pass ``mag`` (samples of complete epochs, in order) and return per-epoch sums
        (len(starts), 1 + n_lags): sum x^2 and sum x[n] x[n-L] for each lag."""
        k = len(self.kernel)
        if self.hist is None:
            self.hist = np.full(k - 1, mag[0])
        raw = np.concatenate([self.hist, mag])
        x = np.convolve(raw, self.kernel, mode="valid")
        self.hist = raw[-(k - 1):].copy() if k > 1 else raw[:0]
        ext = np.concatenate([self.tail, x])
        m = self.maxlag
        prods = np.empty((len(x), 1 + len(self.lags)))
        prods[:, 0] = x * x
        for j, lag in enumerate(self.lags):
            prods[:, j + 1] = x * ext[m - lag:m - lag + len(x)]
        self.tail = ext[-m:].copy()
        return np.add.reduceat(prods, starts, axis=0)


class EpochBuilder:
    """Cut streams of angle samples (and optionally pelvis acceleration) into epochs."""

    def __init__(self, epoch_s: float = 1.0, *, acc_rate_hz: float | None = None,
                 use_acc: bool = True, gait_band_hz=(0.5, 4.0), gait_lag_s=(0.3, 1.25)):
        self.epoch_s = float(epoch_s)
        self.use_acc = use_acc
        self.acc_rate_hz = acc_rate_hz
        self._band = tuple(gait_band_hz)
        self._lag = tuple(gait_lag_s)
        self._acc: _AccProcessor | None = None
        self._at = np.zeros(0)
        self._aa = np.zeros((0, 5))
        self._ct = np.zeros(0)
        self._cm = np.zeros(0)
        self._acc_seen = False
        self._acc_sums: dict[int, tuple[int, np.ndarray]] = {}
        self._held: list[Epoch] = []          # epochs waiting for their gait neighbours
        self._held_sums: list[tuple[int, np.ndarray] | None] = []
        self.n_epochs = 0

    # -- input ----------------------------------------------------------------------
    def push(self, t, angles, acc_t=None, acc=None) -> list[Epoch]:
        """Add samples: ``t`` (N,) seconds, ``angles`` (N, 5) in the order of ANGLES;
        ``acc_t`` (M,) and ``acc`` (M, 3) m/s^2 or (M,) magnitude, the pelvis acceleration
        (any times, in order). Returns the epochs completed so far (in order)."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        a = np.asarray(angles, dtype=np.float64).reshape(len(t), 5)
        if len(t):
            self._at = np.concatenate([self._at, t]) if len(self._at) else t
            self._aa = np.concatenate([self._aa, a]) if len(self._aa) else a
        if self.use_acc and acc_t is not None and acc is not None:
            acc_t = np.atleast_1d(np.asarray(acc_t, dtype=np.float64))
            acc = np.asarray(acc, dtype=np.float64)
            mag = acc if acc.ndim == 1 else np.sqrt(np.einsum("ij,ij->i", acc.reshape(-1, 3),
                                                              acc.reshape(-1, 3)))
            mag = np.atleast_1d(mag)
            if len(acc_t):
                self._acc_seen = True
                self._ct = np.concatenate([self._ct, acc_t]) if len(self._ct) else acc_t
                self._cm = np.concatenate([self._cm, mag]) if len(self._cm) else mag
        return self._advance(final=False)

    def finish(self) -> list[Epoch]:
        """All remaining epochs, the last one possibly partial."""
        return self._advance(final=True)

    # -- internals --------------------------------------------------------------------
    def _idx(self, t):
        return np.floor(t / self.epoch_s).astype(np.int64)

    def _advance(self, final: bool) -> list[Epoch]:
        if not len(self._at):
            return self._release(final) if final else []
        big = np.iinfo(np.int64).max
        k_ang = big if final else int(self._idx(self._at[-1:])[0])
        k_done = k_ang
        if self._acc_seen and not final:
            if not len(self._ct):
                return []
            k_done = min(k_done, int(self._idx(self._ct[-1:])[0]))
        self._consume_acc(k_done, final)
        ia = self._idx(self._at)
        n_done = len(ia) if final else int(np.searchsorted(ia, k_done, side="left"))
        if n_done == 0:
            return self._release(final) if final else []
        a, ia = self._aa[:n_done], ia[:n_done]
        self._at, self._aa = self._at[n_done:], self._aa[n_done:]
        starts = np.flatnonzero(np.r_[True, ia[1:] != ia[:-1]])
        counts = np.diff(np.r_[starts, len(ia)])
        valid = np.isfinite(a)
        a0 = np.where(valid, a, 0.0)
        s1 = np.add.reduceat(a0, starts, axis=0)
        s2 = np.add.reduceat(a0[:, :3] * a0[:, :3], starts, axis=0)
        nv = np.add.reduceat(valid.astype(np.float64), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / nv
            var = s2 / nv[:, :3] - mean[:, :3] ** 2
        sd = np.sqrt(np.maximum(var, 0.0))
        out = []
        for j, s in enumerate(starts):
            k = int(ia[s])
            ep = Epoch(k=k, t0=k * self.epoch_s, t1=(k + 1) * self.epoch_s, n=int(counts[j]),
                       angles=tuple(float(v) for v in mean[j]),
                       sd=tuple(float(v) for v in sd[j]))
            out.append(ep)
        return self._centre(out, final)

    def _consume_acc(self, k_done: int, final: bool) -> None:
        if not len(self._ct):
            return
        if self._acc is None:
            rate = self.acc_rate_hz
            if rate is None:
                span = self._ct[-1] - self._ct[0]
                if span < 2.0 and not final:
                    return
                if len(self._ct) < 8:
                    return
                rate = float(1.0 / np.median(np.diff(self._ct)))
            self._acc = _AccProcessor(rate, self._band, self._lag)
        ic = self._idx(self._ct)
        n = len(ic) if final else int(np.searchsorted(ic, k_done, side="left"))
        if n == 0:
            return
        mag, ic = self._cm[:n], ic[:n]
        self._ct, self._cm = self._ct[n:], self._cm[n:]
        starts = np.flatnonzero(np.r_[True, ic[1:] != ic[:-1]])
        counts = np.diff(np.r_[starts, len(ic)])
        sums = self._acc.process(mag, starts)
        for j, s in enumerate(starts):
            self._acc_sums[int(ic[s])] = (int(counts[j]), sums[j])

    def _centre(self, new: list[Epoch], final: bool) -> list[Epoch]:
        for ep in new:
            self._held.append(ep)
            self._held_sums.append(self._acc_sums.pop(ep.k, None))
        # drop acc sums of epochs that have no angle samples (data gaps)
        if self._acc_sums and self._held:
            k_min = self._held[0].k - 1
            for k in [k for k in self._acc_sums if k < k_min]:
                del self._acc_sums[k]
        return self._release(final)

    def _release(self, final: bool) -> list[Epoch]:
        out = []
        # self._held[0] is the previous (already released) epoch kept as a neighbour, once
        # one has been released; self._first tells whether that is the case.
        start = 1 if getattr(self, "_kept", False) else 0
        i = start
        while i < len(self._held):
            nxt = i + 1 < len(self._held)
            if not nxt and not final:
                break
            ep = self._held[i]
            group = [self._held_sums[i]]
            if i > 0 and self._held[i - 1].k == ep.k - 1:
                group.append(self._held_sums[i - 1])
            if nxt and self._held[i + 1].k == ep.k + 1:
                group.append(self._held_sums[i + 1])
            self._gait(ep, group)
            out.append(ep)
            i += 1
        if i > 0:
            # keep the last released epoch as the left neighbour of the next one
            self._held = self._held[i - 1:]
            self._held_sums = self._held_sums[i - 1:]
            self._kept = True
        self.n_epochs += len(out)
        return out

    def _gait(self, ep: Epoch, group) -> None:
        group = [g for g in group if g is not None]
        if not group or self._acc is None:
            return
        n = sum(g[0] for g in group)
        s = group[0][1].copy()
        for g in group[1:]:
            s = s + g[1]
        if n <= 0:
            return
        ep.acc_rms = float(math.sqrt(max(s[0], 0.0) / n))
        ep.periodicity = float(np.max(s[1:]) / s[0]) if s[0] > 0 else 0.0
