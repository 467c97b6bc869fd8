# IMU drivers, register level, one module per chip family, with one interface:
#
#   drv.model          str: "MPU-6050", "MPU-6500", "MPU-9250", "ICM-20948", "LSM6DSOX", "LSM6DS3TR-C"
#   drv.addr           int: 7-bit I2C address
#   drv.has_fifo       bool
#   drv.configure(rate_hz, acc_range_g, gyr_range_dps)
#                      picks the chip's nearest output data rate >= rate_hz (capped at the chip's
#                      maximum) and the nearest ranges >= those asked; sets drv.odr_hz (float,
#                      the true nominal chip rate), drv.acc_range_g, drv.gyr_range_dps (ints as
#                      configured), drv.acc_scale (m/s^2 per count), drv.gyr_scale (rad/s per
#                      count). Leaves the chip idle (not streaming).
#   drv.start()        flush and enable the FIFO (or data-ready) stream
#   drv.stop()         stop streaming
#   drv.read(buf, max_n) -> n
#                      read up to max_n new samples into buf (bytearray, 12*max_n bytes) as
#                      records of 6 little-endian int16: acc x,y,z then gyr x,y,z, chip axes.
#                      Returns 0 when nothing new. Allocates nothing (readfrom_mem_into into
#                      preallocated buffers, in-place byte swaps).
#   drv.waiting() -> n samples ready to be read now, from one short bus transfer (the FIFO
#                      count; 0 or 1 for a driver without a FIFO); FULL when the FIFO
#                      overflowed (read() then deals with it). Lets the sampler look for
#                      a new sample without reading it (pod/sampler.py: when to read).
#   drv.overflows      int: FIFO overflows seen since start() (samples lost on the chip)
#
# detect(i2c) reads WHO_AM_I at both usual addresses of every supported chip and returns a
# driver, or raises ImuError naming what the bus answered.


class ImuError(Exception):
    pass


FULL = 0x3FFF                     # waiting(): the FIFO overflowed, read it now


_DRIVERS = ("mpu6050", "icm20948", "lsm6ds")

# shared by the drivers
G = 9.80665                       # m/s^2 per g
RAD = 3.141592653589793 / 180.0   # rad per degree


def sleep_ms(ms):
    import time
    try:
        time.sleep_ms(ms)  # type: ignore[attr-defined]
    except AttributeError:  # CPython (docs, tools)
        time.sleep(ms / 1000)


def pick(table, want):
    """Index of the first entry >= want (the last one if none is)."""
    for i in range(len(table)):
        if table[i] >= want:
            return i
    return len(table) - 1


def who_am_i(i2c, addr, reg, models):
    """The model name for the WHO_AM_I byte at reg, or None (no answer, unknown id)."""
    b = bytearray(1)
    try:
        i2c.readfrom_mem_into(addr, reg, b)
    except OSError:
        return None
    return models.get(b[0])


def detect(i2c):
    try:
        found = i2c.scan()
    except OSError as e:
        raise ImuError("I2C bus error during scan: %r" % (e,))
    for name in _DRIVERS:
        try:
            mod = __import__("pod.imu." + name, None, None, ["probe"])
        except ImportError:
            continue  # a board may leave out drivers it does not need
        for addr in mod.ADDRESSES:
            if addr not in found:
                continue
            try:
                drv = mod.probe(i2c, addr)
            except OSError:
                drv = None
            if drv is not None:
                return drv
    if not found:
        raise ImuError("no IMU: nothing answers on the I2C bus (check wiring, pull-ups, power)")
    raise ImuError("no supported IMU: bus answers at %s, none has a known WHO_AM_I"
                   % ", ".join("0x%02X" % a for a in found))


class Driver:
    """What every driver shares: identity, the scale and rate fields of the interface,
    one-byte register access through preallocated buffers, and the soft reset wait."""

    has_fifo = True

    def __init__(self, i2c, addr, model):
        self._i2c = i2c
        self.addr = addr
        self.model = model
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self.odr_hz = 0.0
        self.acc_range_g = 0
        self.gyr_range_dps = 0
        self.acc_scale = 0.0
        self.gyr_scale = 0.0
        self.overflows = 0

    def _w(self, reg, v):
        self._b1[0] = v
        self._i2c.writeto_mem(self.addr, reg, self._b1)

    def _r(self, reg):
        self._i2c.readfrom_mem_into(self.addr, reg, self._b1)
        return self._b1[0]

    def _reset(self, reg, value, busy):
        """Write the reset value, then wait (<= 100 ms) until the busy bits clear."""
        self._w(reg, value)
        for _ in range(100):
            sleep_ms(1)
            try:
                if not self._r(reg) & busy:
                    return
            except OSError:  # the chip may not acknowledge while it resets
                pass
        raise ImuError("%s at 0x%02X: reset did not complete" % (self.model, self.addr))
