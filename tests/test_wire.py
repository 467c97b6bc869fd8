"""The wire protocol: one definition (firmware/pod/wire.py), the same golden vectors in
CPython and in the MicroPython unix port, and a fuzzed host decoder."""
import importlib.util
import random
import subprocess

from hypothesis import given, settings, strategies as st

from conftest import ROOT, mp_env
from posturepod.firmware.pod import wire
from posturepod.pods.protocol import StreamDecoder, crc16 as fast_crc16, decode_block

VECTORS = ROOT / "tests" / "golden" / "wire_vectors.json"
CHECK = ROOT / "tests" / "mp" / "wire_check.py"


def _load_check():
    spec = importlib.util.spec_from_file_location("wire_check", CHECK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_golden_vectors_cpython(capsys):
    fails = _load_check().run(str(VECTORS))
    out = capsys.readouterr().out
    assert fails == [], out
    assert out.count("OK ") > 40


def test_golden_vectors_micropython(micropython):
    r = subprocess.run([micropython, str(CHECK), str(VECTORS)], capture_output=True,
                       text=True, env=mp_env(), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ALL OK" in r.stdout
    n_ok = r.stdout.count("\nOK ") + r.stdout.startswith("OK ")
    assert n_ok > 40
    # the unix port has the viper emitter: the pod's native encoder loops were checked
    assert "OK native_loops_in_use" in r.stdout and "OK native_cobs_700" in r.stdout


def test_host_crc_is_the_shared_crc():
    rng = random.Random(1)
    for n in range(0, 600, 7):
        d = bytes(rng.randrange(256) for _ in range(n))
        assert fast_crc16(d) == wire.crc16(d)


def _frame(i: int) -> bytes:
    payload = (f'{{"level":"info","msg":"frame {i}"}}').encode()
    return wire.encode_frame(wire.MSG_LOG, payload)


def _samples_frame(seq0: int, n: int) -> bytes:
    import struct
    p = struct.pack(wire.SAMPLES_HDR, seq0, 1, 0, n, 0, 6)
    for k in range(n):
        p += struct.pack("<H6h", 0 if k == 0 else 10000, k, -k, 0, 0, 0, 0)
    return wire.encode_frame(wire.MSG_SAMPLES, p)


def test_decoder_roundtrip_any_chunking():
    frames = [_samples_frame(i * 5, 5) for i in range(50)]
    stream = b"".join(frames)
    rng = random.Random(3)
    dec = StreamDecoder()
    got = []
    i = 0
    while i < len(stream):
        k = rng.randrange(1, 64)
        got += dec.feed(stream[i:i + k])
        i += k
    assert [m.body.seq0 for m in got] == [i * 5 for i in range(50)]
    assert dec.stats.crc_errors == 0 and dec.stats.bad_frames == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_decoder_never_raises_on_random_bytes(data):
    dec = StreamDecoder()
    dec.feed(data)
    dec.feed(data[::-1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ok", "flip", "truncate", "garbage"]),
                          st.integers(0, 10_000), st.binary(min_size=1, max_size=40)),
                min_size=1, max_size=30))
def test_decoder_recovers_every_intact_frame(plan):
    """Damaged frames (bit flips, truncation, injected garbage) are counted, never fatal,
    and every intact frame after the damage is decoded."""
    dec = StreamDecoder()
    stream = b""
    want = []
    flips = 0
    for i, (what, pos, junk) in enumerate(plan):
        f = bytearray(_frame(i))
        if what == "ok":
            want.append(i)
        elif what == "flip":
            k = 1 + pos % (len(f) - 2)           # inside the frame, not its delimiters
            bit = 1 << (pos % 8)
            if f[k] ^ bit == 0:
                bit = 1 << ((pos + 1) % 8)
            f[k] ^= bit
            flips += 1
        elif what == "truncate":
            f = f[:1 + pos % (len(f) - 2)]       # cut before the closing delimiter
        else:
            f = bytearray(junk) + f
            want.append(i)
        stream += bytes(f)
    got = []
    for k in range(0, len(stream), 97):
        got += dec.feed(stream[k:k + 97])
    ids = [int(m.body["msg"].split()[1]) for m in got if m.name == "log"]
    # every intact frame is recovered, in order, exactly once, with its exact content
    assert ids == want
    assert [m.body for m in got if m.name == "log"] == [
        {"level": "info", "msg": f"frame {i}"} for i in want]
    assert all(m.name == "log" for m in got)
    assert dec.stats.crc_errors + dec.stats.bad_frames + dec.stats.resyncs >= flips


def test_crc_error_counted():
    f = bytearray(_frame(1))
    f[5] ^= 0x01
    dec = StreamDecoder()
    dec.feed(b"\x00" + bytes(f) + _frame(2))
    assert dec.stats.crc_errors == 1
    assert dec.stats.frames == 1


def test_decode_block_names_problem():
    import pytest
    from posturepod.pods.protocol import FrameError
    with pytest.raises(FrameError, match="CRC"):
        f = bytearray(_frame(1))
        f[3] ^= 0x10
        decode_block(bytes(f[1:-1]))
