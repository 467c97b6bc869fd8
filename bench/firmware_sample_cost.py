"""Firmware sample path cost and the highest zero-loss rate over the virtual serial link.

    python bench/firmware_sample_cost.py [--repeats 5] [--seconds 10] [--skip-cost]
                                         [--skip-link] [--json results.json]

1. Per-sample cost under the MicroPython unix port, microseconds per sample, median of
   --repeats, all measured in one micropython run (a helper script written to a temp dir):
   - "emulated": Sampler.service() with the real IMU driver on the emulated I2C bus and
     register-level chip model (vboard), a stepped clock one sample period per call:
     read + timestamp + pack + CRC + COBS + write(buf, n) to /dev/null;
   - "firmware": the same Sampler with a stand-in IMU whose read() costs nothing (returns
     how many samples are due; the raw buffer is prefilled), i.e. the firmware's own part:
     timestamp, copy into the frame body, header pack, CRC, COBS, write;
   - "bytecode": the same with wire.py's bytecode CRC/COBS loops instead of the native
     ones (pod/wire_viper.py);
   - "crc cobs" / "crc_n cobs_n": of those, CRC-16 and COBS of a frame body, per sample,
     bytecode / native;
   - "baseline": a bare loop doing one struct.pack_into of the same 14-byte record per
     sample. The ratios are against it.
2. Virtual serial link: virtual boards (real firmware in the unix port behind ptys) at
   200, 500 and 1000 Hz, one board of each IMU model (MPU-6050, LSM6DSOX, ICM-20948) alone,
   then the three at once, recorded for --seconds each by the
   real host session code (posturepod.pods.acquire.record(..., live=False)); per pod: samples
   received, expected (chip rate x span), sequence gaps, samples lost (seq), FIFO
   overflows (pod STATUS), CRC errors; then the highest rate with zero loss.

Takes about 2.5 minutes with the defaults (the link part is 12 runs of --seconds).
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
sys.path.insert(0, str(ROOT / "bench"))
from mp_baseline import BASELINE_MP  # noqa: E402
FIRMWARE = ROOT / "firmware"

MP_HELPER = BASELINE_MP + r'''
import gc
import struct
import sys
import time

import vboard
from vboard.clock import StepClock
from pod.clock import DeviceClock
from pod.imu import detect
from pod.sampler import Sampler

MODELS = sys.argv[1].split(",")
RATES = [int(x) for x in sys.argv[2].split(",")]
REPEATS = int(sys.argv[3])
N = int(sys.argv[4])


class NullLink:
    kind = "null"

    def __init__(self):
        self.f = open("/dev/null", "wb")

    def write(self, buf, n):
        self.f.write(buf, n)


class FreeImu:
    """A driver stand-in whose reads cost nothing: as many samples as are due (the
    interface of pod/imu/__init__.py: a FIFO, waiting() and read())."""
    model = "free"
    overflows = 0
    has_fifo = True

    def __init__(self, clk, odr_hz):
        self.clk = clk
        self.odr_hz = odr_hz
        self.per = int(1000000 / odr_hz)
        self.last = 0

    def start(self):
        self.last = self.clk.t

    def stop(self):
        pass

    def waiting(self):
        return (self.clk.t - self.last) // self.per

    def read(self, buf, max_n):
        n = (self.clk.t - self.last) // self.per
        if n > max_n:
            n = max_n
        self.last += n * self.per
        return n


def board(model):
    vboard.Clock = StepClock
    return vboard.Board({"name": "virtual", "hal": "virtual"},
                        {"imu": model, "pod_id": "bench"})


def timed(s, clk, step, n):
    seq0 = s.seq
    gc.collect()
    t0 = time.ticks_us()
    dc = s.clock
    while s.seq - seq0 < n:
        clk.t += step
        dc.update()             # as App.step does before each service()
        s.service()
    dt = time.ticks_diff(time.ticks_us(), t0)
    return dt / (s.seq - seq0)


def parts(batch, frames):
    """CRC-16 and COBS of one frame body of `batch` records, per sample."""
    from pod import wire
    blen = 12 + 14 * batch
    body = bytearray(blen + 2)
    for i in range(blen):
        body[i] = (i * 37 + 1) & 0xFF
    out = bytearray(wire.max_encoded_len(blen))
    tab = wire._CRC_TABLE
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(frames):
        wire.crc16(body, 0, blen)
    t1 = time.ticks_us()
    for _ in range(frames):
        wire.cobs_encode_into(body, blen + 2, out, 1)
    t2 = time.ticks_us()
    for _ in range(frames):
        wire._crc16_fast(body, 0, blen, 0xFFFF, tab)
    t3 = time.ticks_us()
    for _ in range(frames):
        wire._cobs_fast(body, blen + 2, out, 1)
    t4 = time.ticks_us()
    n = frames * batch
    return (time.ticks_diff(t1, t0) / n, time.ticks_diff(t2, t1) / n,
            time.ticks_diff(t3, t2) / n, time.ticks_diff(t4, t3) / n)


def bytecode_loops(on):
    """Make the frame encoder use wire.py's bytecode loops (on) or its native ones."""
    from pod import wire
    if on:
        wire._crc16_fast, wire._cobs_fast = wire._crc16_table, wire.cobs_encode_into
    else:
        from pod import wire_viper
        wire._crc16_fast, wire._cobs_fast = wire_viper.crc16, wire_viper.cobs_encode_into


def emit(model, rate, kind, rep, us, batch):
    print("ROW %s %d %s %d %.4f %d" % (model, rate, kind, rep, us, batch))


for rep in range(REPEATS):
    emit("-", 0, "baseline", rep, baseline(N), 1)
    for b in (2, 20):
        c, o, cn, on = parts(b, N // b)
        emit("-", b, "crc", rep, c, b)
        emit("-", b, "cobs", rep, o, b)
        emit("-", b, "crc_native", rep, cn, b)
        emit("-", b, "cobs_native", rep, on, b)
    for model in MODELS:
        for rate in RATES:
            b = board(model)
            imu = detect(b.i2c)
            imu.configure(rate, 8, 1000)
            clk = b.clock
            dc = DeviceClock(b.ticks_us, b.ticks_diff)
            s = Sampler(imu, dc, NullLink())
            s.start(rate)
            step = int(1000000 / imu.odr_hz)
            timed(s, clk, step, 200)                       # warm up
            emit(model, rate, "emulated", rep, timed(s, clk, step, N), s.batch)
            s.stop()
            fi = FreeImu(clk, imu.odr_hz)
            for i in range(len(s._raw)):
                s._raw[i] = (i * 37) & 0xFF
            s2 = Sampler(fi, dc, NullLink())
            s2._raw = s._raw
            s2.start(rate)
            timed(s2, clk, step, 200)
            emit(model, rate, "firmware", rep, timed(s2, clk, step, N), s2.batch)
            bytecode_loops(True)
            emit(model, rate, "firmware_bytecode", rep, timed(s2, clk, step, N), s2.batch)
            bytecode_loops(False)
            s2.stop()
print("DONE")
'''


def micropython_exe() -> str:
    from posturepod.devices.virtual.board import micropython_path
    return micropython_path()


def bench_cost(models, rates, repeats: int, n: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        helper = Path(d) / "sample_cost_mp.py"
        helper.write_text(MP_HELPER)
        env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
        r = subprocess.run([micropython_exe(), "-X", "heapsize=2M", str(helper),
                            ",".join(models), ",".join(map(str, rates)), str(repeats), str(n)],
                           capture_output=True, text=True, env=env, cwd=d, timeout=600)
    if r.returncode != 0 or "DONE" not in r.stdout:
        raise SystemExit(f"micropython helper failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    rows: dict[tuple, list] = {}
    batch = {}
    for line in r.stdout.splitlines():
        if line.startswith("ROW "):
            _, model, rate, kind, _rep, us, b = line.split()
            rows.setdefault((model, int(rate), kind), []).append(float(us))
            batch[(model, int(rate))] = int(b)
    base = statistics.median(rows[("-", 0, "baseline")])
    out = []
    for model in models:
        for rate in rates:
            emu = statistics.median(rows[(model, rate, "emulated")])
            fw = statistics.median(rows[(model, rate, "firmware")])
            b = batch[(model, rate)]
            med = {k: statistics.median(rows.get(("-", b, k), [float("nan")]))
                   for k in ("crc", "cobs", "crc_native", "cobs_native")}
            fwb = statistics.median(rows[(model, rate, "firmware_bytecode")])
            out.append({"model": model, "rate_hz": rate, "batch": b,
                        "emulated_us": emu, "firmware_us": fw, "firmware_bytecode_us": fwb,
                        "baseline_us": base,
                        **{f"{k}_us": v for k, v in med.items()},
                        "emulated_x": emu / base, "firmware_x": fw / base,
                        "firmware_bytecode_x": fwb / base})
    return out


def bench_link(rates, seconds: float) -> list[dict]:
    from posturepod.pods.acquire import record
    from posturepod.commands.info import summary
    from posturepod.devices.virtual.patient import VirtualPatient
    imus = {"pelvis": "MPU-6050", "thorax": "LSM6DSOX", "head": "ICM-20948"}
    out = []
    runs = [(r,) for r in imus] + [tuple(imus)]        # each model alone, then all three
    for roles in runs:
        for rate in rates:
            with tempfile.TemporaryDirectory() as d:
                d = Path(d)
                with VirtualPatient(d / "boards", rate_hz=rate, imus=imus, roles=roles) as vp:
                    path, session = record(vp.links, d / "rec", seconds=seconds, live=False)
                info = {p["role"]: p for p in summary(path)["pods"]}
                stats = session.stats()
                for role in roles:
                    p, s = info[role], stats[role]
                    span = (p["end_s"] - p["start_s"]) if p["samples"] else 0.0
                    odr = float(p["odr_hz"] or rate)
                    out.append({
                        "boards": len(roles), "rate_hz": rate, "role": role, "imu": p["imu"],
                        "odr_hz": odr, "received": p["samples"],
                        "expected": int(round(span * odr)) + 1 if p["samples"] else 0,
                        "seq_gaps": p["seq_gaps"], "lost": p["lost_samples"],
                        "fifo_overflows": s.fifo_overflows, "crc_errors": p["crc_errors"],
                        "link_drops": p["link_drops"], "rate_measured_hz": p["rate_hz"]})
    return out


def print_cost(rows: list[dict]) -> None:
    print("\nPer-sample cost, MicroPython unix port (median us/sample)")
    print("firmware: native CRC/COBS loops (pod/wire_viper.py); bytecode: wire.py's own")
    print(f"{'imu':<10} {'rate':>5} {'batch':>5} {'emulated':>9} {'firmware':>9} "
          f"{'bytecode':>9} {'crc':>6} {'cobs':>6} {'crc_n':>6} {'cobs_n':>6} "
          f"{'baseline':>9} {'emu/base':>9} {'fw/base':>8} {'bc/base':>8}")
    for r in rows:
        print(f"{r['model']:<10} {r['rate_hz']:>5} {r['batch']:>5} {r['emulated_us']:>9.2f} "
              f"{r['firmware_us']:>9.2f} {r['firmware_bytecode_us']:>9.2f} "
              f"{r['crc_us']:>6.2f} {r['cobs_us']:>6.2f} {r['crc_native_us']:>6.2f} "
              f"{r['cobs_native_us']:>6.2f} {r['baseline_us']:>9.3f} {r['emulated_x']:>9.1f} "
              f"{r['firmware_x']:>8.1f} {r['firmware_bytecode_x']:>8.1f}")


def _lossless(r: dict) -> bool:
    return (r["seq_gaps"] == 0 and r["lost"] == 0 and r["fifo_overflows"] == 0
            and r["crc_errors"] == 0 and r["received"] >= r["expected"] - 1)


def print_link(rows: list[dict], seconds: float) -> None:
    print(f"\nVirtual serial link, {seconds:.0f} s per run (host: posturepod.pods.acquire.record)")
    print(f"{'boards':>6} {'rate':>5} {'pod':<7} {'imu':<10} {'odr':>7} {'received':>9} "
          f"{'expected':>9} {'gaps':>5} {'lost':>6} {'ovf':>4} {'crc':>4} {'Hz meas':>8}")
    for r in rows:
        print(f"{r['boards']:>6} {r['rate_hz']:>5} {r['role']:<7} {r['imu'] or '-':<10} "
              f"{r['odr_hz']:>7.1f} {r['received']:>9} {r['expected']:>9} {r['seq_gaps']:>5} "
              f"{r['lost']:>6} {r['fifo_overflows']:>4} {r['crc_errors']:>4} "
              f"{r['rate_measured_hz']:>8.2f}")
    groups: dict[str, list] = {}
    for r in rows:
        key = "3 boards at once" if r["boards"] > 1 else f"1 board, {r['imu']}"
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        ok = [rate for rate in sorted({r["rate_hz"] for r in rs})
              if all(_lossless(r) for r in rs if r["rate_hz"] == rate)]
        # "highest with zero loss" only counts if every lower rate tried was lossless too
        best = None
        for rate in sorted({r["rate_hz"] for r in rs}):
            if rate not in ok:
                break
            best = rate
        print(f"highest rate with zero loss, {key}: "
              f"{f'{best} Hz' if best else 'none of those tried'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=3000, help="samples per cost repeat")
    ap.add_argument("--seconds", type=float, default=10.0, help="per link run")
    ap.add_argument("--rates", default="200,500,1000")
    ap.add_argument("--skip-cost", action="store_true")
    ap.add_argument("--skip-link", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args(argv)
    res: dict = {}
    t0 = time.monotonic()
    if not a.skip_cost:
        res["cost"] = bench_cost(["MPU-6050", "LSM6DSOX", "ICM-20948"], [100, 1000],
                                 a.repeats, a.samples)
        print_cost(res["cost"])
    if not a.skip_link:
        res["link"] = bench_link([int(x) for x in a.rates.split(",")], a.seconds)
        print_link(res["link"], a.seconds)
    print(f"\n({time.monotonic() - t0:.0f} s)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
