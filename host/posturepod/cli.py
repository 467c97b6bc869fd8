"""The ``posturepod`` command. Each sub-command lives in ``posturepod/commands/<name>.py``
and defines ``register(subparsers)``, which adds its parser and sets ``func`` (called with
the parsed args; returns the exit code)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="posturepod",
                                description="IMU posture pods: record, analyse, report. "
                                            "Start here: posturepod demo (no hardware).")
    p.add_argument("--version", action="version", version=f"posturepod {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{m.name}")
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from posturepod.recordings.data import DataError
    try:
        return int(args.func(args) or 0)
    except DataError as e:
        print(f"posturepod {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:         # output piped into head & co, which stopped reading
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
