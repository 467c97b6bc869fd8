"""``posturepod demo --protocol sitting --standalone``: the virtual patient wears armed
virtual pods (the real firmware) with no host attached, then the host syncs and analyses.

At the end of the day the pods are disarmed (the patient takes them off), then synced.
DIR: the day-log recording (``posturepod sync``), ``sitting.json`` and ``report.html``
(``posturepod sitting``), ``truth.json`` (the simulated patient; ``demo`` says where trace
time 0 is on the wall clock and the host's monotonic clock), and ``wear/``: the native
recording of the calibration and seated reference (with ``--with-stream``, of the whole
day's raw stream as well, recorded while the pods were armed: the same day both ways).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def standalone_demo(a, work: Path, out: Path, make_trace) -> int:
    """``make_trace``: demo.make_trace (the simulated patient's motion trace)."""
    from posturepod.devices.virtual.patient import VirtualPatient, monotonic_us
    from posturepod.pods.daylog_sync import summary_line, sync_pods
    from posturepod.sitting.wear import WearError, run_wear, what_pods_do

    if out.exists() and any(out.iterdir()):
        print(f"posturepod demo: error: {out} is not empty; choose a new --out directory",
              file=sys.stderr)
        return 1
    if not a.patient:
        import secrets
        a.patient = "demo-" + secrets.token_hex(3)
    print(f"simulating virtual patient {a.patient} (sitting, seed {a.seed}), standalone pods",
          file=sys.stderr)
    trace, dur, truth = make_trace("sitting", "normal", a.seed, work, a.seconds, a.rate_hz)
    seconds = a.seconds if a.seconds else dur + 1.5
    lead_s = 4.0
    t0 = monotonic_us() + int(lead_s * 1e6)
    end_mono = (t0 + int(seconds * 1e6)) / 1e6
    out.mkdir(parents=True, exist_ok=True)
    with VirtualPatient(work / "boards", trace=trace, t0_us=t0, rate_hz=a.rate_hz,
                        motor_log=True) as vp:
        while monotonic_us() < t0 - 1_500_000:
            time.sleep(0.05)
        try:
            res = run_wear(vp.links, out / "wear", live_view=not a.no_live,
                           stream_until=end_mono if a.with_stream else None,
                           timeout_s=seconds, patient=a.patient,
                           extra_meta={"demo": {"seed": a.seed, "trace_t0_us": t0}})
        except WearError as e:
            print(f"posturepod demo: {e}", file=sys.stderr)
            return 1
        print("armed the virtual pods:", file=sys.stderr)
        for line in what_pods_do(res):
            print(f"  {line}", file=sys.stderr)
        left = end_mono - time.monotonic()
        if left > 0:
            print(f"the pods are on their own for {left:.0f} s "
                  f"{'(the raw stream was recorded too) ' if a.with_stream else ''}...",
                  file=sys.stderr)
            time.sleep(left)
        _disarm(vp.links)     # the day is over: the patient takes the pods off
        synced = sync_pods(vp.links, out, patient=a.patient, log=lambda *x: None)
        for role, e in synced.items():
            print("sync: " + summary_line(role, e), file=sys.stderr)
        motors = {r: [round((us - t0) / 1e6, 3) for us in
                      _motor_log(work / "boards" / f"{r}.motor.log")] for r in vp.boards}
    failed = [r for r, e in synced.items() if "error" in e]
    if failed:
        print(f"posturepod demo: the sync of {', '.join(failed)} failed", file=sys.stderr)
        return 1
    wall_minus_mono = time.time() - time.monotonic()
    truth["demo"] = {"trace_t0_monotonic_s": t0 / 1e6,
                     "trace_t0_wall_s": t0 / 1e6 + wall_minus_mono,
                     "standalone": True, "with_stream": bool(a.with_stream),
                     "motor_on_trace_s": motors}
    (out / "truth.json").write_text(json.dumps(truth))
    from .sitting import analyse_to_files
    report = out / "report.html"
    return analyse_to_files(out, report=report, patient=a.patient)


def _motor_log(path: Path) -> list[int]:
    """The virtual motor's switch-on times (host monotonic us) from the board's motor log
    (firmware/vboard: "<us> on|off" per switch)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for ln in lines:
        parts = ln.split()
        if len(parts) >= 2 and parts[1] == "on":
            try:
                out.append(int(parts[0]))
            except ValueError:
                pass
    return out


def _disarm(links: dict) -> None:
    """Stop every pod's logging at the end of the simulated day (as taking it off and
    switching it off would), so the day-log ends where the patient's day ends."""
    from posturepod.pods.podlink import PodError, PodLink
    for role, port in links.items():
        link = PodLink(port, name=role, auto_reconnect=False)
        try:
            link.open()
            link.request("disarm", timeout_s=3.0)
        except PodError as e:
            print(f"posturepod demo: warning: {e}", file=sys.stderr)
        finally:
            link.close()
