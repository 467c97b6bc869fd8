"""Benchmark: ``posturepod sitting`` on a simulated 8-hour, three-pod, 50 Hz desk day.

    python bench/day_sitting.py [--hours 8] [--rate 50] [--dir DIR] [--seed 0]

Generates the day with the simulator (cached in DIR, default /tmp/posturepod-bench-sitting),
then runs ``posturepod sitting DAY --json --report DAY/report.html`` in a child process and
prints its wall time and peak memory (VmHWM of that process alone), plus the accuracy
against the simulator's truth. Budget (issue 7): <= 30 s and <= 600 MB for 8 h at 50 Hz.

``run_sitting_day(...)`` is the reusable part (bench/day.py may call it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BUDGET_S = 30.0
BUDGET_MB = 600.0


def make_day(out_dir: Path, hours: float, rate_hz: float, seed: int) -> Path:
    """Simulate the day into ``out_dir`` (CSV interchange + truth.json) unless it is there."""
    out_dir = Path(out_dir)
    stamp = out_dir / ".sitting-bench.json"
    want = {"hours": hours, "rate_hz": rate_hz, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want \
            and (out_dir / "pelvis.csv").exists():
        return out_dir
    from posturepod.sim.simulate import simulate, write_sim
    t = time.perf_counter()
    res = simulate("sitting", seed=seed, rate_hz=rate_hz, duration_s=hours * 3600.0)
    write_sim(res, out_dir)
    meta_p = out_dir / "meta.json"
    meta = json.loads(meta_p.read_text()) if meta_p.exists() else {}
    meta.setdefault("recorded_at", "2026-01-05T08:30:00")
    meta_p.write_text(json.dumps(meta, indent=2))
    stamp.write_text(json.dumps(want))
    print(f"simulated {hours:g} h at {rate_hz:g} Hz in {time.perf_counter() - t:.1f} s "
          f"-> {out_dir}", file=sys.stderr)
    return out_dir


def _run_child(cmd: list[str]) -> tuple[int, float, float, str, str]:
    """Run ``cmd``; returns (exit code, wall s, peak RSS MB of that process, stdout, stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = "", ""
    # read the pipes in threads so a big stdout cannot block the child
    import threading
    bufs = {"out": [], "err": []}
    ths = [threading.Thread(target=lambda s=p.stdout, k="out": bufs[k].append(s.read())),
           threading.Thread(target=lambda s=p.stderr, k="err": bufs[k].append(s.read()))]
    for th in ths:
        th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    for th in ths:
        th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    out, err = "".join(bufs["out"]), "".join(bufs["err"])
    peak_mb = ru.ru_maxrss / 1024.0   # Linux: kilobytes
    return p.returncode, wall, peak_mb, out, err


_CLI = r"""
import atexit, sys
def _hwm():
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            open(sys.argv[1], "w").write(ln.split()[1])
atexit.register(_hwm)
from posturepod.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_cli(args: list[str]) -> tuple[int, float, float, str, str]:
    """``posturepod ARGS`` in a child process: (exit code, wall s, peak RSS MB, stdout,
    stderr). The peak is the child's own VmHWM, read as it exits: the rusage of a child
    would include the RSS of this (parent) process at fork time."""
    import tempfile
    with tempfile.NamedTemporaryFile("r", suffix=".hwm") as f:
        rc, wall, _, out, err = _run_child([sys.executable, "-c", _CLI, f.name] + args)
        try:
            peak = int(f.read().strip()) / 1024.0
        except ValueError:
            peak = float("nan")
    return rc, wall, peak, out, err


_STAGES = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
def hwm():
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024.0
    return float("nan")
def reset():
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
out = {}
t = time.perf_counter()
from posturepod.recordings.loader import load
rec = load(sys.argv[1])
out["load_s"] = time.perf_counter() - t
out["load_peak_mb"] = hwm()
reset()
t = time.perf_counter()
from posturepod.sitting import analyse_recording
res = analyse_recording(rec)
from posturepod.sitting.report import write_report
write_report(sys.argv[2], res)
out["analysis_report_s"] = time.perf_counter() - t
out["analysis_report_peak_mb"] = hwm()
print(json.dumps(out))
"""


def run_sitting_day(hours: float = 8.0, rate_hz: float = 50.0, seed: int = 0,
                    work_dir: str | Path | None = None, report: bool = True,
                    verbose: bool = True, native: bool = False, repeat: int = 3) -> dict:
    """Simulate (or reuse) a day, analyse it with the CLI in a child process and return
    ``{"wall_s", "peak_mb", "hours", "rate_hz", "within_budget", "accuracy": {...}}``;
    wall time and peak memory are medians of ``repeat`` runs."""
    work = Path(work_dir or "/tmp/posturepod-bench-sitting") / f"day-{hours:g}h-{rate_hz:g}hz-s{seed}"
    day = make_day(work, hours, rate_hz, seed)
    if native:     # the same day as a native recording (imported: not timed)
        nat = work.with_name(work.name + "-native")
        if not (nat / "recording.json").exists():
            from posturepod.recordings.csvio import read_csv_dir
            from posturepod.recordings.writer import write_native
            import shutil
            if nat.exists():
                shutil.rmtree(nat)
            write_native(read_csv_dir(day), nat)
            shutil.copy2(day / "truth.json", nat / "truth.json")
        day = nat
    cmd = ["sitting", str(day), "--json", "--patient", "BENCH"]
    if report:
        cmd += ["--report", str(day / "report.html")]
    walls, peaks = [], []
    for _ in range(max(int(repeat), 1)):
        rc, wall, peak, out, err = run_cli(cmd)
        if rc != 0:
            raise RuntimeError(f"posturepod sitting failed ({rc}):\n{err}")
        walls.append(wall)
        peaks.append(peak)
    wall, peak = float(np.median(walls)), float(np.median(peaks))
    res = json.loads(out)
    # stages: loading the recording vs angles + sitting analysis + report (peak RSS reset
    # between them through /proc/self/clear_refs)
    rc2, _, _, out2, err2 = _run_child([sys.executable, "-c", _STAGES, str(day),
                                        str(day / "report-stages.html")])
    stages = json.loads(out2) if rc2 == 0 else {"error": err2[-500:]}
    acc = {}
    truth_p = day / "truth.json"
    if truth_p.exists():
        tr = json.loads(truth_p.read_text())
        for k in ("slouch_s", "head_forward_s", "sitting_s"):
            if k in tr and tr[k]:
                acc[k] = {"measured": res[k], "truth": round(tr[k], 1),
                          "error_pct": round(100.0 * (res[k] - tr[k]) / tr[k], 2)}
        for k in ("slouch_episodes", "head_forward_episodes", "breaks"):
            if k in tr:
                acc[k] = {"measured": len(res[k]), "truth": len(tr[k])}
    out_d = {"hours": hours, "rate_hz": rate_hz, "seed": seed, "wall_s": round(wall, 2),
             "peak_mb": round(peak, 1),
             "stages": {k: round(v, 2) for k, v in stages.items() if isinstance(v, float)},
             "within_budget": wall <= BUDGET_S * hours / 8.0 and peak <= BUDGET_MB,
             "accuracy": acc, "report": str(day / "report.html") if report else None}
    if verbose:
        print(f"sitting day {hours:g} h, 3 pods, {rate_hz:g} Hz, "
              f"{'native recording' if native else 'CSV interchange'}, median of "
              f"{len(walls)}: wall {wall:.1f} s "
              f"(budget {BUDGET_S * hours / 8.0:.0f} s), peak memory {peak:.0f} MB "
              f"(budget {BUDGET_MB:.0f} MB)")
        st = out_d["stages"]
        if st:
            print(f"  stages: load {st.get('load_s', 0):.1f} s (peak "
                  f"{st.get('load_peak_mb', 0):.0f} MB); angles + analysis + report "
                  f"{st.get('analysis_report_s', 0):.1f} s (peak "
                  f"{st.get('analysis_report_peak_mb', 0):.0f} MB)")
        for k, v in acc.items():
            print(f"  {k}: {v}")
    return out_d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--native", action="store_true",
                    help="analyse the day as a native recording instead of CSV")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--repeat", type=int, default=3, help="runs to take the median of")
    a = ap.parse_args(argv)
    r = run_sitting_day(a.hours, a.rate, a.seed, a.dir, report=not a.no_report,
                        verbose=not a.json, native=a.native, repeat=a.repeat)
    if a.json:
        print(json.dumps(r))
    return 0 if r["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
