"""posturepod record: record pods to a native recording."""
import sys


def parse_pods(items, parser=None) -> dict:
    pods = {}
    for it in items or []:
        role, sep, spec = it.partition("=")
        if not sep or role not in ("pelvis", "thorax", "head") or not spec:
            msg = f"--pod wants ROLE=PORT with ROLE pelvis, thorax or head (got {it!r})"
            if parser:
                parser.error(msg)
            raise ValueError(msg)
        if role in pods:
            msg = f"--pod {role} given twice"
            if parser:
                parser.error(msg)
            raise ValueError(msg)
        pods[role] = spec
    return pods


def _pod_seconds_done(pod_seconds: float | None):
    """on_tick for record(): true once every pod has sent pod_seconds x its rate samples."""
    if not pod_seconds:
        return None

    def done(session, elapsed_s):
        return all(ps.stats.samples >= pod_seconds * float(ps.link.info.get("rate_hz") or 0)
                   > 0 for ps in session.pods.values())
    return done


def register(sub):
    p = sub.add_parser("record", help="record pods (serial ports or ble:ID) to a directory",
                       description="Record pods. Press m to mark a moment, Ctrl-C to stop.")
    p.add_argument("--pod", action="append", metavar="ROLE=PORT", required=True,
                   help="pelvis=/dev/ttyACM0, thorax=ble:ID ... (repeat)")
    p.add_argument("--out", required=True, help="new recording directory")
    p.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    p.add_argument("--pod-seconds", type=float,
                   help="stop once every pod has sent this many seconds of samples on its own "
                        "clock (samples / rate): for emulated boards, whose clocks run slower "
                        "than real time (docs/pico.md)")
    p.add_argument("--rate-hz", type=int, help="set the pods' sample rate first (25-1000)")
    p.add_argument("--patient", default="", help="pseudonymous patient ID (no names)")
    p.add_argument("--no-live", action="store_true", help="no live status table")
    from ._session_options import add_placement_arguments
    add_placement_arguments(p)
    p.set_defaults(func=lambda a: _run(a, p))


def _run(a, parser):
    from posturepod.pods.acquire import record
    from posturepod.pods.podlink import PodError
    from posturepod.recordings.writer import RecordingError
    pods = parse_pods(a.pod, parser)
    from ._session_options import placement_from_args
    try:
        placement = placement_from_args(a)
    except ValueError as e:
        parser.error(str(e))
    try:
        path, session = record(pods, a.out, seconds=a.seconds, rate_hz=a.rate_hz,
                               patient=a.patient, live=not a.no_live,
                               extra_meta={"placement": placement} if placement else None,
                               on_tick=_pod_seconds_done(a.pod_seconds))
    except (PodError, RecordingError) as e:
        print(f"posturepod record: {e}", file=sys.stderr)
        return 1
    print(f"recorded {path}", file=sys.stderr)
    from .info import print_summary
    print_summary(path)
    return 0
