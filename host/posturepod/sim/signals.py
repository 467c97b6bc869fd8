"""Smooth driving signals that can be evaluated at any instants (no internal time grid).

A :class:`Channel` is a keyframe signal: constant between moves, and each move a quintic
minimum-jerk blend (Flash & Hogan 1985), so position, velocity and acceleration are all
continuous (C2). That is what lets the sensor model differentiate positions twice without
spikes, and what lets a long day be generated chunk by chunk at arbitrary sampling instants.
:class:`Oscillation` is a sum of sinusoids (postural sway, breathing), also C-infinity.
:class:`Moves` (additive min-jerk shifts and excursions) and :class:`Bursts` (oscillation
under a C2 envelope) carry the occasional restless movements (:mod:`.restless`) on top of the
channels; :class:`Sum` adds signals up.
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np


def minjerk(tau: np.ndarray) -> np.ndarray:
    """Normalised minimum-jerk profile s(tau), s(0)=0, s(1)=1, s', s'' zero at both ends."""
    return tau ** 3 * (10.0 + tau * (-15.0 + 6.0 * tau))


def minjerk_integral(tau: np.ndarray) -> np.ndarray:
    """Integral of :func:`minjerk` from 0 to tau (= 1/2 at tau = 1)."""
    return tau ** 4 * (2.5 + tau * (-3.0 + tau))


class Channel:
    """Keyframed C2 signal. Build with :meth:`move`, then :meth:`freeze`; call to evaluate."""

    def __init__(self, value: float = 0.0, t: float = 0.0):
        self._t = [float(t)]
        self._v = [float(value)]
        self._frozen = False

    @property
    def last_t(self) -> float:
        return self._t[-1]

    @property
    def last_v(self) -> float:
        return self._v[-1]

    def move(self, t0: float, t1: float, value: float) -> None:
        """Hold the current value until ``t0``, then blend to ``value`` at ``t1``."""
        if self._frozen:
            raise RuntimeError("channel is frozen")
        if t0 < self._t[-1] - 1e-9:
            raise ValueError(f"move starts at {t0:.3f} s, before the last keyframe "
                             f"{self._t[-1]:.3f} s")
        if t1 <= t0:
            raise ValueError("move must have a positive duration")
        if t0 > self._t[-1] + 1e-9:
            self._t.append(float(t0))
            self._v.append(self._v[-1])
        self._t.append(float(t1))
        self._v.append(float(value))

    def moving(self) -> list[tuple[float, float]]:
        """(t0, t1) of the keyframe moves that change the value (holds left out)."""
        return [(a, b) for a, b, u, v in zip(self._t[:-1], self._t[1:], self._v[:-1],
                                             self._v[1:]) if u != v]

    def value_at(self, t: float) -> float:
        """Value at ``t`` while still being built (before :meth:`freeze`)."""
        k = int(np.searchsorted(self._t, t, side="right")) - 1
        if k < 0:
            return self._v[0]
        if k >= len(self._t) - 1:
            return self._v[-1]
        tau = (t - self._t[k]) / (self._t[k + 1] - self._t[k])
        return float(self._v[k] + (self._v[k + 1] - self._v[k]) * minjerk(np.float64(tau)))

    def shift(self, t0: float, t1: float, delta: float) -> None:
        self.move(t0, t1, self.last_v + delta)

    def freeze(self) -> "Channel":
        self.t = np.asarray(self._t, dtype=float)
        self.v = np.asarray(self._v, dtype=float)
        if len(self.t) > 1:
            d = np.diff(self.t)
            seg = d * (self.v[:-1] + 0.5 * (self.v[1:] - self.v[:-1]))
            self.cum = np.concatenate([[0.0], np.cumsum(seg)])
        else:
            self.cum = np.zeros(1)
        self._frozen = True
        return self

    def _locate(self, t):
        t = np.asarray(t, dtype=float)
        n = len(self.t)
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, n - 2)
        t0 = self.t[i]
        d = self.t[i + 1] - t0
        tau = np.clip((t - t0) / d, 0.0, 1.0)
        return t, i, d, tau

    def __call__(self, t) -> np.ndarray:
        if len(self.t) == 1:
            return np.full(np.shape(t), self.v[0])
        t = np.asarray(t, dtype=float)
        if t.size > 64:
            # fast path: all of t inside one hold (or outside the keyframes)
            lo, hi = np.searchsorted(self.t, [t.min(), t.max()], side="right")
            if lo == hi and (lo == 0 or lo == len(self.t) or self.v[lo - 1] == self.v[lo]):
                return np.full(t.shape, self.v[max(lo - 1, 0)])
        t, i, d, tau = self._locate(t)
        v0 = self.v[i]
        return v0 + (self.v[i + 1] - v0) * minjerk(tau)

    def integral(self, t) -> np.ndarray:
        """Integral from the first keyframe time to t (constant extension both sides)."""
        if len(self.t) == 1:
            return self.v[0] * (np.asarray(t, dtype=float) - self.t[0])
        t, i, d, tau = self._locate(t)
        v0 = self.v[i]
        out = self.cum[i] + d * (v0 * tau + (self.v[i + 1] - v0) * minjerk_integral(tau))
        out = np.where(t < self.t[0], self.v[0] * (t - self.t[0]), out)
        return np.where(t > self.t[-1], self.cum[-1] + self.v[-1] * (t - self.t[-1]), out)


class Oscillation:
    """Sum of sinusoids: sum_j a_j sin(2 pi f_j t + phi_j)."""

    def __init__(self, amps, freqs, phases, offset: float = 0.0):
        self.a = np.asarray(amps, dtype=float)
        self.w = 2.0 * np.pi * np.asarray(freqs, dtype=float)
        self.p = np.asarray(phases, dtype=float)
        self.offset = float(offset)

    def zero_mean(self, t0: float, t1: float) -> None:
        """Choose the constant offset so that the mean over [t0, t1] is zero (exactly:
        the integral of each sinusoid is analytic)."""
        w = np.where(self.w == 0, 1.0, self.w)
        integ = np.sum(self.a / w * (np.cos(w * t0 + self.p) - np.cos(w * t1 + self.p)))
        self.offset = -float(integ) / (t1 - t0)

    @classmethod
    def random(cls, rng: np.random.Generator, rms: float, f_lo: float, f_hi: float,
               n: int = 4) -> "Oscillation":
        """``n`` components with log-uniform frequencies in [f_lo, f_hi] and 1/f-ish amplitudes,
        scaled to the requested rms."""
        f = np.exp(rng.uniform(np.log(f_lo), np.log(f_hi), n))
        a = rng.uniform(0.5, 1.0, n) / np.sqrt(f / f_lo)
        a *= rms / np.sqrt(0.5 * np.sum(a ** 2))
        return cls(a, f, rng.uniform(0, 2 * np.pi, n))

    @classmethod
    def band(cls, rng: np.random.Generator, rms: float, f_lo: float, f_hi: float,
             n: int = 6, slope: float = 1.0) -> "Oscillation":
        """``n`` components, one log-uniform frequency in each of ``n`` equal log-width
        sub-bands of [f_lo, f_hi] (stratified, so every seed covers the band), amplitudes
        ~ f^-slope times a random factor 0.7-1, scaled to the requested rms."""
        edges = np.exp(np.linspace(np.log(f_lo), np.log(f_hi), n + 1))
        f = np.exp(rng.uniform(np.log(edges[:-1]), np.log(edges[1:])))
        a = rng.uniform(0.7, 1.0, n) * (f / f_lo) ** -slope
        a *= rms / np.sqrt(0.5 * np.sum(a ** 2))
        return cls(a, f, rng.uniform(0, 2 * np.pi, n))

    @classmethod
    def zero(cls) -> "Oscillation":
        return cls([], [], [])

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, self.offset)
        for a, w, p in zip(self.a, self.w, self.p):
            out += a * np.sin(w * t + p)
        return out


class Moves:
    """Additive min-jerk transitions: sum_k d_k s((t - t_k) / T_k) + offset, where s is the
    :func:`minjerk` profile held at 1 after the move, so the signal is C2, 0 before the first
    move (plus ``offset``) and keeps the sum of the deltas after the last. Moves must not
    overlap (that keeps evaluation O(log K) per instant: one move active at a time); a
    there-and-back excursion is two moves (:meth:`bump`)."""

    def __init__(self):
        self.t0: list[float] = []
        self.dur: list[float] = []
        self.d: list[float] = []
        self.offset = 0.0
        self._arr = None

    def __len__(self) -> int:
        return len(self.t0)

    @property
    def end(self) -> float:
        return self.t0[-1] + self.dur[-1] if self.t0 else -np.inf

    def add(self, t0: float, dur: float, delta: float) -> None:
        if dur <= 0:
            raise ValueError("move must have a positive duration")
        if t0 < self.end - 1e-9:
            raise ValueError(f"move at {t0:.3f} s overlaps the previous one (ends "
                             f"{self.end:.3f} s)")
        self.t0.append(float(t0))
        self.dur.append(float(dur))
        self.d.append(float(delta))
        self._arr = None

    def bump(self, t0: float, up: float, hold: float, down: float, amp: float) -> float:
        """Go to ``amp`` over ``up`` s, hold, come back over ``down`` s; returns the end."""
        self.add(t0, up, amp)
        self.add(t0 + up + hold, down, -amp)
        return t0 + up + hold + down

    def _arrays(self):
        if self._arr is None:
            d = np.asarray(self.d, dtype=float)
            self._arr = (np.asarray(self.t0, dtype=float), np.asarray(self.dur, dtype=float),
                         d, np.concatenate([[0.0], np.cumsum(d)]))
        return self._arr

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if not self.t0:
            return np.full(t.shape, self.offset)
        t0, dur, d, cum = self._arrays()
        i = np.searchsorted(t0, t, side="right") - 1
        k = np.clip(i, 0, None)
        tau = np.clip((t - t0[k]) / dur[k], 0.0, 1.0)
        val = cum[k] + d[k] * minjerk(tau)
        return self.offset + np.where(i >= 0, val, 0.0)

    def integral(self, a: float, b: float) -> float:
        """Integral of the signal without ``offset`` over [a, b] (analytic)."""
        if not self.t0:
            return 0.0
        t0, dur, d, _ = self._arrays()

        def prim(x):   # integral of s((t - t0) / T) from -inf to x, per move
            tau = np.clip((x - t0) / dur, 0.0, 1.0)
            return dur * minjerk_integral(tau) + np.clip(x - t0 - dur, 0.0, None)
        return float(np.sum(d * (prim(b) - prim(a))))

    def zero_mean(self, t0: float, t1: float) -> None:
        self.offset = -self.integral(t0, t1) / (t1 - t0)


class Bursts:
    """Non-overlapping bursts of oscillation: a sin(2 pi f (t - t0)) under a C2 envelope
    (min-jerk ramp up over ``ramp`` s, plateau, ramp down), 0 between bursts (plus
    ``offset``)."""

    def __init__(self):
        self.rows: list[tuple] = []     # (t0, t1, ramp, amp, freq_hz)
        self.offset = 0.0
        self._arr = None

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, t0: float, dur: float, amp: float, freq_hz: float, ramp: float) -> float:
        if self.rows and t0 < self.rows[-1][1] - 1e-9:
            raise ValueError(f"burst at {t0:.3f} s overlaps the previous one")
        if dur < 2 * ramp or ramp <= 0:
            raise ValueError("burst shorter than its two ramps")
        self.rows.append((float(t0), float(t0 + dur), float(ramp), float(amp), float(freq_hz)))
        self._arr = None
        return t0 + dur

    def _eval(self, t):
        t = np.asarray(t, dtype=float)
        if not self.rows:
            return np.zeros(t.shape)
        if self._arr is None:
            self._arr = np.asarray(self.rows, dtype=float).T
        t0, t1, ramp, amp, f = self._arr
        i = np.searchsorted(t0, t, side="right") - 1
        k = np.clip(i, 0, None)
        env = (minjerk(np.clip((t - t0[k]) / ramp[k], 0.0, 1.0))
               * minjerk(np.clip((t1[k] - t) / ramp[k], 0.0, 1.0)))
        val = amp[k] * env * np.sin(2.0 * np.pi * f[k] * (t - t0[k]))
        return np.where((i >= 0) & (t < t1[k]), val, 0.0)

    def __call__(self, t) -> np.ndarray:
        return self.offset + self._eval(t)

    def integral(self, a: float, b: float) -> float:
        """Integral over [a, b] without ``offset`` (Gauss-Legendre per overlapped burst)."""
        x, w = np.polynomial.legendre.leggauss(64)
        out = 0.0
        for t0, t1, *_ in self.rows:
            lo, hi = max(a, t0), min(b, t1)
            if hi <= lo:
                continue
            n = int(np.ceil((hi - lo) / 0.25))     # 64 nodes per quarter second: exact-ish
            edges = np.linspace(lo, hi, n + 1)
            for u, v in pairwise(edges):
                out += 0.5 * (v - u) * float(np.sum(w * self._eval(0.5 * (v - u) * x
                                                                    + 0.5 * (u + v))))
        return out

    def zero_mean(self, t0: float, t1: float) -> None:
        self.offset = -self.integral(t0, t1) / (t1 - t0)


class Sum:
    """Sum of signals (each with ``zero_mean``); :meth:`zero_mean` zeroes every part."""

    def __init__(self, *parts, bias: float = 0.0):
        self.parts = list(parts)
        self.bias = float(bias)      # a constant on top (not touched by zero_mean)

    def __call__(self, t) -> np.ndarray:
        out = self.parts[0](t)
        for p in self.parts[1:]:
            out = out + p(t)
        return out + self.bias if self.bias else out

    def zero_mean(self, t0: float, t1: float) -> None:
        for p in self.parts:
            p.zero_mean(t0, t1)
