# Native-code (viper) versions of the two byte loops of the frame encoder in pod/wire.py:
# the CRC-16 and the COBS encoder, the largest per-sample costs of the pod's sample path in
# bytecode (bench/firmware_sample_cost.py). Same results as wire.crc16 and
# wire.cobs_encode_into (tests/mp/wire_check.py compares them on the golden vectors and on
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
