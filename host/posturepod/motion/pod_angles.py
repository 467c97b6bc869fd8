"""The angles standalone pods computed themselves (a day-log recording), as the same
:class:`~posturepod.motion.angles.AngleSeries` the analyses get from fused raw samples.

Each pod logged, per second of its own clock, the mean of its segment's sagittal angle
(the same quantity and sign as ``angles.segment_angle_deg``, from the calibration's
segment axes given at arming). The pods' seconds are mapped to wall time
(:mod:`posturepod.recordings.daylog_clock`) and put on one grid of whole seconds from the
earliest record (each record to the nearest grid second: pods tick at different
sub-second phases, so two pods' values of one grid second are up to 0.5 s apart); then
``lumbar = thorax - pelvis`` and ``neck = head - thorax`` as for the streamed angles.
A grid second is at ``time_s = k + 0.5`` (its middle), so the sitting analysis' 1 s epochs
each hold exactly one value per pod.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from posturepod.motion.angles import SEGMENTS, AngleSeries
from posturepod.recordings.daylog import DayLog
from posturepod.recordings.daylog_clock import ClockMap, map_clock


@dataclass
class PodAngleGrid:
    t0_wall_s: float                 # UTC seconds of grid second 0
    angles: dict[str, np.ndarray]    # role -> (K,) mean degrees (NaN: no record)
    clocks: dict[str, ClockMap]
    record_index: dict[str, np.ndarray]   # role -> (K,) index of the record, -1 none

    @property
    def n_seconds(self) -> int:
        return len(next(iter(self.angles.values()))) if self.angles else 0

    def grid_index(self, role: str, wall_s) -> np.ndarray:
        return np.rint(np.asarray(wall_s, float) - self.t0_wall_s).astype(np.int64)

    def series(self, k0: int = 0, k1: int | None = None) -> AngleSeries:
        """Grid seconds k0..k1 that hold any pod's value, as an AngleSeries."""
        k1 = self.n_seconds if k1 is None else min(k1, self.n_seconds)
        nan = np.full(max(k1 - k0, 0), np.nan)
        a = {f"{s}_deg": self.angles[s][k0:k1] if s in self.angles else nan
             for s in SEGMENTS}
        any_ = np.zeros(len(nan), bool)
        for v in a.values():
            any_ |= np.isfinite(v)
        keep = np.flatnonzero(any_)
        p, t, h = (a[f"{s}_deg"][keep] for s in SEGMENTS)
        return AngleSeries(time_s=(np.arange(k0, k1, dtype=np.float64) + 0.5)[keep],
                           pelvis_deg=p, thorax_deg=t, head_deg=h, lumbar_deg=t - p,
                           neck_deg=h - t,
                           meta={"rate_hz": 1.0, "source": "pods", "kind": "day-log"})

    def chunks(self, chunk_s: float = 600.0) -> Iterator[AngleSeries]:
        step = max(1, int(chunk_s))
        for k0 in range(0, self.n_seconds, step):
            ch = self.series(k0, k0 + step)
            if len(ch):
                yield ch


def pod_angle_grid(dl: DayLog) -> PodAngleGrid:
    """Every pod's per-second mean angle on one grid of whole seconds of wall time."""
    clocks = {r: map_clock(p) for r, p in dl.pods.items()}
    starts = [float(np.nanmin(c.wall_s)) for c in clocks.values()
              if len(c.wall_s) and np.isfinite(c.wall_s).any()]
    t0 = math.floor(min(starts)) if starts else 0.0
    ends = [float(np.nanmax(c.wall_s)) for c in clocks.values()
            if len(c.wall_s) and np.isfinite(c.wall_s).any()]
    n = int(np.rint(max(ends) - t0)) + 1 if ends else 0
    angles, index = {}, {}
    for r, c in clocks.items():
        ok = np.flatnonzero(np.isfinite(c.wall_s))
        k = np.rint(c.wall_s[ok] - t0).astype(np.int64)
        v = np.full(n, np.nan)
        idx = np.full(n, -1, np.int64)
        v[k] = dl.pods[r].mean_deg[ok]       # two records on one second: the later wins
        idx[k] = ok
        angles[r], index[r] = v, idx
    return PodAngleGrid(float(t0), angles, clocks, index)
