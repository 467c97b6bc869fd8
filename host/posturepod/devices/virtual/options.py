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
