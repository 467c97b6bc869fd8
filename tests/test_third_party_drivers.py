"""Our IMU drivers (firmware/pod/imu) and chip models (firmware/vboard/chips), cross-checked
with drivers nobody here wrote: Adafruit's CircuitPython drivers (adafruit_mpu6050,
adafruit_lsm6ds, adafruit_icm20x) run under CPython on the chip models through BusioI2C, a
busio.I2C of our own over the emulated bus.

The chip holds a known state (FixedMotion: gravity seen in a tilted orientation and a
rotation rate at a good part of the range), so both drivers read the same model state and
are compared with that truth and with each other:
- truth: within TRUTH_TOL_LSB = 0.52 LSB. The model rounds to the nearest count (0.5 LSB);
  its fixed-point multiplier (base.mult, 30 fraction bits) adds below 0.02 LSB at the rates
  and forces used here.
- each other: within PAIR_TOL_LSB = 0.001 LSB. Both decode the same count, so they may differ
  by float rounding of their scale constants only (Adafruit's ICM rad-per-degree constant,
  0.017453293, is the largest: 3e-9 relative, 1e-4 LSB at full scale). A different count, a
  swapped axis or byte, or an LSB size a few parts per million off (at the >= 600 counts
  used) fails.

Adafruit has no MPU-6500/9250 driver; its MPU6050 class must refuse them (WHO_AM_I 0x70 /
0x71 is not 0x68), and reads them here with its MPU-6050 register map once told their
WHO_AM_I (the accel/gyro data and configuration registers are the same).
Time is the models' fake clock: the drivers' sleeps advance it, nothing waits.
"""
from __future__ import annotations

import importlib
import math
import struct
import sys
import types

import pytest


def _import_adafruit():
    """Adafruit's drivers, installed without Adafruit Blinka (tests/requirements-third-party.txt
    says why). What they take from Blinka at import is given here for the import only:
    ``micropython.const`` (the identity on CPython) and ``busio``'s classes (named in type
    annotations only)."""
    shims = {"micropython": types.ModuleType("micropython"), "busio": types.ModuleType("busio")}
    shims["micropython"].const = lambda v: v               # type: ignore[attr-defined]
    for name in ("I2C", "SPI", "UART"):
        setattr(shims["busio"], name, object)
    saved = {k: sys.modules.get(k) for k in shims}
    sys.modules.update(shims)
    try:
        return [importlib.import_module(m) for m in (
            "adafruit_icm20x", "adafruit_lsm6ds", "adafruit_mpu6050",
            "adafruit_lsm6ds.lsm6ds3trc", "adafruit_lsm6ds.lsm6dsox")]
    except ImportError as e:
        raise ImportError(f"{e}: install the third-party drivers with "
                          "pip install --no-deps -r tests/requirements-third-party.txt "
                          "(README, 'Run the tests')") from None
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


adafruit_icm20x, adafruit_lsm6ds, adafruit_mpu6050, _lsm3trc, _lsmox = _import_adafruit()
LSM6DS3TRC = _lsm3trc.LSM6DS3TRC
LSM6DSOX = _lsmox.LSM6DSOX

from conftest import FIRMWARE  # noqa: E402

if str(FIRMWARE) not in sys.path:
    sys.path.append(str(FIRMWARE))

import pod.imu as imu  # noqa: E402
from vboard.bus import I2C  # noqa: E402
from vboard.chips import make  # noqa: E402
from vboard.motion import ACC_UNIT, GYR_UNIT  # noqa: E402

G_M_S2 = 9.80665
TRUTH_TOL_LSB = 0.52
PAIR_TOL_LSB = 0.001
ACC_RANGES_G = (2, 4, 8, 16)
GYR_RANGES_DPS = (250, 500, 1000, 2000)
ADDRESSES = {"MPU-6050": (0x68, 0x69), "MPU-6500": (0x68, 0x69), "MPU-9250": (0x68, 0x69),
             "ICM-20948": (0x68, 0x69), "LSM6DSOX": (0x6A, 0x6B), "LSM6DS3TR-C": (0x6A, 0x6B)}
VARIANTS = tuple(ADDRESSES)
MPU_WHO = {"MPU-6050": 0x68, "MPU-6500": 0x70, "MPU-9250": 0x71}
_ENODEV = 19


# ---- the emulated world ------------------------------------------------------------------

class FakeClock:
    """The true clock of the chip models, moved by hand (and by the drivers' sleeps)."""

    def __init__(self):
        self.t_us = 1000

    def true_us(self):
        return self.t_us

    def advance_s(self, seconds):
        self.t_us += int(seconds * 1e6) + 1


class FixedMotion:
    """A motion source (vboard.motion) that holds one state: specific force and rate."""

    def __init__(self, acc_m_s2, gyr_rad_s):
        self.acc_m_s2 = tuple(acc_m_s2)
        self.gyr_rad_s = tuple(gyr_rad_s)
        self._units = [round(a * ACC_UNIT) for a in acc_m_s2] + \
            [round(w * GYR_UNIT) for w in gyr_rad_s] + [0, 0, 0]

    def fill(self, t_us, out):
        for i in range(9):
            out[i] = self._units[i]


def tilted_gravity_m_s2(roll_deg, pitch_deg):
    """Gravity's reaction as an accelerometer at rest sees it (z up when level)."""
    r, p = math.radians(roll_deg), math.radians(pitch_deg)
    return (-G_M_S2 * math.sin(p), G_M_S2 * math.sin(r) * math.cos(p),
            G_M_S2 * math.cos(r) * math.cos(p))


def motion_for(gyr_range_dps):
    """Still tilted, turning at 60/-35/20 % of the gyro range: large, distinct counts."""
    fs_rad_s = math.radians(gyr_range_dps)
    return FixedMotion(tilted_gravity_m_s2(25.0, -40.0),
                       (0.60 * fs_rad_s, -0.35 * fs_rad_s, 0.20 * fs_rad_s))


class BusioI2C:
    """busio.I2C (what adafruit_bus_device calls) over the emulated bus (vboard.bus.I2C).

    A write's first byte sets the chip's register pointer, the rest is written from there;
    a read continues at the pointer that the write just before it set. Calls need the lock,
    as on CircuitPython; an absent address raises OSError(ENODEV)."""

    def __init__(self, bus):
        self._bus = bus
        self._locked = False
        self._pointer = {}

    def try_lock(self):
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        assert self._locked, "unlock() without the lock"
        self._locked = False

    def _need_lock(self):
        assert self._locked, "bus used without try_lock()"

    def scan(self):
        self._need_lock()
        return self._bus.scan()

    def _acknowledge(self, address):
        if address not in self._bus.scan():
            raise OSError(_ENODEV)

    def writeto(self, address, buffer, *, start=0, end=None):
        self._need_lock()
        data = bytes(memoryview(buffer)[start:end])
        self._acknowledge(address)
        if not data:
            return                              # a probe: the address acknowledged
        self._bus.writeto_mem(address, data[0], data[1:])
        # after data bytes, where the pointer is depends on the chip's increment rules
        self._pointer[address] = data[0] if len(data) == 1 else None

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        self._need_lock()
        self._acknowledge(address)
        reg = self._pointer.pop(address, None)
        assert reg is not None, "read with no register address written before it"
        self._bus.readfrom_mem_into(address, reg, memoryview(buffer)[start:end])

    def writeto_then_readfrom(self, address, out_buffer, in_buffer, *, out_start=0,
                              out_end=None, in_start=0, in_end=None):
        self.writeto(address, out_buffer, start=out_start, end=out_end)
        self.readfrom_into(address, in_buffer, start=in_start, end=in_end)


class Rig:
    """One chip model on an emulated bus, with both a MicroPython-style and a busio view."""

    def __init__(self, clock, variant, addr, motion):
        self.clock = clock
        self.variant = variant
        self.addr = addr
        self.motion = motion
        self.chip = make(variant, motion, clock)
        self.bus = I2C()
        self.bus.attach(addr, self.chip)
        self.busio = BusioI2C(self.bus)

    def model_rate_hz(self):
        tick = self.chip.tick
        return tick.den * 1e6 / tick.per if tick.on else 0.0


@pytest.fixture
def clock(monkeypatch):
    """The fake clock; every driver's sleep (ours and Adafruit's) advances it."""
    clk = FakeClock()
    for mod in (adafruit_mpu6050, adafruit_icm20x, adafruit_lsm6ds):
        monkeypatch.setattr(mod, "sleep", clk.advance_s)
    monkeypatch.setattr(imu, "sleep_ms", lambda ms: clk.advance_s(ms / 1000))
    return clk


# ---- the two drivers -----------------------------------------------------------------------

def adafruit_driver(rig, monkeypatch):
    """Adafruit's driver for the rig's chip, constructed as its users do (reset included)."""
    v = rig.variant
    if v.startswith("MPU"):
        monkeypatch.setattr(adafruit_mpu6050, "_MPU6050_DEVICE_ID", MPU_WHO[v])
        return adafruit_mpu6050.MPU6050(rig.busio, rig.addr)
    if v == "ICM-20948":
        return adafruit_icm20x.ICM20948(rig.busio, rig.addr)
    cls = LSM6DSOX if v == "LSM6DSOX" else LSM6DS3TRC
    return cls(rig.busio, rig.addr)


def adafruit_configure(ada, variant, acc_range_g, gyr_range_dps):
    """Ranges and a rate near 100 Hz through Adafruit's API; returns that rate (Hz) as
    Adafruit's documentation of the setting gives it."""
    if variant.startswith("MPU"):
        ada.accelerometer_range = ACC_RANGES_G.index(acc_range_g)
        ada.gyro_range = GYR_RANGES_DPS.index(gyr_range_dps)
        ada.filter_bandwidth = adafruit_mpu6050.Bandwidth.BAND_44_HZ   # DLPF on: 1 kHz base
        ada.sample_rate_divisor = 9
        return 1000.0 / (1 + ada.sample_rate_divisor)
    mod = adafruit_icm20x if variant == "ICM-20948" else adafruit_lsm6ds
    ada.accelerometer_range = getattr(mod.AccelRange, "RANGE_%dG" % acc_range_g)
    ada.gyro_range = getattr(mod.GyroRange, "RANGE_%d_DPS" % gyr_range_dps)
    if variant == "ICM-20948":
        ada.gyro_data_rate_divisor = 10
        ada.accelerometer_data_rate_divisor = 10
        return ada.gyro_data_rate
    rate = adafruit_lsm6ds.Rate.RATE_104_HZ
    ada.accelerometer_data_rate = rate
    ada.gyro_data_rate = rate
    return adafruit_lsm6ds.Rate.string[ada.gyro_data_rate]


def our_reading(rig, acc_range_g, gyr_range_dps, rate_hz=100):
    """(driver, acc_m_s2, gyr_rad_s): one streamed sample through our driver."""
    drv = imu.detect(rig.bus)
    assert (drv.model, drv.addr) == (rig.variant, rig.addr)
    drv.configure(rate_hz, acc_range_g, gyr_range_dps)
    drv.start()
    rig.clock.advance_s(1.5 / drv.odr_hz)
    buf = bytearray(12 * 8)
    n = drv.read(buf, 8)
    assert n >= 1, "no sample streamed"
    counts = struct.unpack_from("<6h", buf, 12 * (n - 1))
    acc_m_s2 = tuple(c * drv.acc_scale for c in counts[:3])
    gyr_rad_s = tuple(c * drv.gyr_scale for c in counts[3:])
    return drv, acc_m_s2, gyr_rad_s


def lsb_sizes(variant, acc_range_g, gyr_range_dps):
    """(m/s^2, rad/s) per count, from the datasheets' sensitivity tables."""
    i = ACC_RANGES_G.index(acc_range_g)
    if variant.startswith("LSM"):
        acc_mg = (0.061, 0.122, 0.244, 0.488)[i]
        gyr_mdps = {125: 4.375, 250: 8.75, 500: 17.5, 1000: 35.0, 2000: 70.0}[gyr_range_dps]
        return acc_mg * 1e-3 * G_M_S2, math.radians(gyr_mdps * 1e-3)
    j = GYR_RANGES_DPS.index(gyr_range_dps)
    return G_M_S2 / (16384 >> i), math.radians(1.0 / (131.0, 65.5, 32.8, 16.4)[j])


def assert_close(name, got, want, lsb, tol_lsb):
    err_lsb = [abs(g - w) / lsb for g, w in zip(got, want)]
    assert max(err_lsb) <= tol_lsb, (
        "%s: %s vs %s: %s LSB apart (tolerance %s LSB)"
        % (name, fmt(got), fmt(want), ", ".join("%.4f" % e for e in err_lsb), tol_lsb))


def fmt(v):
    return "(" + ", ".join("%.6f" % x for x in v) + ")"


# ---- detection -----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_both_drivers_find_the_chip_at_both_addresses(variant, clock, monkeypatch):
    for addr in ADDRESSES[variant]:
        rig = Rig(clock, variant, addr, motion_for(250))
        ada = adafruit_driver(rig, monkeypatch)        # raises if its WHO_AM_I check fails
        assert ada.i2c_device.device_address == addr
        drv = imu.detect(rig.bus)
        assert (drv.model, drv.addr) == (variant, addr)


@pytest.mark.parametrize("variant, wrong_class", [
    ("MPU-6500", adafruit_mpu6050.MPU6050),
    ("MPU-9250", adafruit_mpu6050.MPU6050),
    ("LSM6DS3TR-C", LSM6DSOX),
    ("LSM6DSOX", LSM6DS3TRC),
    ("MPU-6050", adafruit_icm20x.ICM20948),
])
def test_adafruit_refuses_a_chip_of_another_kind(variant, wrong_class, clock):
    rig = Rig(clock, variant, ADDRESSES[variant][0], motion_for(250))
    with pytest.raises(RuntimeError, match="[Ff]ailed to find"):
        wrong_class(rig.busio, rig.addr)


def test_adafruit_finds_nothing_where_no_chip_answers(clock):
    rig = Rig(clock, "LSM6DSOX", 0x6A, motion_for(250))
    with pytest.raises(ValueError, match="No I2C device"):
        LSM6DSOX(rig.busio, 0x6B)


# ---- the same readings --------------------------------------------------------------------

@pytest.mark.parametrize("ranges", list(zip(ACC_RANGES_G, GYR_RANGES_DPS)),
                         ids=lambda r: "%dg-%ddps" % r)
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_si_readings_from_the_same_model_state(variant, ranges, clock, monkeypatch):
    acc_range_g, gyr_range_dps = ranges
    motion = motion_for(gyr_range_dps)
    rig = Rig(clock, variant, ADDRESSES[variant][0], motion)
    acc_lsb, gyr_lsb = lsb_sizes(variant, acc_range_g, gyr_range_dps)

    ada = adafruit_driver(rig, monkeypatch)
    ada_rate_hz = adafruit_configure(ada, variant, acc_range_g, gyr_range_dps)
    assert rig.model_rate_hz() == pytest.approx(ada_rate_hz, rel=1e-9)
    clock.advance_s(2.0 / ada_rate_hz)
    ada_acc, ada_gyr = ada.acceleration, ada.gyro
    assert_close("Adafruit acc vs truth", ada_acc, motion.acc_m_s2, acc_lsb, TRUTH_TOL_LSB)
    assert_close("Adafruit gyr vs truth", ada_gyr, motion.gyr_rad_s, gyr_lsb, TRUTH_TOL_LSB)

    drv, acc, gyr = our_reading(rig, acc_range_g, gyr_range_dps)
    assert (drv.acc_range_g, drv.gyr_range_dps) == ranges
    assert rig.model_rate_hz() == pytest.approx(drv.odr_hz, rel=1e-9)
    assert_close("ours acc vs truth", acc, motion.acc_m_s2, acc_lsb, TRUTH_TOL_LSB)
    assert_close("ours gyr vs truth", gyr, motion.gyr_rad_s, gyr_lsb, TRUTH_TOL_LSB)
    assert_close("ours vs Adafruit acc", acc, ada_acc, acc_lsb, PAIR_TOL_LSB)
    assert_close("ours vs Adafruit gyr", gyr, ada_gyr, gyr_lsb, PAIR_TOL_LSB)
    # and Adafruit reading the chip as our driver left it (streaming) agrees again
    assert_close("Adafruit after ours, acc", ada.acceleration, acc, acc_lsb, PAIR_TOL_LSB)
    assert_close("Adafruit after ours, gyr", ada.gyro, gyr, gyr_lsb, PAIR_TOL_LSB)


def rate_settings(variant):
    """[(set(ada), rate Hz that setting stands for)] for the rate settings Adafruit offers."""
    if variant.startswith("MPU"):
        # its Bandwidth codes are CONFIG.DLPF_CFG; register map (SMPLRT_DIV): the gyro output
        # rate is 8 kHz with the DLPF off (DLPF_CFG 0 or 7), else 1 kHz, over 1 + SMPLRT_DIV
        def mpu(bw, div):
            def set_bw_div(ada):
                ada.filter_bandwidth = bw
                ada.sample_rate_divisor = div
            return set_bw_div
        return [(mpu(bw, div), (8000.0 if bw == 0 else 1000.0) / (1 + div))
                for bw in range(7) for div in (0, 4, 9, 39, 255)]
    if variant == "ICM-20948":
        def icm(div):
            def set_div(ada):
                ada.gyro_data_rate_divisor = div
            return set_div
        return [(icm(div), 1100.0 / (1 + div)) for div in (0, 10, 43, 255)]

    def lsm(code):
        def set_code(ada):
            ada.accelerometer_data_rate = code
            ada.gyro_data_rate = code
        return set_code
    rates = adafruit_lsm6ds.Rate.string
    return [(lsm(code), float(rates[code])) for code in rates if code]


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_runs_at_the_rates_adafruit_sets(variant, clock, monkeypatch):
    # within 5e-4: Adafruit's label of the LSM6DS 6.66 kHz code (1010) is 6664 Hz, the model
    # (as ST's register headers) says 6667 Hz; the datasheets say only "6.66 kHz"
    rig = Rig(clock, variant, ADDRESSES[variant][0], motion_for(250))
    ada = adafruit_driver(rig, monkeypatch)
    settings = rate_settings(variant)
    assert len(settings) >= 4
    for apply, rate_hz in settings:
        apply(ada)
        assert rig.model_rate_hz() == pytest.approx(rate_hz, rel=5e-4)


# ---- our configuration, read back through Adafruit's register maps -----------------------

def adafruit_view(variant, ada):
    """(acc range g, gyr range dps, output rate Hz) as the chip's registers hold them,
    decoded with Adafruit's register fields and tables (not its cached settings)."""
    if variant.startswith("MPU"):
        dlpf_on = 1 <= ada.filter_bandwidth <= 6
        rate_hz = (1000.0 if dlpf_on else 8000.0) / (1 + ada.sample_rate_divisor)
        return (ACC_RANGES_G[ada.accelerometer_range], GYR_RANGES_DPS[ada.gyro_range],
                rate_hz)
    if variant == "ICM-20948":
        ada._bank = 2
        acc_g = adafruit_icm20x.AccelRange.string[ada._accel_range]
        gyr_dps = adafruit_icm20x.GyroRange.string[ada._gyro_range]
        assert ada._gyro_dlpf_enable == 1          # GYRO_FCHOICE: the 1.1 kHz base
        ada._bank = 0
        return acc_g, gyr_dps, ada.gyro_data_rate
    assert not ada._gyro_range_125dps
    rates = adafruit_lsm6ds.Rate.string
    assert ada.accelerometer_data_rate == ada.gyro_data_rate
    return (adafruit_lsm6ds.AccelRange.string[ada._accel_range],
            adafruit_lsm6ds.GyroRange.string[ada._gyro_range], rates[ada.gyro_data_rate])


@pytest.mark.parametrize("variant", VARIANTS)
def test_adafruit_reads_back_the_configuration_we_write(variant, clock, monkeypatch):
    rig = Rig(clock, variant, ADDRESSES[variant][0], motion_for(250))
    ada = adafruit_driver(rig, monkeypatch)
    drv = imu.detect(rig.bus)
    asks = [(25, 2, 250), (100, 4, 500), (200, 8, 1000), (1000, 16, 2000), (30, 3, 300)]
    for rate_hz, acc_g, gyr_dps in asks:
        drv.configure(rate_hz, acc_g, gyr_dps)
        got = adafruit_view(variant, ada)
        want = (drv.acc_range_g, drv.gyr_range_dps, drv.odr_hz)
        assert got == pytest.approx(want, rel=1e-9), (rate_hz, acc_g, gyr_dps)
        assert drv.acc_range_g >= acc_g and drv.gyr_range_dps >= gyr_dps
        assert drv.odr_hz >= min(rate_hz, 1000)
    if variant.startswith("MPU"):
        assert not ada.sleep and ada.clock_source == 1     # awake, gyro PLL
    if variant == "LSM6DSOX":
        # CTRL9_XL: I3C_disable is bit 1; bit 0 must stay 0 (LSM6DSOX datasheet, CTRL9_XL)
        assert rig.bus.readfrom_mem(rig.addr, 0x18, 1)[0] & 0x03 == 0x02


# ---- the FIFO, read by Adafruit's MPU-6050 driver -----------------------------------------

def test_adafruit_reads_the_mpu6050_fifo_as_our_model_fills_it(clock, monkeypatch):
    motion = motion_for(250)
    rig = Rig(clock, "MPU-6050", 0x68, motion)
    ada = adafruit_driver(rig, monkeypatch)
    rate_hz = adafruit_configure(ada, "MPU-6050", 4, 500)
    ada.fiforst = True                       # USER_CTRL.FIFO_RESET (self-clearing)
    ada.accel_fifo_en = True                 # FIFO_EN.ACCEL: 6-byte records
    ada.fifo_en = True                       # USER_CTRL.FIFO_EN
    clock.advance_s(10 / rate_hz)
    count = ada.fifo_count
    assert count % 6 == 0 and abs(count // 6 - 10) <= 1, count
    raw = ada.read_whole_fifo()
    assert len(raw) == count and ada.fifo_count == 0
    acc_lsb = lsb_sizes("MPU-6050", 4, 500)[0]
    for k in range(count // 6):
        acc = ada.scale_accel(struct.unpack_from(">3h", raw, 6 * k))
        assert_close("FIFO record %d" % k, acc, motion.acc_m_s2, acc_lsb, TRUTH_TOL_LSB)


# ---- disagreements found, settled from the datasheets -------------------------------------

@pytest.mark.parametrize("variant", ["LSM6DSOX", "LSM6DS3TR-C"])
def test_lsm6ds_model_honours_fs_125(variant, clock, monkeypatch):
    # Adafruit's ±125 dps sets CTRL2_G.FS_125 (bit 1) and leaves FS_G as it was; the model
    # ignored that bit. Datasheets (LSM6DSOX, LSM6DS3TR-C, CTRL2_G): FS_125 = 1 selects
    # ±125 dps whatever FS_G holds; sensitivity 4.375 mdps/LSB (table 2, G_So).
    motion = motion_for(125)
    rig = Rig(clock, variant, ADDRESSES[variant][0], motion)
    ada = adafruit_driver(rig, monkeypatch)
    ada.gyro_range = adafruit_lsm6ds.GyroRange.RANGE_2000_DPS
    ada.gyro_range = adafruit_lsm6ds.GyroRange.RANGE_125_DPS
    assert ada._gyro_range == 3 and ada._gyro_range_125dps   # FS_G still 2000, FS_125 set
    clock.advance_s(0.05)
    gyr_lsb = lsb_sizes(variant, 2, 125)[1]
    assert_close("Adafruit gyr at 125 dps", ada.gyro, motion.gyr_rad_s, gyr_lsb, TRUTH_TOL_LSB)
    counts = struct.unpack("<3h", rig.bus.readfrom_mem(rig.addr, 0x22, 6))   # OUTX_L_G..
    assert counts == tuple(round(w / gyr_lsb) for w in motion.gyr_rad_s)
    ada.gyro_range = adafruit_lsm6ds.GyroRange.RANGE_2000_DPS         # FS_125 cleared again
    clock.advance_s(0.05)
    assert_close("Adafruit gyr at 2000 dps", ada.gyro, motion.gyr_rad_s,
                 lsb_sizes(variant, 2, 2000)[1], TRUTH_TOL_LSB)


def test_icm20948_model_raises_data_ready_without_the_pin_enable(clock, monkeypatch):
    # Adafruit's data_ready() polls INT_STATUS_1.RAW_DATA_0_RDY_INT and never sets
    # INT_ENABLE_1; the model set the status only when RAW_DATA_0_RDY_EN was set, so it never
    # came. Datasheet (ICM-20948, user bank 0): RAW_DATA_0_RDY_EN enables the interrupt "to
    # propagate to interrupt pin 1"; RAW_DATA_0_RDY_INT = 1 means "Sensor Register Raw Data,
    # from all sensors, is updated and ready to be read". Cleared when read.
    rig = Rig(clock, "ICM-20948", 0x69, motion_for(500))
    ada = adafruit_driver(rig, monkeypatch)
    ada.gyro_data_rate_divisor = 10                          # 100 Hz
    clock.advance_s(0.015)
    assert ada.data_ready()                                  # (selects bank 0)
    assert rig.bus.readfrom_mem(rig.addr, 0x11, 1) == b"\x00"   # INT_ENABLE_1 as reset
    assert not ada.data_ready()                              # cleared by the read
    clock.advance_s(0.004)
    assert not ada.data_ready()                              # no sample since
    clock.advance_s(0.010)
    assert ada.data_ready()
