"""Motion traces for virtual boards (format in firmware/vboard/motion.py): what each pod's
IMU feels on the true clock, in sensor axes, as int32 in 1e-5 m/s^2, urad/s and nT."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = b"PPTRACE1"
ACC_UNIT = 1e5
GYR_UNIT = 1e6
MAG_UNIT = 1e3
G = 9.80665


def write_trace(path: str | Path, rate_hz: int, pods: dict[str, dict]) -> Path:
    """pods: role -> {"acc_m_s2": (N,3), "gyr_rad_s": (N,3), "mag_ut": (N,3) or None}, all
    on one regular true-time grid at rate_hz starting at trace time 0."""
    path = Path(path)
    roles = list(pods)
    n = min(len(p["acc_m_s2"]) for p in pods.values())
    cols = []
    for r in roles:
        p = pods[r]
        mag = p.get("mag_ut")
        if mag is None:
            mag = np.zeros((n, 3))
        cols += [np.round(np.asarray(p["acc_m_s2"][:n]) * ACC_UNIT),
                 np.round(np.asarray(p["gyr_rad_s"][:n]) * GYR_UNIT),
                 np.round(np.asarray(mag[:n]) * MAG_UNIT)]
    data = np.clip(np.hstack(cols), -2**31, 2**31 - 1).astype("<i4")
    with path.open("wb") as f:
        f.write(MAGIC + struct.pack("<IHH", int(rate_hz), len(roles), 9))
        for r in roles:
            f.write(r.encode()[:8].ljust(8, b"\x00"))
        f.write(data.tobytes())
    return path


def _header(f) -> tuple[int, list[str], int]:
    """(rate Hz, roles, channels per pod) from the start of an open trace file, which is
    left at the first sample; ValueError when it is not a trace."""
    head = f.read(16)
    if len(head) < 16 or head[:8] != MAGIC:
        raise ValueError("not a posturepod trace")
    rate, n_pods, n_ch = struct.unpack_from("<IHH", head, 8)
    roles = [f.read(8).rstrip(b"\x00").decode(errors="replace") for _ in range(n_pods)]
    return rate, roles, n_ch


def read_trace(path: str | Path) -> tuple[int, dict[str, dict]]:
    with Path(path).open("rb") as f:
        try:
            rate, roles, n_ch = _header(f)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        d = np.frombuffer(f.read(), dtype="<i4").reshape(-1, len(roles) * n_ch)
    out = {}
    for i, r in enumerate(roles):
        c = d[:, i * n_ch:(i + 1) * n_ch].astype(np.float64)
        out[r] = {"acc_m_s2": c[:, 0:3] / ACC_UNIT, "gyr_rad_s": c[:, 3:6] / GYR_UNIT,
                  "mag_ut": c[:, 6:9] / MAG_UNIT}
    return rate, out


def turn_trace(rate_hz: int, seconds: float, t_turn: float, turn_s: float = 1.0,
               deg: float = 90.0, axis: int = 0, noise_dps: float = 0.0, seed: int = 0):
    """A pod lying flat (gravity on +z), then turned smoothly by ``deg`` about sensor axis
    ``axis`` (0 = x, 1 = y) between ``t_turn`` and ``t_turn + turn_s``, then held: what the
    self-test asks a person to do. Returns (time_s, acc_m_s2, gyr_rad_s)."""
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    x = np.clip((t - t_turn) / turn_s, 0, 1)
    th = np.radians(deg) * (1 - np.cos(np.pi * x)) / 2
    dth = np.where((x > 0) & (x < 1), np.radians(deg) * np.pi / 2 / turn_s
                   * np.sin(np.pi * x), 0.0)
    acc = np.zeros((n, 3))
    gyr = np.zeros((n, 3))
    if axis == 0:          # f = Rx(th)^T g: (0, g sin, g cos), w = (th', 0, 0)
        acc[:, 1], acc[:, 2] = G * np.sin(th), G * np.cos(th)
    else:                  # f = Ry(th)^T g: (-g sin, 0, g cos), w = (0, th', 0)
        acc[:, 0], acc[:, 2] = -G * np.sin(th), G * np.cos(th)
    gyr[:, axis] = dth
    if noise_dps:
        gyr += np.random.default_rng(seed).normal(scale=np.radians(noise_dps), size=gyr.shape)
    return t, acc, gyr


def check_trace(path: str | Path, role: str) -> str | None:
    """Why a file cannot drive the ``role`` pod of a virtual board (None when it can): it
    is missing, not a trace (posturepod simulate --trace writes one), or lacks the role."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            rate, roles, n_ch = _header(f)
    except OSError as e:
        return f"{path}: cannot read the trace: {e.strerror}"
    except ValueError:
        return (f"{path}: not a posturepod motion trace (make one with posturepod "
                "simulate --protocol sitting --out DIR --trace FILE.trace)")
    if rate <= 0 or n_ch != 9:
        return f"{path}: a damaged trace header (rate {rate} Hz, {n_ch} channels)"
    if role not in roles:
        return f"{path}: no '{role}' in the trace (it has {', '.join(roles) or 'none'})"
    return None


def still_with_taps(seconds: float, rate_hz: int = 1000, taps_s=(), roles=("pelvis", "thorax",
                    "head"), seed: int = 0) -> dict[str, dict]:
    """Pods lying still in different orientations; at each tap time every pod feels the
    same sharp 20 ms acceleration ramp (a knock on the table they lie on): the events the
    alignment tests look for."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    bump = np.zeros(n)
    for ts in taps_s:
        x = (t - ts) / 0.02
        bump += np.where((x >= 0) & (x < 1), x, 0) * 30.0
        bump += np.where((x >= 1) & (x < 2), 2 - x, 0) * 30.0
    out = {}
    for r in roles:
        g = rng.normal(size=3)
        g /= np.linalg.norm(g)
        acc = np.outer(np.ones(n), g * G) + np.outer(bump, g)
        acc += rng.normal(scale=0.01, size=acc.shape)
        gyr = rng.normal(scale=0.002, size=(n, 3))
        out[r] = {"acc_m_s2": acc, "gyr_rad_s": gyr}
    return out
