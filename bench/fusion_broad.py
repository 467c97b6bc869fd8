"""Benchmark: orientation filters on BROAD (11 trials with optical ground truth).

    python bench/fusion_broad.py [--quick] [--grid] [--jobs 2]

Prints mean inclination RMSE (BROAD's heading-free metric over ``movement`` samples, NaNs
ignored, 6D) and samples/s per filter and mode, with ahrs Madgwick's samples/s as the
baseline ratio (timing: median over trials of samples / fusion time).

- VQF (causal, offline) and our two defaults run on all 11 trials at the native 285.7 Hz.
- The ahrs filters (pure-Python loops, 5-25 k samples/s) run on every trial decimated to
  71.4 Hz (block means of 4 samples): all 11 trials, or 4 with ``--quick``. VQF and the
  defaults are also scored on that decimated data, for a like-for-like column.
- ``--grid`` re-runs the small grid search behind ``posturepod.motion.fusion.TUNED`` (causal,
  decimated, slower: several minutes) and prints the chosen values.

Data: ``../shared/data/broad/*.npz`` beside the checkout. Cite: Laidig et al., "BROAD - A
Benchmark for Robust Inertial Orientation Estimation", Data 6(7):72, 2021.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
BROAD = SHARED / "data" / "broad"
DEC = 4
GRID = {
    "madgwick": [dict(gain=g) for g in (0.005, 0.01, 0.02, 0.033, 0.06)],
    "mahony": [dict(k_p=kp, k_i=ki) for kp, ki in ((0.05, 0.0), (0.1, 0.0), (0.2, 0.0),
                                                    (0.4, 0.0), (0.1, 0.001), (1.0, 0.3))],
    "ekf": [dict(var_acc=v) for v in (0.25, 2.0, 8.0, 32.0)],
}


def load_trials(quick: bool = False):
    files = sorted(BROAD.glob("*.npz"))
    if not files:
        sys.exit(f"BROAD data not found: {BROAD}/*.npz (expected ../shared beside the "
                 f"checkout)")
    out = []
    for f in files:
        d = np.load(f)
        out.append(dict(name=f.stem, gyr=d["imu_gyr"].astype(float),
                        acc=d["imu_acc"].astype(float), quat=d["opt_quat"].astype(float),
                        movement=d["movement"].astype(bool), rate=float(d["sampling_rate"])))
    return out


def decimate(tr: dict, k: int = DEC) -> dict:
    n = len(tr["gyr"]) // k * k
    # a filter's output after a block describes the block's last sample: compare there
    return dict(name=tr["name"], gyr=tr["gyr"][:n].reshape(-1, k, 3).mean(1),
                acc=tr["acc"][:n].reshape(-1, k, 3).mean(1), quat=tr["quat"][k - 1:n:k],
                movement=tr["movement"][k - 1:n:k], rate=tr["rate"] / k)


def score(tr: dict, settings) -> tuple[float, float, int]:
    """(inclination RMSE deg, seconds, samples) of one trial."""
    from posturepod.motion.fusion import fuse, inclination_error_deg
    n = len(tr["gyr"])
    t = np.arange(n) / tr["rate"]
    t0 = time.perf_counter()
    q = fuse(t, tr["gyr"], tr["acc"], None, replace(settings, rate_hz=tr["rate"]))
    dt = time.perf_counter() - t0
    e = inclination_error_deg(q, tr["quat"])[tr["movement"]]
    e = e[~np.isnan(e)]
    return float(np.sqrt(np.mean(e ** 2))), dt, n


def _job(args):
    trials, settings = args
    return [score(tr, settings) for tr in trials]


def evaluate(pool, trials, settings) -> tuple[float, float, list[float]]:
    """Mean RMSE, median samples/s, per-trial RMSE; trials split over the pool."""
    chunks = [trials[i::2] for i in range(2)]
    res = [r for part in pool.map(_job, [(c, settings) for c in chunks]) for r in part]
    order = [tr["name"] for c in chunks for tr in c]
    by = dict(zip(order, res))
    rm = [by[tr["name"]][0] for tr in trials]
    rate = float(np.median([r[2] / r[1] for r in res]))
    return float(np.mean(rm)), rate, rm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="ahrs filters on 4 trials only (VQF and defaults still on all 11)")
    ap.add_argument("--grid", action="store_true", help="re-run the ahrs grid search")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    from posturepod.motion.fusion import (
        LIVE_DEFAULT, RECORDED_DEFAULT, TUNED, FusionSettings, settings_for)
    trials = load_trials()
    dec = [decimate(tr) for tr in trials]
    dec_ahrs = [dec[i] for i in (0, 2, 6, 8)] if args.quick else dec
    print(f"BROAD: {len(trials)} trials, {sum(len(t['gyr']) for t in trials)} samples at "
          f"{trials[0]['rate']:.1f} Hz; ahrs filters on {len(dec_ahrs)} trials at "
          f"{dec[0]['rate']:.1f} Hz (block mean of {DEC})")
    t_start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        if args.grid:
            for name, grid in GRID.items():
                best = None
                for kw in grid:
                    m, _, _ = evaluate(pool, dec_ahrs, settings_for(name, causal=True, **kw))
                    print(f"  grid {name:8s} {kw}: {m:.3f} deg", flush=True)
                    if best is None or m < best[0]:
                        best = (m, kw)
                print(f"  chosen {name}: {best[1]} ({best[0]:.3f} deg); "
                      f"in posturepod.motion.fusion.TUNED: {TUNED[name]}", flush=True)
        vqf_c = replace(LIVE_DEFAULT, vqf_params={})
        vqf_o = replace(RECORDED_DEFAULT, vqf_params={})
        plan = [("ahrs madgwick (gain 0.033, ahrs default)", "madgwick", True,
                 replace(FusionSettings(filter="madgwick", causal=True), rest_bias=False)),
                ("VQF causal (vqf defaults)", "vqf", True, vqf_c),
                ("offlineVQF (vqf defaults)", "vqf", False, vqf_o),
                ("LIVE_DEFAULT (causal VQF, tuned)", "vqf", True, LIVE_DEFAULT),
                ("RECORDED_DEFAULT (offlineVQF, tuned)", "vqf", False, RECORDED_DEFAULT)]
        for name in ("madgwick", "mahony", "ekf"):
            for causal in (True, False):
                plan.append((f"{name} {TUNED[name]} {'causal' if causal else 'fwd-bwd'}",
                             name, causal, settings_for(name, causal=causal)))
        base_rate = None
        for label, name, causal, s in plan:
            full = (None, None)
            if name == "vqf":
                full = evaluate(pool, trials, s)[:2]
            m_dec, r_dec, _ = evaluate(pool, dec_ahrs, s)
            if base_rate is None:
                base_rate = r_dec
            rows.append((label, full[0], m_dec, full[1] or r_dec))
            print(f"  ... {label}: done", file=sys.stderr, flush=True)
    print()
    print(f"{'filter / mode':58s} {'11 @285Hz':>9s} {'@71Hz':>7s} {'samples/s':>10s} "
          f"{'x Madgwick':>10s}")
    for label, full, m_dec, rate in rows:
        f = f"{full:9.3f}" if full is not None else f"{'-':>9s}"
        print(f"{label:58s} {f} {m_dec:7.3f} {rate:10.0f} {rate / base_rate:10.1f}")
    print("\nmean inclination RMSE, degrees (6D, movement samples); BROAD README bars on "
          "these 11 trials: offlineVQF 0.47, causal VQF 0.60")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
