"""The day log on a Pico-sized littlefs v2 filesystem in the MicroPython unix port
(tests/mp/daylog_lfs_check.py): at least 16 h of records fit beside the firmware's files,
a full log keeps the newest records and counts the overwritten ones, and a power cut at
any block write loses no record whose append had returned."""
import re
import subprocess

from conftest import FIRMWARE, ROOT, mp_env

SCRIPT = ROOT / "tests" / "mp" / "daylog_lfs_check.py"


def test_daylog_on_pico_sized_littlefs(micropython, tmp_path):
    r = subprocess.run([micropython, "-X", "heapsize=24m", str(SCRIPT), str(FIRMWARE)],
                       cwd=tmp_path, env=mp_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "ALL OK" in r.stdout, r.stdout + r.stderr[-3000:]
    cap = int(re.search(r"capacity (\d+) records", r.stdout).group(1))
    assert cap >= 57600, r.stdout            # 16 h at one record a second
    for name in ("capacity_16h", "newest_kept", "overwritten_counted", "crc_all", "powercut"):
        assert f"OK {name}" in r.stdout, r.stdout
