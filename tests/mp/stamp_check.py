# How right the pod's sample times are: the real firmware (vboard.Board with the emulated
# I2C bus and chip model, the IMU driver, pod.app.App and its main loop's own waits) on a
# stepped clock, the chip fed by a motion source that writes its own true sample time into
# the accelerometer (x: time in 10 us units mod 5000, y: the next digits), so every sample
# read back says when the chip made it. Each SAMPLES frame the pod sends is decoded; a
# sample's lag is its stamp (device time) less the device time at which the chip made it.
#
#   MICROPYPATH=firmware micropython tests/mp/stamp_check.py [MODEL ...]
#
# The loop runs as App.turn() does (it waits wait_us(), rounded down to whole ms for the
# link poll, then steps), and each pass costs 300-700 us of CPU and bus time (as on a Pico,
# docs/pico.md), one in 40 another 3-11 ms (a command handled: a ping's line read byte by
# byte, parsed and answered). The pod's clock runs off the chip's by a few percent in some cases (the
# chip's rate error, which the pod must not assume away). Prints "STAMP <case> ..." per
# case, then "ALL OK" or "FAILED n" (a lag outside [MIN_LAG_US, MAX_LAG_US], a sample lost
# by a FIFO chip, a loss the sequence numbers do not show).
import sys

import vboard
from vboard.clock import StepClock
from pod import wire
from pod.app import App

MODELS = ("MPU-6050", "LSM6DSOX", "ICM-20948")
CASES = ((100, 0), (200, 20000), (1000, -20000))    # (rate_hz, pod clock vs chip, ppm)
SECONDS = 12
# the newest sample of a read is stamped within one pass of its making (passes up to 2 ms
# apart stamp `now`, later ones by the chip's period: pod/sampler.py)
MAX_LAG_US = 2500
# a late pass stamps by the chip's nominal period: early by the chip's rate error over the
# read's span at most (2 % of 20 ms here), and spreading a read's span puts none much early
MIN_LAG_US = -800
ONE_PER_READ = ("ICM-20948",)     # no FIFO: a pass longer than a period loses a sample
K = 600                # source units (1e-5 m/s^2) per digit of the time code
DIGIT = 5000
failures = []


class TimeSource:
    """The chip's sample time (true us) written into acc x and y."""

    def fill(self, t_us, out):
        t10 = t_us // 10
        out[0] = (t10 % DIGIT) * K
        out[1] = ((t10 // DIGIT) % DIGIT) * K
        out[2] = 980665
        for i in range(3, 9):
            out[i] = 0


class KeepLink:
    kind = "keep"

    def __init__(self):
        self.frames = []

    def write(self, buf, n):
        self.frames.append(bytes(buf[:n]))

    def poll(self, timeout_ms):
        return False

    def read_byte(self):
        return -1

    def close(self):
        pass


def decode(frames, acc_scale):
    """(seq, stamp us, true us) per sample of the SAMPLES frames."""
    import struct
    out = []
    per_digit = acc_scale * 100000 / K           # digits per count
    for f in frames:
        t, p = wire.decode_frame(f[1:-1])
        if t != wire.MSG_SAMPLES:
            continue
        seq0, lo, hi, n, flags, nax = struct.unpack_from(wire.SAMPLES_HDR, p, 0)
        stamp = wire.join_u32(lo, hi)
        for k in range(n):
            r = struct.unpack_from("<H6h", p, wire.SAMPLES_HDR_SIZE + k * wire.record_size(6))
            stamp += r[0]
            lo_d = int(r[1] * per_digit + 0.5)
            hi_d = int(r[2] * per_digit + 0.5)
            out.append((seq0 + k, stamp, (hi_d * DIGIT + lo_d) * 10))
    return out


def check(model, rate_hz, ppm, cfg_path):
    name = "%s@%dHz/%+dppm" % (model, rate_hz, ppm)
    vboard.Clock = StepClock
    board = vboard.Board({"name": "virtual", "hal": "virtual"},
                         {"imu": model, "pod_id": "stamp-check", "ppm": ppm})
    board.chip.src = TimeSource()
    clk = board.clock
    clk.advance(1000000)        # the chip's clock is past 0 when the pod boots
    link = KeepLink()
    app = App(cfg_path=cfg_path, link=link, board=board)
    t_boot = clk.pod_us(clk.t)
    app.handle_line(wire.encode_command("set_rate", 1, {"rate_hz": rate_hz}))
    app.handle_line(wire.encode_command("start", 2))
    x = 12345
    turn = getattr(app, "wait_us", None)
    fifo = app.imu.has_fifo
    end = clk.t + SECONDS * 1000000
    passes = 0
    while clk.t < end:
        w = app.wait_us() if turn else (1000 if fifo else 150)
        clk.advance((w // 1000) * 1000 if w >= 1000 else w)
        app.step(0)
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        # a pass costs 300-700 us; one in 40 handles a command too (3-11 ms on a Pico)
        clk.advance(300 + (x >> 8) % 400 + (3000 + (x >> 4) % 8000 if (x >> 20) % 40 == 0 else 0))
        passes += 1
    app.sampler.stop()
    s = decode(link.frames, app.imu.acc_scale)
    lags = []
    bad = []
    lost = 0
    for i in range(len(s)):
        seq, stamp, true_us = s[i]
        gap = i and true_us - s[i - 1][2] > 1.5e6 / app.imu.odr_hz
        if i and (seq != s[i - 1][0] + 1) != gap:
            bad.append("sequence numbers do not show the loss at %d" % seq)
        if gap:
            lost += 1
            if model not in ONE_PER_READ:
                bad.append("sample lost before seq %d" % seq)
            continue            # the first sample after a loss is stamped at the read
        lags.append(stamp - (clk.pod_us(true_us) - t_boot))
    lags.sort()
    n = len(lags)
    if n < SECONDS * app.imu.odr_hz * (0.7 if model in ONE_PER_READ else 0.99):
        bad.append("only %d samples" % n)
    if n and (lags[-1] > MAX_LAG_US or lags[0] < MIN_LAG_US):
        bad.append("lag outside [%d, %d] us" % (MIN_LAG_US, MAX_LAG_US))
    print("STAMP %s: %d samples, lag us median %d, min %d, p1 %d, p99 %d, max %d; "
          "%.1f passes per sample; %d lost" % (name, n, lags[n // 2], lags[0], lags[n // 100],
                                               lags[n * 99 // 100], lags[-1],
                                               passes / max(n, 1), lost))
    if bad:
        print("FAIL %s: %s" % (name, "; ".join(bad[:3])))
        failures.append(name)
    else:
        print("OK %s" % name)


def main(argv):
    cfg_path = "/tmp/stamp_check_pod_%d.json" % (id(failures) & 0xFFFFFF)
    for model in argv[1:] or MODELS:
        for rate_hz, ppm in CASES:
            check(model, rate_hz, ppm, cfg_path)
    try:
        import os
        os.remove(cfg_path)
    except OSError:
        pass
    if failures:
        print("FAILED %d" % len(failures))
        sys.exit(1)
    print("ALL OK")


main(sys.argv)
