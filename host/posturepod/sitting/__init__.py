"""Sitting posture through a desk day: slouch, head forward, breaks and sitting bouts.

* :func:`analyse_recording` / :func:`analyse_chunks`: the offline analysis (streams the
  angles chunk by chunk); :class:`SittingResult` holds the JSON summary and the timeline.
* :class:`LivePostureMonitor`: the same decisions, fed one sample at a time (live tool).
* :class:`SittingConfig`: every threshold; see docs/sitting.md for their sources.
"""
from .analysis import (PROTOCOL, SittingResult, Timeline, analyse_chunks, analyse_recording,
                       earlier_days, write_result)
from .config import SittingConfig
from .engine import Notice, PostureEngine
from .epochs import ANGLES, Epoch, EpochBuilder
from .episodes import EpisodeTracker
from .live import LivePostureMonitor

__all__ = ["ANGLES", "PROTOCOL", "Epoch", "EpochBuilder", "EpisodeTracker",
           "LivePostureMonitor", "Notice", "PostureEngine", "SittingConfig", "SittingResult",
           "Timeline", "analyse_chunks", "analyse_recording", "earlier_days", "write_result"]
