# TDK InvenSense ICM-20948: accelerometer + gyroscope (the AK09916 magnetometer and the DMP
# are not used). I2C address 0x68 or 0x69; WHO_AM_I = 0xEA at bank 0, register 0x00.
#
# The chip: registers live in 4 banks chosen by REG_BANK_SEL (0x7F, bank in bits 5:4, in
# every bank). Bank 0 holds control, status, data (ACCEL_XOUT_H 0x2D .. GYRO_ZOUT_L 0x38,
# big-endian) and the FIFO; bank 2 holds the sensor configuration. After DEVICE_RESET
# (PWR_MGMT_1 bit 7) the chip sleeps in bank 0; we wake it with CLKSEL=1 (best clock).
# Gyro rate = 1.1 kHz / (1 + GYRO_SMPLRT_DIV) with its DLPF on (GYRO_CONFIG_1.FCHOICE=1),
# accel rate = 1.125 kHz / (1 + ACCEL_SMPLRT_DIV) (12 bits). Sensitivities as the MPU family:
# 16384/8192/4096/2048 LSB/g, 131/65.5/32.8/16.4 LSB/dps.
#
# Choice: DATA-REGISTER POLLING, not the FIFO. The two sensors run on different base clocks
# (1100 vs 1125 Hz), so with both in the FIFO their 6-byte records interleave irregularly
# and untagged: they can only be paired when the rates coincide, i.e. at 25 Hz and below.
# So the output rate is the gyro's, the accelerometer runs at the nearest rate >= it, and
# read() returns at most 1 sample per call. The FIFO holds the gyro alone (6 bytes per gyro
# sample) and serves as a sample counter: FIFO_COUNT = 6 means one new sample: the accel
# comes from the data registers (the latest), the gyro from those 6 FIFO bytes, read away so
# that a sample landing meanwhile stays counted for the next call and the gyro always
# belongs to the sample counted. FIFO_COUNT >= 12 means samples were missed: counted in
# `overflows` (a one-deep buffer that overflowed), the data registers are returned and the
# counter is cleared with FIFO_RST. The caller must poll faster than the output rate.
# Weaknesses: the accelerometer value is the latest at the data read (it runs on its own
# 1125 Hz-based grid anyway), so in a race it can be one sample newer than the gyro; a
# sample landing during the FIFO_RST that follows a miss is lost with the ones missed.

from pod import wire
from pod.imu import Driver
from pod.imu import G as _G, RAD as _RAD, pick as _pick

try:
    from micropython import const
except ImportError:
    def const(__x):
        return __x

ADDRESSES = (0x68, 0x69)
WHO = const(0xEA)

# bank 0
_WHO_AM_I = const(0x00)
_USER_CTRL = const(0x03)
_PWR_MGMT_1 = const(0x06)
_PWR_MGMT_2 = const(0x07)
_INT_ENABLE_2 = const(0x12)
_ACCEL_XOUT_H = const(0x2D)
_FIFO_EN_2 = const(0x67)
_FIFO_RST = const(0x68)
_FIFO_MODE = const(0x69)
_FIFO_COUNTH = const(0x70)
_FIFO_R_W = const(0x72)
_REG_BANK_SEL = const(0x7F)
# bank 2
_GYRO_SMPLRT_DIV = const(0x00)
_GYRO_CONFIG_1 = const(0x01)
_ODR_ALIGN_EN = const(0x09)
_ACCEL_SMPLRT_DIV_1 = const(0x10)
_ACCEL_SMPLRT_DIV_2 = const(0x11)
_ACCEL_CONFIG = const(0x14)

_ACC_G = (2, 4, 8, 16)
_GYR_DPS = (250, 500, 1000, 2000)
_GYR_LSB = (131.0, 65.5, 32.8, 16.4)
_GYR_BW = (197, 152, 120, 51, 24, 12, 6)    # GYRO_DLPFCFG 0..6, Hz
_ACC_BW = (246, 246, 111, 50, 24, 12, 6)    # ACCEL_DLPFCFG 0..6, Hz


def _dlpf(bw, odr):
    i = 0
    while i < len(bw) - 1 and bw[i] * 2 > odr:
        i += 1
    return i


def probe(i2c, addr):
    b = bytearray(1)
    try:
        i2c.readfrom_mem_into(addr, _WHO_AM_I, b)
        if b[0] != WHO:
            # an ICM left in another bank by a warm restart reads its bank back at 0x7F;
            # only then is it safe to write the bank select of a chip we do not know yet
            i2c.readfrom_mem_into(addr, _REG_BANK_SEL, b)
            if b[0] not in (0x10, 0x20, 0x30):
                return None
            b[0] = 0
            i2c.writeto_mem(addr, _REG_BANK_SEL, b)
            i2c.readfrom_mem_into(addr, _WHO_AM_I, b)
            if b[0] != WHO:
                return None
    except OSError:
        return None
    return Icm20948(i2c, addr)


class Icm20948(Driver):
    has_fifo = False

    def __init__(self, i2c, addr):
        Driver.__init__(self, i2c, addr, "ICM-20948")
        self._d = bytearray(12)
        self._g = bytearray(6)
        self._bank = -1

    def _sel(self, bank):
        if bank != self._bank:
            self._w(_REG_BANK_SEL, bank << 4)
            self._bank = bank

    def configure(self, rate_hz, acc_range_g, gyr_range_dps):
        self._sel(0)
        self._reset(_PWR_MGMT_1, 0x80, 0x80)    # DEVICE_RESET (returns to bank 0)
        self._bank = 0
        self._w(_PWR_MGMT_1, 0x01)              # awake, auto-select best clock
        self._w(_PWR_MGMT_2, 0x00)              # accel and gyro on
        self._w(_USER_CTRL, 0x00)
        self._w(_FIFO_EN_2, 0x00)
        self._w(_FIFO_MODE, 0x00)               # stream: overwrite when full
        self._w(_INT_ENABLE_2, 0x00)
        g = 0 if rate_hz >= 1100 else int(1100 // rate_hz) - 1
        g = 0 if g < 0 else (255 if g > 255 else g)
        a = (1125 * (1 + g)) // 1100 - 1        # accel rate >= gyro rate
        a = 0 if a < 0 else (4095 if a > 4095 else a)
        odr = 1100.0 / (1 + g)
        ia = _pick(_ACC_G, acc_range_g)
        ig = _pick(_GYR_DPS, gyr_range_dps)
        self._sel(2)
        self._w(_GYRO_SMPLRT_DIV, g)
        self._w(_GYRO_CONFIG_1, (_dlpf(_GYR_BW, odr) << 3) | (ig << 1) | 1)
        self._w(_ACCEL_SMPLRT_DIV_1, a >> 8)
        self._w(_ACCEL_SMPLRT_DIV_2, a & 0xFF)
        self._w(_ACCEL_CONFIG, (_dlpf(_ACC_BW, odr) << 3) | (ia << 1) | 1)
        self._w(_ODR_ALIGN_EN, 0x01)
        self._sel(0)
        self.odr_hz = odr
        self.acc_range_g = _ACC_G[ia]
        self.gyr_range_dps = _GYR_DPS[ig]
        self.acc_scale = _G / (16384 >> ia)
        self.gyr_scale = _RAD / _GYR_LSB[ig]

    def _clear_count(self):
        self._w(_FIFO_RST, 0x1F)
        self._w(_FIFO_RST, 0x00)

    def start(self):
        self._sel(0)
        self._w(_USER_CTRL, 0x00)
        self._w(_FIFO_EN_2, 0x0E)               # gyro x, y, z: the sample counter
        self._clear_count()
        self._w(_USER_CTRL, 0x40)               # FIFO_EN
        self.overflows = 0

    def stop(self):
        self._sel(0)
        self._w(_USER_CTRL, 0x00)
        self._w(_FIFO_EN_2, 0x00)

    def waiting(self):
        b = self._b2
        self._i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, b)
        return (((b[0] & 0x1F) << 8) | b[1]) // 6     # gyro records: samples made

    def read(self, buf, max_n):
        if max_n < 1:
            return 0
        i2c = self._i2c
        a = self.addr
        b = self._b2
        i2c.readfrom_mem_into(a, _FIFO_COUNTH, b)
        cnt = ((b[0] & 0x1F) << 8) | b[1]
        if cnt < 6:
            return 0
        d = self._d
        i2c.readfrom_mem_into(a, _ACCEL_XOUT_H, d)   # accel xyz, gyro xyz
        if cnt < 12:
            g = self._g                             # that sample's gyro, from the FIFO
            i2c.readfrom_mem_into(a, _FIFO_R_W, g)
            for j in range(6):
                d[6 + j] = g[j]
        else:
            self.overflows += 1                     # samples were missed
            self._clear_count()
        wire.copy_fast(d, 0, buf, 0, 12, 1)          # big-endian -> little-endian
        return 1
