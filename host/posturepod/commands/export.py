"""posturepod export: a recording to the CSV interchange format."""


def register(sub):
    p = sub.add_parser("export", help="export a recording (CSV interchange)")
    p.add_argument("rec")
    p.add_argument("--format", default="csv", choices=["csv"])
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.recordings.daylog import is_daylog
    if is_daylog(a.rec):
        return _export_daylog(a)
    from posturepod.recordings.csvio import write_csv_dir
    from posturepod.recordings.loader import load
    rec = load(a.rec)
    write_csv_dir(a.out, rec)
    print(f"wrote {a.out}: " + ", ".join(f"{r}.csv ({len(p)} rows)" for r, p in rec.pods.items())
          + (f", events.csv ({len(rec.events)})" if rec.events else ""))
    return 0


DAYLOG_COLUMNS = ("time_s", "wall_utc_s", "seq", "dev_s", "mean_deg", "min_deg", "max_deg",
                  "motion_deg_s", "boot", "over", "buzz", "quiet", "nodata", "arm")


def _export_daylog(a) -> int:
    """A day-log as CSV (docs/recording.md): ``<role>_daylog.csv``, one row per record
    (time on the analysis clock, empty where the wall time is unknown), and
    ``angles.csv``: the five angles per grid second, as the sitting analysis reads them."""
    import csv
    import json
    import math
    from pathlib import Path

    import numpy as np

    from posturepod.motion.angles import ANGLE_NAMES
    from posturepod.motion.pod_angles import pod_angle_grid
    from posturepod.recordings.daylog import FLAG_NAMES, read_daylog
    dl = read_daylog(a.rec)
    grid = pod_angle_grid(dl)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    def num(x, nd=2):
        return "" if not math.isfinite(x) else f"{x:.{nd}f}"
    done = []
    for role, p in dl.pods.items():
        wall = grid.clocks[role].wall_s
        with open(out / f"{role}_daylog.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(DAYLOG_COLUMNS)
            for i in range(len(p)):
                fl = int(p.flags[i])
                w.writerow([num(wall[i] - grid.t0_wall_s, 3), num(wall[i], 3), int(p.seq[i]),
                            int(p.dev_s[i]), num(p.mean_deg[i]), num(p.min_deg[i]),
                            num(p.max_deg[i]), int(p.motion_deg_s[i]),
                            *[(fl >> b) & 1 for b in range(len(FLAG_NAMES))]])
        done.append(f"{role}_daylog.csv ({len(p)} rows)")
    s = grid.series()
    with open(out / "angles.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("time_s",) + ANGLE_NAMES)
        cols = [s.time_s] + [getattr(s, n) for n in ANGLE_NAMES]
        for row in np.column_stack(cols):
            w.writerow([num(row[0], 1)] + [num(v) for v in row[1:]])
    (out / "meta.json").write_text(json.dumps(
        {"kind": "day-log", "exported_from": str(a.rec), "t0_wall_s": grid.t0_wall_s,
         "patient": dl.meta.get("patient", "")}, indent=1))
    print(f"wrote {out}: " + ", ".join(done) + f", angles.csv ({len(s)} rows), meta.json")
    return 0
