"""Live causal path: time from a frame's arrival at the host to all its samples' angles
being updated, three virtual boards (real firmware) at RATE Hz for SECONDS.

    python bench/live_latency.py [--rate-hz 100] [--seconds 20]

Baseline in the same run: one ahrs Madgwick update (per-sample cost of the best-known
pure-Python filter). Target (issue 5): all three pods' angles within 5 ms of arrival.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate-hz", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()
    from posturepod.pods.acquire import record
    from posturepod.motion.live import LiveAngles
    from posturepod.devices.virtual.patient import VirtualPatient
    state = {}

    def connected(session):
        infos = {r: ps.link.info for r, ps in session.pods.items()}
        state["live"] = LiveAngles(infos, t0=session.recorder.t0)
        session.on_samples = state["live"].on_samples

    with tempfile.TemporaryDirectory() as d:
        with VirtualPatient(Path(d) / "b", rate_hz=a.rate_hz) as vp:
            record(vp.links, Path(d) / "rec", seconds=a.seconds, live=False,
                   on_connected=connected)
    lat = np.array(state["live"].latency_s) * 1e3
    from ahrs.filters import Madgwick
    m = Madgwick(frequency=a.rate_hz)
    q = np.array([1.0, 0, 0, 0])
    g = np.array([0.01, 0.02, 0.03])
    acc = np.array([0.0, 0.0, 9.81])
    reps = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(2000):
            q = m.updateIMU(q, g, acc)
        reps.append((time.perf_counter() - t) / 2000 * 1e3)
    base = float(np.median(reps))
    print(f"3 pods x {a.rate_hz} Hz, {len(lat)} frames")
    print(f"{'':40s} {'ms':>8s} {'x Madgwick update':>18s}")
    print(f"{'baseline: one ahrs Madgwick updateIMU':40s} {base:8.3f} {1.0:18.1f}")
    for name, v in (("arrival -> angles, median", np.median(lat)),
                    ("arrival -> angles, 99th percentile", np.percentile(lat, 99)),
                    ("arrival -> angles, max", lat.max())):
        print(f"{name:40s} {v:8.3f} {v / base:18.1f}")
    print("target <= 5 ms: " + ("met" if np.percentile(lat, 99) <= 5 else "NOT met (p99)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
