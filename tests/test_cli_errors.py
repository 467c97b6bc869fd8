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


@pytest.fixture(scope="module")
def sitting_dir(tmp_path_factory):
    from posturepod.sim.simulate import simulate, write_sim
    d = tmp_path_factory.mktemp("sit") / "day"
    write_sim(simulate("sitting", 4, duration_s=400.0, rate_hz=50.0), d)
    return d


def _copy_without(src, dst, *names):
    import shutil
    shutil.copytree(src, dst)
    for n in names:
        (dst / n).unlink()
    return dst


def test_broken_meta_json_names_the_file_and_line(sitting_dir, tmp_path):
    d = _copy_without(sitting_dir, tmp_path / "d")
    (d / "meta.json").write_text('{\n  "patient": "P1",\n  broken\n}')
    for cmd in (["info", str(d)], ["sitting", str(d)]):
        p = subprocess.run([*CLI, *cmd], capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and "meta.json:3: not valid JSON" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr


def test_recording_json_that_is_not_an_object(sitting_dir, tmp_path):
    rec = tmp_path / "native"
    p = subprocess.run([*CLI, "import", str(sitting_dir), "--out", str(rec)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    (rec / "recording.json").write_text("[1, 2]")
    p = subprocess.run([*CLI, "info", str(rec)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "recording.json: not a JSON object" in p.stderr, p.stderr


@pytest.mark.parametrize("missing", ["head", "thorax"])
def test_sitting_without_a_pod_says_what_it_cannot_measure(sitting_dir, tmp_path, missing):
    d = _copy_without(sitting_dir, tmp_path / "d", f"{missing}.csv")
    p = subprocess.run([*CLI, "sitting", str(d), "--no-save", "--report",
                        str(tmp_path / "r.html")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "head forward  not measured" in p.stdout
    assert "not measured" in (tmp_path / "r.html").read_text()
    p = subprocess.run([*CLI, "sitting", str(d), "--no-save", "--json"],
                       capture_output=True, text=True, timeout=300)
    import json
    s = json.loads(p.stdout)
    assert s["head_forward_s"] is None and s["missing_pods"] == [missing]
    assert "head_forward" in s["not_measured"]
    assert any(f"no {missing} pod" in n for n in s["notes"])


def test_info_reports_a_torn_file_and_a_pod_without_samples(sitting_dir, tmp_path):
    import json
    import os
    rec = tmp_path / "native"
    assert subprocess.run([*CLI, "import", str(sitting_dir), "--out", str(rec)],
                          capture_output=True, timeout=120).returncode == 0
    n = os.path.getsize(rec / "head.imu") // 20
    os.truncate(rec / "head.imu", os.path.getsize(rec / "head.imu") - 7)   # cut mid-record
    (rec / "pelvis.imu").write_bytes(b"")                                    # sent nothing
    p = subprocess.run([*CLI, "info", str(rec), "--json"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    pods = {d["role"]: d for d in json.loads(p.stdout)["pods"]}
    assert any("truncated" in w for w in pods["head"]["warnings"])
    assert pods["head"]["samples"] == n - 1          # the intact prefix, all of it
    assert any("no samples" in w for w in pods["pelvis"]["warnings"])
    assert pods["thorax"]["warnings"] == []
    # an import copies the recording clock: nothing measured, and info says so
    clock = pods["thorax"]["clock"][0]
    assert clock["method"] == "imported" and clock["residual_ms"] is None
    text = subprocess.run([*CLI, "info", str(rec)], capture_output=True, text=True,
                          timeout=60).stdout
    assert "truncated" in text and "no samples" in text
    assert "nothing was measured" in text and "residual" not in text


def test_sitting_report_dates_a_native_recording(sitting_dir, tmp_path):
    """The sitting analysis takes its date from the recording (a native recording's
    created_utc), so the report no longer says "Recorded -"."""
    import json
    rec = tmp_path / "native"
    assert subprocess.run([*CLI, "import", str(sitting_dir), "--out", str(rec)],
                          capture_output=True, timeout=120).returncode == 0
    created = json.loads((rec / "recording.json").read_text())["created_utc"]
    p = subprocess.run([*CLI, "sitting", str(rec), "--json", "--no-save"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["recorded_at"] == created


def test_demo_into_an_existing_recording_is_one_clear_line(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "recording.json").write_text("{}")
    p = subprocess.run([*CLI, "demo", "--out", str(tmp_path / "rec")], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1 and "already holds a recording" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.parametrize("args", [
    ["record", "--pod", "pelvis=PORT", "--out", "OUT", "--no-live"],
    ["sitting", "--pod", "pelvis=PORT", "--pod", "thorax=PORT2", "--out", "OUT", "--no-live"],
    ["selftest", "--port", "PORT", "--yes"],
])
def test_no_board_on_the_port_is_said_at_once(tmp_path, args):
    """A port that does not exist is an error at once (no 8 s of retries), naming the port
    and the ports there are, without a flash hint for a port that is not there, and leaving
    no half-made recording behind (the same --out works for the retry)."""
    port = tmp_path / "ttyNOPE"
    sub = {"PORT2": str(tmp_path / "ttyNOPE2"), "PORT": str(port), "OUT": str(tmp_path / "rec")}

    def fill(x):
        for k, v in sub.items():
            x = x.replace(k, v)
        return x
    # the old behaviour waited 8 s for the port to appear: a 6 s limit fails it
    r = subprocess.run(CLI + [fill(x) for x in args], capture_output=True, text=True,
                       timeout=6)
    assert r.returncode == 1, r.stderr
    assert f"{port}: no such port" in r.stderr and "serial ports now:" in r.stderr, r.stderr
    assert "posturepod flash" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "rec").exists()
    if args[0] == "sitting":       # one pod short of head-forward: said before connecting
        assert "head-forward time not measured" in r.stderr, r.stderr


def test_failed_connect_keeps_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the clinician's own file")
    r = subprocess.run(CLI + ["record", "--pod", f"head={tmp_path / 'ttyX'}", "--out", str(out),
                              "--no-live"], capture_output=True, text=True, timeout=6)
    assert r.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def _in_a_terminal(args, timeout_s=300) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal, as a person would; all it
    wrote to the screen."""
    import os
    import pty
    import select
    import time
    pid, fd = pty.fork()
    if pid == 0:                                   # child: the command
        os.execv(sys.executable, [sys.executable, "-m", "posturepod.cli", *map(str, args)])
    out = b""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 1.0)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_long_analysis_shows_progress_in_a_terminal_only(sitting_dir):
    screen = _in_a_terminal(["sitting", sitting_dir, "--no-save"])
    assert "analysing the day" in screen and "s" in screen, screen[-2000:]
    assert "slouch" in screen                      # and then the result
    r = subprocess.run([*CLI, "sitting", str(sitting_dir), "--no-save", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "analysing" not in r.stderr + r.stdout


def test_both_analyses_date_a_native_recording_by_its_metadata_not_its_files(sitting_dir,
                                                                            tmp_path):
    """A copied folder gets new file times; the date comes from created_utc for flexion as
    for sitting (flexion used the file time, so history misdated copied sessions)."""
    import json
    import os
    import shutil
    rec = tmp_path / "native"
    assert subprocess.run([*CLI, "import", str(sitting_dir), "--out", str(rec)],
                          capture_output=True, timeout=120).returncode == 0
    meta = json.loads((rec / "recording.json").read_text())
    meta["created_utc"] = "2025-05-06T07:08:09+00:00"
    meta["protocol"] = ""          # so that flexion analyses it (it has no test bends)
    (rec / "recording.json").write_text(json.dumps(meta))
    copy = tmp_path / "copied"
    shutil.copytree(rec, copy)
    for f in copy.iterdir():
        os.utime(f, (1.7e9, 1.7e9))
    from posturepod.recordings.data import recorded_at
    from posturepod.recordings.loader import load
    assert recorded_at(load(copy)) == ("2025-05-06T07:08:09+00:00", "recording meta created_utc")
    p = subprocess.run([*CLI, "flexion", str(copy), "--json", "--no-save",
                        "--accept-doubtful-calibration"], capture_output=True, text=True,
                       timeout=300)
    out = json.loads(p.stdout)
    assert out["recorded_at"] == "2025-05-06T07:08:09+00:00", p.stderr
    assert out["recorded_at_source"] == "recording meta created_utc"


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_long_simulation_says_it_is_working(tmp_path):
    screen = _in_a_terminal(["simulate", "--protocol", "sitting", "--duration-s", "900",
                             "--rate-hz", "25", "--out", tmp_path / "day"])
    assert "simulating sitting, 0.2 h" in screen and "samples:" in screen, screen[-1500:]
