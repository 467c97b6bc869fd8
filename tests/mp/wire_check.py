# Golden-vector checks of the wire protocol, written to run unchanged under CPython, the
# MicroPython unix port and a board's own port: `micropython tests/mp/wire_check.py VECTORS`
# (MICROPYPATH=firmware), imported by tests/test_wire.py, or run on the emulated Pico with
# mpremote beside a copy of the vectors (tests/test_pico.py). Prints "OK name" /
# "FAIL name: why"; returns failures.
import json
import struct
import sys

try:
    from pod import wire
except ImportError:  # CPython with the posturepod package installed
    from posturepod.firmware.pod import wire


def unhex(s):
    return bytes.fromhex(s) if s else b""


def run(path):
    with open(path) as f:
        v = json.loads(f.read())
    fails = []

    def check(name, cond, why=""):
        if cond:
            print("OK", name)
        else:
            print("FAIL", name + ":", why)
            fails.append(name)

    check("version", v["protocol_version"] == wire.PROTOCOL_VERSION,
          "golden %d vs code %d" % (v["protocol_version"], wire.PROTOCOL_VERSION))
    for i, c in enumerate(v["crc16"]):
        got = wire.crc16(unhex(c["hex"]))
        check("crc16_%d" % i, got == c["crc"], "%04X != %04X" % (got, c["crc"]))
    for i, (raw_hex, enc_hex) in enumerate(v["cobs"]):
        raw = unhex(raw_hex)
        out = bytearray(len(raw) + len(raw) // 254 + 2)
        n = wire.cobs_encode_into(raw, len(raw), out)
        check("cobs_enc_%d" % i, bytes(out[:n]) == unhex(enc_hex), "encoding differs")
        check("cobs_dec_%d" % i, wire.cobs_decode(unhex(enc_hex)) == raw, "decoding differs")
    for f in v["frames"]:
        payload = unhex(f["payload_hex"])
        frame = wire.encode_frame(f["type"], payload)
        check("frame_enc_" + f["name"], frame == unhex(f["frame_hex"]), "frame bytes differ")
        fr = unhex(f["frame_hex"])
        t, p = wire.decode_frame(fr[1:-1])
        check("frame_dec_" + f["name"], t == f["type"] and bytes(p) == payload, "decode differs")
        fl = f.get("fields")
        if f["type"] == wire.MSG_SAMPLES:
            seq0, lo, hi, n, flags, nax = struct.unpack_from(wire.SAMPLES_HDR, p, 0)
            ok = (seq0 == fl["seq0"] and wire.join_u32(lo, hi) == fl["t0_us"]
                  and n == len(fl["records"]) and flags == fl["flags"] and nax == 6)
            for k, (dt, axes) in enumerate(fl["records"]):
                got = struct.unpack_from("<H6h", p, wire.SAMPLES_HDR_SIZE
                                         + k * wire.record_size(6))
                ok = ok and got[0] == dt and list(got[1:]) == axes
            check("fields_" + f["name"], ok, "sample fields differ")
        elif f["type"] == wire.MSG_PONG:
            rid, lo, hi, wraps = struct.unpack(wire.PONG_FMT, p)
            t = (wraps << 32) | wire.join_u32(lo, hi)
            check("fields_pong", rid == fl["req_id"] and t == fl["t_dev_us"], "pong differs")
        elif f["type"] == wire.MSG_ANGLES:
            seq0, t0, recs = wire.unpack_angles(p)
            ok = (seq0 == fl["seq0"] and t0 == fl["t0_us"]
                  and [list(r) for r in recs] == fl["records"])
            check("fields_" + f["name"], ok, "angle fields differ")
        elif f["type"] == wire.MSG_LOGRECS:
            seq0, recs = wire.unpack_logrecs(p)
            ok = seq0 == fl["seq0"] and len(recs) == len(fl["records"])
            buf = bytearray(wire.LOGREC_SIZE)
            for k, r in enumerate(fl["records"]):
                ok = ok and list(recs[k][:7]) == r and recs[k][7] is True
                # the pod's writer gives the stored bytes
                wire.pack_logrec_into(buf, 0, *r)
                at = wire.LOGRECS_HDR_SIZE + k * wire.LOGREC_SIZE
                ok = ok and bytes(buf) == bytes(p[at:at + wire.LOGREC_SIZE])
                ok = ok and wire.logrec_ok(buf)
                buf[3] ^= 0x40
                ok = ok and not wire.logrec_ok(buf)
                ok = ok and not wire.logrec_ok(buf[:wire.LOGREC_SIZE - 1])
            check("fields_" + f["name"], ok, "log record fields differ")
            try:
                wire.unpack_logrecs(bytes(p[:-1]))
                check("logrecs_short", False, "accepted a truncated payload")
            except ValueError:
                check("logrecs_short", True)
        # the firmware's allocation-free path must give the same bytes as encode_frame
        body = bytearray(len(payload) + 3)
        body[0] = f["type"]
        for k in range(len(payload)):
            body[1 + k] = payload[k]
        out = bytearray(wire.max_encoded_len(len(payload) + 1))
        n = wire.encode_frame_into(body, len(payload) + 1, out)
        check("frame_into_" + f["name"], bytes(out[:n]) == fr, "encode_frame_into differs")
    # the frame encoder's native loops (pod/wire_viper.py, MicroPython with viper) give the
    # bytes of the bytecode ones: every length around the 254-byte COBS block, zero runs
    if wire.NATIVE_LOOPS:
        check("native_loops_in_use", wire._cobs_fast is not wire.cobs_encode_into
              and wire.copy_fast is not wire.copy_into)
        x = 12345
        for n in (0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 700):
            buf = bytearray(n)
            for k in range(n):
                x = (x * 1103515245 + 12345) & 0x7FFFFFFF
                buf[k] = 0 if (x >> 16) % 7 == 0 else (x >> 8) & 0xFF
            if n > 2:
                buf[n - 1] = 0
            m = n + n // 254 + 2
            a, b = bytearray(m + 1), bytearray(m + 1)
            na = wire.cobs_encode_into(buf, n, a, 1)
            nb = wire._cobs_fast(buf, n, b, 1)
            check("native_cobs_%d" % n, na == nb and a == b, "native COBS differs")
            ca = wire.crc16(buf, 0, n, 0x1D0F)
            cb = wire._crc16_fast(buf, 0, n, 0x1D0F, wire._CRC_TABLE)
            check("native_crc_%d" % n, ca == cb, "%04X != %04X" % (ca, cb))
            for swap in (0, 1):
                k = n - n % 2 - 2 if n > 3 else 0
                a, b = bytearray(n + 4), bytearray(n + 4)
                wire.copy_into(buf, 1, a, 3, k, swap)
                wire.copy_fast(buf, 1, b, 3, k, swap)
                want = bytearray(n + 4)
                for j in range(k):
                    want[3 + j] = buf[1 + (j ^ 1 if swap else j)]
                check("native_copy%s_%d" % ("_swap" if swap else "", n), a == b == want,
                      "native copy differs")
    else:
        print("native loops not in use on", sys.implementation.name)
    for c in v["commands"]:
        line = wire.encode_command(c["op"], c["id"], c["args"])
        check("cmd_enc_" + c["op"], line == c["line"].encode(), "%r" % line)
        d = wire.parse_command(c["line"].encode().rstrip(b"\n"))
        ok = d["op"] == c["op"] and d["id"] == c["id"]
        for k in c["args"]:
            ok = ok and d.get(k) == c["args"][k]
        check("cmd_parse_" + c["op"], ok, "parsed %r" % d)
    for i, bad in enumerate(v["bad_commands"]):
        try:
            wire.parse_command(bad.encode())
            check("cmd_bad_%d" % i, False, "accepted %r" % bad)
        except ValueError:
            check("cmd_bad_%d" % i, True)
    return fails


def _default_vectors():
    # from the checkout, or beside the check on a board's filesystem (tests/test_pico.py)
    for p in ("tests/golden/wire_vectors.json", "wire_vectors.json"):
        try:
            open(p).close()
            return p
        except OSError:
            pass
    return "tests/golden/wire_vectors.json"


if __name__ == "__main__":
    fails = run(sys.argv[1] if len(sys.argv) > 1 else _default_vectors())
    print("%d FAILED" % len(fails) if fails else "ALL OK")
    sys.exit(1 if fails else 0)
