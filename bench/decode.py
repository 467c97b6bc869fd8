"""Bulk-load throughput of a native recording (samples/s) beside a naive per-frame Python
decode of the same samples as wire frames, measured in the same run.

    python bench/decode.py [--samples-per-pod N] [--repeats R]

Target (issue): >= 5 million samples/s loaded. Prints medians of R repeats.
"""
import argparse
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from posturepod.firmware.pod import wire
from posturepod.recordings.format import IMU_DTYPE
from posturepod.recordings.reader import read_recording
from posturepod.recordings.writer import RecordingWriter


def make_recording(path: Path, n: int, rate_hz: int = 100) -> None:
    w = RecordingWriter(path, t0_monotonic=0.0)
    rng = np.random.default_rng(0)
    for role in ("pelvis", "thorax", "head"):
        info = {"role": role, "odr_hz": rate_hz, "rate_hz": rate_hz,
                "acc_scale": 9.80665 / 4096, "gyr_scale": np.deg2rad(1 / 32.8)}
        w.add_pod(role, info, "bench")
        w.log("segment", role=role, seg=0, first=0, t0_dev_us=1_000_000, boot_id=1)
        seq = np.arange(n, dtype=np.int64)
        t = (1_000_000 + seq * (1_000_000 // rate_hz)) % (1 << 32)
        counts = rng.integers(-2000, 2000, size=(n, 6)).astype(np.int16)
        for k in range(0, n, 1_000_000):
            w.samples(role, seq[k:k + 1_000_000], t[k:k + 1_000_000], counts[k:k + 1_000_000])
        for s in range(0, n // rate_hz, 1):
            w.sync(role, 0, 1, float(s) + 1.0, 1_000_000 + s * 1_000_000, 0.0005)
    w.close()


def make_frames(n: int, batch: int = 2) -> bytes:
    out = bytearray()
    rec = struct.Struct("<H6h")
    for k in range(0, n, batch):
        p = struct.pack(wire.SAMPLES_HDR, k, 0, 0, batch, 0, 6)
        p += b"".join(rec.pack(10000, 1, 2, 3, 4, 5, 6) for _ in range(batch))
        out += wire.encode_frame(wire.MSG_SAMPLES, p)
    return bytes(out)


def naive_decode(stream: bytes) -> int:
    """What a straightforward host would do: split, decode each frame, unpack each sample."""
    n = 0
    rec = struct.Struct("<H6h")
    for block in stream.split(b"\x00"):
        if not block:
            continue
        t, payload = wire.decode_frame(block)
        seq0, lo, hi, cnt, flags, nax = struct.unpack_from(wire.SAMPLES_HDR, payload)
        for i in range(cnt):
            rec.unpack_from(payload, wire.SAMPLES_HDR_SIZE + i * rec.size)
            n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples-per-pod", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rec"
        make_recording(path, a.samples_per_pod)
        total = 3 * a.samples_per_pod
        size = sum(f.stat().st_size for f in path.glob("*.imu"))
        loads = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            rec = read_recording(path)      # opens: clock fit, lazy columns
            n = 0
            for p in rec.pods.values():         # then every time and SI value, in blocks
                for i0 in range(0, len(p), 1 << 16):
                    sl = slice(i0, i0 + (1 << 16))
                    n += len(p.time_s[sl]) + len(p.acc_m_s2[sl]) * 0 + len(p.gyr_rad_s[sl]) * 0
            loads.append(time.perf_counter() - t)
            assert n == total
        raw = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            np.fromfile(path / "pelvis.imu", dtype=IMU_DTYPE)
            raw.append((time.perf_counter() - t) * 3)
    nf = 20_000
    stream = make_frames(nf)
    naive = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        got = naive_decode(stream)
        naive.append(time.perf_counter() - t)
    load_rate = total / statistics.median(loads)
    raw_rate = total / statistics.median(raw)
    naive_rate = got / statistics.median(naive)
    print(f"recording: 3 pods x {a.samples_per_pod:,} samples, {size / total:.1f} bytes/sample")
    print(f"{'method':44s} {'samples/s (median)':>20s} {'x naive':>8s}")
    print(f"{'naive per-frame Python decode (baseline)':44s} {naive_rate:20,.0f} {1.0:8.1f}")
    print(f"{'np.fromfile of the records only':44s} {raw_rate:20,.0f} "
          f"{raw_rate / naive_rate:8.1f}")
    print(f"{'read_recording + all times, SI values':44s} {load_rate:20,.0f} "
          f"{load_rate / naive_rate:8.1f}")
    ok = load_rate >= 5e6
    print(f"target >= 5,000,000 samples/s loaded: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
