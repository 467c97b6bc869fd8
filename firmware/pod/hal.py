# Hardware layer: everything board-specific, built from the board profile (board.json,
# copied from hardware/boards/<name>.json). "hal": "machine" uses MicroPython's machine
# module; "hal": "virtual" hands over to the virtual board (vboard/, only present there).
# A board has: i2c, ticks_us, ticks_diff, led(on), motor(on), battery_mv(), unique_id(),
# reset(), name.
# motor(on): on is a bool or a strength 0..1; the gate is driven by PWM at the profile's
# "pwm_hz" (200 Hz default) and "duty" (0..1, default 1.0) when the port has machine.PWM.
# A led with "ws2812": true is an addressable RGB LED, driven through neopixel.
# battery_mv() averages _ADC_N readings (radio bursts put spikes on single samples).
import json

try:
    from micropython import const  # type: ignore[import-not-found]
except ImportError:  # CPython (tests)
    def const(__x):  # noqa: D103
        return __x

_ADC_N = const(8)           # ADC readings averaged per battery_mv()
_PWM_HZ = const(200)        # motor PWM frequency, Hz
_DUTY_MAX = const(65535)    # duty_u16 full scale
_WS_LEVEL = const(40)       # WS2812 brightness (0..255) for "on": white at 40/255


def load_profile(path="board.json"):
    try:
        with open(path) as f:
            return json.loads(f.read()), None
    except OSError:
        return {"name": "unknown", "hal": "machine"}, "board.json missing: no pins known"
    except ValueError:
        return {"name": "unknown", "hal": "machine"}, "board.json is not valid JSON"


def make_board(profile):
    if profile.get("hal") == "virtual":
        import vboard  # type: ignore[import-not-found]
        return vboard.Board(profile)
    return MachineBoard(profile)


def _pin(machine, spec, out=True):
    if spec is None:
        return None
    return machine.Pin(spec, machine.Pin.OUT if out else machine.Pin.IN)


class MachineBoard:
    def __init__(self, p):
        import machine  # type: ignore[import-not-found]
        import time
        self._m = machine
        self.name = p.get("name", "unknown")
        self.ticks_us = time.ticks_us
        self.ticks_diff = time.ticks_diff
        c = p.get("i2c") or {}
        self.i2c = None
        self.i2c_error = None
        try:
            if "sda" in c:
                self.i2c = machine.I2C(c.get("id", 0), scl=machine.Pin(c["scl"]),
                                       sda=machine.Pin(c["sda"]), freq=c.get("freq", 400000))
            else:
                self.i2c = machine.I2C(c.get("id", 0))
        except Exception as e:  # noqa: BLE001 - report whatever the port raises
            self.i2c_error = "I2C init failed: %r" % (e,)
        led = p.get("led") or {}
        self._np = None
        if led.get("ws2812") and led.get("pin") is not None:
            try:
                import neopixel  # type: ignore[import-not-found]
                self._np = neopixel.NeoPixel(machine.Pin(led["pin"], machine.Pin.OUT), 1)
            except Exception:  # noqa: BLE001 - no neopixel module: the LED stays dark
                self._np = None
        self._led = None if led.get("ws2812") else _pin(machine, led.get("pin"))
        self._led_inv = bool(led.get("active_low"))
        mot = p.get("motor") or {}
        self._motor = _pin(machine, mot.get("pin"))
        self._motor_inv = bool(mot.get("active_low"))
        self._pwm = None
        self._duty = min(max(float(mot.get("duty", 1.0)), 0.0), 1.0)
        if self._motor is not None and hasattr(machine, "PWM"):
            try:
                self._pwm = machine.PWM(self._motor, freq=int(mot.get("pwm_hz", _PWM_HZ)),
                                        duty_u16=_DUTY_MAX if self._motor_inv else 0)
            except Exception:  # noqa: BLE001 - no PWM on this pin: switch it instead
                self._pwm = None
        bat = p.get("battery") or {}
        self._adc = None
        # the divider in thousandths: battery_mv() stays in small ints (a float, or an int
        # past 2**30, is a heap object on a 32-bit port: once a second while streaming)
        self._div_milli = int(float(bat.get("divider", 2.0)) * 1000 + 0.5)
        if bat.get("adc_pin") is not None:
            try:
                pin = machine.Pin(bat["adc_pin"])
                try:  # ESP32: full 0-3.1 V range; the default (0 dB) clips at about 1 V
                    self._adc = machine.ADC(pin, atten=machine.ADC.ATTN_11DB)
                except (AttributeError, TypeError):
                    self._adc = machine.ADC(pin)
            except Exception:  # noqa: BLE001
                self._adc = None
        self.led(False)
        self.motor(False)

    def led(self, on):
        if self._np is not None:
            v = _WS_LEVEL if on else 0
            self._np[0] = (v, v, v)
            self._np.write()
        elif self._led is not None:
            self._led.value(1 if bool(on) != self._led_inv else 0)

    def motor(self, on):
        if self._pwm is not None:
            level = (1.0 if on is True else float(on)) * self._duty if on else 0.0
            d = int(min(max(level, 0.0), 1.0) * _DUTY_MAX)
            self._pwm.duty_u16(_DUTY_MAX - d if self._motor_inv else d)
        elif self._motor is not None:
            self._motor.value(1 if bool(on) != self._motor_inv else 0)

    def battery_mv(self):
        if self._adc is None:
            return 0
        read_uv = getattr(self._adc, "read_uv", None)  # calibrated on ESP32, absent on rp2
        total = 0
        for _ in range(_ADC_N):
            total += read_uv() if read_uv is not None else self._adc.read_u16()
        if read_uv is not None:
            mv = total // _ADC_N // 1000
        else:
            mv = (total // _ADC_N) * 3300 >> 16
        return mv * self._div_milli // 1000

    def unique_id(self):
        import binascii
        return binascii.hexlify(self._m.unique_id()).decode()

    def reset(self):
        self._m.reset()
