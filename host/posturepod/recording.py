"""Native recording: one directory, append-only while recording. Format in docs/recording.md.

    recording.json      manifest (format, version, host and firmware versions, start time,
                        pods with their info messages); rewritten atomically on change
    <role>.imu          20-byte records: seq u32, t_dev_us u32, acc int16 x3, gyr int16 x3
    <role>.sync         24-byte clock observations: seg u16, kind u8, pad, host_s f64,
                        dev_us u64, rtt_s f32 (kind 1: ping mid-point, 2: earliest frame
                        arrival of a second)
    <role>.late         8-byte runs first u32, n u32 of <role>.imu records that arrived
                        late: a lower sequence number than one already recorded in the
                        segment (store-and-forward backlog after a BLE outage, docs/ble.md);
                        absent when nothing arrived late
    log.jsonl           session log: segments (pod boots / reconnections) with the first
                        record index of each, link drops, errors, stats
    events.jsonl        operator markers {"time_s", "label"}
    calibration.json    added later by the analyses

Files are flushed at least every FLUSH_S seconds, so a crash or kill -9 loses at most that.
A write error (disk full, permissions) stops the recording with RecordingError; everything
already flushed stays readable.
"""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .columns import RecordFile
from .data import DataError, Event, PodData, Recording

FORMAT = "posturepod-recording"
VERSION = 1
FLUSH_S = 0.5

IMU_DTYPE = np.dtype([("seq", "<u4"), ("t_us", "<u4"), ("acc", "<i2", (3,)),
                      ("gyr", "<i2", (3,))])
SYNC_DTYPE = np.dtype([("seg", "<u2"), ("kind", "u1"), ("pad", "u1"), ("host_s", "<f8"),
                       ("dev_us", "<u8"), ("rtt_s", "<f4")])
SYNC_PING = 1
SYNC_ARRIVAL = 2
LATE_DTYPE = np.dtype([("first", "<u4"), ("n", "<u4")])
assert IMU_DTYPE.itemsize == 20 and SYNC_DTYPE.itemsize == 24


class RecordingError(Exception):
    """Recording stopped: the message says why and what is kept."""


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RecordingWriter:
    def __init__(self, path: str | Path, *, protocol: str = "", patient: str = "",
                 t0_monotonic: float | None = None, extra: dict | None = None):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if (self.path / "recording.json").exists():
                raise RecordingError(f"{self.path}: already holds a recording; "
                                     f"choose a new --out directory")
        except OSError as e:
            raise RecordingError(f"{self.path}: cannot create: {e.strerror}") from None
        self.t0 = time.monotonic() if t0_monotonic is None else t0_monotonic
        self.meta = {
            "format": FORMAT, "version": VERSION,
            "created_utc": _utc_now(), "t0_monotonic_s": self.t0,
            "host": {"posturepod": __version__, "python": platform.python_version(),
                     "platform": platform.platform()},
            "protocol": protocol, "patient": patient,
            "pods": {}, "stopped_utc": None, "stop_reason": None,
        }
        if extra:
            self.meta.update(extra)
        self._files: dict[str, object] = {}
        self._counts: dict[str, int] = {}
        self._late_max: dict[str, int] = {}    # highest seq recorded in the open segment
        self._lock = threading.RLock()
        self._last_flush = time.monotonic()
        self.error: str | None = None
        self.closed = False
        self._write_meta()
        self._log = self._open("log.jsonl")
        self._events = self._open("events.jsonl")

    # -- low level ------------------------------------------------------------------
    def _open(self, name: str):
        try:
            f = open(self.path / name, "ab", buffering=1 << 16)
        except OSError as e:
            self._fail(f"cannot open {name}: {e.strerror}")
        self._files[name] = f
        return f

    def _fail(self, why: str):
        self.error = why
        try:
            self.close(reason=f"error: {why}")
        except Exception:  # noqa: BLE001 - keep the first error
            pass
        raise RecordingError(f"{self.path}: recording stopped: {why}; "
                             f"data written before this is kept and readable")

    def _write(self, name: str, data: bytes) -> None:
        if self.closed:
            raise RecordingError(f"{self.path}: recording is closed ({self.error or 'stopped'})")
        f = self._files.get(name) or self._open(name)
        try:
            f.write(data)
        except OSError as e:
            self._fail(f"writing {name}: {e.strerror}")
        if time.monotonic() - self._last_flush >= FLUSH_S:
            self.flush()

    def _write_meta(self) -> None:
        tmp = self.path / "recording.json.tmp"
        try:
            tmp.write_text(json.dumps(self.meta, indent=2, default=str))
            os.replace(tmp, self.path / "recording.json")
        except OSError as e:
            self.error = f"writing recording.json: {e.strerror}"
            raise RecordingError(f"{self.path}: {self.error}") from None

    def flush(self) -> None:
        with self._lock:
            self._last_flush = time.monotonic()
            for name, f in self._files.items():
                try:
                    f.flush()
                except OSError as e:
                    self._fail(f"flushing {name}: {e.strerror}")

    # -- API --------------------------------------------------------------------------
    def time_s(self, t_monotonic: float | None = None) -> float:
        """Recording clock: seconds since the recording started (host monotonic)."""
        return (time.monotonic() if t_monotonic is None else t_monotonic) - self.t0

    def add_pod(self, role: str, info: dict, spec: str) -> None:
        with self._lock:
            self.meta["pods"][role] = {"spec": spec, "info": info}
            self._counts.setdefault(role, 0)
            self._write_meta()
            self._open(f"{role}.imu") if f"{role}.imu" not in self._files else None
            self._open(f"{role}.sync") if f"{role}.sync" not in self._files else None

    def update_pod_info(self, role: str, info: dict) -> None:
        with self._lock:
            self.meta["pods"].setdefault(role, {})["info"] = info
            self._write_meta()

    def samples(self, role: str, seq: np.ndarray, t_us: np.ndarray,
                counts: np.ndarray) -> None:
        rec = np.empty(len(seq), dtype=IMU_DTYPE)
        rec["seq"] = seq
        rec["t_us"] = t_us
        rec["acc"] = counts[:, 0:3]
        rec["gyr"] = counts[:, 3:6]
        with self._lock:
            first = self._counts.get(role, 0)
            self._write(f"{role}.imu", rec.tobytes())
            self._counts[role] = first + len(seq)
            self._note_late(role, first, rec["seq"])

    def _note_late(self, role: str, first: int, seq: np.ndarray) -> None:
        """Runs of records arriving after a newer sample of the segment -> <role>.late."""
        if len(seq) == 0:
            return
        s = seq.astype(np.int64)
        prev = np.maximum.accumulate(np.concatenate([[self._late_max.get(role, -1)], s]))
        self._late_max[role] = int(prev[-1])
        late = s <= prev[:-1]
        if not late.any():
            return
        d = np.diff(np.concatenate([[0], late.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        runs = np.empty(len(starts), dtype=LATE_DTYPE)
        runs["first"] = first + starts
        runs["n"] = ends - starts
        self._write(f"{role}.late", runs.tobytes())

    def records(self, role: str) -> int:
        return self._counts.get(role, 0)

    def sync(self, role: str, seg: int, kind: int, host_monotonic: float, dev_us: int,
             rtt_s: float = 0.0) -> None:
        r = np.zeros(1, dtype=SYNC_DTYPE)
        r["seg"] = seg
        r["kind"] = kind
        r["host_s"] = self.time_s(host_monotonic)
        r["dev_us"] = dev_us
        r["rtt_s"] = rtt_s
        with self._lock:
            self._write(f"{role}.sync", r.tobytes())

    def log(self, kind: str, **fields) -> None:
        d = {"kind": kind, "time_s": round(self.time_s(), 6), **fields}
        with self._lock:
            if kind == "segment":
                self._late_max.pop(fields.get("role"), None)
            self._write("log.jsonl", (json.dumps(d, default=str) + "\n").encode())

    def event(self, label: str, t_monotonic: float | None = None, **fields) -> Event:
        e = Event(round(self.time_s(t_monotonic), 6), label)
        with self._lock:
            self._write("events.jsonl",
                        (json.dumps({"time_s": e.time_s, "label": label, **fields}) + "\n")
                        .encode())
            self.flush()
        return e

    def close(self, reason: str = "stopped") -> None:
        with self._lock:
            if self.closed:
                return
            for f in self._files.values():
                try:
                    f.close()
                except OSError:
                    pass
            self.closed = True
            self.meta["stopped_utc"] = _utc_now()
            self.meta["stop_reason"] = reason
            self.meta["samples"] = dict(self._counts)
            try:
                self._write_meta()
            except RecordingError:
                pass


# ---- reading ----------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict]:
    """Lines of a JSON-lines file; a torn last line (crash mid-write) is skipped, a broken
    line elsewhere is an error naming file and line."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, ln in enumerate(lines, start=1):
        if not ln.strip():
            continue
        try:
            out.append(json.loads(ln))
        except ValueError:
            if i >= len(lines) - 1:
                break
            raise DataError(f"{path}:{i}: not valid JSON") from None
    return out


def load_imu(path: Path) -> np.ndarray:
    """Bulk-load a .imu file (a torn last record is ignored)."""
    n = path.stat().st_size // IMU_DTYPE.itemsize if path.exists() else 0
    if n == 0:
        return np.zeros(0, dtype=IMU_DTYPE)
    return np.fromfile(path, dtype=IMU_DTYPE, count=n)


def _seq_and_time(records: RecordFile) -> np.ndarray:
    """The ``seq`` and ``t_us`` fields of every record (8 bytes a record), read in blocks."""
    out = np.empty(len(records), dtype=[("seq", "<u4"), ("t_us", "<u4")])
    for i0 in range(0, len(records), 1 << 16):
        r = records.read(i0, i0 + (1 << 16))
        out["seq"][i0:i0 + len(r)] = r["seq"]
        out["t_us"][i0:i0 + len(r)] = r["t_us"]
    return out


def load_sync(path: Path) -> np.ndarray:
    n = path.stat().st_size // SYNC_DTYPE.itemsize if path.exists() else 0
    if n == 0:
        return np.zeros(0, dtype=SYNC_DTYPE)
    return np.fromfile(path, dtype=SYNC_DTYPE, count=n)


def load_late_runs(path: Path) -> np.ndarray:
    """The (first, n) runs of late records in a <role>.late file."""
    k = path.stat().st_size // LATE_DTYPE.itemsize if path.exists() else 0
    return np.fromfile(path, dtype=LATE_DTYPE, count=k) if k else np.zeros(0, LATE_DTYPE)


def load_late(path: Path, n_records: int) -> np.ndarray:
    """Boolean mask of the records of a .imu file that arrived late (see <role>.late)."""
    mask = np.zeros(n_records, dtype=bool)
    for first, n in load_late_runs(path):
        mask[int(first):int(first) + int(n)] = True
    return mask


def _segment_starts(imu: np.ndarray, segs: list[dict]) -> list[dict]:
    """A segment's t0_dev_us is the device time of its first *arriving* sample; when
    back-filled samples (lower sequence numbers) arrive after it, give the time of the
    segment's lowest sequence number instead, which is where the loader starts unwrapping."""
    out = []
    segs = sorted(segs, key=lambda s: s["first"])
    for k, s in enumerate(segs):
        lo = int(s["first"])
        hi = int(segs[k + 1]["first"]) if k + 1 < len(segs) else len(imu)
        t0 = s.get("t0_dev_us")
        if t0 is not None and hi - lo > 1:
            j = int(np.argmin(imu["seq"][lo:hi]))
            if j:
                dt = (int(imu["t_us"][lo + j]) - int(imu["t_us"][lo]) + (1 << 31)) % (1 << 32)
                s = {**s, "t0_dev_us": int(t0) + dt - (1 << 31)}
        out.append(s)
    return out


def read_meta(path: Path) -> dict:
    f = Path(path) / "recording.json"
    try:
        meta = json.loads(f.read_text())
    except OSError as e:
        raise DataError(f"{f}: cannot read: {e.strerror}") from None
    except ValueError:
        raise DataError(f"{f}: not valid JSON") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"{f}: not a posturepod recording")
    if meta.get("version", 0) > VERSION:
        raise DataError(f"{f}: format version {meta['version']} is newer than this "
                        f"posturepod reads ({VERSION}); upgrade posturepod")
    return meta


def read_recording(path: str | Path) -> Recording:
    """Open a native recording. Samples stay in the files: each pod's columns are read on
    access (posturepod.columns), so opening and analysing a day in chunks does not hold
    it in memory. Pods with late or repeated samples are put in order in memory first."""
    from .timeline import lazy_order, pod_timeline, stream_timeline
    path = Path(path)
    meta = read_meta(path)
    log = read_jsonl(path / "log.jsonl")
    pods = {}
    for role, p in meta.get("pods", {}).items():
        info = p.get("info") or {}
        records = RecordFile(path / f"{role}.imu", IMU_DTYPE)
        sync = load_sync(path / f"{role}.sync")
        segs = [e for e in log if e.get("kind") == "segment" and e.get("role") == role]
        rate_hz = float(info.get("odr_hz") or info.get("rate_hz") or 100)
        acc_scale = float(info.get("acc_scale") or 9.80665 / 4096)
        gyr_scale = float(info.get("gyr_scale") or np.deg2rad(1 / 32.8))
        tl = stream_timeline(records, sync, segs, rate_hz)
        if tl is not None:          # in order: SI values read from the file on access
            acc = records.field("acc", acc_scale)
            gyr = records.field("gyr", gyr_scale)
            late_n = int(load_late_runs(path / f"{role}.late")["n"].sum())
        else:   # late or repeated samples: sort sequence numbers and times in memory,
                # keep the order as runs of consecutive records (lazy_order)
            st = _seq_and_time(records)
            tl = pod_timeline(st, sync, _segment_starts(st, segs), rate_hz)
            late = load_late(path / f"{role}.late", len(st))
            late_n = int(late[tl.order].sum())
            del st, late
            tl = lazy_order(records, tl)
            acc = records.field("acc", acc_scale, tl.runs)
            gyr = records.field("gyr", gyr_scale, tl.runs)
        pods[role] = PodData(role=role, time_s=tl.time_s, acc_m_s2=acc, gyr_rad_s=gyr,  # type: ignore[arg-type]
                             gaps=tl.gaps, info=info)
        pods[role].timeline = tl  # type: ignore[attr-defined]
        pods[role].late_samples = late_n  # type: ignore[attr-defined]
    events = [Event(float(e["time_s"]), str(e["label"]))
              for e in read_jsonl(path / "events.jsonl") if "label" in e]
    meta["log"] = log
    return Recording(path=path, pods=pods, events=events, meta=meta)


def write_native(rec: Recording, path: str | Path, *, acc_range_g: int = 8,
                 gyr_range_dps: int = 1000, rate_hz: float | None = None) -> Path:
    """Import: write any Recording (e.g. a CSV interchange directory) as a native
    recording, quantised like a pod would (int16 counts at the given ranges), one segment
    per pod, the recording clock as the device clock (pings once a second), events kept."""
    w = RecordingWriter(path, t0_monotonic=0.0, protocol=rec.meta.get("protocol", ""),
                        patient=rec.meta.get("patient", ""),
                        extra={"imported_from": str(rec.path) if rec.path else None})
    acc_scale = 9.80665 * acc_range_g / 32768.0
    gyr_scale = np.deg2rad(gyr_range_dps) / 32768.0
    for role, p in rec.pods.items():
        rate = rate_hz or p.rate_hz
        info = {"role": role, "imu": "imported", "odr_hz": rate, "rate_hz": rate,
                "acc_range_g": acc_range_g, "gyr_range_dps": gyr_range_dps,
                "acc_scale": acc_scale, "gyr_scale": gyr_scale, "axes": 6}
        w.add_pod(role, info, "import")
        dev0 = 1_000_000
        t_first = float(p.time_s[0])
        w.log("segment", role=role, seg=0, first=0, t0_dev_us=dev0, boot_id=0)
        step = 200_000            # a block at a time: a day is never held whole
        for k in range(0, len(p), step):
            sl = slice(k, k + step)
            t = np.asarray(p.time_s[sl], dtype=np.float64)
            dev = dev0 + np.round((t - t_first) * 1e6).astype(np.int64)
            counts = np.hstack([np.asarray(p.acc_m_s2[sl]) / acc_scale,
                                np.asarray(p.gyr_rad_s[sl]) / gyr_scale])
            counts = np.clip(np.round(counts), -32768, 32767).astype(np.int16)
            w.samples(role, np.arange(k, k + len(counts)), dev % (1 << 32), counts)
            for s in np.arange(np.ceil(t[0]), t[-1], 1.0):      # pings once a second
                i = int(np.searchsorted(t, s))
                w.sync(role, 0, SYNC_PING, float(t[i]), int(dev[i]), 0.0)
    for e in rec.events:
        w.event(e.label, e.time_s)
    w.close(reason="imported")
    return Path(path)
