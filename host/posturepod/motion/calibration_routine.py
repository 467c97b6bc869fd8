"""Finding the calibration routine in a recording: the quiet stand that opens it and the
first forward bend that all pods share (docs/angles.md, "Finding the routine").

The protocol's structure is used, not a search for the stillest stretch anywhere: the
routine is at the start; its bend is the first movement in which every pod tilts away from
its standing posture at about the same time; the stand is the quiet stretch right before
that bend. A later seated stillness can never be taken for the stand, because the search
stops at the first shared bend (and a sit-down taken for the bend does not come back to
standing, which the grading refuses). The guided capture's events (``calib_stand``,
``calib_bend``, ``calib_done``) are used when present.

"Quiet" is judged by what corrupts a calibration, the wander of each pod's gravity
direction (degrees), with a generous limit for the head, which sways more than the trunk;
not by an instantaneous gyro spread.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posturepod.recordings.data import PodData, Recording

GRID_S = 0.05            # seconds between evaluation points
SMOOTH_S = 0.5           # accelerometer box smoothing for the gravity direction
REF_S = 2.0              # the posture a bend departs from: mean over this span ...
REF_LAG_S = 2.5          # ... ending this long before (a slow bend is well under way by then)
MAX_STAND_S = 30.0       # the stand used is at most this long (the last part before the bend)
SEARCH_S = 240.0         # the routine is looked for in the first SEARCH_S seconds
#: tilt (deg) from the preceding posture that marks a bend, for the pod that leads detection
FIND_DEG = {"thorax": 11.0, "head": 20.0, "pelvis": 8.0}
#: a pod shares the bend when it tilts at least this far (deg) within SHARE_S of the lead
SHARE_DEG = {"pelvis": 3.0, "thorax": 8.0, "head": 5.0}
SHARE_S = 4.0
#: the stand's extent: a pod's gravity direction within this many degrees of its posture
#: just before the bend, and no walking-like acceleration (m/s^2, spread over 0.5 s)
EXTENT_DEG = {"pelvis": 10.0, "thorax": 12.0, "head": 25.0}
EXTENT_ACC_M_S2 = {"pelvis": 1.0, "thorax": 1.0, "head": 2.0}


class RoutineNotFound(Exception):
    """No calibration routine: the message says what is missing (no pod named)."""


@dataclass
class Routine:
    stand_s: tuple[float, float]      # the quiet stand used
    bend_t0: float                    # onset of the calibration bend
    source: str                       # "events" or "automatic"


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (deg) between unit vectors, row by row (broadcasting)."""
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def smoothed_up(pod: PodData, grid: np.ndarray, smooth_s: float = SMOOTH_S):
    """The pod's up direction (unit, sensor frame) from the accelerometer box-averaged over
    ``smooth_s`` around each grid time, and the spread of the acceleration norm there
    (m/s^2; walking and jolts show in it, postural sway hardly does)."""
    t = np.asarray(pod.time_s, float)
    acc = np.asarray(pod.acc_m_s2, float)
    cs = np.vstack([np.zeros((1, 3)), np.cumsum(acc, axis=0)])
    nrm = np.linalg.norm(acc, axis=1)
    c1 = np.r_[0.0, np.cumsum(nrm)]
    c2 = np.r_[0.0, np.cumsum(nrm * nrm)]
    lo = t.searchsorted(grid - 0.5 * smooth_s)
    hi = t.searchsorted(grid + 0.5 * smooth_s)
    n = np.maximum(hi - lo, 1)
    mean = (cs[hi] - cs[lo]) / n[:, None]
    m1 = (c1[hi] - c1[lo]) / n
    spread = np.sqrt(np.maximum((c2[hi] - c2[lo]) / n - m1 * m1, 0.0))
    spread[hi - lo < 2] = np.inf
    return unit(mean), spread


def rolling_sway_deg(up: np.ndarray, n: int) -> np.ndarray:
    """RMS angle (deg) of the unit vectors ``up[i-n+1..i]`` from their mean, for each i
    (from the length r of their mean vector: mean |u - mean|^2 = 1 - r^2); the first n-1
    points see fewer vectors."""
    cs = np.vstack([np.zeros((1, 3)), np.cumsum(up, axis=0)])
    i = np.arange(1, len(up) + 1)
    lo = np.maximum(i - n, 0)
    r = np.linalg.norm((cs[i] - cs[lo]) / (i - lo)[:, None], axis=1)
    return np.degrees(np.sqrt(np.maximum(1.0 - r * r, 0.0)))


def _trailing_mean(up: np.ndarray, span: int, lag: int) -> np.ndarray:
    """Mean of ``up`` over [i - lag - span, i - lag) for each i (unit; edge: first value)."""
    cs = np.vstack([np.zeros((1, 3)), np.cumsum(up, axis=0)])
    i = np.arange(len(up))
    hi = np.clip(i - lag, 1, len(up))
    lo = np.clip(hi - span, 0, len(up) - 1)
    lo = np.minimum(lo, hi - 1)
    return unit((cs[hi] - cs[lo]) / (hi - lo)[:, None])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    e = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(e[::2], e[1::2]))


def from_events(rec: Recording) -> tuple[float, float] | None:
    """(stand start, bend onset) from the guided capture's events: the last stand/bend pair
    before the first ``calib_done`` (a failed attempt is followed by a new ``calib_stand``),
    or the first pair when there is no ``calib_done``."""
    stands = sorted(e.time_s for e in rec.events_named("calib_stand"))
    bends = sorted(e.time_s for e in rec.events_named("calib_bend"))
    done = sorted(e.time_s for e in rec.events_named("calib_done"))
    pairs = []
    for k, ts in enumerate(stands):
        nxt = stands[k + 1] if k + 1 < len(stands) else np.inf
        tb = next((b for b in bends if ts < b < nxt), None)
        if tb is not None:
            pairs.append((ts, tb))
    if not pairs:
        return None
    if done:
        before = [p for p in pairs if p[1] < done[0]]
        if before:
            return before[-1]
    return pairs[0]


def lead_pod(pods: dict) -> str:
    """The pod that leads the detection: the thorax (the trunk sways least and bends most)."""
    return next((r for r in ("thorax", "head", "pelvis") if r in pods), next(iter(pods)))


def find_bend(pods: dict[str, PodData], t_start: float, t_end: float) -> float:
    """Time at which the first shared forward bend is under way (the lead pod has tilted
    FIND_DEG from its posture REF_S before, and every other pod tilts with it)."""
    grid = np.arange(t_start, t_end, GRID_S)
    if len(grid) < int(2 * REF_S / GRID_S):
        raise RoutineNotFound(f"recording too short for the calibration routine "
                              f"({t_end - t_start:.1f} s)")
    lead = lead_pod(pods)
    span, lag = int(REF_S / GRID_S), int(REF_LAG_S / GRID_S)
    tilt = {}
    for r, p in pods.items():
        up, _ = smoothed_up(p, grid)
        tilt[r] = angle_deg(up, _trailing_mean(up, span, lag))
    over = tilt[lead] > FIND_DEG.get(lead, 10.0)
    k_share = int(SHARE_S / GRID_S)
    for a, b in _runs(over):
        lo, hi = max(a - k_share, 0), min(b + k_share, len(grid))
        if all(tilt[r][lo:hi].max() >= SHARE_DEG.get(r, 5.0) for r in pods if r != lead):
            return float(grid[a])
    raise RoutineNotFound(
        f"no forward bend shared by all pods in the first {t_end - t_start:.0f} s "
        f"(the {lead} pod never tilted {FIND_DEG.get(lead, 10.0):.0f} deg with the others)")


def bend_onset(pods: dict[str, PodData], t_start: float, t_cross: float) -> float:
    """Onset of the bend found at ``t_cross``: going back, the last moment the lead pod's
    gravity direction was within its own sway (three times its RMS sway, at least 1 deg)
    of its posture REF_LAG_S..REF_LAG_S + REF_S before the crossing, then back to where
    that rise in tilt began. Gravity, not the gyro:
    an integrated gyro drifts with bias and sway and dates the onset into the stand."""
    p = pods[lead_pod(pods)]
    grid = np.arange(max(t_start, t_cross - REF_LAG_S - REF_S - 2.0), t_cross, GRID_S)
    if len(grid) < 4:
        return t_cross
    up, _ = smoothed_up(p, grid)
    in_ref = (grid >= t_cross - REF_LAG_S - REF_S) & (grid <= t_cross - REF_LAG_S)
    if in_ref.sum() < 4:
        in_ref = np.arange(len(grid)) < max(len(grid) // 3, 4)
    ref = unit(up[in_ref].mean(axis=0))
    tilt = angle_deg(up, ref)
    thr = max(1.0, 3.0 * float(np.sqrt(np.mean(tilt[in_ref] ** 2))))
    calm = np.flatnonzero(tilt <= thr)
    if not calm.size:
        return float(grid[0])
    k = int(calm[-1])
    while k > 0 and tilt[k - 1] < tilt[k]:     # back to where the rise began: a restless
        k -= 1                                  # trunk's threshold is well into the bend
    return float(grid[k])


def stand_before(pods: dict[str, PodData], t_start: float, ts1: float) -> float:
    """Start of the quiet stand that ends at ``ts1``: going back from ts1, the first moment
    a pod's gravity direction left its posture of the last REF_S seconds by more than
    EXTENT_DEG, or its acceleration spread looked like walking; at most MAX_STAND_S."""
    t_lo = max(t_start, ts1 - MAX_STAND_S)
    grid = np.arange(t_lo, ts1, GRID_S)
    if len(grid) < 2:
        return ts1
    quiet = np.ones(len(grid), bool)
    for r, p in pods.items():
        up, spread = smoothed_up(p, grid)
        ref = unit(up[grid >= ts1 - REF_S].mean(axis=0))
        quiet &= angle_deg(up, ref) <= EXTENT_DEG.get(r, 8.0)
        quiet &= spread <= EXTENT_ACC_M_S2.get(r, 1.0)
    bad = np.flatnonzero(~quiet)
    if not bad.size:
        return float(grid[0])
    return float(grid[bad[-1]] + GRID_S)
