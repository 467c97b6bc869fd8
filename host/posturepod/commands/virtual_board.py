"""posturepod virtual-board: one virtual pod on a pseudo-terminal."""


def register(sub):
    from posturepod.devices.virtual.options import add_arguments
    p = sub.add_parser("virtual-board", help="run the real firmware on a virtual board (pty)",
                       description="Start a virtual pod: the firmware in the MicroPython unix "
                                   "port (or, with --board pico, on an emulated Raspberry Pi "
                                   "Pico) with an emulated IMU, on a pseudo-terminal at --link.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args):
    import sys
    if sys.platform == "win32":
        print("posturepod virtual-board: error: virtual boards need Linux or macOS "
              "(pseudo-terminals); use a real pod on Windows", file=sys.stderr)
        return 1
    from posturepod.devices.virtual.options import motion_source
    why = motion_source(args)
    if why:
        print(f"posturepod virtual-board: error: {why}", file=sys.stderr)
        return 1
    if args.board == "pico":
        from posturepod.devices.pico.launch import run_from_args as run_pico
        return run_pico(args)
    from posturepod.devices.virtual.board import run_from_args
    return run_from_args(args)
