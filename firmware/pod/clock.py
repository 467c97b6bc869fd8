# The pod's device time: the board's ticks_us (period 2**30 on 32-bit ports, other periods
# elsewhere) unwrapped with ticks_diff into a microsecond counter kept as three small ints,
# so that nothing becomes a heap-allocated big int on a 32-bit port:
#   time_us = wraps * 2**32 + hi * 2**16 + lo
# update() must run more often than half the ticks period (9 minutes on a 32-bit port).


class DeviceClock:
    def __init__(self, ticks_us, ticks_diff, start_us=0):
        self._ticks_us = ticks_us
        self._ticks_diff = ticks_diff
        self._last = ticks_us()
        # start_us (tests only): begin near 2**32 to exercise the host's unwrapping
        self.lo = start_us & 0xFFFF
        self.hi = (start_us >> 16) & 0xFFFF
        self.wraps = start_us >> 32

    def update(self):
        t = self._ticks_us()
        d = self._ticks_diff(t, self._last)
        self._last = t
        if d <= 0:
            return
        lo = self.lo + d
        if lo > 0xFFFF:
            hi = self.hi + (lo >> 16)
            lo &= 0xFFFF
            if hi > 0xFFFF:
                self.wraps += hi >> 16
                hi &= 0xFFFF
            self.hi = hi
        self.lo = lo

    def since(self, lo, hi):
        """Microseconds from the time (lo, hi) (mod 2**32) to now; assumes < 2**29."""
        dh = (self.hi - hi) & 0xFFFF
        if dh > 0x1FFF:
            return 0x1FFFFFFF
        return (dh << 16) + self.lo - lo
