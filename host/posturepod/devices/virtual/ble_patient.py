"""Virtual BLE pods: the real firmware with pod.json transport "ble" in the MicroPython
unix port, its radio dialling this process's emulated radio (ble_radio, ble_bridge), recorded
through the host's real bleak code path (ble_bleak). ``VirtualBlePatient`` starts three of
them (``.links`` as for real BLE pods) and injects faults.

Tests and tools import this module alone: it also offers ``radio``, ``install`` and bumble's
``Address`` and ``UUID`` (``BUMBLE_UUID``).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from bumble.core import UUID as BUMBLE_UUID  # noqa: F401 - for tests and tools
from bumble.hci import Address  # noqa: F401 - for tests and tools

from posturepod.devices.virtual.ble_bleak import install, radio
from posturepod.devices.virtual.ble_bridge import PodPeripheral
from posturepod.pods.transport import ble as tble


class BlePodProcess:
    """One virtual BLE pod's MicroPython process, its filesystem ``fs`` and ``ble:ID`` spec."""

    def __init__(self, role: str, fs: Path, proc: subprocess.Popen, pod_id: str, args):
        self.role = role
        self.fs = fs
        self.proc = proc
        self.pod_id = pod_id
        self.args = args

    @property
    def spec(self) -> str:
        return "ble:" + self.pod_id

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.kill()
        self.proc = _spawn(self.args, self.fs)


def _spawn(args, fs: Path) -> subprocess.Popen:
    log = open(fs / "console.log", "ab")
    return subprocess.Popen(args, cwd=fs, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def spawn_ble_pod(role: str, fs: Path, *, rate_hz: int = 100, imu: str = "MPU-6050",
                  trace=None, t0_us=None, ppm: int = 0, pod_id: str | None = None,
                  ble: dict | None = None, heap: str = "4M") -> BlePodProcess:
    """A virtual board running the real firmware with pod.json transport "ble", its radio
    dialling this process's emulated radio."""
    from posturepod.devices.virtual.board import board_profile, micropython_path, prepare
    r = radio()
    pod_id = pod_id or f"virt-{role}"
    fs = Path(fs)
    prepare(fs, role=role, rate_hz=rate_hz, imu=imu, trace=str(trace) if trace else None,
            t0_us=t0_us, ppm=ppm, pod_id=pod_id)
    cfg = json.loads((fs / "pod.json").read_text())
    cfg["transport"] = "ble"
    cfg["pod_id"] = pod_id
    (fs / "pod.json").write_text(json.dumps(cfg))
    vb = json.loads((fs / "vboard.json").read_text())
    vb["ble"] = {"port": r.port}
    (fs / "vboard.json").write_text(json.dumps(vb))
    prof = board_profile("virtual")
    prof["ble"] = dict(ble or {})
    (fs / "board.json").write_text(json.dumps(prof))
    args = [micropython_path(), "-X", f"heapsize={heap}", "main.py"]
    return BlePodProcess(role, fs, _spawn(args, fs), pod_id, args)


class VirtualBlePatient:
    """Three (or ``roles``) virtual BLE pods: ``.links`` maps role -> ``ble:ID`` specs for
    ``record``/``Session``, exactly as real BLE pods are given."""

    def __init__(self, workdir: Path, *, trace=None, t0_us=None, rate_hz: int = 100,
                 imus: dict | None = None, ppm: dict | None = None,
                 roles=("pelvis", "thorax", "head"), ble: dict | None = None,
                 mtu: int | dict = 247, wait_s: float = 15.0):
        self.workdir = Path(workdir)
        self.trace = trace
        self.t0_us = t0_us
        self.rate_hz = rate_hz
        self.imus = imus or {"pelvis": "MPU-6050", "thorax": "ICM-20948", "head": "MPU-6500"}
        self.ppm = ppm or {}
        self.roles = roles
        self.ble = ble or {}
        self.mtu = mtu
        self.wait_s = wait_s
        self.pods: dict[str, BlePodProcess] = {}

    @property
    def links(self) -> dict[str, str]:
        return {r: p.spec for r, p in self.pods.items()}

    def __enter__(self) -> VirtualBlePatient:
        self.workdir.mkdir(parents=True, exist_ok=True)
        r = radio()
        if isinstance(self.mtu, int):
            install(mtu=self.mtu)
        try:
            for role in self.roles:
                self.pods[role] = spawn_ble_pod(
                    role, self.workdir / f"fs-{role}", rate_hz=self.rate_hz,
                    imu=self.imus.get(role, "MPU-6050"), trace=self.trace, t0_us=self.t0_us,
                    ppm=self.ppm.get(role, 0), ble=self.ble)
            t_end = time.monotonic() + self.wait_s
            while time.monotonic() < t_end:
                if all(r.find(p.pod_id) is not None and r.find(p.pod_id).advertising
                       for p in self.pods.values()):
                    break
                for p in self.pods.values():
                    if p.proc.poll() is not None:
                        log = (p.fs / "console.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"virtual BLE pod {p.role} exited: {log}")
                time.sleep(0.05)
            else:
                raise TimeoutError("virtual BLE pods did not start advertising")
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self, role: str, supervision_s: float = 0.5) -> None:
        tble.run(radio().cut(self.pods[role].pod_id, supervision_s), supervision_s + 10)

    def restore(self, role: str) -> None:
        tble.run(radio().restore(self.pods[role].pod_id), 10)

    def inject(self, role: str, data: bytes) -> None:
        tble.run(radio().inject(self.pods[role].pod_id, data), 10)

    def peripheral(self, role: str) -> PodPeripheral:
        return radio().find(self.pods[role].pod_id)

    def close(self) -> None:
        from posturepod.devices.virtual.patient import stop_boards
        stop_boards(self.pods.values())


def new_workdir(prefix: str = "posturepod-ble-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
