"""posturepod import: a CSV interchange directory into a native recording."""


def register(sub):
    p = sub.add_parser("import", help="CSV interchange directory -> native recording",
                       description="Write a CSV interchange directory (pelvis.csv, thorax.csv, "
                                   "head.csv, events.csv) as a native recording, quantised "
                                   "to int16 counts like a pod's (docs/recording.md).")
    p.add_argument("csv_dir")
    p.add_argument("--out", required=True, help="new recording directory")
    p.add_argument("--acc-range-g", type=int, default=8, choices=[2, 4, 8, 16])
    p.add_argument("--gyr-range-dps", type=int, default=1000, choices=[250, 500, 1000, 2000])
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.recordings.csvio import read_csv_dir
    from posturepod.recordings.writer import write_native
    rec = read_csv_dir(a.csv_dir)
    out = write_native(rec, a.out, acc_range_g=a.acc_range_g, gyr_range_dps=a.gyr_range_dps)
    print(f"imported {a.csv_dir} -> {out}: " +
          ", ".join(f"{r} {len(p)} samples" for r, p in rec.pods.items()))
    return 0
