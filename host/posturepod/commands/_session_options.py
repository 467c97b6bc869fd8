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
    add_placement_arguments(p, stored=f"{live}: stored in the recording; offline: used "
                                      f"for this result instead of the recording's")


def add_placement_arguments(p, *, stored: str = "stored in the recording") -> None:
    """--thorax-level, --thorax-cm, --thorax-from, --head-landmark, --placement-photo
    (hardware/placement.md, "Finding the thoracic level"); ``stored``: what happens to it."""
    g = p.add_argument_group("pod placement (hardware/placement.md)", f"Where the pods were "
                             f"worn; {stored}. Shown in the reports and the JSON output.")
    g.add_argument("--thorax-level", metavar="LEVEL",
                   help="the thoracic pod's level: T1..T12 (e.g. T4) or T12-L1")
    g.add_argument("--thorax-cm", type=float, metavar="CM",
                   help="its distance along the skin from the landmark, in cm")
    g.add_argument("--thorax-from", choices=("C7", "iliac-crest"),
                   help="the landmark measured from (default: C7; iliac-crest for T12-L1)")
    g.add_argument("--head-landmark", metavar="TEXT",
                   help="where the head pod sits, e.g. 'midline, 2 cm above the external "
                        "occipital protuberance'")
    g.add_argument("--placement-photo", metavar="PATH", help="photo of the marked back")


def placement_from_args(a) -> dict | None:
    """The placement given on the command line (None when none was); ValueError when bad."""
    from posturepod.recordings.placement import make
    return make(a.thorax_level, a.thorax_cm, a.thorax_from, a.head_landmark,
                a.placement_photo)


def result_placement(a, rec) -> dict:
    """The ``placement`` object of an analysis result: the command line's if given (then
    ``source`` says so), else the recording's (``recorded: false`` when it has none)."""
    from posturepod.recordings.placement import from_meta
    stored = from_meta(rec.meta, where=str(rec.path) if rec.path else "the recording")
    given = placement_from_args(a)
    if given and {**given, "recorded": True} != stored:
        return {"recorded": True, **given, "source": "command line"}
    return stored


def check_placement(a, command: str) -> int:
    """0 when the placement options are good (or absent); else says why and returns 2."""
    import sys
    try:
        placement_from_args(a)
    except ValueError as e:
        print(f"posturepod {command}: error: {e}", file=sys.stderr)
        return 2
    return 0


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
