"""The emulated Raspberry Pi Pico (``posturepod virtual-board --board pico``, docs/pico.md):
MicroPython's real RPI_PICO image in rp2040js, its USB CDC on a pty. Needs the image and
boot ROM (../shared/rp2 beside the checkout, or POSTUREPOD_PICO_UF2 / _BOOTROM) and Node;
skips naming what is missing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posturepod.devices.virtual.patient import _wait_link

CLI = [sys.executable, "-m", "posturepod.cli"]
MPREMOTE = [sys.executable, "-m", "mpremote"]
MP = Path(__file__).resolve().parent / "mp"
VECTORS = Path(__file__).resolve().parent / "golden" / "wire_vectors.json"


@pytest.fixture(scope="session")
def pico_images():
    from conftest import SHARED
    from posturepod.devices.pico.node_env import PicoSetupError, ensure_modules, node_exe
    uf2 = os.environ.get("POSTUREPOD_PICO_UF2") or SHARED / "rp2" / "micropython-v1.28.0-RPI_PICO.uf2"
    rom = os.environ.get("POSTUREPOD_PICO_BOOTROM") or SHARED / "rp2" / "rp2040-bootrom-b1.bin"
    for what, p in (("MicroPython RPI_PICO image", uf2), ("RP2040 boot ROM", rom)):
        if not Path(p).is_file():
            pytest.skip(f"{what} {p} is absent (set POSTUREPOD_PICO_UF2 / _BOOTROM)")
    try:
        node_exe()
    except PicoSetupError as e:
        pytest.skip(str(e))
    ensure_modules()            # a failed install is an error, not a skip
    return Path(uf2), Path(rom)


class Pico:
    """A ``posturepod virtual-board --board pico`` process."""

    def __init__(self, tmp: Path, images, *extra, name="pelvis"):
        self.link = tmp / f"{name}.tty"
        self.fs = tmp / f"pico-{name}"
        self.args = CLI + ["virtual-board", "--board", "pico", "--role", "pelvis",
                           "--link", str(self.link), "--fs", str(self.fs),
                           "--uf2", str(images[0]), "--bootrom", str(images[1]), *extra]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        _wait_link(self.link, 60, self.proc, None)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read() if self.proc.stderr else ""

    def mpremote(self, *args, timeout=60):
        return subprocess.run(MPREMOTE + ["connect", str(self.link), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def exec(self, code, resume=False):
        r = self.mpremote(*(["resume"] if resume else []), "exec", code)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout.strip()


@pytest.fixture
def blank_pico(tmp_path, pico_images):
    p = Pico(tmp_path, pico_images, "--blank")
    yield p
    p.stop()


def _raw_repl_unpaced(port: Path, code: bytes, timeout_s: float = 60.0) -> bytes:
    """Run code in the raw REPL written in one go, without raw-paste flow control: what
    is past the device's 512-byte USB buffer arrives only if the bridge holds it back."""
    import serial
    with serial.Serial(str(port), 115200, timeout=0.2) as s:
        s.write(b"\r\x03\x03\x01")
        got = b""
        t_end = time.monotonic() + timeout_s
        while b"raw REPL; CTRL-B to exit\r\n>" not in got and time.monotonic() < t_end:
            got += s.read(256)
        s.write(code + b"\x04")
        got = b""
        while got.count(b"\x04") < 2 and time.monotonic() < t_end:
            got += s.read(256)
        s.write(b"\x02")
        return got


def _read_until(port: Path, want: bytes, timeout_s: float = 30.0) -> bytes:
    import serial
    got = b""
    with serial.Serial(str(port), 115200, timeout=0.2) as s:
        t_end = time.monotonic() + timeout_s
        while want not in got and time.monotonic() < t_end:
            got += s.read(256)
    return got


def test_boot_files_resets_and_flash_kept(tmp_path, pico_images):
    p = Pico(tmp_path, pico_images, "--blank")
    try:
        out = p.exec("import sys, os, gc; print(sys.implementation._machine); "
                     "print(os.statvfs('/')[2]); print(gc.mem_free())")
        machine, blocks, free = out.splitlines()
        assert machine == "Raspberry Pi Pico with RP2040"
        assert int(blocks) * 4096 > 1_000_000           # littlefs on the emulated flash
        assert int(free) > 200_000

        # files: cp, ls, run; a file larger than the USB buffer arrives whole
        src = tmp_path / "data.py"
        src.write_text("N = %d\n" % 123456 + "# " + "x" * 3000 + "\n")
        r = p.mpremote("fs", "cp", src, ":data.py")
        assert r.returncode == 0, r.stdout + r.stderr
        r = p.mpremote("fs", "ls")
        assert f"{src.stat().st_size} data.py" in r.stdout, r.stdout
        assert p.exec("import data; print(data.N)") == "123456"

        # 4 kB written at once into the raw REPL (no raw-paste pacing)
        code = b"s = '" + b"y" * 4000 + b"'\nprint('LEN', len(s))"
        assert b"LEN 4000" in _raw_repl_unpaced(p.link, code)

        # soft reset: RAM state gone, the board answers
        p.exec("g_mark = 42")
        assert p.exec("print(g_mark)", resume=True) == "42"
        r = p.mpremote("soft-reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert p.exec("print('g_mark' in globals())", resume=True) == "False"

        # machine.reset() reboots the chip (a watchdog reset, main.py runs: it counts its
        # boots in a file, then loops); Ctrl-C interrupts it for mpremote
        main = tmp_path / "main.py"
        main.write_text("f = open('boots.txt', 'a')\nf.write('b')\nf.close()\n"
                        "import time\nwhile True:\n    print('BOOTED')\n"
                        "    time.sleep_ms(100)\n")
        assert p.mpremote("fs", "cp", main, ":main.py").returncode == 0
        r = p.mpremote("reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert b"BOOTED" in _read_until(p.link, b"BOOTED")
        assert p.exec("print(open('boots.txt').read())") == "b"
        assert p.exec("print('g_mark' in globals())", resume=True) == "False"
    finally:
        log = p.stop()
    assert "watchdog reset 1" in log, log

    # the flash file keeps the filesystem across emulator restarts
    assert (p.fs / "flash.bin").stat().st_size == 2 * 1024 * 1024
    p.start()
    try:
        assert p.exec("import data; print(data.N)") == "123456"
        r = p.mpremote("fs", "ls")
        assert "main.py" in r.stdout
    finally:
        p.stop()


def test_imu_model_on_the_i2c_pins(tmp_path, pico_images):
    """The project's MPU-6050 model on I2C0 (GP4/GP5 of the pico profile), fed by a motion
    trace: scan() finds it (pin-level acknowledge of the bit-banged probe), WHO_AM_I and
    the accelerometer read through the real machine.I2C, an absent address is EIO, and
    each transfer takes its bus time at 400 kHz on the emulated clock."""
    import numpy as np

    from posturepod.devices.virtual.trace import G, write_trace
    n = 2000                                            # 2 s at 1 kHz
    acc = np.tile([0.5 * G, 0.0, 0.866 * G], (n, 1))    # 0.5 g along x
    trace = write_trace(tmp_path / "t.bin", 1000, {"pelvis": {
        "acc_m_s2": acc, "gyr_rad_s": np.zeros((n, 3))}})
    p = Pico(tmp_path, pico_images, "--blank", "--trace", trace)
    try:
        out = p.exec(
            "from machine import I2C, Pin\nimport time, struct\n"
            "i = I2C(0, sda=Pin(4), scl=Pin(5), freq=400000)\n"
            "print(i.scan())\n"
            "print(i.readfrom_mem(0x68, 0x75, 1)[0])\n"
            "i.writeto_mem(0x68, 0x6B, b'\\x00')\n"
            "time.sleep_ms(20)\n"
            "print(struct.unpack('>3h', i.readfrom_mem(0x68, 0x3B, 6)))\n"
            "try:\n    i.readfrom_mem(0x50, 0, 1)\nexcept OSError as e:\n    print(e.errno)\n"
            "t = time.ticks_us()\n"
            "for k in range(10):\n    i.readfrom_mem(0x68, 0x3B, 14)\n"
            "print(time.ticks_diff(time.ticks_us(), t))\n")
        scan, who, acc_counts, err, us = out.splitlines()
        assert scan == "[104]"
        assert int(who) == 0x68
        ax, ay, az = eval(acc_counts)
        assert abs(ax - 8192) <= 2 and abs(ay) <= 2 and abs(az - 14189) <= 3
        assert int(err) == 5                             # EIO
        # 10 x (START, address, register, repeated START, address, 14 bytes, STOP):
        # 10 x (1 + 9 + 9 + 1 + 9 + 126 + 1) bits of 2.5 us = 3.9 ms at least
        assert 3900 <= int(us) < 3900 * 2
    finally:
        p.stop()


@pytest.fixture(scope="module")
def flashed(tmp_path_factory, pico_images):
    """posturepod flash --board pico onto a blank emulated Pico, once for this module: the
    flash file it leaves (copied by each test that boots the pod) and flash's output."""
    tmp = tmp_path_factory.mktemp("flashed")
    p = Pico(tmp, pico_images, "--blank")
    try:
        r = subprocess.run(CLI + ["flash", "--port", p.link, "--role", "pelvis", "--board",
                                  "pico"], capture_output=True, text=True, timeout=300)
    finally:
        p.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    return p.fs / "flash.bin", r.stdout


def _flashed_pico(tmp_path, images, flashed, *extra, name="pelvis"):
    fs = tmp_path / f"pico-{name}"
    fs.mkdir()
    shutil.copy(flashed[0], fs / "flash.bin")
    return Pico(tmp_path, images, *extra, name=name)


TIME_TRACE_HZ = 10_000      # the chip's samples carry their trace time to 100 us
TIME_DIGIT = 5000
TIME_STEP_M_S2 = 0.006      # acc per digit of the time code (2.5 counts at 8 g)


def _time_trace(path: Path, seconds: float) -> Path:
    """A motion trace whose accelerometer x and y spell the trace time in 100 us steps
    (x: the step mod 5000, y: the step // 5000), so each recorded sample says when the
    emulated chip made it (trace time 0 = the emulator's start)."""
    import numpy as np

    from posturepod.devices.virtual.trace import write_trace
    k = np.arange(int(seconds * TIME_TRACE_HZ))
    acc = np.zeros((len(k), 3))
    acc[:, 0] = (k % TIME_DIGIT) * TIME_STEP_M_S2
    acc[:, 1] = (k // TIME_DIGIT) * TIME_STEP_M_S2
    acc[:, 2] = 9.8
    return write_trace(path, TIME_TRACE_HZ, {"pelvis": {"acc_m_s2": acc,
                                                        "gyr_rad_s": np.zeros((len(k), 3))}})


def _stamp_lags(rec: Path, role: str = "pelvis"):
    """Per sample of a recording made on the time trace: its stamp (the pod's device time)
    less the emulated time at which the chip made it, in us (an offset: the pod's clock
    starts at its boot)."""
    import numpy as np

    from posturepod.recordings.reader import load_imu
    info = json.loads((rec / "recording.json").read_text())["pods"][role]["info"]
    r = load_imu(rec / f"{role}.imu")
    digits = np.rint(r["acc"][:, :2] * float(info["acc_scale"]) / TIME_STEP_M_S2)
    made_us = (digits[:, 1] * TIME_DIGIT + digits[:, 0]) * (1e6 / TIME_TRACE_HZ)
    stamp = np.unwrap(r["t_us"].astype(np.float64), period=2.0 ** 32)
    return stamp - made_us


def test_flash_record_info_selftest(tmp_path, pico_images, flashed):
    """posturepod flash --board pico on a blank emulated Pico (armv6m .mpy, the viper
    module checked on the board), then 10 s of pod time recorded losslessly, each sample
    stamped within a main-loop pass of when the emulated chip made it, info on a pod whose
    clock runs at a fraction of real time, and the selftest after a restart with a trace
    that turns the pod over."""
    import numpy as np

    from test_selftest import turn_trace

    from posturepod.devices.virtual.trace import write_trace
    out = flashed[1]
    assert "-march=armv6m" in out and "send pod/wire_viper.mpy" in out
    assert "send pod/tilt_native.mpy" in out
    assert "wire_viper.mpy removed" not in out and "tilt_native.mpy removed" not in out
    assert "pod info: role=pelvis" in out and "board=pico" in out
    assert "imu=MPU-6050" in out

    trace = _time_trace(tmp_path / "time.trace", 40)
    p = _flashed_pico(tmp_path, pico_images, flashed, "--trace", trace)
    try:
        rec = tmp_path / "rec"
        r = subprocess.run(CLI + ["record", "--pod", f"pelvis={p.link}", "--pod-seconds", "10",
                                  "--out", rec, "--no-live"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        p.stop()
    s = json.loads(subprocess.run(CLI + ["info", rec, "--json"], capture_output=True,
                                  text=True, timeout=120).stdout)
    pod = s["pods"][0]
    assert pod["samples"] >= 1000 and pod["seq_gaps"] == 0 and pod["lost_samples"] == 0
    assert pod["crc_errors"] == 0 and pod["reboots"] == 0
    (clock,) = pod["clock"]
    assert clock["method"] in ("pings", "pings-rate") and 0 < clock["rate"] < 1.01, clock
    # the recording clock is the host's: the pod's 100 Hz arrive at rate x 100 per second
    assert pod["rate_hz"] == pytest.approx(100 * clock["rate"], rel=0.05)
    text = subprocess.run(CLI + ["info", rec], capture_output=True, text=True,
                          timeout=120).stdout
    if clock["method"] == "pings-rate":
        assert f"runs at {clock['rate']:.3f}x real time" in text, text
    # sample times against the emulated clock: one constant offset (the pod's clock starts
    # at its boot) and, about it, the lag of a read: within a pass of the main loop, or
    # stamped by the chip's period when a command delayed the pass more than 2 ms (the
    # firmware before that rule: 1st-99th percentile 4.5 ms apart, 9 ms at most)
    lag = _stamp_lags(rec)
    dev = lag - np.median(lag)
    lo, hi = np.percentile(dev, [1, 99])
    assert len(lag) == pod["samples"] and hi - lo < 2500 and np.ptp(dev) < 3000, \
        (np.percentile(dev, [0, 1, 50, 99, 100]), lag[:20])

    # the firmware is on the flash: a restart boots the pod, now lying on a table that is
    # turned over 5 s after power-on (emulated time; the selftest measures still before)
    rate = 200
    _, acc, gyr = turn_trace(rate, 60, t_turn=5.0, axis=1)
    trace = write_trace(tmp_path / "turn.trace", rate,
                        {"pelvis": {"acc_m_s2": acc, "gyr_rad_s": gyr}})
    p = Pico(tmp_path, pico_images, "--trace", trace)      # the flash exists: kept as is
    try:
        r = subprocess.run(CLI + ["selftest", "--port", str(p.link), "--yes", "--still-s", "1",
                                  "--rotate-timeout", "120"],
                           capture_output=True, text=True, timeout=300)
    finally:
        p.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "native CRC/COBS" in r.stdout and "ALL PASS" in r.stdout, r.stdout
    assert "native tilt filter" in r.stdout, r.stdout        # info native_tilt: it loaded


def test_firmware_unit_checks_on_the_pico(tmp_path, pico_images, flashed):
    """The firmware's own checks on the real rp2 port, the same files the unix-port tests
    run: the wire golden vectors (tests/mp/wire_check.py, native loops against bytecode
    ones) and the allocation-free sample path (tests/mp/alloc_check.py: the pod's App on the
    board's machine.I2C and IMU, its main loop's own waits, GC off, heap unchanged at
    100 and 1000 Hz and through FIFO overflows)."""
    p = _flashed_pico(tmp_path, pico_images, flashed, "--blank")
    try:
        r = p.mpremote("fs", "cp", VECTORS, ":wire_vectors.json", "+", "run", MP / "wire_check.py",
                       timeout=300)
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "ALL OK" in r.stdout, out
        assert r.stdout.count("\nOK ") > 40, out
        assert "OK native_loops_in_use" in out and "OK native_copy_swap_700" in out, out
        r = p.mpremote("run", MP / "alloc_check.py", timeout=600)
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "ALL OK" in r.stdout, out
        for case in ("MPU-6050@100Hz/turn", "MPU-6050@1000Hz/turn", "MPU-6050@1000Hz/stalls"):
            assert f"OK {case}: firmware 0 bytes" in out, out
    finally:
        p.stop()


# ---- what the emulated Pico needed elsewhere (no emulator needed) ------------------------

def _pings(host_per_dev, n, scatter_s, seed=0):
    from posturepod.recordings.format import SYNC_DTYPE, SYNC_PING
    import numpy as np
    rng = np.random.default_rng(seed)
    s = np.zeros(n, dtype=SYNC_DTYPE)
    s["kind"] = SYNC_PING
    s["dev_us"] = np.arange(n) * 1_000_000 // 4          # a ping every 0.25 s of pod time
    s["host_s"] = 100.0 + s["dev_us"] * 1e-6 * host_per_dev + rng.normal(0, scatter_s, n)
    s["rtt_s"] = 0.05
    return s


def test_clock_fit_believes_a_far_rate_only_from_consistent_pings():
    from posturepod.recordings.timeline import fit_clock
    a, b, n, res_ms, method = fit_clock(_pings(4.0, 40, 0.05), 0.0)     # 0.25x real time
    assert method == "pings-rate" and b * 1e6 == pytest.approx(4.0, rel=0.01)
    assert a == pytest.approx(100.0, abs=0.1)
    assert fit_clock(_pings(1.0001, 40, 0.001), 0.0)[4] == "pings"      # a crystal
    # too few pings, or a scatter as large as the span: the offset alone
    assert fit_clock(_pings(4.0, 6, 0.05), 0.0)[4] == "pings-offset"
    assert fit_clock(_pings(4.0, 40, 3.0), 0.0)[4] == "pings-offset"


def test_selftest_rate_on_the_pods_own_clock_when_it_runs_slow():
    import numpy as np

    from posturepod.devices import selftest as st
    n = 1000
    t = np.arange(n) / 100.0                          # 100 Hz on the pod's clock
    seq = np.arange(n)
    fr = np.arange(1, n, 2)
    z = np.zeros((n, 3))
    slow = st.Stream(z, z, t, seq, 50 + t[fr] * 4.0, seq[fr])      # 0.25x real time
    item = st.check_rate(slow, 100, 100)
    assert item.ok and "0.250x real time" in item.detail, item
    off = st.Stream(z, z, t * 1.04, seq, 50 + t[fr] * 4.16, seq[fr])  # 4 % off its clock
    assert not st.check_rate(off, 100, 100).ok


def test_native_module_removed_when_the_board_cannot_run_it():
    from posturepod.devices.deploy import check_native

    class FakeBoard:
        removed: list = []

        def eval_repr(self, code):
            if "tilt_native" in code:
                return True
            assert "wire_viper" in code
            return "ValueError('incompatible .mpy arch')"

        def remove(self, paths):
            self.removed += paths
    dev = FakeBoard()
    assert check_native(dev, ["pod/wire.mpy"]) is None and dev.removed == []
    w = check_native(dev, ["pod/wire.mpy", "pod/wire_viper.mpy", "pod/tilt_native.mpy"])
    assert dev.removed == ["pod/wire_viper.mpy"]
    assert w and "incompatible .mpy arch" in w and "bytecode" in w and "tilt_native" not in w


def test_pico_and_pico_w_told_apart():
    from posturepod.devices.boards import guess_board
    assert guess_board("/nope", {"machine": "Raspberry Pi Pico with RP2040"})[0] == "pico"
    assert guess_board("/nope", {"machine": "Raspberry Pi Pico W with RP2040"})[0] == "pico-w"


@pytest.mark.slow
def test_standalone_mode_on_the_emulated_pico(tmp_path, pico_images):
    """Issue 16 on the real rp2 port: flashed firmware, armed over the emulated USB, one
    record a second on the Pico's littlefs (capacity from its free space: >= 16 h), read
    back with their CRCs; after a restart (the flash kept) still armed, BOOT flag."""
    from podraw import RawPod
    from posturepod.firmware.pod import wire
    p = Pico(tmp_path, pico_images, "--blank")
    try:
        r = subprocess.run(CLI + ["flash", "--port", p.link, "--role", "thorax", "--board",
                                  "pico"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        p.stop()
    p = Pico(tmp_path, pico_images)
    try:
        pod = RawPod(p.link, timeout_s=60)
        a = pod.ok("arm", timeout_s=30, wall_s=1764900000, ref_cdeg=0, rule=None,
                   seg_q14=[16384, 0, 0, 0, 16384, 0, 0, 0, 16384], pattern=[300], quiet=[],
                   utc_offset_min=0, radio="off")
        print("Pico capacity_records", a["capacity_records"])
        assert a["capacity_records"] >= 57600
        end = time.monotonic() + 120
        while pod.ok("log_info", timeout_s=30)["next_seq"] < 3 and time.monotonic() < end:
            time.sleep(2)
        info, recs = pod.read_all()
        assert len(recs) >= 3 and all(r[7] for r in recs)
        assert [r[0] for r in recs] == list(range(len(recs)))
        assert recs[0][6] & wire.LOGREC_ARM and all(abs(r[2]) < 300 for r in recs)
        pod.close()
    finally:
        p.stop()
    p = Pico(tmp_path, pico_images)             # power cycle: the flash is kept
    try:
        pod = RawPod(p.link, timeout_s=60)
        assert pod.info["armed"] is True
        end = time.monotonic() + 120
        n0 = len(recs)
        while pod.ok("log_info", timeout_s=30)["next_seq"] < n0 + 2 and time.monotonic() < end:
            time.sleep(2)
        info, recs = pod.read_all()
        assert info["boot_count"] >= 2 and all(r[7] for r in recs)
        assert any(r[6] & wire.LOGREC_BOOT for r in recs[n0 - 1:])
        pod.close()
    finally:
        p.stop()
