"""Serial transport (pyserial): USB-CDC of native-USB boards, USB-UART bridges, ptys of
virtual boards. DTR/RTS are left low on open so boards with an auto-reset circuit (ESP32
DevKitC) are not reset by the host opening the port."""
from __future__ import annotations

import os

import serial

from posturepod.pods.transport.base import LinkLost, PortMissing, Transport, TransportError

BAUD = 921600


class SerialTransport(Transport):
    def __init__(self, port: str, baudrate: int = BAUD):
        self.spec = port
        self.baudrate = baudrate
        self._ser: serial.Serial | None = None

    def open(self) -> None:
        if "/" in self.spec and "://" not in self.spec and not os.path.exists(self.spec):
            raise PortMissing(f"{self.spec}: no such port (is the pod plugged in, with a "
                              f"data cable?)")
        s = serial.Serial()
        s.port = self.spec
        s.baudrate = self.baudrate
        s.timeout = 0.05
        s.write_timeout = 2.0
        s.dtr = False
        s.rts = False
        try:
            s.open()
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.spec}: cannot open: {e}") from None
        self._ser = s

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
            self._ser = None

    def read(self, timeout_s: float) -> bytes:
        s = self._ser
        if s is None:
            raise LinkLost(f"{self.spec}: not open")
        try:
            if s.timeout != timeout_s:
                s.timeout = timeout_s
            n = s.in_waiting
            return s.read(n if n > 0 else 1)
        except (serial.SerialException, OSError, TypeError) as e:
            raise LinkLost(f"{self.spec}: {e}") from None

    def write(self, data: bytes) -> None:
        s = self._ser
        if s is None:
            raise LinkLost(f"{self.spec}: not open")
        try:
            s.write(data)
        except (serial.SerialException, OSError) as e:
            raise LinkLost(f"{self.spec}: {e}") from None

    @property
    def kind(self) -> str:
        return "serial"


def ports_seen() -> str:
    """The serial ports this computer has now, for messages about a missing one."""
    try:
        from serial.tools import list_ports
        ports = [f"{p.device} ({p.vid:04X}:{p.pid:04X})" if p.vid is not None else p.device
                 for p in list_ports.comports()]
    except Exception:  # noqa: BLE001 - only a hint
        ports = []
    return "serial ports now: " + (", ".join(ports) if ports else "none")
