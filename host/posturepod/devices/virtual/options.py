"""The options of a virtual board (``posturepod virtual-board``), declared where no
POSIX-only module is imported, so the CLI can be built on Windows too."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="virtual", choices=["virtual", "pico"],
                   help="virtual: the MicroPython unix port; pico: an emulated Raspberry Pi "
                        "Pico running the real RPI_PICO MicroPython (docs/pico.md)")
    p.add_argument("--uf2", help="pico: MicroPython RPI_PICO .uf2 (default: "
                                 "$POSTUREPOD_PICO_UF2)")
    p.add_argument("--bootrom", help="pico: RP2040 boot ROM, 16 KiB (default: "
                                     "$POSTUREPOD_PICO_BOOTROM)")
    p.add_argument("--role", default="pelvis", choices=["pelvis", "thorax", "head"])
    p.add_argument("--link", required=True, help="path of the serial device to create")
    p.add_argument("--trace", help="motion trace file (posturepod virtual trace format)")
    p.add_argument("--trace-role", help="which body location of the trace this pod wears")
    p.add_argument("--t0-us", type=int, help="CLOCK_MONOTONIC us of trace time 0")
    p.add_argument("--imu", default="MPU-6050",
                   help="MPU-6050, MPU-6500, MPU-9250, ICM-20948, LSM6DSOX, LSM6DS3TR-C, none")
    p.add_argument("--rate-hz", type=int, default=100)
    p.add_argument("--ppm", type=int, default=0, help="pod clock rate error, ppm")
    p.add_argument("--start-ticks", type=int, default=0,
                   help="initial ticks_us (near 2**30 to force an early wrap)")
    p.add_argument("--dev-start-us", type=int, default=0,
                   help="device time counter at boot (near 2**32 to force its wrap)")
    p.add_argument("--pod-id")
    p.add_argument("--fs", help="board filesystem directory (kept between runs; pico: holds "
                                "its flash, flash.bin)")
    p.add_argument("--blank", action="store_true", help="no firmware: a bare MicroPython board")
    p.add_argument("--motor-log", help="file the vibration motor's on/off switching goes to")
    p.add_argument("--turn-after", type=float, metavar="SECONDS",
                   help="instead of --trace: the pod lies flat, then is turned 90 deg this "
                        "many seconds after the board starts (what posturepod selftest asks)")


def motion_source(a) -> str | None:
    """Settle where the board's motion comes from; an error message, or None when fine.
    ``--turn-after``: a flat-then-turned trace is written beside the board's filesystem.
    ``--trace``: checked first (a wrong file would otherwise fail silently on the board)."""
    import tempfile
    from pathlib import Path

    from posturepod.devices.virtual.patient import monotonic_us
    from posturepod.devices.virtual.trace import check_trace, turn_trace, write_trace
    if getattr(a, "turn_after", None) is not None:
        if a.trace:
            return "give --trace or --turn-after, not both"
        rate = 200
        t, acc, gyr = turn_trace(rate, a.turn_after + 3600.0, a.turn_after)
        where = Path(a.fs) if a.fs else Path(tempfile.mkdtemp(prefix="vboard-turn-"))
        where.mkdir(parents=True, exist_ok=True)
        a.trace = str(write_trace(where / "turn.trace", rate,
                                  {a.role: {"acc_m_s2": acc, "gyr_rad_s": gyr}}))
        a.trace_role = a.role
        if a.t0_us is None:
            a.t0_us = monotonic_us()
    if a.trace:
        return check_trace(a.trace, a.trace_role or a.role)
    return None
