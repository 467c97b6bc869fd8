"""On-demand columns and the streamed timeline: the same numbers as the in-memory path,
without holding per-sample arrays (long-recording memory, issue 7)."""
import numpy as np
import pytest
from posturepod.recordings import timeline as tlmod
from posturepod.recordings.columns import Column, RecordFile
from posturepod.recordings.format import IMU_DTYPE, SYNC_DTYPE, SYNC_PING


def _pod_files(tmp_path, *, late=False):
    """Two segments (a reboot), the first wrapping its 32-bit device clock, with sequence
    gaps, pings on both; returns (RecordFile, records, sync, segments)."""
    rng = np.random.default_rng(3)
    parts, segs, sync = [], [], []
    host0 = 10.0
    for seg, (n, dev_start, ppm) in enumerate([(23_456, (1 << 32) - 150_000_000, 120.0),
                                               (9_000, 5_000_000, -80.0)]):
        seq = np.arange(n, dtype=np.int64)
        seq[5000:] += 3                      # lost samples
        seq[20_000:] += 1
        dev = dev_start + np.round(seq * 10_000 * (1 + ppm * 1e-6)
                                   + rng.normal(0, 3, n)).astype(np.int64)
        r = np.zeros(n, IMU_DTYPE)
        r["seq"] = seq
        r["t_us"] = dev % (1 << 32)
        r["acc"] = rng.integers(-3000, 3000, (n, 3))
        r["gyr"] = rng.integers(-300, 300, (n, 3))
        first = sum(len(p) for p in parts)
        segs.append({"seg": seg, "first": first, "t0_dev_us": int(dev[0])})
        for k in range(0, n, 100):
            s = np.zeros(1, SYNC_DTYPE)
            s["seg"], s["kind"] = seg, SYNC_PING
            s["host_s"] = host0 + (dev[k] - dev[0]) * 1e-6 / (1 + ppm * 1e-6)
            s["dev_us"], s["rtt_s"] = dev[k], 0.002
            sync.append(s)
        host0 += (dev[-1] - dev[0]) * 1e-6 + 30.0      # 30 s off between the segments
        parts.append(r)
    rec = np.concatenate(parts)
    if late:
        rec[[100, 101]] = rec[[101, 100]]
    rec.tofile(tmp_path / "pelvis.imu")
    return RecordFile(tmp_path / "pelvis.imu", IMU_DTYPE), rec, np.concatenate(sync), segs


def test_stream_timeline_matches_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(tlmod, "BLOCK", 1000)        # many blocks, not aligned to marks
    rf, rec, sync, segs = _pod_files(tmp_path)
    lazy = tlmod.stream_timeline(rf, sync, segs, rate_hz=100.0)
    eager = tlmod.pod_timeline(rec, sync, segs, rate_hz=100.0)
    assert lazy is not None and lazy.order is None
    assert np.array_equal(eager.order, np.arange(len(rec)))
    t = np.asarray(lazy.time_s)
    assert np.array_equal(t, eager.time_s)
    assert lazy.gaps == eager.gaps and len(lazy.gaps) == 4     # 3 seq jumps + the reboot
    assert (lazy.seq_gaps, lazy.lost_samples) == (eager.seq_gaps, eager.lost_samples) == (3, 7)
    assert [(f.first, f.n, f.method) for f in lazy.segments] == \
        [(f.first, f.n, f.method) for f in eager.segments]
    assert lazy.segments[0].drift_ppm == pytest.approx(eager.segments[0].drift_ppm)
    # slices anywhere (across checkpoints and the segment boundary) and single samples
    rng = np.random.default_rng(0)
    for _ in range(200):
        i0 = int(rng.integers(0, len(t)))
        i1 = int(rng.integers(i0, min(len(t), i0 + 5000) + 1))
        assert np.array_equal(lazy.time_s[i0:i1], t[i0:i1])
    assert lazy.time_s[-1] == t[-1] and lazy.time_s[23_456] == t[23_456]
    # searchsorted: exact hits, between samples, outside, both sides
    v = np.concatenate([t[rng.integers(0, len(t), 300)],
                        rng.uniform(t[0] - 5, t[-1] + 5, 300), [t[0], t[-1]]])
    for side in ("left", "right"):
        assert np.array_equal(lazy.time_s.searchsorted(v, side), np.searchsorted(t, v, side))
        assert lazy.time_s.searchsorted(float(v[7]), side) == np.searchsorted(t, v[7], side)


def test_stream_timeline_declines_out_of_order_records(tmp_path):
    rf, _, sync, segs = _pod_files(tmp_path, late=True)
    assert tlmod.stream_timeline(rf, sync, segs, rate_hz=100.0) is None


def test_late_and_repeated_records_ordered_lazily_as_in_memory(tmp_path):
    """Back-filled records (a block of 3000 that arrived late, after newer ones) and
    repeats: the order is kept as runs and the time axis computed on access, with the
    numbers of the in-memory path."""
    _, rec, sync, segs = _pod_files(tmp_path)
    late = np.concatenate([rec[:4000], rec[7000:12000], rec[4000:7000],   # late block
                           rec[11_990:12_010],                             # repeats
                           rec[12_000:]])
    late.tofile(tmp_path / "late.imu")
    rf = RecordFile(tmp_path / "late.imu", IMU_DTYPE)
    segs = [{**segs[0]}, {**segs[1], "first": segs[1]["first"] + 20}]
    eager = tlmod.pod_timeline(late, sync, segs, rate_hz=100.0)
    assert eager.duplicates == 20
    lazy = tlmod.lazy_order(rf, tlmod.pod_timeline(late, sync, segs, rate_hz=100.0))
    assert lazy.runs is not None and len(lazy.runs) < 60           # a few runs, not n
    t = np.asarray(lazy.time_s)
    assert np.array_equal(t, eager.time_s) and np.all(np.diff(t) > 0)
    assert np.array_equal(lazy.indices(), eager.order)
    assert np.array_equal(lazy.device_us(), eager.dev_us)
    acc = rf.field("acc", 0.5, lazy.runs)
    assert np.array_equal(np.asarray(acc), late["acc"][eager.order] * 0.5)
    assert np.array_equal(np.asarray(acc), rec["acc"] * 0.5)      # back in sequence
    rng = np.random.default_rng(5)
    for _ in range(100):
        i0 = int(rng.integers(0, len(t)))
        i1 = int(rng.integers(i0, min(len(t), i0 + 4000) + 1))
        assert np.array_equal(lazy.time_s[i0:i1], t[i0:i1])
        assert np.array_equal(acc[i0:i1], late["acc"][eager.order[i0:i1]] * 0.5)
    v = rng.uniform(t[0], t[-1], 200)
    assert np.array_equal(lazy.time_s.searchsorted(v), np.searchsorted(t, v))


def test_time_axis_reads_spans_of_runs_with_the_numbers_of_run_by_run(tmp_path):
    """The lazy time axis reads runs that follow one another in the file as one span (one
    read, one unwrap) and shifts each later run onto its own checkpoint: the numbers of
    unwrapping every run from its checkpoint, also when a checkpoint is not where the
    previous run's unwrapping leads (shifted) and across a segment boundary and a jump in
    the file (a run read from elsewhere)."""
    from posturepod.recordings.columns import RunMap
    rf, rec, _, _ = _pod_files(tmp_path)
    n = len(rec)
    order = np.concatenate([np.arange(0, 9000), np.arange(12_000, 23_456),     # a jump
                            np.arange(9000, 12_000), np.arange(23_456, n)])
    runs = RunMap(order, np.array([0, 23_456]), 1024)
    assert len(runs) > 30 and runs.joined.sum() > 20          # mostly joined runs
    # checkpoints: the true device times, a few of them shifted
    rng = np.random.default_rng(7)
    true = tlmod.unwrap_u32(rec["t_us"][:23_456], int(rec["t_us"][0]))
    true = np.concatenate([true, tlmod.unwrap_u32(rec["t_us"][23_456:], 5_000_000)])
    dev = true[runs.file] + np.where(rng.random(len(runs)) < 0.3,
                                     rng.integers(-50_000, 50_000, len(runs)), 0)
    params = [(0, 23_456, 1.0000012e-6, 10.0, int(dev[0])),
              (23_456, n, 0.9999992e-6, 500.0, 5_000_000)]
    col = tlmod.OrderedTime(rf, runs, dev, params)
    want_dev = np.empty(n, dtype=np.int64)           # run by run, from each checkpoint
    want_t = np.empty(n)
    ends = np.append(runs.out[1:], n)
    for k, (o0, o1, f0) in enumerate(zip(runs.out, ends, runs.file)):
        d = tlmod.unwrap_u32(rec["t_us"][f0:f0 + (o1 - o0)], int(dev[k]))
        p = params[0] if f0 < 23_456 else params[1]
        want_dev[o0:o1] = d
        want_t[o0:o1] = (d - p[4]).astype(np.float64) * p[2] + p[3]
    assert np.array_equal(col.device_us(0, n), want_dev)
    assert np.array_equal(np.asarray(col), want_t)
    for i0, i1 in [(0, n), (1000, 1100), (8990, 9010), (20_400, 20_500),
                   (23_000, 24_000), (n - 3, n)] + \
            [tuple(sorted(rng.integers(0, n + 1, 2))) for _ in range(100)]:
        assert np.array_equal(col[i0:i1], want_t[i0:i1]), (i0, i1)
        assert np.array_equal(col.device_us(i0, i1), want_dev[i0:i1]), (i0, i1)
    acc = rf.field("acc", 0.5, runs)                 # fields read by spans too
    assert np.array_equal(np.asarray(acc), rec["acc"][order] * 0.5)
    assert np.array_equal(acc[8000:25_000], rec["acc"][order[8000:25_000]] * 0.5)


def test_field_column_reads_like_an_array(tmp_path):
    rf, rec, _, _ = _pod_files(tmp_path)
    acc = rf.field("acc", 0.5)
    want = rec["acc"] * 0.5
    assert acc.shape == want.shape and len(acc) == len(want)
    assert np.array_equal(acc[10:20], want[10:20])
    assert np.array_equal(acc[10:20, 1], want[10:20, 1])
    assert np.array_equal(acc[-1], want[-1]) and acc[3, 2] == want[3, 2]
    assert np.array_equal(acc[5:50:7], want[5:50:7])
    assert np.array_equal(np.asarray(acc), want)
    assert np.allclose(acc.mean(0), want.mean(0))
    assert np.array_equal(acc - 1.0, want - 1.0)
    assert acc[5:5].shape == (0, 3)
    with pytest.raises(IndexError):
        acc[len(want)]
    raw = rf.field("seq")
    assert raw.dtype == np.uint32 and np.array_equal(raw[:100], rec["seq"][:100])

    class Arr(Column):
        def __init__(self, a):
            super().__init__(len(a))
            self.a = a

        def _read(self, i0, i1):
            return self.a[i0:i1]
    col = Arr(np.arange(100_000.0))          # the index of marks made by reading blocks
    assert col.searchsorted(3.5) == 4 and np.array_equal(col[2:4], [2.0, 3.0])
    v = np.array([-1.0, 0.0, 255.5, 256.0, 70_000.0, 99_999.0, 1e9])
    assert np.array_equal(col.searchsorted(v, "right"), np.searchsorted(col.a, v, "right"))


def test_record_file_ignores_a_torn_last_record(tmp_path):
    f = tmp_path / "x.imu"
    r = np.zeros(3, IMU_DTYPE)
    r["seq"] = [1, 2, 3]
    f.write_bytes(r.tobytes() + b"\x01\x02\x03")
    rf = RecordFile(f, IMU_DTYPE)
    assert len(rf) == 3 and list(rf.read(0, 10)["seq"]) == [1, 2, 3]


def _csv(tmp_path, n=3000, mag=False):
    rng = np.random.default_rng(1)
    t = 100.0 + np.arange(n) * 0.01 + rng.uniform(0, 1e-4, n)
    cols = "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z" + (",mag_x,mag_y,mag_z" if mag else "")
    data = np.column_stack([t, rng.normal(size=(n, 9 if mag else 6))])
    lines = [cols] + [",".join(f"{v:.6f}" for v in row) for row in data]
    return lines, data


@pytest.mark.parametrize("mag,trailing_newline", [(False, True), (True, False)])
def test_large_csv_is_read_on_demand_with_the_same_values(tmp_path, monkeypatch, mag,
                                                          trailing_newline):
    from posturepod.recordings import csvio
    monkeypatch.setattr(csvio, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(csvio, "ROWS_PER_MARK", 100)
    monkeypatch.setattr(csvio, "BLOCK", 512)
    monkeypatch.setattr(csvio, "_SCAN_BYTES", 4096)
    lines, data = _csv(tmp_path, mag=mag)
    f = tmp_path / "pelvis.csv"
    f.write_text("\n".join(lines) + ("\n" if trailing_newline else ""))
    p = csvio.read_pod_csv(f)
    assert isinstance(p.time_s, csvio.CsvColumn) and len(p) == len(data)
    t = np.round(data[:, 0], 6)
    assert np.array_equal(np.asarray(p.time_s), t)
    assert np.array_equal(p.acc_m_s2[1234:2345], np.round(data[1234:2345, 1:4], 6))
    assert np.array_equal(p.gyr_rad_s[-5:], np.round(data[-5:, 4:7], 6))
    assert (p.mag_ut is not None) == mag
    rng = np.random.default_rng(2)
    v = np.concatenate([t[rng.integers(0, len(t), 50)], rng.uniform(99, 131, 50)])
    for side in ("left", "right"):
        assert np.array_equal(p.time_s.searchsorted(v, side), np.searchsorted(t, v, side))
    g = p.gyr_rad_s[10:20]
    g -= 1000.0                     # what a caller gets is its own
    assert np.array_equal(p.gyr_rad_s[10:20], np.round(data[10:20, 4:7], 6))


def test_large_csv_problems_name_the_line(tmp_path, monkeypatch):
    from posturepod.recordings import csvio
    from posturepod.recordings.data import DataError
    monkeypatch.setattr(csvio, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(csvio, "BLOCK", 512)
    lines, data = _csv(tmp_path)
    f = tmp_path / "pelvis.csv"
    bad = list(lines)
    bad[2001] = bad[1999]                       # data row 2000 (line 2002) goes back
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"pelvis.csv:2002: time goes backwards"):
        csvio.read_pod_csv(f)
    bad = list(lines)
    bad[1500] = bad[1500].replace(",", ",x", 1)
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"pelvis.csv:1501: non-numeric"):
        csvio.read_pod_csv(f)
    ok = list(lines)
    ok.insert(700, "")                           # a blank line: read whole, still fine
    f.write_text("\n".join(ok) + "\n")
    p = csvio.read_pod_csv(f)
    assert isinstance(p.time_s, np.ndarray) and len(p) == len(data)


def test_opening_a_long_native_recording_holds_no_per_sample_array(tmp_path):
    """A 12-hour, 50 Hz pod (2.16 M records): opening it and reading slices and times
    allocate a few MB (blocks of records, the clock fit over 43,200 pings), where its time
    axis alone as an array would be 17 MB and its accelerations as floats 52 MB."""
    import tracemalloc

    from posturepod.recordings.columns import Column
    from posturepod.recordings.loader import load
    from posturepod.recordings.writer import RecordingWriter
    n, rate = 2_160_000, 50.0
    w = RecordingWriter(tmp_path / "rec", t0_monotonic=0.0)
    w.add_pod("pelvis", {"role": "pelvis", "odr_hz": rate, "acc_scale": 0.001,
                         "gyr_scale": 0.0001}, "test")
    w.log("segment", role="pelvis", seg=0, first=0, t0_dev_us=0, boot_id=0)
    step = 500_000
    for k in range(0, n, step):
        seq = np.arange(k, min(k + step, n))
        dev = seq * 20_000 + 7
        counts = np.zeros((len(seq), 6), np.int16)
        counts[:, 2] = 9807
        w.samples("pelvis", seq, dev % (1 << 32), counts)
        for i in range(0, len(seq), 50):
            w.sync("pelvis", 0, SYNC_PING, 3.0 + dev[i] * 1e-6, int(dev[i]), 0.001)
    w.close()
    tracemalloc.start()
    rec = load(tmp_path / "rec")
    p = rec.pods["pelvis"]
    assert isinstance(p.time_s, Column) and len(p) == n
    i = p.time_s.searchsorted([3600.0 * h + 3.0 - 1e-4 for h in range(12)])
    assert list(i) == [int(3600 * h * rate) for h in range(12)]
    assert p.time_s[-1] == pytest.approx(3.0 + (n - 1) / rate, abs=1e-6)  # 2^32 us wraps
    assert np.allclose(p.acc_m_s2[1_000_000:1_000_100, 2], 9.807)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 12e6, f"opening and reading slices peaked at {peak / 1e6:.1f} MB"
