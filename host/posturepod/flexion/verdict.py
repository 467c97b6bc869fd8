"""Verdict of the forward-flexion test: the pattern names and :class:`VerdictRule`, which
judges one repetition (or the session medians) as ``normal``, ``inhibited_hip`` or
``inconclusive`` and says why in plain words."""
from __future__ import annotations

import math
from dataclasses import dataclass

NORMAL = "normal"
INHIBITED = "inhibited_hip"
INCONCLUSIVE = "inconclusive"
PATTERNS = (NORMAL, INHIBITED, INCONCLUSIVE)


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict (docs/flexion.md, "Verdict rule").

    A repetition whose peak trunk flexion is below ``min_trunk_deg`` is ``inconclusive``:
    the pelvis normally takes over late in the bend, so a shallow bend cannot show it.
    Otherwise it is ``inhibited_hip`` when the peak pelvic rotation is below
    ``max_pelvis_deg`` and (``combine="and"``) / or (``combine="or"``) the lumbar share of
    the trunk flexion at its peak is above ``min_lumbar_share``; else ``normal``.
    Values within ``borderline_pelvis_deg`` / ``borderline_share`` of a threshold are
    flagged as borderline (the verdict is still given).
    """
    min_trunk_deg: float = 60.0
    max_pelvis_deg: float = 50.0
    min_lumbar_share: float = 0.5
    combine: str = "and"
    borderline_pelvis_deg: float = 5.0
    borderline_share: float = 0.05

    def __post_init__(self):
        if self.combine not in ("and", "or"):
            raise ValueError(f"VerdictRule.combine must be 'and' or 'or', not {self.combine!r}")

    def classify(self, peak_trunk: float | None, peak_pelvis: float | None,
                 lumbar_share: float | None) -> tuple[str, list[str]]:
        """Return (pattern, reasons in plain words)."""
        if peak_trunk is None or not math.isfinite(peak_trunk):
            return INCONCLUSIVE, ["no trunk angle"]
        if peak_trunk < self.min_trunk_deg:
            return INCONCLUSIVE, [f"bend too shallow to judge: peak trunk flexion "
                                  f"{peak_trunk:.0f} deg < {self.min_trunk_deg:.0f} deg"]
        if peak_pelvis is None or lumbar_share is None or not (
                math.isfinite(peak_pelvis) and math.isfinite(lumbar_share)):
            return INCONCLUSIVE, ["pelvic angle missing"]
        low_pelvis = peak_pelvis < self.max_pelvis_deg
        high_share = lumbar_share > self.min_lumbar_share
        reasons = [
            f"pelvic rotation {peak_pelvis:.0f} deg "
            f"{'<' if low_pelvis else '>='} {self.max_pelvis_deg:.0f} deg",
            f"lumbar share {lumbar_share:.2f} {'>' if high_share else '<='} "
            f"{self.min_lumbar_share:.2f}",
        ]
        inhibited = (low_pelvis and high_share) if self.combine == "and" else (
            low_pelvis or high_share)
        if abs(peak_pelvis - self.max_pelvis_deg) <= self.borderline_pelvis_deg or \
                abs(lumbar_share - self.min_lumbar_share) <= self.borderline_share:
            reasons.append("borderline: a measure lies close to its threshold")
        return (INHIBITED if inhibited else NORMAL), reasons

    def is_borderline(self, peak_pelvis: float | None, lumbar_share: float | None) -> bool:
        if peak_pelvis is None or lumbar_share is None:
            return False
        return (abs(peak_pelvis - self.max_pelvis_deg) <= self.borderline_pelvis_deg
                or abs(lumbar_share - self.min_lumbar_share) <= self.borderline_share)
