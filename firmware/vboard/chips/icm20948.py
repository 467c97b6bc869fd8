# Register-level model of the TDK InvenSense ICM-20948 (accel + gyro; the AK09916
# magnetometer behind the auxiliary I2C master and the DMP are not modelled).
#
# Four register banks, selected by REG_BANK_SEL (0x7F, bits 5:4, present in every bank).
# Bank 0: 0x00 WHO_AM_I (0xEA), 0x03 USER_CTRL (FIFO_EN bit 6), 0x06 PWR_MGMT_1
#   (DEVICE_RESET 7 self-clearing, SLEEP 6; reset value 0x41), 0x07 PWR_MGMT_2, 0x11
#   INT_ENABLE_1 (RAW_DATA_0_RDY_EN 0: routes data ready to the INT1 pin, stored), 0x12
#   INT_ENABLE_2 (FIFO_OVERFLOW_EN 4:0), 0x1A INT_STATUS_1 (RAW_DATA_0_RDY_INT 0: set at
#   every sample, enabled or not: "raw data ... is updated and ready to be read"), 0x1B
#   INT_STATUS_2 (FIFO_OVERFLOW_INT 4:0, when enabled), both cleared when read; 0x2D..0x3A
#   ACCEL/GYRO/TEMP_OUT (big-endian, that order), 0x67 FIFO_EN_2 (ACCEL 4, GYRO_Z 3,
#   GYRO_Y 2, GYRO_X 1, TEMP 0), 0x68 FIFO_RST (4:0: asserted = FIFO held empty), 0x69
#   FIFO_MODE (bit 0: 0 stream = overwrite oldest, 1 snapshot), 0x70/0x71 FIFO_COUNT
#   (13 bits, big-endian), 0x72 FIFO_R_W (no auto-increment).
# Bank 2: 0x00 GYRO_SMPLRT_DIV, 0x01 GYRO_CONFIG_1 (DLPFCFG 5:3, FS_SEL 2:1, FCHOICE 0),
#   0x10/0x11 ACCEL_SMPLRT_DIV (12 bits), 0x14 ACCEL_CONFIG (DLPFCFG 5:3, FS_SEL 2:1,
#   FCHOICE 0), 0x09 ODR_ALIGN_EN: stored.
# Rates: gyro 1.1 kHz / (1 + GYRO_SMPLRT_DIV) with FCHOICE=1 (9 kHz without the DLPF).
# Simplification: the model samples BOTH sensors on the gyro's grid (the real accelerometer
# runs on its own 1.125 kHz / (1 + ACCEL_SMPLRT_DIV) grid; the accel divider is stored only).
# FIFO: 512 bytes, records in register order for the FIFO_EN_2 bits.
from vboard.chips.base import Chip

_GYR_LSB10 = (1310, 655, 328, 164)      # LSB per dps, x10
_WHO_AM_I = 0x00
_USER_CTRL = 0x03
_PWR_MGMT_1 = 0x06
_INT_ENABLE_2 = 0x12
_INT_STATUS_1 = 0x1A
_INT_STATUS_2 = 0x1B
_DATA = 0x2D              # accel xyz, gyro xyz, temp
_FIFO_EN_2 = 0x67
_FIFO_RST = 0x68
_FIFO_MODE = 0x69
_FIFO_COUNTH = 0x70
_FIFO_COUNTL = 0x71
_FIFO_R_W = 0x72
_BANK_SEL = 0x7F
_B2 = 256                 # bank 2 offset in regs
_GYRO_SMPLRT_DIV = 0x00
_GYRO_CONFIG_1 = 0x01
_ACCEL_CONFIG = 0x14


class Icm20948(Chip):
    ADDRESSES = (0x68, 0x69)

    def __init__(self, source, clock):
        self.variant = "ICM-20948"
        Chip.__init__(self, source, clock, 4 * 128, _DATA, 0, 6, 512, port=_FIFO_R_W)

    def _select(self, bank):
        self.bank = bank
        self.port = _FIFO_R_W if bank == 0 else -1      # FIFO_R_W is in bank 0

    def _defaults(self):
        r = self.regs
        self._select(0)
        r[_WHO_AM_I] = 0xEA
        r[_PWR_MGMT_1] = 0x41
        r[0x05] = 0x40                          # LP_CONFIG
        r[_B2 + _GYRO_CONFIG_1] = 0x01
        r[_B2 + _ACCEL_CONFIG] = 0x01

    def _config(self):
        self._scales()
        self._rate()

    def _scales(self):
        r = self.regs
        afs = (r[_B2 + _ACCEL_CONFIG] >> 1) & 3
        fs = (r[_B2 + _GYRO_CONFIG_1] >> 1) & 3
        self._ranges(16384 >> afs, 1, _GYR_LSB10[fs], 10)

    def _rate(self):
        r = self.regs
        if r[_PWR_MGMT_1] & 0x40:
            self.tick.stop()
        elif r[_B2 + _GYRO_CONFIG_1] & 1:
            self.tick.start(1100, 1 + r[_B2 + _GYRO_SMPLRT_DIV])
        else:
            self.tick.start(9000, 1)

    def _fifo_sel(self):
        f = self.regs[_FIFO_EN_2]
        n = self._pick(0, 0, 6) if f & 0x10 else 0          # accel
        for ax in range(3):
            if f & (0x02 << ax):
                n = self._pick(n, 6 + 2 * ax, 2)             # gyro x, y, z
        if f & 0x01:
            n = self._pick(n, 12, 2)                         # temp
        self.rec_len = n

    def _fifo_on(self):
        r = self.regs
        return (r[_USER_CTRL] & 0x40) and not (r[_FIFO_RST] & 0x1F)

    def _overwrite(self):
        return not (self.regs[_FIFO_MODE] & 1)

    def _overflow(self):
        if self.regs[_INT_ENABLE_2] & 0x1F:
            self.regs[_INT_STATUS_2] |= 0x01

    def _ready(self):
        self.regs[_INT_STATUS_1] |= 0x01       # whatever INT_ENABLE_1 routes to the pin

    def _get(self, reg):
        if reg == _BANK_SEL:
            return self.bank << 4
        if self.bank != 0:
            return self.regs[(self.bank << 7) + reg]
        if reg == _FIFO_COUNTH:
            return self.fifo.n >> 8
        if reg == _FIFO_COUNTL:
            return self.fifo.n & 0xFF
        if reg == _INT_STATUS_1 or reg == _INT_STATUS_2:
            return self._take(reg)
        return Chip._get(self, reg)

    def _put(self, reg, v):
        r = self.regs
        if reg == _BANK_SEL:
            self._select((v >> 4) & 3)
        elif self.bank == 2:
            r[_B2 + reg] = v
            if reg == _GYRO_CONFIG_1 or reg == _ACCEL_CONFIG:
                self._scales()
            if reg == _GYRO_SMPLRT_DIV or reg == _GYRO_CONFIG_1:
                self._rate()
        elif self.bank != 0:
            r[(self.bank << 7) + reg] = v
        elif reg == _PWR_MGMT_1:
            if v & 0x80:
                self._reset()
                return True
            r[reg] = v
            self._rate()
        elif reg == _FIFO_R_W or reg == _WHO_AM_I or reg == _INT_STATUS_1 or \
                reg == _INT_STATUS_2 or reg == _FIFO_COUNTH or reg == _FIFO_COUNTL or \
                _DATA <= reg < _DATA + 14:
            pass   # read-only (writing the FIFO is not modelled)
        else:
            r[reg] = v
            if reg == _FIFO_RST and v & 0x1F:
                self.fifo.clear()
            elif reg == _FIFO_EN_2:
                self._fifo_sel()
