"""Native recording and CSV interchange: formats, bad input, write errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from posturepod.recordings.csvio import read_csv_dir, read_pod_csv, write_csv_dir
from posturepod.recordings.data import DataError
from posturepod.recordings.loader import load
from posturepod.recordings.reader import read_recording
from posturepod.recordings.writer import RecordingError, RecordingWriter


def _write(path, n=1000, rate=100, roles=("pelvis", "thorax"), gap_at=None):
    w = RecordingWriter(path, t0_monotonic=0.0, patient="p-01")
    for role in roles:
        w.add_pod(role, {"odr_hz": rate, "acc_scale": 0.001, "gyr_scale": 0.0001,
                         "imu": "MPU-6050"}, "test")
        w.log("segment", role=role, seg=0, first=0, t0_dev_us=5_000_000, boot_id=1)
        seq = np.arange(n)
        if gap_at is not None:
            seq = np.concatenate([seq[:gap_at], seq[gap_at:] + 7])
        t = 5_000_000 + seq * (1_000_000 // rate)
        counts = np.tile(np.arange(6, dtype=np.int16), (n, 1)) + seq[:, None].astype(np.int16)
        w.samples(role, seq, t % (1 << 32), counts)
        for k in range(0, n // rate + 1):
            # pod clock 100 ppm fast, recording clock offset 2 s
            dev = 5_000_000 + k * 1_000_000
            w.sync(role, 0, 1, 2.0 + (dev - 5_000_000) * 1e-6 / 1.0001, dev, 0.001)
    w.event("calib_stand")
    w.close()
    return path


def test_roundtrip_units_times_and_gaps(tmp_path):
    path = _write(tmp_path / "r", gap_at=300)
    rec = read_recording(path)
    assert rec.meta["patient"] == "p-01"
    p = rec.pods["pelvis"]
    assert len(p) == 1000
    assert p.acc_m_s2[0].tolist() == pytest.approx([0.0, 0.001, 0.002])
    assert p.gyr_rad_s[0].tolist() == pytest.approx([0.0003, 0.0004, 0.0005])
    assert p.time_s[0] == pytest.approx(2.0, abs=1e-6)
    tl = p.timeline
    assert tl.seq_gaps == 1 and tl.lost_samples == 7
    assert len(p.gaps) == 1 and p.gaps[0][1] - p.gaps[0][0] == pytest.approx(0.08, abs=1e-3)
    assert tl.segments[0].drift_ppm == pytest.approx(100, abs=1)
    assert [e.label for e in rec.events] == ["calib_stand"]
    assert (path / "pelvis.imu").stat().st_size == 20 * 1000


def test_torn_last_record_and_line_are_ignored(tmp_path):
    path = _write(tmp_path / "r")
    with open(path / "pelvis.imu", "ab") as f:
        f.write(b"\x01\x02\x03")                 # killed mid-record
    with open(path / "events.jsonl", "ab") as f:
        f.write(b'{"time_s": 3.0, "lab')           # killed mid-line
    rec = read_recording(path)
    assert len(rec.pods["pelvis"]) == 1000
    assert len(rec.events) == 1


def test_broken_manifest_is_a_clear_error(tmp_path):
    path = _write(tmp_path / "r")
    (path / "recording.json").write_text("{not json")
    with pytest.raises(DataError, match="recording.json:1: not valid JSON"):
        load(path)


def test_refuses_to_overwrite(tmp_path):
    path = _write(tmp_path / "r")
    with pytest.raises(RecordingError, match="already holds a recording"):
        RecordingWriter(path)


def test_cannot_create_directory_is_clear():
    with pytest.raises(RecordingError, match="cannot create"):
        RecordingWriter("/proc/posturepod-cannot-exist/rec")


DISK_FULL = r'''
import resource, signal, sys
import numpy as np
from posturepod.recordings.writer import RecordingError, RecordingWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
w = RecordingWriter(sys.argv[1], t0_monotonic=0.0)
w.add_pod("pelvis", {"odr_hz": 100}, "t")
w.log("segment", role="pelvis", seg=0, first=0, t0_dev_us=0, boot_id=1)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
n = 0
try:
    for k in range(1000):
        seq = np.arange(n, n + 100)
        w.samples("pelvis", seq, seq * 10000, np.zeros((100, 6), np.int16))
        w.flush()
        n += 100
except RecordingError as e:
    print("STOPPED", n, e)
'''


def test_disk_full_stops_with_message_and_keeps_data(tmp_path):
    """A real file-size limit (RLIMIT_FSIZE) makes writes fail as on a full disk."""
    path = tmp_path / "r"
    r = subprocess.run([sys.executable, "-c", DISK_FULL, str(path)], capture_output=True,
                       text=True, timeout=60)
    assert "STOPPED" in r.stdout, r.stdout + r.stderr
    assert "recording stopped" in r.stdout and "kept and readable" in r.stdout
    n_written = int(r.stdout.split()[1])
    rec = read_recording(path)
    assert len(rec.pods["pelvis"]) >= n_written - 100 > 0
    assert json.loads((path / "recording.json").read_text())["stop_reason"].startswith("error")


def test_csv_roundtrip_and_export(tmp_path):
    rec = read_recording(_write(tmp_path / "r"))
    write_csv_dir(tmp_path / "csv", rec)
    back = read_csv_dir(tmp_path / "csv")
    assert set(back.pods) == {"pelvis", "thorax"}
    assert np.allclose(back.pods["pelvis"].acc_m_s2, rec.pods["pelvis"].acc_m_s2, atol=1e-6)
    assert np.allclose(back.pods["pelvis"].time_s, rec.pods["pelvis"].time_s, atol=2e-6)
    assert [e.label for e in back.events] == ["calib_stand"]


@pytest.mark.parametrize("body,msg", [
    ("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y\n0,1,2,3,4,5\n", r"pelvis.csv:1: missing column.*gyr_z"),
    ("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,1,2,3,4,5,6\n0.01,1,x,3,4,5,6\n",
     r"pelvis.csv:3: non-numeric cell 'x'"),
    ("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,1,2,3,4,5,6\n0.02,1,2,3,4,5,6\n"
     "0.01,1,2,3,4,5,6\n", r"pelvis.csv:4: time goes backwards"),
    ("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,1,2,3,4,5,6\n0.01,1,2,3\n",
     r"pelvis.csv:3: expected 7 cells"),
])
def test_bad_csv_names_file_and_line(tmp_path, body, msg):
    f = tmp_path / "pelvis.csv"
    f.write_text(body)
    with pytest.raises(DataError, match=msg):
        read_pod_csv(f)


def test_cli_info_json_on_csv_dir(tmp_path):
    rec = read_recording(_write(tmp_path / "r"))
    write_csv_dir(tmp_path / "csv", rec)
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "info", str(tmp_path / "csv"),
                        "--json"], capture_output=True, text=True, timeout=60)
    d = json.loads(r.stdout)
    assert {p["role"] for p in d["pods"]} == {"pelvis", "thorax"}
    for p in d["pods"]:
        assert {"role", "samples", "rate_hz", "seq_gaps", "crc_errors"} <= set(p)
    assert d["duration_s"] == pytest.approx(9.99, abs=0.01)
    assert d["events"][0]["label"] == "calib_stand"


def test_cli_error_names_file(tmp_path):
    (tmp_path / "pelvis.csv").write_text("time_s,acc_x\n0,1\n")
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "info", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "pelvis.csv:1: missing column" in r.stderr


def test_import_csv_to_native_and_lazy_si_values(tmp_path):
    """CSV -> native (quantised like a pod) -> loads with the same times and values within
    one count; SI values and times are read from the files slice by slice."""
    from posturepod.recordings.columns import Column
    from posturepod.sim.simulate import simulate, write_sim
    res = simulate("flexion", 2, rate_hz=100)
    write_sim(res, tmp_path / "csv")
    csv = read_csv_dir(tmp_path / "csv")
    r = subprocess.run([sys.executable, "-m", "posturepod.cli", "import", str(tmp_path / "csv"),
                        "--out", str(tmp_path / "nat")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    nat = load(tmp_path / "nat")
    for role, p in csv.pods.items():
        q = nat.pods[role]
        assert isinstance(q.acc_m_s2, Column) and isinstance(q.time_s, Column)
        assert len(q) == len(p)
        assert np.allclose(q.time_s, p.time_s, atol=2e-6)
        lsb_acc = 9.80665 * 8 / 32768
        assert np.max(np.abs(q.acc_m_s2[:] - p.acc_m_s2)) <= lsb_acc
        assert np.max(np.abs(np.asarray(q.gyr_rad_s) - p.gyr_rad_s)) <= np.deg2rad(1000) / 32768
        assert q.acc_m_s2[5:9].shape == (4, 3) and q.acc_m_s2.shape == p.acc_m_s2.shape
    assert [e.label for e in nat.events] == [e.label for e in csv.events]
    # the analyses read it like any other recording
    from posturepod.motion.angles import recording_angles
    a_csv = recording_angles(csv)
    a_nat = recording_angles(nat)
    n = min(len(a_csv), len(a_nat))
    assert np.nanmax(np.abs(a_csv.thorax_deg[:n] - a_nat.thorax_deg[:n])) < 0.5


def test_info_shows_an_outage(tmp_path):
    """A pod whose link dropped for 16 s and came back as a new segment (no sample lost by
    sequence number): info must show the outage, not 'gaps 0 (lost 0)' alone."""
    import json
    import subprocess
    import sys
    path = tmp_path / "r"
    w = RecordingWriter(path, t0_monotonic=0.0)
    for role in ("pelvis", "head"):
        w.add_pod(role, {"odr_hz": 100, "acc_scale": 0.001, "gyr_scale": 0.0001,
                         "imu": "MPU-6050"}, "test")
    counts = np.zeros((4000, 6), np.int16)
    seq = np.arange(4000)
    w.log("segment", role="pelvis", seg=0, first=0, t0_dev_us=0, boot_id=1)
    w.samples("pelvis", seq, seq * 10_000, counts)
    for k in range(41):
        w.sync("pelvis", 0, 1, 1.0 + k, k * 1_000_000, 0.001)
    # head: 10 s, then 16 s without data, then 14 s again (a new segment, seq from 0)
    w.log("segment", role="head", seg=0, first=0, t0_dev_us=0, boot_id=7)
    w.samples("head", seq[:1000], seq[:1000] * 10_000, counts[:1000])
    for k in range(11):
        w.sync("head", 0, 1, 1.0 + k, k * 1_000_000, 0.001)
    w.log("segment", role="head", seg=1, first=1000, t0_dev_us=26_000_000, boot_id=7)
    w.samples("head", seq[:1400], 26_000_000 + seq[:1400] * 10_000, counts[:1400])
    for k in range(15):
        w.sync("head", 1, 1, 27.0 + k, 26_000_000 + k * 1_000_000, 0.001)
    w.close()
    cli = [sys.executable, "-m", "posturepod.cli", "info", str(path)]
    r = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip().startswith("head"))
    assert "100.00 Hz" in lines[i], r.stdout       # the rate while data came, not 60 Hz
    assert lines[i + 1].strip() == "outage: 1 gap of 16.0 s, longest 16.0 s from 11.0 s"
    assert not any("outage" in ln for ln in lines[1:i]), r.stdout          # not the pelvis
    j = json.loads(subprocess.run(cli + ["--json"], capture_output=True, text=True,
                                  timeout=60).stdout)
    (h,) = [p for p in j["pods"] if p["role"] == "head"]
    assert h["outage_s"] == pytest.approx(16.0, abs=0.05) and h["lost_samples"] == 0
