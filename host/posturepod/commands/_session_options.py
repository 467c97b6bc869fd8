"""Options shared by the clinical analyses (``posturepod flexion``, ``posturepod sitting``):
the recording, the outputs, the patient, and the live capture that records first."""
from __future__ import annotations


def add_session_arguments(p, *, name: str, live: str, earlier: str) -> None:
    """REC, --json, --report, --patient, --no-save; and --pod, --out, --no-live for the
    live capture. ``name``: the result file is ``<name>.json``; ``live``: what the live
    capture is called in the help; ``earlier``: what the patient ID is used for."""
    p.add_argument("rec", nargs="?", metavar="REC",
                   help="recording directory (native or CSV interchange)")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON object on stdout and nothing else")
    p.add_argument("--report", metavar="FILE.html", help="write the HTML report")
    p.add_argument("--patient", metavar="ID",
                   help=f"pseudonymous patient ID (no name): stored with the result; {earlier}")
    p.add_argument("--history", metavar="DIR",
                   help="the patient folder with the earlier sessions (default: the folder "
                        "that holds REC: recordings side by side, one level deep)")
    p.add_argument("--no-save", action="store_true",
                   help=f"do not write {name}.json beside the recording")
    p.add_argument("--pod", action="append", metavar="ROLE=PORT",
                   help=f"{live} from the pods: pelvis=PORT thorax=PORT head=PORT (repeat); "
                        "REC is then the new recording directory")
    p.add_argument("--out", metavar="DIR",
                   help=f"{live}: recording directory (default: {name}-<date-time>)")
    p.add_argument("--no-live", action="store_true", help=f"{live}: no live view")
    add_calibration_arguments(p)


def add_calibration_arguments(p) -> None:
    """--calibration FILE and --accept-doubtful-calibration (angles, flexion, sitting)."""
    p.add_argument("--calibration", metavar="FILE",
                   help="reuse the calibration of an earlier recording (its calibration.json) "
                        "for a day on which the pods were not moved; the recording's own "
                        "stands show whether they were")
    p.add_argument("--accept-doubtful-calibration", action="store_true",
                   help="analyse even when the calibration failed its checks (the result "
                        "and report then say so prominently); without it a failed "
                        "calibration stops with a message naming the pod and what to redo")


def calibration_text(cal: dict) -> list[str]:
    """Lines for the text output: one when good, the grade and its reasons otherwise."""
    src = str(cal.get("source", "automatic"))
    src = {"automatic": "found in the recording", "events": "from the guided capture's "
           "events"}.get(src, "reused from " + src.removeprefix("file:"))
    head = f"calibration: {cal['quality'].upper()} ({src})"
    if cal["quality"] == "good":
        return [head]
    bar = "!" * 8
    return [f"{bar} {head} {bar}"] + [f"  - {r}" for r in cal.get("reasons", [])]


def analyse_to_files(name: str, register, run, rec_path, report=None, patient=None) -> int:
    """Run the analysis command ``name`` on a recording as if typed
    ``posturepod NAME REC [--report F] [--patient ID]``: its own parser gives every other
    option its default (one declaration)."""
    import argparse
    p = argparse.ArgumentParser(prog="posturepod")
    register(p.add_subparsers(dest="command"))
    argv = [name, str(rec_path)] + (["--report", str(report)] if report else []) \
        + (["--patient", patient] if patient else [])
    return run(p.parse_args(argv))
