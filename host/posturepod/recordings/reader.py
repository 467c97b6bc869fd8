"""Reading a native recording (format: :mod:`posturepod.recordings.format`,
docs/recording.md): samples stay in the files and are read on access."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posturepod.recordings.acc_calibration import apply_to_pod_info
from posturepod.recordings.columns import MappedColumn, RecordFile
from posturepod.recordings.data import DataError, Event, PodData, Recording, read_json_object
from posturepod.recordings.format import FORMAT, IMU_DTYPE, LATE_DTYPE, SYNC_DTYPE, VERSION
from posturepod.recordings.timeline import lazy_order, pod_timeline, stream_timeline


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


def _whole_records(path: Path, dtype: np.dtype) -> np.ndarray:
    """Every whole record of a file (a torn last record is left out; no file: none)."""
    n = path.stat().st_size // dtype.itemsize if path.exists() else 0
    return np.fromfile(path, dtype=dtype, count=n) if n else np.zeros(0, dtype=dtype)


def load_imu(path: Path) -> np.ndarray:
    """Bulk-load a .imu file (a torn last record is ignored)."""
    return _whole_records(path, IMU_DTYPE)


def _seq_and_time(records: RecordFile) -> np.ndarray:
    """The ``seq`` and ``t_us`` fields of every record (8 bytes a record), read in blocks."""
    out = np.empty(len(records), dtype=[("seq", "<u4"), ("t_us", "<u4")])
    for i0 in range(0, len(records), 1 << 16):
        r = records.read(i0, i0 + (1 << 16))
        out["seq"][i0:i0 + len(r)] = r["seq"]
        out["t_us"][i0:i0 + len(r)] = r["t_us"]
    return out


def load_sync(path: Path) -> np.ndarray:
    return _whole_records(path, SYNC_DTYPE)


def load_late_runs(path: Path) -> np.ndarray:
    """The (first, n) runs of late records in a <role>.late file."""
    return _whole_records(path, LATE_DTYPE)


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
                # against the logged time of the first arriving sample (its low 32 bits),
                # not the file's copy of it, which may be the one damaged record
                dt = (int(imu["t_us"][lo + j]) - int(t0) + (1 << 31)) % (1 << 32)
                s = {**s, "t0_dev_us": int(t0) + dt - (1 << 31)}
        out.append(s)
    return out


def _file_warnings(path: Path, role: str, n_records: int) -> list[str]:
    """What a reader should know about a pod's file: a torn last record (the recording was
    cut mid-write: the record is dropped, everything before it is kept) or no samples."""
    out = []
    f = path / f"{role}.imu"
    size = f.stat().st_size if f.exists() else 0
    torn = size % IMU_DTYPE.itemsize
    if torn:
        out.append(f"{f.name} truncated: a torn last record ({torn} of "
                   f"{IMU_DTYPE.itemsize} bytes) was dropped; the {n_records} records before "
                   f"it are intact")
    if n_records == 0:
        out.append(f"no samples: the {role} pod sent none (was its IMU producing data?)")
    return out


def read_meta(path: Path) -> dict:
    f = Path(path) / "recording.json"
    meta = read_json_object(f)
    if meta.get("format") != FORMAT:
        raise DataError(f"{f}: not a posturepod recording")
    if meta.get("version", 0) > VERSION:
        raise DataError(f"{f}: format version {meta['version']} is newer than this "
                        f"posturepod reads ({VERSION}); upgrade posturepod")
    return meta


def _calibrated(path: Path, role: str, info: dict, acc):
    """The pod's own accelerometer calibration (INFO ``acc_cal``) applied as it is read."""
    try:
        cal = apply_to_pod_info(info)
    except ValueError as e:
        raise DataError(f"{path / 'recording.json'}: pod {role}: {e}") from None
    return acc if cal is None else MappedColumn(acc, cal.apply)


def read_recording(path: str | Path) -> Recording:
    """Open a native recording. Samples stay in the files: each pod's columns are read on
    access (posturepod.recordings.columns), so opening and analysing a day in chunks does not hold
    it in memory. Pods with late or repeated samples are put in order in memory first."""
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
        acc = _calibrated(path, role, info, acc)
        pods[role] = PodData(role=role, time_s=tl.time_s, acc_m_s2=acc, gyr_rad_s=gyr,  # type: ignore[arg-type]
                             gaps=tl.gaps, info=info)
        pods[role].timeline = tl  # type: ignore[attr-defined]
        pods[role].warnings = _file_warnings(path, role, len(records))  # type: ignore
        pods[role].late_samples = late_n  # type: ignore[attr-defined]
    events = [Event(float(e["time_s"]), str(e["label"]))
              for e in read_jsonl(path / "events.jsonl") if "label" in e]
    meta["log"] = log
    return Recording(path=path, pods=pods, events=events, meta=meta)
