"""Thresholds of the sitting analysis. Every default and where it comes from is listed in
docs/sitting.md; those marked "project default" there are this project's own choices."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class SittingConfig:
    # --- time base -----------------------------------------------------------------
    epoch_s: float = 1.0               # posture is decided per epoch (mean angle over it)
    chunk_s: float = 600.0             # offline: seconds of angles per chunk

    # --- the sitting reference ----------------------------------------------------
    reference_s: float = 5.0           # length of upright sitting that makes the reference
    reference_event: str = "sit_reference"
    still_sd_deg: float = 2.0          # auto reference: within-epoch SD of each trunk angle
    still_range_deg: float = 3.0       # ... and range of the epoch means over the window
    still_head_sd_deg: float = 6.0     # the head and neck sway and nod more than the trunk
    still_head_range_deg: float = 8.0  #   (docs/angles.md: real quiet sway, restless heads)
    still_acc_rms_m_s2: float = 0.5    # ... and pelvis acceleration (band-passed) RMS
    sit_pelvis_min_deg: float = 5.0    # auto reference: sitting = pelvis this far posterior
    sit_lumbar_min_deg: float = 5.0    #   of standing, or lumbar this far flexed

    # --- slouch -------------------------------------------------------------------
    slouch_pelvis_deg: float = 10.0    # pelvis_deg < ref - this
    slouch_lumbar_deg: float = 10.0    # lumbar_deg > ref + this
    slouch_min_s: float = 60.0
    gap_max_s: float = 5.0             # gaps shorter than this do not split an episode

    # --- head forward -------------------------------------------------------------
    head_forward_deg: float = 15.0     # neck_deg > ref + this
    head_forward_min_s: float = 30.0
    head_forward_gap_s: float = 2.0    # dips shorter than this do not split (noise allowance)

    # --- forward lean (shown in the timeline, not an episode measure) -------------
    lean_thorax_deg: float = 15.0      # thorax_deg > ref + this with a neutral spine

    # --- activity: standing / walking from the pods --------------------------------
    break_min_s: float = 30.0          # standing or walking this long is a break
    break_gap_s: float = 2.0           # dips shorter than this do not split a break
    break_evidence_s: float = 5.0      # ... which needs this much walking or strict standing
    strict_stand_deg: float = 5.0      # strict standing: pelvis, lumbar, thorax all within
    strict_stand_fraction: float = 0.7  #   this of the calibration stand, and this far from
    #                                     the sitting reference towards standing
    stand_separation_min_deg: float = 4.0   # sitting ref must differ from standing by this
    stand_fraction: float = 0.5        # how far from the sitting ref towards standing
    stand_thorax_max_deg: float = 20.0  # standing trunk is near its calibration inclination
    gait_band_hz: tuple[float, float] = (0.5, 4.0)
    gait_rms_m_s2: float = 0.6         # band-passed |acc| RMS while walking
    gait_periodicity: float = 0.45     # autocorrelation peak at a step or stride lag
    gait_lag_s: tuple[float, float] = (0.3, 1.25)
    walk_fraction: float = 0.25        # walking also needs the posture this far to standing

    # --- live tool ----------------------------------------------------------------
    buzz_after_s: float = 60.0
    buzz_repeat_s: float = 120.0       # while the same posture lasts, buzz again this often
    buzz_repeat_max: int = 3           #   at most this many times per episode (then quiet)
    break_after_s: float = 1800.0
    break_repeat_s: float = 600.0      # still sitting: remind again this often, at most
    break_repeat_max: int = 2          #   this many times per sitting bout

    def to_dict(self) -> dict:
        d = asdict(self)
        for f in fields(self):
            if isinstance(d[f.name], tuple):
                d[f.name] = list(d[f.name])
        return d

    def thresholds(self) -> dict:
        """The clinical thresholds, as written into every result."""
        return {
            "slouch_pelvis_deg": self.slouch_pelvis_deg,
            "slouch_lumbar_deg": self.slouch_lumbar_deg,
            "slouch_min_s": self.slouch_min_s,
            "head_forward_deg": self.head_forward_deg,
            "head_forward_min_s": self.head_forward_min_s,
            "gap_max_s": self.gap_max_s,
            "head_forward_gap_s": self.head_forward_gap_s,
            "break_min_s": self.break_min_s,
            "break_gap_s": self.break_gap_s,
            "lean_thorax_deg": self.lean_thorax_deg,
            "reference_s": self.reference_s,
            "epoch_s": self.epoch_s,
        }
