# Register-level model of the InvenSense MPU-6050 / MPU-6500 / MPU-9250 (accel + gyro; the
# 9250's AK8963 magnetometer is not modelled). Also holds the helpers the other chip models
# share (Ticker, Ring, mult, counts, put16) and the sampling/FIFO core (Core) that the
# ICM-20948 and LSM6DS models build on.
#
# What is modelled (register map of the datasheets, register addresses in decimal in the
# "Register Map and Descriptions" documents):
#   0x19 SMPLRT_DIV, 0x1A CONFIG (DLPF_CFG 2:0, FIFO_MODE bit 6 on 6500/9250), 0x1B
#   GYRO_CONFIG (FS_SEL 4:3, FCHOICE_B 1:0 on 6500/9250), 0x1C ACCEL_CONFIG (AFS_SEL 4:3),
#   0x1D ACCEL_CONFIG2 (stored), 0x23 FIFO_EN (TEMP 7, XG 6, YG 5, ZG 4, ACCEL 3),
#   0x38 INT_ENABLE (FIFO_OFLOW_EN 4, DATA_RDY_EN 0), 0x3A INT_STATUS (same bits, cleared
#   when read), 0x3B..0x48 ACCEL/TEMP/GYRO_OUT (big-endian), 0x6A USER_CTRL (FIFO_EN 6,
#   FIFO_RESET 2 self-clearing), 0x6B PWR_MGMT_1 (DEVICE_RESET 7 self-clearing, SLEEP 6),
#   0x72/0x73 FIFO_COUNT (big-endian), 0x74 FIFO_R_W, 0x75 WHO_AM_I.
# Sample rate: 1 kHz / (1 + SMPLRT_DIV) with the DLPF on (DLPF_CFG 1..6), 8 kHz gyro rate
# otherwise (the divider then divides 8 kHz). Samples exist only while awake.
# FIFO: 1024 bytes (6050) or 512 (6500/9250), records in register order (accel, temp, gyro)
# for the enabled FIFO_EN bits. When full, a new record overwrites the oldest BYTES (so the
# record alignment is lost, as on the chip: the driver must reset the FIFO after an overflow);
# FIFO_MODE=1 (6500/9250) drops the new record instead. Overflow sets FIFO_OFLOW_INT if it is
# enabled in INT_ENABLE. Burst reads auto-increment the register address, except on FIFO_R_W.
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
    def __init__(self, cap, mod=1):
        self.buf = bytearray(cap)
        self.cap = cap
        self.mod = mod
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


def put16(buf, o, v, big):
    v &= 0xFFFF
    if big:
        buf[o] = v >> 8
        buf[o + 1] = v & 0xFF
    else:
        buf[o] = v & 0xFF
        buf[o + 1] = v >> 8


class Core:
    # Sampling + FIFO core of the chip models. _init_core() sets up: data (14 bytes, the
    # output registers in register order), ao/go (offsets of accel x / gyro x in data), big
    # (byte order), sel/rec_len (FIFO bytes per sample: data index of each byte), ma/mg
    # (multipliers), tick, fifo. A subclass provides the hooks _fifo_on(), _overwrite(),
    # _overflow(), _ready() and may replace _push().
    def _init_core(self, source, clock, cap, ao, go, big=True, mod=1):
        self.src = source
        self.clock = clock
        self.s = array("i", [0] * 9)
        self.data = bytearray(14)
        self.ao = ao
        self.go = go
        self.big = big
        self.rec = bytearray(14)
        self.sel = bytearray(14)       # data index of each FIFO record byte
        self.rec_len = 0
        self.fifo = Ring(cap, mod)
        self.tick = Ticker(clock)
        self.ma = 0
        self.mg = 0

    def _sample(self):
        s = self.s
        self.src.fill(self.tick.t_us(), s)
        d = self.data
        big = self.big
        for i in range(3):
            put16(d, self.ao + 2 * i, counts(s[i], self.ma), big)
            put16(d, self.go + 2 * i, counts(s[3 + i], self.mg), big)

    def _push(self):
        n = self.rec_len
        rec = self.rec
        sel = self.sel
        d = self.data
        for i in range(n):
            rec[i] = d[sel[i]]
        if self.fifo.push(rec, n, self._overwrite()):
            self._overflow()

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


_WHO = {"MPU-6050": 0x68, "MPU-6500": 0x70, "MPU-9250": 0x71, "MPU-9255": 0x73}
_GYR_LSB10 = (1310, 655, 328, 164)      # LSB per dps, x10
_SMPLRT_DIV = 0x19
_CONFIG = 0x1A
_GYRO_CONFIG = 0x1B
_ACCEL_CONFIG = 0x1C
_FIFO_EN = 0x23
_INT_ENABLE = 0x38
_INT_STATUS = 0x3A
_DATA = 0x3B              # 14 bytes: accel xyz, temp, gyro xyz
_USER_CTRL = 0x6A
_PWR_MGMT_1 = 0x6B
_FIFO_COUNTH = 0x72
_FIFO_COUNTL = 0x73
_FIFO_R_W = 0x74
_WHO_AM_I = 0x75


class Mpu6050(Core):
    ADDRESSES = (0x68, 0x69)

    def __init__(self, source, clock, variant="MPU-6050"):
        if variant not in _WHO:
            raise ValueError("unknown MPU variant " + variant)
        self.variant = variant
        self.is6050 = variant == "MPU-6050"
        self.regs = bytearray(128)
        self._init_core(source, clock, 1024 if self.is6050 else 512, 0, 8)
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(128):
            r[i] = 0
        for i in range(14):
            self.data[i] = 0
        r[_PWR_MGMT_1] = 0x40 if self.is6050 else 0x01
        r[_WHO_AM_I] = _WHO[self.variant]
        self.fifo.clear()
        self.rec_len = 0
        self._scales()
        self._rate()

    def _scales(self):
        afs = (self.regs[_ACCEL_CONFIG] >> 3) & 3
        fs = (self.regs[_GYRO_CONFIG] >> 3) & 3
        self.ma = mult(16384 >> afs, G_TRACE)
        self.mg = mult(_GYR_LSB10[fs] * 180 * 1000, 10 * PI_E9)

    def _rate(self):
        r = self.regs
        if r[_PWR_MGMT_1] & 0x40:
            self.tick.stop()
            return
        dlpf = r[_CONFIG] & 7
        base = 1000
        if dlpf == 0 or dlpf == 7 or (not self.is6050 and r[_GYRO_CONFIG] & 3):
            base = 8000
        self.tick.start(base, 1 + r[_SMPLRT_DIV])

    def _fifo_sel(self):
        f = self.regs[_FIFO_EN]
        n = 0
        sel = self.sel
        if f & 0x08:
            for i in range(6):
                sel[n] = i
                n += 1
        if f & 0x80:
            sel[n] = 6
            sel[n + 1] = 7
            n += 2
        for ax in range(3):
            if f & (0x40 >> ax):
                sel[n] = 8 + 2 * ax
                sel[n + 1] = 9 + 2 * ax
                n += 2
        self.rec_len = n

    def _fifo_on(self):
        return self.regs[_USER_CTRL] & 0x40

    def _overwrite(self):
        return self.is6050 or not (self.regs[_CONFIG] & 0x40)

    def _overflow(self):
        if self.regs[_INT_ENABLE] & 0x10:
            self.regs[_INT_STATUS] |= 0x10

    def _ready(self):
        if self.regs[_INT_ENABLE] & 0x01:
            self.regs[_INT_STATUS] |= 0x01

    def read_into(self, reg, buf):
        self._update()
        r = self.regs
        for i in range(len(buf)):
            reg &= 0x7F
            if reg == _FIFO_R_W:
                buf[i] = self.fifo.pop()
                continue
            if reg == _FIFO_COUNTH:
                buf[i] = self.fifo.n >> 8
            elif reg == _FIFO_COUNTL:
                buf[i] = self.fifo.n & 0xFF
            elif reg == _INT_STATUS:
                buf[i] = r[reg]
                r[reg] = 0
            elif _DATA <= reg < _DATA + 14:
                buf[i] = self.data[reg - _DATA]
            else:
                buf[i] = r[reg]
            reg += 1

    def write(self, reg, buf):
        self._update()
        r = self.regs
        for i in range(len(buf)):
            reg &= 0x7F
            v = buf[i]
            if reg == _PWR_MGMT_1:
                if v & 0x80:
                    self._reset()
                else:
                    r[reg] = v
                    self._rate()
            elif reg == _USER_CTRL:
                if v & 0x04:
                    self.fifo.clear()
                r[reg] = v & 0x70
            elif reg == _FIFO_R_W:
                continue   # writing the FIFO is not modelled (and no auto-increment)
            elif reg == _WHO_AM_I or reg == _INT_STATUS or reg == _FIFO_COUNTH or \
                    reg == _FIFO_COUNTL or _DATA <= reg < _DATA + 14:
                pass   # read-only
            else:
                r[reg] = v
                if reg == _ACCEL_CONFIG or reg == _GYRO_CONFIG:
                    self._scales()
                if reg == _SMPLRT_DIV or reg == _CONFIG or reg == _GYRO_CONFIG:
                    self._rate()
                if reg == _FIFO_EN:
                    self._fifo_sel()
            reg += 1
