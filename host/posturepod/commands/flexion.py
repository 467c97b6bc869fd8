"""``posturepod flexion REC``: analyse a standing forward-flexion recording.

Offline: REC is a native recording or a CSV interchange directory. The summary is stored
beside the recording as ``flexion.json`` (the --json object plus ``patient`` and
``recorded_at``) for ``posturepod history`` and the progress section of later reports.
"""
from __future__ import annotations

import sys

from . import _session_options
from ._session_options import (add_session_arguments, calibration_text, check_placement,
                               placement_from_args, result_placement)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "flexion", help="standing forward-flexion test: lumbopelvic rhythm and hip pattern",
        description="Analyse a standing forward-flexion recording: find the repetitions "
                    "(the calibration bend excluded), measure peak trunk, pelvic, lumbar and "
                    "neck angles, the lumbopelvic rhythm, timing and smoothness, and judge "
                    "the pattern (normal / inhibited_hip / inconclusive). See docs/flexion.md.")
    add_session_arguments(p, name="flexion", live="guided capture",
                          earlier="earlier sessions of the same ID give the progress section")
    p.add_argument("--reps", type=int, default=3, help="guided capture: test bends (default 3)")
    p.add_argument("--recorded-at", metavar="ISO",
                   help="session date/time (default: from the recording, else its file time)")
    g = p.add_argument_group("verdict rule (defaults in docs/flexion.md)")
    g.add_argument("--min-trunk", type=float, metavar="DEG",
                   help="peak trunk flexion below this is inconclusive (default 60)")
    g.add_argument("--max-pelvis", type=float, metavar="DEG",
                   help="inhibited hip needs peak pelvic rotation below this (default 50)")
    g.add_argument("--min-share", type=float, metavar="FRAC",
                   help="inhibited hip needs a lumbar share above this (default 0.5)")
    g.add_argument("--combine", choices=("and", "or"),
                   help="combine the pelvis and share conditions (default and)")
    p.set_defaults(func=run)


def _guided(args) -> int:
    """Guided capture (prompts, live angles, phase detection), then the analysis and the
    report at once."""
    import time
    from pathlib import Path
    from .record import parse_pods
    from posturepod.flexion.guide import run_guided
    from posturepod.pods.podlink import PodError
    from posturepod.recordings.writer import RecordingError
    try:
        pods = parse_pods(args.pod)
    except ValueError as e:
        print(f"posturepod flexion: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out or args.rec or time.strftime("flexion-%Y%m%d-%H%M%S"))
    try:
        placement = placement_from_args(args)
        g = run_guided(pods, out, reps=args.reps, patient=args.patient or "",
                       live_view=not args.no_live,
                       extra_meta={"placement": placement} if placement else None)
    except (PodError, RecordingError) as e:
        print(f"posturepod flexion: {e}", file=sys.stderr)
        return 1
    for w in g["warnings"]:
        print(f"warning during capture: {w}", file=sys.stderr)
    if g["phase"] != "done":
        print(f"capture stopped in phase {g['phase']!r} after {g['reps']} bends; "
              f"analysing what was recorded", file=sys.stderr)
    args.rec = str(out)
    args.report = args.report or str(out / "report.html")
    args.pod = None
    return run(args)


def analyse_to_files(rec_path, report=None, patient=None) -> int:
    """Analyse a recording, store flexion.json beside it and write the report."""
    return _session_options.analyse_to_files("flexion", register, run, rec_path, report,
                                             patient)


def _config(args):
    from dataclasses import replace

    from posturepod.flexion.analysis import FlexionConfig, VerdictRule
    rule = VerdictRule()
    changes = {}
    if args.min_trunk is not None:
        changes["min_trunk_deg"] = args.min_trunk
    if args.max_pelvis is not None:
        changes["max_pelvis_deg"] = args.max_pelvis
    if args.min_share is not None:
        changes["min_lumbar_share"] = args.min_share
    if args.combine:
        changes["combine"] = args.combine
    return FlexionConfig(rule=replace(rule, **changes))


def run(args) -> int:
    if check_placement(args, "flexion"):
        return 2
    if args.pod:
        return _guided(args)
    if not args.rec:
        print("posturepod flexion: error: REC is required (a recording or CSV directory)",
              file=sys.stderr)
        return 2

    import json
    from pathlib import Path

    from posturepod.flexion import analysis as F
    from posturepod.recordings.data import DataError
    from posturepod.recordings.loader import load

    path = Path(args.rec)
    rec = load(path)
    if str(rec.meta.get("protocol", "")).lower() == "sitting":
        raise DataError(f"{path}: a sitting recording (its protocol is 'sitting'): it holds "
                        f"no forward-flexion test; analyse it with: posturepod sitting {path}")
    from posturepod.motion.angles import recording_angles
    from posturepod.motion.calibration import calibration_for
    import warnings
    cfg = _config(args)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cal = calibration_for(rec, args.calibration,
                                  accept_failed=args.accept_doubtful_calibration)
            series = recording_angles(rec, calibration=cal)
        if args.calibration and not rec.events_named("calib_bend"):
            from dataclasses import replace    # reused: every bend here is a test bend
            cfg = replace(cfg, segment=replace(cfg.segment, calibration="none"))
        result = F.analyze(series, events=rec.events, config=cfg)
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: {e}") from e
    for w in caught:       # calibration / fusion warnings: into the result, not the terminal
        msg = str(w.message)
        if not any(msg in x for x in result.warnings):
            result.warnings.append(f"angles: {msg}")

    rec_dir = path if path.is_dir() else path.parent
    summary_path = rec_dir / "flexion.json"
    previous: dict = {}
    if summary_path.exists():          # an earlier analysis of this same recording
        try:
            previous = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            previous = {}
        previous = previous if isinstance(previous, dict) else {}
    patient = args.patient or (rec.meta or {}).get("patient") or (rec.meta or {}).get(
        "patient_id") or previous.get("patient")
    if args.recorded_at:
        recorded_at, recorded_src = args.recorded_at, "command line"
    else:
        from posturepod.recordings.data import recorded_at as when
        recorded_at, recorded_src = when(rec)
        if recorded_src == "file time" and previous.get("recorded_at"):
            recorded_at = previous["recorded_at"]
            recorded_src = previous.get("recorded_at_source") or "previous flexion.json"
    obj = F.result_json(result, patient=patient or None, recorded_at=recorded_at,
                        recorded_at_source=recorded_src, recording=str(path))
    obj["calibration"] = cal.to_dict()
    obj["placement"] = result_placement(args, rec)

    saved = False
    if not args.no_save:
        try:
            summary_path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
            if not args.calibration:
                cal.save(rec_dir / "calibration.json")
            saved = True
        except OSError as e:
            print(f"posturepod flexion: warning: could not save {summary_path}: {e.strerror}",
                  file=sys.stderr)

    if args.report:
        from posturepod.report import history as HI
        from posturepod.flexion.report import write_report
        sessions = []
        if patient:
            sessions = HI.patient_history(rec_dir, patient, F.PROTOCOL,
                                          history_dir=args.history)
            here = HI.Session(path=summary_path, protocol=F.PROTOCOL, patient=patient,
                              recorded_at=HI.parse_time(recorded_at),
                              recorded_at_text=recorded_at, summary=obj["summary"], data=obj)
            if here.recorded_at is None:
                from datetime import datetime, timezone
                here.recorded_at = datetime.now(timezone.utc).replace(tzinfo=None)
            sessions = sorted(sessions + [here], key=lambda s: s.recorded_at)
        write_report(args.report, result, patient=patient, recorded_at=recorded_at,
                     recording=str(path), history=sessions or None,
                     current_path=summary_path, placement=obj["placement"])
        if not args.json:
            print(f"report written to {args.report}")

    if args.json:
        print(json.dumps(obj))
        return 0
    _print_text(result, patient, recorded_at, summary_path if saved else None)
    from posturepod.recordings.placement import text_lines
    for line in calibration_text(obj["calibration"]) + text_lines(obj["placement"]):
        print("  " + line)
    return 0


def _print_text(result, patient, recorded_at, saved_to) -> None:
    from posturepod.flexion.analysis import INCONCLUSIVE, margin_json, withheld
    s = result.summary
    rule = result.config.rule

    def f(x, nd=0):
        return "-" if x is None else f"{x:.{nd}f}"

    def sds(m):
        return "-" if not m or m.get("sigmas") is None else f"{m['sigmas']:.1f}"
    print(f"forward-flexion test: {len(result.reps)} repetition(s)"
          + (f", patient {patient}" if patient else "") + f", recorded {recorded_at}")
    cb = result.calibration_bend
    if cb:
        print(f"  calibration bend {cb['start_s']:.1f}-{cb['end_s']:.1f} s "
              f"(peak {cb['peak_trunk_deg']:.0f} deg, {cb['identified_by']}): excluded")
    print(f"  {'#':>2} {'start':>7} {'end':>7} {'trunk':>6} {'pelvis':>6} {'lumbar':>6} "
          f"{'neck':>5} {'share':>5} {'margin':>6}  pattern")
    for r in result.reps:
        m = margin_json(rule, r.peak_pelvis_deg, r.lumbar_share)
        note = (" (too close to the thresholds)" if withheld(r, rule)
                else " (borderline)" if r.borderline else "")
        print(f"  {r.index:>2} {r.start_s:7.1f} {r.end_s:7.1f} {f(r.peak_trunk_deg):>6} "
              f"{f(r.peak_pelvis_deg):>6} {f(r.peak_lumbar_deg):>6} {f(r.peak_neck_deg):>5} "
              f"{f(r.lumbar_share, 2):>5} {sds(m):>6}  {r.pattern}{note}")
    if result.reps:
        print(f"  margin = measurement SDs (pelvis {rule.sigma_pelvis_deg:g} deg, share "
              f"{rule.sigma_share:g}) between the peaks and a different verdict; no verdict "
              f"under {rule.k_sigma:g}")
    print(f"  summary: trunk {f(s['peak_trunk_deg'])} deg, pelvis {f(s['peak_pelvis_deg'])} "
          f"deg, lumbar {f(s['peak_lumbar_deg'])} deg, neck {f(s['peak_neck_deg'])} deg, "
          f"lumbar share {f(s['lumbar_share'], 2)}")
    m = s.get("margin")
    if m and m.get("pelvis_deg") is not None and m.get("lumbar_share") is not None:
        print(f"  margin: pelvis {m['pelvis_deg']:+.1f} deg from {rule.max_pelvis_deg:g} deg, "
              f"lumbar share {m['lumbar_share']:+.3f} from {rule.min_lumbar_share:.2f}: "
              f"{sds(m)} SDs from a different verdict"
              + (" (within the uncertainty band)" if m.get("within_band") else ""))
    verdict = s["pattern"]
    if verdict != INCONCLUSIVE and s.get("borderline"):
        verdict += " (borderline)"
    elif verdict == INCONCLUSIVE and s.get("n_within_band"):
        verdict += (f" ({s['n_within_band']} repetition(s) too close to the thresholds: "
                    f"the measurement cannot tell)")
    print(f"  verdict: {verdict}")
    for w in result.warnings:
        print(f"  note: {w}")
    if saved_to:
        print(f"  saved {saved_to}")
