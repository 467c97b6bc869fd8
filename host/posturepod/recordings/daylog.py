"""The day-log recording (docs/recording.md, "Day-log recording"): what standalone pods
logged on their own, one record a second, as pulled by ``posturepod sync``.

A directory with ``recording.json`` (``"kind": "day-log"``: the pods' info, arming
settings, arms, every sync with its pings and counts) and ``<role>.log`` per pod: the
pods' 16-byte log records (firmware ``pod/daylog.py``, format ``wire.LOGREC_FMT``) verbatim,
CRC included, in sequence order, append-only. This module reads and appends them;
``daylog_clock.py`` maps the pods' clocks to wall time.
"""
from __future__ import annotations

import binascii
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from posturepod.firmware.pod import wire
from posturepod.recordings.data import ROLES, DataError, read_json_object

KIND = "day-log"
VERSION = 1
FORMAT = "posturepod-recording"

# the record as the pods store and send it (docs/protocol.md, "Standalone log")
LOGREC_FMT = wire.LOGREC_FMT
LOGREC_SIZE = wire.LOGREC_SIZE
ANGLE_NONE = wire.ANGLE_NONE
REC_DTYPE = np.dtype([("seq", "<u4"), ("dev_s", "<u2"), ("mean", "<i2"), ("min", "<i2"),
                      ("max", "<i2"), ("motion", "u1"), ("flags", "u1"), ("crc", "<u2")])
assert REC_DTYPE.itemsize == LOGREC_SIZE
F_BOOT, F_OVER, F_BUZZ, F_QUIET, F_NODATA, F_ARM = (
    wire.LOGREC_BOOT, wire.LOGREC_OVER, wire.LOGREC_BUZZ, wire.LOGREC_QUIET, wire.LOGREC_NODATA,
    wire.LOGREC_ARM)
FLAG_NAMES = ("boot", "over", "buzz", "quiet", "nodata", "arm")
SEQ_MASK = wire.SEQ_MASK


def record_ok(raw: bytes | memoryview) -> bool:
    """Whether one 16-byte record's CRC (CRC-16/CCITT-FALSE of the 14 bytes before it)
    matches."""
    b = bytes(raw)
    return len(b) == LOGREC_SIZE and binascii.crc_hqx(b[:-2], 0xFFFF) == (b[-2] | b[-1] << 8)


def make_record(seq: int, dev_s: int, mean_cdeg: int, min_cdeg: int, max_cdeg: int,
                motion: int = 0, flags: int = 0) -> bytes:
    """One record with its CRC (tests and tools; the pods write their own)."""
    import struct
    body = struct.pack(LOGREC_FMT[:-1], seq & SEQ_MASK, dev_s & 0xFFFF, mean_cdeg, min_cdeg,
                       max_cdeg, min(max(motion, 0), 255), flags)
    return body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


def check_records(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(records, ok mask) of a run of whole records."""
    n = len(raw) // LOGREC_SIZE
    recs = np.frombuffer(raw, dtype=REC_DTYPE, count=n)
    ok = np.fromiter((record_ok(raw[i * LOGREC_SIZE:(i + 1) * LOGREC_SIZE]) for i in range(n)),
                     bool, n)
    return recs, ok


@dataclass
class PodLog:
    """One pod's log as stored: records in sequence order (the damaged ones left out) and
    what the loader found. Angles in degrees (NaN where the pod had no value)."""
    role: str
    path: Path
    seq: np.ndarray                 # (N,) int64
    dev_s: np.ndarray               # (N,) int64, as logged (mod 65536)
    mean_deg: np.ndarray            # (N,) float64
    min_deg: np.ndarray
    max_deg: np.ndarray
    motion_deg_s: np.ndarray        # (N,) float64 (255 = at least 255)
    flags: np.ndarray               # (N,) uint8
    bad_crc: int = 0                # records in the file whose CRC does not match (skipped)
    torn_bytes: int = 0             # a torn tail in the file (killed mid-append): ignored
    meta: dict = field(default_factory=dict)    # recording.json's entry for this pod
    warnings: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def seq_gaps(self) -> list[tuple[int, int]]:
        """(first missing seq, count) of every hole in the stored sequence."""
        if len(self.seq) < 2:
            return []
        d = np.diff(self.seq)
        idx = np.flatnonzero(d > 1)
        return [(int(self.seq[i] + 1), int(d[i] - 1)) for i in idx]

    @property
    def next_seq(self) -> int:
        return int(self.seq[-1]) + 1 if len(self.seq) else 0


def _deg(a: np.ndarray) -> np.ndarray:
    out = a.astype(np.float64) / 100.0
    out[a == ANGLE_NONE] = np.nan
    return out


def read_pod_log(path: Path, role: str, meta: dict | None = None) -> PodLog:
    """Read ``<role>.log``: a record with a bad CRC is counted, named in the warnings and
    skipped; a torn tail is ignored; records out of sequence order are an error naming the
    file and record."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    torn = len(raw) % LOGREC_SIZE
    if torn:
        raw = raw[:len(raw) - torn]
    recs, ok = check_records(raw)
    warnings = []
    bad = int((~ok).sum())
    if bad:
        first = int(np.flatnonzero(~ok)[0])
        warnings.append(f"{path}: {bad} record(s) with a bad CRC skipped (first: record "
                        f"{first}, byte {first * LOGREC_SIZE})")
    if torn:
        warnings.append(f"{path}: torn last record ({torn} bytes) ignored")
    recs = recs[ok]
    seq = recs["seq"].astype(np.int64)
    if len(seq) > 1:
        d = np.diff(seq)
        if np.any(d <= 0):
            i = int(np.flatnonzero(d <= 0)[0]) + 1
            k = int(np.flatnonzero(ok)[i])
            raise DataError(f"{path}: record {k} (byte {k * LOGREC_SIZE}): sequence number "
                            f"{int(seq[i])} after {int(seq[i - 1])}; the log must be in "
                            f"sequence order (a damaged or hand-edited file)")
    return PodLog(role, Path(path), seq, recs["dev_s"].astype(np.int64), _deg(recs["mean"]),
                  _deg(recs["min"]), _deg(recs["max"]), recs["motion"].astype(np.float64),
                  recs["flags"].copy(), bad_crc=bad, torn_bytes=torn, meta=meta or {},
                  warnings=warnings)


@dataclass
class DayLog:
    path: Path
    meta: dict
    pods: dict[str, PodLog]

    @property
    def kind(self) -> str:
        return KIND


def is_daylog(path: str | Path) -> bool:
    p = Path(path) / "recording.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


def read_daylog(path: str | Path) -> DayLog:
    """Open a day-log recording. Errors name the file (and line, for bad JSON)."""
    path = Path(path)
    mf = path / "recording.json"
    meta = read_json_object(mf)
    if meta.get("kind") != KIND:
        raise DataError(f"{mf}: not a day-log recording (kind {meta.get('kind')!r})")
    if meta.get("version", VERSION) > VERSION:
        raise DataError(f"{mf}: day-log version {meta.get('version')} is newer than this "
                        f"posturepod reads ({VERSION}): upgrade posturepod")
    pods_meta = meta.get("pods")
    if not isinstance(pods_meta, dict):
        raise DataError(f"{mf}: no \"pods\" object")
    pods = {}
    for role, pm in pods_meta.items():
        if role not in ROLES:
            raise DataError(f"{mf}: unknown pod role {role!r} (expected one of "
                            f"{', '.join(ROLES)})")
        if not isinstance(pm, dict):
            raise DataError(f"{mf}: pods.{role} is not an object")
        lp = path / f"{role}.log"
        if not lp.exists():
            if pm.get("records", 0):
                raise DataError(f"{lp}: missing (recording.json says {pm['records']} "
                                f"records were synced)")
            lp.touch()
        pods[role] = read_pod_log(lp, role, pm)
    return DayLog(path, meta, pods)


# -- writing (posturepod sync) ------------------------------------------------------------

def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_meta(patient: str = "") -> dict:
    import platform
    from posturepod import __version__
    return {"format": FORMAT, "kind": KIND, "version": VERSION, "created_utc": utc_now(),
            "host": {"posturepod": __version__, "python": platform.python_version(),
                     "platform": platform.platform()},
            "protocol": "sitting", "patient": patient, "pods": {}}


def write_meta(path: Path, meta: dict) -> None:
    """recording.json, atomically (temp file, fsync, rename)."""
    mf = Path(path) / "recording.json"
    tmp = mf.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(mf)


def stored_tail(path: Path) -> tuple[int, int]:
    """(valid length in bytes, next seq) of a pod log file: a torn tail or trailing records
    with a bad CRC (a crash mid-append) are not counted, so a resumed sync rewrites them."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return 0, 0
    n = len(raw) // LOGREC_SIZE
    while n > 0 and not record_ok(raw[(n - 1) * LOGREC_SIZE:n * LOGREC_SIZE]):
        n -= 1
    if n == 0:
        return 0, 0
    last = np.frombuffer(raw, REC_DTYPE, 1, (n - 1) * LOGREC_SIZE)[0]
    return n * LOGREC_SIZE, int(last["seq"]) + 1


def append_records(path: Path, raw: bytes, valid: int) -> int:
    """Append verified records after the first ``valid`` bytes of the file (cutting a torn
    tail; :func:`stored_tail` gives it) and fsync: when this returns, they are on disk.
    Returns the new valid length."""
    with open(path, "r+b" if Path(path).exists() else "wb") as f:
        f.truncate(valid)
        f.seek(valid)
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    return valid + len(raw)
