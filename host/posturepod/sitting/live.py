"""The causal building block of the live sitting tool: fed one angle sample at a time."""
from __future__ import annotations

import math

import numpy as np

from .config import SittingConfig
from .engine import Notice, PostureEngine
from .epochs import EpochBuilder


class LivePostureMonitor:
    """Posture state, slouch / head-forward buzzes and break reminders, sample by sample.

    ``update(time_s, pelvis_deg, thorax_deg, head_deg, lumbar_deg, neck_deg, acc=None)``
    takes one sample (angles in degrees as in :mod:`posturepod.motion.angles`; ``acc``: the pelvis
    acceleration (3,) in m/s^2 at the same time, for gait) and returns the
    :class:`~posturepod.sitting.engine.Notice` s it raised. Notices of kind
    ``slouch_buzz`` / ``head_forward_buzz`` come when the posture has lasted
    ``buzz_after_s``; ``break_reminder`` when sitting has gone on for ``break_after_s``.

    Decisions are made per epoch (``cfg.epoch_s``) by the same engine as the offline
    analysis, so its episodes, breaks and bouts are those of
    :func:`~posturepod.sitting.analysis.analyse_chunks` on the same series; the state lags
    the samples by up to two epochs (the gait measure is centred).

    The sitting reference: ``reference`` (dict of the five angles), or
    :meth:`mark_reference` (the wearer sits upright and presses the button: the next
    ``reference_s`` make the reference), or automatically the first ``reference_s`` of
    still sitting.
    """

    def __init__(self, cfg: SittingConfig | None = None, *, buzz_after_s: float | None = None,
                 break_after_s: float | None = None, reference: dict | None = None,
                 reference_time_s: float | None = None, acc_rate_hz: float | None = None,
                 buzz_repeat_s: float | None = None):
        self.cfg = cfg = cfg or SittingConfig()
        self.engine = PostureEngine(cfg, reference=reference, reference_time_s=reference_time_s,
                                    buzz_after_s=buzz_after_s, break_after_s=break_after_s,
                                    buzz_repeat_s=buzz_repeat_s)
        self.builder = EpochBuilder(cfg.epoch_s, acc_rate_hz=acc_rate_hz, use_acc=True,
                                    gait_band_hz=cfg.gait_band_hz, gait_lag_s=cfg.gait_lag_s)
        self._row = np.empty((1, 5))

    @property
    def buzz_after_s(self) -> float:
        return self.engine.buzz_after_s

    @property
    def break_after_s(self) -> float:
        return self.engine.break_after_s

    def mark_reference(self, time_s: float) -> None:
        """Take the reference from the ``reference_s`` after ``time_s`` (the wearer sits
        upright since then; up to 2 min in the past). Only before a reference exists."""
        self.engine.set_reference_time(time_s)

    def update(self, time_s: float, pelvis_deg: float, thorax_deg: float, head_deg: float,
               lumbar_deg: float = math.nan, neck_deg: float = math.nan,
               acc=None) -> list[Notice]:
        if not math.isfinite(lumbar_deg):
            lumbar_deg = thorax_deg - pelvis_deg
        if not math.isfinite(neck_deg):
            neck_deg = head_deg - thorax_deg
        r = self._row
        r[0, 0], r[0, 1], r[0, 2], r[0, 3], r[0, 4] = (pelvis_deg, thorax_deg, head_deg,
                                                       lumbar_deg, neck_deg)
        t = np.array([time_s], dtype=np.float64)
        if acc is not None:
            eps = self.builder.push(t, r.copy(), t, np.asarray(acc, dtype=np.float64)
                                    .reshape(1, -1))
        else:
            eps = self.builder.push(t, r.copy())
        notes = []
        for ep in eps:
            notes += self.engine.feed(ep)
        return notes

    def finish(self) -> list[Notice]:
        notes = []
        for ep in self.builder.finish():
            notes += self.engine.feed(ep)
        return notes + self.engine.finish()

    @property
    def state(self) -> dict:
        return self.engine.state()

    @property
    def reference(self) -> dict | None:
        return self.engine.reference

    # the decisions so far, as the offline analysis names them
    @property
    def slouch_episodes(self):
        return list(self.engine.slouch.episodes)

    @property
    def head_forward_episodes(self):
        return list(self.engine.head.episodes)

    @property
    def breaks(self):
        return list(self.engine.brk.episodes)

    @property
    def sitting_bouts(self):
        return list(self.engine.bouts)
