"""Flash the pod firmware onto a MicroPython board over its serial REPL (``posturepod
flash``), with mpremote's serial transport as the link: the orchestration and its messages.

What goes onto the board and the .mpy rules are in ``firmware_build``; board profiles and
what a board says it is in ``boards``; the serial REPL, hashing, free space and the copy in
``transfer``. ``pod.json`` (role, rate, transport, board; other keys already on the pod are
kept) is made here.

Steps: open the port; interrupt whatever runs and enter the raw REPL (soft reset); ask the
board what it is (``sys.implementation``, ``_mpy``, ``os.statvfs``); check the ``.mpy``
version against it and the free space against what has to be written; hash every file on
the board (sha256) and send only the files whose hash differs (idempotent); delete stale
files in ``pod/`` (a ``pod/app.py`` would shadow ``pod/app.mpy``); hash again to verify;
soft-reboot (Ctrl-B, Ctrl-D at the friendly REPL: main.py runs) and wait for the
firmware's INFO frame. See docs/deploy.md.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# board_names and MPY_ARCHS are not used here: importable from deploy for its callers and
# tests (tests/test_flash.py checks every board profile through this module)
from posturepod.devices.boards import (  # noqa: F401
    FIRMWARE_DIR,
    MPY_ARCHS,
    board_names,
    device_mpy,
    guess_board,
    load_profile,
)
from posturepod.devices.deploy_error import DeployError
from posturepod.devices.firmware_build import (
    build_files,
    check_mpy_compat,
    managed_dirs,
    mpy_cross_version,
    mpy_header,
    split_native,
)
from posturepod.devices.transfer import (
    Board,
    check_free_space,
    plan_transfer,
    send_and_verify,
)


@dataclass
class FlashResult:
    board: str
    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    device: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    logs: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def pod_config(existing: dict | None, *, role: str, board: str, transport: str | None,
               rate_hz: int | None) -> dict:
    """pod.json: the settings already on the pod are kept (pod_id, ranges...), role and
    board always set, transport and rate only when asked (else kept, else defaults)."""
    keys = ("role", "rate_hz", "acc_range_g", "gyr_range_dps", "transport", "board", "pod_id")
    cfg = {k: v for k, v in (existing or {}).items() if k in keys}
    cfg["role"] = role
    cfg["board"] = board
    if transport:
        cfg["transport"] = transport
    cfg.setdefault("transport", "serial")
    if rate_hz:
        cfg["rate_hz"] = int(rate_hz)
    cfg.setdefault("rate_hz", 100)
    return cfg


# ---- flash ----------------------------------------------------------------------------

def flash(port: str, *, role: str, board: str | None = None, transport: str | None = None,
          rate_hz: int | None = None, timeout_s: float = 10.0, boot_timeout_s: float = 20.0,
          log=print) -> FlashResult:
    """Install or update the firmware on the board at ``port``. Raises DeployError."""
    from posturepod.firmware.pod import config as fwconfig
    from posturepod.firmware.pod import wire
    if role not in fwconfig.ROLES:
        raise DeployError(f"role must be one of {', '.join(fwconfig.ROLES)}")
    if rate_hz is not None and not (wire.MIN_RATE_HZ <= rate_hz <= wire.MAX_RATE_HZ):
        raise DeployError(f"--rate-hz must be {wire.MIN_RATE_HZ}..{wire.MAX_RATE_HZ}")
    profile = load_profile(board) if board else None
    mpyc_text, mpyc_ver = mpy_cross_version()
    dev = Board(port, timeout_s=timeout_s, log=log)
    dev.connect(profile)
    try:
        return _flash_connected(dev, port, profile, role, transport, rate_hz, boot_timeout_s,
                                log, mpyc_text, mpyc_ver)
    finally:
        dev.close()


def _flash_connected(dev: Board, port, profile, role, transport, rate_hz, boot_timeout_s,
                     log, mpyc_text, mpyc_ver) -> FlashResult:
    d = dev.probe()
    ver = ".".join(str(x) for x in d.get("version") or ())
    dm = device_mpy(d.get("mpy"))
    mpy_txt = f"v{dm[0]}.{dm[1]} {d.get('arch') or 'no native code'}" if dm else "unknown"
    log(f"board on {port}: MicroPython {ver} ({d.get('platform')}, {d.get('machine')!r}, "
        f".mpy {mpy_txt})")
    res = FlashResult(board="")
    res.device = d
    if profile is None:
        name, why = guess_board(port, d)
        profile = load_profile(name)
        log(f"board profile: {name} ({why}; pass --board to choose another)")
    else:
        log(f"board profile: {profile['name']}")
    res.board = profile["name"]
    want_arch = profile.get("mpy_arch")
    if d.get("arch") and want_arch and d["arch"] != want_arch:
        w = (f"the board reports .mpy arch {d['arch']}, profile {profile['name']} says "
             f"{want_arch}: is --board right? (pins come from the profile)")
        res.warnings.append(w)
        log("warning: " + w)
    if transport == "ble" and not (FIRMWARE_DIR / "pod" / "link_ble.py").exists():
        w = "this firmware has no BLE link yet (pod/link_ble.py): the pod will use serial"
        res.warnings.append(w)
        log("warning: " + w)

    existing = None
    text = dev.read_text("pod.json")
    if text:
        try:
            existing = json.loads(text)
        except ValueError:
            existing = None
        if not isinstance(existing, dict):
            existing = None
    cfg = pod_config(existing, role=role, board=profile["name"], transport=transport,
                     rate_hz=rate_hz)

    with tempfile.TemporaryDirectory(prefix="posturepod-mpy-") as td:
        files = build_files(profile, cfg, Path(td))
    log(f"compiled {sum(f.path.endswith('.mpy') for f in files)} modules with {mpyc_text} "
        f"for -march={want_arch}")
    files, dropped = split_native(files, d.get("mpy"))
    if dropped:
        w = (f"{', '.join(dropped)} not installed: the board's MicroPython cannot load native "
             f"code built for {want_arch} .mpy v{mpyc_ver[0]}.{mpyc_ver[1]}; the pod runs "
             f"the same code as bytecode (slower, see bench/firmware_sample_cost.py and "
             f"bench/pod_fusion.py)")
        res.warnings.append(w)
        log("warning: " + w)
    headers = [mpy_header(f.data) for f in files if f.path.endswith(".mpy")]
    check_mpy_compat(headers, d.get("mpy"), d.get("version"), profile["name"])

    have_sha256 = bool(d.get("sha256"))
    plan = plan_transfer(dev, files, managed_dirs(profile), have_sha256)
    res.unchanged = plan.unchanged
    check_free_space(dev, d.get("statvfs"), plan, profile.get("flash_kb"))
    send_and_verify(dev, plan, have_sha256, log)
    res.removed = plan.stale
    res.sent = [f.path for f in plan.todo]
    log(f"{len(res.sent)} files sent, {len(res.unchanged)} unchanged"
        + (", all verified by sha256" if plan.todo else " (nothing to send)"))
    w = check_native(dev, [f.path for f in files])
    if w:
        res.warnings.append(w)
        log("warning: " + w)

    log("soft reboot, waiting for the pod's info message...")
    info, logs, said = dev.reboot_and_wait_info(boot_timeout_s)
    res.logs = logs
    if info is None:
        raise DeployError(
            f"the firmware did not start: no info message within {boot_timeout_s:.0f} s "
            f"after the reboot. The board printed: {said[-400:] or '(nothing)'}")
    res.info = info
    return res


# ---- native code ----------------------------------------------------------------------

# run on the board: does each optional native module import, and does it give the
# bytecode's results? Prints True, or why not.
_NATIVE_CHECKS = {
    "pod/wire_viper.mpy": """\
try:
    from pod import wire as _w
    from pod import wire_viper as _v
    _b = bytes(range(256)) * 2
    _d1 = bytearray(_w.max_encoded_len(len(_b)))
    _d2 = bytearray(len(_d1))
    _ok = (_v.crc16(_b, 0, len(_b), 0xFFFF, _w._CRC_TABLE) == _w.crc16(_b)
           and _v.cobs_encode_into(_b, len(_b), _d1, 0) == _w.cobs_encode_into(_b, len(_b), _d2, 0)
           and _d1 == _d2)
    print(repr(True if _ok else 'its results differ from the bytecode loops'))
except Exception as _e:
    print(repr(repr(_e)))
""",
    # 200 samples of a turning, accelerating pod through both filters, state and angle
    "pod/tilt_native.mpy": """\
try:
    import struct as _s
    from pod import tilt as _t
    from pod import tilt_native as _n
    _b = bytearray(12)
    _f = [_t.BytecodeTilt(), _n.Tilt()]
    for _x in _f:
        _x.set_segment([16384, 0, 0, 0, 16384, 0, 0, 0, 16384])
        _x.set_gyr_bias([900, -400, 100])
    _ok = True
    for _i in range(200):
        _s.pack_into("<6h", _b, 0, 300 + 37 * (_i % 23), -200 + 11 * (_i % 7), 4000,
                     (_i * 97) % 2001 - 1000, 40 - _i % 81, 5)
        _r = []
        for _x in _f:
            _x.update(_b, 0)
            _r.append((_x.x, _x.y, _x.z, _x.bx, _x.by, _x.bz, _x.angle_cdeg()))
        _ok = _ok and _r[0] == _r[1]
    print(repr(True if _ok else 'its results differ from the bytecode filter'))
except Exception as _e:
    print(repr(repr(_e)))
""",
}


def check_native(dev: Board, installed: list[str]) -> str | None:
    """Whether the optional native modules that were installed load and work on the board;
    one that does not is removed (the firmware then runs the same code as bytecode) and the
    warning is returned."""
    out = []
    for path, code in _NATIVE_CHECKS.items():
        if path not in installed:
            continue
        got = dev.eval_repr(code)
        if got is True:
            continue
        dev.remove([path])
        out.append(f"{path} removed: the board cannot run it ({got}); the pod runs the same "
                   f"code as bytecode (slower, see bench/firmware_sample_cost.py and "
                   f"bench/pod_fusion.py)")
    return "; ".join(out) or None


# ---- messages -------------------------------------------------------------------------

def format_info(info: dict) -> str:
    keys = ("role", "pod_id", "fw", "proto", "board", "imu", "imu_addr", "odr_hz", "rate_hz",
            "acc_range_g", "gyr_range_dps", "transport", "link", "imu_error", "config_errors")
    parts = []
    for k in keys:
        if k in info:
            v = info[k]
            if k == "imu_addr" and isinstance(v, int):
                v = f"0x{v:02X}"
            parts.append(f"{k}={v}")
    return "  ".join(parts)


def imu_hint(profile_name: str) -> str:
    try:
        p = load_profile(profile_name)
    except DeployError:
        return ""
    i2c = p.get("i2c") or {}
    if p.get("hal") == "virtual":
        return "(virtual board started with --imu none?)"
    return (f"Check the IMU wiring for {p.get('title', profile_name)}: SDA to GPIO"
            f"{i2c.get('sda')}, SCL to GPIO{i2c.get('scl')}, VIN to 3V3, GND to GND "
            "(hardware/README.md, 'Wiring'); the IMU answers at 0x68/0x69 (MPU/ICM) or "
            "0x6A/0x6B (LSM6DS).")
