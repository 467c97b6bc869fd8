"""Episodes from a per-epoch condition: held at least ``min_s``, gaps shorter than ``gap_s``
do not split. Causal: an episode's start is known when it is confirmed, its end once the
condition has been off for ``gap_s`` (or at the end of the data)."""
from __future__ import annotations


class EpisodeTracker:
    """Feed ``update(t0, t1, cond)`` epoch by epoch (in time order, gaps in time allowed).

    ``episodes`` collects the finished episodes as ``(start_s, end_s)``; ``start`` and
    ``last_end`` describe the candidate in progress (``start`` is None when there is none).
    """

    def __init__(self, min_s: float, gap_s: float, name: str = "",
                 min_qualified_s: float = 0.0):
        self.min_s = float(min_s)
        self.gap_s = float(gap_s)
        self.min_qualified_s = float(min_qualified_s)
        self.name = name
        self.qualified_s = 0.0
        self.start: float | None = None
        self.last_end: float | None = None
        self.confirmed = False
        self.episodes: list[tuple[float, float]] = []

    def update(self, t0: float, t1: float, cond: bool, qualifies: bool = True) -> list[str]:
        """Returns what happened: any of "closed" (an episode was added to ``episodes``),
        "confirmed" (the candidate just reached ``min_s`` and ``min_qualified_s`` of epochs
        where ``qualifies`` was true, e.g. walking within a break)."""
        what = []
        if self.start is not None and t0 - self.last_end >= self.gap_s - 1e-9:
            if self._close():
                what.append("closed")
        if cond:
            if self.start is None:
                self.start = t0
                self.confirmed = False
                self.qualified_s = 0.0
            self.last_end = t1
            if qualifies:
                self.qualified_s += t1 - t0
            if (not self.confirmed and self.last_end - self.start >= self.min_s - 1e-9
                    and self.qualified_s >= self.min_qualified_s - 1e-9):
                self.confirmed = True
                what.append("confirmed")
        elif self.start is not None and t1 - self.last_end >= self.gap_s - 1e-9:
            if self._close():
                what.append("closed")
        return what

    def active_s(self, now: float) -> float:
        """How long the candidate in progress has lasted (0 without one)."""
        return 0.0 if self.start is None else now - self.start

    def _close(self) -> bool:
        ok = self.confirmed
        if ok:
            self.episodes.append((self.start, self.last_end))
        self.start = None
        self.last_end = None
        self.confirmed = False
        return ok

    def finish(self) -> bool:
        """Close the candidate in progress at the end of the data."""
        if self.start is None:
            return False
        return self._close()
