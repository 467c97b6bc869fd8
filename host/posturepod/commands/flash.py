"""posturepod flash: install or update the pod firmware on a MicroPython board (compiled
to .mpy for the board, copied with mpremote, verified by sha256, only what changed), then
soft-reboot it and print the pod's info. See docs/deploy.md."""
import sys


def register(sub):
    from posturepod.devices.boards import board_names
    p = sub.add_parser(
        "flash", help="install the firmware on a MicroPython board",
        description="Compile the firmware to .mpy for the board, copy what changed with "
                    "mpremote (sha256-verified), write pod.json and board.json, soft-reboot "
                    "and print the pod's info message.")
    p.add_argument("--port", required=True, help="serial port (/dev/ttyACM0, COM5, a "
                                                 "virtual board's link)")
    p.add_argument("--role", required=True, choices=["pelvis", "thorax", "head"])
    p.add_argument("--board", choices=board_names(),
                   help="board profile (hardware/boards/); default: from what the board "
                        "reports and its USB IDs")
    p.add_argument("--transport", choices=["serial", "ble"],
                   help="link the pod streams over (default: keep, else serial)")
    p.add_argument("--rate-hz", type=int, help="sample rate (default: keep, else 100)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the board's REPL (default 10)")
    p.add_argument("--boot-timeout", type=float, default=20.0,
                   help="seconds to wait for the firmware's info after the reboot")
    p.set_defaults(func=_run)


def _run(a):
    from posturepod.devices.deploy import flash, format_info, imu_hint
    from posturepod.devices.deploy_error import DeployError

    def log(msg):
        print(msg, flush=True)

    try:
        res = flash(a.port, role=a.role, board=a.board, transport=a.transport,
                    rate_hz=a.rate_hz, timeout_s=a.timeout, boot_timeout_s=a.boot_timeout,
                    log=log)
    except DeployError as e:
        print(f"posturepod flash: error: {e}", file=sys.stderr)
        return 1
    info = res.info
    print("pod info: " + format_info(info))
    for m in res.logs:
        print(f"pod {m.get('level', 'log')}: {m.get('msg')}")
    if info.get("imu_error") or not info.get("imu"):
        print(f"posturepod flash: error: the firmware is installed and running, but the IMU "
              f"was not found after boot: {info.get('imu_error') or 'no IMU'}. "
              f"{imu_hint(res.board)}", file=sys.stderr)
        return 1
    if info.get("role") != a.role:
        print(f"posturepod flash: error: the pod says role {info.get('role')!r}, "
              f"not {a.role!r}", file=sys.stderr)
        return 1
    print(f"flashed {a.port}: {a.role} pod on {res.board}, IMU {info.get('imu')}, "
          f"{len(res.sent)} files sent, {len(res.unchanged)} unchanged")
    return 0
