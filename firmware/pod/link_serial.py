# Serial link: USB-CDC through sys.stdin/sys.stdout (the REPL's own port) or a UART from the
# board profile. A link has: write(buf, n), poll(timeout_ms) -> True when a byte may be read,
# read_byte() -> int (-1 if none), close(). BLE (pod/link_ble.py) has the same shape.
import sys
import select


class StdioLink:
    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._p = select.poll()
        self._p.register(sys.stdin, select.POLLIN)
        self._b = bytearray(1)
        self.kind = "usb"

    def write(self, buf, n):
        self._out.write(buf, n)

    def poll(self, timeout_ms):
        for _ in self._p.ipoll(timeout_ms):
            return True
        return False

    def read_byte(self):
        if self._in.readinto(self._b) != 1:
            return -1
        return self._b[0]

    def close(self):
        self._p.unregister(sys.stdin)


class UartLink:
    def __init__(self, cfg):
        from machine import UART  # type: ignore[import-not-found]
        self._u = UART(cfg["id"], baudrate=cfg.get("baud", 921600), tx=cfg["tx"], rx=cfg["rx"],
                       rxbuf=1024, txbuf=4096)
        self._p = select.poll()
        self._p.register(self._u, select.POLLIN)
        self._b = bytearray(1)
        self.kind = "uart"

    def write(self, buf, n):
        self._u.write(memoryview(buf)[:n])

    def poll(self, timeout_ms):
        for _ in self._p.ipoll(timeout_ms):
            return True
        return False

    def read_byte(self):
        if self._u.readinto(self._b, 1) != 1:
            return -1
        return self._b[0]

    def close(self):
        self._p.unregister(self._u)


def open_link(profile):
    u = profile.get("uart")
    if u:
        return UartLink(u)
    return StdioLink()
