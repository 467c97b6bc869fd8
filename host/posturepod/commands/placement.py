"""posturepod placement: record (or show) where the pods were worn, after the recording."""
import json
import sys


def register(sub):
    p = sub.add_parser(
        "placement", help="store or show where the pods were worn (thoracic level, cm, photo)",
        description="Store the pod placement of hardware/placement.md in a recording "
                    "(recording.json, or meta.json of a CSV directory): the thoracic level, "
                    "its distance along the skin from C7 or the iliac-crest line, the head "
                    "pod's landmark and a photo. The reports and --json outputs show it. "
                    "Without placement options: show what is stored.")
    p.add_argument("rec", help="native recording or CSV interchange directory")
    from ._session_options import add_placement_arguments
    add_placement_arguments(p, stored="replaces what the recording holds")
    p.add_argument("--force", action="store_true",
                   help="write into a native recording that did not stop cleanly")
    p.add_argument("--json", action="store_true", help="print the placement object")
    p.set_defaults(func=lambda a: _run(a, p))


def _run(a, parser):
    from posturepod.recordings.data import DataError
    from posturepod.recordings.loader import load
    from posturepod.recordings.placement import from_meta, text_lines, write
    from ._session_options import placement_from_args
    try:
        given = placement_from_args(a)
    except ValueError as e:
        parser.error(str(e))
    if given:
        try:
            name = write(a.rec, given, force=a.force)
        except OSError as e:
            raise DataError(f"{a.rec}: cannot write the placement: {e.strerror}") from None
        if not a.json:
            print(f"placement stored in {name}", file=sys.stderr)
    rec = load(a.rec)
    obj = from_meta(rec.meta, where=str(a.rec))
    if a.json:
        print(json.dumps(obj))
    else:
        print("\n".join(text_lines(obj)))
    return 0
