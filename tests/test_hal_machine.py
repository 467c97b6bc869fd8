"""firmware/pod/hal.py's MachineBoard on a fake ``machine`` module (CPython): the motor is
driven by PWM with the profile's duty and strength, a ``"ws2812": true`` LED through
neopixel, and the battery reading is the mean of several ADC readings."""
from __future__ import annotations

import importlib
import sys
import time
import types

import pytest

from conftest import FIRMWARE


class Pin:
    OUT, IN = 1, 0

    def __init__(self, spec, mode=None):
        self.spec, self.mode, self.v = spec, mode, None

    def value(self, v):
        self.v = v


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin, self.freq, self.duty = pin, freq, duty_u16

    def duty_u16(self, d):
        self.duty = d


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.readings = iter([1_900_000, 1_900_000, 1_900_000, 1_900_000,
                              1_900_000, 1_900_000, 1_900_000, 3_500_000] * 4)

    def read_uv(self):
        return next(self.readings)


class NeoPixel:
    def __init__(self, pin, n):
        self.pin, self.px, self.writes = pin, [(0, 0, 0)] * n, 0

    def __setitem__(self, i, v):
        self.px[i] = v

    def write(self):
        self.writes += 1


@pytest.fixture
def hal(monkeypatch):
    machine = types.SimpleNamespace(Pin=Pin, PWM=PWM, ADC=ADC, I2C=lambda *a, **k: object(),
                                    unique_id=lambda: b"\x01\x02", reset=lambda: None)
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setattr(time, "ticks_us", lambda: 0, raising=False)
    monkeypatch.setattr(time, "ticks_diff", lambda a, b: a - b, raising=False)
    monkeypatch.setitem(sys.modules, "neopixel", types.SimpleNamespace(NeoPixel=NeoPixel))
    monkeypatch.syspath_prepend(str(FIRMWARE))
    sys.modules.pop("pod.hal", None)
    return importlib.import_module("pod.hal")


PROFILE = {"name": "t", "hal": "machine", "i2c": {"id": 0, "sda": 5, "scl": 6},
           "led": {"pin": 21, "active_low": True}, "motor": {"pin": 2, "active_low": False},
           "battery": {"adc_pin": 1, "divider": 2.0}}


def test_motor_is_pwm_with_duty_and_strength(hal):
    b = hal.MachineBoard({**PROFILE, "motor": {"pin": 2, "active_low": False, "duty": 0.6}})
    assert b._pwm.freq == 200 and b._pwm.duty == 0
    b.motor(True)
    assert b._pwm.duty == int(0.6 * 65535)
    b.motor(0.5)
    assert b._pwm.duty == int(0.3 * 65535)
    b.motor(False)
    assert b._pwm.duty == 0
    inv = hal.MachineBoard({**PROFILE, "motor": {"pin": 2, "active_low": True}})
    assert inv._pwm.duty == 65535
    inv.motor(True)
    assert inv._pwm.duty == 0


def test_ws2812_led_goes_through_neopixel(hal):
    b = hal.MachineBoard({**PROFILE, "led": {"pin": 48, "active_low": False, "ws2812": True}})
    assert b._led is None and b._np is not None
    b.led(True)
    assert b._np.px[0] != (0, 0, 0) and b._np.writes >= 2
    b.led(False)
    assert b._np.px[0] == (0, 0, 0)
    plain = hal.MachineBoard(PROFILE)
    plain.led(True)
    assert plain._np is None and plain._led.v == 0          # active low


def test_battery_is_the_mean_of_several_readings(hal):
    b = hal.MachineBoard(PROFILE)
    # seven readings of 1.9 V and one spike of 3.5 V (divided): mean 2.1 V -> 4200 mV
    assert b.battery_mv() == (7 * 1_900_000 + 3_500_000) * 2 // 8 // 1000
