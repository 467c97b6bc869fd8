# No heap allocation per sample: the real firmware objects (vboard.Board with the emulated I2C
# bus and chip model, the real IMU driver from pod.imu.detect, pod.clock.DeviceClock,
# pod.sampler.Sampler and pod.app.App with its main-loop step) streaming at 100 and 1000 Hz,
# for each IMU model; after a warm-up, gc.collect(); gc.disable() and 10,000 more samples
# (counted by sampler.sent) must leave gc.mem_alloc() unchanged.
#
#   MICROPYPATH=firmware micropython -X heapsize=512k tests/mp/alloc_check.py [MODEL ...]
# (a small heap keeps gc.mem_alloc(), which walks the allocation table, fast)
#
# Time is a stepped clock (vboard.clock.StepClock): true time and the pod's ticks
# advance by a fixed step per main-loop pass, so nothing depends on wall time and a run of
# 100 s of device time takes well under a second of real time. Two steps per rate: one
# shorter than the sample period (most reads return 0 or 1 sample) and one longer (reads of
# several samples, remainder spreading, batches split across reads). The pod's ticks_us
# starts 2 s before its 2**30 wrap and the device time counter 3 s before its 2**32 wrap,
# so both wraps happen inside the measured window.
#
# On a real board (the emulated Pico, tests/test_pico.py: the file is run there with mpremote,
# no vboard package on it) the same checks run on the board's own IMU, I2C bus and clock:
# the App built from board.json, the main loop's own waits (App.turn()), fewer samples
# (REAL_CASES), and no forced wraps (the clocks start where they are).
#
# Output: "OK <name> ..." or "FAIL <name>: ..." per case, then "ALL OK" or "FAILED n";
# exit status 1 on any failure. On an allocation the case is re-run pass by pass with the
# allocation measured around each stage (link poll/commands, clock, IMU read, link write,
# status, the rest of the sampler) to say where it happens.
import gc
import sys
import time

try:
    import vboard
    from vboard.clock import StepClock, TICKS_PERIOD
    VIRTUAL = True
except ImportError:             # a real board: its own bus, IMU and clock
    vboard = None
    StepClock = None
    TICKS_PERIOD = 1 << 30
    VIRTUAL = False
from pod import wire
from pod.app import App

MODELS = ("MPU-6050", "LSM6DSOX", "ICM-20948", "MPU-6500", "LSM6DS3TR-C")
# (rate_hz, loop steps in us, cycled): a step below the sample period, one above it, and a
# 1 s stall now and then (the chip FIFO overflows: the sampler's loss path must not
# allocate either)
STALL = (1000000,) + (730,) * 299
CASES = ((100, (3700,)), (100, (23300,)), (1000, (730,)), (1000, (2300,)), (1000, STALL))
# drivers that return at most one sample per read (pod/imu/icm20948.py polls the data
# registers): any loop step longer than the sample period loses samples by design
ONE_PER_READ = ("ICM-20948",)
N_SAMPLES = 10000
# --orient: the orientation paths (pod/tilt.py, pod/standalone.py, pod/anglestream.py)
ORIENT = "--orient" in sys.argv
ARM = {"wall_s": 1764900000, "seg_q14": [16384, 0, 0, 0, 16384, 0, 0, 0, 16384],
       "ref_cdeg": -2000, "rule": {"over_cdeg": 1000, "hold_s": 2, "repeat_s": 3},
       "pattern": [200, 100, 200], "quiet": [[600, 660]], "utc_offset_min": 60,
       "radio": "slow", "gyr_bias_mdps": [1200, -800, 500],
       "cal": {"quality": "doubtful", "reasons": ["a test"]}}
# --orient: the pod's accelerometer calibration on too (pod/tilt.py applies it per sample)
ACC_CAL = {"bias_m_s2": [0.12, -0.2, 0.3],
           "gain": [1.01, 0.002, -0.001, 0.002, 0.99, 0.003, -0.001, 0.003, 1.02]}
WARMUP_SAMPLES = 300
# on a real board: (rate_hz, stall ms every 256 passes or 0, samples); real time, so short
REAL_CASES = ((100, 0, 300), (1000, 0, 2000), (1000, 150, 1500))
_MASK30 = (1 << 30) - 1
failures = []


class NullLink:
    """The pod's link: frames go to /dev/null through the stream write(buf, n), as the
    firmware's StdioLink writes to sys.stdout.buffer (on a board without /dev/null they are
    only counted); no command ever arrives, poll() waits as a link's poll does."""
    kind = "null"

    def __init__(self):
        try:
            self.f = open("/dev/null", "wb")
        except OSError:
            self.f = None
        self.writes = 0
        self.nbytes = 0

    def write(self, buf, n):
        if self.f is not None:
            self.f.write(buf, n)
        self.writes += 1
        self.nbytes += n

    def poll(self, timeout_ms):
        if timeout_ms > 0 and not VIRTUAL:
            time.sleep_ms(timeout_ms)
        return False

    def read_byte(self):
        return -1

    def close(self):
        if self.f is not None:
            self.f.close()


class RealClock:
    """On a real board: the board's ticks; advance(us) waits (a stall) or, with 0, makes
    one pass of the main loop with its own waits (App.turn())."""

    def __init__(self, board):
        self.b = board
        self.t0 = board.ticks_us()
        self.t = 0

    def ticks_us(self):
        return self.b.ticks_us()

    def advance(self, us):
        if us:
            time.sleep_ms(us // 1000)
        self.t = self.b.ticks_diff(self.b.ticks_us(), self.t0)


def make_app(model, rate_hz, cfg_path):
    if not VIRTUAL:
        link = NullLink()
        app = App(cfg_path=cfg_path, link=link)
        if app.imu is None:
            raise RuntimeError("no IMU found: %s" % app.imu_error)
        app.handle_line(wire.encode_command("set_rate", 1, {"rate_hz": rate_hz}))
        app.handle_line(wire.encode_command("start", 2))
        return app, RealClock(app.board), link
    vboard.Clock = StepClock      # Board() builds its clock (and hands it to the chip) here
    # ticks_us (2**30) and the device time counter (2**32) wrap inside the measured window
    warm_us = WARMUP_SAMPLES * 1000000 // rate_hz
    settings = {"imu": model, "pod_id": "alloc-check",
                "start_ticks": TICKS_PERIOD - warm_us - 500000,
                "dev_start_us": (1 << 32) - warm_us - 1000000}
    board = vboard.Board({"name": "virtual", "hal": "virtual"}, settings)
    link = NullLink()
    app = App(cfg_path=cfg_path, link=link, board=board)
    if app.imu is None:
        raise RuntimeError("no IMU found: %s" % app.imu_error)
    # the real command path: set_rate (configures the chip, saves pod.json), then start
    app.handle_line(wire.encode_command("set_rate", 1, {"rate_hz": rate_hz}))
    if ORIENT:
        app.handle_line(wire.encode_command("set_config", 4, {"acc_cal": ACC_CAL}))
        if not app.tilt._cal:
            raise RuntimeError("set_config acc_cal was not taken by the tilt filter")
        # standalone mode armed (tilt filter, per-second records, rule) while streaming raw
        # samples, and the angle stream's packing forced on too
        app.handle_line(wire.encode_command("arm", 3, ARM))
        if not app.standalone.armed:
            raise RuntimeError("arm failed")
    app.handle_line(wire.encode_command("start", 2))
    if ORIENT:
        app.angles.start(50, app.imu.odr_hz)
    if not app.sampler.streaming:
        raise RuntimeError("start did not start streaming")
    return app, board.clock, link


def one_pass(app):
    if VIRTUAL:
        app.step(0)
    else:
        app.turn()              # the main loop's own waits


def run_until(app, clk, steps, n):
    s = app.sampler
    sent0 = s.sent
    i = 0
    k = len(steps)
    while ((s.sent - sent0) & _MASK30) < n:
        clk.advance(steps[i])
        i += 1
        if i == k:
            i = 0
        one_pass(app)


def measure(app, clk, steps, n):
    """Allocation (bytes) while n more samples go through, with the GC disabled."""
    s = app.sampler
    sent0 = 0
    a0 = 0
    a1 = 0
    i = 0
    k = len(steps)
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        sent0 = s.sent
        while ((s.sent - sent0) & _MASK30) < n:
            clk.advance(steps[i])
            i += 1
            if i == k:
                i = 0
            one_pass(app)
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    return a1 - a0


class Probe:
    """Wraps one method of an object (fixed arity, so the wrapper itself allocates nothing)
    and adds the allocation inside it to acc[k]; an allocation in a probed callee that
    this one calls is subtracted (acc[k] counts own code only)."""

    def __init__(self, obj, name, nargs, acc, k):
        self.f = getattr(obj, name)
        self.acc = acc
        self.k = k
        setattr(obj, name, (self.call0, None, self.call2, self.call3, self.call4)[nargs])

    def _end(self, a, inner0):
        acc = self.acc
        inner = acc[0] - inner0          # acc[0]: everything measured by any probe
        d = gc.mem_alloc() - a
        acc[self.k] += d - inner
        acc[0] = inner0 + d

    def call0(self):
        a = gc.mem_alloc()
        i = self.acc[0]
        r = self.f()
        self._end(a, i)
        return r

    def call2(self, x, y):
        a = gc.mem_alloc()
        i = self.acc[0]
        r = self.f(x, y)
        self._end(a, i)
        return r

    def call3(self, x, y, z):
        a = gc.mem_alloc()
        i = self.acc[0]
        r = self.f(x, y, z)
        self._end(a, i)
        return r

    def call4(self, x, y, z, w):
        a = gc.mem_alloc()
        i = self.acc[0]
        r = self.f(x, y, z, w)
        self._end(a, i)
        return r


# acc[0] is the probes' running total; stage k is acc[k]
STAGES = (None, "link poll/commands", "clock.update", "i2c bus + chip model (vboard)",
          "imu driver (own code)", "link.write", "send_status (own code)",
          "sampler (own code)", "timers (own code)")


def breakdown(app, clk, steps, n):
    """Where the allocation happens: per-stage totals while n more samples go through."""
    acc = [0] * len(STAGES)
    i2c = app.board.i2c
    try:
        Probe(i2c, "readfrom_mem_into", 3, acc, 3)
        Probe(i2c, "writeto_mem", 3, acc, 3)
    except (AttributeError, TypeError):
        pass                    # machine.I2C: its methods cannot be replaced
    Probe(app.imu, "read", 2, acc, 4)
    Probe(app.imu, "waiting", 0, acc, 4)
    Probe(app.link, "write", 2, acc, 5)
    Probe(app, "send_status", 0, acc, 6)
    gc.collect()
    gc.disable()
    try:
        s = app.sampler
        sent0 = s.sent
        p = 0
        while ((s.sent - sent0) & _MASK30) < n:
            clk.advance(steps[p % len(steps)])
            p += 1
            a = gc.mem_alloc()
            app._read_commands(0)
            b = gc.mem_alloc()
            app.clock.update()
            c = gc.mem_alloc()
            i = acc[0]
            app.sampler.service()
            d = gc.mem_alloc()
            j = acc[0]
            app._timers()
            e = gc.mem_alloc()
            acc[1] += b - a
            acc[2] += c - b
            acc[7] += (d - c) - (j - i)
            acc[8] += (e - d) - (acc[0] - j)
    finally:
        gc.enable()
    return acc


def check(model, rate_hz, steps, cfg_path, n_samples=N_SAMPLES):
    stall = len(steps) > 1
    how = "stalls" if stall else ("step%dus" % steps[0] if VIRTUAL else "turn")
    name = "%s@%dHz/%s" % (model, rate_hz, how)
    try:
        app, clk, link = make_app(model, rate_hz, cfg_path)
        model = app.imu.model
        name = "%s@%dHz/%s" % (model, rate_hz, how)
        s = app.sampler
        per_us = 1000000 / app.imu.odr_hz
        lossy = stall or (model in ONE_PER_READ and steps[0] > per_us)
        run_until(app, clk, (730,) if VIRTUAL else (0,), WARMUP_SAMPLES)
        seq0 = s.seq
        pend0 = s._count
        sent0 = s.sent
        frames0 = s.frames
        writes0 = link.writes
        t0 = clk.t
        ovf0 = app.imu.overflows
        wraps0 = app.clock.wraps
        ticks0 = clk.ticks_us()
        used = measure(app, clk, steps, n_samples)
        sent = (s.sent - sent0) & _MASK30
        seqs = ((s.seq - seq0) & _MASK30) - (s._count - pend0)   # minus samples not yet sent
        ticks1 = clk.ticks_us()
        frames = s.frames - frames0
        statuses = link.writes - writes0 - frames
        dev_s = (clk.t - t0) / 1e6
    except MemoryError as e:
        gc.enable()
        sys.print_exception(e)
        print("FAIL %s: the heap ran out with the GC disabled: the firmware allocates" % name)
        failures.append(name)
        return
    except Exception as e:  # noqa: BLE001 - report and go on with the next case
        sys.print_exception(e)
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        failures.append(name)
        return
    ovf = app.imu.overflows - ovf0
    why = []
    note = ""
    if used != 0:
        # where: the same again, pass by pass with probes (slow: gc.mem_alloc() walks the
        # heap's allocation table); allocation inside the emulated I2C bus is the chip
        # models' (vboard/chips: virtual hardware, not firmware) and is only reported
        acc = breakdown(app, clk, steps, 2000 if VIRTUAL else 200)
        fw = sum(acc[1:]) - acc[3]
        where = ", ".join("%s %d B" % (STAGES[i], acc[i]) for i in range(1, len(STAGES)))
        if fw or not acc[3]:
            why.append("%d bytes allocated over %d samples (re-run with probes: %s)"
                       % (used, n_samples, where))
        else:
            note = "%d bytes allocated, all of it in the chip model (%s)" % (used, where)
    if sent < n_samples:
        why.append("only %d samples went through" % sent)
    expect = dev_s * app.imu.odr_hz
    if lossy:
        if ovf == 0:
            why.append("the FIFO never overflowed: the loss path was not exercised")
        elif seqs <= sent:
            why.append("%d overflows but no gap in the sequence numbers" % ovf)
        elif abs(seqs - expect) > 0.02 * expect + 40:
            # the gaps in the numbering must account for the samples lost on the chip
            why.append("%d samples sent + %d skipped in the numbering, but the chip made "
                       "%.0f in %.2f s at %.1f Hz" % (sent, seqs - sent, expect, dev_s,
                                                      app.imu.odr_hz))
    else:
        if ovf:
            why.append("%d FIFO overflows in the window" % ovf)
        if abs(sent - expect) > 0.02 * expect + 40:
            why.append("%d samples in %.2f s of device time, expected %.0f at %.1f Hz"
                       % (sent, dev_s, expect, app.imu.odr_hz))
        if seqs != sent:
            why.append("sequence numbers advanced by %d for %d samples" % (seqs, sent))
    if statuses < (dev_s / 2 if stall else int(dev_s) - 1):
        why.append("only %d status messages in %.1f s" % (statuses, dev_s))
    if VIRTUAL and app.clock.wraps == wraps0:
        why.append("the device time counter did not wrap in the window")
    if VIRTUAL and ticks1 >= ticks0:
        why.append("ticks_us did not wrap in the window")
    if ORIENT:
        lg = app.standalone.log
        if (lg.next_seq < int(dev_s) or app.angles.sent * app.angles.every < 0.8 * sent
                or app.buzzes < 2):
            why.append("orientation paths idle: %d records, %d angle records, %d buzzes"
                       % (lg.next_seq, app.angles.sent, app.buzzes))
    if note:
        print("NOTE %s: %s" % (name, note))
    if why:
        print("FAIL %s: %s" % (name, "; ".join(why)))
        failures.append(name)
    else:
        print("OK %s: firmware 0 bytes over %d samples (%d frames, %d status, %.1f s device time, "
              "odr %.1f Hz, batch %d, %d overflows, %d samples skipped)"
              % (name, sent, frames, statuses, dev_s, app.imu.odr_hz, s.batch, ovf,
                 seqs - sent))
    app.sampler.stop()
    link.close()


def _rmtree(d):
    import os
    for name in os.listdir(d):
        p = d + "/" + name
        if os.stat(p)[0] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def main(argv):
    if not VIRTUAL:             # the board's own IMU, whatever it is
        cfg_path = "alloc_check_pod.json"
        for rate_hz, stall_ms, n in REAL_CASES:
            steps = ((stall_ms * 1000,) + (0,) * 255) if stall_ms else (0,)
            check("imu", rate_hz, steps, cfg_path, n)
    models = [a for a in argv[1:] if a[0] != "-"] or MODELS
    cfg_path = "/tmp/alloc_check_pod_%d.json" % (id(failures) & 0xFFFFFF)
    if ORIENT:
        import os
        d = "/tmp/alloc_orient_%d" % (id(failures) & 0xFFFFFF)
        try:
            os.mkdir(d)
        except OSError:
            pass
        cfg_path = d + "/pod.json"
    for model in models if VIRTUAL else ():
        for rate_hz, steps in CASES:
            check(model, rate_hz, steps, cfg_path)
    try:
        import os
        os.remove(cfg_path)
    except OSError:
        pass
    if ORIENT:
        _rmtree(cfg_path[:cfg_path.rfind("/")])
    if failures:
        print("FAILED %d" % len(failures))
        sys.exit(1)
    print("ALL OK")


main(sys.argv)
