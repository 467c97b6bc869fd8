# Native-code (viper) versions of the byte loops of the pod's sample path in pod/wire.py:
# the frame encoder's CRC-16 and COBS encoder, and the record copy (with the byte swap of a
# big-endian chip) from the IMU's FIFO bytes into a frame, the largest per-sample costs in
# bytecode (bench/firmware_sample_cost.py, bench/pico.py: on a Pico the bytecode copy and
# swap took 0.8 ms a sample). Same results as wire.crc16, wire.cobs_encode_into and
# wire.copy_into (tests/mp/wire_check.py compares them on the golden vectors and on
# random buffers). pod/wire.py uses them when this module imports: on MicroPython ports
# with the viper emitter (ESP32 xtensawin, ESP32-C3 rv32imc, RP2040 armv6m, the unix port
# x64); elsewhere it keeps its own.
#
# Viper does no bounds checks: dst must hold n + n // 254 + 1 bytes from `at`, as
# wire.max_encoded_len sizes the pod's preallocated buffers.
import micropython


@micropython.viper
def crc16(buf, start: int, end: int, crc: int, table) -> int:
    """CRC-16/CCITT-FALSE of buf[start:end] continuing from crc; table: wire._CRC_TABLE."""
    b = ptr8(buf)
    t = ptr16(table)
    c = crc
    i = start
    while i < end:
        c = ((c << 8) & 0xFF00) ^ t[((c >> 8) ^ b[i]) & 0xFF]
        i += 1
    return c


@micropython.viper
def cobs_encode_into(src, n: int, dst, at: int) -> int:
    """COBS-encode src[:n] into dst from index `at`; returns the index past the output."""
    s = ptr8(src)
    d = ptr8(dst)
    code_i = at
    o = at + 1
    code = 1
    i = 0
    while i < n:
        v = s[i]
        if v == 0:
            d[code_i] = code
            code_i = o
            o += 1
            code = 1
        else:
            d[o] = v
            o += 1
            code += 1
            if code == 0xFF:
                d[code_i] = code
                if i == n - 1:
                    return o
                code_i = o
                o += 1
                code = 1
        i += 1
    d[code_i] = code
    return o


@micropython.viper
def copy_into(src, si: int, dst, di: int, n: int, swap: int):
    """dst[di:di + n] = src[si:si + n], each 16-bit pair swapped when swap is true."""
    s = ptr8(src)
    d = ptr8(dst)
    i = 0
    if swap:
        while i < n:
            d[di + i] = s[si + i + 1]
            d[di + i + 1] = s[si + i]
            i += 2
    else:
        while i < n:
            d[di + i] = s[si + i]
            i += 1
