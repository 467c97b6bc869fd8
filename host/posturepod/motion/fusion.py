"""Orientation fusion: one small interface over VQF and the ``ahrs`` filters.

Every quaternion this module returns is **w-first (w, x, y, z), rotating sensor-frame
vectors into the earth frame, earth z up** (ENU when a magnetometer is fused; otherwise
the heading is arbitrary but z is still up). ``v_earth = q * v_sensor * conj(q)``. The
quaternion maths is :mod:`posturepod.motion.quaternion`.

Two entry points share one :class:`FusionSettings`:

- :func:`fuse` (batch, arrays in, ``(N, 4)`` quaternions out), causal or not;
- :class:`LiveFusion` (one sample at a time, causal) for live streams.

Filters (``FusionSettings.filter``):

- ``"vqf"``: VQF (Laidig & Seel 2023). Causal: ``vqf.VQF``; non-causal: ``vqf.offlineVQF``.
  Estimates gyro bias at rest and in motion, low-passes the accelerometer in an
  almost-inertial frame (tolerant of linear acceleration). The defaults use it.
- ``"madgwick"``, ``"mahony"``, ``"ekf"``: the ``ahrs`` 0.4 filters, wrapped so they follow
  the same conventions. Their quirks and what this wrapper does about them:

  * frames differ by filter: Madgwick MARG works in an x-north/z-up frame (rotated here to
    ENU), Mahony in ENU, EKF expects the *gravity* vector (the negated accelerometer) in the
    frame it is given: we run it with ``frame="ENU"`` and feed ``-acc``;
  * EKF's default magnetic reference is Munich's WMM field in NED whatever the frame: we
    pass an ENU reference with the dip measured at the first sample; EKF decides 6D/9D from
    the data given at construction, so we set that explicitly;
  * Madgwick picks ``gain_imu`` (0.033) or ``gain_marg`` (0.041) depending on whether
    ``mag`` is given at construction: we always pass ``gain`` explicitly;
  * Madgwick and Mahony skip the whole update (accelerometer correction included) when the
    gyro sample is exactly zero: we nudge exact zeros by 1e-12 rad/s;
  * EKF returns the prior unchanged (no gyro prediction) for a zero accelerometer
    sample: to reject an accelerometer sample we inflate its variance instead;
  * initial orientations come from ``ecompass(..., frame="NED")`` for MARG: we compute our
    own ENU initial orientation.

  The wrapper adds what they lack: gyro bias from rest periods (subtracted before the
  filter sees the gyro) and accelerometer gating (samples whose norm differs from g by
  more than ``acc_gate_m_s2`` do not correct the inclination). Non-causal runs go forward
  and backward in time and average the two inclinations.

Defaults were chosen by measurement on BROAD (bench/fusion_broad.py): mean inclination
RMSE over the 11 trials in /work/shared/data/broad, 6D:
``RECORDED_DEFAULT`` (offlineVQF, tauAcc 4 s, biasSigmaMotion 0.03, biasForgettingTime 60 s)
0.46 deg
against 0.47 for offlineVQF's defaults; ``LIVE_DEFAULT`` (causal VQF, same parameters)
0.58 deg against 0.60. (tauAcc 4 rather than 3 for offline data also lowered the worst
angle RMSE on posturepod.sim.simulate flexion recordings, 1.02 -> 0.96 deg.)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from posturepod.motion import quaternion as Q

__all__ = ["FILTERS", "FusionSettings", "RECORDED_DEFAULT", "LIVE_DEFAULT", "TUNED",
           "FusionError", "fuse", "fuse_detail", "FusionResult", "LiveFusion",
           "rest_mask", "rest_gyro_bias", "inclination_error_deg", "ideal_imu",
           "settings_for"]

FILTERS = ("vqf", "madgwick", "mahony", "ekf")
G_M_S2 = 9.81


class FusionError(ValueError):
    """Bad fusion input or settings."""


@dataclass(frozen=True)
class FusionSettings:
    """One settings object for every filter. Units are in the names.

    filter: "vqf", "madgwick", "mahony" or "ekf".
    causal: True = only past samples shape each estimate (live); False = the whole
        recording may be used (offlineVQF; forward-backward for the ahrs filters).
    rate_hz: sampling rate; None = from the time stamps (median interval).
    use_mag: fuse the magnetometer (9D, ENU heading) when mag data are given.
    tau_acc_s: VQF accelerometer low-pass time constant (VQF default 3 s).
    vqf_params: further VQF parameters by their VQF names, e.g. {"restThGyr": 2.0}.
    gain: Madgwick beta (ahrs gain_imu default 0.033).
    k_p, k_i: Mahony gains (ahrs defaults 1.0 and 0.3).
    var_gyr, var_acc, var_mag: EKF noise variances (ahrs defaults 0.09, 0.25, 0.64).
    rest_bias: ahrs filters only: subtract a gyro bias estimated over rest periods.
    acc_gate_m_s2: ahrs filters only: skip the accelerometer correction when
        | |acc| - g | exceeds this (None = never skip).
    gyr_bias_rad_s: a known gyro bias (e.g. from the calibration stand), subtracted
        before anything else.
    """
    filter: str = "vqf"
    causal: bool = False
    rate_hz: float | None = None
    use_mag: bool = False
    tau_acc_s: float = 3.0
    vqf_params: dict = field(default_factory=lambda: {"biasSigmaMotion": 0.03,
                                                      "biasForgettingTime": 60.0})
    gain: float = 0.033
    k_p: float = 1.0
    k_i: float = 0.3
    var_gyr: float = 0.3 ** 2
    var_acc: float = 0.5 ** 2
    var_mag: float = 0.8 ** 2
    rest_bias: bool = True
    acc_gate_m_s2: float | None = None
    gyr_bias_rad_s: tuple[float, float, float] | None = None

    def __post_init__(self):
        if self.filter not in FILTERS:
            raise FusionError(f"unknown filter {self.filter!r}; choose from {', '.join(FILTERS)}")

    def __hash__(self):  # dict field: hash by repr so settings can key caches
        return hash(repr(self))


#: default for recorded data (non-causal): offlineVQF with tuned bias parameters and tauAcc
RECORDED_DEFAULT = FusionSettings(filter="vqf", causal=False, tau_acc_s=4.0)
#: default for live streams (causal): VQF with the same parameters
LIVE_DEFAULT = FusionSettings(filter="vqf", causal=True)

#: best settings found for each ahrs filter by the grid search in bench/fusion_broad.py
#: (6D, BROAD 11 trials at 71 Hz, causal, mean inclination RMSE): Madgwick gain 0.02
#: 1.30 deg (0.01: 1.59, 0.033: 1.35, 0.05: 1.58), Mahony kP 0.1 kI 0 1.41 (kP 0.2: 1.46,
#: 0.4: 1.84), EKF var_acc 8 1.53. Accelerometer gating (acc_gate_m_s2=3) made every
#: filter worse, so it is off by default.
TUNED = {
    "madgwick": dict(gain=0.02),
    "mahony": dict(k_p=0.1, k_i=0.0),
    "ekf": dict(var_acc=8.0),
}


def settings_for(name: str, causal: bool = False, **over) -> FusionSettings:
    """Settings for filter ``name`` at its tuned values (VQF: the defaults)."""
    base = LIVE_DEFAULT if causal else RECORDED_DEFAULT
    return replace(base, filter=name, causal=causal, **{**TUNED.get(name, {}), **over})


@dataclass
class FusionResult:
    """quat: (N, 4) w-first, sensor to earth, earth z up. gyr_bias_rad_s: (N, 3) bias the
    filter used/estimated. rest: (N,) bool, rest detected. acc_rejected: (N,) bool, samples
    whose accelerometer did not correct the estimate (ahrs filters)."""
    quat: np.ndarray
    gyr_bias_rad_s: np.ndarray
    rest: np.ndarray
    acc_rejected: np.ndarray


# ---------------------------------------------------------------- orientations, ideal IMU

def quat_from_acc(acc: np.ndarray) -> np.ndarray:
    """Orientation (w-first, sensor to earth, z up) whose earth z is the measured up
    direction ``acc``, with the least rotation (heading arbitrary)."""
    a = np.asarray(acc, float)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    return Q.from_two_vectors(a, np.broadcast_to([0.0, 0.0, 1.0], a.shape))


def quat_from_acc_mag(acc: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """ENU orientation (w-first, sensor to earth, z up, y magnetic north) from one
    accelerometer and one magnetometer sample."""
    up = np.asarray(acc, float) / np.linalg.norm(acc)
    east = np.cross(mag, up)
    east /= np.linalg.norm(east)
    north = np.cross(up, east)
    r = np.vstack([east, north, up])          # rows: earth axes in sensor coordinates
    return Q.from_matrix(r)


def ideal_imu(time_s, quat, acc_lin_earth_m_s2=None, g_m_s2: float = G_M_S2):
    """Noise-free IMU readings for an orientation trajectory ``quat`` (N, 4: w-first,
    sensor to earth, earth z up): gyro (N, 3) rad/s and accelerometer (N, 3) m/s^2, sensor
    frame. Gyro sample k is the constant rate that turns q[k-1] into q[k] (sample 0 copies
    sample 1). ``acc_lin_earth_m_s2``: optional (N, 3) linear acceleration, earth frame."""
    t = np.asarray(time_s, float)
    q = np.asarray(quat, float)
    gyr = np.empty((len(t), 3))
    gyr[1:] = Q.log(Q.mul(Q.conj(q[:-1]), q[1:]), dt=np.diff(t))
    gyr[0] = gyr[1] if len(t) > 1 else 0.0
    f = np.zeros((len(t), 3))
    f[:, 2] = g_m_s2
    if acc_lin_earth_m_s2 is not None:
        f = f + np.asarray(acc_lin_earth_m_s2, float)
    return gyr, Q.rotate_inv(q, f)


def inclination_error_deg(q_est: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """BROAD inclination error per sample, degrees: heading-free angle of
    ``q_est * conj(q_ref)`` (both w-first, sensor to earth, z up)."""
    e = Q.normalize(Q.mul(q_est, Q.conj(q_ref)))
    c = np.sqrt(e[..., 0] ** 2 + e[..., 3] ** 2)
    return np.degrees(2.0 * np.arccos(np.clip(c, 0.0, 1.0)))


# ---------------------------------------------------------------- rest and bias

def _moving(x: np.ndarray, n: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Moving mean and variance of (N, 3) x over n samples (trailing or centred)."""
    c1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
    N = len(x)
    i = np.arange(N)
    hi = i + 1 if causal else np.minimum(i + n // 2 + 1, N)
    lo = np.maximum(hi - n, 0)
    cnt = (hi - lo)[:, None]
    m = (c1[hi] - c1[lo]) / cnt
    v = np.maximum((c2[hi] - c2[lo]) / cnt - m * m, 0.0)
    return m, v


def rest_mask(gyr_rad_s, acc_m_s2, rate_hz, *, window_s=1.5, th_gyr_dps=1.0,
              th_acc_m_s2=0.3, max_gyr_dps=10.0, causal=False):
    """Rest samples: over a ``window_s`` window the gyro's spread (norm of per-axis std) is
    under ``th_gyr_dps``, its mean under ``max_gyr_dps`` (a bias, not a motion) and the
    accelerometer's spread under ``th_acc_m_s2``. Returns (rest (N,) bool, gyro window mean
    (N, 3))."""
    n = max(int(round(window_s * rate_hz)), 2)
    mg, vg = _moving(np.asarray(gyr_rad_s, float), n, causal)
    _, va = _moving(np.asarray(acc_m_s2, float), n, causal)
    rest = ((np.sqrt(vg.sum(1)) < np.radians(th_gyr_dps))
            & (np.linalg.norm(mg, axis=1) < np.radians(max_gyr_dps))
            & (np.sqrt(va.sum(1)) < th_acc_m_s2))
    if causal:
        rest[:n - 1] = False
    return rest, mg


def rest_gyro_bias(time_s, gyr_rad_s, acc_m_s2, rate_hz, *, causal=False, initial=None):
    """Gyro bias (N, 3), rad/s, from rest periods. Non-causal: interpolated in time between
    rest samples (held at the ends). Causal: the last rest estimate, ``initial`` (or zero)
    before the first rest. Also returns the rest mask."""
    rest, mg = rest_mask(gyr_rad_s, acc_m_s2, rate_hz, causal=causal)
    N = len(time_s)
    init = np.zeros(3) if initial is None else np.asarray(initial, float)
    if not rest.any():
        return np.tile(init, (N, 1)), rest
    if causal:
        idx = np.where(rest, np.arange(N), -1)
        idx = np.maximum.accumulate(idx)
        bias = np.where((idx >= 0)[:, None], mg[np.maximum(idx, 0)], init)
        return bias, rest
    # one estimate per rest period (its mean gyro), interpolated between period centres
    edges = np.flatnonzero(np.diff(np.r_[0, rest.astype(np.int8), 0]))
    starts, ends = edges[::2], edges[1::2]
    g = np.asarray(gyr_rad_s, float)
    t = np.asarray(time_s, float)
    tc = np.array([t[s:e].mean() for s, e in zip(starts, ends)])
    bc = np.array([g[s:e].mean(0) for s, e in zip(starts, ends)])
    bias = np.column_stack([np.interp(t, tc, bc[:, k]) for k in range(3)])
    return bias, rest


# ---------------------------------------------------------------- batch entry point

def _rate(time_s: np.ndarray, settings: FusionSettings) -> float:
    if settings.rate_hz:
        return float(settings.rate_hz)
    if len(time_s) < 2:
        raise FusionError("need at least two samples (or FusionSettings.rate_hz)")
    dt = float(np.median(np.diff(time_s)))
    if not dt > 0:
        raise FusionError("time stamps do not increase")
    return 1.0 / dt


def _vqf_params(s: FusionSettings) -> dict:
    p = {"tauAcc": float(s.tau_acc_s)}
    p.update(s.vqf_params or {})
    return p


def fuse(time_s, gyr_rad_s, acc_m_s2, mag_ut=None,
         settings: FusionSettings = RECORDED_DEFAULT) -> np.ndarray:
    """Batch orientation estimate.

    time_s (N,), gyr_rad_s (N, 3), acc_m_s2 (N, 3), mag_ut (N, 3) or None, sensor frame.
    Returns quaternions (N, 4), **w-first, sensor to earth, earth z up** (ENU heading when
    ``settings.use_mag`` and mag are given; arbitrary heading otherwise).
    """
    return fuse_detail(time_s, gyr_rad_s, acc_m_s2, mag_ut, settings).quat


def fuse_detail(time_s, gyr_rad_s, acc_m_s2, mag_ut=None,
                settings: FusionSettings = RECORDED_DEFAULT) -> FusionResult:
    """As :func:`fuse`, with the status flags: a :class:`FusionResult` whose ``quat`` is
    (N, 4) w-first, sensor to earth, earth z up."""
    t = np.asarray(time_s, float)
    g = np.ascontiguousarray(gyr_rad_s, dtype=float)
    a = np.ascontiguousarray(acc_m_s2, dtype=float)
    m = None
    if mag_ut is not None and settings.use_mag:
        m = np.ascontiguousarray(mag_ut, dtype=float)
    if g.shape != a.shape or g.ndim != 2 or g.shape[1] != 3 or len(t) != len(g):
        raise FusionError(f"shapes disagree: time {t.shape}, gyr {g.shape}, acc {a.shape}")
    if m is not None and m.shape != g.shape:
        raise FusionError(f"mag shape {m.shape} differs from gyr {g.shape}")
    if len(t) == 0:
        z = np.zeros((0, 3))
        return FusionResult(np.zeros((0, 4)), z, np.zeros(0, bool), np.zeros(0, bool))
    if settings.gyr_bias_rad_s is not None:
        g = g - np.asarray(settings.gyr_bias_rad_s, float)
    rate = _rate(t, settings)
    if settings.filter == "vqf":
        return _fuse_vqf(g, a, m, rate, settings)
    return _fuse_ahrs(t, g, a, m, rate, settings)


def _fuse_vqf(g, a, m, rate, s: FusionSettings) -> FusionResult:
    from vqf import VQF, offlineVQF
    params = _vqf_params(s)
    if s.causal:
        out = VQF(1.0 / rate, **params).updateBatch(g, a, m)
    else:
        out = offlineVQF(g, a, m, 1.0 / rate, params)
    q = out["quat9D"] if m is not None else out["quat6D"]
    n = len(q)
    bias = out["bias"] + (np.asarray(s.gyr_bias_rad_s) if s.gyr_bias_rad_s is not None else 0)
    return FusionResult(np.asarray(q), np.asarray(bias),
                        np.asarray(out["restDetected"], bool), np.zeros(n, bool))


class _AhrsStep:
    """One ahrs filter behind a uniform ``step(q, gyr, acc, mag, dt, use_acc)`` in our
    conventions (ENU / z up, accelerometer = specific force pointing up at rest)."""

    def __init__(self, s: FusionSettings, rate: float, mag_dip_sin: float = 0.0,
                 marg: bool = False):
        self.name = s.filter
        self.marg = marg
        if s.filter == "madgwick":
            from ahrs.filters import Madgwick
            self.f = Madgwick(frequency=rate, gain=s.gain)
        elif s.filter == "mahony":
            from ahrs.filters import Mahony
            self.f = Mahony(frequency=rate, k_P=1.0, k_I=1.0)   # it refuses k_I = 0
            self.f.k_P, self.f.k_I = float(s.k_p), float(s.k_i)
        else:
            from ahrs.filters import EKF
            mref = np.array([0.0, np.sqrt(max(1.0 - mag_dip_sin ** 2, 0.0)), mag_dip_sin])
            self.f = EKF(frequency=rate, frame="ENU", magnetic_ref=mref,
                         noises=[s.var_gyr, s.var_acc, s.var_mag])
            self.f.mag = np.zeros((1, 3)) if marg else None   # EKF's 6D/9D switch
            self.var_acc = s.var_acc
        self.zero = np.zeros(3)

    def step(self, q, gyr, acc, mag, dt, use_acc):
        if gyr[0] == 0.0 and gyr[1] == 0.0 and gyr[2] == 0.0:
            gyr = np.array([1e-12, 0.0, 0.0])    # ahrs skips the update on exact zero
        f = self.f
        if self.name == "madgwick":
            if not use_acc:
                acc = self.zero
            if self.marg:
                qn = Q.mul(_QZ_M90, q)           # ENU -> Madgwick's x-north frame
                qn = f.updateMARG(qn, gyr, acc, mag, dt=dt)
                return Q.mul(_QZ_P90, qn)
            return f.updateIMU(q, gyr, acc, dt=dt)
        if self.name == "mahony":
            if not use_acc:
                acc = self.zero
            if self.marg:
                return f.updateMARG(q, gyr, acc, mag, dt=dt)
            return f.updateIMU(q, gyr, acc, dt=dt)
        f.noises[1] = self.var_acc if use_acc else 1e9
        return f.update(q, gyr, -acc, mag if self.marg else None, dt=dt)


_S = np.sqrt(0.5)
_QZ_P90 = np.array([_S, 0.0, 0.0, _S])
_QZ_M90 = np.array([_S, 0.0, 0.0, -_S])


def _ahrs_pass(t, g, a, m, rate, s, rest_bias_arr, q0=None):
    marg = m is not None
    dip = 0.0
    if marg:
        up = a[0] / np.linalg.norm(a[0])
        dip = float(np.dot(m[0], up) / np.linalg.norm(m[0]))
    step = _AhrsStep(s, rate, dip, marg)
    n = len(t)
    gc = g - rest_bias_arr
    dts = np.abs(np.diff(t, prepend=t[0] - 1.0 / rate))
    dts[dts <= 0] = 1.0 / rate
    if s.acc_gate_m_s2 is None:
        use = np.ones(n, bool)
    else:
        use = np.abs(np.linalg.norm(a, axis=1) - G_M_S2) <= s.acc_gate_m_s2
    qs = np.empty((n, 4))
    if q0 is None:
        q0 = quat_from_acc_mag(a[0], m[0]) if marg else quat_from_acc(a[0])
    q = np.asarray(q0, float)
    qs[0] = q
    for i in range(1, n):
        q = step.step(q, gc[i], a[i], m[i] if marg else None, dts[i], use[i])
        qs[i] = q
    return qs, ~use


def _fuse_ahrs(t, g, a, m, rate, s: FusionSettings) -> FusionResult:
    n = len(t)
    init = None
    if s.rest_bias:
        bias, rest = rest_gyro_bias(t, g, a, rate, causal=s.causal, initial=init)
    else:
        bias, rest = np.zeros((n, 3)), np.zeros(n, bool)
    Qf, rej = _ahrs_pass(t, g, a, m, rate, s, bias)
    if not s.causal and n > 1:
        # backward pass: time reversed, so the gyro turns the other way; gyro sample k
        # covers (t[k-1], t[k]], so stepping back into sample k uses gyro sample k + 1
        r = slice(None, None, -1)
        gn = np.concatenate([g[1:], g[-1:]])
        bn = np.concatenate([bias[1:], bias[-1:]])
        Qb, _ = _ahrs_pass(t[-1] + t[0] - t[r], -gn[r], a[r],
                           None if m is None else m[r], rate, s, -bn[r])
        Qb = Qb[r]
        Qf = _average_inclination(Qf, Qb)
    bias_out = bias + (np.asarray(s.gyr_bias_rad_s) if s.gyr_bias_rad_s is not None else 0)
    return FusionResult(Qf, bias_out, rest, rej)


def _average_inclination(qf: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Keep qf's heading, use the mean of qf's and qb's up directions (heading-free, so it
    also works when the two 6D passes disagree in heading)."""
    ez = np.array([0.0, 0.0, 1.0])
    uf = Q.rotate_inv(qf, ez)
    ub = Q.rotate_inv(qb, ez)
    um = uf + ub
    um /= np.linalg.norm(um, axis=1, keepdims=True)
    c = Q.from_two_vectors(um, uf)      # sensor-frame rotation taking um to uf
    return Q.normalize(Q.mul(qf, c))


# ---------------------------------------------------------------- live (per sample)

class LiveFusion:
    """Causal, one sample at a time. ``update(gyr, acc, dt[, mag])`` returns the current
    orientation: w-first quaternion (4,), sensor to earth, earth z up.

    VQF runs at the fixed ``rate_hz`` given (or ``settings.rate_hz``); a sample whose ``dt``
    differs has its gyro scaled by dt * rate so the integrated angle stays right. The
    ahrs filters take ``dt`` directly and track the gyro bias over trailing rest windows.
    Status flags after each update: ``rest``, ``acc_rejected``, ``gyr_bias_rad_s``.
    """

    def __init__(self, settings: FusionSettings = LIVE_DEFAULT, rate_hz: float | None = None):
        self.settings = settings
        rate = rate_hz or settings.rate_hz
        if not rate:
            raise FusionError("LiveFusion needs rate_hz (argument or FusionSettings.rate_hz)")
        self.rate_hz = float(rate)
        self.rest = False
        self.acc_rejected = False
        b0 = np.zeros(3) if settings.gyr_bias_rad_s is None else np.asarray(
            settings.gyr_bias_rad_s, float)
        self._b0 = b0
        self.gyr_bias_rad_s = b0.copy()
        self._q = None
        if settings.filter == "vqf":
            from vqf import VQF
            self._vqf = VQF(1.0 / self.rate_hz, **_vqf_params(settings))
        else:
            self._vqf = None
            self._step = None
            nwin = max(int(round(1.5 * self.rate_hz)), 2)
            self._buf_g = np.zeros((nwin, 3))
            self._buf_a = np.zeros((nwin, 3))
            self._nbuf = 0
            self._ibuf = 0

    def update(self, gyr, acc, dt: float | None = None, mag=None) -> np.ndarray:
        """Feed one sample (sensor frame, rad/s, m/s^2, uT); returns the orientation,
        w-first, sensor to earth, earth z up."""
        s = self.settings
        g = np.asarray(gyr, float) - self._b0
        a = np.asarray(acc, float)
        m = np.asarray(mag, float) if (mag is not None and s.use_mag) else None
        dt = 1.0 / self.rate_hz if dt is None else float(dt)
        if self._vqf is not None:
            scale = dt * self.rate_hz
            if abs(scale - 1.0) > 1e-3:
                g = g * scale
            if m is not None:
                self._vqf.update(g, a, m)
                q = self._vqf.getQuat9D()
            else:
                self._vqf.update(g, a)
                q = self._vqf.getQuat6D()
            self.rest = bool(self._vqf.getRestDetected())
            self.gyr_bias_rad_s = self._b0 + self._vqf.getBiasEstimate()[0]
            self._q = np.asarray(q, float)
            return self._q.copy()
        self._track_rest(g, a)
        if self._q is None:
            self._step = _AhrsStep(s, self.rate_hz,
                                   0.0 if m is None else float(
                                       np.dot(m, a) / np.linalg.norm(a) / np.linalg.norm(m)),
                                   m is not None)
            self._q = quat_from_acc_mag(a, m) if m is not None else quat_from_acc(a)
            return self._q.copy()
        use = s.acc_gate_m_s2 is None or abs(np.linalg.norm(a) - G_M_S2) <= s.acc_gate_m_s2
        self.acc_rejected = not use
        gb = g - (self.gyr_bias_rad_s - self._b0)
        self._q = np.asarray(self._step.step(self._q, gb, a, m, dt, use), float)
        return self._q.copy()

    def update_batch(self, gyr, acc, mag=None) -> np.ndarray:
        """Feed many samples at the fixed rate; returns (N, 4) quaternions, w-first, sensor
        to earth, earth z up. For VQF this runs in compiled code."""
        g = np.ascontiguousarray(gyr, dtype=float) - self._b0
        a = np.ascontiguousarray(acc, dtype=float)
        m = None if (mag is None or not self.settings.use_mag) else np.ascontiguousarray(
            mag, dtype=float)
        if self._vqf is not None:
            out = self._vqf.updateBatch(np.ascontiguousarray(g), a, m)
            self.rest = bool(self._vqf.getRestDetected())
            self.gyr_bias_rad_s = self._b0 + self._vqf.getBiasEstimate()[0]
            q = out["quat9D"] if m is not None else out["quat6D"]
            self._q = np.asarray(q[-1], float) if len(q) else self._q
            return np.asarray(q)
        g = g + self._b0
        return np.array([self.update(g[i], a[i], None, None if m is None else m[i])
                         for i in range(len(g))]).reshape(-1, 4)

    def _track_rest(self, g, a):
        n = len(self._buf_g)
        self._buf_g[self._ibuf] = g
        self._buf_a[self._ibuf] = a
        self._ibuf = (self._ibuf + 1) % n
        self._nbuf = min(self._nbuf + 1, n)
        self.rest = False
        if not self.settings.rest_bias or self._nbuf < n:
            return
        sg = np.sqrt(self._buf_g.var(0).sum())
        mg = self._buf_g.mean(0)
        sa = np.sqrt(self._buf_a.var(0).sum())
        if sg < np.radians(1.0) and np.linalg.norm(mg) < np.radians(10.0) and sa < 0.3:
            self.rest = True
            self.gyr_bias_rad_s = self._b0 + mg
