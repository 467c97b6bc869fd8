"""Progress on long work, on stderr, for a person at a terminal: a rich progress bar, quiet
when stderr is not a terminal (a pipe, a log file, CI) or the command prints --json."""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(description: str, total: float, *, unit: str = "s", quiet: bool = False,
                 stream=None):
    """Yields ``update(done)``: how much of ``total`` is done (seconds of a recording, say).
    A no-op when ``quiet`` or when ``stream`` (default stderr) is not a terminal."""
    stream = sys.stderr if stream is None else stream
    if quiet or not getattr(stream, "isatty", lambda: False)() or total <= 0:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeRemainingColumn)
    cols = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn(f"{{task.completed:.0f}}/{{task.total:.0f}} {unit}"),
            TimeRemainingColumn()]
    with Progress(*cols, console=Console(file=stream), transient=True) as p:
        task = p.add_task(description, total=total)
        yield lambda done: p.update(task, completed=min(float(done), total))


def chunks_with_progress(chunks, update, t0: float):
    """Pass chunks of an angle series on, reporting the seconds done after each."""
    for ch in chunks:
        if len(ch.time_s):
            update(float(ch.time_s[-1]) - t0)
        yield ch
