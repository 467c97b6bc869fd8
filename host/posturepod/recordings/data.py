"""In-memory recording: what every analysis consumes, whatever the file format.

Times are seconds on the recording's one clock (``time_s``), shared by all pods.
Sensor data are in the pod's sensor frame, SI units: ``acc_m_s2``, ``gyr_rad_s``, ``mag_ut``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROLES = ("pelvis", "thorax", "head")


class DataError(ValueError):
    """Bad input data: the message names the file and, where it applies, the line."""


def read_json_object(path: Path, hint: str = "") -> dict:
    """The JSON object in a file. Errors name the file (and for a syntax error its line,
    followed by ``hint``): unreadable, not JSON, or JSON that is not an object."""
    import json
    try:
        obj = json.loads(Path(path).read_text())
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise DataError(f"{path}:{getattr(e, 'lineno', '?')}: not valid JSON "
                        f"({getattr(e, 'msg', e)}){hint}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: not a JSON object (found {type(obj).__name__})")
    return obj


@dataclass
class Event:
    time_s: float
    label: str


@dataclass
class PodData:
    role: str
    time_s: np.ndarray            # (N,) float64, seconds on the recording clock
    acc_m_s2: np.ndarray          # (N, 3) float64, sensor frame
    gyr_rad_s: np.ndarray         # (N, 3) float64, sensor frame
    mag_ut: np.ndarray | None = None   # (N, 3) float64 or None
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (start_s, end_s) of lost data
    info: dict = field(default_factory=dict)   # the pod's info message, when known

    @property
    def rate_hz(self) -> float:
        """Samples per second while data came: the gaps (each from the last sample before it
        to the first after it) are left out, so an outage does not lower the rate."""
        n = len(self.time_s)
        if n < 2:
            return 0.0
        span = float(self.time_s[-1] - self.time_s[0])
        gaps = [(a, b) for a, b in self.gaps if b > a]
        missing = sum(b - a for a, b in gaps)
        if n - 1 - len(gaps) >= 1 and span - missing > 0:
            return float((n - 1 - len(gaps)) / (span - missing))
        return float((n - 1) / span) if span > 0 else 0.0

    def __len__(self) -> int:
        return len(self.time_s)


@dataclass
class Recording:
    path: Path | None
    pods: dict[str, PodData]
    events: list[Event] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        full = [p for p in self.pods.values() if len(p)]
        if not full:
            return 0.0
        t0 = min(p.time_s[0] for p in full)
        t1 = max(p.time_s[-1] for p in full)
        return float(t1 - t0)

    def events_named(self, label: str) -> list[Event]:
        return [e for e in self.events if e.label == label]


DATE_KEYS = ("recorded_at", "created_utc", "started_at", "start_time", "start_utc",
             "created_at", "created", "date")


def recorded_at(rec: "Recording") -> tuple[str, str]:
    """When a recording was made, as (ISO 8601 text, where it came from): its metadata (a
    native recording writes ``created_utc``; a CSV directory's meta.json may carry any of
    :data:`DATE_KEYS`), else the oldest time of its data files (which a copy may change:
    the source says so). The one rule of both analyses."""
    from datetime import datetime, timezone
    meta = rec.meta or {}
    for key in DATE_KEYS:
        v = meta.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1e8:
            return (datetime.fromtimestamp(v, tz=timezone.utc).isoformat(timespec="seconds"),
                    f"recording meta {key}")
        if isinstance(v, str) and v.strip():
            return v.strip(), f"recording meta {key}"
    path = Path(rec.path) if rec.path is not None else None
    if path is None or not path.exists():
        return "", "unknown"
    files = [f for f in (path.iterdir() if path.is_dir() else [path])
             if f.is_file() and f.suffix in (".csv", ".json", ".bin", ".jsonl", ".txt", ".imu")
             and f.name not in ("flexion.json", "sitting.json", "calibration.json")]
    mt = min((f.stat().st_mtime for f in files), default=path.stat().st_mtime)
    return (datetime.fromtimestamp(mt, tz=timezone.utc).isoformat(timespec="seconds"),
            "file time")
