# What the register-level chip models (mpu6050, icm20948, lsm6ds) have in common: the sample
# grid on the true clock (Ticker), a byte FIFO (Ring), and Chip, which turns the motion
# source into counts at the configured ranges, keeps the 14 data registers, pushes FIFO
# records with the chip's overflow behaviour and runs the register read/write loops. A model
# keeps its register map, reset values, the decoding of its configuration registers, its
# FIFO record layout and status registers, and its quirks (the hooks of Chip).
#
# Time: samples sit on a grid t_start + k * period of the true clock, t_start being the wake
# or the last rate change. The model catches up lazily at the start of every bus access.
# Steady state allocates nothing (integer arithmetic on small ints, preallocated buffers).
from array import array

G_TRACE = 980665          # 1 g in source units (1e-5 m/s^2)
PI_E9 = 3141592654        # pi * 1e9
SHIFT = 30
_HALF = 1 << (SHIFT - 1)


def mult(num, den):
    # integer multiplier m with counts = (v * m + _HALF) >> SHIFT == round(v * num / den)
    return (num * (1 << (SHIFT + 1)) + den) // (2 * den)


def counts(v, m):
    c = (v * m + _HALF) >> SHIFT
    if c > 32767:
        return 32767
    if c < -32768:
        return -32768
    return c


def put16(buf, o, v, big):
    v &= 0xFFFF
    if big:
        buf[o] = v >> 8
        buf[o + 1] = v & 0xFF
    else:
        buf[o] = v & 0xFF
        buf[o + 1] = v >> 8


class Ticker:
    # Sample grid: next sample at (acc / den) us; one period = per / den us (exact).
    def __init__(self, clock):
        self.clock = clock
        self.on = False
        self.acc = 0
        self.per = 1
        self.den = 1

    def start(self, hz_num, hz_den):
        # rate = hz_num / hz_den Hz -> period = 1e6 * hz_den / hz_num us
        self.den = hz_num
        self.per = 1000000 * hz_den
        self.acc = self.clock.true_us() * hz_num + self.per
        self.on = True

    def stop(self):
        self.on = False

    def due(self):
        # number of grid points reached by now (not consumed)
        if not self.on:
            return 0
        nd = self.clock.true_us() * self.den
        if nd < self.acc:
            return 0
        return (nd - self.acc) // self.per + 1

    def t_us(self):
        return self.acc // self.den

    def step(self, k):
        self.acc += k * self.per


class Ring:
    # Byte FIFO. phase = bytes removed since clear, modulo `mod` (pattern position).
    def __init__(self, cap):
        self.buf = bytearray(cap)
        self.cap = cap
        self.mod = 1
        self.r = 0
        self.n = 0
        self.phase = 0

    def clear(self):
        self.r = 0
        self.n = 0
        self.phase = 0

    def _drop(self, k):
        self.r = (self.r + k) % self.cap
        self.n -= k
        self.phase = (self.phase + k) % self.mod

    def push(self, src, length, overwrite):
        # returns True when data was lost (oldest bytes overwritten or the record dropped)
        lost = False
        extra = self.n + length - self.cap
        if extra > 0:
            if not overwrite:
                return True
            self._drop(extra)
            lost = True
        b = self.buf
        cap = self.cap
        w = (self.r + self.n) % cap
        for i in range(length):
            b[w] = src[i]
            w += 1
            if w == cap:
                w = 0
        self.n += length
        return lost

    def pop(self):
        if self.n == 0:
            return 0
        v = self.buf[self.r]
        self._drop(1)
        return v

    def pop_into(self, dst, i):
        # dst[i:] = the oldest bytes, then 0 once empty (as that many pop() calls)
        k = min(len(dst) - i, self.n)
        b = self.buf
        cap = self.cap
        r = self.r
        for j in range(i, i + k):
            dst[j] = b[r]
            r += 1
            if r == cap:
                r = 0
        for j in range(i + k, len(dst)):
            dst[j] = 0
        self._drop(k)


class Chip:
    # State: regs (nregs configuration bytes), data (the 14 output registers in register
    # order, at address d0), ao/go (data offsets of accel x / gyro x), big (byte order), ma/mg
    # (count multipliers, see _ranges), tick (sample grid), fifo, sel/rec_len (FIFO record:
    # data index of each byte, see _pick), port (FIFO data register that a burst does not
    # advance past, or -1).
    # Hooks of a model:
    #   _defaults()     reset values (regs and data are zeroed and the FIFO emptied before)
    #   _config()       decode the configuration registers after a reset
    #   _fifo_on()      samples go to the FIFO (if rec_len too)
    #   _overwrite()    a full FIFO loses its oldest bytes (true) or the new record (false)
    #   _overflow()     FIFO data was lost
    #   _ready()        new samples are in the data registers
    #   _get(reg)       the value a read of reg returns (Chip._get: data and plain registers)
    #   _put(reg, v)    a write of reg; returns True when the burst ends there (a reset)
    #   _next(reg, rd)  the address after reg in a burst read (rd) or write
    # and may replace _push() (default: the rec_len data bytes picked by sel).
    def __init__(self, source, clock, nregs, d0, ao, go, cap, big=True, port=-1):
        self.src = source
        self.clock = clock
        self.s = array("i", [0] * 9)
        self.regs = bytearray(nregs)
        self.data = bytearray(14)
        self.d0 = d0
        self.ao = ao
        self.go = go
        self.big = big
        self.port = port
        self.rec = bytearray(14)
        self.sel = bytearray(14)
        self.rec_len = 0
        self.fifo = Ring(cap)
        self.tick = Ticker(clock)
        self.ma = 0
        self.mg = 0
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(len(r)):
            r[i] = 0
        for i in range(14):
            self.data[i] = 0
        self.fifo.clear()
        self.rec_len = 0
        self._defaults()
        self._config()

    def _ranges(self, a_num, a_den, g_num, g_den):
        # accelerometer a_num / a_den LSB per g, gyroscope g_num / g_den LSB per dps
        self.ma = mult(a_num, a_den * G_TRACE)
        self.mg = mult(g_num * 180000, g_den * PI_E9)

    def _pick(self, n, first, count):
        # append data[first:first + count] to the FIFO record of n bytes; returns its length
        for i in range(count):
            self.sel[n + i] = first + i
        return n + count

    def _sample(self):
        s = self.s
        self.src.fill(self.tick.t_us(), s)
        d = self.data
        big = self.big
        for i in range(3):
            put16(d, self.ao + 2 * i, counts(s[i], self.ma), big)
            put16(d, self.go + 2 * i, counts(s[3 + i], self.mg), big)

    def _store(self, rec, n):
        if self.fifo.push(rec, n, self._overwrite()):
            self._overflow()

    def _push(self):
        n = self.rec_len
        rec = self.rec
        sel = self.sel
        d = self.data
        for i in range(n):
            rec[i] = d[sel[i]]
        self._store(rec, n)

    def _update(self):
        tk = self.tick
        k = tk.due()
        if k == 0:
            return
        if not (self.rec_len and self._fifo_on()):
            tk.step(k - 1)
            self._sample()
            tk.step(1)
        else:
            most = self.fifo.cap // self.rec_len + 2
            if k > most:
                # more records than the FIFO holds: only `most` of them can matter
                self._overflow()
                if self._overwrite():
                    tk.step(k - most)      # overwritten anyway
                else:
                    for _ in range(most):  # these fill it, the rest are dropped
                        self._sample()
                        self._push()
                        tk.step(1)
                    tk.step(k - most - 1)
                    self._sample()         # data registers: the newest sample
                    tk.step(1)
                    most = 0
                k = most
            for _ in range(k):
                self._sample()
                self._push()
                tk.step(1)
        self._ready()

    def _get(self, reg):
        # the data registers, else the stored byte
        o = reg - self.d0
        if 0 <= o < 14:
            return self.data[o]
        return self.regs[reg]

    def _take(self, reg):
        # a register cleared when read
        v = self.regs[reg]
        self.regs[reg] = 0
        return v

    def _next(self, reg, rd):
        # auto-increment, except on the FIFO port
        return reg if reg == self.port else reg + 1

    def read_into(self, reg, buf):
        self._update()
        i = 0
        while i < len(buf):
            reg &= 0x7F
            if reg == self.port:
                self.fifo.pop_into(buf, i)     # the rest of the burst
                return
            buf[i] = self._get(reg)
            reg = self._next(reg, True)
            i += 1

    def write(self, reg, buf):
        self._update()
        for i in range(len(buf)):
            reg &= 0x7F
            if self._put(reg, buf[i]):
                return
            reg = self._next(reg, False)

    # The bus one byte at a time, as the emulated Pico's I2C controller carries it (it
    # cannot know a burst's length in advance): begin() when the chip is addressed (the
    # samples due by then are taken, so a burst reads one consistent set), then
    # read_byte(reg) -> (value, next reg) and write_byte(reg, v) -> next reg (-1: the
    # burst ends there, after a reset).
    def begin(self):
        self._update()

    def read_byte(self, reg):
        reg &= 0x7F
        if reg == self.port:
            return self.fifo.pop(), reg
        return self._get(reg), self._next(reg, True)

    def write_byte(self, reg, v):
        reg &= 0x7F
        if self._put(reg, v):
            return -1
        return self._next(reg, False)
