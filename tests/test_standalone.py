"""Standalone mode end to end (issue 16): the real firmware in the MicroPython unix port on
a virtual board behind a pseudo-terminal, spoken to over pyserial with raw frames
(tests/podraw.py, the shared wire.py): arming, the per-second day log and its CRCs, arming
twice, a pod never armed, a power cut (SIGKILL) mid-run, a torn last record, a full log,
the rule's buzz (the virtual board's motor log) and quiet hours, the angle stream."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from posturepod.devices.virtual.patient import spawn_board
from posturepod.firmware.pod import wire
from podraw import RawPod

pytestmark = pytest.mark.usefixtures("micropython")

IDENTITY = [16384, 0, 0, 0, 16384, 0, 0, 0, 16384]
WALL = 1764900000          # 2025-12-05 02:00:00 UTC; local 03:00 at utc_offset_min 60


def arm_args(**over):
    a = {"wall_s": WALL, "seg_q14": IDENTITY, "ref_cdeg": 0, "rule": None,
         "pattern": [200, 100, 200], "quiet": [], "utc_offset_min": 60, "radio": "slow"}
    a.update(over)
    return a


class Board:
    def __init__(self, tmp: Path, name="pod", **kw):
        self.proc = spawn_board("thorax", tmp / f"{name}.tty", fs=tmp / f"fs-{name}", **kw)
        self.pod = RawPod(self.proc.link)

    def restart(self):
        self.pod.close()
        self.proc.restart()
        self.pod = RawPod(self.proc.link)

    def close(self):
        self.pod.close()
        self.proc.kill()


@pytest.fixture
def board(tmp_path):
    b = Board(tmp_path)
    yield b
    b.close()


def check_records(recs, first, n):
    """Consecutive seqs from first, every CRC good, dev_s one second apart within a boot."""
    assert [r[0] for r in recs] == list(range(first, first + n))
    assert all(r[7] for r in recs)
    for a, b in zip(recs, recs[1:]):
        if not b[6] & wire.LOGREC_BOOT:
            assert (b[1] - a[1]) & 0xFFFF == 1, (a, b)


def test_never_armed(board):
    p = board.pod
    assert p.info["armed"] is False and p.info["stream_kind"] == "raw"
    d, recs, _ = p.read_log(0, 256)
    assert recs == [] and d["n"] == 0 and d["next_seq"] == 0
    info = p.ok("log_info")
    assert info["armed"] is False and info["first_seq"] == info["next_seq"] == 0
    assert info["record_size"] == wire.LOGREC_SIZE and info["arms"] == []
    assert p.ok("disarm")["was_armed"] is False
    # bad arguments are refused with a reason, and the pod stays unarmed
    d, _ = p.cmd("arm", **arm_args(seg_q14=[1, 2, 3]))
    assert d["ok"] is False and "seg_q14" in d["error"]
    d, _ = p.cmd("arm", **arm_args(radio="loud"))
    assert d["ok"] is False and "radio" in d["error"]
    d, _ = p.cmd("arm", **arm_args(gyr_bias_mdps=[1, 2]))
    assert d["ok"] is False and "gyr_bias_mdps" in d["error"]
    d, _ = p.cmd("arm", **arm_args(gyr_bias_mdps=[0, 0, 90000]))
    assert d["ok"] is False and "gyr_bias_mdps" in d["error"]
    d, _ = p.cmd("arm", **arm_args(cal={"quality": "failed"}))      # never armed on that
    assert d["ok"] is False and "cal" in d["error"]
    d, _ = p.cmd("arm", **arm_args(cal={"quality": "good", "reasons": "x"}))
    assert d["ok"] is False and "cal" in d["error"]
    d, _ = p.cmd("log_read", from_seq=0, n=257)
    assert d["ok"] is False and "n must be" in d["error"]
    assert p.ok("log_info")["armed"] is False


def test_arm_log_and_arm_again(board):
    p = board.pod
    r = p.ok("arm", **arm_args())
    assert r["armed"] is True and r["arm_seq"] == 0 and r["records"] == 0
    assert r["capacity_records"] >= 57600          # 16 h (the unix port's fs is the disk)
    time.sleep(4.5)
    info, recs = p.read_all()
    n = info["next_seq"]
    assert 3 <= n <= 6 and info["armed"] is True
    check_records(recs, 0, n)
    assert recs[0][6] & wire.LOGREC_ARM and not recs[1][6] & wire.LOGREC_ARM
    # the virtual pod lies flat and still: angle 0 with the identity matrix, no motion
    assert all(abs(r[2]) <= 20 and r[3] <= r[2] <= r[4] and r[5] <= 1 for r in recs)
    # the raw bytes are the stored records: CRC over the first 14 bytes
    _, _, raws = p.read_log(0, 2)
    assert all(wire.crc16(b[:14]) == int.from_bytes(b[14:], "little") for b in raws)
    assert info["settings"]["gyr_bias_mdps"] is None and info["settings"]["cal"] is None
    # arming again: new settings and arm entry, the records so far are kept; the pod keeps
    # the calibration's gyro bias and grade it was given
    cal = {"quality": "doubtful", "reasons": ["thorax: swayed 2.6 deg in the stand"]}
    r2 = p.ok("arm", **arm_args(ref_cdeg=-500, wall_s=WALL + 10,
                                gyr_bias_mdps=[1500, -700, 20], cal=cal))
    assert r2["arm_seq"] >= n and r2["records"] >= n
    time.sleep(2.5)
    info, recs = p.read_all()
    check_records(recs, 0, info["next_seq"])
    assert [a["seq"] for a in info["arms"]] == [0, r2["arm_seq"]]
    assert info["settings"]["ref_cdeg"] == -500
    assert info["settings"]["gyr_bias_mdps"] == [1500, -700, 20]
    assert info["settings"]["cal"] == cal
    assert recs[r2["arm_seq"]][6] & wire.LOGREC_ARM
    # partial reads clamp and page
    d, part, _ = p.read_log(2, 3)
    assert [x[0] for x in part] == [2, 3, 4] and d["n"] == 3
    # disarm stops logging, keeps the log
    assert p.ok("disarm")["records"] >= info["next_seq"]
    end = p.ok("log_info")["next_seq"]
    time.sleep(1.5)
    assert p.ok("log_info")["next_seq"] == end
    info, recs = p.read_all()
    check_records(recs, 0, end)


def test_power_cut_loses_at_most_the_record_being_written(tmp_path):
    b = Board(tmp_path)
    try:
        p = b.pod
        p.ok("arm", **arm_args())
        time.sleep(3.3)
        before = p.ok("log_info")["next_seq"]
        time.sleep(0.4)
        b.proc.proc.kill()                # SIGKILL of the board: a power cut
        b.proc.proc.wait(5)
        b.restart()
        assert b.pod.info["armed"] is True          # standalone.json kept it armed
        time.sleep(2.5)
        info, recs = b.pod.read_all()
        assert info["armed"] and info["boot_count"] == 2 and info["torn"] == 0
        assert info["next_seq"] >= before + 2
        # every record written before the cut is there, CRC good; the new boot goes on
        # with the next seq and the BOOT flag
        check_records(recs, 0, info["next_seq"])
        boots = [r for r in recs if r[6] & wire.LOGREC_BOOT]
        assert len(boots) == 1 and boots[0][0] >= before and boots[0][1] <= 2
        assert [x["boot"] for x in info["boots"]] == [2]
    finally:
        b.close()


def test_torn_last_record_is_dropped_and_counted(tmp_path):
    b = Board(tmp_path)
    try:
        p = b.pod
        p.ok("arm", **arm_args())
        time.sleep(3.5)
        b.proc.kill()
        fs = b.proc.fs
        seg = sorted((fs / "dlog").glob("s*.bin"))[-1]
        good = seg.stat().st_size // 16
        with open(seg, "ab") as f:        # a record cut short by the power cut
            f.write(b"\x07" * 9)
        b.restart()
        time.sleep(2.5)
        info, recs = b.pod.read_all()
        assert info["torn"] == 1
        check_records(recs, 0, info["next_seq"])
        assert info["next_seq"] >= good + 1
        # a whole record with a bad CRC at the end is a torn write too
        b.proc.kill()
        seg = sorted((fs / "dlog").glob("s*.bin"))[-1]
        data = bytearray(seg.read_bytes())
        data[-3] ^= 0x5A
        seg.write_bytes(bytes(data))
        bad = int(seg.name[1:10]) + len(data) // 16 - 1      # seq of the damaged record
        b.restart()
        time.sleep(2.5)
        info, recs = b.pod.read_all()
        assert info["torn"] == 2
        check_records(recs, 0, info["next_seq"])
        # only that record is lost: its seq goes to the first record of the new boot
        assert recs[bad][6] & wire.LOGREC_BOOT
        assert not any(r[6] & wire.LOGREC_BOOT for r in recs[good + 1:bad])
    finally:
        b.close()


def test_full_log_keeps_the_newest_and_counts_the_overwritten(board):
    p = board.pod
    r = p.ok("arm", **arm_args(capacity_records=8))
    assert r["capacity_records"] == 8
    time.sleep(14.5)
    info, recs = p.read_all()
    n = info["next_seq"]
    assert n >= 13
    kept = n - info["first_seq"]
    assert 8 <= kept <= 10 and info["overwritten"] == info["first_seq"]
    check_records(recs, info["first_seq"], kept)
    # reading from 0 starts at the oldest record kept
    d, part, _ = p.read_log(0, 3)
    assert d["from_seq"] == info["first_seq"] and part[0][0] == info["first_seq"]
    # log_clear drops what was synced; sequence numbers go on
    p.ok("log_clear", upto_seq=n - 2)
    info2 = p.ok("log_info")
    assert info2["first_seq"] == n - 2 and info2["next_seq"] >= n
    assert info2["overwritten"] == info["overwritten"]


def test_rule_buzzes_after_hold_and_not_in_quiet_hours(tmp_path):
    motor = tmp_path / "motor.log"
    b = Board(tmp_path, motor_log=motor)
    try:
        p = b.pod
        # the flat pod reads 0 deg: 2000 cdeg beyond a reference of -2000, over 1000
        rule = {"over_cdeg": 1000, "hold_s": 3, "repeat_s": 0}
        p.ok("arm", **arm_args(ref_cdeg=-2000, rule=rule, quiet=[[600, 660]]))
        t0 = time.monotonic()
        time.sleep(2.2)
        assert p.ok("info")["buzzes"] == 0 and not motor.exists()    # still holding
        time.sleep(3.0)
        assert p.ok("info")["buzzes"] == 1                          # once (repeat 0)
        assert motor.read_text().split()[1::2][:2] == ["on", "off"]
        info, recs = p.read_all()
        assert all(r[6] & wire.LOGREC_OVER for r in recs)
        buzz = [r[0] for r in recs if r[6] & wire.LOGREC_BUZZ]
        assert buzz == [2]                                          # the 3rd second over
        assert time.monotonic() - t0 >= 2.2
        # repeat every 2 s
        p.ok("arm", **arm_args(ref_cdeg=-2000, rule=dict(rule, hold_s=1, repeat_s=2)))
        time.sleep(4.6)
        assert 3 <= p.ok("info")["buzzes"] <= 4
        # quiet hours (03:00 local is inside 02:50-03:20): over, never a buzz
        p.ok("arm", **arm_args(ref_cdeg=-2000, rule=dict(rule, hold_s=1), quiet=[[170, 200]]))
        n0 = p.ok("info")["buzzes"]
        a0 = p.ok("log_info")["next_seq"]
        time.sleep(3.5)
        assert p.ok("info")["buzzes"] == n0
        info, recs = p.read_all()
        q = [r for r in recs if r[0] >= a0]
        assert q and all(r[6] & wire.LOGREC_QUIET and r[6] & wire.LOGREC_OVER for r in q)
        assert not any(r[6] & wire.LOGREC_BUZZ for r in q)
        # within the threshold: no OVER, no buzz
        p.ok("arm", **arm_args(ref_cdeg=-500, rule=dict(rule, hold_s=1)))
        a1 = p.ok("log_info")["next_seq"]
        time.sleep(2.5)
        info, recs = p.read_all()
        assert not any(r[6] & (wire.LOGREC_OVER | wire.LOGREC_BUZZ) for r in recs if r[0] >= a1)
    finally:
        b.close()


def test_angle_stream(board):
    p = board.pod
    d = p.ok("start", kind="angle", out_hz=10, seg_q14=IDENTITY)
    assert d["stream_kind"] == "angle" and d["out_hz"] == 10
    assert p.ok("info")["stream_kind"] == "angle"
    time.sleep(2.0)
    frames = p.frames()
    p.ok("stop")
    ang = [wire.unpack_angles(bytes(pl)) for t, pl in frames if t == wire.MSG_ANGLES]
    assert not [t for t, _ in frames if t == wire.MSG_SAMPLES]
    recs = [r for _, _, rr in ang for r in rr]
    assert 15 <= len(recs) <= 25
    assert all(abs(r[1]) <= 20 and abs(r[4] - 16384) < 50 for r in recs)   # flat: up = +z
    seqs = [s for s, _, _ in ang]
    assert all(b - a == 10 for a, b in zip(seqs, seqs[1:]))   # one record per 10 samples
    d, _ = p.cmd("start", kind="angle", out_hz=51)
    assert d["ok"] is False and "out_hz" in d["error"]
    d, _ = p.cmd("start", kind="quaternion")
    assert d["ok"] is False and "kind" in d["error"]
    assert p.ok("start")["stream_kind"] == "raw"
    time.sleep(0.5)
    assert [t for t, _ in p.frames() if t == wire.MSG_SAMPLES]
    p.ok("stop")


def _samples(frames):
    """(device time us, counts (n, 6)) of the SAMPLES frames received."""
    import numpy as np
    t, c = [], []
    for typ, pl in frames:
        if typ != wire.MSG_SAMPLES:
            continue
        pl = bytes(pl)
        seq0, lo, hi, n, flags, nax = __import__("struct").unpack_from(wire.SAMPLES_HDR, pl)
        rec = np.frombuffer(pl, dtype=np.dtype([("dt", "<u2"), ("c", "<i2", (nax,))]),
                            count=n, offset=wire.SAMPLES_HDR_SIZE)
        t.append(((lo | (hi << 16)) + np.cumsum(rec["dt"].astype(np.int64))))
        c.append(rec["c"][:, :6])
    return np.concatenate(t), np.concatenate(c).astype(float)


@pytest.mark.slow
def test_armed_and_streaming_angles_match_the_host_from_the_raw_stream(tmp_path):
    """One run, armed AND streaming raw: the pod's per-second day-log angles against the
    host's offline fusion (VQF) of the raw samples the same pod streamed, over the same
    device-time seconds (record dev_s = k covers device time [k - 1, k) s)."""
    import numpy as np
    sim = pytest.importorskip("posturepod.sim.simulate")
    from posturepod.devices.virtual.patient import monotonic_us
    from posturepod.devices.virtual.trace import write_trace
    from posturepod.motion import quaternion as Q
    from posturepod.motion.angles import segment_angle_deg
    from posturepod.motion.fusion import RECORDED_DEFAULT, fuse
    from dataclasses import replace
    res = sim.simulate("sitting", 3, duration_s=80, clock_errors=False, true_rate_hz=100)
    _, acc, gyr = res.sensors_true["thorax"]
    trace = write_trace(tmp_path / "sit.trace", 100, {"thorax": {"acc_m_s2": acc,
                                                                  "gyr_rad_s": gyr}})
    axes = np.array([Q.rotate_inv(res.mountings["thorax"], e) for e in np.eye(3)])
    seg = [int(v) for v in np.round(axes * 16384).astype(int).ravel()]
    t0 = monotonic_us() + 4_000_000
    b = Board(tmp_path, trace=trace, t0_us=t0, rate_hz=100, imu="LSM6DSOX")
    try:
        p = b.pod
        p.ok("arm", **arm_args(seg_q14=seg))
        p.ok("start")
        frames = []
        end = time.monotonic() + (t0 - monotonic_us()) / 1e6 + 45
        while time.monotonic() < end:
            frames += p.frames()
            time.sleep(0.2)
        p.ok("stop")
        frames += p.frames()
        info = p.info
        _, recs = p.read_all()
    finally:
        b.close()
    t_us, counts = _samples(frames)
    acc_m = counts[:, :3] * info["acc_scale"]
    gyr_r = counts[:, 3:] * info["gyr_scale"]
    q = fuse(t_us / 1e6, gyr_r, acc_m, None, replace(RECORDED_DEFAULT, rate_hz=104.0))
    host = segment_angle_deg(q, axes)
    d = []
    for r in recs:
        k = r[1]
        sel = (t_us >= (k - 1) * 1_000_000) & (t_us < k * 1_000_000)
        if r[6] & wire.LOGREC_NODATA or sel.sum() < 90 or k * 1e6 < t_us[0] + 10e6:
            continue
        d.append(r[2] / 100.0 - float(np.mean(host[sel])))
    d = np.abs(np.array(d))
    print(f"pod vs host from the raw stream: {len(d)} s, median {np.median(d):.2f} deg, "
          f"max {d.max():.2f} deg, {100 * np.mean(d <= 1.0):.0f} % within 1 deg")
    assert len(d) >= 25, len(d)
    assert np.mean(d <= 1.0) >= 0.9 and np.median(d) < 0.5 and d.max() < 2.5, np.round(d, 2)


def test_ble_radio_modes_set_the_advertising():
    """Standalone mode's radio on a BLE pod (pod/link_ble.py): "slow" advertises every 2 s,
    "off" stops advertising, "on" is the normal 100 ms; while a host is connected nothing
    changes until it leaves."""
    import sys
    from conftest import FIRMWARE
    sys.path.insert(0, str(FIRMWARE))
    try:
        from pod import link_ble
    finally:
        sys.path.remove(str(FIRMWARE))

    class Radio:
        def __init__(self):
            self.calls = []

        def gap_advertise(self, interval_us, adv_data=None, resp_data=None):
            self.calls.append(interval_us)

    link = object.__new__(link_ble.BleLink)
    link.cfg = {"role": "thorax"}
    link.pod_id = "p1"
    link.ble = Radio()
    link.conn = None
    link.set_radio("slow")
    link.set_radio("off")
    link.set_radio("on")
    assert link.ble.calls == [2_000_000, None, 100_000]
    link.conn = 1
    link.set_radio("off")
    assert link.ble.calls[-1] == 100_000 and link.radio == "off"
    link.conn = None
    link.advertise()                    # the host left: the chosen mode applies
    assert link.ble.calls[-1] is None


def test_reboots_do_not_cost_a_segment_each(tmp_path):
    """After a reboot the log goes on in its newest segment file (a pod that reboots often
    must not shrink its ring to one record per segment)."""
    b = Board(tmp_path)
    try:
        b.pod.ok("arm", **arm_args())
        time.sleep(2.5)
        for _ in range(2):
            b.proc.proc.kill()
            b.proc.proc.wait(5)
            b.restart()
            time.sleep(2.2)
        info, recs = b.pod.read_all()
        check_records(recs, 0, info["next_seq"])
        assert sum(1 for r in recs if r[6] & wire.LOGREC_BOOT) == 2
        assert len(list((b.proc.fs / "dlog").glob("s*.bin"))) == 1
    finally:
        b.close()
