"""Flexion test analysis of a five-minute recording, report included (issue 6: < 5 s).

    python bench/flexion.py [--minutes 5] [--repeats 3]

Simulates (not timed) a flexion recording padded with standing to --minutes, then times
``posturepod flexion REC --json --report R.html`` in a child process (median of repeats,
imports included, as a clinician would run it), and, as the baseline in the same run, the
ahrs Madgwick loop over the same recording's samples.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from posturepod.sim.simulate import simulate, write_sim
    with tempfile.TemporaryDirectory() as d:
        rec = Path(d) / "rec"
        res = simulate("flexion", 3, pattern="normal", duration_s=a.minutes * 60)
        write_sim(res, rec)
        walls = []
        for k in range(a.repeats):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "posturepod.cli", "flexion", str(rec),
                                "--json", "--report", str(Path(d) / f"r{k}.html")],
                               capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            if r.returncode:
                print(r.stderr)
                return 1
        pod = res.recording.pods["thorax"]
        n = len(pod)
        from ahrs.filters import Madgwick
        m = Madgwick(frequency=100.0)
        q = np.array([1.0, 0, 0, 0])
        t = time.perf_counter()
        for i in range(n):
            q = m.updateIMU(q, pod.gyr_rad_s[i], pod.acc_m_s2[i])
        mad = time.perf_counter() - t
    wall = statistics.median(walls)
    print(f"flexion recording: {a.minutes:g} min, 3 pods, {n} samples per pod")
    print(f"{'':52s} {'s':>7s} {'x baseline':>11s}")
    print(f"{'baseline: ahrs Madgwick over one pod (in process)':52s} {mad:7.2f} {1.0:11.2f}")
    print(f"{'posturepod flexion --json --report (child, median)':52s} {wall:7.2f} "
          f"{wall / mad:11.2f}")
    print(f"target < 5 s: {'met' if wall < 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
