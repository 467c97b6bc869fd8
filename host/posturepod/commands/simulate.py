"""``posturepod simulate``: write a simulated recording (CSV interchange) with its ground truth."""
from __future__ import annotations

import sys

from posturepod.commands._types import bounded, positive

MAX_SWAY = 5.0      # = posturepod.sim.restless.MAX_LEVEL (kept import-free for a fast CLI)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulate a recording with ground truth",
        description="Simulate three pods (pelvis, thorax, head) on a body doing a protocol and "
                    "write a CSV interchange directory (pelvis.csv, thorax.csv, head.csv, "
                    "events.csv, meta.json) plus truth.json. See docs/simulation.md.")
    p.add_argument("--protocol", required=True, choices=["flexion", "sitting"])
    p.add_argument("--pattern", default="normal", choices=["normal", "inhibited_hip"],
                   help="flexion: lumbopelvic pattern (default normal)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rate-hz", type=bounded(1.0, 10000.0), default=100.0,
                   help="pod sample rate (default 100)")
    p.add_argument("--duration-s", type=positive, default=None,
                   help="sitting: recording length (default 1800); flexion: pad to this length")
    p.add_argument("--mag", action="store_true", help="include magnetometer columns")
    p.add_argument("--no-events", action="store_true",
                   help="leave events.csv out (the truth keeps the events)")
    p.add_argument("--no-clock-errors", action="store_true",
                   help="sample exactly on the true clock")
    p.add_argument("--no-sensor-errors", action="store_true",
                   help="no bias, drift, scale error or noise")
    p.add_argument("--quantize", action="store_true", help="int16 quantisation")
    p.add_argument("--sway", type=bounded(0.0, MAX_SWAY), default=0.0, metavar="LEVEL",
                   help="postural restlessness, 0-5 (default 0 = the model's small sway only): "
                        "1 = a real person told to stand still (head sway ~1-2 deg, head gyro "
                        "~5 deg/s median while standing), 2 = twice that; adds looking about, "
                        "nodding and weight shifts after the calibration stand")
    p.add_argument("--exact-protocol", action="store_true",
                   help="calibration routine exactly as documented: stand 5.0 s from t = 0, "
                        "one 60 deg bend (3 s down, 0.5 s hold, 3 s up), 3 s still")
    p.add_argument("--pelvis-deg", type=bounded(5.0, 85.0), default=None,
                   help="flexion: planned peak pelvis angle of every test bend (borderline "
                        "patients; default from --pattern)")
    p.add_argument("--lumbar-share", type=bounded(0.1, 0.9), default=None,
                   help="flexion: planned lumbar share lumbar/(pelvis+lumbar) at the peak "
                        "(default from --pattern)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--trace", metavar="FILE",
                   help="also write what each pod's IMU feels as a motion trace for virtual "
                        "boards: posturepod virtual-board --role R --link PATH --trace FILE")
    p.set_defaults(func=run)


def _status(text: str):
    """A spinner on stderr while a long simulation runs, only at a terminal."""
    import contextlib
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console
    return Console(file=sys.stderr).status(text)


def run(args) -> int:
    if (args.pelvis_deg is not None or args.lumbar_share is not None) \
            and args.protocol != "flexion":
        print("posturepod simulate: --pelvis-deg and --lumbar-share are for --protocol flexion",
              file=sys.stderr)
        return 2
    import time

    from posturepod.sim.simulate import simulate, write_sim

    t0 = time.monotonic()
    with _status(f"simulating {args.protocol}"
                 + (f", {args.duration_s / 3600:.1f} h" if args.duration_s else "") + "..."):
        res = simulate(args.protocol, args.seed, rate_hz=args.rate_hz, pattern=args.pattern,
                       duration_s=args.duration_s, mag=args.mag, events=not args.no_events,
                       clock_errors=not args.no_clock_errors,
                       sensor_errors=not args.no_sensor_errors, quantize=args.quantize,
                       sway=args.sway, exact_protocol=args.exact_protocol,
                       pelvis_deg=args.pelvis_deg, lumbar_share=args.lumbar_share)
        t1 = time.monotonic()
        write_sim(res, args.out)
    t2 = time.monotonic()
    if args.trace:
        from posturepod.devices.virtual.trace import write_trace
        pods = {r: {"acc_m_s2": acc, "gyr_rad_s": gyr, "mag_ut": (res.mag_true or {}).get(r)}
                for r, (_, acc, gyr) in res.sensors_true.items()}
        write_trace(args.trace, int(round(res.true_rate_hz)), pods)
        print(f"trace for virtual boards: {args.trace} ({', '.join(pods)}; "
              f"{res.true_rate_hz:g} Hz; time 0 = when the board starts, or --t0-us)")
    tr = res.truth
    n = ", ".join(f"{r} {len(p)}" for r, p in res.recording.pods.items())
    print(f"{args.out}: {args.protocol} seed {args.seed}, {tr['duration_s']:.1f} s, "
          f"samples: {n}; simulated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s"
          + (f", sway {args.sway:g}" if args.sway else "")
          + (", exact calibration routine" if args.exact_protocol else ""))
    if args.protocol == "flexion":
        for i, r in enumerate(tr["reps"], 1):
            print(f"  rep {i}: trunk {r['peak_trunk_deg']:.1f} deg, pelvis "
                  f"{r['peak_pelvis_deg']:.1f}, lumbar {r['peak_lumbar_deg']:.1f}, "
                  f"lumbar share {r['lumbar_share']:.2f}")
    else:
        print(f"  sitting {tr['sitting_s']:.0f} s, slouch {tr['slouch_s']:.0f} s "
              f"({len(tr['slouch_episodes'])} episodes), head forward "
              f"{tr['head_forward_s']:.0f} s ({len(tr['head_forward_episodes'])}), "
              f"breaks {len(tr['breaks'])}")
    return 0
