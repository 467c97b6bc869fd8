# Tilt: the pod's own gravity-direction filter and the segment's sagittal angle, in integer
# fixed-point arithmetic (docs/standalone.md). Floats and ints >= 2**30 are heap objects on
# 32-bit ports (rp2): update() and angle_cdeg() use small ints only and allocate nothing.
#
# State: UP, the direction opposite to gravity (what a resting accelerometer reads) in the
# sensor frame, Q16 (65536 = 1).
# - gyro propagation: a vector fixed in the earth frame, seen from a sensor turning at w,
#   moves as dv/dt = v x w; per sample UP += UP x a, a = (gyro - bias) * period, in
#   2**-14 rad, with the rounding carried to the next sample (no drift from truncation);
# - the pod's accelerometer calibration (pod.json acc_cal): acc = G (raw - b), integers;
# - accelerometer correction: UP += k (acc/1g - UP), k = period / TAU_S (1/n at start-up),
#   weighted down to 0 for accelerations far from 1 g (ACC_GATE_*: impacts), rounding
#   carried. Since UP is carried by the gyro, this low-passes the accelerometer in a
#   quasi-inertial frame and gait accelerations average out; a tight gate (|acc| within 5 %
#   of 1 g) kept only some phases of each step and tilted the estimate by up to 11 deg in
#   simulated walking, so the gate only drops impacts (TAU_S, gates: bench/pod_fusion.py,
#   docs/standalone.md);
# - renormalization to |UP| = 1 after each sample (first order; exact when far off);
# - gyro bias: from the calibration (arm's gyr_bias_mdps) at start; at rest, the gyro's
#   low-pass (tau about 0.5 s) while every sample stays within REST_GYR_DPS of it and the
#   accelerometer within REST_ACC_M_S2 of its own low-pass for REST_S (VQF's rest detection
#   thresholds, Laidig & Seel 2023); in motion, the correction's integral term (Mahony et
#   al. 2008) on its horizontal components; kept (in the new range's counts) when the IMU
#   restarts.
# Segment angle (the host's definition, host/posturepod/motion/angles.py, in the sensor
# frame with Z = UP): theta = atan2(f.u, Z.u), f = normalize(m x Z), u cranial axis, m left
# axis. f.u = Z.(u x m) / |m x Z| and |m x Z| = sqrt(1 - (Z.m)^2), so
# theta = atan2(Z.w, (Z.u) sqrt(1 - (Z.m)^2)) with w = u x m fixed at arming: three dot
# products, an integer square root (Newton, warm-started) and atan2_cdeg (a 257-entry
# table of atan on [0, 1], linear interpolation: error < 0.001 deg).
import math
import sys
from array import array

if sys.implementation.name == "micropython":
    from micropython import const  # type: ignore[import-not-found]
else:
    def const(__x):  # noqa: D103
        return __x

ANGLE_NONE = const(-32768)
TAU_S = 3.0                # accelerometer correction time constant (seconds)
ACC_GATE_FULL = 1.0        # full correction while | |a|^2 - g^2 | < this * g^2 (|a| < 1.41 g),
ACC_GATE_ZERO = 2.0        # none beyond this (|a| > 1.73 g: impacts); linear between
REST_GYR_DPS = 2.0
REST_ACC_M_S2 = 0.5
REST_S = 1.5
BIAS_TAU_S = 60.0          # time constant of the bias estimate once settled (rest time)
KI_TAU_S = 30.0            # the correction's integral on the gyro bias: KI = 1 / (TAU_S KI_TAU_S)
_E_MAX = const(4096)       # its error clamp, Q16 rad (3.6 deg)
G_M_S2 = 9.80665
_A_MAX = const(4095)       # rotation per sample clamp, 2**-14 rad (0.25 rad)
_ACC_MAX = const(131071)   # accelerometer clamp, Q16 (2 g)
_Q16 = const(65536)
_Q24 = const(16777216)
_Q28 = const(268435456)


def _native(f):
    """Marks the per-sample functions. The firmware build also compiles this file with
    @micropython.native in their place, as the optional pod/tilt_native.mpy (posturepod's
    devices/firmware_build.py, native_variant); here they stay bytecode."""
    return f


def _atan_table():
    t = array("i", [0] * 257)
    for i in range(257):
        t[i] = int(math.atan(i / 256) * 180000.0 / math.pi + 0.5)
    return t


_ATAN = _atan_table()   # atan(i / 256) in millidegrees


@_native
def atan2_cdeg(y, x):
    """atan2(y, x) in centidegrees (-18000..18000), |x|, |y| < 2**16. Integer only."""
    ax = -x if x < 0 else x
    ay = -y if y < 0 else y
    if ax == 0 and ay == 0:
        return 0
    t = _ATAN
    if ay <= ax:
        r = (ay << 14) // ax
        i = r >> 6
        v = t[i] + (((t[i + 1] - t[i]) * (r & 63)) >> 6) if i < 256 else t[256]
    else:
        r = (ax << 14) // ay
        i = r >> 6
        v = 90000 - (t[i] + (((t[i + 1] - t[i]) * (r & 63)) >> 6) if i < 256 else t[256])
    if x < 0:
        v = 180000 - v
    v = (v + 5) // 10
    return -v if y < 0 else v


@_native
def isqrt(n, x=0):
    """floor(sqrt(n)) for 0 <= n < 2**30, Newton's method from the guess x (> 0)."""
    if n <= 0:
        return 0
    if x <= 0:
        x = 16384
    x = (x + n // x) >> 1      # now x >= floor(sqrt(n))
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def _fix(value, lo, hi):
    """(k, s) with value ~= k / 2**s and lo <= k < hi (lo, hi powers of two)."""
    s = 0
    while value * (1 << s) < lo and s < 40:
        s += 1
    k = int(value * (1 << s) + 0.5)
    while k >= hi:
        s -= 1
        k = int(value * (1 << s) + 0.5)
    return k, s


def check_gyr_bias(mdps):
    """None, or 3 integers (mdeg/s) within 50 deg/s; ValueError naming the field."""
    if mdps is not None:
        if not isinstance(mdps, list) or len(mdps) != 3:
            raise ValueError("gyr_bias_mdps must be 3 integers (mdeg/s) or null")
        for v in mdps:
            if not isinstance(v, int) or isinstance(v, bool) or not -50000 <= v <= 50000:
                raise ValueError("gyr_bias_mdps values must be integers -50000..50000")
    return mdps


class Tilt:
    def __init__(self):
        self.x = 0
        self.y = 0
        self.z = _Q16            # UP, Q16
        self.ready = False       # UP initialised from the accelerometer
        self.have_seg = False
        self.wx = self.wy = self.wz = 0      # u x m, Q14
        self.ux = self.uy = self.uz = 0      # cranial axis, Q14
        self.mx = self.my = self.mz = 0      # left axis, Q14
        self._h = 16384
        self.bx = self.by = self.bz = 0      # gyro bias, counts * 4096
        self._bn = 0             # rest samples used for the bias so far (saturating)
        self._bs = 0             # bias update shift now
        self.lx = self.ly = self.lz = 0      # gyro low-pass, counts * 256
        self.qx = self.qy = self.qz = 0      # accelerometer low-pass, counts * 16
        self._cx = self._cy = self._cz = 0   # gyro rotation rounding carry
        self._ex = self._ey = self._ez = 0   # correction rounding carry
        self._ix = self._iy = self._iz = 0   # bias integral's rounding carry
        self.rest_n = 0
        self.at_rest = False
        self.w2 = 0              # last sample's squared rate, (deg/s / 4)**2
        self.n = 0
        self._kn = 0             # samples since the estimate started (start-up gain)
        self._gyr_scale = 0.0    # rad/s per count, 0 until configured
        self._cal = False        # the pod's accelerometer calibration (pod.json acc_cal) on
        self._cbx = self._cby = self._cbz = 0                 # its bias, Q16 g
        self._d0 = self._d1 = self._d2 = self._d3 = self._d4 = self._d5 = 0  # gain - I, Q14
        self.configure(1.0 / 32768 * 1000 * math.pi / 180, 8 * G_M_S2 / 32768, 100.0)

    def configure(self, gyr_scale, acc_scale, odr_hz):
        """Fixed-point factors for a chip's scales (rad/s and m/s^2 per count) and output
        rate. Floats here only (at start), never per sample. The gyro bias (given or
        learned since) is kept across a restart of the IMU, in the new scale's counts."""
        if self._gyr_scale and gyr_scale != self._gyr_scale:
            r = self._gyr_scale / gyr_scale
            self.bx = int(self.bx * r)
            self.by = int(self.by * r)
            self.bz = int(self.bz * r)
        self._gyr_scale = gyr_scale
        per = 1.0 / odr_hz
        # gyro counts -> rotation per sample, 2**-14 rad: counts * kg >> sg
        kg, s = _fix(gyr_scale * per * 16384, 4096, 8192)
        self._kg, self._sg = kg, s
        # accelerometer counts -> Q16 g: counts * ka >> sa
        self._ka, self._sa = _fix(acc_scale / G_M_S2 * 65536, 1024, 2048)
        # correction gain per sample, Q16, and the sample count where the start-up's 1/n
        # reaches it
        self._k = max(1, int(65536 * per / TAU_S + 0.5))
        self._kn_end = 65536 // self._k
        # bias integral per sample: Q16 rad of error -> counts * 4096 of bias, * ki >> 16
        self._ki = int(per / (TAU_S * KI_TAU_S) / gyr_scale * 4096 + 0.5) if KI_TAU_S else 0
        self._gate0 = int(_Q24 * ACC_GATE_FULL)
        self._gate1 = int(_Q24 * ACC_GATE_ZERO)
        # low-pass shift for the rest detector: tau ~ 2**s / odr ~ 0.5 s
        s = 0
        while (1 << (s + 1)) <= odr_hz * 0.5:
            s += 1
        self._lp = s
        self._rest_g = int(REST_GYR_DPS * math.pi / 180 / gyr_scale * 256)   # counts * 256
        self._rest_a = int(REST_ACC_M_S2 / acc_scale * 16)                  # counts * 16
        self._rest_n = int(REST_S * odr_hz + 0.5)
        s = 0
        while (1 << (s + 1)) <= odr_hz * BIAS_TAU_S:
            s += 1
        self._bs_max = s
        if self._bs > s:
            self._bs = s
        # gyro counts -> 1/4 deg/s: counts * km >> sm
        self._km, self._sm = _fix(gyr_scale * 180 / math.pi * 4, 1024, 2048)

    def set_gyr_bias(self, mdps):
        """The gyro bias to start from (x, y, z in millidegrees per second, sensor frame:
        the calibration's, given by the host at arming), or None: keep the present estimate
        (0 at first, then learned at rest). Given, the rest estimate refines it slowly
        (BIAS_TAU_S) instead of replacing it: a segment that never rests long enough keeps
        the calibration's bias."""
        mdps = check_gyr_bias(mdps)
        if mdps is None:
            return
        k = math.pi / 180000 / self._gyr_scale * 4096         # mdeg/s -> counts * 4096
        self.bx = int(mdps[0] * k)
        self.by = int(mdps[1] * k)
        self.bz = int(mdps[2] * k)
        self._bs = self._bs_max
        self._bn = 0

    def set_acc_cal(self, cal):
        """The accelerometer's own calibration (pod.json ``acc_cal``, the host's
        recordings/acc_calibration.py: a = gain (raw - bias), bias m/s^2, gain symmetric
        and within 0.08 of the identity, checked by pod/config.py), or None. Independent of
        the chip's scales (it works on the Q16 g of configure's conversion)."""
        self._cal = False
        if not cal:
            return
        q = 65536 / G_M_S2
        b = cal["bias_m_s2"]
        self._cbx = int(b[0] * q)
        self._cby = int(b[1] * q)
        self._cbz = int(b[2] * q)
        g = cal["gain"]
        # symmetric: 6 numbers, G - I in Q14 (|d| <= 0.08 * 16384 = 1311, so the three
        # products of a row stay under 2**30 with |a| <= 2.2 g in Q16)
        self._d0 = int((g[0] - 1) * 16384)
        self._d1 = int(g[1] * 16384)
        self._d2 = int(g[2] * 16384)
        self._d3 = int((g[4] - 1) * 16384)
        self._d4 = int(g[5] * 16384)
        self._d5 = int((g[8] - 1) * 16384)
        self._cal = True

    def reset(self):
        self.ready = False
        self.rest_n = 0
        self.at_rest = False

    def set_segment(self, q14):
        """Segment axes (rows x anterior, y left, z cranial) in the sensor frame, Q14 ints
        (9, row-major), or None."""
        if q14 is None:
            self.have_seg = False
            return
        if len(q14) != 9:
            raise ValueError("seg_q14 must hold 9 integers")
        for v in q14:
            if not isinstance(v, int) or v < -32768 or v > 32767:
                raise ValueError("seg_q14 values must be integers -32768..32767 (Q14)")
        mx, my, mz = q14[3], q14[4], q14[5]
        ux, uy, uz = q14[6], q14[7], q14[8]
        for a, b, c in ((mx, my, mz), (ux, uy, uz)):
            n2 = a * a + b * b + c * c
            if not 0.9 * _Q28 < n2 < 1.1 * _Q28:
                raise ValueError("seg_q14 rows must be unit vectors (16384 = 1)")
        self.mx, self.my, self.mz = mx, my, mz
        self.ux, self.uy, self.uz = ux, uy, uz
        self.wx = (uy * mz - uz * my) >> 14
        self.wy = (uz * mx - ux * mz) >> 14
        self.wz = (ux * my - uy * mx) >> 14
        self.have_seg = True

    @_native
    def update(self, buf, o):
        """One IMU sample: 6 little-endian int16 at buf[o:o + 12] (acc xyz, gyr xyz)."""
        ax = buf[o] | (buf[o + 1] << 8)
        if ax > 32767:
            ax -= 65536
        ay = buf[o + 2] | (buf[o + 3] << 8)
        if ay > 32767:
            ay -= 65536
        az = buf[o + 4] | (buf[o + 5] << 8)
        if az > 32767:
            az -= 65536
        gx = buf[o + 6] | (buf[o + 7] << 8)
        if gx > 32767:
            gx -= 65536
        gy = buf[o + 8] | (buf[o + 9] << 8)
        if gy > 32767:
            gy -= 65536
        gz = buf[o + 10] | (buf[o + 11] << 8)
        if gz > 32767:
            gz -= 65536
        self.n += 1
        # rest detector and gyro bias (counts * 256)
        lp = self._lp
        gx8 = gx << 8
        gy8 = gy << 8
        gz8 = gz << 8
        self.lx += (gx8 - self.lx) >> lp
        self.ly += (gy8 - self.ly) >> lp
        self.lz += (gz8 - self.lz) >> lp
        ax4 = ax << 4
        ay4 = ay << 4
        az4 = az << 4
        self.qx += (ax4 - self.qx) >> lp
        self.qy += (ay4 - self.qy) >> lp
        self.qz += (az4 - self.qz) >> lp
        tg = self._rest_g
        ta = self._rest_a
        if (-tg < gx8 - self.lx < tg and -tg < gy8 - self.ly < tg and -tg < gz8 - self.lz < tg
                and -ta < ax4 - self.qx < ta and -ta < ay4 - self.qy < ta
                and -ta < az4 - self.qz < ta):
            self.rest_n += 1
            if self.rest_n >= self._rest_n:
                self.at_rest = True
                # bias (counts * 4096) follows the low-pass, fast at first (about the
                # mean of the rest samples so far), then with a time constant of BIAS_TAU_S
                s = self._bs
                if s < self._bs_max:
                    self._bn += 1
                    if self._bn >= (2 << s):
                        s += 1
                        self._bs = s
                self.bx += ((self.lx << 4) - self.bx) >> s
                self.by += ((self.ly << 4) - self.by) >> s
                self.bz += ((self.lz << 4) - self.bz) >> s
        else:
            self.rest_n = 0
            self.at_rest = False
        gx = (gx8 - (self.bx >> 4)) >> 8
        gy = (gy8 - (self.by >> 4)) >> 8
        gz = (gz8 - (self.bz >> 4)) >> 8
        # angular rate for the motion measure, (1/4 deg/s)**2
        km = self._km
        sm = self._sm
        mx = (gx * km) >> sm
        my = (gy * km) >> sm
        mz = (gz * km) >> sm
        mx = 1023 if mx > 1023 else (-1023 if mx < -1023 else mx)
        my = 1023 if my > 1023 else (-1023 if my < -1023 else my)
        mz = 1023 if mz > 1023 else (-1023 if mz < -1023 else mz)
        self.w2 = mx * mx + my * my + mz * mz
        # accelerometer in Q16 g (clamped to 2 g)
        ka = self._ka
        sa = self._sa
        ax = (ax * ka) >> sa
        ay = (ay * ka) >> sa
        az = (az * ka) >> sa
        if self._cal:
            ax -= self._cbx
            ay -= self._cby
            az -= self._cbz
            ax = _ACC_MAX if ax > _ACC_MAX else (-_ACC_MAX if ax < -_ACC_MAX else ax)
            ay = _ACC_MAX if ay > _ACC_MAX else (-_ACC_MAX if ay < -_ACC_MAX else ay)
            az = _ACC_MAX if az > _ACC_MAX else (-_ACC_MAX if az < -_ACC_MAX else az)
            d1 = self._d1
            d2 = self._d2
            d4 = self._d4
            cx = ax + ((self._d0 * ax + d1 * ay + d2 * az) >> 14)
            cy = ay + ((d1 * ax + self._d3 * ay + d4 * az) >> 14)
            az = az + ((d2 * ax + d4 * ay + self._d5 * az) >> 14)
            ax = cx
            ay = cy
        ax = _ACC_MAX if ax > _ACC_MAX else (-_ACC_MAX if ax < -_ACC_MAX else ax)
        ay = _ACC_MAX if ay > _ACC_MAX else (-_ACC_MAX if ay < -_ACC_MAX else ay)
        az = _ACC_MAX if az > _ACC_MAX else (-_ACC_MAX if az < -_ACC_MAX else az)
        a2 = (ax >> 4) * (ax >> 4) + (ay >> 4) * (ay >> 4) + (az >> 4) * (az >> 4)  # Q24
        if not self.ready:
            if a2 < _Q24 >> 4:
                return
            n = isqrt(a2, 4096)          # Q12
            self.x = (ax << 12) // n
            self.y = (ay << 12) // n
            self.z = (az << 12) // n
            self.ready = True
            self._kn = 32
            return
        x = self.x
        y = self.y
        z = self.z
        # gyro propagation: UP += UP x a
        kg = self._kg
        sg = self._sg
        c = gx * kg + self._cx
        rx = c >> sg
        self._cx = c - (rx << sg)
        c = gy * kg + self._cy
        ry = c >> sg
        self._cy = c - (ry << sg)
        c = gz * kg + self._cz
        rz = c >> sg
        self._cz = c - (rz << sg)
        rx = _A_MAX if rx > _A_MAX else (-_A_MAX if rx < -_A_MAX else rx)
        ry = _A_MAX if ry > _A_MAX else (-_A_MAX if ry < -_A_MAX else ry)
        rz = _A_MAX if rz > _A_MAX else (-_A_MAX if rz < -_A_MAX else rz)
        nx = x + ((y * rz - z * ry + 8192) >> 14)
        ny = y + ((z * rx - x * rz + 8192) >> 14)
        nz = z + ((x * ry - y * rx + 8192) >> 14)
        # accelerometer correction, gain weighted by | |a|^2 - 1 |
        d = a2 - _Q24
        if d < 0:
            d = -d
        if d < self._gate1:
            k = self._k
            kn = self._kn
            if kn < self._kn_end:
                # start-up: the running mean of the accelerometer (in the gyro-carried
                # frame) until 1/n falls to k; from 1/32 so the products stay small ints
                kn += 1
                self._kn = kn
                if 65536 // kn > k:
                    k = 65536 // kn
            if d > self._gate0:
                k = k * (self._gate1 - d) // (self._gate1 - self._gate0)
            c = (ax - nx) * k + self._ex
            e = c >> 16
            self._ex = c - (e << 16)
            nx += e
            c = (ay - ny) * k + self._ey
            e = c >> 16
            self._ey = c - (e << 16)
            ny += e
            c = (az - nz) * k + self._ez
            e = c >> 16
            self._ez = c - (e << 16)
            nz += e
        # gyro bias from the correction (the integral term of a complementary filter, as
        # in Mahony et al. 2008): UP x acc is the rotation the gyro missed; its horizontal
        # part feeds the bias slowly (time constant TAU_S * KI_TAU_S), clamped so that a
        # jolt or a stretch of gait moves it little. Only while the accelerometer is near
        # 1 g (full correction).
        ki = self._ki
        if ki and d < self._gate0:
            x >>= 4
            y >>= 4
            z >>= 4
            ax >>= 4
            ay >>= 4
            az >>= 4
            e = (y * az - z * ay) >> 8                  # Q16 rad
            e = _E_MAX if e > _E_MAX else (-_E_MAX if e < -_E_MAX else e)
            c = e * ki + self._ix
            e = c >> 16
            self._ix = c - (e << 16)
            self.bx += e
            e = (z * ax - x * az) >> 8
            e = _E_MAX if e > _E_MAX else (-_E_MAX if e < -_E_MAX else e)
            c = e * ki + self._iy
            e = c >> 16
            self._iy = c - (e << 16)
            self.by += e
            e = (x * ay - y * ax) >> 8
            e = _E_MAX if e > _E_MAX else (-_E_MAX if e < -_E_MAX else e)
            c = e * ki + self._iz
            e = c >> 16
            self._iz = c - (e << 16)
            self.bz += e
        # renormalize
        n2 = (nx >> 2) * (nx >> 2) + (ny >> 2) * (ny >> 2) + (nz >> 2) * (nz >> 2)   # Q28
        e = (_Q28 - n2) >> 12                                                   # Q16
        if -4096 < e < 4096:
            nx += (nx * e) >> 17
            ny += (ny * e) >> 17
            nz += (nz * e) >> 17
        else:
            n = isqrt(n2, 16384)         # Q14
            if n == 0:
                self.ready = False
                return
            nx = (nx << 14) // n
            ny = (ny << 14) // n
            nz = (nz << 14) // n
        self.x = nx
        self.y = ny
        self.z = nz

    @_native
    def angle_cdeg(self):
        """The segment's sagittal angle now, centidegrees; ANGLE_NONE without a segment
        matrix or an estimate (or with the left axis vertical)."""
        if not (self.ready and self.have_seg):
            return ANGLE_NONE
        zx = self.x >> 2
        zy = self.y >> 2
        zz = self.z >> 2                  # Q14
        zm = (zx * self.mx + zy * self.my + zz * self.mz) >> 14
        hh = _Q28 - zm * zm
        if hh <= 0:
            return ANGLE_NONE
        h = isqrt(hh, self._h)
        self._h = h
        if h == 0:
            return ANGLE_NONE
        zu = (zx * self.ux + zy * self.uy + zz * self.uz) >> 14
        zw = (zx * self.wx + zy * self.wy + zz * self.wz) >> 14
        return atan2_cdeg(zw, (zu * h) >> 14)

    def up_q14(self, i):
        """Component i (0 x, 1 y, 2 z) of UP in Q14."""
        return (self.x if i == 0 else (self.y if i == 1 else self.z)) >> 2


# The same filter as native code where the board can run it (pod/tilt_native.mpy, built
# from this file: its Tilt calls its own native atan2_cdeg and isqrt): bit for bit the same
# integer arithmetic (tests/test_tilt.py), faster (bench/pod_fusion.py). BytecodeTilt stays
# this module's own class, and the module's functions stay bytecode.
BytecodeTilt = Tilt
NATIVE = False
if sys.implementation.name == "micropython" and __name__ == "pod.tilt":
    try:
        from pod.tilt_native import Tilt  # pyright: ignore[reportMissingImports]  # noqa: F811
        NATIVE = True
    except Exception:  # not installed, or a .mpy for another architecture
        pass
