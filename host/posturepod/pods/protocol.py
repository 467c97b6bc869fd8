"""Host side of the wire protocol: a stream decoder for pod -> host frames.

The format is defined once, in ``posturepod.firmware.pod.wire`` (the very file the pods
run); this module only adds what a host needs on top: a resynchronising stream decoder
with statistics, a C-speed CRC (``binascii.crc_hqx`` computes the same CRC-16/CCITT-FALSE,
checked against the shared table in the tests), and numpy views of sample batches.
See docs/protocol.md.
"""
from __future__ import annotations

import binascii
import json
import struct
from dataclasses import dataclass, field

import numpy as np

from posturepod.firmware.pod import wire

MAX_BLOCK = 4096   # no legal frame is longer; longer runs without a delimiter are garbage


def _record_dtype(n_axes: int) -> np.dtype:
    return np.dtype([("dt_us", "<u2"), ("counts", "<i2", (n_axes,))])


_DTYPES = {6: _record_dtype(6), 9: _record_dtype(9)}


@dataclass
class Samples:
    seq0: int                  # sequence number of the first sample (30-bit, wraps)
    t0_us: int                 # device time of the first sample, us mod 2**32
    flags: int
    dt_us: np.ndarray          # (n,) uint16, time since previous sample in this frame
    counts: np.ndarray         # (n, n_axes) int16 raw chip counts

    @property
    def n(self) -> int:
        return len(self.dt_us)

    @property
    def t_us(self) -> np.ndarray:
        """Device time of every sample, us, mod 2**32 (int64 array)."""
        return (self.t0_us + np.cumsum(self.dt_us, dtype=np.int64)) % wire.TIME_MODULO


@dataclass
class Pong:
    req_id: int
    t_dev_us: int              # full 48-bit device time, us


@dataclass
class Status:
    t_dev_us: int
    samples_sent: int
    fifo_overflows: int
    frames_dropped: int
    rate_hz: float
    battery_mv: int


@dataclass
class LogRecs:
    """Day-log records answering ``log_read`` (standalone mode): ``raw`` holds the n
    16-byte records exactly as the pod stored them (each with its own CRC, checked by the
    caller: a bad one is flash damage, not link damage, which the frame CRC catches)."""
    seq0: int
    raw: bytes

    @property
    def n(self) -> int:
        return len(self.raw) // wire.LOGREC_SIZE


@dataclass
class Angles:
    """On-pod orientation (``start`` with kind "angle"): per sample dt_us, angle_cdeg and
    the up direction in the sensor frame (Q14)."""
    seq0: int
    t0_us: int
    recs: list


@dataclass
class Message:
    type: int
    name: str
    body: object               # dict for info/reply/log, Samples, Pong or Status


class FrameError(ValueError):
    pass


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def decode_block(block: bytes) -> tuple[int, bytes]:
    """One delimited block -> (type, payload); raises FrameError. Same result as
    wire.decode_frame, faster."""
    try:
        body = wire.cobs_decode(block)
    except ValueError as e:
        raise FrameError(str(e)) from None
    if len(body) < 3:
        raise FrameError("frame too short")
    if crc16(body[:-2]) != (body[-2] | (body[-1] << 8)):
        raise FrameError("CRC mismatch")
    return body[0], body[1:-2]


def parse_payload(msg_type: int, payload: bytes) -> Message:
    name = wire.MSG_NAMES.get(msg_type)
    if name is None:
        raise FrameError(f"unknown message type 0x{msg_type:02X}")
    if msg_type == wire.MSG_SAMPLES:
        if len(payload) < wire.SAMPLES_HDR_SIZE:
            raise FrameError("samples header truncated")
        seq0, lo, hi, n, flags, n_axes = struct.unpack_from(wire.SAMPLES_HDR, payload)
        dt = _DTYPES.get(n_axes)
        if dt is None:
            raise FrameError(f"samples with {n_axes} axes")
        if len(payload) != wire.SAMPLES_HDR_SIZE + n * dt.itemsize:
            raise FrameError("samples length does not match count")
        rec = np.frombuffer(payload, dtype=dt, count=n, offset=wire.SAMPLES_HDR_SIZE)
        body = Samples(seq0, lo | (hi << 16), flags, rec["dt_us"], rec["counts"])
    elif msg_type == wire.MSG_LOGRECS:
        try:
            seq0, _ = wire.unpack_logrecs(payload)
        except (ValueError, struct.error) as e:
            raise FrameError(str(e)) from None
        body = LogRecs(seq0, bytes(payload[wire.LOGRECS_HDR_SIZE:]))
    elif msg_type == wire.MSG_ANGLES:
        try:
            seq0, t0, recs = wire.unpack_angles(payload)
        except (ValueError, struct.error) as e:
            raise FrameError(str(e)) from None
        body = Angles(seq0, t0, recs)
    elif msg_type == wire.MSG_PONG:
        if len(payload) != wire.PONG_SIZE:
            raise FrameError("pong length")
        rid, lo, hi, wraps = struct.unpack(wire.PONG_FMT, payload)
        body = Pong(rid, (wraps << 32) | (hi << 16) | lo)
    elif msg_type == wire.MSG_STATUS:
        if len(payload) != wire.STATUS_SIZE:
            raise FrameError("status length")
        lo, hi, wraps, sent, ovf, dropped, rate_mhz, mv = struct.unpack(wire.STATUS_FMT, payload)
        body = Status((wraps << 32) | (hi << 16) | lo, sent, ovf, dropped, rate_mhz / 1000.0, mv)
    else:
        try:
            body = json.loads(payload.decode())
        except (UnicodeDecodeError, ValueError):
            raise FrameError(f"{name} message is not JSON") from None
        if not isinstance(body, dict):
            raise FrameError(f"{name} message is not a JSON object")
    return Message(msg_type, name, body)


@dataclass
class DecoderStats:
    frames: int = 0            # frames decoded
    crc_errors: int = 0        # blocks whose CRC did not match
    bad_frames: int = 0        # blocks with broken COBS, bad length or unknown type
    resyncs: int = 0           # times the decoder dropped bytes to find the next frame
    bytes_in: int = 0
    bytes_dropped: int = 0
    last_error: str = ""
    by_type: dict = field(default_factory=dict)


class StreamDecoder:
    """Feed raw bytes from a link, get complete messages. Never raises on bad input:
    damaged frames are counted and skipped; every intact frame after the damage is
    recovered at the next delimiter. Bytes before the first delimiter of a stream (joined
    mid-frame, REPL banner...) count as one resync, not as an error."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = DecoderStats()
        self._synced = False

    def drop_partial(self) -> None:
        """Forget a partly received frame (the link was reopened)."""
        if self._buf:
            self.stats.bytes_dropped += len(self._buf)
            self._buf.clear()
        self._synced = False

    def feed(self, data: bytes) -> list[Message]:
        st = self.stats
        st.bytes_in += len(data)
        self._buf += data
        if b"\x00" not in data:
            if len(self._buf) > MAX_BLOCK:
                st.resyncs += 1
                st.bytes_dropped += len(self._buf)
                self._buf.clear()
                self._synced = False
            return []
        parts = self._buf.split(b"\x00")
        self._buf = bytearray(parts[-1])
        out = []
        for block in parts[:-1]:
            if not block:
                self._synced = True
                continue
            if not self._synced:
                self._synced = True
                try:
                    t, payload = decode_block(block)
                except FrameError:
                    st.resyncs += 1
                    st.bytes_dropped += len(block) + 1
                    continue
            else:
                try:
                    t, payload = decode_block(block)
                except FrameError as e:
                    if str(e) == "CRC mismatch":
                        st.crc_errors += 1
                    else:
                        st.bad_frames += 1
                    st.resyncs += 1
                    st.bytes_dropped += len(block) + 1
                    st.last_error = str(e)
                    continue
            try:
                m = parse_payload(t, payload)
            except FrameError as e:
                st.bad_frames += 1
                st.last_error = str(e)
                continue
            st.frames += 1
            st.by_type[m.name] = st.by_type.get(m.name, 0) + 1
            out.append(m)
        return out
