"""Writing a native recording (format: :mod:`posturepod.recordings.format`,
docs/recording.md): append-only while the session records, flushed every FLUSH_S seconds;
``write_native`` imports any Recording (a CSV interchange directory, say) the same way."""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from posturepod import __version__
from posturepod.recordings.data import Event, Recording
from posturepod.recordings.format import (FLUSH_S, FORMAT, IMU_DTYPE, LATE_DTYPE, SYNC_DTYPE,
                                          SYNC_PING, VERSION)


class RecordingError(Exception):
    """Recording stopped: the message says why and what is kept."""


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RecordingWriter:
    def __init__(self, path: str | Path, *, protocol: str = "", patient: str = "",
                 t0_monotonic: float | None = None, extra: dict | None = None):
        self.path = Path(path)
        self._made_dir = not self.path.exists()
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

    def discard(self) -> None:
        """Close and remove what this writer made, when nothing was recorded yet (a connect
        that failed): the same --out works for the retry. Keeps everything otherwise."""
        self.close(reason="discarded")
        if any(self._counts.values()):
            return
        for name in ["recording.json", *self._files]:
            try:
                (self.path / name).unlink()
            except OSError:
                pass
        if self._made_dir:
            try:
                self.path.rmdir()
            except OSError:
                pass            # something else was put there meanwhile: leave it


def write_native(rec: Recording, path: str | Path, *, acc_range_g: int = 8,
                 gyr_range_dps: int = 1000, rate_hz: float | None = None) -> Path:
    """Import: write any Recording (e.g. a CSV interchange directory) as a native
    recording, quantised like a pod would (int16 counts at the given ranges), one segment
    per pod, the recording clock as the device clock (pings once a second), events kept."""
    w = RecordingWriter(path, t0_monotonic=0.0, protocol=rec.meta.get("protocol", ""),
                        patient=rec.meta.get("patient", ""),
                        extra={"imported_from": str(rec.path) if rec.path else None,
                               **{k: rec.meta[k] for k in ("placement",) if k in rec.meta}})
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
