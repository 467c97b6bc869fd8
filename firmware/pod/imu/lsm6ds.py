# ST LSM6DSOX (WHO_AM_I 0x6C) and LSM6DS3TR-C (WHO_AM_I 0x6A): accelerometer + gyroscope,
# I2C address 0x6A or 0x6B (SA0 pin).
#
# The chips: CTRL3_C.SW_RESET (bit 0, self-clearing) resets the registers; we then set
# BDU + IF_INC (auto-increment). CTRL1_XL / CTRL2_G hold ODR (bits 7:4, codes 1..8 = 12.5,
# 26, 52, 104, 208, 416, 833, 1666 Hz) and full scale (bits 3:2; accel code order 2, 16, 4,
# 8 g at 0.061/0.488/0.122/0.244 mg/LSB; gyro 250..2000 dps at 8.75/17.5/35/70 mdps/LSB).
# Both sensors run at the same ODR, the nearest one >= the rate asked. Data little-endian.
#
# LSM6DSOX: tagged FIFO in continuous mode (FIFO_CTRL4 = 6), accel and gyro batched at the
# ODR (FIFO_CTRL3 BDR_GY | BDR_XL). Each FIFO word is 7 bytes: tag (sensor 7:3: 1 gyro,
# 2 accel; TAG_CNT 2:1 = time slot) then x, y, z. FIFO_STATUS1/2 give the word count and
# FIFO_OVR_LATCHED (cleared on read). With IF_INC a burst read from FIFO_DATA_OUT_TAG (0x78)
# rolls over from 0x7E back to 0x78, so many words come in one transaction. An accel and a
# gyro word with the same TAG_CNT make a sample; an orphan (its partner overwritten by an
# overrun) is dropped, so an overflow is counted but needs no FIFO reset.
# LSM6DS3TR-C: its older untagged FIFO, continuous mode (FIFO_CTRL5 = ODR_FIFO | 6), both
# sensors undecimated (FIFO_CTRL3 = 0x09): the pattern is gyro x,y,z then accel x,y,z, one
# 16-bit word each. FIFO_STATUS1..4 give the word count, OVER_RUN and FIFO_PATTERN (position
# of the next word), used to realign if needed; FIFO_DATA_OUT_L/H (0x3E/0x3F) roll over in a
# burst. On OVER_RUN the FIFO is reset (bypass, then continuous again) and counted.

from pod import wire
from pod.imu import Driver, who_am_i, FULL as _FULL
from pod.imu import G as _G, RAD as _RAD, pick as _pick

try:
    from micropython import const
except ImportError:
    def const(__x):
        return __x

ADDRESSES = (0x6A, 0x6B)
_MODELS = {0x6C: "LSM6DSOX", 0x6A: "LSM6DS3TR-C"}

_WHO_AM_I = const(0x0F)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_CTRL9_XL = const(0x18)
_FIFO_STATUS1 = const(0x3A)
_X_FIFO_CTRL3 = const(0x09)    # LSM6DSOX
_X_FIFO_CTRL4 = const(0x0A)
_X_TAG = const(0x78)
_C_FIFO_CTRL3 = const(0x08)    # LSM6DS3TR-C
_C_FIFO_CTRL5 = const(0x0A)
_C_OUT_L = const(0x3E)
_CONTINUOUS = const(6)
_CHW = const(32)               # FIFO words per burst (LSM6DSOX)
_CHS = const(16)               # samples per burst (LSM6DS3TR-C)

_ODRS = (12.5, 26.0, 52.0, 104.0, 208.0, 416.0, 833.0, 1666.0)
_ACC_G = (2, 4, 8, 16)
_FS_XL = (0, 2, 3, 1)
_XL_MG = (0.061, 0.122, 0.244, 0.488)
_GYR_DPS = (250, 500, 1000, 2000)
_G_MDPS = (8.75, 17.5, 35.0, 70.0)


def probe(i2c, addr):
    model = who_am_i(i2c, addr, _WHO_AM_I, _MODELS)
    return None if model is None else Lsm6ds(i2c, addr, model)


class Lsm6ds(Driver):

    def __init__(self, i2c, addr, model):
        Driver.__init__(self, i2c, addr, model)
        self._ox = model == "LSM6DSOX"
        self._st = bytearray(4)
        self._st2 = memoryview(self._st)[:2]
        self._chunk = bytearray(7 * _CHW)
        mv = memoryview(self._chunk)
        if self._ox:
            self._views = [mv[:7 * k] for k in range(_CHW + 1)]
        else:
            self._views = [mv[:12 * k] for k in range(_CHS + 1)]
        self._skip = [mv[:2 * k] for k in range(6)]
        self._pa = bytearray(6)        # pending accel / gyro word (LSM6DSOX pairing)
        self._pg = bytearray(6)
        self._ca = -1                  # TAG_CNT of the pending word, -1 = none
        self._cg = -1
        self._code = 0

    def configure(self, rate_hz, acc_range_g, gyr_range_dps):
        self._reset(_CTRL3_C, 0x01, 0x01)       # SW_RESET
        self._w(_CTRL3_C, 0x44)                 # BDU, IF_INC
        if self._ox:
            self._w(_CTRL9_XL, 0xE2)            # I3C off (I2C only)
        self.stop()
        io = _pick(_ODRS, rate_hz)
        ia = _pick(_ACC_G, acc_range_g)
        ig = _pick(_GYR_DPS, gyr_range_dps)
        self._code = io + 1
        self._w(_CTRL1_XL, (self._code << 4) | (_FS_XL[ia] << 2))
        self._w(_CTRL2_G, (self._code << 4) | (ig << 2))
        self.odr_hz = _ODRS[io]
        self.acc_range_g = _ACC_G[ia]
        self.gyr_range_dps = _GYR_DPS[ig]
        self.acc_scale = _XL_MG[ia] * 1e-3 * _G
        self.gyr_scale = _G_MDPS[ig] * 1e-3 * _RAD

    def _fifo_on(self):
        if self._ox:
            self._w(_X_FIFO_CTRL4, 0)           # bypass: empties the FIFO
            self._w(_X_FIFO_CTRL3, (self._code << 4) | self._code)
            self._w(_X_FIFO_CTRL4, _CONTINUOUS)
            self._i2c.readfrom_mem_into(self.addr, _FIFO_STATUS1, self._st)   # clear latch
        else:
            self._w(_C_FIFO_CTRL5, 0)
            self._w(_C_FIFO_CTRL3, 0x09)        # gyro and accel, no decimation
            self._w(_C_FIFO_CTRL5, (self._code << 3) | _CONTINUOUS)
        self._ca = -1
        self._cg = -1

    def start(self):
        self._fifo_on()
        self.overflows = 0

    def stop(self):
        if self._ox:
            self._w(_X_FIFO_CTRL4, 0)
            self._w(_X_FIFO_CTRL3, 0)
        else:
            self._w(_C_FIFO_CTRL5, 0)
            self._w(_C_FIFO_CTRL3, 0)

    def waiting(self):
        st = self._st
        self._i2c.readfrom_mem_into(self.addr, _FIFO_STATUS1, self._st2)
        if self._ox:
            if st[1] & 0x08:                    # FIFO_OVR_LATCHED, cleared by this read
                self.overflows += 1
                return _FULL
            return (st[0] | ((st[1] & 3) << 8)) >> 1     # an accel and a gyro word each
        if st[1] & 0x40:                        # OVER_RUN: read() resets the FIFO
            return _FULL
        return (st[0] | ((st[1] & 7) << 8)) // 6

    def read(self, buf, max_n):
        if self._ox:
            return self._read_tagged(buf, max_n)
        return self._read_pattern(buf, max_n)

    def _read_tagged(self, buf, max_n):
        i2c = self._i2c
        st = self._st
        i2c.readfrom_mem_into(self.addr, _FIFO_STATUS1, self._st2)
        words = st[0] | ((st[1] & 3) << 8)
        if st[1] & 0x08:                        # FIFO_OVR_LATCHED
            self.overflows += 1
        c = self._chunk
        pa = self._pa
        pg = self._pg
        cp = wire.copy_fast
        n = 0
        while words > 0 and n < max_n:
            k = 2 * (max_n - n)                 # words that can make at most max_n - n
            if k > words:
                k = words
            if k > _CHW:
                k = _CHW
            i2c.readfrom_mem_into(self.addr, _X_TAG, self._views[k])
            words -= k
            for w in range(0, 7 * k, 7):
                tag = c[w] >> 3
                cnt = (c[w] >> 1) & 3
                if tag == 2:
                    if self._cg >= 0 and self._cg != cnt:
                        self._cg = -1           # orphan gyro word
                    cp(c, w + 1, pa, 0, 6, 0)
                    self._ca = cnt
                elif tag == 1:
                    if self._ca >= 0 and self._ca != cnt:
                        self._ca = -1
                    cp(c, w + 1, pg, 0, 6, 0)
                    self._cg = cnt
                else:
                    continue
                if self._ca >= 0 and self._ca == self._cg:
                    o = 12 * n
                    cp(pa, 0, buf, o, 6, 0)
                    cp(pg, 0, buf, o + 6, 6, 0)
                    n += 1
                    self._ca = -1
                    self._cg = -1
        return n

    def _read_pattern(self, buf, max_n):
        i2c = self._i2c
        a = self.addr
        st = self._st
        i2c.readfrom_mem_into(a, _FIFO_STATUS1, st)
        words = st[0] | ((st[1] & 7) << 8)
        if st[1] & 0x40:                        # OVER_RUN
            self.overflows += 1
            self._fifo_on()
            return 0
        pat = st[2] | ((st[3] & 3) << 8)
        if pat:                                 # realign on the pattern start
            skip = 6 - pat
            if words < skip:
                return 0
            i2c.readfrom_mem_into(a, _C_OUT_L, self._skip[skip])
            words -= skip
        n = words // 6
        if n > max_n:
            n = max_n
        c = self._chunk
        done = 0
        while done < n:
            k = n - done
            if k > _CHS:
                k = _CHS
            i2c.readfrom_mem_into(a, _C_OUT_L, self._views[k])
            o = 12 * done
            cp = wire.copy_fast
            for s in range(0, 12 * k, 12):      # gyro xyz, accel xyz -> accel, gyro
                cp(c, s + 6, buf, o, 6, 0)
                cp(c, s, buf, o + 6, 6, 0)
                o += 12
            done += k
        return n
