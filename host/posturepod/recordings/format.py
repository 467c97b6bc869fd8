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

import numpy as np

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
