"""posturepod selftest: check a flashed pod: gravity still and turned, gyro noise and bias,
the gyro against the accelerometer through a turn, sample rate against the host clock, the
stream, the buzz motor. Exit code 0 only when every item passes. See docs/deploy.md."""
import sys


def register(sub):
    p = sub.add_parser("selftest", help="check a flashed pod (IMU, sample rate, motor)",
                       description="Self-test a flashed pod. You lay it flat, then turn it "
                                   "over; it prints PASS/FAIL per item (docs/deploy.md).")
    p.add_argument("--port", required=True, help="serial port of the pod")
    p.add_argument("--yes", action="store_true",
                   help="no prompts (automation): the pod must be still at the start and "
                        "be turned within --rotate-timeout; the buzz counts when acknowledged")
    p.add_argument("--still-s", type=float, default=5.0, help="still measurement, s (5)")
    p.add_argument("--rotated-s", type=float, default=2.0, help="turned measurement, s (2)")
    p.add_argument("--rotate-timeout", type=float, default=60.0,
                   help="seconds to wait for the turn (60)")
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.pods.podlink import PodError, PodMissing
    from posturepod.devices.selftest import run_selftest

    def say(msg):
        print(msg, flush=True)

    try:
        rep = run_selftest(a.port, yes=a.yes, still_s=a.still_s, rotated_s=a.rotated_s,
                           rotate_timeout_s=a.rotate_timeout, say=say)
    except PodMissing as e:
        from posturepod.pods.transport.serial import ports_seen
        print(f"posturepod selftest: error: {e}; {ports_seen()}", file=sys.stderr)
        return 1
    except PodError as e:
        print(f"posturepod selftest: error: {e}\n(is the firmware flashed? "
              f"posturepod flash --port {a.port} --role ...)", file=sys.stderr)
        return 1
    info = rep.info
    print(f"\nself-test of the {info.get('role')} pod {info.get('pod_id')} on {a.port} "
          f"({info.get('board')}, IMU {info.get('imu')}):")
    for it in rep.items:
        print("  " + it.line())
    n_fail = sum(not i.ok for i in rep.items)
    print("ALL PASS" if rep.ok else f"{n_fail} of {len(rep.items)} items FAILED")
    return 0 if rep.ok else 1
