"""The pod's own orientation (issue 16): tilt filter cost, accuracy, day-log size.

    python bench/pod_fusion.py [--repeats 5] [--cases 6] [--pico] [--json out.json]

1. Cost per sample in the MicroPython unix port, all in one micropython run (a helper
   script written to a temp dir), medians of --repeats, microseconds per sample:
   - "baseline": one struct.pack_into of a 14-byte sample record (as
     bench/firmware_sample_cost.py and bench/pico.py), the ratios are against it;
   - "crc16 record": wire.crc16 over a 16-byte day-log record (bytecode table loop);
   - "tilt.update": pod/tilt.py's filter step (gyro, accelerometer with its calibration,
     bias at rest and from the correction, renormalise), set up as a worn pod;
   - "update + angle": the same plus angle_cdeg (integer sqrt and atan2);
   - "armed path": App._on_sample with standalone mode armed and the angle stream on,
     i.e. everything the pod adds per sample (filter, angle, per-second accumulation,
     ANGLES packing at 50 Hz), through the real App on a virtual board.
   The samples are a prefilled buffer of a slow tilting motion (no I2C, no link).
2. --pico: the same helper on the emulated Raspberry Pi Pico (docs/pico.md; needs
   ../shared/rp2 and node; the flash step takes minutes): Pico CPU time per sample
   (time.ticks_us counts the emulated 125 MHz cycles) and its share of the CPU at 100 Hz.
3. Accuracy: the unix port's filter (tests/mp/tilt_run.py) on --cases simulated sitting
   recordings (600 s, seeds 0.., each pod role in turn), per-second mean angle against the
   host's offline fusion of the same samples (tests/tilt_cases.py): RMS, 95th percentile,
   worst, share of seconds within 1 deg (after a 10 s start-up), the worst of the seconds
   spent sitting, and the same against the host's own live (causal) fusion: how far two
   host filters of the same samples differ, the reference's own spread.
4. Day-log size per hour: record bytes, bytes on a littlefs flash (segments of whole
   blocks), and bytes on the wire when synced (LOGRECS frames, COBS and CRC included).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "rp2"
sys.path.insert(0, str(ROOT / "bench"))
from mp_baseline import BASELINE_MP  # noqa: E402

HELPER = BASELINE_MP + r'''
import struct, time, math
from pod import wire
import pod.tilt as TM
import pod.app as AM

N = 256
buf = bytearray(12 * N)
for i in range(N):
    a = 0.4 * math.sin(i * 0.05)
    struct.pack_into("<6h", buf, 12 * i, int(4096 * math.sin(a)), 150,
                     int(4096 * math.cos(a)), 20 + (i % 7), int(400 * math.cos(i * 0.05)), -13)

def crc(n):
    rec = bytearray(16)
    t0 = time.ticks_us()
    for i in range(n):
        wire.crc16(rec, 0, 14)
    return time.ticks_diff(time.ticks_us(), t0) / n

# as a worn pod runs: its accelerometer calibration and the calibration's gyro bias on
ACC_CAL = {"bias_m_s2": [0.12, -0.2, 0.3],
           "gain": [1.01, 0.002, -0.001, 0.002, 0.99, 0.003, -0.001, 0.003, 1.02]}
GYR_BIAS = [1200, -800, 500]

def tilt(cls, n, angle):
    t = cls()
    t.set_acc_cal(ACC_CAL)
    t.set_gyr_bias(GYR_BIAS)
    t.configure(1000 / 32768 * math.pi / 180, 8 * 9.80665 / 32768, 100.0)
    t.set_segment([16384, 0, 0, 0, 16384, 0, 0, 0, 16384])
    t0 = time.ticks_us()
    k = 0
    for i in range(n):
        t.update(buf, k)
        if angle:
            t.angle_cdeg()
        k += 12
        if k == 12 * N:
            k = 0
    return time.ticks_diff(time.ticks_us(), t0) / n

def armed(app, n):
    cb = app._on_sample
    t0 = time.ticks_us()
    k = 0
    for i in range(n):
        cb(buf, k, i, i & 0xFFFF, 0)
        k += 12
        if k == 12 * N:
            k = 0
    return time.ticks_diff(time.ticks_us(), t0) / n

class NullLink:
    kind = "null"
    def write(self, buf, n):
        pass
    def poll(self, timeout_ms):
        return False
    def read_byte(self):
        return -1
    def close(self):
        pass

def make_app():
    try:
        app = AM.App(cfg_path=CFG, link=NullLink(), board=BOARD())
        app.handle_line(wire.encode_command("set_config", 2, {"acc_cal": ACC_CAL}))
        app.handle_line(wire.encode_command("arm", 1, {"wall_s": 1764900000,
            "seg_q14": [16384, 0, 0, 0, 16384, 0, 0, 0, 16384], "ref_cdeg": 0,
            "rule": {"over_cdeg": 1000, "hold_s": 60, "repeat_s": 0}, "pattern": [300],
            "quiet": [], "utc_offset_min": 0, "radio": "off", "gyr_bias_mdps": GYR_BIAS}))
        app.angles.start(50, 100.0)
        return app
    except Exception as e:
        print("NOAPP", repr(e))
        return None

# the bytecode filter, then the native one (pod/tilt_native) where the firmware has it;
# the App builds its filter from pod.app's Tilt
for native, cls in [(0, TM.BytecodeTilt)] + ([(1, TM.Tilt)] if TM.NATIVE else []):
    AM.Tilt = cls
    APP = None                  # the previous App can go before the next is built (Pico heap)
    APP = make_app()
    for r in range(REPEATS):
        print("ROW", native, baseline(NS), crc(NS), tilt(cls, NS, 0), tilt(cls, NS, 1),
              armed(APP, NS) if APP else -1)
'''

UNIX_BOARD = '''
import vboard
def BOARD():
    return vboard.Board({"name": "virtual", "hal": "virtual"}, {"imu": "MPU-6050"})
'''
PICO_BOARD = '''
def BOARD():
    return None
'''


def run_unix(repeats: int, n: int) -> list[list[float]]:
    from conftest import micropython_exe, mp_env, native_firmware
    exe = micropython_exe()
    if not exe:
        raise SystemExit("the MicroPython unix port is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-pod-fusion-") as td:
        script = Path(td) / "helper.py"
        script.write_text(f"REPEATS = {repeats}\nNS = {n}\nCFG = {str(Path(td) / 'pod.json')!r}\n"
                          + UNIX_BOARD + HELPER)
        # the firmware as built for a board: with its native variants (pod/tilt_native)
        fw = native_firmware(Path(td))
        r = subprocess.run([exe, str(script)], env=mp_env(firmware=fw), capture_output=True,
                           text=True, timeout=600, cwd=td)
    if r.returncode != 0:
        raise SystemExit("helper failed: " + r.stdout[-800:] + r.stderr[-800:])
    return _rows(r.stdout)


def _rows(out: str) -> list[list[float]]:
    rows = [[float(x) for x in line.split()[1:]] for line in out.splitlines()
            if line.startswith("ROW")]
    if not rows:
        raise SystemExit("no result rows:\n" + out[-1500:])
    return rows


def run_pico(repeats: int, n: int) -> list[list[float]]:
    """The helper on the emulated Pico, after flashing the firmware (bench/pico.py's way)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import pico as P
    uf2 = SHARED / "micropython-v1.28.0-RPI_PICO.uf2"
    rom = SHARED / "rp2040-bootrom-b1.bin"
    if not (uf2.exists() and rom.exists()):
        raise SystemExit(f"{SHARED} lacks the rp2 images: --pico needs them")
    with tempfile.TemporaryDirectory(prefix="bench-pod-fusion-pico-") as td:
        tmp = Path(td)
        pico = P.Pico(tmp, uf2, rom, "MPU-6050", blank=True)
        try:
            r = subprocess.run(P.CLI + ["flash", "--port", str(pico.link), "--role", "pelvis",
                                        "--board", "pico"], capture_output=True, text=True,
                               timeout=1200)
            if r.returncode != 0:
                raise SystemExit("flash failed: " + r.stdout[-800:] + r.stderr[-800:])
        finally:
            pico.stop()
        pico = P.Pico(tmp, uf2, rom, "MPU-6050", blank=True)
        try:
            script = tmp / "helper.py"
            # the real App on the Pico's own board (machine.I2C, the emulated MPU-6050)
            script.write_text(f"REPEATS = {repeats}\nNS = {n}\nCFG = 'pod.json'\n"
                              "def BOARD():\n    return None\n"
                              + HELPER.replace("board=BOARD()", "board=None"))
            r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(pico.link),
                                "run", str(script)], capture_output=True, text=True,
                               timeout=3600)
        finally:
            pico.stop()
    if r.returncode != 0:
        raise SystemExit("helper failed on the Pico: " + r.stdout[-800:] + r.stderr[-800:])
    return _rows(r.stdout)


def cost_table(rows: list[list[float]], where: str) -> dict:
    """rows: [native flag, baseline, crc16, update, update + angle, armed path]."""
    names = ("baseline", "crc16 record", "tilt.update", "update + angle", "armed path")
    out = {}
    for flag, kind in ((0, "bytecode"), (1, "native")):
        sel = [r[1:] for r in rows if int(r[0]) == flag]
        if sel:
            out[kind] = dict(zip(names, [statistics.median(r[i] for r in sel)
                                         for i in range(5)]))
    n = max(sum(1 for r in rows if int(r[0]) == f) for f in (0, 1))
    print(f"\n## Cost per sample, {where} (median of {n}; us per sample, ratio to the "
          "baseline; the filter as bytecode and, where the firmware has it, native: "
          "pod/tilt_native)")
    print(f"{'':18s} " + " ".join(f"{k + ' us':>13s} {'x base':>7s}" for k in out))
    for nm in names:
        cells = [(v[nm], v[nm] / v["baseline"]) for v in out.values()]
        if all(c[0] >= 0 for c in cells):
            print(f"{nm:18s} " + " ".join(f"{a:13.2f} {b:7.1f}" for a, b in cells))
    for kind, v in out.items():
        if v["armed path"] > 0:
            print(f"armed path at 100 Hz ({kind}): {v['armed path'] * 100 / 1e4:.2f} % of "
                  "one CPU")
    return out


def accuracy(cases: int) -> dict:
    import numpy as np
    import tilt_cases as tc
    from conftest import micropython_exe, mp_env
    exe = micropython_exe()
    roles = ("thorax", "head", "pelvis")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pod-fusion-acc-") as td:
        for k in range(cases):
            seed, role = k // 3, roles[k % 3]
            raw, seg, rate, host, extra = tc.case("sitting", seed, role, 600.0)
            src, out = Path(td) / "s.bin", Path(td) / "o.txt"
            per = tc.write_samples(src, raw, seg, rate, extra)
            subprocess.run([exe, str(ROOT / "tests" / "mp" / "tilt_run.py"), str(src), str(out)],
                           env=mp_env(), check=True, timeout=600)
            pod = tc.read_out(out)
            ref = tc.per_second(host, per)[:len(pod)]
            d = np.abs(pod[:, 0] / 100.0 - ref)[10:]
            # the reference's own spread: the host's live (causal) fusion of the same samples
            live = tc.per_second(tc.case("sitting", seed, role, 600.0, causal=True)[3], per)
            d_live = np.abs(live[:len(ref)] - ref)[10:]
            sit = tc.sitting_seconds("sitting", seed, len(ref), 600.0)[10:]
            rows.append({"seed": seed, "role": role, "seconds": len(d),
                         "rms_deg": float(np.sqrt(np.mean(d ** 2))),
                         "p95_deg": float(np.percentile(d, 95)), "max_deg": float(d.max()),
                         "within_1deg": float(np.mean(d <= 1.0)),
                         "sitting_seconds": int(sit.sum()),
                         "sitting_max_deg": float(d[sit].max()),
                         "host_live_max_deg": float(d_live.max()),
                         "host_live_sitting_max_deg": float(d_live[sit].max())})
    print("\n## Accuracy: per-second mean angle, pod (unix port) vs host offline fusion, "
          "simulated sitting 600 s")
    print("(sitting: seconds 3 s or more from standing or walking; host live: the host's own "
          "causal fusion of the same samples against the same offline reference)")
    print(f"{'case':16s} {'RMS':>6s} {'p95':>6s} {'max':>6s} {'<=1deg':>7s} {'sit max':>8s} "
          f"{'live max':>9s} {'live sit':>9s}")
    for r in rows:
        print(f"{'seed %d %s' % (r['seed'], r['role']):16s} {r['rms_deg']:6.2f} "
              f"{r['p95_deg']:6.2f} {r['max_deg']:6.2f} {100 * r['within_1deg']:6.1f}% "
              f"{r['sitting_max_deg']:8.2f} {r['host_live_max_deg']:9.2f} "
              f"{r['host_live_sitting_max_deg']:9.2f}")
    allrms = statistics.median(r["rms_deg"] for r in rows)
    print(f"median RMS {allrms:.2f} deg; worst second {max(r['max_deg'] for r in rows):.2f} deg "
          f"(sitting {max(r['sitting_max_deg'] for r in rows):.2f}); host live vs offline: "
          f"worst second {max(r['host_live_max_deg'] for r in rows):.2f} deg")
    return {"cases": rows, "median_rms_deg": allrms}


def log_size() -> dict:
    sys.path.insert(0, str(ROOT / "firmware"))
    from pod import daylog, wire
    per_h = 3600
    rec = per_h * wire.LOGREC_SIZE
    seg_bytes = daylog.SEG_N * wire.LOGREC_SIZE
    seg_blocks = (seg_bytes + daylog._PTR_BYTES + 4095) // 4096
    flash = per_h * seg_blocks * 4096 / daylog.SEG_N
    frame_recs = wire.LOGRECS_PER_FRAME
    body = bytes(wire.LOGRECS_HDR_SIZE + frame_recs * wire.LOGREC_SIZE)
    frame = len(wire.encode_frame(wire.MSG_LOGRECS, b"\x01" + body[1:]))
    wire_b = per_h / frame_recs * frame + per_h / wire.LOG_READ_MAX * 90   # + the replies
    print("\n## Day-log size per hour (one record a second)")
    print(f"records: {rec} B/h; on littlefs (segments of {daylog.SEG_N} records in "
          f"{seg_blocks} blocks of 4 KiB): {flash:.0f} B/h; synced over the wire "
          f"(LOGRECS frames of {frame_recs}, {frame} B each, + replies): {wire_b:.0f} B/h")
    print(f"16 h: {16 * rec / 1000:.1f} kB of records, {16 * flash / 1000:.1f} kB on flash")
    return {"record_b_per_h": rec, "flash_b_per_h": flash, "wire_b_per_h": wire_b}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20000, help="per measurement (unix port)")
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--pico", action="store_true", help="also on the emulated Pico (slow)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    res = {"unix": cost_table(run_unix(a.repeats, a.samples), "MicroPython unix port")}
    if a.pico:
        t0 = time.monotonic()
        res["pico"] = cost_table(run_pico(3, 2000), "emulated Pico (RP2040 125 MHz)")
        print(f"(emulated Pico run: {time.monotonic() - t0:.0f} s)")
    if a.cases > 0:
        res["accuracy"] = accuracy(a.cases)
    res["log"] = log_size()
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
