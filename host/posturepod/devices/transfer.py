"""Talking to a MicroPython board over mpremote's serial transport, in its raw REPL, to put
files on it: ``Board`` (connect, run code, hash, list, write, remove, soft-reboot and wait
for the firmware's INFO frame) and the steps of a transfer:

- ``plan_transfer``: hash every file on the board (sha256) and keep only the files whose
  hash differs (flashing again with nothing changed sends nothing); list the stale files in
  the firmware's directories (a ``pod/app.py`` would shadow ``pod/app.mpy``);
- ``check_free_space``: what is written, in whole blocks, against what is free plus what
  the replaced and removed files give back, keeping ``MIN_FREE_MARGIN_BYTES`` free;
- ``send_and_verify``: delete the stale files, write the changed ones (to ``<path>.new``,
  then rename), hash them again and compare.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from posturepod.devices.boards import PROBE_SCRIPT, device_arch, install_hint
from posturepod.devices.deploy_error import DeployError
from posturepod.devices.firmware_build import FileItem

MIN_FREE_MARGIN_BYTES = 8 * 1024    # keep this much free after writing (pod.json saves...)
WRITE_CHUNK_BYTES = 512             # bytes per write command

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

        from posturepod.pods.transport.serial import ports_seen
        if not os.path.exists(self.port) and not self.port.upper().startswith("COM"):
            raise DeployError(
                f"no board on {self.port}: the port does not exist. Plug the board in "
                f"(a data cable, not a charge-only one) and check the port name: "
                f"{ports_seen()}")
        try:
            self.t = SerialTransport(self.port, baudrate=115200)
        except TransportError as e:
            raise DeployError(f"no board on {self.port}: cannot open the port ({e}); is it "
                              "in use by another program (a serial terminal, a recording)? "
                              "On Linux, are you in the dialout group?") from None
        self.log(f"waiting for MicroPython's REPL on {self.port} (up to "
                 f"{self.timeout_s:.0f} s)...")
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
        """What the board runs (boards.PROBE_SCRIPT), plus "arch": its native-code
        architecture name from the .mpy version, or None."""
        d = self.eval_repr(PROBE_SCRIPT)
        d["arch"] = device_arch(d.get("mpy"))
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
            f"try:\n f=open({path!r})\n s=f.read()\n f.close()\nexcept OSError:\n s=None\n"
            "print(repr(s))")
        return got

    def mkdirs(self, dirs: list[str]) -> None:
        code = (f"import os\nfor _d in {dirs!r}:\n try:\n  os.mkdir(_d)\n except OSError:\n"
                "  pass")
        self.exec(code)

    def write(self, path: str, data: bytes) -> None:
        tmp = path + ".new"
        self.exec(f"_f=open({tmp!r},'wb')\n_w=_f.write")
        for i in range(0, len(data), WRITE_CHUNK_BYTES):
            self.exec(f"_w({data[i:i + WRITE_CHUNK_BYTES]!r})")
        self.exec(f"_f.close()\nimport os\ntry:\n os.remove({path!r})\nexcept OSError:\n pass\n"
                  f"os.rename({tmp!r},{path!r})")

    def remove(self, paths: list[str]) -> None:
        self.exec(f"import os\nfor _p in {paths!r}:\n try:\n  os.remove(_p)\n except OSError:\n"
                  "  pass")

    def reboot_and_wait_info(self, timeout_s: float) -> tuple[dict | None, list[dict], str]:
        """Leave the raw REPL, soft-reboot (main.py runs), read until the INFO frame.
        Returns (info or None, log messages, text the board printed)."""
        from posturepod.firmware.pod import wire
        from posturepod.pods.protocol import StreamDecoder
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


# ---- a transfer -----------------------------------------------------------------------

@dataclass
class TransferPlan:
    files: list[FileItem]       # everything the board gets
    todo: list[FileItem]        # missing on the board or different (sha256)
    unchanged: list[str]        # paths already on the board as they are
    stale: list[str]            # paths in the firmware's directories it no longer has


def plan_transfer(dev: Board, files: list[FileItem], managed: list[str],
                  have_sha256: bool) -> TransferPlan:
    """Compare the files with what the board holds (sha256) and list the stale files in
    the ``managed`` directories."""
    paths = [f.path for f in files]
    have = dev.hashes(paths, have_sha256)
    todo = [f for f in files if have.get(f.path) != f.sha256]
    unchanged = [f.path for f in files if have.get(f.path) == f.sha256]
    on_board = dev.walk(managed)
    wanted = set(paths)
    stale = [p for p in on_board if p not in wanted]
    return TransferPlan(files, todo, unchanged, stale)


def check_free_space(dev: Board, statvfs: tuple | None, plan: TransferPlan,
                     profile_flash_kb: int | None) -> None:
    """Raise DeployError if the files to write do not fit on the board's filesystem."""
    # what is written, in whole blocks, against what is free plus what the replaced and
    # removed files give back
    st = statvfs
    todo, stale = plan.todo, plan.stale
    if st and todo:
        bsize = st[1] or st[0] or 4096
        free = st[3] * bsize
        def blocks(n):
            return -(-max(n, 1) // bsize) * bsize
        old = dev.sizes([f.path for f in todo] + stale)
        need = sum(blocks(len(f.data)) for f in todo)
        back = sum(blocks(s) for s in old.values() if s)
        if free + back < need + MIN_FREE_MARGIN_BYTES:
            total = sum(len(f.data) for f in plan.files)
            raise DeployError(
                f"not enough flash on the board: {need / 1024:.0f} KiB to write "
                f"(firmware {total / 1024:.0f} KiB), {free / 1024:.0f} KiB free "
                f"(+{back / 1024:.0f} KiB from replaced files, "
                f"{MIN_FREE_MARGIN_BYTES // 1024} KiB margin). Delete other files on the "
                f"board (mpremote fs ls / fs rm), or erase its filesystem (mpflash erase, or "
                f"esptool erase_flash and reinstall MicroPython). The profile says "
                f"{profile_flash_kb} KiB of flash.")


def send_and_verify(dev: Board, plan: TransferPlan, have_sha256: bool, log) -> None:
    """Delete the stale files, write the changed ones, check their sha256 on the board."""
    stale, todo = plan.stale, plan.todo
    paths = [f.path for f in plan.files]
    if stale:
        dev.remove(stale)
        log(f"removed {len(stale)} stale files: {', '.join(stale)}")
    need_dirs = sorted({"/".join(p.split("/")[:i]) for p in paths if "/" in p
                        for i in range(1, p.count("/") + 1)})
    if todo and need_dirs:
        dev.mkdirs(need_dirs)
    for f in todo:
        log(f"  send {f.path} ({len(f.data)} B)")
        dev.write(f.path, f.data)
    if todo:
        got = dev.hashes([f.path for f in todo], have_sha256)
        bad = [f.path for f in todo if got.get(f.path) != f.sha256]
        if bad:
            raise DeployError(f"verification failed (sha256 differs on the board): "
                              f"{', '.join(bad)}; flash again")
