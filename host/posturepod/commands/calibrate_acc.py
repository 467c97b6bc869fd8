"""posturepod calibrate-acc: calibrate a pod's accelerometer (once per pod, on a table), so
that its tilt is right in every pose. See docs/deploy.md and docs/angles.md."""
import sys


def register(sub):
    p = sub.add_parser("calibrate-acc", help="calibrate a pod's accelerometer (six faces)",
                       description="Calibrate a pod's accelerometer: lay it still on each of "
                                   "its six faces and a few edges. The result is kept on the "
                                   "pod and applied to every recording made with it.")
    p.add_argument("--port", required=True, help="serial port of the pod")
    p.add_argument("--out", help="also write the poses and the result to this JSON file")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds to collect poses before giving up (180)")
    p.add_argument("--poses", type=int, default=12, help="poses to collect (12, at least 9)")
    p.add_argument("--dry-run", action="store_true", help="fit and show, but do not write "
                                                           "the result to the pod")
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.devices.acc_calibrate import run_acc_calibration, save_run
    from posturepod.pods.podlink import PodError, PodMissing

    if a.poses < 9:
        print("posturepod calibrate-acc: error: --poses must be at least 9", file=sys.stderr)
        return 2
    try:
        run = run_acc_calibration(a.port, timeout_s=a.timeout, write=not a.dry_run,
                                  poses=a.poses, say=lambda m: print(m, flush=True))
    except PodMissing as e:
        from posturepod.pods.transport.serial import ports_seen
        print(f"posturepod calibrate-acc: error: {e}; {ports_seen()}", file=sys.stderr)
        return 1
    except PodError as e:
        print(f"posturepod calibrate-acc: error: {e}", file=sys.stderr)
        return 1
    if a.out:
        save_run(run, a.out)
    info = run.info
    who = f"the {info.get('role')} pod {info.get('pod_id')} ({info.get('imu')})"
    if run.calibration is None:
        print(f"posturepod calibrate-acc: {who}: not calibrated: {run.error}", file=sys.stderr)
        return 1
    c = run.calibration
    print(f"{who}: {c.poses} poses, residual {c.rms_m_s2 * 1000:.1f} mm/s^2 "
          f"({c.rms_m_s2 / 9.80665 * 100:.2f} % of g)")
    print("  bias (m/s^2): " + ", ".join(f"{x:+.3f}" for x in c.bias_m_s2))
    print("  scale error (%): " + ", ".join(f"{(c.gain[k, k] - 1) * 100:+.2f}" for k in range(3))
          + "; cross-axis (%): " + ", ".join(f"{c.gain[i, j] * 100:+.2f}"
                                             for i, j in ((0, 1), (0, 2), (1, 2))))
    print(f"  largest tilt correction: {run.tilt_change_deg():.2f} deg")
    if run.error:
        print(f"posturepod calibrate-acc: error: {run.error}", file=sys.stderr)
        return 1
    print("written to the pod (pod.json acc_cal); recordings made from now on are corrected"
          if run.written else "not written to the pod (--dry-run)")
    return 0
