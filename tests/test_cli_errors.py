"""Bad numbers on the command line and a closed output pipe end in a clear message (or
quietly), never a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "posturepod.cli"]


@pytest.mark.parametrize("args,option", [
    (["simulate", "--protocol", "flexion", "--duration-s", "-5", "--out", "X"], "--duration-s"),
    (["simulate", "--protocol", "flexion", "--rate-hz", "0", "--out", "X"], "--rate-hz"),
    (["simulate", "--protocol", "flexion", "--rate-hz", "nan", "--out", "X"], "--rate-hz"),
    (["angles", "REC", "-o", "X.csv", "--rate-hz", "-3"], "--rate-hz"),
])
def test_bad_numbers_are_usage_errors(tmp_path, args, option):
    args = [str(tmp_path / a) if a in ("X", "X.csv", "REC") else a for a in args]
    p = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and option in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "X").exists() and not (tmp_path / "X.csv").exists()


def test_output_piped_into_a_reader_that_stops(tmp_path):
    """``posturepod simulate ... && posturepod angles REC -o /dev/stdout | head -1``: the
    reader closes the pipe after one line; the command stops quietly."""
    from posturepod.sim.simulate import simulate, write_sim
    write_sim(simulate("flexion", 2), tmp_path / "rec")
    p = subprocess.Popen([*CLI, "angles", str(tmp_path / "rec"), "-o", "/dev/stdout"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
