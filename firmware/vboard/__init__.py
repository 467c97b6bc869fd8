# The virtual board's hardware layer (hal "virtual"): an emulated I2C bus carrying a
# register-level IMU model fed from a motion trace, the pod's own drifting clock, a status
# LED and a vibration motor whose switching is logged. Only installed on virtual boards
# (posturepod virtual-board); real boards never import it. Settings come from vboard.json
# in the board's filesystem, written by the host launcher:
#   {"imu": "MPU-6050", "imu_addr": 104, "trace": "/path/trace.bin", "trace_role": "pelvis",
#    "t0_us": <CLOCK_MONOTONIC us of trace time 0>, "start_ticks": 0, "ppm": 0,
#    "pod_id": "virt-pelvis", "motor_log": "/path/motor.log"}
import json

from vboard.bus import I2C
from vboard.clock import Clock
from vboard.motion import StillSource, TraceSource


def _settings(path="vboard.json"):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {}


class Board:
    def __init__(self, profile, settings=None):
        s = _settings() if settings is None else settings
        self.profile = profile
        self.settings = s
        self.name = profile.get("name", "virtual")
        self.clock = Clock(s.get("t0_us"), s.get("start_ticks", 0), s.get("ppm", 0))
        self.dev_start_us = s.get("dev_start_us", 0)   # device time counter at boot
        self.ticks_us = self.clock.ticks_us
        self.ticks_diff = self.clock.ticks_diff
        if s.get("trace"):
            self.source = TraceSource(s["trace"], s.get("trace_role", "pelvis"))
        else:
            self.source = StillSource()
        self.i2c = I2C()
        self.i2c_error = None
        model = s.get("imu", "MPU-6050")
        self.chip = None
        if model and model.lower() != "none":
            from vboard import chips
            self.chip = chips.make(model, self.source, self.clock)
            addr = s.get("imu_addr") or self.chip.ADDRESSES[0]
            self.i2c.attach(addr, self.chip)
        self.led_state = False
        self.motor_state = False
        self.motor_events = 0
        self._motor_log = s.get("motor_log")

    def led(self, on):
        self.led_state = bool(on)

    def motor(self, on):
        on = bool(on)
        if on == self.motor_state:
            return
        self.motor_state = on
        self.motor_events += 1
        if self._motor_log:
            with open(self._motor_log, "a") as f:
                f.write("%d %s\n" % (self.clock.true_us() + self.clock.t0, "on" if on else "off"))

    def battery_mv(self):
        return 3900

    def unique_id(self):
        return self.settings.get("pod_id") or "virtual"

    def reset(self):
        # machine.reset() is a hard reset: end the interpreter at once (sys.exit would
        # only drop to the REPL under `micropython -i`); the relay then boots it again.
        import os
        os.system("kill -9 $PPID")
