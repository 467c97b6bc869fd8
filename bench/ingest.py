"""Live ingest: three virtual boards (real firmware) streaming at RATE Hz over their ptys
into the real session + recorder for SECONDS; reports loss and host CPU per pod.

    python bench/ingest.py [--rate-hz 1000] [--seconds 15]

Baseline in the same run: the host CPU of one pod's decode + record of the same number of
samples fed from memory (no link), i.e. what the protocol costs without the I/O.
"""
import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate-hz", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=15.0)
    a = ap.parse_args()
    from posturepod.pods.acquire import record
    from posturepod.commands.info import summary
    from posturepod.devices.virtual.patient import VirtualPatient
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        imus = {"pelvis": "MPU-6050", "thorax": "MPU-6500", "head": "MPU-9250"}
        with VirtualPatient(d / "boards", rate_hz=a.rate_hz, imus=imus) as vp:
            c0, w0 = cpu_s(), time.monotonic()
            path, session = record(vp.links, d / "rec", seconds=a.seconds, live=False)
            c1, w1 = cpu_s(), time.monotonic()
        info = summary(path)
        # baseline: decode + write the same amount from memory
        from posturepod.firmware.pod import wire
        from posturepod.pods.protocol import StreamDecoder
        from posturepod.recordings.writer import RecordingWriter
        import struct
        n_frames = int(a.rate_hz * a.seconds / 20)
        p = struct.pack(wire.SAMPLES_HDR, 0, 0, 0, 20, 0, 6) + bytes(14 * 20)
        stream = wire.encode_frame(wire.MSG_SAMPLES, p) * n_frames
        w = RecordingWriter(d / "base", t0_monotonic=0.0)
        w.add_pod("pelvis", {}, "mem")
        dec = StreamDecoder()
        b0 = cpu_s()
        for k in range(0, len(stream), 4096):
            for m in dec.feed(stream[k:k + 4096]):
                s = m.body
                w.samples("pelvis", s.seq0 + np.arange(s.n), s.t_us, s.counts)
        base = cpu_s() - b0
        w.close()
    wall = w1 - w0
    host_cpu = c1 - c0
    print(f"3 pods x {a.rate_hz} Hz for {a.seconds:.0f} s over virtual serial links")
    print(f"{'pod':8s} {'expected':>9s} {'samples':>9s} {'gaps':>5s} {'lost':>5s} {'CRC':>4s}")
    ok = True
    for p in info["pods"]:
        exp = (p["odr_hz"] or a.rate_hz) * a.seconds
        print(f"{p['role']:8s} {exp:9.0f} {p['samples']:9d} {p['seq_gaps']:5d} "
              f"{p['lost_samples']:5d} {p['crc_errors']:4d}")
        ok = ok and p["seq_gaps"] == 0 and p["lost_samples"] == 0
    print(f"host CPU: {host_cpu:.2f} s in {wall:.1f} s wall = {100 * host_cpu / wall / 3:.1f}% "
          f"of a core per pod (session, decode, record, pings)")
    print(f"baseline (decode + record from memory, one pod's samples): {base:.2f} s CPU; "
          f"live/baseline per pod = {host_cpu / 3 / max(base, 1e-9):.1f}x")
    print("zero loss: " + ("yes" if ok else "NO"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
