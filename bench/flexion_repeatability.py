"""Repeatability of the flexion test's measured peaks: how far the pipeline's peak pelvic
rotation and lumbar share of one repetition are from the simulator's truth.

    python bench/flexion_repeatability.py [--recordings 12] [--sway 0 1] [--seed0 0]

For each sway level (restless standing, ``simulate(..., sway=LEVEL)``) and each kind of
patient, ``--recordings`` simulated recordings (not timed separately) go through the whole
offline pipeline: ``recording_angles`` (calibration + fusion), then
``flexion.analysis.analyze`` with the recording's events. Each found repetition is paired
with the truth repetition of the nearest peak time, and its errors (measured - truth) of
``peak_pelvis_deg`` and ``lumbar_share`` are pooled. Patients:

* ``normal``, ``inhibited``: the simulator's own patients (pelvis 60-70 / 21-39 deg);
* ``borderline``: ``pelvis_deg`` drawn in 45-55 deg and ``lumbar_share`` in 0.45-0.55 per
  recording (half with the normal timing, half with the inhibited one), i.e. right at the
  verdict rule (pelvis < 50 deg and share > 0.5).

The table gives, per sway level and patient kind: repetitions, bias (mean error), SD, and
the median, 95th percentile and maximum of the absolute error. The last lines give the values
suggested for ``VerdictRule.sigma_pelvis_deg`` / ``sigma_share``: the largest SD of any
row, or the largest p95 of any row divided by k (so that the +-k sigma band covers at least
95 % of the errors of every kind of patient), whichever is larger, rounded up to
0.25 deg / 0.0025; and how the borderline repetitions fare with the rule's defaults: judged
right, left ``inconclusive``, or judged wrong (against the rule applied to the truth peaks).
Recordings whose calibration routine is refused (possible at sway 2 and more) are skipped
and counted.

Timing: the whole run (simulation, angles, analysis) and, as the baseline in the same run,
one ahrs Madgwick loop over the thoracic pod's samples of the first recording; the ratio
is what to compare between machines.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

KINDS = ("normal", "inhibited", "borderline")


def _patient(kind: str, seed: int) -> dict:
    """simulate() keywords of one patient."""
    if kind == "normal":
        return {"pattern": "normal"}
    if kind == "inhibited":
        return {"pattern": "inhibited_hip"}
    rng = np.random.default_rng([seed, 4242])
    return {"pattern": "normal" if seed % 2 == 0 else "inhibited_hip",
            "pelvis_deg": round(float(rng.uniform(45.0, 55.0)), 2),
            "lumbar_share": round(float(rng.uniform(0.45, 0.55)), 3)}


def _has_sim_options() -> bool:
    import inspect

    from posturepod.sim.simulate import simulate
    params = inspect.signature(simulate).parameters
    return all(p in params for p in ("sway", "pelvis_deg", "lumbar_share"))


def measure(kind: str, sway: float, n: int, seed0: int, rule) -> dict:
    """Errors of the measured peaks over ``n`` recordings of one kind of patient."""
    from posturepod.flexion.analysis import INCONCLUSIVE, analyze
    from posturepod.motion.angles import recording_angles
    from posturepod.motion.calibration import CalibrationError
    from posturepod.sim.simulate import simulate
    e_pel, e_share, verdicts, failed = [], [], {"right": 0, "inconclusive": 0, "wrong": 0}, []
    refused: list[tuple[int, str]] = []
    seed, done = seed0, 0
    first = None
    while done < n and seed < seed0 + 4 * n:
        kw = _patient(kind, seed)
        if sway:
            kw["sway"] = sway
        try:
            sim = simulate("flexion", seed, **kw)
        except ValueError as e:          # a few parameter draws are refused: skip them
            failed.append((seed, str(e)))
            seed += 1
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                series = recording_angles(sim.recording)
        except CalibrationError as e:    # restless patients: the routine may be refused
            refused.append((seed, str(e)))
            seed += 1
            continue
        if first is None:
            first = sim
        res = analyze(series, events=sim.recording.events)
        for tr in sim.truth["reps"]:
            if not res.reps:
                break
            rep = min(res.reps, key=lambda r: abs(r.peak_s - tr["peak_s"]))
            if abs(rep.peak_s - tr["peak_s"]) > 1.5 or rep.peak_pelvis_deg is None \
                    or rep.lumbar_share is None:
                continue
            e_pel.append(rep.peak_pelvis_deg - tr["peak_pelvis_deg"])
            e_share.append(rep.lumbar_share - tr["lumbar_share"])
            if kind == "borderline":
                truth, _ = rule.classify(tr["peak_trunk_deg"], tr["peak_pelvis_deg"],
                                         tr["lumbar_share"], band=False)
                if rep.pattern == INCONCLUSIVE:
                    verdicts["inconclusive"] += 1
                else:
                    verdicts["right" if rep.pattern == truth else "wrong"] += 1
        done += 1
        seed += 1
    return {"kind": kind, "sway": sway, "recordings": done, "failed": failed,
            "refused": refused,
            "pelvis": np.asarray(e_pel), "share": np.asarray(e_share),
            "verdicts": verdicts, "first": first}


def _stats(e: np.ndarray) -> tuple[float, float, float, float, float]:
    """(bias, SD, median |error|, p95 of |error|, max |error|)."""
    if not len(e):
        return math.nan, math.nan, math.nan, math.nan, math.nan
    a = np.abs(e)
    return (float(np.mean(e)), float(np.std(e, ddof=1)) if len(e) > 1 else 0.0,
            float(np.median(a)), float(np.percentile(a, 95)), float(a.max()))


def _cells(pelvis: np.ndarray, share: np.ndarray) -> str:
    bp, sp, dp, pp, mp = _stats(pelvis)
    bs, ss, ds, ps, ms = _stats(share)
    return (f"{bp:+16.2f} {sp:5.2f} {dp:5.2f} {pp:5.2f} {mp:5.2f} | "
            f"{bs:+11.4f} {ss:6.4f} {ds:6.4f} {ps:6.4f} {ms:6.4f}")


def _round_up(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--recordings", type=int, default=12,
                    help="simulated recordings per sway level and kind of patient")
    ap.add_argument("--sway", type=float, nargs="+", default=[0.0, 1.0],
                    help="sway levels (restless standing, 0-3)")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--seed0", type=int, default=0)
    a = ap.parse_args(argv)
    from posturepod.flexion.analysis import VerdictRule
    rule = VerdictRule()
    sway_levels = list(a.sway)
    kinds = list(a.kinds)
    if not _has_sim_options():
        print("note: this simulate() has no sway / pelvis_deg / lumbar_share options: "
              "default patients, no sway", file=sys.stderr)
        sway_levels, kinds = [0.0], [k for k in kinds if k != "borderline"]
    t0 = time.perf_counter()
    rows = []
    for sway in sway_levels:
        for kind in kinds:
            rows.append(measure(kind, sway, a.recordings, a.seed0, rule))
            r = rows[-1]
            print(f"  ... sway {sway:g} {kind}: {r['recordings']} recordings, "
                  f"{len(r['pelvis'])} reps", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    n_rec = sum(r["recordings"] for r in rows)

    # baseline: one ahrs Madgwick loop over one pod's samples, same run
    pod = next(r["first"] for r in rows if r["first"] is not None).recording.pods["thorax"]
    from ahrs.filters import Madgwick
    m = Madgwick(frequency=100.0)
    q = np.array([1.0, 0, 0, 0])
    tb = time.perf_counter()
    for i in range(len(pod)):
        q = m.updateIMU(q, pod.gyr_rad_s[i], pod.acc_m_s2[i])
    base = time.perf_counter() - tb

    print()
    print("error = measured - truth of one repetition's peak; bias = mean error; med, p95, "
          "max of |error|")
    print(f"{'sway':>4s} {'patients':10s} {'rec':>3s} {'reps':>4s} | "
          f"{'pelvis deg: bias':>16s} {'SD':>5s} {'med':>5s} {'p95':>5s} {'max':>5s} | "
          f"{'share: bias':>11s} {'SD':>6s} {'med':>6s} {'p95':>6s} {'max':>6s}")
    all_p, all_s = [], []
    for r in rows:
        all_p.append(r["pelvis"])
        all_s.append(r["share"])
        print(f"{r['sway']:4g} {r['kind']:10s} {r['recordings']:3d} {len(r['pelvis']):4d} | "
              + _cells(r["pelvis"], r["share"]))
    p = np.concatenate(all_p)
    s = np.concatenate(all_s)
    print(f"{'all':>4s} {'':10s} {n_rec:3d} {len(p):4d} | " + _cells(p, s))
    k = rule.k_sigma
    sug = {}
    for key, step in (("pelvis", 0.25), ("share", 0.0025)):
        st = [_stats(r[key]) for r in rows if len(r[key]) > 1]
        sd, p95 = max(x[1] for x in st), max(x[3] for x in st)
        sug[key] = (sd, p95, _round_up(max(sd, p95 / k), step))
    print(f"\nsuggested sigma = max(largest SD of a row, largest p95 of a row / k={k:g}), "
          f"rounded up to 0.25 deg / 0.0025:")
    print(f"  pelvis: SD {sug['pelvis'][0]:.2f}, p95 {sug['pelvis'][1]:.2f} -> "
          f"{sug['pelvis'][2]:g} deg;  share: SD {sug['share'][0]:.4f}, p95 "
          f"{sug['share'][1]:.4f} -> {sug['share'][2]:g}")
    print(f"in use (VerdictRule defaults): sigma_pelvis_deg {rule.sigma_pelvis_deg:g}, "
          f"sigma_share {rule.sigma_share:g}, k {rule.k_sigma:g}: band +-"
          f"{rule.k_sigma * rule.sigma_pelvis_deg:g} deg, +-"
          f"{rule.k_sigma * rule.sigma_share:g}; covers "
          f"{100 * np.mean(np.abs(p) < rule.k_sigma * rule.sigma_pelvis_deg):.1f}% of the "
          f"pelvis errors, {100 * np.mean(np.abs(s) < rule.k_sigma * rule.sigma_share):.1f}% "
          f"of the share errors")
    for r in rows:
        if r["kind"] == "borderline":
            v = r["verdicts"]
            print(f"borderline patients, sway {r['sway']:g}: {v['right']} reps judged right, "
                  f"{v['inconclusive']} inconclusive, {v['wrong']} judged wrong")
    failed = [f for r in rows for f in r["failed"]]
    if failed:
        print(f"simulate() refused {len(failed)} draw(s), e.g. seed {failed[0][0]}: "
              f"{failed[0][1]}")
    refused = [(r["sway"], f) for r in rows for f in r["refused"]]
    if refused:
        print(f"calibration refused {len(refused)} recording(s) (skipped, others taken "
              f"instead), e.g. sway {refused[0][0]:g} seed {refused[0][1][0]}: "
              f"{refused[0][1][1][:100]}")
    print()
    print(f"{'':56s} {'s':>7s} {'x baseline':>11s}")
    print(f"{'baseline: ahrs Madgwick over one pod (' + str(len(pod)) + ' samples)':56s} "
          f"{base:7.2f} {1.0:11.2f}")
    print(f"{f'this run: {n_rec} recordings simulated + angles + analysis':56s} "
          f"{wall:7.2f} {wall / base:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
