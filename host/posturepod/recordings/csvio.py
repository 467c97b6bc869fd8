"""CSV interchange: a directory of ``pelvis.csv``, ``thorax.csv``, ``head.csv`` (any subset)
with header ``time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z[,mag_x,mag_y,mag_z]`` in SI units
(s, m/s^2, rad/s, uT), times on one clock shared by all files, and an optional
``events.csv`` with ``time_s,label``. See docs/recording.md.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from posturepod.recordings.columns import BLOCK, MARK_EVERY, Column
from posturepod.recordings.data import (ROLES, DataError, Event, PodData, Recording,
                                        read_json_object)

IMU_COLUMNS = ["time_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
MAG_COLUMNS = ["mag_x", "mag_y", "mag_z"]


def is_csv_dir(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / f"{r}.csv").exists() for r in ROLES)


STREAM_MIN_BYTES = 8 << 20    # pod files from this size are read on demand, not loaded
ROWS_PER_MARK = 4096          # rows between stored byte offsets of a streamed file
_SCAN_BYTES = 16 << 20


def _header(f, path: Path) -> tuple[list[str], list[str], bool]:
    first = f.readline()
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    if not first.strip():
        raise DataError(f"{path}:1: empty file, expected header {','.join(IMU_COLUMNS)}")
    header = [h.strip() for h in first.strip().split(",")]
    missing = [c for c in IMU_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} "
                        f"(header is {first.strip()!r})")
    has_mag = all(c in header for c in MAG_COLUMNS)
    return header, IMU_COLUMNS + (MAG_COLUMNS if has_mag else []), has_mag


def _parse(f, header: list[str], cols: list[str], nrows: int | None = None,
           chunksize: int | None = None):
    import pandas as pd
    return pd.read_csv(f, header=None, names=header, usecols=cols, dtype=np.float64,
                       engine="c", skip_blank_lines=True, nrows=nrows, chunksize=chunksize)


def _columns(df, cols: list[str]) -> np.ndarray:
    # column by column: no full-table copy
    out = np.empty((len(df), len(cols)))
    for k, c in enumerate(cols):
        out[:, k] = df[c].to_numpy()
    return out


def _check_times(path: Path, t: np.ndarray, row0: int, prev: float | None) -> None:
    tt = t if prev is None else np.concatenate([[prev], t])
    back = np.flatnonzero(np.diff(tt) <= 0)
    if back.size:
        i = int(back[0]) + (1 if prev is None else 0)       # index in t
        before = t[i - 1] if i > 0 else prev
        raise DataError(f"{path}:{row0 + i + 2}: time goes backwards or repeats "
                        f"({t[i]:.6f} s after {before:.6f} s)")


class CsvTable:
    """A pod CSV read on demand: byte offsets of every ``ROWS_PER_MARK``-th row and the
    times of every ``MARK_EVERY``-th (for searchsorted) are kept; rows are parsed when a
    slice is asked for (the last slice is cached, so the columns of one slice parse once)."""

    def __init__(self, path: Path, header: list[str], cols: list[str], offsets: np.ndarray,
                 n: int, marks: np.ndarray):
        self.path, self.header, self.cols = path, header, cols
        self.offsets, self.n, self.marks = offsets, n, marks
        self._last: tuple[int, int, np.ndarray] | None = None

    def read(self, i0: int, i1: int) -> np.ndarray:
        if self._last is not None and self._last[0] <= i0 and i1 <= self._last[1]:
            lo = self._last[0]
            return self._last[2][i0 - lo:i1 - lo]
        if i1 <= i0:
            return np.zeros((0, len(self.cols)))
        k = i0 // ROWS_PER_MARK
        with self.path.open("rb") as f:
            f.seek(int(self.offsets[k]))
            arr = _columns(_parse(f, self.header, self.cols, nrows=i1 - k * ROWS_PER_MARK),
                           self.cols)
        arr = arr[i0 - k * ROWS_PER_MARK:]
        if len(arr) != i1 - i0:
            raise DataError(f"{self.path}: file changed while reading")
        self._last = (i0, i1, arr)
        return arr

    def column(self, first: int, width: int | None = None) -> CsvColumn:
        return CsvColumn(self, first, width)


class CsvColumn(Column):
    def __init__(self, table: CsvTable, first: int, width: int | None):
        super().__init__(table.n, () if width is None else (width,))
        self._t, self._k, self._w = table, first, width
        if width is None:
            self._marks = table.marks

    def _read(self, i0: int, i1: int) -> np.ndarray:
        a = self._t.read(i0, i1)          # (a copy: callers may change what they get)
        return a[:, self._k].copy() if self._w is None else \
            np.ascontiguousarray(a[:, self._k:self._k + self._w])


def _scan_rows(path: Path, start: int) -> tuple[np.ndarray, int] | None:
    """Byte offsets of every ROWS_PER_MARK-th data row (rows begin at ``start``) and the row
    count; None when a line is blank (the in-memory reader then handles the file)."""
    size = path.stat().st_size
    offsets, seen, last_nl = [np.array([start], dtype=np.int64)], 0, start - 1
    with path.open("rb") as f:
        f.seek(start)
        base = start
        while True:
            buf = f.read(_SCAN_BYTES)
            if not buf:
                break
            nl = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10) + base
            if len(nl):
                gaps = np.diff(np.concatenate([[last_nl], nl]))
                if np.any(gaps <= 2):           # an empty line (or a lone "\r")
                    return None
                m = seen + 1 + np.arange(len(nl))         # the row each newline starts
                offsets.append(nl[m % ROWS_PER_MARK == 0] + 1)
                seen += len(nl)
                last_nl = int(nl[-1])
            base += len(buf)
    n = seen if last_nl == size - 1 else seen + 1        # last row without a newline
    off = np.concatenate(offsets)
    return off[off < size], n


def _stream_pod_csv(path: Path, role: str) -> PodData | None:
    """A large pod CSV as on-demand columns, validated in one chunked pass; None when it
    has a problem (the in-memory reader then names the line)."""
    import pandas as pd
    with path.open("rb") as f:
        header, cols, has_mag = _header(f, path)
        start = f.tell()
    scan = _scan_rows(path, start)
    if scan is None:
        return None
    offsets, n = scan
    marks, rows, prev = [], 0, None
    try:
        with path.open("rb") as f:
            f.seek(start)
            for df in _parse(f, header, cols, chunksize=BLOCK):
                t = df["time_s"].to_numpy()
                if not np.isfinite(df.to_numpy()).all():
                    return None
                _check_times(path, t, rows, prev)
                marks.append(t[(-rows) % MARK_EVERY::MARK_EVERY].copy())   # not a view
                rows += len(t)
                prev = float(t[-1]) if len(t) else prev
    except (ValueError, pd.errors.ParserError):
        return None
    if rows != n:
        return None
    table = CsvTable(path, header, cols, offsets, n, np.concatenate(marks))
    return PodData(role=role, time_s=table.column(0), acc_m_s2=table.column(1, 3),  # type: ignore[arg-type]
                   gyr_rad_s=table.column(4, 3),  # type: ignore[arg-type]
                   mag_ut=table.column(7, 3) if has_mag else None)  # type: ignore[arg-type]


def read_pod_csv(path: Path, role: str | None = None) -> PodData:
    """Read one pod CSV. Errors name the file and line: missing column, non-numeric cell,
    time going backwards, wrong number of cells. Parsed by pandas' C parser; files from
    ``STREAM_MIN_BYTES`` on (an 8-hour day at 50 Hz is 1.4 million rows, 80 MB per pod)
    are validated in one chunked pass and then read on demand, slice by slice, so a day is
    never held in memory. The line-by-line parser only runs to name the line of a problem."""
    path = Path(path)
    role = role or path.stem
    try:
        size = path.stat().st_size
        f = path.open("r", newline="")
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from e
    if size >= STREAM_MIN_BYTES:
        f.close()
        pod = _stream_pod_csv(path, role)
        if pod is not None:
            return pod
        f = path.open("r", newline="")
    with f:
        header, cols, has_mag = _header(f, path)
        idx = [header.index(c) for c in cols]
        try:
            import pandas as pd
            arr = _columns(_parse(f, header, cols), cols)
            if not np.isfinite(arr).all():
                arr = None                  # a short row or a bad cell: say which
        except (ValueError, pd.errors.ParserError):
            arr = None
    if arr is None:
        with path.open() as f2:
            body = f2.read().splitlines()[1:]
        arr = _slow_parse(path, body, len(header), idx)
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise DataError(f"{path}:{bad + 2}: non-finite value")
    t = np.ascontiguousarray(arr[:, 0])
    _check_times(path, t, 0, None)
    return PodData(role=role, time_s=t, acc_m_s2=np.ascontiguousarray(arr[:, 1:4]),
                   gyr_rad_s=np.ascontiguousarray(arr[:, 4:7]),
                   mag_ut=np.ascontiguousarray(arr[:, 7:10]) if has_mag else None)


def _slow_parse(path, body, ncols, idx):
    rows = []
    for n, ln in enumerate(body, start=2):
        if not ln.strip():
            continue
        cells = ln.split(",")
        if len(cells) != ncols:
            raise DataError(f"{path}:{n}: expected {ncols} cells, found {len(cells)}")
        row = []
        for i in idx:
            try:
                row.append(float(cells[i]))
            except ValueError:
                raise DataError(f"{path}:{n}: non-numeric cell {cells[i]!r} "
                                f"in column {i + 1}") from None
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(-1, len(idx))


def _not_text(path: Path) -> DataError:
    """The error for a file that is not UTF-8 text: names the file, line and byte."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return DataError(f"{path}:{line}: not text (byte 0x{raw[e.start]:02x} at offset "
                         f"{e.start}): the file is damaged")
    return DataError(f"{path}: not text: the file is damaged")


def read_events_csv(path: Path) -> list[Event]:
    path = Path(path)
    out = []
    with path.open(newline="") as f:
        rd = csv.reader(f)
        header = next(rd, None)
        if header is None or [h.strip() for h in header[:2]] != ["time_s", "label"]:
            raise DataError(f"{path}:1: expected header time_s,label")
        for n, row in enumerate(rd, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise DataError(f"{path}:{n}: expected time_s,label")
            try:
                t = float(row[0])
            except ValueError:
                raise DataError(f"{path}:{n}: non-numeric time {row[0]!r}") from None
            out.append(Event(t, row[1].strip()))
    return out


def read_csv_dir(path: Path) -> Recording:
    path = Path(path)
    pods = {}
    for r in ROLES:
        f = path / f"{r}.csv"
        if f.exists():
            try:
                pods[r] = read_pod_csv(f, r)
            except UnicodeDecodeError:
                raise _not_text(f) from None
    if not pods:
        raise DataError(f"{path}: no pelvis.csv, thorax.csv or head.csv")
    try:
        events = read_events_csv(path / "events.csv") if (path / "events.csv").exists() else []
    except UnicodeDecodeError:
        raise _not_text(path / "events.csv") from None
    meta = {}
    if (path / "meta.json").exists():
        meta = read_json_object(path / "meta.json", hint="; fix or remove it (the samples "
                                "are in the CSV files)")
    return Recording(path=path, pods=pods, events=events, meta=meta)


def write_pod_csv(path: Path, pod: PodData) -> None:
    """Write one pod as CSV, a block of rows at a time (a day is never held whole)."""
    cols = IMU_COLUMNS + (MAG_COLUMNS if pod.mag_ut is not None else [])
    fmt = ["%.6f"] + ["%.6g"] * (len(cols) - 1)
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for i0 in range(0, len(pod), BLOCK):
            sl = slice(i0, i0 + BLOCK)
            parts = [np.asarray(pod.time_s[sl])[:, None], pod.acc_m_s2[sl], pod.gyr_rad_s[sl]]
            if pod.mag_ut is not None:
                parts.append(pod.mag_ut[sl])
            np.savetxt(f, np.hstack(parts), delimiter=",", fmt=fmt)


def write_csv_dir(path: Path, rec: Recording) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for role, pod in rec.pods.items():
        write_pod_csv(path / f"{role}.csv", pod)
    if rec.events:
        with (path / "events.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["time_s", "label"])
            for e in rec.events:
                w.writerow([f"{e.time_s:.6f}", e.label])
    if rec.meta:
        (path / "meta.json").write_text(json.dumps(rec.meta, indent=2, default=str))
