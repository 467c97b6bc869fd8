"""Verdict of the forward-flexion test: the pattern names and :class:`VerdictRule`, which
judges one repetition (or the session medians) as ``normal``, ``inhibited_hip`` or
``inconclusive`` and says why in plain words, and the margin of a verdict: how far the
measures lie from the thresholds, in degrees, in share and in units of the measurement
error."""
from __future__ import annotations

import math
from dataclasses import dataclass

NORMAL = "normal"
INHIBITED = "inhibited_hip"
INCONCLUSIVE = "inconclusive"
PATTERNS = (NORMAL, INHIBITED, INCONCLUSIVE)


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _num(x: float, threshold: float, nd: int) -> str:
    """``x`` with ``nd`` decimals, more (up to 3 more) when that would print it as the
    threshold it is compared with."""
    text = f"{x:.{nd}f}"
    for extra in range(1, 4):
        if x == threshold or text != f"{threshold:.{nd + extra - 1}f}":
            break
        text = f"{x:.{nd + extra}f}"
    return text


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict (docs/flexion.md, "Verdict rule" and "Uncertainty band").

    A repetition whose peak trunk flexion is below ``min_trunk_deg`` is ``inconclusive``:
    the pelvis normally takes over late in the bend, so a shallow bend cannot show it.
    Otherwise it is ``inhibited_hip`` when the peak pelvic rotation is below
    ``max_pelvis_deg`` and (``combine="and"``) / or (``combine="or"``) the lumbar share of
    the trunk flexion at its peak is above ``min_lumbar_share``; else ``normal``.

    Uncertainty band: ``sigma_pelvis_deg`` and ``sigma_share`` are the measurement error
    (SD of measured - true peak of one repetition) of the two measures. When the verdict
    would change if the pelvis and / or the share moved by less than ``k_sigma`` of their
    sigmas (any corner of the +-k sigma box on the other side of the rule), the
    repetition is ``inconclusive``: the measurement cannot tell. The defaults are the SDs
    measured by ``bench/flexion_repeatability.py`` (12 simulated recordings per kind of
    patient, sway 0 and 1; the largest SD of a row or the largest 95th percentile of the
    absolute error / k, rounded up), so that the +-k sigma band (k = 2, about 95 %)
    covers at least 95 % of the errors of every kind of patient. ``k_sigma = 0`` (or
    both sigmas 0) turns the band off.

    Values within ``borderline_pelvis_deg`` / ``borderline_share`` of a threshold but
    outside the band are flagged as borderline (the verdict is still given).
    """
    min_trunk_deg: float = 60.0
    max_pelvis_deg: float = 50.0
    min_lumbar_share: float = 0.5
    combine: str = "and"
    borderline_pelvis_deg: float = 5.0
    borderline_share: float = 0.05
    sigma_pelvis_deg: float = 0.5
    sigma_share: float = 0.0075
    k_sigma: float = 2.0

    def __post_init__(self):
        if self.combine not in ("and", "or"):
            raise ValueError(f"VerdictRule.combine must be 'and' or 'or', not {self.combine!r}")
        for name in ("sigma_pelvis_deg", "sigma_share", "k_sigma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"VerdictRule.{name} must be a finite number >= 0, not {v!r}")

    # ------------------------------------------------------------------ the rule itself
    def _inhibited(self, low_pelvis: bool, high_share: bool) -> bool:
        return (low_pelvis and high_share) if self.combine == "and" else (
            low_pelvis or high_share)

    @property
    def band_pelvis_deg(self) -> float:
        """Half-width of the uncertainty band around ``max_pelvis_deg`` (k sigma)."""
        return self.k_sigma * self.sigma_pelvis_deg

    @property
    def band_share(self) -> float:
        """Half-width of the uncertainty band around ``min_lumbar_share`` (k sigma)."""
        return self.k_sigma * self.sigma_share

    @staticmethod
    def _in_sigmas(distance: float, sigma: float) -> float:
        """|distance| in units of sigma (0 on the threshold; inf when sigma is 0)."""
        if distance == 0:
            return 0.0
        return abs(distance) / sigma if sigma > 0 else math.inf

    def margin(self, peak_pelvis: float | None, lumbar_share: float | None) -> dict | None:
        """How far the measures lie from the rule, or None when one is missing.

        ``pelvis_deg`` = peak pelvis - ``max_pelvis_deg`` (positive: more pelvic rotation
        than the threshold, the normal side); ``lumbar_share`` = share -
        ``min_lumbar_share`` (positive: the inhibited side); ``sigmas`` = the smallest
        move, in units of the measurement SDs, that changes the verdict (the measures
        moved together, each by at most that many of its sigmas; inf when no move can,
        e.g. sigmas of 0); ``within_band`` = ``sigmas < k_sigma``: the measurement cannot
        tell (the trunk depth is not looked at here)."""
        if not _finite(peak_pelvis, lumbar_share):
            return None
        assert peak_pelvis is not None and lumbar_share is not None
        dp = float(peak_pelvis) - self.max_pelvis_deg
        ds = float(lumbar_share) - self.min_lumbar_share
        zp = self._in_sigmas(dp, self.sigma_pelvis_deg)
        zs = self._in_sigmas(ds, self.sigma_share)
        low, high = dp < 0, ds > 0
        now = self._inhibited(low, high)
        flips = []
        if self._inhibited(not low, high) != now:
            flips.append(zp)
        if self._inhibited(low, not high) != now:
            flips.append(zs)
        if self._inhibited(not low, not high) != now:
            flips.append(max(zp, zs))
        sig = min(flips) if flips else math.inf
        return {"pelvis_deg": dp, "lumbar_share": ds, "sigmas": sig,
                "within_band": bool(sig < self.k_sigma)}

    def _band_words(self, peak_pelvis: float, lumbar_share: float) -> list[str]:
        """Plain-words reasons for a verdict withheld by the band: the measures that lie
        inside it, then the others."""
        out, rest = [], []
        dp = peak_pelvis - self.max_pelvis_deg
        ds = lumbar_share - self.min_lumbar_share
        if abs(dp) < self.band_pelvis_deg or dp == 0:
            out.append(f"pelvic rotation {peak_pelvis:.1f} deg is within "
                       f"{self.band_pelvis_deg:g} deg of the {self.max_pelvis_deg:g} deg "
                       f"threshold: the measurement cannot tell")
        else:
            rest.append(self._pelvis_words(peak_pelvis))
        if abs(ds) < self.band_share or ds == 0:
            out.append(f"lumbar share {lumbar_share:.3f} is within {self.band_share:g} of "
                       f"the {self.min_lumbar_share:.2f} threshold: the measurement cannot "
                       f"tell")
        else:
            rest.append(self._share_words(lumbar_share))
        return out + rest

    def _pelvis_words(self, peak_pelvis: float) -> str:
        low = peak_pelvis < self.max_pelvis_deg
        return (f"pelvic rotation {_num(peak_pelvis, self.max_pelvis_deg, 0)} deg "
                f"{'<' if low else '>='} {self.max_pelvis_deg:.0f} deg")

    def _share_words(self, lumbar_share: float) -> str:
        high = lumbar_share > self.min_lumbar_share
        return (f"lumbar share {_num(lumbar_share, self.min_lumbar_share, 2)} "
                f"{'>' if high else '<='} {self.min_lumbar_share:.2f}")

    def classify(self, peak_trunk: float | None, peak_pelvis: float | None,
                 lumbar_share: float | None, band: bool = True) -> tuple[str, list[str]]:
        """Return (pattern, reasons in plain words). ``band=False``: the bare rule, without
        the uncertainty band (e.g. to judge the true values of a simulation)."""
        if peak_trunk is None or not math.isfinite(peak_trunk):
            return INCONCLUSIVE, ["no trunk angle"]
        if peak_trunk < self.min_trunk_deg:
            return INCONCLUSIVE, [f"bend too shallow to judge: peak trunk flexion "
                                  f"{peak_trunk:.0f} deg < {self.min_trunk_deg:.0f} deg"]
        if not _finite(peak_pelvis, lumbar_share):
            return INCONCLUSIVE, ["pelvic angle missing"]
        assert peak_pelvis is not None and lumbar_share is not None
        if band:
            m = self.margin(peak_pelvis, lumbar_share)
            if m is not None and m["within_band"]:
                return INCONCLUSIVE, self._band_words(peak_pelvis, lumbar_share)
        low_pelvis = peak_pelvis < self.max_pelvis_deg
        high_share = lumbar_share > self.min_lumbar_share
        reasons = [self._pelvis_words(peak_pelvis), self._share_words(lumbar_share)]
        inhibited = self._inhibited(low_pelvis, high_share)
        if self.is_borderline(peak_pelvis, lumbar_share):
            reasons.append("borderline: a measure lies close to its threshold")
        return (INHIBITED if inhibited else NORMAL), reasons

    def withheld(self, peak_trunk: float | None, peak_pelvis: float | None,
                 lumbar_share: float | None) -> bool:
        """True when the verdict is ``inconclusive`` only because of the uncertainty band
        (the bend is deep enough and both measures are there, but too close to the rule)."""
        if not _finite(peak_trunk, peak_pelvis, lumbar_share):
            return False
        assert peak_trunk is not None
        if peak_trunk < self.min_trunk_deg:
            return False
        m = self.margin(peak_pelvis, lumbar_share)
        return bool(m is not None and m["within_band"])

    def is_borderline(self, peak_pelvis: float | None, lumbar_share: float | None) -> bool:
        if peak_pelvis is None or lumbar_share is None:
            return False
        return (abs(peak_pelvis - self.max_pelvis_deg) <= self.borderline_pelvis_deg
                or abs(lumbar_share - self.min_lumbar_share) <= self.borderline_share)
