# IMU drivers (firmware/pod/imu) against the register-level chip models (firmware/vboard/chips)
# on the emulated I2C bus, under the MicroPython unix port:
#   MICROPYPATH=firmware micropython tests/mp/test_imu_mp.py
# Prints "OK <name>" or "FAIL <name>: <why>" per check; exits 1 if any failed.
# Time is a fake clock advanced by hand, so nothing depends on real time.
import gc
import struct
import sys

from vboard.bus import I2C
from vboard.chips import make
import pod.imu as imu

VARIANTS = ("MPU-6050", "MPU-6500", "MPU-9250", "ICM-20948", "LSM6DSOX", "LSM6DS3TR-C")
RATES = (25, 100, 200, 1000)
RANGES = ((2, 250), (4, 500), (8, 1000), (16, 2000))
ACC = (1.0, -2.0, 9.81)          # m/s^2
GYR = (0.1, -0.2, 0.3)           # rad/s
G = 9.80665
RAD = 3.141592653589793 / 180.0
failed = []


class FakeClock:
    def __init__(self):
        self.t = 1000

    def true_us(self):
        return self.t


class ConstSource:
    def fill(self, t_us, out):
        out[0] = 100000
        out[1] = -200000
        out[2] = 981000
        out[3] = 100000
        out[4] = -200000
        out[5] = 300000
        out[6] = 0
        out[7] = 0
        out[8] = 0


class RampSource:
    # acc x and gyr x both carry r = (t_us // 100) % 1000: acc x = r * 0.01 m/s^2, gyr x =
    # r * 0.001 rad/s, so a sample's two halves must tell the same time, and consecutive
    # samples must be one period apart (no sample lost, doubled or mispaired)
    def fill(self, t_us, out):
        r = (t_us // 100) % 1000
        for i in range(9):
            out[i] = 0
        out[0] = r * 1000
        out[2] = 981000
        out[3] = r * 1000


class Unknown:                   # a chip that answers but is none of ours
    def read_into(self, reg, buf):
        for i in range(len(buf)):
            buf[i] = 0x00

    def write(self, reg, buf):
        pass


def check(name, fn, *args):
    try:
        why = fn(*args)
    except Exception as e:  # noqa: BLE001
        why = "%s: %s" % (type(e).__name__, e)
    if why:
        failed.append(name)
        print("FAIL %s: %s" % (name, why))
    else:
        print("OK %s" % name)


def rig(variant, addr=None, source=None):
    clk = FakeClock()
    chip = make(variant, source or ConstSource(), clk)
    bus = I2C()
    bus.attach(chip.ADDRESSES[0] if addr is None else addr, chip)
    return imu.detect(bus), clk, chip


def expected(variant, rate, ia, ig):
    if variant.startswith("LSM"):
        odrs = (12.5, 26, 52, 104, 208, 416, 833, 1666)
        odr = odrs[-1]
        for o in odrs:
            if o >= rate:
                odr = o
                break
        acc = (0.061, 0.122, 0.244, 0.488)[ia] * 1e-3 * G
        gyr = (8.75, 17.5, 35.0, 70.0)[ig] * 1e-3 * RAD
    else:
        base = 1100 if variant == "ICM-20948" else 1000
        div = 0 if rate >= base else min(255, max(0, int(base // rate) - 1))
        odr = base / (1 + div)
        acc = G / (16384 >> ia)
        gyr = RAD / (131.0, 65.5, 32.8, 16.4)[ig]
    return odr, acc, gyr


def close(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def bad_values(drv, buf, n):
    for i in range(n):
        v = struct.unpack_from("<6h", buf, 12 * i)
        for ax in range(3):
            if abs(v[ax] * drv.acc_scale - ACC[ax]) > drv.acc_scale * 1.0001:
                return "sample %d acc[%d] %d counts = %f m/s^2, want %f" % (
                    i, ax, v[ax], v[ax] * drv.acc_scale, ACC[ax])
            if abs(v[3 + ax] * drv.gyr_scale - GYR[ax]) > drv.gyr_scale * 1.0001:
                return "sample %d gyr[%d] %d counts = %f rad/s, want %f" % (
                    i, ax, v[3 + ax], v[3 + ax] * drv.gyr_scale, GYR[ax])
    return None


def stream(drv, clk, span_us, step_us, buf, verify=True):
    # advance the clock in steps, draining after each; returns (samples, error)
    total = 0
    end = clk.t + span_us
    while clk.t < end:
        clk.t = min(clk.t + step_us, end)
        while True:
            n = drv.read(buf, 32)
            if n == 0:
                break
            if verify:
                why = bad_values(drv, buf, n)
                if why:
                    return total, why
            total += n
    return total, None


# ---- checks -------------------------------------------------------------------------------

def t_detect(variant, addr):
    drv, _, _ = rig(variant, addr)
    if drv.model != variant:
        return "model %r, want %r" % (drv.model, variant)
    if drv.addr != addr:
        return "addr 0x%02X, want 0x%02X" % (drv.addr, addr)
    return None


def t_configure(variant):
    drv, clk, _ = rig(variant)
    buf = bytearray(12 * 32)
    asks = [(r, RANGES[i][0], RANGES[i][1], i, i) for i, r in enumerate(RATES)]
    asks += [(30, 3, 300, 1, 1), (5000, 100, 9000, 3, 3), (10, 1, 1, 0, 0)]
    for rate, ag, gd, ia, ig in asks:
        drv.configure(rate, ag, gd)
        odr, acc, gyr = expected(variant, rate, ia, ig)
        if not close(drv.odr_hz, odr):
            return "configure(%r): odr_hz %r, want %r" % (rate, drv.odr_hz, odr)
        if drv.acc_range_g != (2, 4, 8, 16)[ia] or drv.gyr_range_dps != (250, 500, 1000, 2000)[ig]:
            return "configure(%r, %r, %r): ranges %r g %r dps" % (
                rate, ag, gd, drv.acc_range_g, drv.gyr_range_dps)
        if not close(drv.acc_scale, acc) or not close(drv.gyr_scale, gyr):
            return "configure(%r, %r, %r): scales %r %r, want %r %r" % (
                rate, ag, gd, drv.acc_scale, drv.gyr_scale, acc, gyr)
        clk.t += 100000
        if drv.read(buf, 32):
            return "configure() left the chip streaming"
    return None


def t_values(variant):
    drv, clk, _ = rig(variant)
    buf = bytearray(12 * 32)
    for ag, gd in RANGES:
        drv.configure(100, ag, gd)
        drv.start()
        n, why = stream(drv, clk, 200000, 3000, buf)
        drv.stop()
        if why:
            return "range %d g / %d dps: %s" % (ag, gd, why)
        if n < 15:
            return "range %d g / %d dps: only %d samples" % (ag, gd, n)
    return None


def t_rate(variant):
    drv, clk, _ = rig(variant)
    buf = bytearray(12 * 32)
    for rate in RATES:
        drv.configure(rate, 4, 500)
        drv.start()
        span = 1000000
        n, why = stream(drv, clk, span, int(1e6 / drv.odr_hz / 3), buf, verify=False)
        want = span * drv.odr_hz / 1e6
        if abs(n - want) > 1:
            return "rate %r (odr %r): %d samples in %d us, want %r" % (
                rate, drv.odr_hz, n, span, want)
        if drv.has_fifo:        # read in batches, well inside the FIFO capacity
            n, why = stream(drv, clk, span, 20000, buf, verify=False)
            if abs(n - want) > 1:
                return "rate %r batched: %d samples, want %r" % (rate, n, want)
        if drv.overflows:
            return "rate %r: %d overflows while keeping up" % (rate, drv.overflows)
        drv.stop()
    return None


def t_overflow(variant):
    drv, clk, _ = rig(variant)
    buf = bytearray(12 * 32)
    drv.configure(1000, 4, 500)
    drv.start()
    step = int(1e6 / drv.odr_hz / 3)
    n, why = stream(drv, clk, 50000, step, buf)
    if why or drv.overflows:
        return "before: %s, overflows %d" % (why, drv.overflows)
    clk.t += 2000000                                # not read for 2 s
    for _ in range(1000):                           # what is left in the FIFO
        k = drv.read(buf, 32)
        if k == 0:
            break
        why = bad_values(drv, buf, k)
        if why:
            return "after overflow, stale data: " + why
    if drv.overflows < 1:
        return "overflow not detected"
    ovf = drv.overflows
    n, why = stream(drv, clk, 200000, step, buf)
    if why:
        return "streaming after overflow: " + why
    want = 0.2 * drv.odr_hz
    if abs(n - want) > 2:
        return "after overflow: %d samples in 0.2 s, want %r" % (n, want)
    if drv.overflows != ovf:
        return "overflows went on counting: %d -> %d" % (ovf, drv.overflows)
    return None


def ramp_check(drv, buf, n, last):
    # returns (error, r of the last sample); last = None: no previous sample to compare
    per = 1e6 / drv.odr_hz / 100
    for i in range(n):
        v = struct.unpack_from("<6h", buf, 12 * i)
        ra = v[0] * drv.acc_scale / 0.01
        rg = v[3] * drv.gyr_scale / 0.001
        if abs(ra - rg) > 1.5:
            return "sample %d mispaired: acc says r=%.1f, gyro r=%.1f" % (i, ra, rg), rg
        if last is not None:
            d = (rg - last) % 1000
            if abs(d - per) > 1.5:
                return "sample %d: step %.1f, want %.1f (lost or doubled)" % (i, d, per), rg
        last = rg
    return None, last


def t_sequence(variant):
    drv, clk, chip = rig(variant, source=RampSource())
    buf = bytearray(12 * 32)
    drv.configure(200, 4, 500)
    drv.start()
    step = 20000 if drv.has_fifo else int(1e6 / drv.odr_hz / 3)
    for phase in ("before", "after"):
        last = None
        end = clk.t + 300000
        total = 0
        while clk.t < end:
            clk.t += step
            while True:
                n = drv.read(buf, 32)
                if n == 0:
                    break
                why, last = ramp_check(drv, buf, n, last)
                if why:
                    return "%s overflow: %s" % (phase, why)
                total += n
        if total < 50:
            return "%s overflow: only %d samples" % (phase, total)
        clk.t += 3000000                            # overflow
        for _ in range(1000):                       # drain what is left: still paired
            n = drv.read(buf, 32)
            if n == 0:
                break
            why, _ = ramp_check(drv, buf, n, None)
            if why:
                return "draining after overflow: " + why
    if variant.startswith("LSM"):
        # white box: lose the oldest FIFO word (an orphan tag / a shifted pattern); the
        # driver must drop the orphan (DSOX) or realign on FIFO_PATTERN (DS3TR-C)
        clk.t += int(10e6 / drv.odr_hz)
        chip.fifo._drop(7 if variant == "LSM6DSOX" else 2)
        n = drv.read(buf, 32)
        why, _ = ramp_check(drv, buf, n, None)
        if why or n < 8:
            return "after losing a FIFO word: %s (%d samples)" % (why, n)
    return None


def _loop(drv, clk, buf, reps, step):
    total = 0
    for _ in range(reps):
        clk.t += step
        total += drv.read(buf, 32)
    return total


def t_noalloc(variant):
    drv, clk, _ = rig(variant)
    buf = bytearray(12 * 32)
    drv.configure(1000, 4, 500)
    drv.start()
    step = int(1e6 / drv.odr_hz / 2)
    _loop(drv, clk, buf, 100, step)
    gc.collect()
    a0 = gc.mem_alloc()
    total = _loop(drv, clk, buf, 2000, step)
    d = gc.mem_alloc() - a0
    if d != 0:
        return "%d bytes allocated over 2000 reads" % d
    if total < 900:
        return "only %d samples" % total
    return None


def t_detect_empty():
    try:
        imu.detect(I2C())
    except imu.ImuError as e:
        if "nothing answers" not in str(e):
            return "unclear message: %s" % e
        return None
    return "no ImuError"


def t_detect_unknown():
    bus = I2C()
    bus.attach(0x68, Unknown())
    bus.attach(0x6A, Unknown())
    try:
        imu.detect(bus)
    except imu.ImuError as e:
        m = str(e)
        if "0x68" not in m or "0x6A" not in m or "WHO_AM_I" not in m:
            return "unclear message: %s" % m
        return None
    return "no ImuError"


def t_icm_bank():
    clk = FakeClock()
    chip = make("ICM-20948", ConstSource(), clk)
    chip.write(0x7F, bytearray([0x20]))             # left in bank 2 by a warm restart
    bus = I2C()
    bus.attach(0x69, chip)
    drv = imu.detect(bus)
    return None if drv.model == "ICM-20948" else "found %r" % drv.model


for v in VARIANTS:
    for a in make(v, ConstSource(), FakeClock()).ADDRESSES:
        check("detect:%s@0x%02X" % (v, a), t_detect, v, a)
    check("configure:" + v, t_configure, v)
    check("values:" + v, t_values, v)
    check("rate:" + v, t_rate, v)
    check("overflow:" + v, t_overflow, v)
    check("sequence:" + v, t_sequence, v)
    check("noalloc:" + v, t_noalloc, v)
check("detect:empty-bus", t_detect_empty)
check("detect:unknown-chip", t_detect_unknown)
check("detect:icm-in-bank-2", t_icm_bank)

if failed:
    print("%d FAILED" % len(failed))
    sys.exit(1)
