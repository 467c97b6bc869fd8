"""The pod firmware's cost on a Raspberry Pi Pico, measured in the emulated Pico
(docs/pico.md): Pico CPU time per sample and heap.

    python bench/pico.py [--models MPU-6050,LSM6DSOX,ICM-20948] [--seconds 2]
                         [--link] [--uf2 FILE] [--bootrom FILE] [--json out.json]

A blank emulated Pico gets the firmware with `posturepod flash --board pico`; then, per IMU
model (the emulator restarted with that model on its bus, the flash kept), a helper script
runs on the board (mpremote run, so after a soft reset) that builds the pod's own App (real
board, real machine.I2C, the IMU driver, the Sampler) with a link that only counts bytes,
and for 100, 200, 500 and 1000 Hz, with the native (viper) CRC/COBS/copy loops and with the
bytecode ones, runs the app's loop for --seconds of the Pico's time: the time inside each
step (commands, sampler, timers) is summed with time.ticks_us, which in the emulator counts
the Pico's 125 MHz cycles, I2C bus time at 400 kHz included; the rest of the loop waits as
App.turn() does (App.wait_us(): until the sampler looks at the chip again, at least 1 ms
for a FIFO IMU, 150 us for one without). Per rate: us of CPU per sample,
CPU share, samples sent against the chip's rate x time and the sequence numbers (lossless:
none skipped, no FIFO overflow), FIFO overflows (one-deep data-ready misses for a chip
without a FIFO), and the
lowest gc.mem_free() seen while streaming. Heap free after the soft reset and with the App
built. The USB CDC write is not in the CPU figures (the link counts bytes only). Baseline,
in the same run on the same emulated Pico: one struct.pack_into of a 14-byte record (as in
bench/firmware_sample_cost.py), so the ratios compare with the unix-port figures.

--link: also the end-to-end lossless check over the emulated USB, per model at 200, 500
and 1000 Hz: `posturepod record --pod-seconds 3 --rate-hz R`, samples lost per sequence
numbers and CRC errors (host side; slow: the emulator runs at about 1/4 of real time).

Takes about 1 minute per model with the defaults (the emulator is the slow part).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from mp_baseline import BASELINE_MP  # noqa: E402
SHARED = ROOT.parent / "shared" / "rp2"
CLI = [sys.executable, "-m", "posturepod.cli"]
RATES = (100, 200, 500, 1000)
TARGET_CPU_100HZ = 0.30
TARGET_HEAP_BYTES = 100_000

HELPER = BASELINE_MP + r'''
import gc, time
gc.collect()
FREE_BOOT = gc.mem_free()
from pod.app import App
from pod import wire

class CountLink:
    kind = "count"
    def __init__(self):
        self.bytes = 0
    def write(self, buf, n):
        self.bytes += n
    def poll(self, timeout_ms):
        return False
    def read_byte(self):
        return -1
    def close(self):
        pass

print("BASE", baseline(2000))

link = CountLink()
app = App(link=link)
gc.collect()
print("HEAP", FREE_BOOT, gc.mem_free(), app.imu.model if app.imu else "none",
      int(wire.NATIVE_LOOPS))
NATIVE = (wire._crc16_fast, wire._cobs_fast, getattr(wire, "copy_fast", None))
for native in (1, 0):
    if native:
        wire._crc16_fast, wire._cobs_fast, copy = NATIVE
    else:
        wire._crc16_fast, wire._cobs_fast = wire._crc16_table, wire.cobs_encode_into
        copy = getattr(wire, "copy_into", None)
    if copy is not None:
        wire.copy_fast = copy
    for rate in RATES:
        app.cfg["rate_hz"] = rate
        imu = app.imu
        imu.configure(rate, 8, 1000)
        s = app.sampler
        gc.collect()
        s.start(rate)
        ovf0 = imu.overflows
        sent0 = s.sent
        seq0 = s.seq
        b0 = link.bytes
        busy = 0
        low = gc.mem_free()
        k = 0
        fifo = imu.has_fifo
        turn = hasattr(app, "wait_us")
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < DUR_US:
            # the waits of App.turn(), left out of the busy time
            w = app.wait_us() if turn else (1000 if fifo else 150)
            if w >= 1000:
                time.sleep_ms(w // 1000)
            else:
                time.sleep_us(w)
            a = time.ticks_us()
            app.step(0)
            busy += time.ticks_diff(time.ticks_us(), a)
            k += 1
            if k & 31 == 0:
                m = gc.mem_free()
                if m < low:
                    low = m
        el = time.ticks_diff(time.ticks_us(), t0)
        s.stop()
        print("ROW", native, rate, s.sent - sent0, el, busy, low, imu.overflows - ovf0,
              imu.odr_hz, link.bytes - b0, s.seq - seq0)
'''


class Pico:
    def __init__(self, tmp: Path, uf2: Path, rom: Path, imu: str, blank: bool):
        self.link = tmp / "pico.tty"
        args = CLI + ["virtual-board", "--board", "pico", "--role", "pelvis", "--link",
                      str(self.link), "--fs", str(tmp / "fs"), "--uf2", str(uf2),
                      "--bootrom", str(rom), "--imu", imu] + (["--blank"] if blank else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        t_end = time.monotonic() + 120
        while not (self.link.is_symlink() and os.path.exists(self.link)):
            if self.proc.poll() is not None or time.monotonic() > t_end:
                raise SystemExit(f"the emulated Pico did not start ({self.proc.returncode})")
            time.sleep(0.1)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpu_rows(pico: Pico, tmp: Path, seconds: float) -> tuple[dict, list[dict]]:
    script = tmp / "bench_helper.py"
    script.write_text(f"RATES = {RATES!r}\nDUR_US = {int(seconds * 1e6)}\n" + HELPER)
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", str(pico.link), "run",
                        str(script)], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"the helper failed on the board: {r.stdout[-800:]}{r.stderr[-800:]}")
    heap, rows = {}, []
    for line in r.stdout.splitlines():
        f = line.split()
        if f[:1] == ["BASE"]:
            heap["baseline_us"] = float(f[1])
        elif f[:1] == ["HEAP"]:
            heap.update({"free_boot": int(f[1]), "free_app": int(f[2]), "imu": f[3],
                         "native": f[4] == "1"})
        elif f[:1] == ["ROW"]:
            native, rate, n, el_us, busy_us, low, ovf = (int(x) for x in f[1:8])
            odr, nbytes, seq_adv = float(f[8]), int(f[9]), int(f[10])
            expected = odr * el_us / 1e6
            rows.append({"native": bool(native), "rate_hz": rate, "odr_hz": odr,
                         "samples": n, "expected": round(expected, 1),
                         "us_per_sample": round(busy_us / max(n, 1), 1),
                         "cpu": round(busy_us / el_us, 4), "heap_min": low,
                         "overflows": ovf, "bytes_per_sample": round(nbytes / max(n, 1), 1),
                         "skipped": seq_adv - n,
                         # lossless: nothing skipped, no overflow; and about all the chip
                         # made was sent (the last read interval's samples stay unread)
                         "lossless": ovf == 0 and n == seq_adv
                         and n >= expected - 3 * max(1, min(20, rate // 50)) - 2})
    return heap, rows


def link_rows(pico: Pico, tmp: Path, model: str, rates=(200, 500, 1000)) -> list[dict]:
    out = []
    for rate in rates:
        rec = tmp / f"rec-{model}-{rate}"
        r = subprocess.run(CLI + ["record", "--pod", f"pelvis={pico.link}", "--pod-seconds", "3",
                                  "--rate-hz", str(rate), "--out", str(rec), "--no-live"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            out.append({"rate_hz": rate, "error": (r.stdout + r.stderr)[-300:]})
            continue
        s = json.loads(subprocess.run(CLI + ["info", str(rec), "--json"], capture_output=True,
                                      text=True, timeout=120).stdout)["pods"][0]
        out.append({"rate_hz": rate, "samples": s["samples"], "lost": s["lost_samples"],
                    "crc_errors": s["crc_errors"], "odr_hz": s["odr_hz"],
                    "lossless": s["lost_samples"] == 0 and s["crc_errors"] == 0})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="MPU-6050,LSM6DSOX,ICM-20948")
    ap.add_argument("--seconds", type=float, default=2.0, help="Pico time per rate")
    ap.add_argument("--link", action="store_true", help="also record over the emulated USB")
    ap.add_argument("--uf2", default=os.environ.get("POSTUREPOD_PICO_UF2")
                    or str(SHARED / "micropython-v1.28.0-RPI_PICO.uf2"))
    ap.add_argument("--bootrom", default=os.environ.get("POSTUREPOD_PICO_BOOTROM")
                    or str(SHARED / "rp2040-bootrom-b1.bin"))
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    uf2, rom = Path(a.uf2), Path(a.bootrom)
    models = a.models.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-pico-") as td:
        tmp = Path(td)
        pico = Pico(tmp, uf2, rom, models[0], blank=True)
        try:
            r = subprocess.run(CLI + ["flash", "--port", str(pico.link), "--role", "pelvis",
                                      "--board", "pico"], capture_output=True, text=True,
                               timeout=600)
            if r.returncode != 0:
                raise SystemExit("flash failed: " + r.stdout[-800:] + r.stderr[-800:])
        finally:
            pico.stop()
        for model in models:
            pico = Pico(tmp, uf2, rom, model, blank=True)      # the flash holds the firmware
            try:
                heap, rows = cpu_rows(pico, tmp, a.seconds)
                res = {"heap": heap, "cpu": rows}
                if a.link:
                    pico.stop()
                    pico = Pico(tmp, uf2, rom, model, blank=True)   # main.py running again
                    res["link"] = link_rows(pico, tmp, model)
            finally:
                pico.stop()
            results[model] = res
            report(model, res)
    summary(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


def report(model: str, res: dict) -> None:
    h = res["heap"]
    base = h.get("baseline_us") or float("nan")
    print(f"\n{model} (driver {h['imu']}): heap free {h['free_boot'] / 1024:.0f} kB after the "
          f"soft reset, {h['free_app'] / 1024:.0f} kB with the pod's App built; baseline (one "
          f"struct.pack_into of a 14-byte record) {base:.1f} us")
    print(f"  {'loops':8s} {'rate':>6s} {'chip':>7s} {'us/sample':>10s} {'x base':>7s} {'CPU':>6s} "
          f"{'samples':>8s} {'expected':>9s} {'ovf':>4s} {'heap min':>9s}  lossless")
    for r in res["cpu"]:
        print(f"  {'native' if r['native'] else 'bytecode':8s} {r['rate_hz']:6d} "
              f"{r['odr_hz']:7.0f} {r['us_per_sample']:10.1f} "
              f"{r['us_per_sample'] / base:7.0f} {r['cpu']:6.1%} "
              f"{r['samples']:8d} {r['expected']:9.0f} {r['overflows']:4d} "
              f"{r['heap_min'] / 1024:8.0f}k  {'yes' if r['lossless'] else 'NO'}")
    for r in res.get("link", []):
        if "error" in r:
            print(f"  USB {r['rate_hz']} Hz: failed: {r['error']}")
        else:
            print(f"  USB {r['rate_hz']:5d} Hz: {r['samples']} samples, {r['lost']} lost, "
                  f"{r['crc_errors']} CRC errors: {'lossless' if r['lossless'] else 'LOSS'}")


def summary(results: dict) -> None:
    print("\ntargets:")
    for model, res in results.items():
        native = [r for r in res["cpu"] if r["native"]]
        at100 = next((r for r in native if r["rate_hz"] == 100), None)
        best = max((r["rate_hz"] for r in native if r["lossless"]), default=0)
        low = min((r["heap_min"] for r in res["cpu"]), default=0)
        if at100:
            print(f"  {model}: CPU at 100 Hz {at100['cpu']:.1%} (target <= "
                  f"{TARGET_CPU_100HZ:.0%}: {'met' if at100['cpu'] <= TARGET_CPU_100HZ else 'NOT met'}); "
                  f"highest lossless rate read {best} Hz; heap min {low / 1024:.0f} kB (target "
                  f">= {TARGET_HEAP_BYTES / 1000:.0f} kB: "
                  f"{'met' if low >= TARGET_HEAP_BYTES else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
