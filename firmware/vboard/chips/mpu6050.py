# Register-level model of the InvenSense MPU-6050 / MPU-6500 / MPU-9250 (accel + gyro; the
# 9250's AK8963 magnetometer is not modelled). Sampling and the FIFO: vboard.chips.base.
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
from vboard.chips.base import Chip

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


class Mpu6050(Chip):
    ADDRESSES = (0x68, 0x69)

    def __init__(self, source, clock, variant="MPU-6050"):
        if variant not in _WHO:
            raise ValueError("unknown MPU variant " + variant)
        self.variant = variant
        self.is6050 = variant == "MPU-6050"
        Chip.__init__(self, source, clock, 128, _DATA, 0, 8, 1024 if self.is6050 else 512,
                      port=_FIFO_R_W)

    def _defaults(self):
        self.regs[_PWR_MGMT_1] = 0x40 if self.is6050 else 0x01
        self.regs[_WHO_AM_I] = _WHO[self.variant]

    def _config(self):
        self._scales()
        self._rate()

    def _scales(self):
        afs = (self.regs[_ACCEL_CONFIG] >> 3) & 3
        fs = (self.regs[_GYRO_CONFIG] >> 3) & 3
        self._ranges(16384 >> afs, 1, _GYR_LSB10[fs], 10)

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
        n = self._pick(0, 0, 6) if f & 0x08 else 0          # accel
        if f & 0x80:
            n = self._pick(n, 6, 2)                          # temp
        for ax in range(3):
            if f & (0x40 >> ax):
                n = self._pick(n, 8 + 2 * ax, 2)             # gyro x, y, z
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

    def _get(self, reg):
        if reg == _FIFO_COUNTH:
            return self.fifo.n >> 8
        if reg == _FIFO_COUNTL:
            return self.fifo.n & 0xFF
        if reg == _INT_STATUS:
            return self._take(reg)
        return Chip._get(self, reg)

    def _put(self, reg, v):
        r = self.regs
        if reg == _PWR_MGMT_1:
            if v & 0x80:
                self._reset()      # the burst goes on after the reset
            else:
                r[reg] = v
                self._rate()
        elif reg == _USER_CTRL:
            if v & 0x04:
                self.fifo.clear()
            r[reg] = v & 0x70
        elif reg == _FIFO_R_W or reg == _WHO_AM_I or reg == _INT_STATUS or \
                reg == _FIFO_COUNTH or reg == _FIFO_COUNTL or _DATA <= reg < _DATA + 14:
            pass   # read-only (writing the FIFO is not modelled)
        else:
            r[reg] = v
            if reg == _ACCEL_CONFIG or reg == _GYRO_CONFIG:
                self._scales()
            if reg == _SMPLRT_DIV or reg == _CONFIG or reg == _GYRO_CONFIG:
                self._rate()
            if reg == _FIFO_EN:
                self._fifo_sel()
