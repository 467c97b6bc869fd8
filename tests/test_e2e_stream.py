"""End to end over real (pseudo-terminal) serial ports: three virtual boards running the
real firmware in the MicroPython unix port, the host reading them with pyserial."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from posturepod.pods.acquire import record
from posturepod.commands.info import summary
from posturepod.recordings.loader import load
from posturepod.devices.virtual.patient import VirtualPatient, monotonic_us, spawn_board
from posturepod.devices.virtual.trace import write_trace, still_with_taps

pytestmark = pytest.mark.usefixtures("micropython")

TICKS_PERIOD = 1 << 30


@pytest.mark.slow
def test_three_pods_200hz_60s_no_loss_across_wraps(tmp_path):
    """Zero lost or duplicated samples, contiguous sequence numbers, monotonic device time
    after unwrapping, with one pod's ticks_us wrapping (2**30) and another pod's 32-bit
    device time counter wrapping during the run."""
    seconds = 60.0
    with VirtualPatient(tmp_path / "boards", rate_hz=200,
                        imus={"pelvis": "MPU-6050", "thorax": "LSM6DSOX", "head": "MPU-9250"},
                        start_ticks={"pelvis": TICKS_PERIOD - 3_000_000},
                        dev_start_us={"thorax": (1 << 32) - 5_000_000}) as vp:
        path, session = record(vp.links, tmp_path / "rec", seconds=seconds, live=False)
    rec = load(path)
    info = summary(path)
    assert len(rec.pods) == 3
    for p in info["pods"]:
        role = p["role"]
        tl = rec.pods[role].timeline
        odr = p["odr_hz"]          # the chip's real rate: 200 Hz, or 208 Hz on an LSM6DSOX
        assert odr in (200, 208), p
        assert abs(p["samples"] - odr * seconds) <= 0.01 * odr * seconds, p
        assert p["seq_gaps"] == 0 and p["lost_samples"] == 0, p
        assert p["crc_errors"] == 0, p
        assert tl.duplicates == 0
        assert len(tl.segments) == 1
        assert np.all(np.diff(tl.device_us()) > 0), f"{role}: device time not monotonic"
        span = (tl.device_us()[-1] - tl.device_us()[0]) * 1e-6
        assert abs(span - (p["samples"] - 1) / odr) < 0.01 * seconds, (role, span)
        assert p["rate_hz"] == pytest.approx(odr, rel=0.01)
    # every sample the host received is in the file
    for role, s in session.stats().items():
        assert s.samples == len(rec.pods[role])
    # the thorax pod's 32-bit device time really wrapped
    from posturepod.recordings.reader import load_imu
    t = load_imu(path / "thorax.imu")["t_us"].astype(np.int64)
    assert np.any(np.diff(t) < 0)


def _tap_times(pod, taps_s, t_offset):
    """Instants where |acc| crosses half the tap height on the way up, interpolated."""
    a = np.linalg.norm(pod.acc_m_s2, axis=1) - 9.80665
    out = []
    for ts in taps_s:
        tt = ts + t_offset
        win = np.flatnonzero((pod.time_s > tt - 0.5) & (pod.time_s < tt + 0.5))
        k = win[np.argmax(a[win] > 15.0)]
        t1, t2, a1, a2 = pod.time_s[k - 1], pod.time_s[k], a[k - 1], a[k]
        out.append(t1 + (15.0 - a1) / (a2 - a1) * (t2 - t1))
    return np.array(out)


@pytest.mark.slow
def test_alignment_sharp_events_coincide_with_200ppm_clock(tmp_path):
    """Taps felt by all pods at one true instant land within one sample period (5 ms at
    200 Hz) of each other and of the truth, with one pod's clock 200 ppm fast."""
    taps = [4.0, 9.0, 14.0, 19.0]
    trace = write_trace(tmp_path / "taps.trace", 1000, still_with_taps(22, 1000, taps))
    t0 = monotonic_us() + 3_000_000
    with VirtualPatient(tmp_path / "boards", trace=trace, t0_us=t0, rate_hz=200,
                        ppm={"pelvis": 200, "thorax": -150, "head": 0}) as vp:
        while monotonic_us() < t0 - 1_000_000:
            time.sleep(0.05)
        path, _ = record(vp.links, tmp_path / "rec", seconds=22.0, live=False)
    rec = load(path)
    meta = json.loads((path / "recording.json").read_text())
    offset = t0 * 1e-6 - meta["t0_monotonic_s"]     # trace time 0 on the recording clock
    times = {r: _tap_times(p, taps, offset) for r, p in rec.pods.items()}
    truth = np.array(taps) + 0.010 + offset      # half height of the 20 ms ramp
    for r, t in times.items():
        err = np.abs(t - truth)
        assert err.max() < 0.005, (r, err)
    spread = np.ptp(np.vstack(list(times.values())), axis=0)
    assert spread.max() < 0.005, spread
    fits = {r: p.timeline.segments[0].drift_ppm for r, p in rec.pods.items()}
    assert fits["pelvis"] == pytest.approx(200, abs=40), fits
    assert fits["thorax"] == pytest.approx(-150, abs=40), fits


@pytest.mark.slow
def test_board_killed_and_restarted_mid_recording(tmp_path):
    import threading
    with VirtualPatient(tmp_path / "boards", rate_hz=100) as vp:
        result = {}

        def rec():
            result["path"], result["session"] = record(vp.links, tmp_path / "rec",
                                                       seconds=14.0, live=False)
        th = threading.Thread(target=rec)
        th.start()
        time.sleep(4.0)
        vp.boards["thorax"].kill()
        time.sleep(2.0)
        vp.boards["thorax"].restart()
        th.join(60)
    path, session = result["path"], result["session"]
    rec = load(path)
    info = {p["role"]: p for p in summary(path)["pods"]}
    th_pod = rec.pods["thorax"]
    assert len(th_pod.timeline.segments) == 2, th_pod.timeline.segments
    assert any(b - a > 1.5 for a, b in th_pod.gaps), th_pod.gaps
    assert info["thorax"]["link_drops"] >= 1
    assert session.stats()["thorax"].samples == len(th_pod)
    # the other pods went on undisturbed
    for r in ("pelvis", "head"):
        assert info[r]["seq_gaps"] == 0 and info[r]["link_drops"] == 0
        assert abs(info[r]["samples"] - 1400) < 30
    # data before the kill and after the restart are both there
    assert th_pod.time_s[0] < 1.0 and th_pod.time_s[-1] > 12.0


@pytest.mark.slow
def test_corrupted_bytes_are_counted_and_skipped(tmp_path):
    import threading
    with VirtualPatient(tmp_path / "boards", rate_hz=100) as vp:
        result = {}
        th = threading.Thread(target=lambda: result.update(zip(
            ("path", "session"), record(vp.links, tmp_path / "rec", seconds=8.0,
                                        live=False))))
        th.start()
        time.sleep(2.0)
        for _ in range(5):
            os.kill(vp.boards["head"].proc.pid, signal.SIGUSR1)
            time.sleep(0.5)
        th.join(60)
    path, session = result["path"], result["session"]
    info = {p["role"]: p for p in summary(path)["pods"]}
    h = info["head"]
    assert h["crc_errors"] + session.stats()["head"].bad_frames >= 1
    assert h["seq_gaps"] >= 1 and h["lost_samples"] >= 1
    assert h["samples"] + h["lost_samples"] == pytest.approx(800, abs=20)
    assert session.stats()["head"].samples == h["samples"]
    assert info["pelvis"]["seq_gaps"] == 0 and info["pelvis"]["crc_errors"] == 0


@pytest.mark.slow
def test_recorder_killed_with_sigkill_leaves_a_readable_recording(tmp_path):
    link = tmp_path / "pelvis.tty"
    b = spawn_board("pelvis", link, fs=tmp_path / "fs", rate_hz=100)
    try:
        out = tmp_path / "rec"
        p = subprocess.Popen([sys.executable, "-m", "posturepod.cli", "record", "--pod",
                              f"pelvis={link}", "--out", str(out), "--no-live"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end:
            if (out / "pelvis.imu").exists() and (out / "pelvis.imu").stat().st_size > 0:
                break
            time.sleep(0.1)
        t_first = time.monotonic()
        time.sleep(5.0)
        received_s = time.monotonic() - t_first
        p.send_signal(signal.SIGKILL)
        p.wait(5)
    finally:
        b.kill()
    rec = load(out)
    n = len(rec.pods["pelvis"])
    assert n >= 100 * (received_s - 1.0), n      # at most the last second lost
    s = summary(out)
    assert s["pods"][0]["seq_gaps"] == 0


@pytest.mark.slow
def test_pod_reboot_mid_recording_is_a_new_segment(tmp_path):
    """A pod that resets (here: the reboot command; machine.reset() restarts the
    interpreter on the virtual board) comes back by itself, as a new segment."""
    from posturepod.pods.session import Session
    from posturepod.recordings.writer import RecordingWriter
    with VirtualPatient(tmp_path / "boards", rate_hz=100, roles=("pelvis", "head")) as vp:
        w = RecordingWriter(tmp_path / "rec")
        s = Session(vp.links, w)
        s.connect()
        s.start()
        time.sleep(3.0)
        s.pods["head"].link.reboot()          # the pod acknowledges, then resets
        time.sleep(6.0)
        s.stop()
    rec = load(tmp_path / "rec")
    st = s.stats()
    assert st["head"].reboots == 1, st["head"]
    tl = rec.pods["head"].timeline
    assert len(tl.segments) == 2
    assert rec.pods["head"].time_s[-1] > 8.0          # streaming resumed after the reboot
    assert any(b - a > 0.05 for a, b in rec.pods["head"].gaps)
    assert rec.pods["pelvis"].timeline.seq_gaps == 0
