# Register-level model of the ST LSM6DSOX (WHO_AM_I 0x6C) and LSM6DS3TR-C (WHO_AM_I 0x6A):
# accelerometer + gyroscope, I2C address 0x6A/0x6B.
#
# Common registers: 0x0F WHO_AM_I; 0x10 CTRL1_XL (ODR_XL 7:4, FS_XL 3:2: 00 2 g, 01 16 g,
# 10 4 g, 11 8 g); 0x11 CTRL2_G (ODR_G 7:4, FS_G 3:2: 250/500/1000/2000 dps, FS_125 1:
# 125 dps whatever FS_G holds); 0x12 CTRL3_C
# (BOOT 7, BDU 6, IF_INC 2 = register auto-increment (reset value 0x04), SW_RESET 0,
# self-clearing); 0x1E STATUS_REG (TDA 2, GDA 1, XLDA 0; a flag clears when its output is
# read); 0x20.. OUT_TEMP, 0x22.. OUTX_L_G, 0x28.. OUTX_L_A (little-endian).
# ODR codes 1..10 = 12.5, 26, 52, 104, 208, 416, 833, 1666, 3332, 6667 Hz.
# Sensitivities: 0.061/0.122/0.244/0.488 mg/LSB, 4.375 (FS_125)/8.75/17.5/35/70 mdps/LSB.
#
# LSM6DSOX FIFO (tagged): 0x09 FIFO_CTRL3 (BDR_GY 7:4, BDR_XL 3:0), 0x0A FIFO_CTRL4
# (FIFO_MODE 2:0: 0 bypass = empty, 1 FIFO = stop when full, 6 continuous = overwrite the
# oldest word), 0x3A/0x3B FIFO_STATUS1/2 (DIFF_FIFO 9:0 in words; STATUS2: FIFO_OVR_IA 6,
# FIFO_FULL_IA 5, FIFO_OVR_LATCHED 3, cleared when STATUS2 is read), 0x78 FIFO_DATA_OUT_TAG
# (TAG_SENSOR 7:3: 0x01 gyro, 0x02 accel; TAG_CNT 2:1; parity 0) + 0x79..0x7E data. 512 words
# (3 kB of data). Reading 0x78 pops the oldest word; with IF_INC a burst rolls over from 0x7E
# back to 0x78, so several words come in one read. Each sample time pushes the gyro word,
# then the accel word, with the same TAG_CNT.
# LSM6DS3TR-C FIFO (pattern): 0x08 FIFO_CTRL3 (DEC_FIFO_GYRO 5:3, DEC_FIFO_XL 2:0; nonzero
# = batched, decimation not modelled), 0x0A FIFO_CTRL5 (ODR_FIFO 6:3, FIFO_MODE 2:0 as
# above), 0x3A..0x3D FIFO_STATUS1..4 (DIFF_FIFO 10:0 in 16-bit words; STATUS2: OVER_RUN 6,
# FIFO_FULL 5, FIFO_EMPTY 4; FIFO_PATTERN 9:0 = position in the pattern of the next word),
# 0x3E/0x3F FIFO_DATA_OUT_L/H (burst rolls over from 0x3F back to 0x3E). 4 kB (2048 words);
# pattern = gyro x,y,z then accel x,y,z. OVER_RUN says words were overwritten; it clears
# when a word is read or the FIFO is emptied.
# Simplification: the model samples both sensors on one grid, the faster of ODR_XL/ODR_G,
# and batches at that rate (the drivers set all rates equal).
from vboard.chips.base import Chip

_WHO = {"LSM6DSOX": 0x6C, "LSM6DS3TR-C": 0x6A}
_ODR = ((0, 1), (25, 2), (26, 1), (52, 1), (104, 1), (208, 1), (416, 1), (833, 1),
        (1666, 1), (3332, 1), (6667, 1), (8, 5))          # code -> Hz as num/den
_RANK = (0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1)             # code -> speed order
_XL_UG = (61, 488, 122, 244)                               # ug/LSB by FS_XL
_G_UDPS = (8750, 17500, 35000, 70000)                      # udps/LSB by FS_G
_G_UDPS_125 = 4375                                         # udps/LSB with FS_125
_WHO_AM_I = 0x0F
_CTRL1_XL = 0x10
_CTRL2_G = 0x11
_CTRL3_C = 0x12
_CTRL9_XL = 0x18
_STATUS = 0x1E
_DATA = 0x20              # temp, gyro xyz, accel xyz
_FSTAT1 = 0x3A
_FSTAT2 = 0x3B
# LSM6DSOX
_X_FIFO_CTRL3 = 0x09
_X_FIFO_CTRL4 = 0x0A
_X_TAG = 0x78
_X_END = 0x7E
# LSM6DS3TR-C
_C_FIFO_CTRL3 = 0x08
_C_FIFO_CTRL5 = 0x0A
_C_FSTAT3 = 0x3C
_C_FSTAT4 = 0x3D
_C_OUT_L = 0x3E
_C_OUT_H = 0x3F


class Lsm6ds(Chip):
    ADDRESSES = (0x6A, 0x6B)

    def __init__(self, source, clock, variant="LSM6DSOX"):
        if variant not in _WHO:
            raise ValueError("unknown LSM6DS variant " + variant)
        self.variant = variant
        self.ox = variant == "LSM6DSOX"
        self.cur = bytearray(7 if self.ox else 2)      # the FIFO word being read out
        # FIFO output registers: a burst read rolls over from out1 back to out0
        self.out0, self.out1 = (_X_TAG, _X_END) if self.ox else (_C_OUT_L, _C_OUT_H)
        self.tagcnt = 0
        self.ovr = 0                   # DSOX: latched overrun; DS3TR-C: OVER_RUN
        Chip.__init__(self, source, clock, 128, _DATA, 8, 2, 512 * 7 if self.ox else 4096,
                      big=False)

    def _defaults(self):
        r = self.regs
        r[_WHO_AM_I] = _WHO[self.variant]
        r[_CTRL3_C] = 0x04
        if self.ox:
            r[_CTRL9_XL] = 0xE0
        self.ovr = 0

    def _config(self):
        r = self.regs
        g = r[_CTRL2_G]
        self._ranges(1000000, _XL_UG[(r[_CTRL1_XL] >> 2) & 3],
                     1000000, _G_UDPS_125 if g & 0x02 else _G_UDPS[(g >> 2) & 3])
        cx = r[_CTRL1_XL] >> 4
        cg = g >> 4
        c = cx if _RANK[cx] >= _RANK[cg] else cg
        if c == 0:
            self.tick.stop()
        else:
            self.tick.start(_ODR[c][0], _ODR[c][1])
        if self.ox:
            f = r[_X_FIFO_CTRL3]
            self.rec_len = (7 if f >> 4 else 0) + (7 if f & 15 else 0)
        else:
            f = r[_C_FIFO_CTRL3]
            n = self._pick(0, 2, 6) if f & 0x38 else 0       # gyro
            if f & 0x07:
                n = self._pick(n, 8, 6)                      # accel
            self.fifo.mod = n if n else 1
            self.rec_len = n

    def _mode(self):
        if self.ox:
            return self.regs[_X_FIFO_CTRL4] & 7
        return self.regs[_C_FIFO_CTRL5] & 7

    def _fifo_on(self):
        if self.ox:
            return self._mode()
        return self._mode() and self.regs[_C_FIFO_CTRL5] & 0x78

    def _overwrite(self):
        return self._mode() != 1

    def _overflow(self):
        self.ovr = 1

    def _ready(self):
        self.regs[_STATUS] |= 0x07

    def _push(self):
        if not self.ox:
            Chip._push(self)
            return
        f = self.regs[_X_FIFO_CTRL3]
        c = self.tagcnt
        self.tagcnt = (c + 1) & 3
        if f >> 4:
            self._word(0x01, c, 2)
        if f & 15:
            self._word(0x02, c, 8)

    def _word(self, sensor, cnt, o):
        w = self.rec
        t = (sensor << 3) | (cnt << 1)
        p = t ^ (t >> 4)
        p ^= p >> 2
        p ^= p >> 1
        w[0] = t | (p & 1)             # even parity over the byte
        d = self.data
        for i in range(6):
            w[1 + i] = d[o + i]
        self._store(w, 7)

    def _status(self, reg):
        f = self.fifo
        if self.ox:
            words = f.n // 7
            if reg == _FSTAT1:
                return words & 0xFF
            v = (words >> 8) & 3
            if self.ovr:
                v |= 0x08
                self.ovr = 0
            if f.n + 7 > f.cap:
                v |= 0x60 if v & 0x08 else 0x20
            return v
        words = f.n >> 1
        if reg == _FSTAT1:
            return words & 0xFF
        if reg == _FSTAT2:
            v = (words >> 8) & 7
            if self.ovr:
                v |= 0x40
            if f.n + self.rec_len > f.cap:
                v |= 0x20
            if f.n == 0:
                v |= 0x10
            return v
        pat = f.phase >> 1
        return pat & 0xFF if reg == _C_FSTAT3 else pat >> 8

    def _get(self, reg):
        if self.out0 <= reg <= self.out1:
            cur = self.cur
            if reg == self.out0:       # pops the next word
                f = self.fifo
                f.pop_into(cur, 0)
                if not self.ox and f.n + self.rec_len <= f.cap:
                    self.ovr = 0
            return cur[reg - self.out0]
        if _FSTAT1 <= reg <= (_FSTAT2 if self.ox else _C_FSTAT4):
            return self._status(reg)
        if _DATA <= reg < _DATA + 14:
            self.regs[_STATUS] &= 0xFB if reg < _DATA + 2 else (0xFD if reg < _DATA + 8 else 0xFE)
        return Chip._get(self, reg)

    def _next(self, reg, rd):
        if rd and reg == self.out1:
            reg = self.out0 - 1
        return reg + 1 if self.regs[_CTRL3_C] & 0x04 else reg      # IF_INC

    def _put(self, reg, v):
        r = self.regs
        if reg == _CTRL3_C and v & 0x01:
            self._reset()
            return True
        if reg == _WHO_AM_I or reg == _STATUS or _DATA <= reg < _DATA + 14 or \
                _FSTAT1 <= reg <= _C_OUT_H or reg >= _X_TAG:
            return False               # read-only
        r[reg] = v
        if reg == _CTRL3_C:
            r[reg] = v & 0x7E          # BOOT done at once
        if reg == _CTRL1_XL or reg == _CTRL2_G or \
                reg == (_X_FIFO_CTRL3 if self.ox else _C_FIFO_CTRL3):
            self._config()
        if reg == (_X_FIFO_CTRL4 if self.ox else _C_FIFO_CTRL5) and not v & 7:
            self.fifo.clear()          # bypass mode empties the FIFO
            self.ovr = 0
        return False
