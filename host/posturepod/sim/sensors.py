"""Sensor side: mountings, error models, pod clocks and chunked sample generation.

Sensor frame -> segment frame is the mounting ``m`` (unit quaternion, w-first); sensor ->
earth is ``q_seg * m``. Specific force ``acc = R_s^T (a_world + g Z)``, angular rate
``gyr = m^-1 * omega_segment``, magnetic field ``mag = R_s^T B_earth``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturepod.motion import quaternion as Q

G = 9.80665
Z = np.array([0.0, 0.0, 1.0])
D2R = np.pi / 180.0
CHUNK = 1 << 14
# int16 full scales used when quantising (typical MEMS settings for body motion)
ACC_FS_M_S2 = 8 * G              # +-8 g
GYR_FS_RAD_S = 1000 * D2R        # +-1000 deg/s
MAG_LSB_UT = 0.15                # AK09916-class magnetometer resolution


def random_mounting(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random sensor -> segment rotation (any orientation, upside down included),
    w-first quaternion with w >= 0."""
    q = rng.normal(size=4)           # a normalised 4-D Gaussian is uniform on SO(3)
    return Q.canonical(q / np.linalg.norm(q))


def earth_field(rng: np.random.Generator) -> np.ndarray:
    """Earth magnetic field in the earth frame (uT): 45-55 uT, inclination 55-70 deg (mid
    northern latitudes), random declination relative to the simulation's x axis."""
    f, inc, dec = rng.uniform(45, 55), rng.uniform(55, 70) * D2R, rng.uniform(-np.pi, np.pi)
    return f * np.array([np.cos(inc) * np.cos(dec), np.cos(inc) * np.sin(dec), -np.sin(inc)])


@dataclass
class SensorErrors:
    gyr_bias: np.ndarray          # (3,) rad/s, constant part
    gyr_warm: np.ndarray          # (3,) rad/s, warm-up change reached with time constant tau
    gyr_warm_tau_s: float
    gyr_wander: np.ndarray        # (3,) rad/s, amplitude of a slow sinusoidal wander
    gyr_wander_hz: np.ndarray     # (3,)
    gyr_wander_phase: np.ndarray  # (3,)
    gyr_noise: float              # rad/s rms per sample
    acc_bias: np.ndarray          # (3,) m/s^2
    acc_gain: np.ndarray          # (3, 3): scale factors and cross-axis terms
    acc_noise: float              # m/s^2 rms
    mag_hard: np.ndarray          # (3,) uT
    mag_soft: np.ndarray          # (3, 3)
    mag_noise: float              # uT rms

    @classmethod
    def random(cls, rng: np.random.Generator) -> "SensorErrors":
        sign = rng.choice([-1.0, 1.0], 3)
        gain = np.diag(1.0 + rng.normal(0, 0.01, 3))
        off = rng.normal(0, 0.003, (3, 3))
        np.fill_diagonal(off, 0.0)
        soft = np.eye(3) + rng.normal(0, 0.02, (3, 3))
        return cls(gyr_bias=sign * rng.uniform(0.5, 2.0, 3) * D2R,
                   gyr_warm=rng.uniform(-0.3, 0.3, 3) * D2R,
                   gyr_warm_tau_s=float(rng.uniform(120, 600)),
                   gyr_wander=rng.uniform(0.02, 0.1, 3) * D2R,
                   gyr_wander_hz=1.0 / rng.uniform(600, 3600, 3),
                   gyr_wander_phase=rng.uniform(0, 2 * np.pi, 3),
                   gyr_noise=0.005, acc_bias=rng.normal(0, 0.05, 3), acc_gain=gain + off,
                   acc_noise=0.02, mag_hard=rng.uniform(-15, 15, 3), mag_soft=soft,
                   mag_noise=0.3)

    @classmethod
    def none(cls) -> "SensorErrors":
        z = np.zeros(3)
        return cls(z, z, 1.0, z, z + 1e-3, z, 0.0, z, np.eye(3), 0.0, z, np.eye(3), 0.0)

    def gyr_bias_at(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)[:, None]
        return (self.gyr_bias + self.gyr_warm * (1.0 - np.exp(-np.clip(t, 0, None)
                                                              / self.gyr_warm_tau_s))
                + self.gyr_wander * np.sin(2 * np.pi * self.gyr_wander_hz * t
                                           + self.gyr_wander_phase)
                - self.gyr_wander * np.sin(self.gyr_wander_phase))

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.__dict__.items()}


@dataclass
class PodClock:
    """The pod samples every 1/rate s of its own clock, which runs (1 + drift) fast and reads
    ``offset_s`` at true time 0. After host-side alignment the written time is the true
    sampling instant plus a residual ``align0_s + align1_s * t / T`` (|.| <= 1 ms) and a
    per-sample timestamp jitter."""
    offset_s: float = 0.0
    drift_ppm: float = 0.0
    phase_s: float = 0.0
    align0_s: float = 0.0
    align1_s: float = 0.0
    sample_jitter_s: float = 0.0
    stamp_jitter_s: float = 0.0

    @classmethod
    def random(cls, rng: np.random.Generator, rate_hz: float) -> "PodClock":
        return cls(offset_s=float(rng.uniform(-3, 3)), drift_ppm=float(rng.uniform(-200, 200)),
                   phase_s=float(rng.uniform(0.2, 1.0) / rate_hz),
                   align0_s=float(rng.uniform(-5e-4, 5e-4)),
                   align1_s=float(rng.uniform(-4e-4, 4e-4)),
                   sample_jitter_s=2e-5, stamp_jitter_s=1e-4)

    def times(self, duration_s: float, rate_hz: float, rng: np.random.Generator):
        """(true sampling instants, written timestamps) over [0, duration_s]."""
        r = rate_hz * (1.0 + self.drift_ppm * 1e-6)
        n = int(np.floor((duration_s - self.phase_s) * r + 1e-9)) + 1
        t = self.phase_s + np.arange(n) / r
        if self.sample_jitter_s:
            t = t + np.clip(rng.normal(0, self.sample_jitter_s, n), -3e-4, 3e-4)
        stamp = t + self.align0_s + self.align1_s * t / max(duration_s, 1e-9)
        if self.stamp_jitter_s:
            stamp = stamp + np.clip(rng.normal(0, self.stamp_jitter_s, n), -1e-3, 1e-3)
        return t, stamp

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def quantise(x: np.ndarray, lsb: float, fs: float | None = None) -> np.ndarray:
    q = np.round(x / lsb) * lsb
    return np.clip(q, -fs, fs - lsb) if fs else q


def pod_samples(body, role: str, mount: np.ndarray, t: np.ndarray, *, errors=None,
                rng: np.random.Generator | None = None, field: np.ndarray | None = None,
                quantize: bool = False, chunk: int = CHUNK):
    """Sensor readings of one pod at true times ``t``: (acc (N,3), gyr (N,3), mag (N,3)|None).
    Generated in chunks (memory stays O(chunk) beyond the outputs)."""
    t = np.asarray(t, dtype=float)
    n = len(t)
    acc = np.empty((n, 3))
    gyr = np.empty((n, 3))
    mag = np.empty((n, 3)) if field is not None else None
    mi = Q.conj(mount)
    for i0 in range(0, n, chunk):
        tc = t[i0:i0 + chunk]
        q, a, w = body.kinematics(role, tc)
        f = Q.rotate(mi, Q.rotate_inv(q, a + G * Z))
        g = Q.rotate(mi, w)
        m = Q.rotate(mi, Q.rotate_inv(q, field)) if field is not None else None
        if errors is not None:
            assert rng is not None, "sensor errors need a random generator"
            k = len(tc)
            f = f @ errors.acc_gain.T + errors.acc_bias + rng.normal(0, errors.acc_noise, (k, 3))
            g = g + errors.gyr_bias_at(tc) + rng.normal(0, errors.gyr_noise, (k, 3))
            if m is not None:
                m = m @ errors.mag_soft.T + errors.mag_hard + rng.normal(0, errors.mag_noise,
                                                                         (k, 3))
        if quantize:
            f = quantise(f, 2 * ACC_FS_M_S2 / 65536, ACC_FS_M_S2)
            g = quantise(g, 2 * GYR_FS_RAD_S / 65536, GYR_FS_RAD_S)
            if m is not None:
                m = quantise(m, MAG_LSB_UT)
        acc[i0:i0 + chunk] = f
        gyr[i0:i0 + chunk] = g
        if mag is not None:
            mag[i0:i0 + chunk] = m
    return acc, gyr, mag


def maker_acc_calibration(errors: SensorErrors, rng: np.random.Generator, *,
                          hold_s: float = 2.0, rate_hz: float = 100.0):
    """The accelerometer calibration a maker makes with ``posturepod calibrate-acc``: the pod
    held still on each of its six faces and on six edges (each placed up to 5 deg off, as
    on a real table), each hold averaged, then fitted
    (:func:`posturepod.recordings.acc_calibration.fit`). What is left is the fit's residual:
    noise, and the antisymmetric (rotation) part of the cross-axis error, which a symmetric
    gain cannot hold."""
    from posturepod.recordings.acc_calibration import fit
    ups = [np.eye(3)[k] * s for k in range(3) for s in (1.0, -1.0)]
    ups += [np.array(v, float) / np.sqrt(2) for v in
            ((1, 1, 0), (-1, 0, 1), (0, -1, -1), (1, 0, -1), (0, 1, 1), (-1, -1, 0))]
    n = int(hold_s * rate_hz)
    means = []
    for up in ups:
        tilt = Q.exp(rng.normal(0.0, np.deg2rad(2.5), 3))
        f = Q.rotate(tilt, up * G)                # specific force in the sensor frame
        f = errors.acc_gain @ f + errors.acc_bias
        means.append(f + rng.normal(0.0, errors.acc_noise / np.sqrt(n), 3))
    return fit(np.array(means))
