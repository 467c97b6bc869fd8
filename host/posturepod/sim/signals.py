"""Smooth driving signals that can be evaluated at any instants (no internal time grid).

A :class:`Channel` is a keyframe signal: constant between moves, and each move a quintic
minimum-jerk blend (Flash & Hogan 1985), so position, velocity and acceleration are all
continuous (C2). That is what lets the sensor model differentiate positions twice without
spikes, and what lets a long day be generated chunk by chunk at arbitrary sampling instants.
:class:`Oscillation` is a sum of sinusoids (postural sway, breathing), also C-infinity.
"""
from __future__ import annotations

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
    def zero(cls) -> "Oscillation":
        return cls([], [], [])

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, self.offset)
        for a, w, p in zip(self.a, self.w, self.p):
            out += a * np.sin(w * t + p)
        return out
