"""Record pods to a native recording with a live status line: the code path shared by
``posturepod record``, ``demo`` and the guided protocols."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from posturepod.recordings.writer import RecordingError, RecordingWriter
from posturepod.pods.session import Session


def _silent(s) -> bool:
    from posturepod.pods.session import SILENT_S
    return s.silent_s is not None and s.silent_s > SILENT_S


def pod_problems(session: Session) -> list[str]:
    """What is wrong with the pods now, in words (empty when all stream): a pod whose data
    stopped, a link that is down, lost samples, corrupt frames."""
    out = []
    for r, s in session.stats().items():
        if _silent(s):
            out.append(f"{r}: NO DATA for {s.silent_s:.0f} s ({s.state})")
        elif s.state not in ("streaming", "open"):
            out.append(f"{r}: {s.state}" + (f" ({s.last_error})" if s.last_error else ""))
        if s.lost_samples:
            out.append(f"{r}: {s.lost_samples} samples lost")
        bad = getattr(s, "crc_errors", 0) + getattr(s, "bad_frames", 0)
        if bad:
            out.append(f"{r}: {bad} corrupt frames skipped")
    return out


def status_table(session: Session, elapsed_s: float, title: str = "recording"):
    from rich import box
    from rich.table import Table
    from rich.text import Text
    t = Table(title=f"{title}  {elapsed_s:6.1f} s", title_justify="left", expand=False,
              box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
              padding=(0, 1, 0, 0))                       # fits 80 columns
    for col in ("pod", "link", "samples", "Hz", "gaps", "lost", "CRC", "resync",
                "drops", "reboots"):
        t.add_column(col, justify="right" if col not in ("pod", "link") else "left",
                     no_wrap=True)
    for r, s in session.stats().items():
        link = (Text(f"NO DATA {s.silent_s:.0f}s", style="bold red") if _silent(s)
                else s.state)
        t.add_row(r, link, str(s.samples), f"{s.rate_hz:6.1f}", str(s.seq_gaps),
                  str(s.lost_samples), str(s.crc_errors), str(s.resyncs),  # type: ignore
                  str(s.link_drops), str(s.reboots))
    return t


class KeyMarker:
    """In a terminal, pressing 'm' marks a moment (event 'mark'); digits 1-9 mark 'mark1'..."""

    def __init__(self, session: Session):
        self.session = session
        self._stop = False
        self.thread = None
        if sys.stdin.isatty():
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        import select
        import termios
        import tty
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not self._stop:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    c = sys.stdin.read(1)
                    if c == "m":
                        self.session.mark("mark", source="key")
                    elif c.isdigit() and c != "0":
                        self.session.mark(f"mark{c}", source="key")
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    def stop(self) -> None:
        self._stop = True
        if self.thread:
            self.thread.join(1)


def record(pods: dict[str, str], out: str | Path, *, seconds: float | None = None,
           rate_hz: int | None = None, protocol: str = "", patient: str = "",
           live: bool = True, on_tick=None, extra_meta: dict | None = None,
           session_kwargs: dict | None = None, on_connected=None,
           render=None) -> tuple[Path, Session]:
    """Connect, start, record until `seconds` elapse (or Ctrl-C, or on_tick returns True).
    Returns the recording path and the (stopped) session."""
    rec = RecordingWriter(out, protocol=protocol, patient=patient, extra=extra_meta)
    session = Session(pods, rec, rate_hz=rate_hz, **(session_kwargs or {}))
    try:
        session.connect()
    except BaseException:
        rec.discard()            # nothing recorded: the retry may use the same --out
        raise
    for w in session.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if on_connected:
        on_connected(session)
    session.start()
    rec.log("recording", seconds=seconds)
    t0 = time.monotonic()
    marker = KeyMarker(session) if live else None
    try:
        if live:
            from rich.console import Console
            from rich.live import Live
            console = Console(stderr=True)
            view = render or (lambda s, el: status_table(s, el))
            with Live(view(session, 0.0), console=console, refresh_per_second=4,
                      transient=False) as lv:
                while True:
                    el = time.monotonic() - t0
                    lv.update(view(session, el))
                    if _done(session, el, seconds, on_tick):
                        break
                    time.sleep(0.1)
        else:
            while not _done(session, time.monotonic() - t0, seconds, on_tick):
                time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        if marker:
            marker.stop()
        session.stop()
    if session.error:
        raise RecordingError(session.error)
    return Path(out), session


def _done(session: Session, el: float, seconds, on_tick) -> bool:
    if session.error:
        return True
    if seconds is not None and el >= seconds:
        return True
    return bool(on_tick and on_tick(session, el))
