"""MicroPython source that the benches' on-board helper scripts start with: the unit every
cost ratio is against, one struct.pack_into of a 14-byte sample record (a sample's own
smallest cost), timed in the same run on the same interpreter (bench/README.md)."""

BASELINE_MP = r'''
import gc as _gc
import struct as _struct
import time as _time


def baseline(n):
    """Microseconds per struct.pack_into of a 14-byte sample record, over n of them."""
    buf = bytearray(14 * 32)
    pk = _struct.pack_into
    _gc.collect()
    t0 = _time.ticks_us()
    for i in range(n):
        pk("<H6h", buf, 14, 10000, 120, -340, 16384, 5, -7, 9)
    return _time.ticks_diff(_time.ticks_us(), t0) / n
'''
