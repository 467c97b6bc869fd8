# Standalone mode (docs/standalone.md): armed by the host with the segment matrix, the
# calibration's gyro bias and grade, the seated reference, a rule, a buzz pattern, quiet
# hours and the wall-clock time, the pod computes its angle (pod/tilt.py), buzzes on its
# own and writes one record a second to the day log (pod/daylog.py). The armed state lives
# in standalone.json, so a reboot keeps logging (the first record after a boot has the BOOT
# flag).
#
# Per sample (sample(), from the sampler): the angle's sum/min/max and the squared angular
# rate are accumulated, small ints only, no allocation. Once a second (tick()): the record,
# the rule (hold, repeat, quiet hours), a buzz through the App's pattern player.
# Time: dev_s counts seconds since boot from the board's ticks (ticks_diff, no subtraction
# of ticks); the local time of day is (wall_s + utc_offset_min * 60 at arming + the pod
# seconds since) mod 86400. The wall time is checkpointed in standalone.json every
# CHECKPOINT_S so that after a reboot the quiet hours go on from the last checkpoint (the
# time the pod was off is unknown to it; the host maps records to wall time at sync).
import json

from pod import wire
from pod.daylog import DayLog
from pod.tilt import check_gyr_bias, isqrt

STATE = "standalone.json"
CAL_QUALITIES = ("good", "doubtful")   # the calibration's grade, kept for the day-log
CHECKPOINT_S = 600
_NONE = wire.ANGLE_NONE
_RULE_KEYS = ("over_cdeg", "hold_s", "repeat_s")


def _int(d, k, lo, hi, default=None):
    v = d.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise ValueError("%s must be an integer %d..%d" % (k, lo, hi))
    return v


def _check_cal(cal):
    """None, or {quality: good|doubtful, reasons: up to 8 strings of up to 200 chars}."""
    if cal is None:
        return None
    bad = ValueError("cal must be {quality: good|doubtful, reasons: up to 8 strings}")
    if not isinstance(cal, dict) or cal.get("quality") not in CAL_QUALITIES:
        raise bad
    reasons = cal.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > 8:
        raise bad
    for r in reasons:
        if not isinstance(r, str) or len(r) > 200:
            raise bad
    for k in cal:
        if k not in ("quality", "reasons"):
            raise bad
    return cal


def check_settings(cmd, pattern_fn):
    """The arm command's settings, validated (ValueError naming the field), as stored."""
    seg = cmd.get("seg_q14")
    if not isinstance(seg, list) or len(seg) != 9:
        raise ValueError("seg_q14 must be a list of 9 integers (Q14, rows x, y, z)")
    rule = cmd.get("rule")
    if rule is not None:
        if not isinstance(rule, dict):
            raise ValueError("rule must be an object {over_cdeg, hold_s, repeat_s} or null")
        rule = {"over_cdeg": _int(rule, "over_cdeg", 0, 18000),
                "hold_s": _int(rule, "hold_s", 0, 86400),
                "repeat_s": _int(rule, "repeat_s", 0, 86400, 0)}
    quiet = cmd.get("quiet") or []
    if not isinstance(quiet, list):
        raise ValueError("quiet must be a list of [start_min, end_min]")
    for q in quiet:
        if (not isinstance(q, list) or len(q) != 2 or not all(isinstance(v, int) for v in q)
                or not (0 <= q[0] <= 1440 and 0 <= q[1] <= 1440)):
            raise ValueError("quiet entries must be [start_min, end_min], minutes 0..1440")
    radio = cmd.get("radio", "slow")
    if radio not in wire.RADIO_MODES:
        raise ValueError("radio must be one of " + ", ".join(wire.RADIO_MODES))
    cal = _check_cal(cmd.get("cal"))
    wall = cmd.get("wall_s")
    if not isinstance(wall, int) or wall < 0:
        raise ValueError("wall_s must be the UTC time in unix seconds (integer)")
    return {"wall_s": wall, "seg_q14": seg, "ref_cdeg": _int(cmd, "ref_cdeg", -18000, 18000),
            "rule": rule, "pattern": pattern_fn({"pattern": cmd.get("pattern", [300])}),
            "quiet": quiet, "utc_offset_min": _int(cmd, "utc_offset_min", -1440, 1440, 0),
            "radio": radio, "capacity_records": _int(cmd, "capacity_records", 0, 1 << 29, 0),
            "gyr_bias_mdps": check_gyr_bias(cmd.get("gyr_bias_mdps")), "cal": cal}


class Standalone:
    def __init__(self, board, clock, tilt, buzz, link=None, path=STATE, log_dir="dlog"):
        self.board = board
        self.tilt = tilt
        self.buzz = buzz            # buzz(steps): plays a pattern (the App's motor player)
        self.link = link
        self.path = path
        self.log = DayLog(log_dir)
        self.armed = False
        self.settings = None
        self.arms = []
        self.boots = []
        self.boot_count = 0
        self.buzzes = 0
        self.errors = []
        self.dev_s = 0
        self.clock = clock          # pod/clock.py DeviceClock: device time since boot
        # device time of the next whole second (16-bit halves, mod 2**32): 1,000,000 us
        # after the last multiple of a second (small ints: 65536 = 64 * 1024 and
        # 1,000,000 = 64 * 15625)
        r = (64 * ((clock.hi * 1024) % 15625) + clock.lo) % 1000000
        lo = clock.lo + 1000000 - r
        self._blo = lo & 0xFFFF
        self._bhi = (clock.hi + (lo >> 16)) & 0xFFFF
        self._flags = 0
        self._clear_second()
        self._ref = 0
        self._over = 0
        self._hold = 0
        self._repeat = 0
        self._rule = False
        self._quiet = []
        self._pattern = [300]
        self._sod0 = 0              # local second of day at dev_s == _dev0
        self._dev0 = 0
        self._wall0 = 0
        self._over_s = 0
        self._buzzed_at = -1
        self._checkpoint_at = 0

    # ---- state file -------------------------------------------------------------------
    def boot(self):
        """At power-up: count the boot, reopen the log, resume if armed."""
        st = {}
        try:
            with open(self.path) as f:
                st = json.loads(f.read())
            if not isinstance(st, dict):
                raise ValueError("not an object")
        except OSError:
            st = {}
        except ValueError as e:
            self.errors.append("standalone.json unreadable, not armed: %s" % (e,))
            st = {}
        self.boot_count = int(st.get("boot_count", 0)) + 1
        self.arms = st.get("arms") or []
        self.boots = st.get("boots") or []
        try:
            self.log.open()
        except OSError as e:
            self.errors.append("day log: %r" % (e,))
        self.errors += self.log.errors
        s = st.get("settings")
        if st.get("armed") and s:
            try:
                self._apply(s, st.get("wall_est_s", s["wall_s"]), 0)
                self.log.ready()
                self.armed = True
                self._flags = wire.LOGREC_BOOT
                self.boots.append({"seq": self.log.next_seq, "boot": self.boot_count,
                                   "wall_est_s": st.get("wall_est_s", s["wall_s"])})
                self.boots = self.boots[-16:]
            except (ValueError, KeyError, TypeError, OSError) as e:
                self.errors.append("standalone.json settings rejected, not armed: %s" % (e,))
        self.save()

    def save(self):
        st = {"armed": self.armed, "settings": self.settings, "arms": self.arms,
              "boots": self.boots, "boot_count": self.boot_count}
        if self.armed:
            st["wall_est_s"] = self.wall_now()
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(json.dumps(st))
            try:
                import os
                try:
                    os.remove(self.path)
                except OSError:
                    pass
                os.rename(tmp, self.path)
            except OSError:
                pass
        except OSError as e:
            self.errors.append("could not save %s: %r" % (self.path, e))

    def wall_now(self):
        return self._wall0 + (self.dev_s - self._dev0)

    # ---- commands ---------------------------------------------------------------------
    def _apply(self, s, wall_s, dev0):
        self.tilt.set_segment(s["seg_q14"])
        self.tilt.set_gyr_bias(s.get("gyr_bias_mdps"))
        rule = s.get("rule")
        self._rule = rule is not None
        if rule:
            self._over = rule["over_cdeg"]
            self._hold = rule["hold_s"]
            self._repeat = rule.get("repeat_s", 0)
        self._ref = s["ref_cdeg"]
        self._quiet = [(q[0], q[1]) for q in s.get("quiet", [])]
        self._pattern = s.get("pattern") or [300]
        self._wall0 = wall_s
        self._dev0 = dev0
        self._sod0 = (wall_s + s.get("utc_offset_min", 0) * 60) % 86400
        self._over_s = 0
        self._buzzed_at = -1
        self._checkpoint_at = self.dev_s
        self.settings = s
        set_radio = getattr(self.link, "set_radio", None)
        if set_radio is not None:
            set_radio(s.get("radio", "slow"))

    def arm(self, s):
        self._apply(s, s["wall_s"], self.dev_s)
        cap = self.log.set_capacity(s.get("capacity_records", 0))
        self.log.ready()
        self.armed = True
        self._flags |= wire.LOGREC_ARM
        self._clear_second()
        self.arms.append({"seq": self.log.next_seq, "wall_s": s["wall_s"],
                          "boot": self.boot_count, "dev_s": self.dev_s})
        self._prune()
        self.save()
        return {"armed": True, "arm_seq": self.log.next_seq, "capacity_records": cap,
                "records": self.log.records()}

    def disarm(self):
        was = self.armed
        self.armed = False
        self.log.close()
        self.tilt.set_segment(None)
        self.tilt.set_gyr_bias(None)
        set_radio = getattr(self.link, "set_radio", None)
        if set_radio is not None:
            set_radio("on")
        self.save()
        return {"armed": False, "was_armed": was, "records": self.log.records()}

    def _prune(self):
        """Keep the arm entries still relevant: the last at or before the log's first
        record, and every later one."""
        first = self.log.first_seq()
        keep = 0
        for i in range(len(self.arms)):
            if self.arms[i]["seq"] <= first:
                keep = i
        self.arms = self.arms[keep:]
        self.boots = [b for b in self.boots if b["seq"] >= first]

    def info(self):
        lg = self.log
        self._prune()
        return {"armed": self.armed, "first_seq": lg.first_seq(), "next_seq": lg.next_seq,
                "overwritten": lg.overwritten, "torn": lg.torn,
                "record_size": wire.LOGREC_SIZE, "capacity_records": lg.capacity(),
                "boot_count": self.boot_count, "arms": self.arms, "boots": self.boots,
                "settings": self.settings, "dev_s": self.dev_s, "buzzes": self.buzzes,
                "errors": self.errors}

    def read(self, link, from_seq, n):
        return self.log.send(link, from_seq, n)

    def clear(self, upto_seq):
        self.log.clear(upto_seq)
        self._prune()
        self.save()

    # ---- per sample -------------------------------------------------------------------
    def _clear_second(self):
        self._sum = 0
        self._n = 0
        self._lo = 32767
        self._hi = -32768
        self._w2 = 0
        self._wn = 0

    def sample(self, angle):
        """One sample's angle (cdeg or ANGLE_NONE) and the filter's angular rate."""
        self._w2 += self.tilt.w2 >> 4
        self._wn += 1
        if angle != _NONE:
            self._sum += angle
            self._n += 1
            if angle < self._lo:
                self._lo = angle
            if angle > self._hi:
                self._hi = angle

    # ---- once a second ------------------------------------------------------------------
    def tick(self):
        """Call often (after clock.update()): the per-second work when the device time
        (the SAMPLES/PONG clock) passes a whole second. Record dev_s = k covers the samples
        of device time [k - 1, k) s since boot (mod 65536 s in the record)."""
        c = self.clock
        while True:
            dh = (c.hi - self._bhi) & 0xFFFF
            if dh >= 0x8000 or (dh == 0 and c.lo < self._blo):
                return                       # the boundary is still ahead
            lo = self._blo + 16960           # + 1,000,000 us = 15 * 65536 + 16960
            self._bhi = (self._bhi + 15 + (lo >> 16)) & 0xFFFF
            self._blo = lo & 0xFFFF
            self.dev_s += 1
            if self.armed:
                self._second()

    def _quiet_now(self):
        m = ((self._sod0 + self.dev_s - self._dev0) % 86400) // 60
        for a, b in self._quiet:
            if (a <= m < b) if a <= b else (m >= a or m < b):
                return True
        return False

    def _second(self):
        flags = self._flags
        self._flags = 0
        n = self._n
        if n:
            sm = self._sum                   # rounded half away from zero
            mean = (sm + (n >> 1)) // n if sm >= 0 else -((-sm + (n >> 1)) // n)
            lo = self._lo
            hi = self._hi
        else:
            mean = lo = hi = _NONE
            flags |= wire.LOGREC_NODATA
        motion = 0
        if self._wn:
            motion = isqrt((self._w2 // self._wn) << 4, 64) >> 2     # deg/s
            if motion > 255:
                motion = 255
        self._clear_second()
        quiet = self._quiet_now()
        if quiet:
            flags |= wire.LOGREC_QUIET
        if self._rule and n and mean - self._ref > self._over:
            flags |= wire.LOGREC_OVER
            self._over_s += 1
            if self._over_s >= self._hold and not quiet:
                if self._buzzed_at < 0 or (self._repeat > 0
                                           and self.dev_s - self._buzzed_at >= self._repeat):
                    self._buzzed_at = self.dev_s
                    self.buzzes += 1
                    self.buzz(self._pattern)
                    flags |= wire.LOGREC_BUZZ
        else:
            self._over_s = 0
            self._buzzed_at = -1
        try:
            self.log.append(self.dev_s & 0xFFFF, mean, lo, hi, motion, flags)
        except OSError as e:
            if len(self.errors) < 8:
                self.errors.append("day log write failed: %r" % (e,))
        if self.dev_s - self._checkpoint_at >= CHECKPOINT_S:
            self._checkpoint_at = self.dev_s
            self.save()
