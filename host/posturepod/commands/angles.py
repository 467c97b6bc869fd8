"""``posturepod angles REC -o OUT.csv [--rate-hz R] [--causal]``: the five sagittal angles
(docs/angles.md) of a recording directory (native or CSV); the calibration found is
printed and saved as ``calibration.json`` in the recording directory (its ``quality``:
good, doubtful or failed, with reasons; a failed one stops the command unless
``--accept-doubtful-calibration``). ``--calibration FILE`` reuses an earlier one."""
from __future__ import annotations

import sys

from posturepod.commands._session_options import add_calibration_arguments, calibration_text
from posturepod.commands._types import positive


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "angles", help="pelvis, thorax, head, lumbar and neck angles of a recording",
        description="Calibrate from the recording's opening routine, fuse every pod and "
                    "write time_s,pelvis_deg,thorax_deg,head_deg,lumbar_deg,neck_deg.")
    p.add_argument("recording", metavar="REC", help="recording directory (native or CSV)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument("--rate-hz", type=positive, default=None,
                   help="output rate (default: the slowest pod's rate)")
    p.add_argument("--causal", action="store_true", help="use the live (causal) filter")
    add_calibration_arguments(p)
    p.add_argument("--chunk-s", type=positive, default=1800.0,
                   help="process in chunks of this many seconds (default 1800)")
    p.set_defaults(func=run)


def run(args) -> int:
    import warnings
    from pathlib import Path

    import numpy as np

    from posturepod.motion.angles import ANGLE_NAMES, iter_angles
    from posturepod.motion.calibration import CalibrationWarning, calibration_for
    from posturepod.recordings.loader import load

    rec = load(args.recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)   # printed below instead
        cal = calibration_for(rec, args.calibration,
                              accept_failed=args.accept_doubtful_calibration)
    print(cal.summary())
    for line in calibration_text(cal.to_dict()):
        print(line)
    if args.calibration is None:
        cal_path = Path(args.recording) / "calibration.json"
        cal.save(cal_path)
        print(f"saved {cal_path}")
    for w in cal.warnings:
        print(f"posturepod angles: warning: {w}", file=sys.stderr)
    n = 0
    with open(args.output, "w") as f:
        f.write("time_s," + ",".join(ANGLE_NAMES) + "\n")
        for part in iter_angles(rec, causal=args.causal, rate_hz=args.rate_hz,
                                calibration=cal, chunk_s=args.chunk_s):
            arr = np.column_stack([part.time_s] + [getattr(part, k) for k in ANGLE_NAMES])
            np.savetxt(f, arr, delimiter=",", fmt=["%.4f"] + ["%.3f"] * 5)
            n += len(part)
    print(f"{args.output}: {n} samples")
    return 0
