"""Board profiles and what a board says it is.

- the package paths: ``FIRMWARE_DIR`` (the firmware sources) and ``BOARDS_DIR`` (the board
  profiles, ``hardware/boards/*.json`` through the package's ``boards`` link);
- the profiles: their names, loading one, guessing which one a connected board is from what
  it reports (``sys.implementation``, ``os.uname().machine``) and its USB IDs;
- what MicroPython and which .mpy version a board runs: ``PROBE_SCRIPT`` (run in its raw
  REPL) and the decoding of ``sys.implementation._mpy``;
- how to install or update MicroPython on a kind of board, for the error messages.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from posturepod.devices.deploy_error import DeployError

PKG = Path(__file__).resolve().parents[1]   # the posturepod package
FIRMWARE_DIR = PKG / "firmware"
BOARDS_DIR = PKG / "boards"

# sys.implementation._mpy bits 10..13 (py/persistentcode.h, MP_NATIVE_ARCH_*)
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")

# MicroPython builds per board family, for the "no MicroPython" advice
_MICROPYTHON_BUILDS = {
    "esp32s3": "ESP32_GENERIC_S3",
    "esp32c3": "ESP32_GENERIC_C3",
    "rp2040": "RPI_PICO_W",
    "rp2350": "RPI_PICO2_W",
}


# ---- board profiles -------------------------------------------------------------------

def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load_profile(name: str) -> dict:
    f = BOARDS_DIR / f"{name}.json"
    if not f.exists():
        raise DeployError(f"no board profile {name!r}; known boards: {', '.join(board_names())}")
    return json.loads(f.read_text())


def _usb_ids(port: str) -> tuple[int, int] | None:
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    real = os.path.realpath(port)
    for p in list_ports.comports():
        if p.device in (port, real) and p.vid is not None:
            return p.vid, p.pid
    return None


def guess_board(port: str, device: dict) -> tuple[str, str]:
    """(profile name, why) from what the board says about itself and its USB IDs."""
    plat = device.get("platform", "")
    machine = (device.get("machine") or "").upper()
    if plat in ("linux", "darwin") or device.get("arch") == "x64":
        return "virtual", "the board is the MicroPython unix port"
    usb = _usb_ids(port)
    bridge = usb is not None and usb[0] in (0x10C4, 0x1A86)      # CP210x / CH34x bridge
    if "RP2350" in machine:
        return "pico2-w", f"the board reports {device.get('machine')!r}"
    if "RP2040" in machine:
        # the RPI_PICO build says "Raspberry Pi Pico with RP2040", RPI_PICO_W "... Pico W ..."
        return ("pico-w" if re.search(r"\bPICO W\b", machine) else "pico",
                f"the board reports {device.get('machine')!r}")
    if "ESP32S3" in machine or "ESP32-S3" in machine:
        return ("esp32s3-devkitc" if bridge else "xiao-esp32s3",
                f"the board reports {device.get('machine')!r}"
                + (" on a USB-UART bridge" if bridge else ""))
    if "ESP32C3" in machine or "ESP32-C3" in machine:
        return ("esp32c3-devkitm" if bridge else "xiao-esp32c3",
                f"the board reports {device.get('machine')!r}"
                + (" on a USB-UART bridge" if bridge else ""))
    raise DeployError(f"cannot tell which board this is ({device.get('machine')!r}, "
                      f"platform {plat!r}): pass --board, one of {', '.join(board_names())}")


# ---- what the board runs --------------------------------------------------------------

# run in the board's raw REPL; prints a dict: MicroPython version, .mpy version, platform,
# machine, filesystem statvfs, whether hashlib has sha256
PROBE_SCRIPT = """\
import sys, os
try:
    import hashlib
    _h = hasattr(hashlib, 'sha256')
except ImportError:
    _h = False
_s = None
for _p in ('.', '/'):
    try:
        _s = tuple(os.statvfs(_p))
        break
    except Exception:
        pass
try:
    _m = os.uname().machine
except Exception:
    _m = ''
print(repr({'name': sys.implementation.name, 'version': tuple(sys.implementation.version[:3]),
 'mpy': getattr(sys.implementation, '_mpy', None), 'platform': sys.platform, 'machine': _m,
 'statvfs': _s, 'sha256': _h}))
"""


def device_mpy(mpy: int | None) -> tuple[int, int, int] | None:
    """(.mpy version, sub-version, arch index) from sys.implementation._mpy, None if the
    board did not report it."""
    if mpy is None:
        return None
    return mpy & 0xFF, (mpy >> 8) & 3, (mpy >> 10) & 0x0F


def device_arch(mpy: int | None) -> str | None:
    """The native-code architecture name (MPY_ARCHS) in sys.implementation._mpy, or None."""
    dm = device_mpy(mpy)
    if dm and dm[2] < len(MPY_ARCHS):
        return MPY_ARCHS[dm[2]]
    return None


# ---- installing MicroPython -----------------------------------------------------------

def micropython_upgrade_hint(board: str) -> str:
    """One line: how to put a newer MicroPython on the board of this profile name."""
    try:
        mcu = load_profile(board).get("mcu", "") if board else ""
    except DeployError:
        mcu = ""
    b = _MICROPYTHON_BUILDS.get(mcu)
    if not b:
        return "See docs/deploy.md, 'Installing MicroPython'."
    return f"For example: pip install mpflash; mpflash flash --board {b} --version stable."


def install_hint(profile: dict | None, port: str) -> str:
    """How to put MicroPython on this kind of board (docs/deploy.md has the long form)."""
    mcu = (profile or {}).get("mcu", "")
    b = _MICROPYTHON_BUILDS.get(mcu)
    lines = ["Install MicroPython first (docs/deploy.md, 'Installing MicroPython'):"]
    if b:
        lines.append(f"  easiest: pip install mpflash; mpflash flash --serial {port} "
                     f"--board {b} --version stable")
    if mcu in ("esp32s3", "esp32c3"):
        chip = mcu
        lines += [("  or with esptool: hold BOOT, press and release RESET (or plug in while "
                   "holding BOOT), then"),
                  "    pip install esptool",
                  f"    esptool.py --chip {chip} --port {port} erase_flash",
                  (f"    esptool.py --chip {chip} --port {port} write_flash -z 0 "
                   f"{b}-<date>-v<version>.bin   (from https://micropython.org/download/{b}/)"),
                  "  then press RESET and flash again."]
    elif mcu in ("rp2040", "rp2350"):
        drive = "RPI-RP2" if mcu == "rp2040" else "RP2350"
        lines += [f"  or by hand: unplug, hold BOOTSEL, plug in: a USB drive {drive} appears;",
                  (f"    copy {b}-<date>-v<version>.uf2 (https://micropython.org/download/{b}/) "
                   "onto it; the board reboots into MicroPython.")]
    elif not b:
        lines += ["  ESP32-S3/C3: esptool.py write_flash -z 0 <ESP32_GENERIC_S3|C3 .bin>;",
                  ("  Pico W / Pico 2 W: hold BOOTSEL, plug in, copy the RPI_PICO_W / "
                   "RPI_PICO2_W .uf2 onto the drive;"),
                  "  or: pip install mpflash; mpflash flash --serial PORT --board BOARD_ID"]
    return "\n".join(lines)
