# The virtual board's clocks.
# - true_us(): the true time of the virtual world (CLOCK_MONOTONIC microseconds, the same
#   clock the host's time.monotonic() reads), minus the world's t0. Chips sample on it.
# - ticks_us()/ticks_diff()/ticks_add(): the pod's own clock as firmware sees it, with the
#   period of a 32-bit MicroPython port (2**30), an arbitrary start value (so a test can put
#   the wrap a few seconds ahead) and a rate error in ppm (a crystal running fast or slow).
# StepClock: the same two clocks, still until a test or bench moves them (advance()).
import time

TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD >> 1
_MASK = TICKS_PERIOD - 1


class Clock:
    def __init__(self, t0_us=None, start_ticks=0, ppm=0):
        now = time.ticks_us()
        self.t0 = now if t0_us is None else t0_us
        self._real0 = now
        self._start = start_ticks & _MASK
        self._ppm = ppm

    def true_us(self):
        return time.ticks_diff(time.ticks_us(), self.t0)

    def ticks_us(self):
        e = time.ticks_diff(time.ticks_us(), self._real0)
        if self._ppm:
            e += e * self._ppm // 1000000
        return (self._start + e) & _MASK

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, a, d):
        return (a + d) & _MASK


class StepClock(Clock):
    """A Clock whose time moves only by advance(): tests and benches step the firmware
    through time (vboard.Clock = StepClock before building a Board). pod_us(t): the pod's
    clock at true time t (ppm off; no allocation when ppm is 0)."""

    def __init__(self, t0_us=None, start_ticks=0, ppm=0):
        self.t0 = 0
        self._real0 = 0
        self._start = start_ticks & _MASK
        self._ppm = ppm
        self.t = 0

    def advance(self, us):
        self.t += us

    def true_us(self):
        return self.t

    def pod_us(self, t):
        return t + t * self._ppm // 1000000 if self._ppm else t

    def ticks_us(self):
        return (self._start + self.pod_us(self.t)) & _MASK
