# The pod's main loop: load settings and board, find the IMU, then serve the link:
# command lines in (pod/wire.py parse_command), frames out; sampler serviced every pass.
# Errors in a command become an error reply; a missing IMU is reported, not fatal.
import json
import struct
import time
from array import array

from pod import wire
from pod import config
from pod import hal
from pod.clock import DeviceClock
from pod.sampler import Sampler
from pod import tilt as tilt_mod
from pod.tilt import Tilt
from pod.anglestream import AngleStream
from pod.standalone import Standalone, check_settings

_LINE_MAX = 512
_STATUS_MS = 1000
_SETTABLE = ("rate_hz", "acc_range_g", "gyr_range_dps", "transport", "role", "acc_cal")
_PATTERN_MAX = 7           # steps of a buzz pattern: on, off, on, ... (ms each)


class App:
    def __init__(self, cfg_path="pod.json", board_path="board.json", link=None, board=None):
        self.cfg_path = cfg_path
        self.cfg, self.cfg_errors = config.load(cfg_path)
        if board is None:
            profile, perr = hal.load_profile(board_path)
            if perr:
                self.cfg_errors.append(perr)
            board = hal.make_board(profile)
        self.board = board
        if link is None and self.cfg["transport"] == "ble":
            try:   # BLE link with store and forward (pod/link_ble.py, docs/ble.md)
                from pod.link_ble import BleLink
                link = BleLink(self.cfg, board, getattr(board, "profile", None))
            except (ImportError, OSError) as e:
                self.cfg_errors.append("BLE unavailable, using serial: %r" % (e,))
        if link is None:
            from pod.link_serial import open_link
            link = open_link(getattr(board, "profile", {}) or {})
        self.link = link
        self.clock = DeviceClock(board.ticks_us, board.ticks_diff,
                                 getattr(board, "dev_start_us", 0))
        self.boot_id = _boot_id()
        self.imu = None
        self.imu_error = None
        self._find_imu()
        self.sampler = Sampler(self.imu, self.clock, link) if self.imu else None
        self._line = bytearray(_LINE_MAX)
        self._n = 0
        self._overlong = False
        self._led_from = None      # ticks when identify started blinking, None = idle
        self._led_ms = 0
        self._led_state = False
        self._motor_from = None    # ticks when the current step began, None = pattern over
        self._pattern = array("H", bytes(2 * _PATTERN_MAX))   # ms per step: on, off, on...
        self._pattern_n = 0
        self._step = 0
        self._status_at = 0
        self._status = bytearray(1 + wire.STATUS_SIZE + 2)
        self._status[0] = wire.MSG_STATUS
        self._status_out = bytearray(wire.max_encoded_len(len(self._status)))
        self._rate_n = 0
        self._rate_t = None
        self.rate_mhz = 0
        self.buzzes = 0
        self.running = True
        # orientation on the pod: the tilt filter fed by the sampler, the angle stream and
        # standalone mode (docs/standalone.md)
        self.tilt = Tilt()
        self.tilt.set_acc_cal(self.cfg["acc_cal"])
        self.angles = AngleStream(link)
        self.stream_kind = None        # what the host streams now: None, "raw", "angle"
        self._last_kind = "raw"
        base = cfg_path[:cfg_path.rfind("/") + 1]      # beside pod.json
        self.standalone = Standalone(board, self.clock, self.tilt, self._buzz, link,
                                     base + "standalone.json", base + "dlog")
        self.standalone.boot()
        self.cfg_errors += self.standalone.errors
        if self.sampler:
            self.sampler.set_consumer(self._on_sample)
        self._imu_need()

    # ---- setup ----------------------------------------------------------------------
    def _find_imu(self):
        from pod.imu import detect, ImuError
        i2c = getattr(self.board, "i2c", None)
        if i2c is None:
            self.imu_error = getattr(self.board, "i2c_error", None) or "no I2C bus"
            return
        try:
            self.imu = detect(i2c)
            self.imu.configure(self.cfg["rate_hz"], self.cfg["acc_range_g"],
                               self.cfg["gyr_range_dps"])
        except (ImuError, OSError) as e:
            self.imu = None
            self.imu_error = str(e) if isinstance(e, ImuError) else "IMU I/O error: %r" % (e,)

    def info(self):
        d = {
            "pod_id": self.cfg.get("pod_id") or self.board.unique_id(),
            "role": self.cfg["role"],
            "fw": config.FW_VERSION,
            "proto": wire.PROTOCOL_VERSION,
            "native": wire.NATIVE_LOOPS,
            "native_tilt": tilt_mod.NATIVE,
            "board": getattr(self.board, "name", "unknown"),
            "transport": self.cfg["transport"],
            "link": getattr(self.link, "kind", "serial"),
            "rate_hz": self.cfg["rate_hz"],
            "boot_id": self.boot_id,
            "config_errors": self.cfg_errors,
            "streaming": self.stream_kind is not None,
            "stream_kind": self._last_kind,
            "armed": self.standalone.armed,
            "motor_on": self._motor_from is not None and self._step % 2 == 0,
            "buzzes": self.buzzes,
            "imu": None,
            "imu_error": self.imu_error,
            "acc_cal": self.cfg["acc_cal"],
        }
        imu = self.imu
        if imu:
            d["imu"] = imu.model
            d["imu_addr"] = imu.addr
            d["odr_hz"] = imu.odr_hz
            d["acc_range_g"] = imu.acc_range_g
            d["gyr_range_dps"] = imu.gyr_range_dps
            d["acc_scale"] = imu.acc_scale
            d["gyr_scale"] = imu.gyr_scale
            d["axes"] = 6
        return d

    # ---- output ---------------------------------------------------------------------
    def send_json(self, msg_type, obj):
        f = wire.encode_frame(msg_type, json.dumps(obj).encode())
        self.link.write(f, len(f))

    def reply(self, cmd, ok=True, **extra):
        d = {"id": cmd.get("id", 0), "op": cmd.get("op", "?"), "ok": ok}
        for k in extra:
            d[k] = extra[k]
        self.send_json(wire.MSG_REPLY, d)

    def log(self, level, msg):
        self.send_json(wire.MSG_LOG, {"level": level, "msg": msg})

    def send_pong(self, rid):
        c = self.clock
        c.update()
        body = bytearray(1 + wire.PONG_SIZE + 2)
        body[0] = wire.MSG_PONG
        struct.pack_into(wire.PONG_FMT, body, 1, rid & 0xFFFF, c.lo, c.hi, c.wraps & 0xFFFF)
        out = bytearray(wire.max_encoded_len(len(body)))
        n = wire.encode_frame_into(body, 1 + wire.PONG_SIZE, out)
        self.link.write(out, n)

    def send_status(self):
        c = self.clock
        s = self.sampler
        struct.pack_into(wire.STATUS_FMT, self._status, 1, c.lo, c.hi, c.wraps & 0xFFFF,
                         s.sent if s else 0, (self.imu.overflows & 0xFFFF) if self.imu else 0,
                         getattr(getattr(self.link, "backlog", None), "dropped_frames", 0)
                         & 0xFFFF, self.rate_mhz, self.board.battery_mv() & 0xFFFF)
        n = wire.encode_frame_into(self._status, 1 + wire.STATUS_SIZE, self._status_out)
        self.link.write(self._status_out, n)

    # ---- commands -------------------------------------------------------------------
    def handle_line(self, line):
        try:
            cmd = wire.parse_command(line)
        except ValueError as e:
            self.send_json(wire.MSG_REPLY, {"id": 0, "op": "?", "ok": False, "error": str(e)})
            return
        try:
            self.dispatch(cmd)
        except Exception as e:  # noqa: BLE001 - a bad command must never kill the pod
            self.reply(cmd, False, error="%s: %s" % (type(e).__name__, e))

    def dispatch(self, cmd):
        op = cmd["op"]
        if op == "info" or op == "hello":
            d = self.info()
            d["id"] = cmd["id"]
            self.send_json(wire.MSG_INFO, d)
        elif op == "ping":
            self.send_pong(cmd["id"])
        elif op == "start":
            if not self.sampler:
                self.reply(cmd, False, error=self.imu_error or "no IMU")
                return
            self._start(cmd)
        elif op == "stop":
            self.stream_kind = None
            self.angles.stop()
            self._imu_need()
            self.reply(cmd)
        elif op == "arm":
            if not self.sampler:
                self.reply(cmd, False, error=self.imu_error or "no IMU")
                return
            d = self.standalone.arm(check_settings(cmd, _pattern))
            self._imu_need()
            self.reply(cmd, **d)
        elif op == "disarm":
            d = self.standalone.disarm()
            self._imu_need()
            self.reply(cmd, **d)
        elif op == "log_info":
            self.reply(cmd, **self.standalone.info())
        elif op == "log_read":
            f = _int(cmd, "from_seq", 0, wire.SEQ_MASK)
            n = _int(cmd, "n", 0, wire.LOG_READ_MAX)
            f, k = self.standalone.read(self.link, f, n)
            self.reply(cmd, from_seq=f, n=k, next_seq=self.standalone.log.next_seq)
        elif op == "log_clear":
            self.standalone.clear(_int(cmd, "upto_seq", 0, wire.SEQ_MASK))
            lg = self.standalone.log
            self.reply(cmd, first_seq=lg.first_seq(), next_seq=lg.next_seq)
        elif op == "set_rate":
            self._set(cmd, "rate_hz", cmd.get("rate_hz"))
        elif op == "set_role":
            self._set(cmd, "role", cmd.get("role"))
        elif op == "set_config":
            for k in _SETTABLE:
                if k in cmd:
                    err = config.validate(k, cmd[k])
                    if err:
                        self.reply(cmd, False, error=err)
                        return
            for k in _SETTABLE:
                if k in cmd:
                    self.cfg[k] = cmd[k]
            self._apply(cmd)
        elif op == "identify":
            ms = _ms(cmd, 2000)
            self._led_from = self.board.ticks_us()
            self._led_ms = ms
            self.reply(cmd, ms=ms)
        elif op == "buzz":
            steps = _pattern(cmd)
            self._buzz(steps)
            self.reply(cmd, ms=sum(steps), steps=len(steps), count=self.buzzes)
        elif op == "reboot":
            self.reply(cmd)
            if self.sampler:
                self.sampler.stop()
            self.board.reset()
        else:
            self.reply(cmd, False, error="unknown command " + op)

    def _buzz(self, steps):
        """Play a pattern [on, off, on...] ms on the motor; replaces one still playing."""
        n = len(steps)
        for i in range(n):
            self._pattern[i] = steps[i]
        self._pattern_n = n
        self._step = 0
        self.board.motor(True)
        self.buzzes += 1
        self._motor_from = self.board.ticks_us()

    def _start(self, cmd):
        s = self.sampler
        imu = self.imu
        if s is None or imu is None:
            raise ValueError("no IMU")
        kind = cmd.get("kind", "raw")
        if kind not in wire.STREAM_KINDS:
            raise ValueError("kind must be one of " + ", ".join(wire.STREAM_KINDS))
        extra = {}
        if kind == "angle":
            out_hz = _int(cmd, "out_hz", wire.ANGLE_MIN_HZ, wire.ANGLE_MAX_HZ, 10)
            if not self.standalone.armed:
                if "seg_q14" in cmd:
                    self.tilt.set_segment(cmd["seg_q14"])
                if "gyr_bias_mdps" in cmd:
                    self.tilt.set_gyr_bias(cmd["gyr_bias_mdps"])
            self.angles.start(out_hz, imu.odr_hz)
            extra["out_hz"] = out_hz
        else:
            self.angles.stop()
        if self.stream_kind is None:
            self._rate_n = s.sent
            self._rate_t = None
        self.stream_kind = kind
        self._last_kind = kind
        self._imu_need()
        self.reply(cmd, rate_hz=self.cfg["rate_hz"], odr_hz=imu.odr_hz, stream_kind=kind,
                   **extra)

    def _imu_need(self):
        """Run the IMU while the host streams or the pod is armed; raw frames only while
        the host streams raw samples."""
        s = self.sampler
        if not s:
            return
        need = self.stream_kind is not None or self.standalone.armed
        send = self.stream_kind == "raw"
        if need and not s.streaming:
            s.send = send
            self._imu_start()
        elif not need and s.streaming:
            s.stop()
        elif s.send != send:
            if s.send:
                s.flush()
            s.send = send

    def _imu_start(self):
        s = self.sampler
        imu = self.imu
        if s is None or imu is None:
            return
        s.start(self.cfg["rate_hz"])
        self.tilt.configure(imu.gyr_scale, imu.acc_scale, imu.odr_hz)
        self.tilt.reset()

    def _on_sample(self, raw, o, seq, tl, th):
        sa = self.standalone
        ang = self.angles
        if not (sa.armed or ang.on):
            return
        t = self.tilt
        t.update(raw, o)
        a = t.angle_cdeg()
        if sa.armed:
            sa.sample(a)
        if ang.on:
            ang.sample(t, a, seq, tl, th)

    def _set(self, cmd, key, val):
        err = config.validate(key, val)
        if err:
            self.reply(cmd, False, error=err)
            return
        self.cfg[key] = val
        self._apply(cmd)

    def _apply(self, cmd):
        s = self.sampler
        was = bool(s and s.streaming)
        if s and was:
            s.stop()
        if self.imu:
            self.imu.configure(self.cfg["rate_hz"], self.cfg["acc_range_g"],
                               self.cfg["gyr_range_dps"])
        self.tilt.set_acc_cal(self.cfg["acc_cal"])
        try:
            config.save(self.cfg, self.cfg_path)
        except OSError as e:
            self.log("warning", "could not save pod.json: %r" % (e,))
        if s and was:
            self._imu_start()
            if self.angles.on and self.imu:
                self.angles.start(self.angles.out_hz, self.imu.odr_hz)
        d = self.info()
        self.reply(cmd, info=d)

    # ---- loop -----------------------------------------------------------------------
    def _read_commands(self, timeout_ms):
        link = self.link
        while link.poll(timeout_ms):
            timeout_ms = 0
            b = link.read_byte()
            if b < 0:
                return
            if b == 10 or b == 13:
                if self._overlong:
                    self._overlong = False
                    self.send_json(wire.MSG_REPLY, {"id": 0, "op": "?", "ok": False,
                                                    "error": "command line too long"})
                elif self._n:
                    line = bytes(self._line[:self._n])
                    self._n = 0
                    self.handle_line(line)
                continue
            if self._n >= _LINE_MAX:
                self._overlong = True
                self._n = 0
            if not self._overlong:
                self._line[self._n] = b
                self._n += 1

    def _timers(self):
        b = self.board
        now = b.ticks_us()
        if self._motor_from is not None:
            if b.ticks_diff(now, self._motor_from) >= self._pattern[self._step] * 1000:
                self._step += 1
                if self._step >= self._pattern_n:
                    b.motor(False)
                    self._motor_from = None
                else:
                    b.motor(self._step % 2 == 0)
                    self._motor_from = now
        if self._led_from is not None:
            el = b.ticks_diff(now, self._led_from)
            if el >= self._led_ms * 1000:
                b.led(False)
                self._led_from = None
            else:
                on = (el // 125000) % 2 == 0
                if on != self._led_state:
                    self._led_state = on
                    b.led(on)
        self.standalone.tick()
        if self.stream_kind is not None and self.sampler:
            el = b.ticks_diff(now, self._status_at)
            if el >= _STATUS_MS * 1000 or el < 0:
                if self._rate_t is not None:
                    dn = (self.sampler.sent - self._rate_n) & wire.SEQ_MASK
                    self.rate_mhz = _mhz(dn, el)
                self._rate_t = now
                self._rate_n = self.sampler.sent
                self._status_at = now
                self.clock.update()
                self.send_status()

    def step(self, timeout_ms):
        self._read_commands(timeout_ms)
        self.clock.update()
        if self.sampler:
            self.sampler.service()
        self._timers()

    def wait_us(self):
        """How long the loop may wait for a command before the next pass: until the
        sampler looks at the chip again (pod/sampler.py), at least one 1 ms link poll while
        a FIFO IMU streams, 150 us for one without FIFO (data-ready polled several times a
        sample period), 20 ms when not streaming."""
        s = self.sampler
        if not (s and s.streaming):
            return 20000
        w = s.wait_us()
        least = 1000 if s.imu.has_fifo else 150
        return w if w > least else least

    def turn(self):
        """One pass of the main loop: wait (for a command, or wait_us()), then step."""
        w = self.wait_us()
        if w >= 1000:
            self.step(w // 1000)
        else:
            self.step(0)
            time.sleep_us(w)

    def run(self):
        self.send_json(wire.MSG_INFO, self.info())
        for e in self.cfg_errors:
            self.log("warning", e)
        if self.imu_error:
            self.log("error", self.imu_error)
        while self.running:
            self.turn()


def _mhz(n, el_us):
    """n events in el_us microseconds as milli-Hz: n * 10**9 // el_us by long division, so
    that no intermediate reaches 2**30 (a heap-allocated big int on 32-bit ports)."""
    if el_us <= 0:
        return 0
    while el_us > 0x5000000:         # r * 10 below must stay < 2**30
        el_us >>= 1
        n >>= 1
    q = n // el_us
    r = n - q * el_us
    for _ in range(9):
        r *= 10
        d = r // el_us
        q = q * 10 + d
        r -= d * el_us
    return q


def _int(cmd, key, lo, hi, default=None):
    v = cmd.get(key, default)
    if not isinstance(v, int) or v < lo or v > hi:
        raise ValueError("%s must be an integer %d..%d" % (key, lo, hi))
    return v


def _ms(cmd, default):
    ms = cmd.get("ms", default)
    if not isinstance(ms, int) or ms < 0 or ms > 60000:
        raise ValueError("ms must be an integer 0..60000")
    return ms


def _pattern(cmd):
    """A buzz's steps in ms: ``pattern`` [on, off, on, ...] (1.._PATTERN_MAX steps, each
    10..5000 ms, an odd count: it ends on), or one ``ms`` pulse (default 300)."""
    p = cmd.get("pattern")
    if p is None:
        return [_ms(cmd, 300)]
    if not isinstance(p, list) or not 0 < len(p) <= _PATTERN_MAX or len(p) % 2 == 0:
        raise ValueError("pattern must be a list of 1, 3, 5 or 7 durations (ms): on, off, on")
    for v in p:
        if not isinstance(v, int) or v < 10 or v > 5000:
            raise ValueError("pattern steps must be integers 10..5000 (ms)")
    return p


def _boot_id():
    try:
        import os
        b = os.urandom(2)
        return b[0] | (b[1] << 8)
    except Exception:  # noqa: BLE001
        return 0


def main():
    app = None
    try:
        import micropython  # type: ignore[import-not-found]
        micropython.kbd_intr(3)
    except (ImportError, AttributeError):
        pass
    try:
        app = App()
        app.run()
    except KeyboardInterrupt:
        if app and app.sampler:
            app.sampler.stop()
        print("posturepod: stopped by Ctrl-C")
    except Exception as e:  # report the crash to the host as a frame, then to the REPL
        try:
            f = wire.encode_frame(wire.MSG_LOG, json.dumps(
                {"level": "fatal", "msg": "firmware crashed: %s: %s" % (type(e).__name__, e)}
            ).encode())
            if app:
                app.link.write(f, len(f))
        except Exception:  # noqa: BLE001
            pass
        raise
