"""Benchmark: file to angles for a whole day.

    python bench/day.py [--hours 8] [--rate 50] [--dir DIR] [--causal] [--no-sitting]

Part 2 (issue 7, bench/day_sitting.py): a simulated 8-hour sitting day analysed with
``posturepod sitting DAY --json --report`` in a child process: wall time (budget 30 s) and
peak memory (budget 600 MB), and the accuracy against the simulator's truth.

Synthesizes (not timed, cached in DIR, default /tmp/posturepod-bench-day) an ``--hours``
long, three-pod CSV recording at ``--rate`` Hz: the calibration routine, then slow random
sagittal motion of pelvis, thorax and head with heading changes, random pod mountings,
gyro bias and noise. Then runs ``posturepod angles DAY -o DAY/angles.csv`` in a child
process and prints its wall time and peak memory (max RSS of that child alone), the angle
accuracy against the synthetic truth, and the ahrs Madgwick per-sample loop timed on a
slice of the same data, as a throughput ratio. Target: <= 20 s for 8 h at 50 Hz on 2 cores.

Functions are importable: ``make_day``, ``run_angles``, ``madgwick_rate``, ``accuracy``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TARGET_S = 20.0
ROLES = ("pelvis", "thorax", "head")


def _smooth_noise(rng, n, rate, tau_s, amp):
    """Low-pass random signal (n,) with time scale tau_s and std ~amp."""
    step = max(int(tau_s * rate / 4), 1)
    k = n // step + 3
    knots = rng.normal(0, amp, k)
    return np.interp(np.arange(n) / step, np.arange(k), knots)


def synth_day(hours: float = 8.0, rate_hz: float = 50.0, seed: int = 0):
    """In-memory Recording and truth {role: theta_deg (N,)} on the shared time axis."""
    from posturepod.recordings.data import PodData, Recording
    from posturepod.motion.fusion import ideal_imu
    from posturepod.motion.quaternion import mul as qmul
    from scipy.spatial.transform import Rotation
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * rate_hz)
    t = np.arange(n) / rate_hz
    # calibration: 6 s stand, 45 deg bend (3 s down, 0.7 s hold, 3 s up), then free motion
    x1 = np.clip((t - 6.0) / 3.0, 0, 1)
    x2 = np.clip((t - 9.7) / 3.0, 0, 1)
    bend = 45.0 * ((0.5 - 0.5 * np.cos(np.pi * x1)) - (0.5 - 0.5 * np.cos(np.pi * x2)))
    on = np.clip((t - 16.0) / 2.0, 0, 1)
    base = {"pelvis": -15.0 * _smooth_noise(rng, n, rate_hz, 600, 1.0).clip(-1, 1.5),
            "thorax": 20 * _smooth_noise(rng, n, rate_hz, 300, 1.0),
            "head": 15 * _smooth_noise(rng, n, rate_hz, 120, 1.0)}
    fast = {r: _smooth_noise(rng, n, rate_hz, 4.0, a) for r, a in
            (("pelvis", 2.0), ("thorax", 4.0), ("head", 6.0))}
    heading = np.degrees(np.cumsum(_smooth_noise(rng, n, rate_hz, 30, 0.002)))
    share = {"pelvis": 0.35, "thorax": 1.0, "head": 1.15}
    pods, truth = {}, {}
    for role in ROLES:
        th = share[role] * bend + on * (base[role] + fast[role])
        hz = np.radians(heading) * on
        q_seg = qmul(np.column_stack([np.cos(hz / 2), 0 * hz, 0 * hz, np.sin(hz / 2)]),
                     np.column_stack([np.cos(np.radians(th) / 2), 0 * th,
                                      np.sin(np.radians(th) / 2), 0 * th]))
        x, y, z, w = Rotation.random(random_state=rng).as_quat()
        q_sensor = qmul(q_seg, np.array([w, x, y, z]))
        del q_seg
        gyr, acc = ideal_imu(t, q_sensor)
        del q_sensor
        gyr += rng.normal(0, np.radians(1.0), 3) + rng.normal(0, 0.004, gyr.shape)
        acc += rng.normal(0, 0.03, acc.shape)
        pods[role] = PodData(role, t.copy(), acc, gyr)
        truth[role] = th.astype(np.float32)
    return Recording(path=None, pods=pods), t, truth


def make_day(out_dir: Path, hours: float, rate_hz: float, seed: int = 0) -> Path:
    """Write the synthetic day as a CSV interchange directory (plus truth.npz), cached."""
    from posturepod.recordings.csvio import write_csv_dir
    out_dir = Path(out_dir)
    stamp = out_dir / ".day-bench.json"
    want = {"hours": hours, "rate_hz": rate_hz, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return out_dir
    rec, t, truth = synth_day(hours, rate_hz, seed)
    write_csv_dir(out_dir, rec)
    np.savez_compressed(out_dir / "truth.npz", time_s=t[::10].astype(np.float64),
                        **{r: v[::10] for r, v in truth.items()})
    stamp.write_text(json.dumps(want))
    return out_dir


def run_angles(day: Path, causal: bool = False) -> tuple[float, float, Path]:
    """``posturepod angles`` in a child process: (wall s, peak RSS MB of the child, out)."""
    out = Path(day) / "angles.csv"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from day_sitting import run_cli
    args = ["angles", str(day), "-o", str(out)] + (["--causal"] if causal else [])
    rc, wall, peak_mb, so, se = run_cli(args)
    if rc:
        sys.exit(f"posturepod angles failed:\n{so}\n{se}")
    return wall, peak_mb, out


def madgwick_rate(day: Path, n: int = 3000) -> float:
    """ahrs Madgwick updateIMU loop over n samples of the day's pelvis data: samples/s."""
    from ahrs.filters import Madgwick
    arr = np.loadtxt(Path(day) / "pelvis.csv", delimiter=",", skiprows=1, max_rows=n + 1)
    g, a = arr[:, 4:7], arr[:, 1:4]
    f = Madgwick(frequency=50.0, gain=0.033)
    q = np.array([1.0, 0, 0, 0])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(len(g)):
            q = f.updateIMU(q, g[i], a[i])
        times.append(time.perf_counter() - t0)
    return len(g) / float(np.median(times))


def stages(day: Path, causal: bool = False) -> dict:
    """In-process wall time of each stage: load (CSV parse), calibrate, angles (fusion,
    resampling; no CSV write)."""
    from posturepod.motion.angles import iter_angles
    from posturepod.motion.calibration import calibrate
    from posturepod.recordings.loader import load
    out = {}
    t0 = time.perf_counter()
    rec = load(day)
    out["load (CSV parse)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cal = calibrate(rec, warn=False)
    out["calibrate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in iter_angles(rec, causal=causal, calibration=cal):
        pass
    out["fusion + angles"] = time.perf_counter() - t0
    return out


def accuracy(day: Path, out: Path) -> dict:
    """RMSE and max |error| (deg) of pelvis/thorax/head against the synthetic truth."""
    tr = np.load(Path(day) / "truth.npz")
    ang = np.loadtxt(out, delimiter=",", skiprows=1)
    res = {}
    for k, role in enumerate(ROLES, start=1):
        est = np.interp(tr["time_s"], ang[:, 0], ang[:, k])
        d = est - tr[role]
        d = d[~np.isnan(d)]
        res[role] = (float(np.sqrt(np.mean(d ** 2))), float(np.max(np.abs(d))))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/posturepod-bench-day"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--causal", action="store_true", help="time the live (causal) filter")
    ap.add_argument("--no-sitting", action="store_true",
                    help="skip the sitting-day analysis + report part (bench/day_sitting.py)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    day = make_day(args.dir, args.hours, args.rate, args.seed)
    print(f"day: {day} ({args.hours:g} h, 3 pods, {args.rate:g} Hz), ready in "
          f"{time.perf_counter() - t0:.1f} s (not timed)")
    wall, peak_mb, out = run_angles(day, args.causal)
    n = int(args.hours * 3600 * args.rate) * 3
    ours = n / wall
    mad = madgwick_rate(day)
    print(f"file to angles ({'causal VQF' if args.causal else 'offline VQF'}): "
          f"{wall:.1f} s wall (target <= {TARGET_S:.0f} s), peak RSS {peak_mb:.0f} MB")
    print(f"throughput: {ours / 1e3:.0f} k samples/s end to end (CSV parse, calibration, "
          f"fusion, angles, CSV write)")
    print(f"ahrs Madgwick updateIMU loop: {mad / 1e3:.1f} k samples/s (median of 3) -> "
          f"ours is {ours / mad:.0f}x; Madgwick alone would need {n / mad:.0f} s")
    for role, (rmse, mx) in accuracy(day, out).items():
        print(f"  {role:7s} angle RMSE {rmse:.2f} deg, max {mx:.2f} deg")
    st = stages(day, args.causal)
    print("stages (in process): " + ", ".join(f"{k} {v:.1f} s" for k, v in st.items()))
    ok = wall <= TARGET_S
    if not args.no_sitting:
        # issue 7: the sitting analysis of a simulated 8-hour day, report included
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from day_sitting import run_sitting_day
        r = run_sitting_day(args.hours, args.rate, args.seed)
        ok = ok and r["within_budget"]
        r = run_sitting_day(args.hours, args.rate, args.seed, native=True)
        ok = ok and r["within_budget"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
