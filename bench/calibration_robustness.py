"""Calibration robustness: restless patients, from perfectly still to three times as
restless as real people stand.

For each sway level (a multiple of real quiet-standing sway: head about 1 / 1.5 / 2 deg
pitch / roll / yaw, trunk and pelvis about 0.5 deg, at 0.3-0.8 Hz; plus nodding, glancing
about and weight shifts after the stand, docs/simulation.md), simulated recordings with the
protocol exactly as documented (a 5 s stand at the very start, one 60 deg bend, no events,
so the routine must be found) are calibrated and analysed, and each is counted as:

- right: angles RMSE <= 1 deg on all five angles; flexion: every repetition's peaks
  within 2 deg and the right verdict; sitting: slouch and head-forward time within 5 % and
  every episode found (no false ones);
- refused: the calibration said it failed (a clear message naming the pod), nothing else;
- wrong: anything else (an analysis printed with confidence that is off).

Goal: all right up to 2x, zero wrong at every level.

    python bench/calibration_robustness.py [--levels 0,1,2,3] [--flexion N] [--sitting N]
                                           [--sitting-s S] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

from posturepod.flexion import analysis as F  # noqa: E402
from posturepod.motion.angles import ANGLE_NAMES, recording_angles  # noqa: E402
from posturepod.motion.calibration import CalibrationError, calibrate  # noqa: E402
from posturepod.sim.simulate import simulate  # noqa: E402
from posturepod.sitting import analyse_recording  # noqa: E402

RIGHT, REFUSED, WRONG = "right", "refused", "wrong"


def _rmse(a, b) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((np.asarray(a)[ok] - np.asarray(b)[ok]) ** 2)))


def _match_episodes(truth, got, tol_s=5.0) -> bool:
    if len(truth) != len(got):
        return False
    for t, g in zip(sorted(truth, key=lambda e: e["start_s"]),
                    sorted(got, key=lambda e: e["start_s"])):
        if abs(t["start_s"] - g["start_s"]) > tol_s or abs(t["end_s"] - g["end_s"]) > tol_s:
            return False
    return True


def _within(truth_s, got_s, rel=0.05) -> bool:
    return got_s == 0 if truth_s == 0 else abs(got_s - truth_s) <= rel * truth_s


def judge(protocol: str, seed: int, sway: float, *, pattern: str = "normal",
          duration_s: float | None = None) -> tuple[str, str]:
    """(outcome, detail) of one simulated recording; see the module docstring."""
    kw = {"pattern": pattern} if protocol == "flexion" else {"duration_s": duration_s}
    res = simulate(protocol, seed, sway=sway, exact_protocol=True, events=False,
                   rate_hz=50.0 if protocol == "sitting" else 100.0, **kw)
    rec = res.recording
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cal = calibrate(rec)
        except CalibrationError as e:
            return REFUSED, str(e)
        problems = []
        ang = recording_angles(rec, calibration=cal)
        truth = res.angles_true(ang.time_s)
        rmse = {n: _rmse(getattr(ang, n), truth[n]) for n in ANGLE_NAMES}
        worst = max(rmse, key=rmse.get)
        if rmse[worst] > 1.0:
            problems.append(f"angles RMSE {worst} {rmse[worst]:.2f} deg")
        if protocol == "flexion":
            out = F.analyze(ang, events=rec.events)
            reps = res.truth["reps"]
            if len(out.reps) != len(reps):
                problems.append(f"{len(out.reps)} repetitions for {len(reps)}")
            else:
                for r, tr in zip(out.reps, reps):
                    for key in ("peak_trunk_deg", "peak_pelvis_deg", "peak_lumbar_deg"):
                        if abs(getattr(r, key) - tr[key]) > 2.0:
                            problems.append(f"rep {r.index} {key} off by "
                                            f"{getattr(r, key) - tr[key]:+.1f}")
            if out.summary["pattern"] != pattern:
                problems.append(f"verdict {out.summary['pattern']} for {pattern}")
        else:
            s = analyse_recording(rec, calibration=cal).summary
            tr = res.truth
            for k in ("slouch", "head_forward"):
                if not _within(tr[f"{k}_s"], s[f"{k}_s"]):
                    problems.append(f"{k} {s[f'{k}_s']:.0f} s for {tr[f'{k}_s']:.0f} s")
                if not _match_episodes(tr[f"{k}_episodes"], s[f"{k}_episodes"]):
                    problems.append(f"{k} episodes {len(s[f'{k}_episodes'])} for "
                                    f"{len(tr[f'{k}_episodes'])}")
    if problems:
        return WRONG, f"calibration {cal.grade}: " + "; ".join(problems)
    return RIGHT, cal.grade


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="0,0.5,1,1.5,2,2.5,3")
    ap.add_argument("--flexion", type=int, default=4, help="flexion recordings per level")
    ap.add_argument("--sitting", type=int, default=2, help="sitting days per level")
    ap.add_argument("--sitting-s", type=float, default=2700.0, help="length of a sitting day")
    ap.add_argument("--quick", action="store_true", help="2 flexion, 1 sitting of 900 s")
    a = ap.parse_args(argv)
    if a.quick:
        a.flexion, a.sitting, a.sitting_s = 2, 1, 900.0
    levels = [float(x) for x in a.levels.split(",")]
    print(f"calibration robustness: {a.flexion} flexion + {a.sitting} sitting "
          f"({a.sitting_s / 60:.0f} min) recordings per level, protocol exact, no events")
    print(f"{'sway':>5} {'right':>6} {'refused':>8} {'wrong':>6}  {'grades (right)':<24} "
          f"s/recording")
    total_wrong = 0
    details = []
    for lv in levels:
        counts = {RIGHT: 0, REFUSED: 0, WRONG: 0}
        grades: dict[str, int] = {}
        t0 = time.perf_counter()
        cases = [("flexion", 100 + k, "normal" if k % 2 == 0 else "inhibited_hip")
                 for k in range(a.flexion)]
        cases += [("sitting", 200 + k, "") for k in range(a.sitting)]
        for proto, seed, pattern in cases:
            outcome, detail = judge(proto, seed, lv, pattern=pattern or "normal",
                                    duration_s=a.sitting_s)
            counts[outcome] += 1
            if outcome == RIGHT:
                grades[detail] = grades.get(detail, 0) + 1
            else:
                details.append(f"  {lv:g}x {proto} seed {seed}: {outcome}: {detail}")
        per = (time.perf_counter() - t0) / max(len(cases), 1)
        total_wrong += counts[WRONG]
        g = ", ".join(f"{k} {v}" for k, v in sorted(grades.items()))
        print(f"{lv:>4g}x {counts[RIGHT]:>6} {counts[REFUSED]:>8} {counts[WRONG]:>6}  "
              f"{g:<24} {per:.1f}", flush=True)
    for d in details:
        print(d)
    return 1 if total_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
