"""Self-test of a flashed pod (``posturepod selftest``): the IMU read still and after a
rotation, against thresholds drawn from the IMU datasheets, the sample rate against the host
clock, the stream's integrity and the vibration motor. docs/deploy.md lists every item, its
threshold and the threshold's source.

The analysis functions work on plain arrays (acc m/s^2, gyr rad/s, device time s), so they
are tested without a pod; ``run_selftest`` drives a pod through PodLink."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

G = 9.80665
G_TOL = 0.3                 # m/s^2: gravity magnitude 9.81 +- 0.3 while still
RATE_TOL = 0.01             # sample rate within 1 % of the chip's rate, host clock
EMULATED_CLOCK_TOL = 0.1    # a pod clock 10 % off real time is an emulated board's: the
                            # rate is then judged on the pod's own clock
NOISE_FACTOR = 3.0          # gyro noise limit = 3 x datasheet density x sqrt(ODR/2) ...
NOISE_FLOOR_DPS = 0.1       # ... but never below 0.1 dps (table vibration, quantization)
ROT_MIN_DEG = 60.0          # the "turn it over / rotate 90 degrees" pose: at least 60 deg away
GYRO_TRACK_TOL_DEG = 15.0   # gravity carried by the integrated gyro vs measured after rotation
STILL_GYRO_DPS = 5.0        # a 0.5 s block is still when the gyro norm stays below this
STILL_ACC_TOL = 1.0         # ... and |acc| is within 1 m/s^2 of g

# Datasheet figures (typical), per IMU model: gyro rate-noise density (dps/sqrt(Hz)),
# accelerometer noise density (ug/sqrt(Hz)), gyro zero-rate offset tolerance (dps, initial,
# 25 C). Sources in docs/deploy.md ("Self-test").
CHIPS = {
    "MPU-6050": {"gyr_nd": 0.005, "acc_nd_ug": 400, "zro_dps": 20.0},
    "MPU-6500": {"gyr_nd": 0.01, "acc_nd_ug": 300, "zro_dps": 5.0},
    "MPU-9250": {"gyr_nd": 0.01, "acc_nd_ug": 300, "zro_dps": 5.0},
    "ICM-20948": {"gyr_nd": 0.015, "acc_nd_ug": 230, "zro_dps": 5.0},
    "LSM6DSOX": {"gyr_nd": 0.0038, "acc_nd_ug": 70, "zro_dps": 1.0},
    "LSM6DS3TR-C": {"gyr_nd": 0.005, "acc_nd_ug": 90, "zro_dps": 2.0},
}
DEFAULT_CHIP = {"gyr_nd": 0.015, "acc_nd_ug": 400, "zro_dps": 20.0}


@dataclass
class Item:
    name: str
    ok: bool
    value: str
    limit: str
    detail: str = ""

    def line(self) -> str:
        s = f"{'PASS' if self.ok else 'FAIL'}  {self.name:<18s} {self.value}  (limit {self.limit})"
        return s + (f": {self.detail}" if self.detail else "")


@dataclass
class Stream:
    """Samples gathered from a pod: per sample acc (m/s^2), gyr (rad/s), device time (s),
    sequence number (unwrapped); per frame: host arrival time and the count of samples
    (by sequence number) up to the end of that frame."""
    acc: np.ndarray
    gyr: np.ndarray
    t: np.ndarray
    seq: np.ndarray
    frame_host_t: np.ndarray
    frame_end_seq: np.ndarray
    overflow_frames: int = 0


def chip_limits(model: str | None, odr_hz: float) -> dict:
    c = CHIPS.get(model or "", DEFAULT_CHIP)
    bw = max(odr_hz, 1.0) / 2.0
    noise = max(NOISE_FACTOR * c["gyr_nd"] * math.sqrt(bw), NOISE_FLOOR_DPS)
    return {"noise_dps": noise, "bias_dps": c["zro_dps"], "known": (model in CHIPS), **c}


# ---- analysis --------------------------------------------------------------------------

def check_gravity(acc: np.ndarray, label: str) -> Item:
    m = np.linalg.norm(acc.mean(axis=0))
    noise = acc.std(axis=0).max() if len(acc) > 1 else 0.0
    return Item(f"gravity ({label})", bool(abs(m - G) <= G_TOL), f"{m:.3f} m/s^2",
                f"{G:.2f} +- {G_TOL}", f"accel noise {noise:.3f} m/s^2 rms (worst axis), "
                f"{len(acc)} samples")


def check_gyro(gyr: np.ndarray, model: str | None, odr_hz: float) -> list[Item]:
    lim = chip_limits(model, odr_hz)
    dps = np.degrees(gyr)
    bias = dps.mean(axis=0)
    noise = dps.std(axis=0)
    src = model if lim["known"] else f"{model or 'unknown IMU'} (generic limits)"
    return [
        Item("gyro noise", bool(noise.max() <= lim["noise_dps"]),
             f"{noise.max():.3f} dps rms (x {noise[0]:.3f}, y {noise[1]:.3f}, z {noise[2]:.3f})",
             f"{lim['noise_dps']:.3f} dps",
             f"{NOISE_FACTOR:g} x {lim['gyr_nd']} dps/sqrt(Hz) x sqrt({odr_hz / 2:g} Hz), "
             f"{src}"),
        Item("gyro bias", bool(np.abs(bias).max() <= lim["bias_dps"]),
             f"{np.abs(bias).max():.2f} dps (x {bias[0]:+.2f}, y {bias[1]:+.2f}, "
             f"z {bias[2]:+.2f})", f"{lim['bias_dps']:g} dps",
             f"zero-rate offset tolerance of the {src}; the host calibrates it out"),
    ]


def measured_rate(s: Stream) -> float | None:
    """Samples per host second: least-squares slope of the sample count (sequence numbers,
    so lost samples still count) against the frames' host arrival times."""
    if len(s.frame_host_t) < 3 or s.frame_host_t[-1] - s.frame_host_t[0] < 1.0:
        return None
    a = np.polyfit(s.frame_host_t - s.frame_host_t[0], s.frame_end_seq.astype(float), 1)
    return float(a[0])


def check_rate(s: Stream, odr_hz: float, rate_hz: float) -> Item:
    r = measured_rate(s)
    want = odr_hz or rate_hz
    if r is None:
        return Item("sample rate", False, "n/a", f"{want:g} Hz +- {RATE_TOL:.0%}",
                    "not enough frames")
    dev = None
    if len(s.t) > 10 and s.t[-1] > s.t[0]:
        dev = (s.seq[-1] - s.seq[0]) / (s.t[-1] - s.t[0])
    detail = f"chip ODR {odr_hz:g} Hz for {rate_hz:g} Hz asked"
    clock_rate = r / dev if dev else 1.0       # pod seconds per host second
    if dev and abs(clock_rate - 1) > EMULATED_CLOCK_TOL:
        # an emulated board: its clock runs at a fraction of real time, so the rate is
        # judged on the pod's own clock (a crystal is never this far off)
        err = dev / want - 1.0
        return Item("sample rate", bool(abs(err) <= RATE_TOL), f"{dev:.2f} Hz ({err:+.2%})",
                    f"{want:g} Hz +- {RATE_TOL:.0%}", detail + f"; on the pod's own clock, "
                    f"which runs at {clock_rate:.3f}x real time (an emulated board?); "
                    f"{r:.2f} Hz on the host clock")
    err = r / want - 1.0
    if dev:
        detail += f"; {dev:.2f} Hz on the pod's own clock"
    return Item("sample rate", bool(abs(err) <= RATE_TOL), f"{r:.2f} Hz ({err:+.2%})",
                f"{want:g} Hz +- {RATE_TOL:.0%}", detail + " (host clock over "
                f"{s.frame_host_t[-1] - s.frame_host_t[0]:.1f} s)")


def check_stream(s: Stream, crc_errors: int) -> Item:
    lost = int(np.sum(np.clip(np.diff(s.seq) - 1, 0, None))) if len(s.seq) > 1 else 0
    ok = lost == 0 and crc_errors == 0 and s.overflow_frames == 0
    return Item("stream", ok, f"{len(s.seq)} samples, {lost} lost, {crc_errors} CRC errors, "
                f"{s.overflow_frames} FIFO overflows", "0 lost, 0 errors")


def _blocks(s: Stream, start: int, n: int, bias: np.ndarray):
    """Yield (i0, i1, mean acc, max gyro norm dps) for consecutive blocks of n samples."""
    for i in range(start, len(s.acc) - n + 1, n):
        a = s.acc[i:i + n].mean(axis=0)
        w = np.degrees(np.linalg.norm(s.gyr[i:i + n] - bias, axis=1)).max()
        yield i, i + n, a, w


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def find_rotated(s: Stream, still_end: int, g0: np.ndarray, bias: np.ndarray, odr_hz: float,
                 hold_s: float = 1.0) -> int | None:
    """Index of the first sample of a still pose at least ROT_MIN_DEG from g0, held for
    hold_s, after still_end; None if there is none yet."""
    n = max(int(odr_hz * 0.5), 5)
    need = max(int(round(hold_s / 0.5)), 1)
    run = 0
    first = None
    for i0, _i1, a, w in _blocks(s, still_end, n, bias):
        still = w < STILL_GYRO_DPS and abs(np.linalg.norm(a) - G) < STILL_ACC_TOL
        if still and _angle(a, g0) >= ROT_MIN_DEG:
            if run == 0:
                first = i0
            run += 1
            if run >= need:
                return first
        else:
            run = 0
    return None


def carry_gravity(g0: np.ndarray, gyr: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Gravity in sensor axes carried through the rotation by the gyro alone:
    dg/dt = -w x g (body frame), exact rotation per step (Rodrigues)."""
    g = np.asarray(g0, dtype=float).copy()
    for k in range(1, len(t)):
        dt = t[k] - t[k - 1]
        w = 0.5 * (gyr[k] + gyr[k - 1])
        th = np.linalg.norm(w) * dt
        if th < 1e-12:
            continue
        ax = -w / np.linalg.norm(w)            # rotate g by -w*dt
        c, sn = math.cos(th), math.sin(th)
        g = g * c + np.cross(ax, g) * sn + ax * np.dot(ax, g) * (1 - c)
    return g


def check_rotation(s: Stream, still: slice, rot: slice, bias: np.ndarray) -> list[Item]:
    g0 = s.acc[still].mean(axis=0)
    g1 = s.acc[rot].mean(axis=0)
    ang = _angle(g0, g1)
    items = [Item("rotation seen", bool(ang >= ROT_MIN_DEG), f"{ang:.1f} deg",
                  f">= {ROT_MIN_DEG:g} deg", "gravity direction, flat vs turned")]
    a, b = still.stop - 1, rot.start + 1
    g_pred = carry_gravity(g0, s.gyr[a:b] - bias, s.t[a:b])
    err = _angle(g_pred, g1)
    items.append(Item("gyro tracks tilt", bool(err <= GYRO_TRACK_TOL_DEG), f"{err:.1f} deg",
                      f"{GYRO_TRACK_TOL_DEG:g} deg",
                      f"gravity carried by the integrated gyro through the {ang:.0f} deg turn "
                      "vs the accelerometer after it (checks gyro axes, sign and scale)"))
    return items


# ---- talking to the pod ----------------------------------------------------------------

class SampleCollector:
    def __init__(self, acc_scale: float, gyr_scale: float):
        self.acc_scale = acc_scale
        self.gyr_scale = gyr_scale
        self.lock = threading.Lock()
        self.chunks: list = []          # (host t, seq0, t_us array, counts)
        self.overflows = 0

    def on_message(self, link, m, t):
        from posturepod.firmware.pod import wire
        if m.type != wire.MSG_SAMPLES:
            return
        b = m.body
        with self.lock:
            self.chunks.append((t, b.seq0, b.t_us, b.counts.copy()))
            if b.flags & wire.FLAG_OVERFLOW:
                self.overflows += 1

    def n(self) -> int:
        with self.lock:
            return sum(len(c[3]) for c in self.chunks)

    def stream(self) -> Stream:
        from posturepod.firmware.pod import wire
        with self.lock:
            chunks = list(self.chunks)
        if not chunks:
            z = np.zeros((0, 3))
            return Stream(z, z, np.zeros(0), np.zeros(0, int), np.zeros(0), np.zeros(0, int))
        counts = np.vstack([c[3][:, :6] for c in chunks]).astype(float)
        t_us = np.concatenate([np.asarray(c[2], dtype=np.int64) for c in chunks])
        seq = np.concatenate([c[1] + np.arange(len(c[3])) for c in chunks]).astype(np.int64)
        dt = np.diff(t_us) % wire.TIME_MODULO
        t = np.concatenate([[0], np.cumsum(dt)]) * 1e-6
        ds = np.diff(seq) % wire.SEQ_MODULO
        seq = np.concatenate([[0], np.cumsum(ds)])
        ends = np.cumsum([len(c[3]) for c in chunks]) - 1
        return Stream(counts[:, :3] * self.acc_scale, counts[:, 3:6] * self.gyr_scale, t, seq,
                      np.array([c[0] for c in chunks]), seq[ends],
                      overflow_frames=self.overflows)


@dataclass
class Report:
    info: dict
    items: list[Item] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(i.ok for i in self.items)


def run_selftest(port: str, *, yes: bool = False, still_s: float = 5.0,
                 rotated_s: float = 2.0, rotate_timeout_s: float = 60.0,
                 say=print, ask=input) -> Report:
    """Drive the pod at ``port`` through the self-test. ``say`` prints, ``ask`` prompts (not
    used with yes=True). Raises PodError when the pod cannot be reached."""
    from posturepod.pods.podlink import PodError, PodLink

    link = PodLink(port, auto_reconnect=False)
    info = link.open(5.0)
    rep = Report(info)
    try:
        _run(link, info, rep, yes, still_s, rotated_s, rotate_timeout_s, say, ask)
    except PodError as e:
        rep.items.append(Item("pod link", False, "lost", "no errors", str(e)))
    finally:
        try:
            link.request("stop", timeout_s=1.0)
        except PodError:
            pass
        link.close()
    return rep


def _prompt(yes, say, ask, text):
    if yes:
        say(text + " (--yes: not waiting)")
        return ""
    return ask(text + " ")


def _run(link, info, rep, yes, still_s, rotated_s, rotate_timeout_s, say, ask):
    model = info.get("imu")
    fw = Item("firmware + IMU", bool(model) and not info.get("imu_error"),
              f"fw {info.get('fw')}"
              + (", native CRC/COBS" if info.get("native") else "")
              + (", native tilt filter" if info.get("native_tilt") else "")
              + f", IMU {model or 'none'}", "an IMU answers",
              str(info.get("imu_error") or f"{info.get('board')} at {info.get('odr_hz')} Hz"))
    rep.items.append(fw)
    if not fw.ok:
        _buzz(link, rep, yes, say, ask)
        return
    odr = float(info.get("odr_hz") or info.get("rate_hz") or 100)
    rate = float(info.get("rate_hz") or odr)
    col = SampleCollector(float(info["acc_scale"]), float(info["gyr_scale"]))
    link.on_message = col.on_message
    _prompt(yes, say, ask, "Lay the pod flat and still on a table, then press Enter.")
    link.request("start", timeout_s=2.0)
    settle = 0.5
    say(f"measuring still for {still_s:g} s...")
    time.sleep(settle + still_s)
    s = col.stream()
    n0 = int(round(settle * odr))
    still = slice(min(n0, max(len(s.acc) - 10, 0)), len(s.acc))
    if still.stop - still.start < 10:
        rep.items.append(Item("stream", False, f"{len(s.acc)} samples", "samples arrive",
                              "the pod sent (almost) no samples"))
        _buzz(link, rep, yes, say, ask)
        return
    acc0, gyr0 = s.acc[still], s.gyr[still]
    bias = gyr0.mean(axis=0)
    g0 = acc0.mean(axis=0)
    rep.items.append(check_gravity(acc0, "flat"))
    rep.items.extend(check_gyro(gyr0, model, odr))

    _prompt(yes, say, ask, "Now turn the pod over (or rotate it 90 degrees), lay it still "
                           "again, then press Enter.")
    say(f"waiting for the pod to be turned and still (up to {rotate_timeout_s:.0f} s)...")
    t_end = time.monotonic() + rotate_timeout_s
    k = None
    told = rotate_timeout_s
    while time.monotonic() < t_end:
        s = col.stream()
        k = find_rotated(s, still.stop, g0, bias, odr)
        if k is not None:
            break
        left = t_end - time.monotonic()
        if left < told - 10:            # a countdown every 10 s
            told = left
            say(f"  ... {left:.0f} s left to turn the pod")
        time.sleep(0.25)
    if k is None:
        rep.items.append(Item("rotation seen", False, "none",
                              f">= {ROT_MIN_DEG:g} deg within {rotate_timeout_s:g} s",
                              "the pod was not turned and held still"))
    else:
        need = k + int(round(rotated_s * odr))
        while col.n() < need and time.monotonic() < t_end + rotated_s + 2:
            time.sleep(0.1)
        s = col.stream()
        rot = slice(k, min(need, len(s.acc)))
        rep.items.append(check_gravity(s.acc[rot], "turned"))
        rep.items.extend(check_rotation(s, still, rot, bias))
    link.request("stop", timeout_s=2.0)
    time.sleep(0.2)
    s = col.stream()
    rep.items.append(check_rate(s, odr, rate))
    rep.items.append(check_stream(s, link.decoder.stats.crc_errors))
    _buzz(link, rep, yes, say, ask)


def _motor_switched(link, ms: int) -> tuple[bool, str]:
    """After a buzz command: did the firmware switch the motor on, and off again after
    ``ms``? Asked of the pod (INFO ``motor_on``), not taken from the acknowledgement. Off is
    awaited up to 4 x ``ms`` + 2 s of host time: a pod whose clock runs slow (an emulated
    board) ends its buzz later in our time."""
    from posturepod.pods.podlink import PodError
    try:
        on = link.request("info").body.get("motor_on")
        if on is None:
            return True, "this firmware does not report its motor (older version): not checked"
        if not on:
            return False, "the motor was not on right after the buzz command"
        t0 = time.monotonic()
        limit_s = 4 * ms / 1000 + 2.0
        time.sleep(ms / 1000)
        while link.request("info").body.get("motor_on"):
            if time.monotonic() - t0 > limit_s:
                return False, f"the motor was still on {limit_s:.1f} s later"
            time.sleep(0.1)
    except PodError as e:
        return False, f"no INFO after the buzz: {e}"
    return True, f"motor on, and off again after {ms} ms"


def _buzz(link, rep, yes, say, ask):
    from posturepod.pods.podlink import PodError
    ms = 400
    try:
        r = link.buzz(ms)
    except PodError as e:
        rep.items.append(Item("buzz motor", False, "no ack", "switched on and off", str(e)))
        return
    ok, how = _motor_switched(link, ms)
    detail = f"buzz #{r.get('count')}: {how}"
    if not ok or yes:
        rep.items.append(Item("buzz motor", ok, "switched" if ok else "not switched",
                              "switched on and off", detail + ("; not felt by a person "
                                                               "(--yes)" if ok else "")))
        return
    got = ask("Did the pod buzz? [y/n] ").strip().lower()
    rep.items.append(Item("buzz motor", got.startswith("y"), "felt" if got.startswith("y")
                          else "not felt", "the user feels it", detail))
