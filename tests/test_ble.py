"""BLE without radios: the real firmware (pod/link_ble.py, pod/backlog.py) in virtual boards,
its `bluetooth` calls bridged to bumble peripherals on an emulated link, the host's real
BleTransport and bleak code path on a bumble-backed bleak backend
(posturepod/devices/virtual/ble_*.py). See docs/ble.md.

Outage: a real 2-minute outage at 50 Hz end to end (POSTUREPOD_BLE_OUTAGE_S sets another
length, e.g. 30 for a quick run); the 10-minutes-at-50-Hz capacity is proven by the firmware backlog itself under
MicroPython (30,000 samples through RAM ring and flash file, test_backlog_capacity_*)."""
import asyncio
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FIRMWARE, mp_env

import bleak  # noqa: E402,F401  - hard dependencies: an import problem must fail, not skip
import bumble  # noqa: E402,F401

from posturepod.pods.acquire import record
from posturepod.commands.info import summary  # noqa: E402
from posturepod.firmware.pod import wire  # noqa: E402
from posturepod.recordings.loader import load
from posturepod.recordings.reader import load_imu
from posturepod.pods.transport import ble as tble

OUTAGE_S = float(os.environ.get("POSTUREPOD_BLE_OUTAGE_S", "120"))

BACKLOG_CHECK = r'''
import gc, struct, os
from pod import wire
from pod.backlog import Backlog, MAX_BODY

HDR = 12
def make(body, seq, t, n):
    struct.pack_into(wire.SAMPLES_HDR, body, 1, seq, t & 0xFFFF, (t >> 16) & 0xFFFF, n, 0, 6)
    for i in range(n):
        o = HDR + i * 14
        body[o] = 0 if i == 0 else 0x20
        body[o + 1] = 0 if i == 0 else 0x4E     # 20000 us: 50 Hz
        for j in range(12):
            body[o + 2 + j] = (seq + i + j) & 0xFF
    return HDR + n * 14

def check(total, batch, file_bytes, expect_all):
    b = Backlog("bl.bin", 8192, file_bytes, 4096)
    body = bytearray(MAX_BODY + 2)
    seq = 0
    while seq < total:
        n = batch if total - seq >= batch else total - seq
        b.put(body, make(body, seq, seq * 20000, n))
        seq += n
    out = bytearray(MAX_BODY + 2)
    got = 0
    nxt = 0
    while True:
        blen = b.get(out)
        if not blen:
            break
        s, lo, hi, n, fl, ax = struct.unpack_from(wire.SAMPLES_HDR, out, 1)
        assert fl & wire.FLAG_BACKLOG
        assert blen == HDR + n * 14
        assert s >= nxt
        if expect_all:
            assert s == nxt, (s, nxt)
        assert (lo | (hi << 16)) == (s * 20000) & 0xFFFFFFFF
        for i in range(n):
            assert out[HDR + i * 14 + 2] == (s + i) & 0xFF
        nxt = s + n
        got += n
    assert b.samples == 0 and b.frames == 0
    if expect_all:
        assert got == total and b.dropped_samples == 0, (got, b.dropped_samples)
    else:
        assert b.dropped_samples > 0 and got + b.dropped_samples == total
        assert b.first_dropped_seq >= 0 and b.dropped_frames > 0
    print("CASE", total, batch, got, b.dropped_samples, b.peak_bytes)
    b.close()

check(30000, 32, 524288, True)     # 10 min at 50 Hz as the sampler stores it offline
check(30000, 1, 524288, False)     # one sample per frame does not fit: drops counted
b = Backlog("bl2.bin", 8192, 0, 4096)
body = bytearray(MAX_BODY + 2)
out = bytearray(MAX_BODY + 2)
blen = make(body, 5, 100, 2)
for i in range(10):
    b.put(body, blen); b.get(out); b.keep(body, blen)
gc.collect(); gc.disable()
a0 = gc.mem_alloc()
for i in range(2000):
    b.put(body, blen); b.keep(body, blen); b.get(out)
a1 = gc.mem_alloc()
gc.enable()
assert a1 == a0, ("allocated", a1 - a0)
n = b.requeue_recent()
assert n > 0 and b.samples == n
print("ALLOC", a1 - a0, "REQUEUED", n)
print("ALL OK")
'''


def test_uuids_match_the_firmware():
    src = (FIRMWARE / "pod" / "link_ble.py").read_text()
    for name in ("SVC_UUID", "DATA_UUID", "CMD_UUID", "NAME_PREFIX"):
        m = re.search(rf'^{name} = "([^"]+)"', src, re.M)
        assert m and m.group(1) == getattr(tble, name), name
    assert tble.parse_name("pp-thorax-1a2b") == ("thorax", "1a2b")
    assert tble.matcher("virt-head")(tble.Found("X", "pp-head-" + tble.short_id("virt-head"),
                                                "head", tble.short_id("virt-head"), 0))


def test_backlog_capacity_10min_at_50hz_micropython(micropython, tmp_path):
    (tmp_path / "check.py").write_text(BACKLOG_CHECK)
    r = subprocess.run([micropython, "-X", "heapsize=1M", "check.py"], cwd=tmp_path,
                       capture_output=True, text=True, env=mp_env(), timeout=120)
    assert r.returncode == 0 and "ALL OK" in r.stdout, r.stdout + r.stderr
    assert "ALLOC 0 " in r.stdout
    case = r.stdout.split("CASE 30000 32 ")[1].split()
    assert int(case[0]) == 30000 and int(case[1]) == 0


def test_backlog_same_under_cpython(tmp_path, monkeypatch):
    """The firmware module runs unchanged on the host too (shared logic, quick check)."""
    import sys
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(FIRMWARE))
    for m in [k for k in sys.modules if k == "pod" or k.startswith("pod.")]:
        monkeypatch.delitem(sys.modules, m)
    src = BACKLOG_CHECK.split("b = Backlog(\"bl2.bin\"")[0].replace(
        "check(30000, 32, 524288, True)", "check(3000, 32, 524288, True)").replace(
        "check(30000, 1, 524288, False)", "check(3000, 1, 20000, False)")
    exec(compile(src, "backlog_check", "exec"), {})


def test_link_ble_imports_under_micropython(micropython, tmp_path):
    code = ("import pod.link_ble as L\n"
            "print(L.adv_name('head', 'virt-head'))\n"
            "a, r = L.advertising_payloads('thorax', 'abc')\n"
            "assert len(a) <= 31 and len(r) <= 31\n"
            "try:\n"
            "    L.BleLink({'role': 'head'})\n"
            "except OSError as e:\n"
            "    print('NO RADIO', e)\n")
    r = subprocess.run([micropython, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, env=mp_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    assert "pp-head-" + tble.short_id("virt-head") in r.stdout
    assert "NO RADIO" in r.stdout


# ---- end to end over the emulated radio ---------------------------------------------------

def _vble():
    from posturepod.devices.virtual import ble_patient as vble
    return vble


def _record_thread(links, out, seconds, **kw):
    res = {}

    def go():
        res["path"], res["session"] = record(links, out, seconds=seconds, live=False, **kw)
    th = threading.Thread(target=go)
    th.start()
    return th, res


def _check_contiguous(path, role):
    imu = load_imu(Path(path) / f"{role}.imu")
    rec = load(path)
    tl = rec.pods[role].timeline
    seq = imu["seq"][tl.indices()].astype(np.int64)
    assert np.all(np.diff(seq) == 1), f"{role}: sequence not contiguous after merge"
    assert np.all(np.diff(tl.device_us()) > 0), f"{role}: device time not monotonic"
    assert np.all(np.diff(rec.pods[role].time_s) > 0)
    return rec, tl


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_three_pods_100hz_60s_zero_loss(tmp_path):
    vble = _vble()
    seconds = 60.0
    with vble.VirtualBlePatient(tmp_path / "boards", rate_hz=100, mtu=247,
                                imus={"pelvis": "MPU-6050", "thorax": "LSM6DSOX",
                                      "head": "MPU-6500"}) as vp:
        th, res = _record_thread(vp.links, tmp_path / "rec", seconds)
        th.join(seconds + 60)
    path, session = res["path"], res["session"]
    info = {p["role"]: p for p in summary(path)["pods"]}
    for role, p in info.items():
        odr = p["odr_hz"]
        assert abs(p["samples"] - odr * seconds) <= 0.01 * odr * seconds, p
        assert p["seq_gaps"] == 0 and p["lost_samples"] == 0, p
        assert p["crc_errors"] == 0 and p["late_samples"] == 0, p
        rec, tl = _check_contiguous(path, role)
        assert len(tl.segments) == 1 and tl.duplicates == 0
        t = session.pods[role].link.transport
        assert t.kind == "ble" and t.mtu == 247 and t.drops == 0
        assert session.stats()[role].samples == p["samples"]
        assert rec.pods[role].info.get("link") == "ble"


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_mtu_23_chunks_and_zero_loss(tmp_path):
    vble = _vble()
    seconds = 12.0
    with vble.VirtualBlePatient(tmp_path / "boards", rate_hz=100, mtu=23,
                                roles=("pelvis",)) as vp:
        th, res = _record_thread(vp.links, tmp_path / "rec", seconds)
        th.join(seconds + 60)
        per = vp.peripheral("pelvis")
        sent = per.notified
        from posturepod.commands.devices import ble_rows
        rows, note = ble_rows(1.5)
        sid = tble.short_id(vp.pods["pelvis"].pod_id)
        assert note is None and any(r["port"] == "ble:" + sid and r["role"] == "pelvis"
                                    for r in rows), rows
    vble.install()          # back to the default MTU for the other tests
    path, session = res["path"], res["session"]
    t = session.pods["pelvis"].link.transport
    assert t.mtu == 23
    assert t.bytes_in <= 20 * t.notifications       # every notification <= MTU - 3
    assert t.notifications > 3 * 50 * seconds * 0.9  # a 45-byte frame needs 3 of them
    assert sent >= t.notifications
    p = summary(path)["pods"][0]
    assert p["seq_gaps"] == 0 and p["lost_samples"] == 0 and p["crc_errors"] == 0, p
    assert abs(p["samples"] - 100 * seconds) <= 0.02 * 100 * seconds
    _check_contiguous(path, "pelvis")


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_link_cut_and_restored_every_sample_recovered_in_order(tmp_path):
    """Out of range for OUTAGE_S (notifications lost in the air for the supervision
    timeout, then disconnected and invisible), back in range: the pod's backlog fills the
    hole; every sample is in the recording, in order, and marked late."""
    vble = _vble()
    before, after = 6.0, 8.0
    seconds = before + OUTAGE_S + after
    with vble.VirtualBlePatient(tmp_path / "boards", rate_hz=50, roles=("pelvis", "head"),
                                imus={"pelvis": "MPU-6050", "head": "MPU-6500"}) as vp:
        th, res = _record_thread(vp.links, tmp_path / "rec", seconds)
        time.sleep(before)
        vp.cut("head", supervision_s=1.0)
        time.sleep(OUTAGE_S - 1.0)
        vp.restore("head")
        th.join(seconds + 120)
        air_lost = vp.peripheral("head").air_lost
    path, session = res["path"], res["session"]
    info = {p["role"]: p for p in summary(path)["pods"]}
    h, pv = info["head"], info["pelvis"]
    t = session.pods["head"].link.transport
    assert t.drops == 1 and t.connects == 2, t.stats()
    assert air_lost > 0                       # frames really vanished in the air...
    assert h["seq_gaps"] == 0 and h["lost_samples"] == 0, h   # ...and came back
    assert abs(h["samples"] - pv["samples"]) <= 0.01 * pv["samples"] + 5, (h, pv)
    assert h["late_samples"] >= 50 * (OUTAGE_S - 2), h
    assert pv["late_samples"] == 0 and pv["seq_gaps"] == 0
    rec, tl = _check_contiguous(path, "head")
    assert len(tl.segments) == 1 and tl.gaps == [], tl.gaps
    assert tl.order is None and tl.runs is not None    # put in order as runs, not arrays
    logs = [e for e in rec.meta["log"] if e.get("kind") == "pod_log" and e.get("role") == "head"]
    assert any("link was down" in e.get("msg", "") for e in logs), logs


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_unbonded_central_cannot_send_commands(tmp_path):
    vble = _vble()
    from bumble.device import Peer
    with vble.VirtualBlePatient(tmp_path / "boards", rate_hz=50, roles=("head",),
                                ble={"pair_window_s": 0}) as vp:
        pod = vp.pods["head"]
        # the lab's host pairs first (the pod has no bond: pairing is open), then leaves
        t = tble.BleTransport(pod.pod_id)
        t.open()
        t.close()
        bonds = json.loads((pod.fs / "ble_bonds.json").read_text())
        assert len(bonds) == 1
        per = vp.peripheral("head")
        r = vble.radio()

        async def stranger(pair: bool):
            c = await r.new_central("C0:00:00:00:0E:%02X" % (2 if pair else 1))
            conn = await c.connect(vble.Address(per.address, vble.Address.RANDOM_DEVICE_ADDRESS))
            out = {"paired": None, "write": None, "notes": [], "dropped": False}
            conn.on("disconnection", lambda *_a: out.update(dropped=True))   # noqa: B023
            if pair:
                try:
                    await asyncio.wait_for(conn.pair(), 5)
                    out["paired"] = True
                except (Exception, asyncio.CancelledError, asyncio.TimeoutError) as e:  # noqa
                    out["paired"] = repr(e)
            wf = asyncio.wait_for
            try:
                peer = Peer(conn)
                await wf(peer.discover_all(), 5)
                ch = peer.get_characteristics_by_uuid(vble.BUMBLE_UUID(tble.CMD_UUID))[0]
                data = peer.get_characteristics_by_uuid(vble.BUMBLE_UUID(tble.DATA_UUID))[0]
                await wf(peer.subscribe(data, lambda v: out["notes"].append(bytes(v))), 5)
                await wf(peer.write_value(ch, wire.encode_command("start", 9),
                                          with_response=True), 5)
                out["write"] = "accepted"
            except (Exception, asyncio.CancelledError, asyncio.TimeoutError) as e:  # noqa: BLE001
                out["write"] = f"{type(e).__name__}: {getattr(e, 'error_code', e)!s}"
            await asyncio.sleep(1.0)
            out["pod_hung_up"] = out.pop("dropped")
            try:
                await asyncio.wait_for(conn.disconnect(), 2)
            except (Exception, asyncio.CancelledError, asyncio.TimeoutError):  # noqa: BLE001
                pass            # the pod hung up already
            return out

        plain = tble.run(stranger(False), 30)
        # ATT error 0x0F: insufficient encryption (the stack refuses, the pod never sees it)
        assert plain["write"] == "ATT_Error: 15", plain
        paired = tble.run(stranger(True), 30)     # pairs outside the pairing window
        # outside the window the pod stores no new keys and hangs up when the link is
        # encrypted with them: whatever the stack said of the pairing, no command gets in
        assert paired["write"] != "accepted" and paired["pod_hung_up"], paired
        assert plain["notes"] == [] and paired["notes"] == [], (plain, paired)
        # the pod kept one bond and is not streaming: ask it through the bonded host
        assert len(json.loads((pod.fs / "ble_bonds.json").read_text())) == 1
        t = tble.BleTransport(pod.pod_id)
        t.open()
        from posturepod.pods.protocol import StreamDecoder
        dec = StreamDecoder()
        t.write(wire.encode_command("info", 77))
        infos = []
        end = time.monotonic() + 3
        while time.monotonic() < end and not infos:
            infos = [m.body for m in dec.feed(t.read(0.1)) if m.name == "info"
                     and m.body.get("id") == 77]
        t.close()
        assert infos and infos[0]["streaming"] is False, infos


@pytest.mark.slow
@pytest.mark.usefixtures("micropython")
def test_malformed_notifications_are_counted_not_fatal(tmp_path):
    vble = _vble()
    seconds = 10.0
    with vble.VirtualBlePatient(tmp_path / "boards", rate_hz=100, roles=("thorax",),
                                imus={"thorax": "MPU-6050"}) as vp:
        th, res = _record_thread(vp.links, tmp_path / "rec", seconds)
        time.sleep(3)
        junk = [bytes([0x00, 0x05, 0x02, 0xFF, 0xEE, 0x00]),      # bad CRC
                bytes(range(1, 19)),                             # no delimiter
                bytes([0x00, 0x01, 0x00]),                       # COBS too short
                b"\x00" + b"\xff" * 18]                          # truncated COBS
        for j in junk * 3:
            vp.inject("thorax", j)
            time.sleep(0.1)
        th.join(seconds + 60)
    path, session = res["path"], res["session"]
    st = session.stats()["thorax"]
    # each of the 12 injected notifications is one counted bad frame, and costs no sample
    assert st.crc_errors + st.bad_frames == 12 and st.lost_samples == 0, vars(st)
    p = summary(path)["pods"][0]
    assert abs(p["samples"] + p["lost_samples"] - 100 * seconds) <= 30, p
    assert p["samples"] >= 100 * seconds * 0.95
