"""Regenerate tests/golden/wire_vectors.json from firmware/pod/wire.py.

Run ONLY when the protocol changes on purpose (and bump PROTOCOL_VERSION): the point of
golden vectors is that an accidental change of the encoding fails the tests in both
interpreters. The COBS and CRC anchors in the file come from the published definitions,
not from our code, and are kept as they are."""
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))
from pod import wire  # noqa: E402

OUT = Path(__file__).with_name("wire_vectors.json")


def samples_payload(seq0, t0, flags, recs):
    p = struct.pack(wire.SAMPLES_HDR, seq0, t0 & 0xFFFF, t0 >> 16, len(recs), flags, 6)
    for dt, axes in recs:
        p += struct.pack("<H6h", dt, *axes)
    return p


def main():
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    frames = [
        {"name": "samples_3", "type": wire.MSG_SAMPLES,
         "fields": {"seq0": 1000, "t0_us": 4294967000, "flags": 0, "n_axes": 6,
                    "records": [[0, [1, -2, 16384, 0, 5, -5]], [5000, [32767, -32768, 0, 1, 2, 3]],
                                [5001, [0, 0, 0, 0, 0, 0]]]}},
        {"name": "samples_overflow_flag", "type": wire.MSG_SAMPLES,
         "fields": {"seq0": (1 << 30) - 1, "t0_us": 123, "flags": wire.FLAG_OVERFLOW,
                    "n_axes": 6, "records": [[0, [256, 512, 0, 0, 0, 0]]]}},
        {"name": "pong", "type": wire.MSG_PONG,
         "fields": {"req_id": 513, "t_dev_us": (2 << 32) + 0x12345678}},
        {"name": "status", "type": wire.MSG_STATUS,
         "fields": {"t_dev_us": 0x1_0000_0001, "samples_sent": 123456, "fifo_overflows": 2,
                    "frames_dropped": 0, "rate_mhz": 100003, "battery_mv": 3900}},
        {"name": "angles_3", "type": wire.MSG_ANGLES,
         "fields": {"seq0": 5000, "t0_us": 4294967000,
                    "records": [[0, 1234, 0, 0, 16384], [20000, -32768, 11585, 0, 11585],
                                [20001, -9000, -16384, 1, -2]]}},
        {"name": "logrecs_3", "type": wire.MSG_LOGRECS,
         "fields": {"seq0": (1 << 30) - 2,
                    "records": [[(1 << 30) - 2, 65535, 1500, -200, 3100, 12,
                                 wire.LOGREC_BOOT | wire.LOGREC_ARM],
                                [(1 << 30) - 1, 0, -32768, -32768, -32768, 255, wire.LOGREC_NODATA],
                                [0, 1, 1510, 1490, 1530, 0,
                                 wire.LOGREC_OVER | wire.LOGREC_BUZZ | wire.LOGREC_QUIET]]}},
        {"name": "reply", "type": wire.MSG_REPLY, "json": '{"id":7,"ok":true,"op":"buzz"}'},
        {"name": "log", "type": wire.MSG_LOG, "json": '{"level":"warning","msg":"pod.json missing"}'},
    ]
    for f in frames:
        fl = f.get("fields", {})
        if f["type"] == wire.MSG_SAMPLES:
            payload = samples_payload(fl["seq0"], fl["t0_us"], fl["flags"],
                                      [tuple(r) for r in fl["records"]])
        elif f["type"] == wire.MSG_PONG:
            t = fl["t_dev_us"]
            payload = struct.pack(wire.PONG_FMT, fl["req_id"], t & 0xFFFF, (t >> 16) & 0xFFFF,
                                  t >> 32)
        elif f["type"] == wire.MSG_STATUS:
            t = fl["t_dev_us"]
            payload = struct.pack(wire.STATUS_FMT, t & 0xFFFF, (t >> 16) & 0xFFFF, t >> 32,
                                  fl["samples_sent"], fl["fifo_overflows"], fl["frames_dropped"],
                                  fl["rate_mhz"], fl["battery_mv"])
        elif f["type"] == wire.MSG_ANGLES:
            t = fl["t0_us"]
            payload = struct.pack(wire.ANGLES_HDR, fl["seq0"], t & 0xFFFF, t >> 16,
                                  len(fl["records"]))
            for r in fl["records"]:
                payload += struct.pack(wire.ANGLE_REC, *r)
        elif f["type"] == wire.MSG_LOGRECS:
            payload = struct.pack(wire.LOGRECS_HDR, fl["seq0"], len(fl["records"]))
            for r in fl["records"]:
                rec = struct.pack("<IHhhhBB", *r)
                payload += rec + struct.pack("<H", wire.crc16(rec))
        else:
            payload = f["json"].encode()
        f["payload_hex"] = payload.hex()
        f["frame_hex"] = wire.encode_frame(f["type"], payload).hex()
    commands = []
    for op, rid, args in [("info", 1, {}), ("ping", 65535, {}), ("buzz", 7, {"ms": 250}),
                          ("set_role", 9, {"role": "thorax"}), ("set_rate", 10, {"rate_hz": 200}),
                          ("start", 11, {"kind": "angle", "out_hz": 10}), ("disarm", 12, {}),
                          ("log_info", 13, {}), ("log_read", 14, {"from_seq": 7, "n": 256}),
                          ("log_clear", 15, {"upto_seq": 1000})]:
        commands.append({"op": op, "id": rid, "args": args,
                         "line": wire.encode_command(op, rid, args).decode()})
    data = {
        "protocol_version": wire.PROTOCOL_VERSION,
        "crc16": old.get("crc16", [{"hex": "313233343536373839", "crc": 0x29B1},
                                   {"hex": "", "crc": 0xFFFF}]),
        "cobs": old.get("cobs"),
        "frames": frames,
        "commands": commands,
        "bad_commands": ['{"op":"info"}*0000', '{"op":1}', "[1,2]", "not json", "",
                         '{"op":"info","id":"x"}'],
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
