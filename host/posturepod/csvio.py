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

from .data import ROLES, DataError, Event, PodData, Recording

IMU_COLUMNS = ["time_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
MAG_COLUMNS = ["mag_x", "mag_y", "mag_z"]


def is_csv_dir(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / f"{r}.csv").exists() for r in ROLES)


def read_pod_csv(path: Path, role: str | None = None) -> PodData:
    """Read one pod CSV. Errors name the file and line: missing column, non-numeric cell,
    time going backwards, wrong number of cells. Parsed by numpy's C reader straight from
    the file by pandas' C parser (an 8-hour day at 50 Hz is 1.4 million rows per pod);
    the line-by-line parser only runs to name the line of a problem."""
    path = Path(path)
    role = role or path.stem
    try:
        f = path.open("r", newline="")
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from e
    with f:
        first = f.readline()
        if not first.strip():
            raise DataError(f"{path}:1: empty file, expected header {','.join(IMU_COLUMNS)}")
        header = [h.strip() for h in first.strip().split(",")]
        missing = [c for c in IMU_COLUMNS if c not in header]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} "
                            f"(header is {first.strip()!r})")
        has_mag = all(c in header for c in MAG_COLUMNS)
        cols = IMU_COLUMNS + (MAG_COLUMNS if has_mag else [])
        idx = [header.index(c) for c in cols]
        try:
            import pandas as pd
            df = pd.read_csv(f, header=None, names=header, usecols=cols, dtype=np.float64,
                             engine="c", skip_blank_lines=True)
            # column by column: no full-table copy (an 8-hour day is 80 MB a pod)
            t = np.ascontiguousarray(df["time_s"].to_numpy())
            acc = np.column_stack([df[c].to_numpy() for c in IMU_COLUMNS[1:4]])
            gyr = np.column_stack([df[c].to_numpy() for c in IMU_COLUMNS[4:7]])
            mag = np.column_stack([df[c].to_numpy() for c in MAG_COLUMNS]) if has_mag \
                else None
            del df
            ok = np.isfinite(t).all() and np.isfinite(acc).all() and np.isfinite(gyr).all() \
                and (mag is None or np.isfinite(mag).all())
            arr = None if not ok else True      # a short row or a bad cell: say which
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
        acc, gyr = arr[:, 1:4].copy(), arr[:, 4:7].copy()
        mag = arr[:, 7:10].copy() if has_mag else None
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(f"{path}:{i + 2}: time goes backwards or repeats "
                        f"({t[i]:.6f} s after {t[i - 1]:.6f} s)")
    return PodData(role=role, time_s=t, acc_m_s2=acc, gyr_rad_s=gyr, mag_ut=mag)


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
            pods[r] = read_pod_csv(f, r)
    if not pods:
        raise DataError(f"{path}: no pelvis.csv, thorax.csv or head.csv")
    events = read_events_csv(path / "events.csv") if (path / "events.csv").exists() else []
    meta = {}
    if (path / "meta.json").exists():
        meta = json.loads((path / "meta.json").read_text())
    return Recording(path=path, pods=pods, events=events, meta=meta)


def write_pod_csv(path: Path, pod: PodData) -> None:
    cols = IMU_COLUMNS + (MAG_COLUMNS if pod.mag_ut is not None else [])
    parts = [pod.time_s[:, None], pod.acc_m_s2, pod.gyr_rad_s]
    if pod.mag_ut is not None:
        parts.append(pod.mag_ut)
    arr = np.hstack(parts)
    fmt = ["%.6f"] + ["%.6g"] * (arr.shape[1] - 1)
    np.savetxt(path, arr, delimiter=",", header=",".join(cols), comments="", fmt=fmt)


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
