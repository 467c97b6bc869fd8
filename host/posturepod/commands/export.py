"""posturepod export: a recording to the CSV interchange format."""


def register(sub):
    p = sub.add_parser("export", help="export a recording (CSV interchange)")
    p.add_argument("rec")
    p.add_argument("--format", default="csv", choices=["csv"])
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.recordings.csvio import write_csv_dir
    from posturepod.recordings.loader import load
    rec = load(a.rec)
    write_csv_dir(a.out, rec)
    print(f"wrote {a.out}: " + ", ".join(f"{r}.csv ({len(p)} rows)" for r, p in rec.pods.items())
          + (f", events.csv ({len(rec.events)})" if rec.events else ""))
    return 0
