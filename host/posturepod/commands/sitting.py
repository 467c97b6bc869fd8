"""``posturepod sitting``: sitting posture through a desk day (slouch, head forward, breaks).

Offline: ``posturepod sitting REC [--json] [--report FILE.html] [--patient ID]`` analyses a
recording, stores ``sitting.json`` beside it and optionally writes the HTML report.
Live (``--pod pelvis=PORT --pod thorax=PORT --pod head=PORT``): guides the calibration and
the sitting reference, records, shows the posture, buzzes a pod when a slouch or a forward
head lasts, reminds of breaks; then the same analysis and report as offline.
"""
from __future__ import annotations

import sys

from . import _session_options
from ._session_options import (add_session_arguments, calibration_text, check_placement,
                               placement_from_args, result_placement)
from ._types import bounded


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sitting", help="sitting posture through a desk day: slouch, head forward, breaks",
        description="Analyse a desk day recorded with the three pods: time slouched (pelvis "
                    "tilted back or lumbar spine flexed against the upright sitting "
                    "reference), head forward, breaks (standing/walking) and sitting bouts. "
                    "Stores sitting.json in the recording directory. See docs/sitting.md.")
    add_session_arguments(p, name="sitting", live="live mode",
                          earlier="earlier days of the same ID beside REC are compared in "
                                  "the report")
    p.add_argument("--buzz-pod", default="thorax", choices=["pelvis", "thorax", "head"],
                   help="live mode: the pod whose motor buzzes (default thorax)")
    p.add_argument("--seconds", type=float, help="live mode: stop after this long "
                   "(default: Ctrl-C)")
    p.add_argument("--buzz-after", type=float, default=60.0, metavar="SECONDS",
                   help="buzz when a slouch or head-forward posture has lasted this long "
                        "(default 60)")
    p.add_argument("--buzz-repeat", type=bounded(0, 86400), default=120.0, metavar="SECONDS",
                   help="buzz again this often while the same posture lasts, at most 3 "
                        "times an episode; break reminders every 10 min, twice; 0: once "
                        "(default 120)")
    p.add_argument("--break-after", type=float, default=30.0, metavar="MINUTES",
                   help="remind to take a break after this much continuous sitting "
                        "(default 30)")
    p.set_defaults(func=run)


def _live(args) -> int:
    import time
    from pathlib import Path
    from .record import parse_pods
    from posturepod.pods.podlink import PodError
    from posturepod.recordings.writer import RecordingError
    from posturepod.sitting.guide import run_live
    try:
        pods = parse_pods(args.pod)
    except ValueError as e:
        print(f"posturepod sitting: error: {e}", file=sys.stderr)
        return 2
    from posturepod.sitting.analysis import unmeasured_notes
    for note in unmeasured_notes(pods):
        print(f"warning: {note}", file=sys.stderr)
    out = Path(args.out or args.rec or time.strftime("sitting-%Y%m%d-%H%M%S"))
    placement = placement_from_args(args)
    try:
        r = run_live(pods, out, buzz_after_s=args.buzz_after, buzz_repeat_s=args.buzz_repeat,
                     break_after_s=args.break_after * 60.0, buzz_pod=args.buzz_pod,
                     seconds=args.seconds, patient=args.patient or "",
                     live_view=not args.no_live,
                     extra_meta={"placement": placement} if placement else None)
    except (PodError, RecordingError) as e:
        print(f"posturepod sitting: {e}", file=sys.stderr)
        return 1
    print(f"live feedback: {r['slouch_buzzes']} slouch buzzes, {r['head_forward_buzzes']} "
          f"head-forward buzzes, {r['break_reminders']} break reminders", file=sys.stderr)
    args.rec = str(out)
    args.report = args.report or str(out / "report.html")
    args.pod = None
    return run(args)


def analyse_to_files(rec_path, report=None, patient=None) -> int:
    """Analyse a recording, store sitting.json beside it and write the report."""
    return _session_options.analyse_to_files("sitting", register, run, rec_path, report,
                                             patient)


def run(args) -> int:
    if check_placement(args, "sitting"):
        return 2
    if args.pod:
        return _live(args)
    if not args.rec:
        print("posturepod sitting: error: give a recording directory REC (or --pod for "
              "live mode)", file=sys.stderr)
        return 2
    if args.buzz_after <= 0 or args.break_after <= 0:
        print("posturepod sitting: error: --buzz-after and --break-after must be positive",
              file=sys.stderr)
        return 2
    import warnings

    from posturepod.recordings.loader import load
    from ..sitting import analyse_recording

    from posturepod.motion.calibration import calibration_for

    from posturepod.recordings.daylog import is_daylog
    if is_daylog(args.rec):
        return _daylog(args)
    rec = load(args.rec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cal = calibration_for(rec, args.calibration,
                              accept_failed=args.accept_doubtful_calibration)
        from posturepod.motion.angles import iter_angles
        from posturepod.sitting.config import SittingConfig
        from ._progress import chunks_with_progress, progress_bar
        cfg = SittingConfig(buzz_repeat_s=args.buzz_repeat)
        t0 = min((float(p.time_s[0]) for p in rec.pods.values() if len(p)), default=0.0)
        with progress_bar("analysing the day", rec.duration_s, quiet=args.json) as update:
            chunks = chunks_with_progress(
                iter_angles(rec, chunk_s=cfg.chunk_s, calibration=cal), update, t0)
            res = analyse_recording(rec, cfg, patient=args.patient, chunks=chunks,
                                    buzz_after_s=args.buzz_after,
                                    break_after_s=args.break_after * 60.0, calibration=cal)
    res.summary["placement"] = result_placement(args, rec)
    msgs = []
    for w in caught:
        m = str(w.message)
        if m not in msgs:
            msgs.append(m)
    return _output(args, res, msgs, cal)


def _daylog(args) -> int:
    """A day-log recording: the pods' own per-second angles, the same analysis."""
    if args.calibration or args.accept_doubtful_calibration:
        print("posturepod sitting: error: a day-log's angles were computed on the pods "
              "with the calibration given at arming (posturepod wear): --calibration and "
              "--accept-doubtful-calibration do not apply", file=sys.stderr)
        return 2
    from posturepod.recordings.daylog import read_daylog
    from posturepod.sitting.config import SittingConfig
    from posturepod.sitting.standalone import analyse_daylog
    dl = read_daylog(args.rec)
    res = analyse_daylog(dl, SittingConfig(buzz_repeat_s=args.buzz_repeat),
                         patient=args.patient, buzz_after_s=args.buzz_after,
                         break_after_s=args.break_after * 60.0)
    res.summary["placement"] = result_placement(args, dl)
    msgs = [w for p in dl.pods.values() for w in p.warnings]
    return _output(args, res, msgs, None)


def _output(args, res, msgs, cal) -> int:
    import json
    from pathlib import Path
    from ..sitting import earlier_days, write_result
    summary = res.summary
    for m in msgs:
        print(f"posturepod sitting: warning: {m}", file=sys.stderr)
    summary["warnings"] = msgs          # always there, empty when there was nothing to say
    rec_dir = Path(args.rec)
    if not args.no_save and rec_dir.is_dir():
        try:
            summary["saved_to"] = str(write_result(summary, rec_dir))
            if not args.calibration and cal is not None:
                cal.save(rec_dir / "calibration.json")
        except OSError as e:
            print(f"posturepod sitting: warning: cannot write {rec_dir / 'sitting.json'}: "
                  f"{e.strerror}", file=sys.stderr)
    if args.report:
        from posturepod.sitting.report import write_report
        history = earlier_days(rec_dir, summary.get("patient"), args.history)
        out = write_report(args.report, res, history=history)
        summary["report"] = str(out)
        if not args.json:
            print(f"report: {out}")
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(text_summary(summary))
    return 0


def _deg(x) -> str:
    return "--" if x is None else f"{x:.1f}"


def _mmss(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def text_summary(s: dict) -> str:
    ref = s["reference"]
    lines = [f"sitting day: {_mmss(s['duration_s'])} recorded"
             + (f", patient {s['patient']}" if s.get("patient") else "")]
    if ref.get("source") == "none":
        lines.append(f"  {ref['note']}")
        return "\n".join(lines)
    span = (f", {ref['start_s']:.0f}-{ref['end_s']:.0f} s" if ref.get("start_s") is not None
            else "")
    lines.append(f"  reference ({ref['source']}{span}): "
                 f"pelvis {_deg(ref['pelvis_deg'])}, lumbar {_deg(ref['lumbar_deg'])}, "
                 f"neck {_deg(ref['neck_deg'])} deg")
    sit = s["sitting_s"]

    def pct(x):
        return f" ({100 * x / sit:.0f}% of sitting)" if sit > 0 else ""
    lines.append(f"  sitting       {_mmss(sit)}")
    lines.append(f"  slouched      {_mmss(s['slouch_s'])}{pct(s['slouch_s'])} in "
                 f"{len(s['slouch_episodes'])} episode(s)")
    if s.get("head_forward_s") is None:
        lines.append("  head forward  not measured (needs the head and thorax pods)")
    else:
        lines.append(f"  head forward  {_mmss(s['head_forward_s'])}{pct(s['head_forward_s'])} "
                     f"in {len(s['head_forward_episodes'])} episode(s)")
    lines.append(f"  breaks        {len(s['breaks'])}; longest sitting bout "
                 f"{_mmss(s['longest_sitting_bout_s'])}")
    for n in s.get("notes", []):
        lines.append(f"  note: {n}")
    if s.get("calibration"):
        lines += ["  " + x for x in calibration_text(s["calibration"])]
    da = s.get("device_alerts")
    if da:
        lines.append("  the pods buzzed on their own: " + ", ".join(
            f"{r} {da[f'{r}_buzzes']}x" for r in ("thorax", "head") if f"{r}_buzzes" in da))
    if s.get("placement"):
        from posturepod.recordings.placement import text_lines
        lines += ["  " + x for x in text_lines(s["placement"])]
    if s.get("saved_to"):
        lines.append(f"  saved {s['saved_to']}")
    return "\n".join(lines)
