"""Where the emulated Pico's pieces come from: Node and the pinned rp2040js package
(installed on first use from ``package-lock.json`` into a per-user cache directory), and
the two binaries the project does not ship (the MicroPython RPI_PICO ``.uf2`` and the
RP2040 boot ROM), found by option or environment variable."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
EMULATOR = HERE / "emulator.mjs"
UF2_ENV = "POSTUREPOD_PICO_UF2"
BOOTROM_ENV = "POSTUREPOD_PICO_BOOTROM"
MIN_NODE_MAJOR = 18
DOWNLOAD_HINT = (
    "the MicroPython RPI_PICO firmware (.uf2) is at https://micropython.org/download/RPI_PICO/; "
    "the RP2040 boot ROM (B1, 16384 bytes) is built from https://github.com/raspberrypi/"
    "pico-bootrom (the rp2040js demo ships the same words); see docs/pico.md")


class PicoSetupError(RuntimeError):
    """Something the emulated Pico needs is missing; the message says what and how to get it."""


def find_image(given: str | None, env: str, what: str, option: str) -> Path:
    p = given or os.environ.get(env)
    if not p:
        raise PicoSetupError(f"no {what}: pass {option} FILE or set {env}; {DOWNLOAD_HINT}")
    path = Path(p).expanduser()
    if not path.is_file():
        raise PicoSetupError(f"{what} {path} does not exist; {DOWNLOAD_HINT}")
    return path


def node_exe() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise PicoSetupError("the emulated Pico needs Node.js (>= 18) and npm: on Debian or "
                             "Ubuntu, apt-get install nodejs npm")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30,
                         check=False).stdout.strip()
    try:
        major = int(out.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < MIN_NODE_MAJOR:
        raise PicoSetupError(f"Node.js {out or '(unknown version)'} is too old for rp2040js: "
                             f"version {MIN_NODE_MAJOR} or newer is needed")
    return node


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "posturepod"


def ensure_modules(log=lambda m: None) -> Path:
    """The directory whose node_modules holds the pinned rp2040js; installed with ``npm
    ci`` on first use (one directory per lockfile content, so a new pin installs anew)."""
    spec = (HERE / "package.json").read_bytes() + (HERE / "package-lock.json").read_bytes()
    key = hashlib.sha256(spec).hexdigest()[:12]
    dest = cache_root() / f"pico-node-{key}"
    if (dest / "node_modules" / "rp2040js" / "package.json").exists():
        return dest
    node_exe()
    npm = shutil.which("npm")
    if not npm:
        raise PicoSetupError("npm is missing (the emulated Pico installs rp2040js with it): on "
                             "Debian or Ubuntu, apt-get install npm")
    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy2(HERE / f, tmp / f)
    log(f"installing rp2040js (npm ci) into {dest}")
    r = subprocess.run([npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=tmp, capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PicoSetupError(f"npm ci failed installing rp2040js into {dest}: "
                             f"{(r.stderr or r.stdout).strip()[-600:]}")
    try:
        os.replace(tmp, dest)
    except OSError:                 # another process installed it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
