"""``posturepod history DIR``: key measures of every stored session, in date order."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "history", help="list or plot the stored session summaries under a directory",
        description="Scan DIR recursively for session summaries (flexion.json, "
                    "sitting.json, ...) and show their key measures in date order.")
    p.add_argument("dir", metavar="DIR", help="directory to scan (recursively)")
    p.add_argument("--patient", metavar="ID", help="only this (pseudonymous) patient ID")
    p.add_argument("--protocol", metavar="NAME", help="only this protocol (flexion, sitting)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object {\"sessions\": [...]} and nothing else")
    p.add_argument("--plot", metavar="FILE.svg", help="write a plot of the key measures")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    from pathlib import Path

    from posturepod.recordings.data import DataError
    from posturepod.report import history

    root = Path(args.dir)
    if not root.exists():
        raise DataError(f"{root}: no such directory")
    problems: list[str] = []
    sessions = history.scan(root, patient=args.patient, protocol=args.protocol,
                            problems=problems)
    for msg in problems:
        print(f"posturepod history: skipped {msg}", file=sys.stderr)
    if args.plot:
        from ..report.html import new_figure
        fig = history.plot(sessions, new_figure(9, 5))
        fig.savefig(args.plot, bbox_inches="tight")
        print(f"posturepod history: plot written to {args.plot}", file=sys.stderr)
    if args.json:
        out = {"root": str(root), "patient": args.patient,
               "sessions": [s.as_json(root) for s in sessions]}
        print(json.dumps(out))
        return 0
    if not sessions:
        who = f" for patient {args.patient}" if args.patient else ""
        print(f"no sessions{who} under {root}")
        return 0
    sys.stdout.write(history.text_table(sessions, root))
    return 0
