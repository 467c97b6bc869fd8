"""The emulated Pico on a pseudo-terminal: runs ``emulator.mjs`` under Node and relays its
USB CDC to a pty symlinked at ``link`` (opened with pyserial or mpremote as a real Pico's
/dev/ttyACM0 is), and answers its I2C events with the chip models (``chip_bus``).

Layout: host <-> outer pty (``link``) <-> this relay <-> pipes <-> Node (rp2040js).
Frames on the pipes: see emulator.mjs. Flow control: the emulated USB CDC drops host bytes
past its 512-byte input buffer, so the relay keeps at most ``USB_CREDIT_BYTES`` in flight
and sends more only as the emulator reports bytes taken; when the host does not read, up
to ``MAX_PENDING`` bytes from the board are kept here, then the relay stops reading the
emulator, which then stalls (a real device blocks in write). Ctrl-C, soft reboot and the
raw REPL are MicroPython's own (the rp2 port's USB CDC), so nothing is emulated here.
"""
from __future__ import annotations

import errno
import os
import select
import signal
import struct
import subprocess
import sys
from pathlib import Path

from posturepod.devices.pico.chip_bus import ByteBus
from posturepod.devices.pico.node_env import EMULATOR, ensure_modules, node_exe
from posturepod.devices.virtual.board import open_pty_link

USB_CREDIT_BYTES = 512
MAX_PENDING = 1 << 20
_TIME = struct.Struct("<d")


class PicoBoard:
    def __init__(self, link: str | Path, flash_file: Path, uf2: Path, bootrom: Path, *,
                 bus: ByteBus | None = None, i2c_pins: tuple[int, int, int] = (0, 4, 5),
                 log=None):
        self.link = Path(link)
        self.flash_file = Path(flash_file)
        self.uf2 = Path(uf2)
        self.bootrom = Path(bootrom)
        self.bus = bus
        self.i2c_pins = i2c_pins
        self.log = log or (lambda m: None)
        self.proc: subprocess.Popen | None = None
        self.boots = 0
        self._stop = False
        self._credit = USB_CREDIT_BYTES
        self._to_host = bytearray()
        self._to_dev = bytearray()
        self._to_node = bytearray()
        self._from_node = bytearray()
        self.slave_name = ""

    # -- the emulator -------------------------------------------------------------------
    def start(self) -> None:
        modules = ensure_modules(self.log)
        node = node_exe()
        self.outer, self._keep, self.slave_name = open_pty_link(self.link)
        reply_r, self._reply_w = os.pipe()
        args = [node, str(EMULATOR), "--modules", str(modules), "--uf2", str(self.uf2),
                "--bootrom", str(self.bootrom), "--flash", str(self.flash_file),
                "--reply-fd", str(reply_r)]
        if self.bus is not None and self.bus.devices:
            bid, sda, scl = self.i2c_pins
            args += ["--i2c", ",".join(str(x) for x in (bid, sda, scl, *self.bus.devices))]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     pass_fds=(reply_r,), close_fds=True)
        os.close(reply_r)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)

    def _frame(self, type_: bytes, body: bytes) -> None:
        self._to_node += type_ + struct.pack("<H", len(body)) + body

    def _handle(self, t: int, body: bytes) -> None:
        if t == ord("S"):
            self._to_host += body
        elif t == ord("A"):
            self._credit += struct.unpack("<H", body)[0]
        elif t == ord("C") and self.bus is not None:
            self.bus.connect(body[0], body[1] == 1, _TIME.unpack_from(body, 2)[0])
        elif t == ord("W") and self.bus is not None:
            self.bus.write(body[0], _TIME.unpack_from(body, 1)[0])
        elif t == ord("R"):
            v = self.bus.read(_TIME.unpack_from(body, 1)[0]) if self.bus is not None else 0xFF
            os.write(self._reply_w, bytes([v]))
        elif t == ord("P") and self.bus is not None:
            self.bus.stop(_TIME.unpack_from(body, 0)[0])
        elif t == ord("B"):
            self.boots += 1
            self.log(f"chip built: {body.decode(errors='replace')}")
        elif t == ord("L"):
            self.log(body.decode(errors="replace"))

    def _parse(self) -> None:
        buf = self._from_node
        i = 0
        while len(buf) - i >= 3:
            n = buf[i + 1] | (buf[i + 2] << 8)
            if len(buf) - i < 3 + n:
                break
            self._handle(buf[i], bytes(buf[i + 3:i + 3 + n]))
            i += 3 + n
        del buf[:i]

    # -- the relay ----------------------------------------------------------------------
    def step(self, timeout: float = 0.05) -> bool:
        """One turn of the relay; False once the emulator has ended."""
        if self._to_dev and self._credit > 0:
            n = min(self._credit, len(self._to_dev), 4096)
            self._frame(b"S", bytes(self._to_dev[:n]))
            del self._to_dev[:n]
            self._credit -= n
        rd = []
        if len(self._to_dev) < 4096:
            rd.append(self.outer)
        if len(self._to_host) < MAX_PENDING:
            rd.append(self._out)
        wr = []
        if self._to_host:
            wr.append(self.outer)
        if self._to_node:
            wr.append(self._in)
        try:
            r, w, _ = select.select(rd, wr, [], timeout)
        except InterruptedError:
            return True
        if self._out in r:
            try:
                data = os.read(self._out, 65536)
            except BlockingIOError:
                data = None
            if data == b"":
                return False
            if data:
                self._from_node += data
                self._parse()
        if self.outer in r:
            try:
                data = os.read(self.outer, 4096)
            except OSError as e:
                if e.errno not in (errno.EIO, errno.EAGAIN):
                    raise
                data = b""
            self._to_dev += data
        if self.outer in w:
            try:
                n = os.write(self.outer, self._to_host)
                del self._to_host[:n]
            except BlockingIOError:
                pass
        if self._in in w:
            try:
                n = os.write(self._in, self._to_node)
                del self._to_node[:n]
            except BlockingIOError:
                pass
            except BrokenPipeError:
                return False
        return True

    def run(self, on_started=None) -> int:
        """Relay until SIGTERM/SIGINT; on_started(): called once the link exists (from
        this thread: it must hand long work to another one)."""
        self.start()
        if on_started:
            on_started()
        signal.signal(signal.SIGTERM, lambda *a: setattr(self, "_stop", True))
        signal.signal(signal.SIGINT, lambda *a: setattr(self, "_stop", True))
        try:
            while not self._stop:
                if not self.step():
                    self.log(f"the emulator ended ({self.proc.wait() if self.proc else '?'})")
                    return 1
            return 0
        finally:
            self.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.set_blocking(self._in, True)
                os.write(self._in, b"Q\x00\x00")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        try:
            if self.link.is_symlink() and os.readlink(self.link) == self.slave_name:
                self.link.unlink()
        except OSError:
            pass


def main_log(role: str):
    return lambda m: print(f"[{role} pico] {m}", file=sys.stderr, flush=True)
