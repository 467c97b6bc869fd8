"""Open any recording an analysis accepts: a native recording directory (recording.json,
see docs/recording.md) or a CSV interchange directory."""
from __future__ import annotations

from pathlib import Path

from posturepod.recordings.data import DataError, Recording


def load(path: str | Path) -> Recording:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such recording")
    if (path / "recording.json").exists():
        from posturepod.recordings.daylog import is_daylog
        if is_daylog(path):
            raise DataError(f"{path}: a day-log recording (per-second angles logged by "
                            f"standalone pods, no raw samples): posturepod info, sitting and "
                            f"export read it; this command needs a streamed recording")
        from posturepod.recordings.reader import read_recording
        return read_recording(path)
    from posturepod.recordings.csvio import is_csv_dir, read_csv_dir
    if is_csv_dir(path):
        return read_csv_dir(path)
    raise DataError(f"{path}: neither a native recording (recording.json) nor a CSV "
                    f"interchange directory (pelvis.csv, thorax.csv, head.csv)")
