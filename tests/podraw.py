"""A pod spoken to with raw frames over pyserial (tests of the standalone commands): every
frame decoded with the shared wire.py, LOGRECS and ANGLES parsed with wire.unpack_*; no
host session code in between, so the test sees exactly what the pod sent."""
from __future__ import annotations

import json
import time

import serial

from posturepod.firmware.pod import wire


class RawPod:
    def __init__(self, port: str, timeout_s: float = 10.0):
        self.ser = serial.Serial(str(port), 115200, timeout=0.05)
        self.buf = b""
        self.rid = 100
        self.bad = 0
        end = time.monotonic() + timeout_s
        while True:                       # the pod may still be booting
            try:
                self.info = self.cmd("info", timeout_s=1.0)[0]
                return
            except TimeoutError:
                if time.monotonic() > end:
                    raise

    def frames(self) -> list:
        """Frames received so far: (msg_type, payload bytes)."""
        self.buf += self.ser.read(65536)
        out = []
        while b"\x00" in self.buf:
            block, self.buf = self.buf.split(b"\x00", 1)
            if not block:
                continue
            try:
                out.append(wire.decode_frame(block))
            except ValueError:
                self.bad += 1
        return out

    def cmd(self, op: str, timeout_s: float = 5.0, **args):
        """Send a command; returns (reply or info dict, frames received before it)."""
        self.rid = (self.rid + 1) & 0xFFFF
        rid = self.rid
        self.ser.write(wire.encode_command(op, rid, args))
        before = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for t, p in self.frames():
                if t in (wire.MSG_REPLY, wire.MSG_INFO):
                    d = json.loads(bytes(p))
                    if d.get("id") == rid:
                        return d, before
                before.append((t, p))
        raise TimeoutError(f"no answer to {op} within {timeout_s} s")

    def ok(self, op: str, timeout_s: float = 5.0, **args) -> dict:
        d, _ = self.cmd(op, timeout_s, **args)
        assert d.get("ok", True), d
        return d

    def read_log(self, from_seq: int = 0, n: int = 256):
        """log_read: (reply, [unpack_logrec tuples], [raw 16-byte records])."""
        d, frames = self.cmd("log_read", from_seq=from_seq, n=n)
        assert d["ok"], d
        recs, raws = [], []
        for t, p in frames:
            if t == wire.MSG_LOGRECS:
                seq0, rr = wire.unpack_logrecs(bytes(p))
                assert not rr or rr[0][0] == seq0
                recs += rr
                for k in range(len(rr)):
                    o = wire.LOGRECS_HDR_SIZE + k * wire.LOGREC_SIZE
                    raws.append(bytes(p[o:o + wire.LOGREC_SIZE]))
        return d, recs, raws

    def read_all(self):
        info = self.ok("log_info")
        recs = []
        seq = info["first_seq"]
        while seq < info["next_seq"]:
            d, rr, _ = self.read_log(seq, 256)
            if not rr:
                break
            recs += rr
            seq = rr[-1][0] + 1
        return info, recs

    def close(self):
        self.ser.close()
