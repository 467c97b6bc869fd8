"""The pod's command set, end to end: a virtual board (the real firmware in the MicroPython
unix port behind a pseudo-terminal, posturepod.devices.virtual.patient.spawn_board) driven by the
real host code (posturepod.pods.podlink.PodLink over pyserial), plus raw bytes written to the
port for what the host code never sends (malformed lines, Ctrl-C, Ctrl-D)."""
from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import pytest
import serial

from posturepod.firmware.pod import wire
from posturepod.pods.podlink import PodError, PodLink
from posturepod.devices.virtual.board import install_firmware
from posturepod.devices.virtual.patient import spawn_board

pytestmark = pytest.mark.usefixtures("micropython")


class Pod:
    """A PodLink plus every message it did not match to a request (id-0 error replies,
    boot INFO, samples, status, logs), in arrival order."""

    def __init__(self, port: str):
        self.q: queue.Queue = queue.Queue()
        self.link = PodLink(port, name="pod", on_message=lambda lk, m, t: self.q.put((m, t)),
                            auto_reconnect=True)
        self.info = self.link.open(timeout_s=10.0)

    def drain(self) -> list:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait()[0])
            except queue.Empty:
                return out

    def wait_for(self, pred, timeout_s: float = 3.0):
        """First unsolicited message matching pred (others are dropped)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                m, _ = self.q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if pred(m):
                return m
        raise AssertionError("no matching message within %.1f s" % timeout_s)

    def raw(self, data: bytes) -> None:
        self.link.transport.write(data)

    def error_reply(self, data: bytes, timeout_s: float = 3.0) -> str:
        """Write raw bytes, return the error of the id-0 REPLY they provoke."""
        self.drain()
        self.raw(data)
        m = self.wait_for(lambda m: m.type == wire.MSG_REPLY and isinstance(m.body, dict)
                          and m.body.get("id") == 0, timeout_s)
        assert m.body["ok"] is False, m.body
        return m.body["error"]

    def alive(self) -> None:
        a = self.link.ping()
        b = self.link.ping()
        assert b.dev_us > a.dev_us

    def close(self) -> None:
        self.link.close()


def _board(tmp: Path, name: str, **kw):
    kw.setdefault("quiet", True)
    kw.setdefault("fs", tmp / f"fs-{name}")
    return spawn_board("pelvis", tmp / f"{name}.tty", **kw)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmd")
    bp = _board(tmp, "main", fs=tmp / "fs", motor_log=tmp / "motor.log", imu="MPU-6050")
    bp.motor_log = tmp / "motor.log"
    yield bp
    bp.kill()


@pytest.fixture
def pod(board):
    p = Pod(str(board.link))
    yield p
    p.close()


# ---- info, ping ---------------------------------------------------------------------------

def test_info_fields(pod, board):
    i = pod.link.request("info").body
    for k in ("pod_id", "role", "fw", "proto", "imu", "acc_range_g", "gyr_range_dps",
              "acc_scale", "gyr_scale", "rate_hz", "odr_hz", "board", "boot_id",
              "config_errors", "imu_error", "streaming", "axes", "transport", "link"):
        assert k in i, (k, i)
    assert i["pod_id"] == "virt-pelvis"
    assert i["role"] in wire.ROLES
    assert isinstance(i["fw"], str) and i["fw"]
    assert i["proto"] == wire.PROTOCOL_VERSION
    assert i["native"] is True          # the unix port compiles pod/wire_viper.py's viper code
    assert i["imu"] == "MPU-6050" and i["imu_error"] is None
    assert i["acc_range_g"] in (2, 4, 8, 16) and i["gyr_range_dps"] in (250, 500, 1000, 2000)
    assert i["acc_scale"] == pytest.approx(9.80665 * i["acc_range_g"] / 32768, rel=1e-6)
    assert i["gyr_scale"] == pytest.approx(
        3.141592653589793 / 180 * i["gyr_range_dps"] / 32768, rel=2e-3)
    assert wire.MIN_RATE_HZ <= i["rate_hz"] <= wire.MAX_RATE_HZ
    assert i["board"] == "virtual"
    assert isinstance(i["boot_id"], int) and 0 <= i["boot_id"] < 65536
    assert i["config_errors"] == [] and i["streaming"] is False and i["axes"] == 6
    # "hello" is an alias of "info"
    assert pod.link.request("hello").body["boot_id"] == i["boot_id"]


def test_ping_device_time_increases_rtt_small(pod):
    res = [pod.link.ping() for _ in range(10)]
    dev = [r.dev_us for r in res]
    assert all(b > a for a, b in zip(dev, dev[1:])), dev
    rtts = sorted(r.rtt_s for r in res)
    assert rtts[len(rtts) // 2] < 0.05, rtts
    assert rtts[-1] < 0.5, rtts
    # the device clock runs at the host's rate (ppm 0): device and host spans agree
    span_dev = (res[-1].dev_us - res[0].dev_us) * 1e-6
    span_host = res[-1].t_mid - res[0].t_mid
    assert span_dev == pytest.approx(span_host, abs=0.03)


# ---- streaming, rate ------------------------------------------------------------------------

def test_start_stop(pod):
    pod.link.set_rate(100)
    r = pod.link.start()
    assert r["ok"] and r["rate_hz"] == 100 and r["odr_hz"] == pytest.approx(100.0)
    assert pod.link.request("info").body["streaming"] is True
    pod.drain()
    time.sleep(1.0)
    msgs = pod.drain()
    n = sum(m.body.n for m in msgs if m.type == wire.MSG_SAMPLES)
    assert 70 <= n <= 130, n
    assert any(m.type == wire.MSG_STATUS for m in msgs)
    # start while streaming is harmless
    assert pod.link.start()["ok"]
    assert pod.link.stop()["ok"]
    time.sleep(0.2)
    pod.drain()
    time.sleep(0.5)
    assert not [m for m in pod.drain() if m.type == wire.MSG_SAMPLES]
    assert pod.link.request("info").body["streaming"] is False
    assert pod.link.stop()["ok"]           # stop while stopped is harmless


def test_set_rate_limits(pod):
    for hz in (25, 1000):
        r = pod.link.set_rate(hz)
        assert r["ok"] and r["info"]["rate_hz"] == hz
        assert pod.link.request("info").body["rate_hz"] == hz
    for bad in (10, 2000, 24, 1001, "fast", None, 100.5):
        with pytest.raises(PodError, match="refused: .*rate_hz"):
            pod.link.request("set_rate", rate_hz=bad)
        pod.alive()
    assert pod.link.request("info").body["rate_hz"] == 1000    # unchanged by the refusals
    # while streaming: the new rate takes effect at once, streaming goes on
    pod.link.start()
    r = pod.link.set_rate(200)
    assert r["info"]["streaming"] is True and r["info"]["rate_hz"] == 200
    pod.drain()
    time.sleep(1.0)
    n = sum(m.body.n for m in pod.drain() if m.type == wire.MSG_SAMPLES)
    assert 150 <= n <= 250, n
    pod.link.stop()
    pod.link.set_rate(100)


def test_set_role_refused_values(pod):
    for bad in ("knee", "", 3, None):
        with pytest.raises(PodError, match="refused: .*role"):
            pod.link.request("set_role", role=bad)
    pod.alive()


# ---- identify, buzz ---------------------------------------------------------------------------

def test_identify(pod):
    r = pod.link.identify(500)
    assert r["ok"] and r["ms"] == 500
    assert pod.link.identify()["ms"] == 2000           # default
    for bad in (-1, 60001, "long"):
        with pytest.raises(PodError, match="refused: .*ms must be"):
            pod.link.request("identify", ms=bad)
    pod.alive()


def test_buzz_motor_log(pod, board):
    log = board.motor_log
    before = log.read_text().splitlines() if log.exists() else []
    c0 = pod.link.buzz(200)["count"]
    time.sleep(0.6)
    r = pod.link.buzz(400)
    assert r["count"] == c0 + 1 and r["ms"] == 400
    time.sleep(0.8)
    lines = log.read_text().splitlines()[len(before):]
    ev = [(int(t), s) for t, s in (ln.split() for ln in lines)]
    assert [s for _, s in ev] == ["on", "off", "on", "off"], ev
    d1 = (ev[1][0] - ev[0][0]) / 1000
    d2 = (ev[3][0] - ev[2][0]) / 1000
    assert 195 <= d1 <= 300, d1
    assert 395 <= d2 <= 500, d2
    with pytest.raises(PodError, match="refused: .*ms must be"):
        pod.link.request("buzz", ms=70000)


def test_buzz_pattern_is_played_by_the_firmware(pod, board):
    """A pattern (on, off, on, ... ms) reaches the motor as separate pulses, timed by the
    pod (two commands back to back would only restart one timer); INFO says when it is on."""
    log = board.motor_log
    before = log.read_text().splitlines() if log.exists() else []
    r = pod.link.buzz(pattern=(150, 200, 150, 200, 300))
    assert r["ms"] == 1000 and r["steps"] == 5
    assert pod.link.request("info").body["motor_on"] is True
    time.sleep(1.4)
    assert pod.link.request("info").body["motor_on"] is False
    lines = log.read_text().splitlines()[len(before):]
    ev = [(int(t), s) for t, s in (ln.split() for ln in lines)]
    assert [s for _, s in ev] == ["on", "off"] * 3, ev
    steps_ms = [(b[0] - a[0]) / 1000 for a, b in zip(ev, ev[1:])]
    for got, want in zip(steps_ms, (150, 200, 150, 200, 300)):
        assert want - 5 <= got <= want + 60, steps_ms
    for bad, why in (([100, 100], "pattern must be"), ([], "pattern must be"),
                     ([100] * 9, "pattern must be"), ([5], "steps must be"),
                     ([100, "x", 100], "steps must be"), ("long", "pattern must be")):
        with pytest.raises(PodError, match=f"refused: .*{why}"):
            pod.link.request("buzz", pattern=bad)
    pod.alive()


# ---- bad input ----------------------------------------------------------------------------

def test_unknown_op(pod):
    with pytest.raises(PodError, match="refused: unknown command dance"):
        pod.link.request("dance")
    pod.alive()


def test_malformed_lines_get_error_replies(pod):
    cases = [
        (b"hello pod\n", "not JSON"),
        (b'{"op": "info", "id": 5\n', "not JSON"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b'{"id": 4}\n', "no op"),
        (b'{"op": 7, "id": 4}\n', "no op"),
        (b'{"op": "info", "id": "x"}\n', "id is not an integer"),
        (b'{"id":5,"op":"info"}*0000\n', "CRC mismatch"),
        (b'{"id":5,"op":"info"}*12\n', "CRC"),
        (b'{"id":5,"op":"info"}*ZZZZ\n', "bad CRC field"),
        (b'{"op":"info","pad":"' + b"x" * 600 + b'"}\n', "too long"),
        (b"\xff\xfe\x80\x00\x01\x02\x04\x1b[A\x7f\xc3\x28\n", "not JSON"),   # bytes, not UTF-8
    ]
    for data, want in cases:
        err = pod.error_reply(data)
        assert want in err, (data[:40], err)
        pod.alive()
    # a line with a valid CRC is accepted; CRC is optional for people typing
    good = wire.encode_command("info", 77)
    pod.drain()
    pod.raw(good)
    assert pod.link.request("ping") is not None
    pod.raw(b'{"op":"ping","id":0}\r\n')          # CRLF, no CRC, id 0: a PONG comes back
    m = pod.wait_for(lambda m: m.type == wire.MSG_PONG)
    assert m.body.req_id == 0


def test_binary_junk_then_commands(pod):
    import random
    rng = random.Random(7)
    junk = bytes(b for b in (rng.randrange(256) for _ in range(5000)) if b != 0x03)
    pod.drain()
    pod.raw(junk + b"\n")
    time.sleep(0.5)
    errs = [m.body for m in pod.drain() if m.type == wire.MSG_REPLY]
    assert errs and all(e["ok"] is False for e in errs), errs
    assert not [m for m in pod.drain() if m.type == wire.MSG_LOG
                and m.body.get("level") == "fatal"]
    pod.alive()
    assert pod.link.request("info").body["boot_id"] == pod.info["boot_id"]   # no reboot


def test_empty_lines_are_ignored(pod):
    pod.drain()
    pod.raw(b"\n\r\n\n")
    time.sleep(0.3)
    assert not [m for m in pod.drain() if m.type == wire.MSG_REPLY]
    pod.alive()


# ---- persistence, reboot --------------------------------------------------------------------

def test_set_role_persists_across_reboot(pod, board):
    boot0 = pod.link.request("info").body["boot_id"]
    r = pod.link.set_role("thorax")
    assert r["info"]["role"] == "thorax"
    assert json.loads((board.fs / "pod.json").read_text())["role"] == "thorax"
    pod.drain()
    pod.link.reboot()
    # the firmware announces itself after the (soft) reboot: INFO without a request id
    m = pod.wait_for(lambda m: m.type == wire.MSG_INFO, timeout_s=10)
    assert m.body["boot_id"] != boot0               # random 16 bits: 1 chance in 65536
    i = pod.link.request("info").body
    assert i["role"] == "thorax"
    assert i["boot_id"] == m.body["boot_id"]
    assert i["config_errors"] == []
    pod.link.set_role("pelvis")
    assert pod.link.request("info").body["role"] == "pelvis"


# ---- Ctrl-C, Ctrl-D ---------------------------------------------------------------------------

def _read_until(ser: serial.Serial, token: bytes, timeout_s: float) -> bytes:
    buf = bytearray()
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        buf += ser.read(ser.in_waiting or 1)
        if token in buf:
            return bytes(buf)
    raise AssertionError(f"{token!r} not seen within {timeout_s} s; got {bytes(buf[-300:])!r}")


def test_ctrl_c_leaves_repl_ctrl_d_restarts(board):
    p = Pod(str(board.link))
    boot0 = p.info["boot_id"]
    p.link.start()                  # interrupted while streaming, as mpremote would
    time.sleep(0.3)
    p.close()
    ser = serial.Serial(str(board.link), 921600, timeout=0.05)
    try:
        ser.reset_input_buffer()
        ser.write(b"\x03")
        out = _read_until(ser, b">>> ", 5.0)
        assert b"stopped by Ctrl-C" in out
        # a real REPL: it evaluates
        ser.write(b"print(6 * 7)\r")
        _read_until(ser, b"42", 5.0)
        ser.write(b"\x04")          # Ctrl-D: soft reboot, main.py runs again
        _read_until(ser, b"soft reboot", 10.0)
    finally:
        ser.close()
    p = Pod(str(board.link))
    try:
        assert p.info["streaming"] is False
        assert p.info["boot_id"] != boot0               # a new boot (1 in 65536 to repeat)
        p.alive()
        assert p.link.start()["ok"]
        p.wait_for(lambda m: m.type == wire.MSG_SAMPLES, timeout_s=3)
        p.link.stop()
    finally:
        p.close()


# ---- pod.json problems, no IMU ------------------------------------------------------------

@pytest.mark.parametrize("content,want", [
    (None, "pod.json missing"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"role": "knee", "rate_hz": 5, "acc_range_g": 3, "colour": "red"}', "bad role"),
])
def test_bad_pod_json_falls_back_to_defaults(tmp_path, content, want):
    fs = tmp_path / "fs"
    install_firmware(fs, role="thorax", rate_hz=200)
    if content is None:
        (fs / "pod.json").unlink()
    else:
        (fs / "pod.json").write_text(content)
    bp = _board(tmp_path, "cfg", fs=fs)
    p = None
    try:
        p = Pod(str(bp.link))
        i = p.info
        errs = i["config_errors"]
        assert any(want in e for e in errs), errs
        if content is not None and content.startswith('{"role"'):
            assert any("bad rate_hz 5" in e for e in errs), errs
            assert any("bad acc_range_g 3" in e for e in errs), errs
            assert any("unknown key colour" in e for e in errs), errs
        assert i["role"] == "pelvis" and i["rate_hz"] == 100        # the defaults
        assert i["acc_range_g"] == 8 and i["gyr_range_dps"] == 1000
        # the boot also logged every problem as a warning (sent before we connected: ask
        # again through a command that works, and the pod streams on defaults)
        assert p.link.start()["rate_hz"] == 100
        p.wait_for(lambda m: m.type == wire.MSG_SAMPLES, timeout_s=3)
        p.link.stop()
        # a setting saved now writes a good pod.json
        p.link.set_role("head")
        assert json.loads((fs / "pod.json").read_text())["role"] == "head"
    finally:
        if p:
            p.close()
        bp.kill()


def test_no_imu(tmp_path):
    bp = _board(tmp_path, "noimu", imu="none")
    p = None
    try:
        p = Pod(str(bp.link))
        i = p.info
        assert i["imu"] is None
        assert "no IMU" in i["imu_error"] and "I2C" in i["imu_error"], i["imu_error"]
        for k in ("odr_hz", "acc_scale", "gyr_scale"):
            assert k not in i
        with pytest.raises(PodError, match="refused: no IMU"):
            p.link.start()
        # everything else still works
        p.alive()
        assert p.link.set_rate(200)["info"]["rate_hz"] == 200
        assert p.link.identify(100)["ok"]
        assert p.link.stop()["ok"]
        assert p.link.request("info").body["boot_id"] == i["boot_id"]   # no crash, no reboot
    finally:
        if p:
            p.close()
        bp.kill()


def test_host_refuses_a_pod_with_a_newer_major_protocol(tmp_path):
    """docs/protocol.md, Versioning: a pod whose INFO says a newer major wire protocol than
    the host knows is refused with a message that says what to do (the real firmware on a
    virtual board, its wire.py bumped to version 2)."""
    from posturepod.devices.virtual.board import prepare
    from posturepod.devices.virtual.patient import spawn_board
    from posturepod.firmware.pod import wire
    from posturepod.pods.podlink import PodError, PodLink
    fs = prepare(tmp_path / "fs", role="pelvis")
    w = fs / "pod" / "wire.py"
    src = w.read_text()
    assert "PROTOCOL_VERSION = const(1)" in src
    w.write_text(src.replace("PROTOCOL_VERSION = const(1)", "PROTOCOL_VERSION = const(2)"))
    link = tmp_path / "pelvis.tty"
    b = spawn_board("pelvis", link, fs=fs)
    try:
        pod = PodLink(str(link), name="pelvis")
        with pytest.raises(PodError, match=r"wire protocol 2, newer than this posturepod's "
                                           rf"\({wire.PROTOCOL_VERSION}\).*upgrade"):
            pod.open()
    finally:
        b.kill()
