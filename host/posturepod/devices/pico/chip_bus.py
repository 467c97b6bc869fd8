"""The emulated Pico's I2C bus, Python side: the IMU register models of the unix-port
virtual board (``firmware/vboard/chips``, the one copy) answering the RP2040 I2C
controller's events byte by byte, on the emulated clock.

Time: each event carries the emulated time (ns since the emulator started, continuing
across resets); the chip models sample their motion source on it (trace time 0 is the
emulator's start). The bus time of each transfer is spent in the emulator itself (each
byte completes 9 SCL periods after it started), so the models see the same time a real
chip would."""
from __future__ import annotations

import sys

from posturepod.devices.boards import FIRMWARE_DIR


class EmulatedClock:
    """The clock the chip models read (only ``true_us`` is used): the emulated time."""

    def __init__(self) -> None:
        self.now_us = 0

    def set_ns(self, t_ns: float) -> None:
        self.now_us = int(t_ns // 1000)

    def true_us(self) -> int:
        return self.now_us


def _vboard():
    """The firmware's vboard package (MicroPython code that also runs in CPython)."""
    if str(FIRMWARE_DIR) not in sys.path:
        sys.path.append(str(FIRMWARE_DIR))
    import vboard.chips  # type: ignore[import-not-found]
    import vboard.motion  # type: ignore[import-not-found]
    return vboard


def make_chip(model: str, clock: EmulatedClock, trace: str | None = None,
              trace_role: str = "pelvis"):
    """A chip model by name (MPU-6050, ICM-20948, LSM6DSOX...) fed by a motion trace, or
    lying still with gravity along +z when there is none."""
    vb = _vboard()
    source = (vb.motion.TraceSource(trace, trace_role) if trace
              else vb.motion.StillSource())
    return vb.chips.make(model, source, clock)


class ByteBus:
    """Devices by 7-bit address, addressed and read or written one byte at a time."""

    def __init__(self, clock: EmulatedClock) -> None:
        self.clock = clock
        self.devices: dict[int, object] = {}
        self._dev = None
        self._reg = -1
        self._want_reg = False
        self.transfers = 0
        self.bytes = 0

    def attach(self, addr: int, chip) -> None:
        self.devices[addr] = chip

    def connect(self, addr: int, read: bool, t_ns: float) -> None:
        self.clock.set_ns(t_ns)
        self._dev = self.devices.get(addr)
        self.transfers += 1
        if self._dev is not None:
            self._dev.begin()
        self._want_reg = not read

    def write(self, v: int, t_ns: float) -> None:
        self.clock.set_ns(t_ns)
        self.bytes += 1
        if self._dev is None:
            return
        if self._want_reg:
            self._reg = v
            self._want_reg = False
        elif self._reg >= 0:
            self._reg = self._dev.write_byte(self._reg, v)

    def read(self, t_ns: float) -> int:
        self.clock.set_ns(t_ns)
        self.bytes += 1
        if self._dev is None or self._reg < 0:
            return 0xFF
        v, self._reg = self._dev.read_byte(self._reg)
        return v

    def stop(self, t_ns: float) -> None:
        self.clock.set_ns(t_ns)
        self._dev = None
