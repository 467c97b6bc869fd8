"""posturepod flash against the virtual board: a bare MicroPython board (the unix port behind
a pty, `posturepod virtual-board --blank`) is flashed through its raw REPL with mpremote's
transport, then recorded from; flashing again sends nothing; mpremote itself works against
the running pod; resets restart main.py. Plus the error paths and the .mpy rules."""
import json
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from posturepod.devices import deploy
from posturepod.devices.deploy_error import DeployError
from posturepod.devices.virtual.patient import _wait_link

pytestmark = pytest.mark.usefixtures("micropython")

CLI = [sys.executable, "-m", "posturepod.cli"]


def run_cli(*args, timeout=120):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


class VBoard:
    def __init__(self, tmp: Path, *extra, name="pelvis"):
        self.link = tmp / f"{name}.tty"
        self.fs = tmp / f"fs-{name}"
        args = CLI + ["virtual-board", "--role", "pelvis", "--link", str(self.link),
                      "--fs", str(self.fs), *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        _wait_link(self.link, 15, self.proc, None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stderr.read() if self.proc.stderr else ""


@pytest.fixture
def blank_board(tmp_path):
    b = VBoard(tmp_path, "--blank")
    yield b
    b.stop()


def pod_info(port, timeout=8.0):
    from posturepod.pods.podlink import PodLink
    link = PodLink(str(port), auto_reconnect=False)
    try:
        return link.open(timeout)
    finally:
        link.close()


@pytest.mark.slow
def test_flash_blank_board_record_reflash_mpremote(blank_board, tmp_path):
    fs, port = blank_board.fs, blank_board.link
    assert not (fs / "main.py").exists()
    vboard_json = (fs / "vboard.json").read_bytes()

    r = run_cli("flash", "--port", port, "--role", "pelvis", "--board", "virtual")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all verified by sha256" in r.stdout
    assert "pod info: role=pelvis" in r.stdout and "imu=MPU-6050" in r.stdout
    # the board's filesystem: main.py as source, everything else compiled, vboard installed
    assert (fs / "main.py").read_bytes() == (deploy.FIRMWARE_DIR / "main.py").read_bytes()
    assert (fs / "pod" / "app.mpy").read_bytes()[:2] == b"M\x06"
    assert [p.relative_to(fs).as_posix() for p in fs.rglob("*.py")] == ["main.py"]
    assert (fs / "vboard" / "__init__.mpy").exists()
    assert (fs / "vboard.json").read_bytes() == vboard_json             # left alone
    cfg = json.loads((fs / "pod.json").read_text())
    assert cfg["role"] == "pelvis" and cfg["board"] == "virtual" and cfg["rate_hz"] == 100
    assert json.loads((fs / "board.json").read_text())["name"] == "virtual"

    out = tmp_path / "rec"
    r = run_cli("record", "--pod", f"pelvis={port}", "--seconds", 5, "--out", out, "--no-live")
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.loads(run_cli("info", out, "--json").stdout)
    p = s["pods"][0]
    assert p["role"] == "pelvis" and p["seq_gaps"] == 0 and p["crc_errors"] == 0
    assert abs(p["samples"] - 500) <= 25, p

    # idempotent: nothing to send the second time, and the pod still comes up
    r = run_cli("flash", "--port", port, "--role", "pelvis", "--board", "virtual")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 files sent" in r.stdout and "nothing to send" in r.stdout
    assert "pod info: role=pelvis" in r.stdout

    # a changed setting sends pod.json only
    r = run_cli("flash", "--port", port, "--role", "pelvis", "--rate-hz", 50)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "send pod.json" in r.stdout and "send pod/app.mpy" not in r.stdout
    assert "rate_hz=50" in r.stdout
    assert "board profile: virtual (the board is the MicroPython unix port" in r.stdout

    # mpremote against the running firmware: Ctrl-C interrupts main.py, raw REPL, exec
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(port), "exec",
                        "print(1+1)"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(port), "fs",
                        "sha256sum", ":main.py"], capture_output=True, text=True, timeout=30)
    import hashlib
    assert hashlib.sha256((fs / "main.py").read_bytes()).hexdigest() in r.stdout, r.stdout

    # mpremote's hard reset (machine.reset()) boots main.py again: the pod answers
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(port), "reset"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    info = pod_info(port)
    assert info["role"] == "pelvis" and info["rate_hz"] == 50

    # the firmware's own reboot (the hal's reset) restarts main.py too
    from posturepod.pods.podlink import PodLink
    link = PodLink(str(port), auto_reconnect=False)
    info1 = link.open(5)
    link.reboot()
    link.close()
    info2 = pod_info(port)
    assert info2["boot_id"] != info1["boot_id"]          # a new boot (random 16-bit id)


def test_flash_replaces_a_source_install_and_removes_stale_files(tmp_path):
    b = VBoard(tmp_path)                      # firmware installed as .py sources
    try:
        assert (b.fs / "pod" / "app.py").exists()
        (b.fs / "pod" / "old_module.mpy").write_bytes(b"M\x06\x00\x1f")
        r = run_cli("flash", "--port", b.link, "--role", "head", "--board", "virtual")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not (b.fs / "pod" / "app.py").exists()         # would shadow app.mpy
        assert not (b.fs / "pod" / "old_module.mpy").exists()
        assert (b.fs / "pod" / "app.mpy").exists()
        assert "role=head" in r.stdout
        cfg = json.loads((b.fs / "pod.json").read_text())
        assert cfg["pod_id"] == ""                              # kept from the old pod.json
    finally:
        b.stop()


def test_flash_reports_missing_imu(tmp_path):
    b = VBoard(tmp_path, "--blank", "--imu", "none")
    try:
        r = run_cli("flash", "--port", b.link, "--role", "thorax", "--board", "virtual")
        assert r.returncode == 1
        assert "IMU was not found after boot" in r.stderr, r.stderr
        assert "nothing answers on the I2C bus" in r.stderr
        assert (b.fs / "pod" / "app.mpy").exists()              # installed all the same
    finally:
        b.stop()


def test_no_board_on_the_port(tmp_path):
    r = run_cli("flash", "--port", tmp_path / "ttyNOPE", "--role", "pelvis")
    assert r.returncode == 1
    assert "no board on" in r.stderr and "does not exist" in r.stderr


class SilentPort:
    """A serial port where something listens but no MicroPython answers (optionally an
    ESP32 stuck in ROM download mode)."""

    def __init__(self, tmp: Path, answer: bytes = b""):
        self.master, slave = pty.openpty()
        self.slave = slave
        self.link = tmp / "silent.tty"
        os.symlink(os.ttyname(slave), self.link)
        self.answer = answer
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import select
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    os.read(self.master, 4096)
                except OSError:
                    return
                if self.answer:
                    os.write(self.master, self.answer)

    def close(self):
        self.stop = True
        self.t.join(1)
        os.close(self.master)
        os.close(self.slave)


def test_no_micropython_on_the_board(tmp_path):
    sp = SilentPort(tmp_path)
    try:
        t0 = time.monotonic()
        with pytest.raises(DeployError) as e:
            deploy.flash(str(sp.link), role="pelvis", board="xiao-esp32s3", timeout_s=1.5,
                         log=lambda m: None)
        assert time.monotonic() - t0 < 15
        msg = str(e.value)
        assert "no MicroPython on" in msg and "nothing answered" in msg
        assert "mpflash flash" in msg and "ESP32_GENERIC_S3" in msg
        assert "esptool.py --chip esp32s3" in msg
    finally:
        sp.close()


def test_board_in_rom_download_mode(tmp_path):
    sp = SilentPort(tmp_path, b"ESP-ROM:esp32s3-20210327\r\nwaiting for download\r\n")
    try:
        with pytest.raises(DeployError) as e:
            deploy.flash(str(sp.link), role="pelvis", board="pico2-w", timeout_s=1.5,
                         log=lambda m: None)
        msg = str(e.value)
        assert "ROM download mode" in msg
        assert "BOOTSEL" in msg and "RPI_PICO2_W" in msg
    finally:
        sp.close()


def _probe_patch(monkeypatch, **over):
    real = deploy.Board.probe

    def probe(self):
        d = real(self)
        d.update(over)
        return d
    monkeypatch.setattr(deploy.Board, "probe", probe)


def test_micropython_too_old_for_the_mpy(blank_board, monkeypatch):
    _probe_patch(monkeypatch, mpy=5 | (2 << 10), version=(1, 18, 0))     # v1.18: .mpy v5
    with pytest.raises(DeployError) as e:
        deploy.flash(str(blank_board.link), role="pelvis", board="virtual", log=lambda m: None)
    msg = str(e.value)
    assert "loads .mpy v5 files" in msg and "compiled to .mpy v6" in msg
    assert "Update MicroPython on the board to 1.19 or newer" in msg
    assert not (blank_board.fs / "pod").exists()                          # nothing written


def test_not_enough_flash(blank_board, monkeypatch):
    # a 64 KiB filesystem with 16 KiB free, 4 KiB blocks
    _probe_patch(monkeypatch, statvfs=(4096, 4096, 16, 4, 4, 0, 0, 0, 0, 255))
    with pytest.raises(DeployError) as e:
        deploy.flash(str(blank_board.link), role="pelvis", board="virtual", log=lambda m: None)
    msg = str(e.value)
    assert "not enough flash" in msg and "16 KiB free" in msg
    assert not (blank_board.fs / "pod").exists()


# ---- pure functions ---------------------------------------------------------------------

def test_mpy_header_and_compat_rules():
    assert deploy.mpy_header(b"M\x06\x00\x1f") == (6, 0, 0)
    assert deploy.mpy_header(bytes([77, 6, (10 << 2) | 3, 31])) == (6, 3, 10)
    dev = 6 | (3 << 8) | (10 << 10)                   # v6.3 xtensawin (an ESP32-S3)
    deploy.check_mpy_compat([(6, 0, 0)], dev)          # bytecode: the sub-version is ignored
    deploy.check_mpy_compat([(6, 3, 10)], dev)         # native code for the same arch
    with pytest.raises(DeployError, match="native code for xtensawin"):
        deploy.check_mpy_compat([(6, 2, 10)], dev)     # native code needs the same sub-version
    with pytest.raises(DeployError, match="native code for armv6m"):
        deploy.check_mpy_compat([(6, 3, 4)], dev)
    with pytest.raises(DeployError, match="Update mpy-cross"):
        deploy.check_mpy_compat([(5, 0, 0)], dev)
    with pytest.raises(DeployError, match="too old to report"):
        deploy.check_mpy_compat([(6, 0, 0)], None, (1, 11, 0))


def test_compiled_for_every_board_profile(tmp_path):
    """Every profile's mpy_arch is one mpy-cross knows, and the firmware compiles for it."""
    _, ver = deploy.mpy_cross_version()
    for name in deploy.board_names():
        prof = deploy.load_profile(name)
        assert prof["mpy_arch"] in deploy.MPY_ARCHS, name
        files = deploy.build_files(prof, {"role": "pelvis"}, tmp_path)
        paths = [f.path for f in files]
        assert "main.py" in paths and "pod/app.mpy" in paths and "pod.json" in paths
        assert ("vboard/__init__.mpy" in paths) == (prof["hal"] == "virtual"), name
        for f in files:
            if f.path.endswith(".mpy"):
                assert deploy.mpy_header(f.data)[:1] == (ver[0],)


def test_pod_config_keeps_what_the_pod_has():
    old = {"role": "head", "rate_hz": 200, "pod_id": "P7", "acc_range_g": 4, "junk": 1}
    c = deploy.pod_config(old, role="pelvis", board="pico-w", transport=None, rate_hz=None)
    assert c == {"role": "pelvis", "rate_hz": 200, "pod_id": "P7", "acc_range_g": 4,
                 "transport": "serial", "board": "pico-w"}
    c = deploy.pod_config(None, role="thorax", board="virtual", transport="ble", rate_hz=50)
    assert c == {"role": "thorax", "rate_hz": 50, "transport": "ble", "board": "virtual"}


def test_native_module_left_out_for_a_board_that_cannot_load_it(blank_board, monkeypatch):
    """pod/wire_viper.mpy and pod/tilt_native.mpy (native code) need the board's exact .mpy
    sub-version and architecture; a MicroPython 1.22 board (v6.2) gets the firmware without
    them, a warning, and a pod that runs (wire.py and tilt.py keep their bytecode)."""
    x64 = deploy.MPY_ARCHS.index("x64")
    _probe_patch(monkeypatch, mpy=6 | (2 << 8) | (x64 << 10), version=(1, 22, 0))
    res = deploy.flash(str(blank_board.link), role="pelvis", board="virtual", log=lambda m: None)
    fs = blank_board.fs
    assert (fs / "pod" / "wire.mpy").exists() and not (fs / "pod" / "wire_viper.mpy").exists()
    assert (fs / "pod" / "tilt.mpy").exists() and not (fs / "pod" / "tilt_native.mpy").exists()
    assert any("pod/wire_viper.mpy, pod/tilt_native.mpy not installed" in w
               for w in res.warnings), res.warnings
    assert pod_info(blank_board.link)["role"] == "pelvis"


def test_split_native_keeps_what_the_board_loads(tmp_path):
    prof = deploy.load_profile("esp32s3-devkitc")
    files = deploy.build_files(prof, {"role": "pelvis"}, tmp_path)
    native = ["pod/wire_viper.mpy", "pod/tilt_native.mpy"]
    for path in native:
        f = next(f for f in files if f.path == path)
        v, sub, arch = deploy.mpy_header(f.data)
        assert arch == deploy.MPY_ARCHS.index(prof["mpy_arch"])          # native code inside
    tilt = next(f for f in files if f.path == "pod/tilt.mpy")
    assert deploy.mpy_header(tilt.data)[2] == 0                        # bytecode only
    keep, dropped = deploy.split_native(files, v | (sub << 8) | (arch << 10))
    assert dropped == [] and len(keep) == len(files)
    keep, dropped = deploy.split_native(files, v | ((sub - 1) << 8) | (arch << 10))
    assert dropped == native and len(keep) == len(files) - 2
    keep, dropped = deploy.split_native(files, None)
    assert dropped == native
