# The orientation stream (`start` with kind "angle"): every 1/out_hz s of samples, one
# ANGLES record (pod/wire.py) with the segment angle and the filter's up vector, packed
# into frames of about 10 per second. A record whose dt_us would not fit 16 bits (out_hz
# below 16) starts a new frame, whose header carries its full time. No allocation per
# sample: preallocated body/out buffers, struct.pack_into, time as 16-bit halves.
import struct

from pod import wire

_HDR_END = 1 + wire.ANGLES_HDR_SIZE
_MAX_BATCH = 8


class AngleStream:
    def __init__(self, link):
        self.link = link
        self._body = bytearray(_HDR_END + _MAX_BATCH * wire.ANGLE_REC_SIZE + 2)
        self._body[0] = wire.MSG_ANGLES
        self._out = bytearray(wire.max_encoded_len(len(self._body)))
        self.on = False
        self.out_hz = 0
        self.every = 1
        self.batch = 1
        self.sent = 0
        self._k = 0
        self._count = 0
        self._seq0 = 0
        self._t0lo = 0
        self._t0hi = 0
        self._plo = 0
        self._phi = 0

    def start(self, out_hz, odr_hz):
        self.out_hz = out_hz
        e = int(odr_hz / out_hz + 0.5)
        self.every = e if e > 0 else 1
        b = out_hz // 10
        self.batch = 1 if b < 1 else (_MAX_BATCH if b > _MAX_BATCH else b)
        self._k = 0
        self._count = 0
        self.on = True

    def stop(self):
        if self.on:
            self.flush()
        self.on = False

    def sample(self, tilt, angle, seq, tl, th):
        """Called for every sample; keeps one in `every`."""
        self._k += 1
        if self._k < self.every:
            return
        self._k = 0
        dt = 0
        if self._count:
            dh = (th - self._phi) & 0xFFFF
            dt = (dh << 16) + tl - self._plo if dh < 0x100 else 0x10000
            if dt > 0xFFFF or dt < 0:
                self.flush()
        if self._count == 0:
            self._seq0 = seq
            self._t0lo = tl
            self._t0hi = th
            dt = 0
        self._plo = tl
        self._phi = th
        struct.pack_into(wire.ANGLE_REC, self._body, _HDR_END + self._count * wire.ANGLE_REC_SIZE,
                         dt, angle, tilt.x >> 2, tilt.y >> 2, tilt.z >> 2)
        self._count += 1
        if self._count >= self.batch:
            self.flush()

    def flush(self):
        c = self._count
        if c == 0:
            return
        struct.pack_into(wire.ANGLES_HDR, self._body, 1, self._seq0, self._t0lo, self._t0hi, c)
        n = wire.encode_frame_into(self._body, _HDR_END + c * wire.ANGLE_REC_SIZE, self._out)
        self.link.write(self._out, n)
        self.sent += c
        self._count = 0
