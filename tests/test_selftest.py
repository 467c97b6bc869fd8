"""posturepod selftest: the analysis on synthetic streams, and the whole command against a
virtual pod whose motion trace lies flat and is then turned 90 degrees."""
import math
import subprocess
import sys

import numpy as np
import pytest

from posturepod.devices import selftest as st
from posturepod.devices.virtual.patient import monotonic_us, spawn_board
from posturepod.devices.virtual.trace import G, turn_trace, write_trace

CLI = [sys.executable, "-m", "posturepod.cli"]


def make_stream(rate=100.0, seconds=12.0, t_turn=6.0, **kw):
    t, acc, gyr = turn_trace(rate, seconds, t_turn, **kw)
    seq = np.arange(len(t))
    fr = np.arange(1, len(t), 2)               # frames of two samples, arriving on time
    return st.Stream(acc, gyr, t, seq, t[fr] + 0.003, seq[fr])


def analyse(s, rate=100.0, model="MPU-6050"):
    still = slice(50, 450)
    bias = s.gyr[still].mean(axis=0)
    g0 = s.acc[still].mean(axis=0)
    items = [st.check_gravity(s.acc[still], "flat"), *st.check_gyro(s.gyr[still], model, rate)]
    k = st.find_rotated(s, still.stop, g0, bias, rate)
    assert k is not None
    rot = slice(k, k + 200)
    items += [st.check_gravity(s.acc[rot], "turned"), *st.check_rotation(s, still, rot, bias),
              st.check_rate(s, rate, rate), st.check_stream(s, 0)]
    return {i.name: i for i in items}


def test_analysis_passes_a_good_pod():
    items = analyse(make_stream(noise_dps=0.02))
    assert all(i.ok for i in items.values()), [i.line() for i in items.values()]
    assert float(items["rotation seen"].value.split()[0]) == pytest.approx(90, abs=1)
    assert float(items["gyro tracks tilt"].value.split()[0]) < 2


def test_analysis_catches_noise_bias_gravity_and_axes():
    s = make_stream(noise_dps=0.5)                         # a noisy gyro
    assert not analyse(s)["gyro noise"].ok
    s = make_stream()
    s.gyr[:] += math.radians(30)                            # 30 dps bias > 20 dps (MPU-6050)
    assert not analyse(s)["gyro bias"].ok
    s = make_stream()
    s.acc *= 9.3 / G                                        # accelerometer scale 5 % low
    r = analyse(s)
    assert not r["gravity (flat)"].ok and not r["gravity (turned)"].ok
    s = make_stream()
    s.gyr[:, 0] *= -1                                       # gyro x axis inverted
    assert not analyse(s)["gyro tracks tilt"].ok
    s = make_stream()
    s.gyr *= 0.5                                            # gyro scale off by 2
    assert not analyse(s)["gyro tracks tilt"].ok


def test_rate_and_stream_checks():
    s = make_stream()
    assert st.measured_rate(s) == pytest.approx(100, rel=1e-3)
    assert st.check_rate(s, 100, 100).ok
    assert not st.check_rate(s, 104, 100).ok               # 4 % off the chip's rate
    s.seq = s.seq.copy()
    s.seq[500:] += 3                                        # three samples lost
    assert "3 lost" in st.check_stream(s, 0).value and not st.check_stream(s, 0).ok


def test_noise_limits_follow_the_datasheet_densities():
    lim = st.chip_limits("ICM-20948", 100)
    assert lim["noise_dps"] == pytest.approx(3 * 0.015 * math.sqrt(50))
    assert st.chip_limits("LSM6DSOX", 100)["noise_dps"] == st.NOISE_FLOOR_DPS
    assert st.chip_limits("XYZ-1", 100)["known"] is False


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_selftest_command_on_a_virtual_pod_that_is_turned(tmp_path):
    rate = 200
    t, acc, gyr = turn_trace(rate, 40, t_turn=9.0, axis=1)
    trace = write_trace(tmp_path / "turn.trace", rate,
                        {"pelvis": {"acc_m_s2": acc, "gyr_rad_s": gyr}})
    motor_log = tmp_path / "motor.log"
    b = spawn_board("pelvis", tmp_path / "p.tty", fs=tmp_path / "fs", trace=trace,
                    t0_us=monotonic_us(), imu="ICM-20948", motor_log=motor_log)
    try:
        r = subprocess.run(CLI + ["selftest", "--port", str(b.link), "--yes", "--still-s", "3",
                                  "--rotate-timeout", "30"],
                           capture_output=True, text=True, timeout=90)
    finally:
        b.kill()
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for name in ("firmware + IMU", "gravity (flat)", "gyro noise", "gyro bias",
                 "gravity (turned)", "rotation seen", "gyro tracks tilt", "sample rate",
                 "stream", "buzz motor"):
        assert f"PASS  {name}" in out, out
    assert "ALL PASS" in out
    # the board's motor really ran: switched on once, off 400 ms (board time) later
    log = [ln.split() for ln in motor_log.read_text().splitlines()]
    assert [s for _, s in log] == ["on", "off"], log
    on_ms = (int(log[1][0]) - int(log[0][0])) / 1000
    assert 400 <= on_ms < 600, on_ms


@pytest.mark.usefixtures("micropython")
def test_selftest_fails_without_an_imu(tmp_path):
    b = spawn_board("head", tmp_path / "h.tty", fs=tmp_path / "fs", imu="none")
    try:
        r = subprocess.run(CLI + ["selftest", "--port", str(b.link), "--yes"],
                           capture_output=True, text=True, timeout=60)
    finally:
        b.kill()
    assert r.returncode == 1
    assert "FAIL  firmware + IMU" in r.stdout and "PASS  buzz motor" in r.stdout


def test_selftest_without_a_pod(tmp_path):
    r = subprocess.run(CLI + ["selftest", "--port", str(tmp_path / "nope"), "--yes"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no such port" in r.stderr, r.stderr
    assert "is the firmware flashed?" not in r.stderr     # not for a port that is not there


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_selftest_passes_on_a_virtual_board_that_is_turned_by_itself(tmp_path):
    """README: the same commands work on a virtual board; `virtual-board --turn-after S`
    turns the virtual pod as a person would, so the self-test can see a rotation."""
    import os
    import time
    link = tmp_path / "v.tty"
    board = subprocess.Popen(CLI + ["virtual-board", "--role", "pelvis", "--link", str(link),
                                    "--fs", str(tmp_path / "fs"), "--turn-after", "8"],
                             stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 20
        while not os.path.exists(link) and time.monotonic() < end:
            time.sleep(0.1)
        r = subprocess.run(CLI + ["selftest", "--port", str(link), "--yes", "--still-s", "2",
                                  "--rotate-timeout", "30"],
                           capture_output=True, text=True, timeout=120)
    finally:
        board.terminate()
        board.wait(10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS  rotation seen" in r.stdout and "ALL PASS" in r.stdout


def test_virtual_board_refuses_a_file_that_is_not_a_trace(tmp_path):
    (tmp_path / "x.trace").write_text("hello")
    r = subprocess.run(CLI + ["virtual-board", "--link", str(tmp_path / "v"), "--trace",
                              str(tmp_path / "x.trace")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "not a posturepod motion trace" in r.stderr, r.stderr
    assert not (tmp_path / "v").exists()
