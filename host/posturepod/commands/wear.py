"""posturepod wear: calibrate, take the seated reference, arm the pods and leave them to
work on their own for the day (then posturepod sync)."""
import sys


def register(sub):
    p = sub.add_parser(
        "wear", help="arm the pods for a day on their own: calibration, seated reference, "
                     "their own slouch / head-forward buzz and log",
        description="Guided calibration (or --calibration FILE) and a seated reference with "
                    "the pods streaming, then every pod is armed: it computes its angle, "
                    "buzzes on its own (thorax: slouch, head: head forward; the live sitting "
                    "thresholds) and logs one record a second. Prints what each pod will do. "
                    "Later: posturepod sync --pod ... --out DIR.")
    p.add_argument("--pod", action="append", metavar="ROLE=PORT", required=True,
                   help="pelvis=PORT thorax=PORT head=PORT (repeat)")
    p.add_argument("--calibration", metavar="FILE",
                   help="a saved calibration.json (the pods not moved since): skip the "
                        "calibration routine")
    p.add_argument("--out", metavar="DIR",
                   help="where the calibration and seated reference are recorded "
                        "(default wear-<date-time>)")
    p.add_argument("--quiet", action="append", metavar="HH:MM-HH:MM",
                   help="no buzz in these hours of the local day (repeat; may wrap midnight)")
    p.add_argument("--utc-offset", type=int, metavar="MINUTES",
                   help="the wearer's local time minus UTC (default: this computer's)")
    p.add_argument("--radio", default="off", choices=["off", "slow"],
                   help="off, or advertise slowly so a host can sync over BLE (default off)")
    p.add_argument("--patient", default="", help="pseudonymous patient ID (no names)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="give up when the calibration and reference are not done by then")
    p.add_argument("--no-live", action="store_true", help="no live view")
    p.set_defaults(func=lambda a: _run(a, p))


def _run(a, parser) -> int:
    import time
    from posturepod.pods.podlink import PodError
    from posturepod.recordings.writer import RecordingError
    from posturepod.sitting.wear import WearError, parse_quiet, run_wear, what_pods_do
    from .record import parse_pods
    pods = parse_pods(a.pod, parser)
    try:
        quiet = parse_quiet(a.quiet)
    except ValueError as e:
        parser.error(str(e))
    cal = None
    if a.calibration:
        from posturepod.motion.calibration import Calibration
        cal = Calibration.load(a.calibration)
        missing = [r for r in pods if r not in cal.pods]
        if missing:
            print(f"posturepod wear: error: {a.calibration} has no calibration for "
                  f"{', '.join(missing)}", file=sys.stderr)
            return 2
    out = a.out or time.strftime("wear-%Y%m%d-%H%M%S")
    try:
        res = run_wear(pods, out, calibration=cal, quiet=quiet, utc_offset_min=a.utc_offset,
                       radio=a.radio, live_view=not a.no_live, timeout_s=a.timeout,
                       patient=a.patient)
    except (WearError, PodError, RecordingError) as e:
        print(f"posturepod wear: {e}", file=sys.stderr)
        return 1
    for w in res["warnings"]:
        print(f"posturepod wear: warning: {w}", file=sys.stderr)
    print(f"armed {len(res['settings'])} pods (calibration and reference in {out}):")
    for line in what_pods_do(res):
        print(f"  {line}")
    print("Unplug the pods and wear them. Afterwards: posturepod sync "
          + " ".join(f"--pod {r}={s}" for r, s in pods.items()) + " --out DAY")
    return 0
