"""IMU drivers vs. register-level chip models, run under the MicroPython unix port.

The checks live in tests/mp/test_imu_mp.py (a MicroPython script); this runs it and
requires every expected "OK <name>" line.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "mp" / "test_imu_mp.py"
VARIANTS = {
    "MPU-6050": (0x68, 0x69),
    "MPU-6500": (0x68, 0x69),
    "MPU-9250": (0x68, 0x69),
    "ICM-20948": (0x68, 0x69),
    "LSM6DSOX": (0x6A, 0x6B),
    "LSM6DS3TR-C": (0x6A, 0x6B),
}
CHECKS = ("configure", "values", "rate", "overflow", "sequence", "noalloc")


def _expected():
    names = []
    for v, addrs in VARIANTS.items():
        names += ["detect:%s@0x%02X" % (v, a) for a in addrs]
        names += ["%s:%s" % (c, v) for c in CHECKS]
    return names + ["detect:empty-bus", "detect:unknown-chip", "detect:icm-in-bank-2"]


def _micropython():
    exe = shutil.which("micropython")
    if exe is None:  # the venv's bin may not be on PATH when pytest is run by full path
        cand = Path(sys.executable).with_name("micropython")
        exe = str(cand) if cand.exists() else None
    return exe


def test_imu_drivers_under_micropython():
    exe = _micropython()
    if exe is None:
        pytest.skip("no `micropython` (unix port) on PATH")
    env = dict(os.environ, MICROPYPATH=str(ROOT / "firmware"))
    p = subprocess.run([exe, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    lines = set(p.stdout.splitlines())
    missing = [n for n in _expected() if "OK " + n not in lines]
    assert not missing, "missing OK lines: %s\n%s" % (missing, out)
