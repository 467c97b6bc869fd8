"""The live guide of the calibration routine, and the wiring every live guide shares.

Phases: stand still (>= 5 s, all pods still) -> calibration bend (30-60 deg, slow) ->
stand still (2 s) -> calibration solved (the same code as offline) -> the exam's own
phases (``after_calibration``, run by ``tick_after``). Events: calib_stand, calib_bend,
calib_done, and warn:* with the warning text. The flexion and sitting guides build on it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from posturepod.motion.live import LiveAngles


@dataclass
class CalibrationSettings:
    stand_s: float = 5.0            # quiet standing before the calibration bend
    still_gyr_rad_s: float = 0.25   # "still": trunk pods not turning faster than this ...
    still_head_gyr_rad_s: float = 0.6   # ... the head (its sway), and LiveAngles.quiet
    steady_gyr_rad_s: float = 0.15  # "steady": a pod whose angle can be read as a posture
    calib_min_deg: float = 25.0     # calibration bend: asked 30-60 deg
    calib_max_deg: float = 75.0
    after_still_s: float = 2.0
    fast_deg_s: float = 90.0        # a bend faster than this (trunk angular speed) is too fast
    restless_after_s: float = 8.0   # no quiet stand for this long: say which pod moves


PROMPTS = {
    "stand": "Stand upright, arms relaxed, and keep still.",
    "bend": "Calibration: bend forward slowly, about half way (30-60 degrees), and come back up.",
    "settle": "Stand still again.",
}


@dataclass
class CalibrationGuide:
    live: LiveAngles
    mark: object                     # callable(label, t_rec_s)
    settings: CalibrationSettings = field(default_factory=CalibrationSettings)
    phase: str = "stand"
    warnings: list = field(default_factory=list)
    events: list = field(default_factory=list)   # events written so far (calibration input)
    after_calibration: str = "done"
    _still_since: float | None = None
    _ref_up: dict = field(default_factory=dict)
    _bend_t0: float | None = None
    _bend_max: float = 0.0
    _prev: tuple | None = None
    _calib_error: str = ""
    _stand_t0: float | None = None

    def _warn(self, msg: str, t: float) -> None:
        if not self.warnings or self.warnings[-1][1] != msg:
            self.warnings.append((t, msg))
            self.mark("warn:" + msg, t)

    def all_still(self) -> bool:
        """Every pod standing (or sitting) quietly: its gravity direction steady (the offline
        calibration's notion of a stand, the head allowed its natural sway) and no pod
        turning fast (the head's own sway allowed for)."""
        s = self.settings
        return all(self.live.quiet(r, 1.0) and self.live.still(
            r, 0.5, s.still_head_gyr_rad_s if r == "head" else s.still_gyr_rad_s)
            for r in self.live.pods)

    def steady(self, role: str) -> bool:
        """The pod has not turned at all for a second (strict: for reading its angle as a
        posture, e.g. to see whether it slipped)."""
        return self.live.still(role, 1.0, self.settings.steady_gyr_rad_s)

    def tick(self) -> bool:
        """Advance the guide; returns True when the protocol is complete."""
        s = self.settings
        t = self.live.time_s()
        if self.phase == "stand":
            if self.all_still():
                if self._still_since is None:
                    self._still_since = t - 0.5
                    self._ref_up = {r: self.live.up_in_sensor(r) for r in self.live.pods}
                elif t - self._still_since >= s.stand_s:
                    self.mark("calib_stand", self._still_since)
                    self._ref_up = {r: self.live.up_in_sensor(r) for r in self.live.pods}
                    self.phase = "bend"
            else:
                if self._still_since is not None and t - self._still_since > 1.0:
                    self._warn("moved during the calibration stand: look at a point ahead "
                               "and stand still", t)
                self._still_since = None
                if self._stand_t0 is None:
                    self._stand_t0 = t
                elif t - self._stand_t0 > s.restless_after_s:
                    busy = [r for r in self.live.pods if not self.live.quiet(r, 1.0)]
                    if busy:
                        self._warn(f"{' and '.join(busy)} pod{'s' if len(busy) > 1 else ''} "
                                   f"keep{'' if len(busy) > 1 else 's'} moving: look at a "
                                   f"point ahead and stand still", t)
                    self._stand_t0 = t
        elif self.phase == "bend":
            tilt = self.live.tilt_deg("thorax", self._ref_up["thorax"]) \
                if "thorax" in self.live.pods else 0.0
            if self._bend_t0 is None and tilt > 5.0:
                self._bend_t0 = t
                self.mark("calib_bend", t)
            if self._bend_t0 is not None:
                self._bend_max = max(self._bend_max, tilt)
                self._speed_check(tilt, t, "calibration bend")
                if tilt < 5.0 and t - self._bend_t0 > 1.0:
                    if self._bend_max < s.calib_min_deg:
                        self._warn(f"calibration bend only {self._bend_max:.0f} deg: "
                                   f"bend further (30-60)", t)
                    elif self._bend_max > s.calib_max_deg:
                        self._warn(f"calibration bend {self._bend_max:.0f} deg: "
                                   f"only half way is needed", t)
                    self.phase = "settle"
                    self._still_since = None
        elif self.phase == "settle":
            if self.all_still():
                if self._still_since is None:
                    self._still_since = t
                elif t - self._still_since >= s.after_still_s:
                    try:
                        self.live.calibrate(self.events)
                        self.mark("calib_done", t)
                        self.phase = self.after_calibration
                    except Exception as e:  # noqa: BLE001 - any failure: do it again
                        self._calib_error = str(e)
                        self._warn(f"calibration failed: {e}; once more please", t)
                        self.phase = "stand"
                        self._still_since = None
                        self._bend_t0 = None
                        self._bend_max = 0.0
            else:
                self._still_since = None
        else:
            return self.tick_after(t)
        return self.phase == "done"

    def tick_after(self, t: float) -> bool:
        """Phases after the calibration, for guides built on this one."""
        return self.phase == "done"

    def _speed_check(self, angle: float, t: float, what: str) -> None:
        if self._prev is not None:
            dt = t - self._prev[1]
            if 0.05 < dt < 1.0:
                if abs(angle - self._prev[0]) / dt > self.settings.fast_deg_s:
                    self._warn(f"{what} too fast: slower please", t)
        self._prev = (angle, t)

    def prompt(self) -> str:
        return PROMPTS.get(self.phase, "")


def angle_text(angles: dict, label: str = "vs standing") -> str:
    """One line of the angles for the live views (fits 76 columns)."""
    return f"{label}: " + " ".join(
        f"{k.removesuffix('_deg')} {v:+.0f}°" if not math.isnan(v)
        else f"{k.removesuffix('_deg')} --" for k, v in angles.items())


def attach_live(session) -> tuple[LiveAngles, object, list]:
    """Live angles fed by the session's pods, and a ``mark(label, t_rec_s)`` that writes an
    event into the recording and keeps it in the returned list (the guides' events)."""
    infos = {r: ps.link.info for r, ps in session.pods.items()}
    live = LiveAngles(infos, t0=session.recorder.t0)
    events: list = []

    def mark(label, t_rec):
        events.append(session.recorder.event(label, session.recorder.t0 + t_rec))

    session.on_samples = live.on_samples
    return live, mark, events


def guide_view(state: dict, render_fn):
    """The live view for acquire.record: the status table until the guide exists."""
    def view(session, el):
        g = state.get("guide")
        if g is None:
            from posturepod.pods.acquire import status_table
            return status_table(session, el)
        return render_fn(g, session, el)
    return view
