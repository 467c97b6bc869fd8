# InvenSense MPU-6050 / MPU-6500 / MPU-9250 (and MPU-9255): accelerometer + gyroscope part.
#
# The chip: WHO_AM_I (0x75) is 0x68 (6050), 0x70 (6500), 0x71 (9250) or 0x73 (9255); I2C
# address 0x68 or 0x69 (AD0 pin). After DEVICE_RESET (PWR_MGMT_1 bit 7, self-clearing) the
# chip sleeps (6050) and runs on its internal oscillator; we wake it with the gyro PLL as
# clock (CLKSEL=1). With the DLPF on (CONFIG.DLPF_CFG 1..6) the internal rate is 1 kHz and
# the output/FIFO rate is 1 kHz / (1 + SMPLRT_DIV). Ranges: ACCEL_CONFIG.AFS_SEL ±2/4/8/16 g
# (16384/8192/4096/2048 LSB/g), GYRO_CONFIG.FS_SEL ±250/500/1000/2000 dps
# (131/65.5/32.8/16.4 LSB/dps).
#
# Streaming uses the FIFO: FIFO_EN = accel + gyro xyz gives 12-byte records in register
# order (accel x,y,z then gyro x,y,z, big-endian). FIFO_COUNT (0x72, big-endian) says how many
# bytes wait; FIFO_R_W (0x74) is read in bursts (the chip does not auto-increment there).
# The FIFO holds 1024 bytes (6050) or 512 (6500/9250); when full the chip overwrites the
# oldest bytes, which breaks the record alignment. So an overflow (INT_STATUS.FIFO_OFLOW_INT,
# or a count that reached the capacity) is counted and the FIFO is reset; streaming goes on.

from pod import wire
from pod.imu import Driver, who_am_i, FULL as _FULL
from pod.imu import G as _G, RAD as _RAD, pick as _pick

try:
    from micropython import const
except ImportError:
    def const(__x):
        return __x

ADDRESSES = (0x68, 0x69)
_MODELS = {0x68: "MPU-6050", 0x70: "MPU-6500", 0x71: "MPU-9250", 0x73: "MPU-9250"}

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_CONFIG2 = const(0x1D)
_FIFO_EN = const(0x23)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_PWR_MGMT_2 = const(0x6C)
_FIFO_COUNTH = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

_FIFO_OFLOW = const(0x10)
_UC_FIFO_EN = const(0x40)
_UC_FIFO_RESET = const(0x04)
_REC = const(12)
_CHUNK = const(16)          # records per burst read

_ACC_G = (2, 4, 8, 16)
_GYR_DPS = (250, 500, 1000, 2000)
_GYR_LSB = (131.0, 65.5, 32.8, 16.4)
_DLPF_BW = (188, 98, 42, 20, 10, 5)   # gyro bandwidth (Hz) of DLPF_CFG 1..6


def probe(i2c, addr):
    model = who_am_i(i2c, addr, _WHO_AM_I, _MODELS)
    return None if model is None else Mpu6050(i2c, addr, model)


class Mpu6050(Driver):

    def __init__(self, i2c, addr, model):
        Driver.__init__(self, i2c, addr, model)
        self._cap = 1024 if model == "MPU-6050" else 512
        self._chunk = bytearray(_REC * _CHUNK)
        mv = memoryview(self._chunk)
        self._views = [mv[:_REC * k] for k in range(_CHUNK + 1)]

    def configure(self, rate_hz, acc_range_g, gyr_range_dps):
        self._reset(_PWR_MGMT_1, 0x80, 0x80)    # DEVICE_RESET
        self._w(_PWR_MGMT_1, 0x01)              # awake, clock = gyro PLL
        if self.model != "MPU-6050":
            self._w(_PWR_MGMT_2, 0x00)          # all axes on
        if rate_hz >= 1000:
            div = 0
        else:
            div = int(1000 // rate_hz) - 1
            div = 0 if div < 0 else (255 if div > 255 else div)
        dlpf = 1
        while dlpf < 6 and _DLPF_BW[dlpf - 1] * 2 * (1 + div) > 1000:
            dlpf += 1
        ia = _pick(_ACC_G, acc_range_g)
        ig = _pick(_GYR_DPS, gyr_range_dps)
        self._w(_USER_CTRL, 0x00)
        self._w(_FIFO_EN, 0x00)
        self._w(_CONFIG, dlpf)                  # FIFO_MODE 0: overwrite when full
        self._w(_SMPLRT_DIV, div)
        self._w(_GYRO_CONFIG, ig << 3)          # FCHOICE_B = 0 (DLPF in use)
        self._w(_ACCEL_CONFIG, ia << 3)
        if self.model != "MPU-6050":
            self._w(_ACCEL_CONFIG2, dlpf)       # accel DLPF, similar bandwidth
        self._w(_INT_ENABLE, _FIFO_OFLOW)
        self.odr_hz = 1000.0 / (1 + div)
        self.acc_range_g = _ACC_G[ia]
        self.gyr_range_dps = _GYR_DPS[ig]
        self.acc_scale = _G / (16384 >> ia)
        self.gyr_scale = _RAD / _GYR_LSB[ig]

    def _fifo_reset(self):
        self._w(_USER_CTRL, _UC_FIFO_RESET)
        self._w(_USER_CTRL, _UC_FIFO_EN)

    def start(self):
        self._w(_USER_CTRL, _UC_FIFO_RESET)     # FIFO off and flushed
        self._w(_FIFO_EN, 0x78)                 # XG, YG, ZG, ACCEL
        self._r(_INT_STATUS)                    # clear stale flags
        self._w(_USER_CTRL, _UC_FIFO_EN)
        self.overflows = 0

    def stop(self):
        self._w(_USER_CTRL, 0x00)
        self._w(_FIFO_EN, 0x00)

    def waiting(self):
        b = self._b2
        self._i2c.readfrom_mem_into(self.addr, _FIFO_COUNTH, b)
        cnt = ((b[0] & 0x1F) << 8) | b[1]
        return _FULL if cnt >= self._cap else cnt // _REC

    def read(self, buf, max_n):
        i2c = self._i2c
        a = self.addr
        b = self._b2
        i2c.readfrom_mem_into(a, _INT_STATUS, self._b1)
        i2c.readfrom_mem_into(a, _FIFO_COUNTH, b)
        cnt = ((b[0] & 0x1F) << 8) | b[1]
        if (self._b1[0] & _FIFO_OFLOW) or cnt >= self._cap:
            self.overflows += 1
            self._fifo_reset()
            return 0
        n = cnt // _REC
        if n > max_n:
            n = max_n
        c = self._chunk
        done = 0
        while done < n:
            k = n - done
            if k > _CHUNK:
                k = _CHUNK
            i2c.readfrom_mem_into(a, _FIFO_R_W, self._views[k])
            wire.copy_fast(c, 0, buf, done * _REC, k * _REC, 1)   # big- to little-endian
            done += k
        return n
