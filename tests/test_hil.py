"""Hardware in the loop: tests on a real, flashed pod (opt-in).

    posturepod flash --port /dev/ttyACM0 --role pelvis --board xiao-esp32s3
    pytest tests/test_hil.py --pod-port /dev/ttyACM0 -v -s

Without --pod-port every test here skips with the reason. The same tests run against a
virtual pod (`posturepod virtual-board --link /tmp/p.tty` and --pod-port /tmp/p.tty), which
is how they are checked without hardware. The pod is left at the rate it had."""
import threading
import time

import numpy as np
import pytest

from posturepod.firmware.pod import config as fwconfig
from posturepod.firmware.pod import wire

pytestmark = pytest.mark.hardware

STREAM_S = 10.0             # per rate
DRIFT_S = 30.0              # pings for the clock drift
MAX_DRIFT_PPM = 500.0       # crystals are +-10..50 ppm; 500 ppm means a broken clock path


@pytest.fixture(scope="module")
def pod(request):
    port = request.config.getoption("--pod-port")
    if not port:
        pytest.skip("hardware-in-the-loop test: give a flashed pod's port with "
                    "--pod-port /dev/ttyACM0 (see README, 'Tests on real boards')")
    from posturepod.pods.podlink import PodLink
    link = PodLink(port, auto_reconnect=False)
    info = link.open(8.0)
    rate0 = info.get("rate_hz")
    yield link
    try:
        link.request("stop", timeout_s=2.0)
        if rate0 and link.info.get("rate_hz") != rate0:
            link.set_rate(rate0)
    finally:
        link.close()


def test_info(pod):
    info = pod.request("info", timeout_s=2.0).body
    print(f"\npod: {info}")
    assert info["proto"] == wire.PROTOCOL_VERSION
    assert info["fw"] == fwconfig.FW_VERSION, "the pod runs another firmware: flash it"
    assert info["role"] in wire.ROLES
    assert info["imu"] and not info["imu_error"], info.get("imu_error")
    assert not info["config_errors"], info["config_errors"]
    assert info["acc_scale"] > 0 and info["gyr_scale"] > 0


@pytest.mark.parametrize("rate_hz", [100, 200])
def test_stream_without_loss(pod, rate_hz):
    r = pod.set_rate(rate_hz)
    odr = r["info"]["odr_hz"]
    frames = []
    lock = threading.Lock()

    def on_message(link, m, t):
        if m.type == wire.MSG_SAMPLES:
            with lock:
                frames.append((t, m.body.seq0, m.body.n, m.body.flags))

    pod.on_message = on_message
    crc0 = pod.decoder.stats.crc_errors
    bad0 = pod.decoder.stats.bad_frames
    try:
        pod.start()
        time.sleep(STREAM_S)
        pod.stop()
        time.sleep(0.3)
    finally:
        pod.on_message = None
    with lock:
        fr = list(frames)
    n = sum(f[2] for f in fr)
    gaps = sum(1 for a, b in zip(fr, fr[1:]) if (a[1] + a[2]) % wire.SEQ_MODULO != b[1])
    overflows = sum(1 for f in fr if f[3] & wire.FLAG_OVERFLOW)
    span = fr[-1][0] - fr[0][0] if fr else 0
    print(f"\n{rate_hz} Hz asked, chip {odr} Hz: {n} samples in {len(fr)} frames over "
          f"{span:.1f} s host time, {gaps} gaps, {overflows} overflow frames")
    assert gaps == 0 and overflows == 0
    assert pod.decoder.stats.crc_errors == crc0 and pod.decoder.stats.bad_frames == bad0
    assert n == pytest.approx(odr * STREAM_S, rel=0.05)


def test_clock_drift(pod):
    pings = []
    t_end = time.monotonic() + DRIFT_S
    while time.monotonic() < t_end:
        pings.append(pod.ping(timeout_s=1.0))
        time.sleep(0.2)
    rtt = np.array([p.rtt_s for p in pings])
    keep = rtt <= np.percentile(rtt, 50)               # the fastest half: least queueing
    host = np.array([p.t_mid for p in pings])[keep]
    dev = np.array([p.dev_us for p in pings], dtype=float)[keep] * 1e-6
    slope, icpt = np.polyfit(host - host[0], dev - dev[0], 1)
    ppm = (slope - 1.0) * 1e6
    resid = (dev - dev[0]) - (slope * (host - host[0]) + icpt)
    print(f"\nclock drift {ppm:+.1f} ppm over {host[-1] - host[0]:.1f} s "
          f"({len(pings)} pings, median rtt {np.median(rtt) * 1e3:.2f} ms, "
          f"fit residual {np.std(resid) * 1e3:.3f} ms rms)")
    assert abs(ppm) < MAX_DRIFT_PPM
    assert np.std(resid) < 0.005


def test_buzz(pod):
    from posturepod.devices.selftest import _motor_switched
    r = pod.buzz(300)
    assert r["ok"] and r["ms"] == 300
    ok, how = _motor_switched(pod, 300)      # the firmware's own motor state, not the ack
    assert ok and "motor on" in how, how
