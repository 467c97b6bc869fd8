"""The day-log recording (docs/recording.md): reading it (damage named, counted, skipped),
the clock mapping, and info / export / sitting on it. The day-logs here are built from
the contract's record format (wire.pack_logrec_into, the pods' own writer); the pods
writing them for real are in tests/test_standalone.py."""
import csv
import json
import math

import numpy as np
import pytest

from posturepod.cli import main
from posturepod.firmware.pod import wire
from posturepod.recordings import daylog as D
from posturepod.recordings.data import DataError

W0 = 1_767_000_000          # wall time at arming (UTC s)


def _rec(seq, dev_s, deg, flags=0, motion=3):
    buf = bytearray(16)
    c = int(round(deg * 100)) if math.isfinite(deg) else wire.ANGLE_NONE
    wire.pack_logrec_into(buf, 0, seq, dev_s, c, c - 50 if c != wire.ANGLE_NONE else c,
                          c + 50 if c != wire.ANGLE_NONE else c, motion, flags)
    return bytes(buf)


def angle_day(n=900):
    """Per-second segment angles (deg): seated reference pelvis -12, thorax 5, head 10;
    a thorax slouch (+15) 300-420 s, head forward (+20 on the head) 500-560 s."""
    t = np.arange(n)
    pel = np.full(n, -12.0)
    tho = np.full(n, 5.0) + np.where((t >= 300) & (t < 420), 15.0, 0.0)
    head = np.full(n, 10.0) + np.where((t >= 500) & (t < 560), 20.0, 0.0)
    return {"pelvis": pel, "thorax": tho, "head": head}


def make_daylog(path, n=900, *, dev0=None, phase=None, flags_at=None, refs=None,
                sync_after_s=5.0, cal=None):
    """A day-log as `posturepod sync` writes it: pods armed at W0 (their clocks at dev0
    seconds since boot), records every second, one sync with pings ``sync_after_s`` after
    the last record."""
    path.mkdir(parents=True, exist_ok=True)
    dev0 = dev0 or {"pelvis": 100, "thorax": 65500, "head": 7}   # thorax wraps mod 65536
    phase = phase or {"pelvis": 0.1, "thorax": 0.3, "head": 0.2}
    refs = refs or {"pelvis": -12.0, "thorax": 5.0, "head": 10.0}
    meta = D.new_meta("p-test")
    for role, ang in angle_day(n).items():
        recs = []
        for i, a in enumerate(ang):
            fl = (wire.LOGREC_ARM if i == 0 else 0) | (flags_at or {}).get((role, i), 0)
            recs.append(_rec(i, dev0[role] + i + 1, a, fl))   # stamped at its end
        (path / f"{role}.log").write_bytes(b"".join(recs))
        dev_sync = dev0[role] + n + sync_after_s
        pings = [[W0 + phase[role] + n + sync_after_s + k * 0.01,
                  int((dev_sync + k * 0.01) * 1e6), 0.002 + k * 1e-4] for k in range(5)]
        rule = None if role == "pelvis" else {"over_cdeg": 1000 if role == "thorax" else 1500,
                                              "hold_s": 60 if role == "thorax" else 30,
                                              "repeat_s": 120}
        meta["pods"][role] = {
            "spec": f"/dev/{role}", "pod_id": f"id-{role}", "info": {"imu": "MPU-6050"},
            "settings": {"wall_s": W0, "ref_cdeg": int(refs[role] * 100), "rule": rule,
                         **({"cal": cal[role]} if cal and role in cal else {})},
            "arms": [{"seq": 0, "wall_s": W0, "boot": 1, "dev_s": dev0[role] & 0xFFFF}],
            "records": n, "overwritten": 0, "torn": 0,
            "syncs": [{"boot": 1, "next_seq": n, "pings": pings}]}
    D.write_meta(path, meta)
    return path


def test_read_and_clock(tmp_path):
    from posturepod.recordings.daylog_clock import map_clock
    dl = D.read_daylog(make_daylog(tmp_path / "d"))
    assert set(dl.pods) == {"pelvis", "thorax", "head"}
    th = dl.pods["thorax"]
    assert len(th) == 900 and th.bad_crc == 0 and th.seq_gaps == []
    c = map_clock(th)
    assert len(c.segments) == 1 and c.segments[0].method == "sync"
    # the sync ping puts record i at W0 + phase + i (thorax's clock wrapped mod 65536)
    assert np.allclose(c.wall_s - (W0 + 0.3 + np.arange(900)), 0, atol=0.02)
    assert th.mean_deg[350] == pytest.approx(20.0)


def test_damage_is_named_counted_and_skipped(tmp_path):
    d = make_daylog(tmp_path / "d")
    p = d / "head.log"
    raw = bytearray(p.read_bytes())
    raw[16 * 40 + 6] ^= 0xFF            # flash damage in record 40
    p.write_bytes(bytes(raw) + b"\x01\x02\x03")    # and a torn tail
    dl = D.read_daylog(d)
    assert len(dl.pods["head"]) == 899 and dl.pods["head"].bad_crc == 1
    assert dl.pods["head"].seq_gaps == [(40, 1)]
    w = " ".join(dl.pods["head"].warnings)
    assert "head.log" in w and "record 40" in w and "torn" in w
    # records out of order: an error naming the file and the record
    raw = bytearray(p.read_bytes()[:16 * 10])
    raw[16 * 5:16 * 6], raw[16 * 6:16 * 7] = raw[16 * 6:16 * 7], raw[16 * 5:16 * 6]
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"head\.log: record 6 .*sequence"):
        D.read_daylog(d)
    # a damaged manifest: file and line
    (d / "recording.json").write_text('{"kind": "day-log",\n "pods": {,}}')
    with pytest.raises(DataError, match=r"recording\.json:2"):
        D.read_daylog(d)


def test_info_json(tmp_path, capsys):
    d = make_daylog(tmp_path / "d", flags_at={("thorax", 360): wire.LOGREC_BUZZ})
    assert main(["info", str(d), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["kind"] == "day-log" and s["t0_utc"].startswith("2025-12-29")
    by = {p["role"]: p for p in s["pods"]}
    assert by["thorax"]["records"] == 900 and by["thorax"]["buzzes"] == 1
    assert by["head"]["span_s"] == pytest.approx(900, abs=0.5)
    assert by["pelvis"]["lost_records"] == 0 and by["pelvis"]["unmapped_records"] == 0
    assert by["pelvis"]["clock"][0]["method"] == "sync"
    assert main(["info", str(d)]) == 0
    assert "day-log" in capsys.readouterr().out


def test_export_csv(tmp_path, capsys):
    d = make_daylog(tmp_path / "d")
    assert main(["export", str(d), "--format", "csv", "--out", str(tmp_path / "x")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "x" / "thorax_daylog.csv")))
    assert len(rows) == 900 and float(rows[350]["mean_deg"]) == 20.0
    assert rows[0]["arm"] == "1" and rows[1]["arm"] == "0"
    ang = list(csv.DictReader(open(tmp_path / "x" / "angles.csv")))
    assert float(ang[350]["lumbar_deg"]) == pytest.approx(32.0)
    assert float(ang[520]["neck_deg"]) == pytest.approx(25.0)


def test_sitting_on_daylog(tmp_path, capsys):
    d = make_daylog(tmp_path / "d")
    assert main(["sitting", str(d), "--json", "--report", str(tmp_path / "r.html")]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["protocol"] == "sitting" and s["source"]["kind"] == "day-log"
    assert s["reference"]["source"] == "armed"
    assert s["reference"]["lumbar_deg"] == pytest.approx(17.0)
    assert any("computed on the pods" in n for n in s["notes"])
    (ep,) = s["slouch_episodes"]
    assert ep["start_s"] == pytest.approx(300, abs=1) and ep["end_s"] == pytest.approx(420, abs=1)
    (hf,) = s["head_forward_episodes"]
    assert hf["start_s"] == pytest.approx(500, abs=1) and hf["duration_s"] == pytest.approx(60, abs=1)
    assert s["slouch_s"] == pytest.approx(120, abs=1)
    assert (d / "sitting.json").exists() and (tmp_path / "r.html").exists()
    assert main(["sitting", str(d), "--calibration", str(d / "x.json")]) == 2
    # pods armed without the calibration's grade (an older host): said, not invented
    assert "calibration" not in s and any("grade is not known" in n for n in s["notes"])


def test_sitting_on_daylog_says_the_calibration_the_pods_were_armed_with(tmp_path, capsys):
    doubt = {"quality": "doubtful", "reasons": ["swayed 2.6 deg in the stand (doubtful)"]}
    good = {"quality": "good", "reasons": []}
    d = make_daylog(tmp_path / "d", n=120, cal={"pelvis": good, "thorax": doubt, "head": good})
    html = tmp_path / "r.html"
    assert main(["sitting", str(d), "--json", "--report", str(html)]) == 0
    c = json.loads(capsys.readouterr().out)["calibration"]
    assert c["quality"] == "doubtful" and c["source"] == "armed"
    assert c["reasons"] == ["thorax: swayed 2.6 deg in the stand (doubtful)"]
    assert c["pods"]["head"] == good
    page = html.read_text()
    assert "Calibration doubtful" in page and "thorax: swayed 2.6 deg" in page
    # one pod armed without it: the others' grade, and the gap said
    d2 = make_daylog(tmp_path / "d2", n=120, cal={"pelvis": good, "thorax": good})
    assert main(["sitting", str(d2), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)["calibration"]
    assert c["quality"] == "good" and c["reasons"] == ["head: armed without the calibration's grade"]


def test_streamed_only_commands_refuse_a_daylog(tmp_path, capsys):
    d = make_daylog(tmp_path / "d", n=30)
    assert main(["flexion", str(d)]) == 1
    assert "day-log recording" in capsys.readouterr().err


def _pod_log(tmp_path, role, recs, meta):
    p = tmp_path / f"{role}.log"
    p.write_bytes(b"".join(recs))
    return D.read_pod_log(p, role, meta)


def test_clock_boots_drift_and_unmapped(tmp_path):
    """Boot 1 armed (at dev 50), reboot at record 300 (boot 2: neither armed nor synced),
    reboot at 600 (boot 3, synced twice, 2 h apart); the pod's clock runs 100 ppm fast."""
    from posturepod.recordings.daylog_clock import map_clock
    rate = 1 + 100e-6           # pod seconds per wall second
    recs = [_rec(i, 51 + i, 1.0, wire.LOGREC_ARM if i == 0 else 0) for i in range(300)]
    recs += [_rec(300 + i, 4 + i, 2.0, wire.LOGREC_BOOT if i == 0 else 0) for i in range(300)]
    # boot 3: records every pod second from dev 10 for 2 h (7200 of them)
    recs += [_rec(600 + i, 11 + i, 3.0, wire.LOGREC_BOOT if i == 0 else 0) for i in range(7300)]
    boot3_wall0 = W0 + 5000.25       # wall time when boot 3's clock read 0

    def ping(dev):
        return [boot3_wall0 + dev / rate, int(dev * 1e6), 0.001]
    meta = {"arms": [{"seq": 0, "wall_s": W0, "boot": 1, "dev_s": 50}],
            "syncs": [{"boot": 3, "next_seq": 600 + 100, "pings": [ping(112.0)]},
                      {"boot": 3, "next_seq": 600 + 7300, "pings": [ping(7312.0)]}]}
    log = _pod_log(tmp_path, "thorax", recs, meta)
    c = map_clock(log)
    assert [s.method for s in c.segments] == ["arm", "unmapped", "syncs"]
    assert c.unmapped == 300 and np.isnan(c.wall_s[300:600]).all()
    s3 = c.segments[2]
    assert s3.drift_ppm == pytest.approx(-100, abs=1)
    assert c.wall_s[600] == pytest.approx(boot3_wall0 + 10 / rate, abs=1e-3)
    assert c.wall_s[-1] == pytest.approx(boot3_wall0 + 7309 / rate, abs=1e-3)
    # boot 1: the pod's measured drift (same crystal) from the arming
    assert c.segments[0].drift_ppm == pytest.approx(-100, abs=1)
    assert c.wall_s[0] == pytest.approx(W0, abs=1.0)

