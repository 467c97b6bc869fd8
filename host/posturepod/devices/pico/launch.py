"""``posturepod virtual-board --board pico``: an emulated Pico from the command line's
options (the same options as the unix-port virtual board where they apply)."""
from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from posturepod.devices.boards import load_profile
from posturepod.devices.pico.bridge import PicoBoard, main_log
from posturepod.devices.pico.chip_bus import ByteBus, EmulatedClock, make_chip
from posturepod.devices.pico.node_env import (
    BOOTROM_ENV,
    UF2_ENV,
    PicoSetupError,
    find_image,
)

PROFILE = "pico"
INSTALLING = "installing"     # in --fs while the pod firmware goes onto a new flash


def make_bus(imu: str, trace: str | None, trace_role: str) -> ByteBus:
    clock = EmulatedClock()
    bus = ByteBus(clock)
    if imu and imu.lower() != "none":
        chip = make_chip(imu, clock, trace, trace_role)
        bus.attach(chip.ADDRESSES[0], chip)
    return bus


def i2c_pins(profile: dict) -> tuple[int, int, int]:
    c = profile.get("i2c") or {}
    return int(c.get("id", 0)), int(c["sda"]), int(c["scl"])


def install_firmware(a, fs: Path, log) -> None:
    """What ``posturepod flash --board pico`` does, onto a new emulated board just started
    (through its own link). A flash that exists is kept as it is (whatever was installed
    on it), unless an install into it did not finish (fs/INSTALLING)."""
    from posturepod.devices.deploy import flash, format_info
    from posturepod.devices.deploy_error import DeployError
    try:
        res = flash(str(a.link), role=a.role, board=PROFILE, rate_hz=a.rate_hz,
                    timeout_s=30.0, boot_timeout_s=60.0, log=lambda m: log("flash: " + m))
    except DeployError as e:
        log(f"installing the pod firmware failed: {e}")
        return
    (fs / INSTALLING).unlink()
    log(f"pod firmware installed: {format_info(res.info)}")


def run_from_args(a) -> int:
    log = main_log(a.role)
    try:
        uf2 = find_image(a.uf2, UF2_ENV, "MicroPython RPI_PICO image", "--uf2")
        bootrom = find_image(a.bootrom, BOOTROM_ENV, "RP2040 boot ROM", "--bootrom")
        fs = Path(a.fs) if a.fs else Path(tempfile.mkdtemp(prefix=f"pico-{a.role}-"))
        fs.mkdir(parents=True, exist_ok=True)
        bus = make_bus(a.imu, str(Path(a.trace).resolve()) if a.trace else None,
                       a.trace_role or a.role)
        board = PicoBoard(a.link, fs / "flash.bin", uf2, bootrom, bus=bus,
                          i2c_pins=i2c_pins(load_profile(PROFILE)), log=log)
        print(f"emulated Pico ({a.role}) on {a.link} (flash {fs / 'flash.bin'})",
              file=sys.stderr, flush=True)
        install = None
        if not a.blank and (not (fs / "flash.bin").exists() or (fs / INSTALLING).exists()):
            (fs / INSTALLING).write_text(a.role + "\n")
            def install():
                threading.Thread(target=install_firmware, args=(a, fs, log),
                                 daemon=True).start()
        return board.run(on_started=install)
    except PicoSetupError as e:
        print(f"posturepod virtual-board: error: {e}", file=sys.stderr)
        return 1
