"""The CLI where clinicians are: on Windows there is no fcntl, termios, pty or tty. With
those modules hidden, the parser builds and the analysis commands work; the commands that
need pseudo-terminals (virtual-board, demo) say so instead of a traceback. (``devices``
itself is only built here: on Linux, pyserial's own import needs termios, on Windows it
takes its win32 backend.)"""
from __future__ import annotations

import subprocess
import sys

import pytest

from posturepod.sim.simulate import simulate, write_sim

HIDE = ("import sys\n"
        "for m in ('fcntl', 'termios', 'pty', 'tty'):\n"
        "    sys.modules[m] = None\n")


def run_hidden(*args, platform=None):
    code = HIDE + (f"sys.platform = {platform!r}\n" if platform else "") + (
        "from posturepod.cli import main\n"
        f"sys.exit(main({[str(a) for a in args]!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def rec_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("win") / "rec"
    write_sim(simulate("flexion", 3), d)
    return d


@pytest.mark.parametrize("args", [("info", "REC"), ("flexion", "REC", "--json", "--no-save"),
                                  ("sitting", "REC", "--json", "--no-save"),
                                  ("record", "--help"), ("devices", "--help"),
                                  ("--help",)])
def test_commands_run_without_posix_modules(rec_dir, args):
    p = run_hidden(*[rec_dir if a == "REC" else a for a in args])
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("cmd", [("virtual-board", "--link", "x.tty"), ("demo",)])
def test_pty_commands_say_they_need_linux_or_macos(cmd):
    p = run_hidden(*cmd, platform="win32")
    assert p.returncode == 1 and "need Linux or macOS" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
