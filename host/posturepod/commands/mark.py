"""posturepod mark: add an event to a recording (while it records, or after)."""
import json
import time


def register(sub):
    p = sub.add_parser("mark", help="mark a moment in a recording in progress")
    p.add_argument("rec", help="the directory of the recording in progress (record --out)")
    p.add_argument("label", help="what happened, e.g. sit_reference, rep_start, or a word of "
                   "your own (events.jsonl; the analyses know the documented labels)")
    p.add_argument("--time-s", type=float, help="recording time (default: now)")
    p.set_defaults(func=_run)


def _run(a):
    from pathlib import Path
    from posturepod.recordings.reader import read_meta
    path = Path(a.rec)
    meta = read_meta(path)
    t = a.time_s if a.time_s is not None else time.monotonic() - float(meta["t0_monotonic_s"])
    with open(path / "events.jsonl", "a") as f:
        f.write(json.dumps({"time_s": round(t, 6), "label": a.label, "source": "cli"}) + "\n")
    print(f"{a.label} at {t:.3f} s")
    return 0
