"""Serial transport (pyserial): USB-CDC of native-USB boards, USB-UART bridges, ptys of
virtual boards. DTR/RTS are left low on open so boards with an auto-reset circuit (ESP32
DevKitC) are not reset by the host opening the port."""
from __future__ import annotations

import serial

from posturepod.pods.transport.base import LinkLost, Transport, TransportError

BAUD = 921600


class SerialTransport(Transport):
    def __init__(self, port: str, baudrate: int = BAUD):
        self.spec = port
        self.baudrate = baudrate
        self._ser: serial.Serial | None = None

    def open(self) -> None:
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
