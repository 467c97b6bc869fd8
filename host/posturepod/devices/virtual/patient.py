"""A virtual patient: three virtual boards (pelvis, thorax, head), each a separate
``posturepod virtual-board`` process running the real firmware, all fed from one motion
trace whose time 0 is the same true instant for every board."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROLES = ("pelvis", "thorax", "head")


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


class BoardProcess:
    def __init__(self, role: str, link: Path, proc: subprocess.Popen, fs: Path, args: list):
        self.role = role
        self.link = link
        self.proc = proc
        self.fs = fs
        self.args = args

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, wait_s: float = 10.0) -> None:
        """Start the board process again (same filesystem, same link path)."""
        self.kill()
        self.proc = subprocess.Popen(self.args, stderr=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
        _wait_link(self.link, wait_s, self.proc, previous=None)


def _wait_link(link: Path, wait_s: float, proc, previous: str | None) -> None:
    t_end = time.monotonic() + wait_s
    while time.monotonic() < t_end:
        if link.is_symlink() and os.path.exists(link):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"virtual board for {link} exited with {proc.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"virtual board did not create {link} within {wait_s} s")


def spawn_board(role: str, link: Path, *, fs: Path | None = None, trace: Path | None = None,
                t0_us: int | None = None, rate_hz: int = 100, imu: str = "MPU-6050",
                ppm: int = 0, start_ticks: int = 0, dev_start_us: int = 0,
                motor_log: Path | None = None,
                trace_role: str | None = None, quiet: bool = True,
                wait_s: float = 10.0) -> BoardProcess:
    fs = fs or Path(tempfile.mkdtemp(prefix=f"vboard-{role}-"))
    link = Path(link)
    args = [sys.executable, "-m", "posturepod.devices.virtual.board", "--role", role,
            "--link", str(link), "--fs", str(fs), "--rate-hz", str(rate_hz), "--imu", imu,
            "--ppm", str(ppm), "--start-ticks", str(start_ticks),
            "--dev-start-us", str(dev_start_us)]
    if trace:
        args += ["--trace", str(trace), "--trace-role", trace_role or role]
    if t0_us is not None:
        args += ["--t0-us", str(t0_us)]
    if motor_log:
        args += ["--motor-log", str(motor_log)]
    if link.is_symlink():
        link.unlink()
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL if quiet else None,
                            stdout=subprocess.DEVNULL)
    _wait_link(link, wait_s, proc, None)
    return BoardProcess(role, link, proc, fs, args)


class VirtualPatient:
    """Context manager: three boards on ptys in ``workdir``; ``.links`` maps role -> path."""

    def __init__(self, workdir: Path, *, trace: Path | None = None, t0_us: int | None = None,
                 rate_hz: int = 100, imus: dict | None = None, ppm: dict | None = None,
                 start_ticks: dict | None = None, dev_start_us: dict | None = None,
                 roles=ROLES, motor_log: bool = False):
        self.workdir = Path(workdir)
        self.trace = trace
        self.t0_us = t0_us
        self.rate_hz = rate_hz
        # FIFO chips with exact 1 kHz-derived rates by default (ICM-20948 and LSM6DSOX are
        # exercised by the tests that name them)
        self.imus = imus or {"pelvis": "MPU-6050", "thorax": "MPU-9250", "head": "MPU-6500"}
        self.ppm = ppm or {}
        self.start_ticks = start_ticks or {}
        self.dev_start_us = dev_start_us or {}
        self.roles = roles
        self.motor_log = motor_log
        self.boards: dict[str, BoardProcess] = {}

    @property
    def links(self) -> dict[str, str]:
        return {r: str(b.link) for r, b in self.boards.items()}

    def __enter__(self) -> VirtualPatient:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            for r in self.roles:
                self.boards[r] = spawn_board(
                    r, self.workdir / f"{r}.tty", fs=self.workdir / f"fs-{r}",
                    trace=self.trace, t0_us=self.t0_us, rate_hz=self.rate_hz,
                    imu=self.imus.get(r, "MPU-6050"), ppm=self.ppm.get(r, 0),
                    start_ticks=self.start_ticks.get(r, 0),
                    dev_start_us=self.dev_start_us.get(r, 0),
                    motor_log=(self.workdir / f"{r}.motor.log") if self.motor_log else None)
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        stop_boards(self.boards.values())


def stop_boards(boards) -> None:
    """Terminate board processes together (each relay shuts its interpreter down), then
    kill any that has not ended within 5 s."""
    boards = list(boards)
    for b in boards:
        if b.proc.poll() is None:
            b.proc.terminate()
    for b in boards:
        try:
            b.proc.wait(5)
        except subprocess.TimeoutExpired:
            b.kill()
