"""Static type check of the pod firmware (firmware/pod, firmware/main.py) against the
MicroPython stubs of each port we ship to: ESP32 (micropython-esp32-stubs) and RP2
(micropython-rp2-stubs), with pyright (settings: pyright-firmware.json).

The stub packages are made for a directory of their own, not for a shared venv: both put
machine.pyi, time.pyi... at the top of site-packages, so installing both into one venv
leaves whichever came last (and uninstalling one breaks the other). So the test lays out
each port's stubs in a directory of its own, ``pip install --target`` of the same version
as the one installed in the venv (kept in pytest's cache, so once per version), and runs
pyright with that directory as its typeshed (micropython-stdlib-stubs' stdlib: MicroPython's
builtins, sys, struct...) and stub path (machine, time with ticks_us, micropython...), and
an empty venv, so nothing of the host venv is seen.

Skips, saying why, when pyright or a port's stub package is not installed, or the stubs
cannot be laid out (no package index). Fails on any pyright error.

By hand (after the stubs are laid out):
    pyright -p <tmp>/pyright-esp32.json   (the test prints the config it wrote on failure)
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

CONFIG = ROOT / "pyright-firmware.json"
PORTS = {"esp32": "esp32", "rp2": "rp2"}     # port -> the module only that port has


def _pyright() -> str:
    exe = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
    if not Path(exe).exists():
        pytest.skip("pyright is not installed (pip install pyright; it needs Node.js)")
    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"pyright does not run: {e}")
    if r.returncode != 0 or "pyright" not in r.stdout:
        pytest.skip(f"pyright does not run (it needs Node.js): {(r.stdout + r.stderr)[-500:]}")
    return exe


@pytest.fixture(scope="module")
def pyright() -> str:
    return _pyright()


@pytest.fixture(scope="module")
def stub_root(request) -> Path:
    cache = getattr(request.config, "cache", None)      # None with -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("mpstubs"))
    import tempfile
    d = Path(tempfile.gettempdir()) / "posturepod-mpstubs"
    d.mkdir(exist_ok=True)
    return d


def _stubs(port: str, root: Path) -> Path:
    dist = f"micropython-{port}-stubs"
    try:
        ver = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{dist} is not installed (pip install -e '.[test]')")
    target = root / f"{port}-{ver}"
    if (target / "machine.pyi").exists() and (target / "stdlib" / "VERSIONS").exists():
        return target
    tmp = root / f".{port}-{ver}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--target", str(tmp), f"{dist}=={ver}"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not (tmp / "machine.pyi").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"could not lay out {dist}=={ver} in a directory of its own: "
                    f"{(r.stdout + r.stderr)[-800:]}")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def _empty_venv(d: Path) -> Path:
    site = d / "empty-venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    (d / "empty-venv" / "pyvenv.cfg").write_text("home = /nonexistent\n")
    return d


def _run(pyright: str, config: Path) -> tuple[list[dict], dict, str]:
    r = subprocess.run([pyright, "--outputjson", "-p", str(config)], capture_output=True,
                       text=True, timeout=600, cwd=config.parent)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"pyright failed to run (exit {r.returncode}):\n"
                             f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}") from None
    return out.get("generalDiagnostics", []), out.get("summary", {}), r.stderr


def _fmt(diags: list[dict]) -> str:
    lines = []
    for d in diags:
        rng = d.get("range", {}).get("start", {})
        f = d.get("file", "?")
        try:
            f = str(Path(f).relative_to(ROOT))
        except ValueError:
            pass
        msg = d.get("message", "").splitlines()[0]
        lines.append(f"{f}:{rng.get('line', -1) + 1}:{rng.get('character', -1) + 1}: "
                     f"{d.get('severity')}: {msg} ({d.get('rule', '')})")
    return "\n".join(lines)


def _port_config(tmp: Path, stubs: Path, port: str, base: dict | None = None) -> Path:
    _empty_venv(tmp)
    cfg = dict(base or {"extends": str(CONFIG)})
    cfg.update({"typeshedPath": str(stubs), "stubPath": str(stubs), "venvPath": str(tmp),
                "venv": "empty-venv"})
    path = tmp / f"pyright-{port}.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


@pytest.mark.parametrize("port", sorted(PORTS))
def test_firmware_typechecks_against_port_stubs(port, pyright, stub_root, tmp_path):
    stubs = _stubs(port, stub_root)
    config = _port_config(tmp_path, stubs, port)
    diags, summary, err = _run(pyright, config)
    errors = [d for d in diags if d.get("severity") == "error"]
    assert not errors, (f"{len(errors)} type errors against the {port} stubs "
                        f"(config {config}):\n{_fmt(errors)}")
    # the firmware really was checked: app, sampler, wire, drivers... and main.py
    assert summary.get("filesAnalyzed", 0) >= 12, (summary, err)


@pytest.mark.parametrize("port", sorted(PORTS))
def test_checker_sees_the_port_stubs_only(port, pyright, stub_root, tmp_path):
    """The setup itself: MicroPython's time.ticks_us and machine resolve, the port's own
    module resolves, the other port's does not, and nothing comes from the host venv
    (CPython's typeshed has no time.ticks_us; the venv's site-packages has both ports)."""
    stubs = _stubs(port, stub_root)
    other = [m for p, m in PORTS.items() if p != port][0]
    (tmp_path / "probe_ok.py").write_text(
        "import time\nimport machine\nimport micropython\n"
        f"import {PORTS[port]}\n"
        "t: int = time.ticks_diff(time.ticks_us(), 0)\n"
        "p = machine.Pin(2, machine.Pin.OUT)\n"
        "micropython.kbd_intr(3)\n")
    (tmp_path / "probe_bad.py").write_text(
        f"import {other}\nimport time\nx = time.perf_counter()\n")
    config = _port_config(tmp_path, stubs, port,
                          {"include": ["probe_ok.py", "probe_bad.py"],
                           "typeCheckingMode": "standard"})
    diags, _, err = _run(pyright, config)
    ok = [d for d in diags if d["file"].endswith("probe_ok.py") and d["severity"] == "error"]
    bad = [d for d in diags if d["file"].endswith("probe_bad.py") and d["severity"] == "error"]
    assert not ok, _fmt(ok)
    bad_lines = {d["range"]["start"]["line"] for d in bad}
    assert 0 in bad_lines, f"import {other} resolved under the {port} stubs:\n{_fmt(diags)}"
    assert 2 in bad_lines, f"CPython's time.perf_counter seen under {port}:\n{_fmt(diags)}"
