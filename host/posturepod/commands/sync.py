"""posturepod sync: pull standalone pods' day logs into a day-log recording."""
import json
import sys


def register(sub):
    p = sub.add_parser(
        "sync", help="pull the day logs of standalone (armed) pods into a day-log recording",
        description="Read each pod's log of per-second records (checked record by record, "
                    "resumable: running it again continues where DIR ends and adds nothing "
                    "twice), ping the pods to map their clocks to wall time, and write the "
                    "day-log recording DIR (docs/recording.md). Then: posturepod info DIR, "
                    "posturepod sitting DIR.")
    p.add_argument("--pod", action="append", metavar="ROLE=PORT", required=True,
                   help="pelvis=/dev/ttyACM0 ... (repeat); a PORT is a serial device or ble:ID")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="day-log recording directory (created, or continued)")
    p.add_argument("--clear", action="store_true",
                   help="then clear the synced records from each pod, only once they are "
                        "verified on disk")
    p.add_argument("--patient", default="", help="pseudonymous patient ID (new DIR only)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=lambda a: _run(a, p))


def _run(a, parser) -> int:
    from posturepod.pods.daylog_sync import SyncError, summary_line, sync_pods
    from .record import parse_pods
    pods = parse_pods(a.pod, parser)
    try:
        res = sync_pods(pods, a.out, clear=a.clear, patient=a.patient)
    except (SyncError, OSError) as e:
        print(f"posturepod sync: error: {e}", file=sys.stderr)
        return 1
    failed = [r for r, e in res.items() if "error" in e]
    if a.json:
        print(json.dumps({"out": str(a.out), "pods": res}))
    else:
        for role, e in res.items():
            print(summary_line(role, e), file=sys.stderr if "error" in e else sys.stdout)
        if len(failed) < len(res):
            print(f"synced into {a.out} (details: posturepod info {a.out})")
    return 1 if failed else 0
