"""posturepod demo: the whole job with no hardware. A simulated patient (body model) moves
three virtual boards running the real firmware; the host records them over their serial
ports exactly as it records real pods, then analyses the recording and writes the report."""
import sys
import tempfile
import time
from pathlib import Path


def register(sub):
    import argparse
    p = sub.add_parser("demo", help="start here: a virtual patient on virtual pods, recorded, "
                       "analysed, report written (no hardware)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--protocol", default="flexion", choices=["flexion", "sitting"],
                   help="the clinic's standing flexion test, or a desk day")
    p.add_argument("--pattern", default="inhibited_hip", choices=["normal", "inhibited_hip"],
                   help="flexion: the virtual patient's hip pattern")
    p.add_argument("--seconds", type=float,
                   help="record this long instead of the protocol's length (flexion: then "
                        "without the guided capture, which ends with the bends)")
    p.add_argument("--out", help="recording directory (default: a new temporary one)")
    p.add_argument("--patient", help="pseudonymous patient ID (default: a new demo-XXXXXX "
                   "for each virtual patient, so demos never mix in the progress section)")
    p.add_argument("--rate-hz", type=int, default=100, help="the pods' sample rate")
    p.add_argument("--seed", type=int, default=1, help="the simulated patient")
    p.add_argument("--buzz-after", type=float, default=30.0,
                   help="sitting: buzz after this many seconds of slouch / head forward")
    p.add_argument("--transport", default="serial", choices=["serial", "ble"],
                   help="USB serial, or BLE on an emulated radio")
    p.add_argument("--standalone", action="store_true",
                   help="sitting: the pods are armed (posturepod wear) and left on their own, "
                        "then synced (posturepod sync): DIR is a day-log recording")
    p.add_argument("--with-stream", action="store_true",
                   help="--standalone: also record the raw stream of the whole day in DIR/wear "
                        "while the pods work on their own (the same day both ways)")
    p.add_argument("--no-live", action="store_true", help="no live screen")
    p.set_defaults(func=_run)


def make_trace(protocol: str, pattern: str, seed: int, out: Path, seconds: float | None,
               rate_hz: int):
    """Simulate the patient and write the trace the virtual boards feel. Returns
    (trace path, duration s, truth dict)."""
    from posturepod.sim.simulate import simulate
    from posturepod.devices.virtual.trace import write_trace
    kw = {}
    if protocol == "sitting":
        kw["duration_s"] = max(seconds or 300.0, 120.0)
    trace_rate = 1000 if rate_hz > 200 else (400 if protocol == "flexion" else 200)
    res = simulate(protocol, seed, pattern=pattern, clock_errors=False, sensor_errors=True,
                   true_rate_hz=trace_rate, **kw)
    pods = {}
    for role, (t, acc, gyr) in res.sensors_true.items():
        pods[role] = {"acc_m_s2": acc, "gyr_rad_s": gyr}
        dur = float(t[-1] - t[0])
    trace = write_trace(out / "patient.trace", trace_rate, pods)
    return trace, dur, res.truth


def _run(a):
    import sys
    if sys.platform == "win32":
        print("posturepod demo: error: the demo's virtual pods need Linux or macOS "
              "(pseudo-terminals); on Windows, simulate a recording instead: "
              "posturepod simulate --protocol flexion --out REC, then posturepod flexion REC",
              file=sys.stderr)
        return 1
    if a.out and (Path(a.out) / "recording.json").exists():
        print(f"posturepod demo: error: {a.out} already holds a recording; choose a new "
              f"--out directory", file=sys.stderr)
        return 1
    if a.standalone and a.protocol != "sitting":
        print("posturepod demo: error: --standalone is for --protocol sitting (a desk day)",
              file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="posturepod-demo-"))
    out = Path(a.out) if a.out else work / "recording"
    try:
        if a.standalone:
            from ._standalone_demo import standalone_demo
            return standalone_demo(a, work, out, make_trace)
        return _demo(a, work, out)
    finally:     # the boards' filesystems and the motion trace are scaffolding
        import shutil
        shutil.rmtree(work / "boards", ignore_errors=True)
        for f in work.glob("*.trace"):
            f.unlink(missing_ok=True)
        if a.out:
            shutil.rmtree(work, ignore_errors=True)


def _demo(a, work: Path, out: Path) -> int:
    """Simulate, run the virtual boards, record (guided), analyse; ``work`` holds the
    scaffolding (trace, boards), ``out`` the recording."""
    from posturepod.devices.virtual.patient import VirtualPatient, monotonic_us
    from posturepod.pods.acquire import record

    if not a.patient:
        import secrets
        a.patient = "demo-" + secrets.token_hex(3)
    print(f"simulating virtual patient {a.patient} ({a.protocol}"
          f"{', ' + a.pattern if a.protocol == 'flexion' else ''}, seed {a.seed})...",
          file=sys.stderr)
    trace, dur, truth = make_trace(a.protocol, a.pattern, a.seed, work, a.seconds, a.rate_hz)
    seconds = a.seconds if a.seconds else dur + 1.5
    lead_s = 4.0
    t0 = monotonic_us() + int(lead_s * 1e6)
    print(f"starting three virtual boards (real firmware, MicroPython unix port) in {work}"
          + (" on an emulated BLE radio" if a.transport == "ble" else ""), file=sys.stderr)
    if a.transport == "ble":
        # the firmware's BLE link, bridged to bumble peripherals; the host connects with
        # its real BleTransport (bleak) through a bumble-backed bleak backend
        try:
            from posturepod.devices.virtual.ble_patient import VirtualBlePatient as Patient
        except ImportError as e:
            print(f"posturepod demo: --transport ble needs bleak and bumble "
                  f"(dependencies of posturepod: reinstall it): {e}", file=sys.stderr)
            return 2
    else:
        Patient = VirtualPatient
    from ._progress import progress_bar
    with Patient(work / "boards", trace=trace, t0_us=t0, rate_hz=a.rate_hz) as vp, \
            progress_bar("recording the virtual patient", seconds + lead_s,
                         quiet=not a.no_live) as update, _ticking(update):
        pods = vp.links
        # start recording shortly before the patient starts moving (trace time 0)
        while monotonic_us() < t0 - 1_500_000:
            time.sleep(0.05)
        meta = {"demo": {"seed": a.seed, "pattern": a.pattern, "trace_t0_us": t0}}
        if a.protocol == "flexion" and not a.seconds:
            from posturepod.flexion.guide import run_guided
            g = run_guided(pods, out, reps=len(truth.get("reps", [])) or 3,
                           patient=a.patient, live_view=not a.no_live, max_s=seconds,
                           extra_meta=meta)
            print(f"guided capture: {g['reps']} bends, warnings: "
                  f"{'; '.join(g['warnings']) or 'none'}", file=sys.stderr)
        elif a.protocol == "sitting":
            from posturepod.sitting.guide import run_live
            r = run_live(pods, out, buzz_after_s=a.buzz_after, break_after_s=1800.0,
                         seconds=seconds, patient=a.patient, live_view=not a.no_live,
                         extra_meta=meta)
            print(f"live feedback: {r['slouch_buzzes']} slouch buzzes, "
                  f"{r['head_forward_buzzes']} head-forward buzzes", file=sys.stderr)
        else:
            record(pods, out, seconds=seconds, protocol=a.protocol, patient=a.patient,
                   live=not a.no_live, extra_meta=meta)
    (out / "truth.json").write_text(__import__("json").dumps(truth))
    _recorded(out)
    return _analyse(a, out)


def _recorded(out: Path) -> None:
    """What was recorded, for the person running the demo (clock offsets, drift and link
    figures are for `posturepod info`)."""
    from .info import summary
    s = summary(out)
    pods = ", ".join(f"{p['role']} {p['samples']} samples" for p in s["pods"])
    lost = sum(p["lost_samples"] for p in s["pods"])
    print(f"recorded {out}: {s['duration_s']:.0f} s, {pods}"
          + (f", {lost} samples lost" if lost else ", nothing lost")
          + f" (details: posturepod info {out})")


class _ticking:
    """Calls ``update(seconds since entering)`` twice a second in a thread (the recording
    loops run in the main thread)."""

    def __init__(self, update):
        self.update = update
        self.stop = None

    def __enter__(self):
        import threading
        self.stop = threading.Event()
        t0 = time.monotonic()

        def run():
            while not self.stop.wait(0.5):
                self.update(time.monotonic() - t0)
        threading.Thread(target=run, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stop.set()


def _analyse(a, out: Path) -> int:
    try:
        if a.protocol == "flexion":
            from .flexion import analyse_to_files
        else:
            from .sitting import analyse_to_files
    except ImportError:
        print("analysis not available yet: recording only", file=sys.stderr)
        return 0
    report = out / "report.html"
    analyse_to_files(out, report=report, patient=a.patient)
    print(f"report: {report}")
    return 0
