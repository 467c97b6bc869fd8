"""``posturepod fuse POD.csv -o OUT.csv [--filter NAME] [--causal]``: one pod's interchange
CSV in, its orientation out as ``time_s,qw,qx,qy,qz`` (w-first, sensor to earth, earth z
up; 6D, heading arbitrary, unless ``--mag`` and the CSV has mag columns)."""
from __future__ import annotations

import sys

FILTER_NAMES = ("vqf", "madgwick", "mahony", "ekf")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fuse", help="orientation of one pod from its CSV",
        description="Fuse one pod's gyro and accelerometer (and magnetometer with --mag) "
                    "into orientation quaternions: w-first, sensor to earth, earth z up.")
    p.add_argument("pod_csv", metavar="POD.csv", help="interchange CSV of one pod")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv",
                   help="output CSV: time_s,qw,qx,qy,qz")
    p.add_argument("--filter", default="vqf", choices=FILTER_NAMES,
                   help="vqf (default), madgwick, mahony or ekf (ahrs, at tuned settings)")
    p.add_argument("--causal", action="store_true",
                   help="live filter: only past samples shape each estimate "
                        "(default: non-causal, e.g. offlineVQF)")
    p.add_argument("--mag", action="store_true",
                   help="fuse the magnetometer too when the CSV has mag_x,mag_y,mag_z "
                        "(9D, ENU heading)")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from posturepod.recordings.csvio import read_pod_csv
    from posturepod.motion.fusion import fuse, settings_for

    pod = read_pod_csv(args.pod_csv)
    use_mag = bool(args.mag and pod.mag_ut is not None)
    if args.mag and pod.mag_ut is None:
        print(f"posturepod fuse: {args.pod_csv}: no mag columns, fusing 6D", file=sys.stderr)
    s = settings_for(args.filter, causal=args.causal, use_mag=use_mag)
    q = fuse(pod.time_s, pod.gyr_rad_s, pod.acc_m_s2, pod.mag_ut, s)
    out = np.column_stack([pod.time_s, q])
    np.savetxt(args.output, out, delimiter=",", header="time_s,qw,qx,qy,qz", comments="",
               fmt=["%.6f", "%.8f", "%.8f", "%.8f", "%.8f"])
    print(f"{args.output}: {len(q)} orientations ({args.filter}, "
          f"{'causal' if args.causal else 'non-causal'}, {'9D' if use_mag else '6D'})")
    return 0
