"""Throughput: the emulated BLE link beside serial (a virtual serial board), same run.

    python bench/ble.py [--seconds 10] [--rates 100,1000] [--drain-s 10]

Each case is one virtual pod running the real firmware (MicroPython unix port): over its
pty (serial, pyserial) or over the emulated radio (BLE: bleak -> bumble-backed backend ->
LocalLink -> bumble peripheral -> the firmware's `bluetooth` calls), MTU 247 and 23. Per
case: samples/s and payload kB/s delivered to the host, frames, lost samples (sequence
gaps), notifications. Then the BLE backlog drain: the pod is taken out of range for
--drain-s seconds at the highest rate, brought back, and the time until the backlog is
empty gives the link's bulk rate (what the emulation sustains, not a radio's).
Numbers are of the emulation on this machine (bumble's Python controllers and the
MicroPython unix port), not of a real radio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from posturepod.firmware.pod import wire
from posturepod.pods.protocol import StreamDecoder


def _stream(transport, seconds: float, rate: int) -> dict:
    dec = StreamDecoder()
    transport.write(wire.encode_command("set_rate", 1, {"rate_hz": rate}))
    time.sleep(0.3)
    transport.write(wire.encode_command("start", 2))
    n = frames = lost = 0
    last = None
    t_first = None
    end = None
    nbytes = 0
    while True:
        now = time.monotonic()
        if end is not None and now >= end:
            break
        data = transport.read(0.05)
        nbytes += len(data)
        for m in dec.feed(data):
            if m.name != "samples":
                continue
            if t_first is None:
                t_first = time.monotonic()
                end = t_first + seconds
                nbytes = 0
                continue
            b = m.body
            if last is not None and not (b.flags & wire.FLAG_BACKLOG):
                d = (b.seq0 - last - 1) % wire.SEQ_MODULO
                lost += d if d < wire.SEQ_MODULO // 2 else 0
            if not (b.flags & wire.FLAG_BACKLOG):
                last = (b.seq0 + b.n - 1) % wire.SEQ_MODULO
            n += b.n
            frames += 1
    el = time.monotonic() - t_first
    transport.write(wire.encode_command("stop", 3))
    time.sleep(0.2)
    return {"samples_s": n / el, "kB_s": nbytes / el / 1000, "frames_s": frames / el,
            "lost": lost, "crc_errors": dec.stats.crc_errors + dec.stats.bad_frames}


def serial_case(work: Path, rate: int, seconds: float) -> dict:
    from posturepod.pods.transport.serial import SerialTransport
    from posturepod.devices.virtual.patient import spawn_board
    b = spawn_board("pelvis", work / "s.tty", fs=work / f"fs-serial-{rate}", rate_hz=rate)
    try:
        t = SerialTransport(str(b.link))
        t.open()
        time.sleep(0.5)
        r = _stream(t, seconds, rate)
        t.close()
    finally:
        b.kill()
    return r


def ble_case(work: Path, rate: int, seconds: float, mtu: int) -> dict:
    from posturepod.pods.transport.ble import BleTransport
    from posturepod.devices.virtual import ble_patient as vble
    vble.radio()
    with vble.VirtualBlePatient(work / f"ble-{rate}-{mtu}", rate_hz=rate,
                                roles=("pelvis",), mtu=mtu) as vp:
        t = BleTransport(vp.pods["pelvis"].pod_id)
        t.open()
        n0 = t.notifications
        t0 = time.monotonic()
        r = _stream(t, seconds, rate)
        r["notifications_s"] = (t.notifications - n0) / (time.monotonic() - t0)
        r["mtu"] = t.mtu
        t.close()
    return r


def drain_case(work: Path, rate: int, outage_s: float) -> dict:
    from posturepod.pods.transport.ble import BleTransport
    from posturepod.devices.virtual import ble_patient as vble
    with vble.VirtualBlePatient(work / f"drain-{rate}", rate_hz=rate, roles=("head",),
                                mtu=247) as vp:
        t = BleTransport(vp.pods["head"].pod_id)
        t.open()
        dec = StreamDecoder()
        t.write(wire.encode_command("set_rate", 1, {"rate_hz": rate}))
        time.sleep(0.3)
        t.write(wire.encode_command("start", 2))
        time.sleep(2.0)
        vp.cut("head", supervision_s=0.5)
        time.sleep(outage_s)
        vp.restore("head")
        back = None
        late = 0
        nbytes = 0
        t_last_late = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            data = t.read(0.05)
            if back is None and t.up:
                back = time.monotonic()
            if back is not None:
                nbytes += len(data)
            for m in dec.feed(data):
                if m.name == "samples" and m.body.flags & wire.FLAG_BACKLOG:
                    late += m.body.n
                    t_last_late = time.monotonic()
            if t_last_late and time.monotonic() - t_last_late > 2.0:
                break
        t.close()
    dur = (t_last_late or time.monotonic()) - (back or time.monotonic())
    return {"outage_s": outage_s, "late_samples": late, "drain_s": dur,
            "late_samples_s": late / dur if dur > 0 else 0.0,
            "kB_s": nbytes / dur / 1000 if dur > 0 else 0.0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rates", default="100,1000")
    p.add_argument("--drain-s", type=float, default=10.0)
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="posturepod-bench-ble-"))
    rates = [int(x) for x in a.rates.split(",")]
    print(f"{'link':14s} {'rate':>5s} {'samples/s':>10s} {'kB/s':>8s} {'frames/s':>9s} "
          f"{'lost':>5s} {'errors':>6s}  notes")
    for rate in rates:
        cases = [("serial (pty)", lambda: serial_case(work, rate, a.seconds))]
        for mtu in (247, 23):
            cases.append((f"BLE MTU {mtu}", lambda mtu=mtu: ble_case(work, rate, a.seconds,
                                                                    mtu)))
        for name, fn in cases:
            try:
                r = fn()
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"{name:14s} {rate:5d}  failed: {type(e).__name__}: {e}")
                continue
            note = f"{r['notifications_s']:.0f} notifications/s" if "mtu" in r else ""
            print(f"{name:14s} {rate:5d} {r['samples_s']:10.1f} {r['kB_s']:8.2f} "
                  f"{r['frames_s']:9.1f} {r['lost']:5d} {r['crc_errors']:6d}  {note}",
                  flush=True)
    if a.drain_s > 0:
        rate = max(rates)
        r = drain_case(work, rate, a.drain_s)
        print(f"BLE backlog drain at {rate} Hz after {r['outage_s']:.0f} s out of range: "
              f"{r['late_samples']} late samples in {r['drain_s']:.1f} s = "
              f"{r['late_samples_s']:.0f} samples/s, {r['kB_s']:.1f} kB/s "
              f"(live stream continuing meanwhile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
