"""Sync throughput: `posturepod sync` pulling a full standalone day from a virtual pod.

    python bench/sync.py [--hours 16] [--runs 3]

One virtual pod (the real firmware in the MicroPython unix port, behind its pty) whose
flash filesystem holds a day log of --hours hours (one record a second, written in the
firmware's own segment format by firmware/pod/daylog.py run under CPython, so the pod
reads a log exactly as it would have written it). Each run syncs it into a new day-log
(log_read in chunks of 256, every record's CRC and sequence checked, appended and
fsynced, pings). Baseline, same run: the host's share alone, the same records checked
and appended from memory. Prints the medians: records/s, kB/s, seconds for the day, and
the ratio to the baseline (how much of the time is the link and the pod).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fill_log(fs: Path, n: int) -> None:
    """n records (a slow sway, one a second) in the firmware's day-log format."""
    sys.path.insert(0, str(ROOT / "firmware"))
    try:
        from pod import daylog as fw_daylog   # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    import os
    cwd = os.getcwd()
    fs.mkdir(parents=True, exist_ok=True)
    os.chdir(fs)
    try:
        log = fw_daylog.DayLog()
        log.open()
        log.seg_n, log.max_segs = fw_daylog.SEG_N, n // fw_daylog.SEG_N + 3
        for i in range(n):
            a = 300 + (i % 600) - 300
            log.append(i & 0xFFFF, a, a - 40, a + 40, 5, 1 if i == 0 else 0)
        log.close()
        log.save()
    finally:
        os.chdir(cwd)


def host_only(raw: bytes, out: Path) -> float:
    from posturepod.recordings import daylog as D
    t = time.perf_counter()
    valid = 0
    path = out / "x.log"
    for k in range(0, len(raw), 256 * 16):
        chunk = raw[k:k + 256 * 16]
        assert all(D.record_ok(chunk[j:j + 16]) for j in range(0, len(chunk), 16))
        valid = D.append_records(path, chunk, valid)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=16.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    from posturepod.devices.virtual.patient import spawn_board
    from posturepod.pods.daylog_sync import sync_pods
    from posturepod.recordings import daylog as D
    n = int(a.hours * 3600)
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    fill_log(work / "fs", n)
    raw = b"".join(p.read_bytes() for p in sorted((work / "fs" / "dlog").glob("s*.bin")))
    assert len(raw) == n * 16, (len(raw), n)
    board = spawn_board("thorax", work / "thorax.tty", fs=work / "fs", rate_hz=50)
    sync_s, base_s = [], []
    try:
        for r in range(a.runs):
            out = work / f"day{r}"
            t = time.perf_counter()
            res = sync_pods({"thorax": str(board.link)}, out, log=lambda *x: None)
            sync_s.append(time.perf_counter() - t)
            e = res["thorax"]
            assert "error" not in e, e
            got = len(D.read_daylog(out).pods["thorax"])
            assert got == n, (got, n)
            (work / f"base{r}").mkdir()
            base_s.append(host_only(raw, work / f"base{r}"))
    finally:
        board.kill()
    s, b = statistics.median(sync_s), statistics.median(base_s)
    print(f"{n} records ({a.hours:g} h, {n * 16 / 1e3:.0f} kB), {a.runs} runs, medians:")
    print(f"  sync over the pty:       {s:7.2f} s  {n / s:9.0f} records/s  "
          f"{n * 16 / 1e3 / s:7.1f} kB/s")
    print(f"  host alone (baseline):   {b:7.2f} s  {n / b:9.0f} records/s  ratio "
          f"{s / b:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
