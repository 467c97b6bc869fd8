"""Acquisition session: connect N pods by role, start them together, decode, keep per-pod
statistics, follow each pod's clock, record, survive unplugging and resets.

Threads: each pod's PodLink has a reader thread (decodes, hands samples here); each pod
also gets a control thread that pings once a second (clock alignment) and restarts the
stream after a reconnection or a reboot. Nothing here knows which transport is in use.

Segments: a pod's data are split into segments, one per boot or reconnection. A new
segment starts with its first sample; ``log.jsonl`` records where (record index) and the
device time of that sample, so the loader can unwrap and align each one separately. The
time between segments is a gap in the recording, never papered over.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from posturepod.firmware.pod import wire
from posturepod.pods.podlink import PodError, PodLink, PodMissing
from posturepod.pods.protocol import Message, Samples, Status
from posturepod.recordings.format import SYNC_ARRIVAL, SYNC_PING
from posturepod.recordings.timeline import far_rate_ok
from posturepod.recordings.writer import RecordingError, RecordingWriter

SEQ_HALF = wire.SEQ_MODULO >> 1
U32 = 1 << 32


SILENT_S = 2.0      # a streaming pod whose data stops this long is shown as silent

@dataclass
class PodStats:
    role: str
    spec: str
    state: str = "connecting"
    samples: int = 0
    seq_gaps: int = 0
    lost_samples: int = 0
    link_drops: int = 0
    reboots: int = 0
    segments: int = 0
    rate_hz: float = 0.0
    fifo_overflows: int = 0
    late_samples: int = 0
    silent_s: float | None = None     # seconds since data last came (None: none yet)
    last_error: str = ""
    logs: list = field(default_factory=list)


class LiveClock:
    """Running host<-device clock map from recent pings (for live feedback; the recording
    is aligned again offline with all pings of a segment)."""

    def __init__(self, keep: int = 30):
        self.pings: deque = deque(maxlen=keep)

    def add(self, host_s: float, dev_us: int, rtt_s: float) -> None:
        self.pings.append((host_s, dev_us, rtt_s))

    def reset(self) -> None:
        self.pings.clear()

    def host_s(self, dev_us):
        if not self.pings:
            return None
        p = np.array(self.pings, dtype=np.float64)
        keep = p[:, 2] <= np.median(p[:, 2])
        p = p[keep] if keep.sum() >= 1 else p
        b = 1e-6
        if len(p) >= 5 and np.ptp(p[:, 1]) > 5e6:
            b, a0 = np.polyfit(p[:, 1] - p[0, 1], p[:, 0], 1)
            res = p[:, 0] - (a0 + b * (p[:, 1] - p[0, 1]))
            if abs(b * 1e6 - 1) > 2e-3 and not far_rate_ok(
                    b * 1e6, len(p), float(np.std(res)), float(np.ptp(p[:, 0]))):
                b = 1e-6
            b = float(b)
        a = float(np.median(p[:, 0] - b * (p[:, 1] - p[0, 1])))
        return a + b * (np.asarray(dev_us, dtype=np.float64) - p[0, 1])


class PodSession:
    """One pod inside a session."""

    def __init__(self, session: Session, role: str, spec: str):
        self.session = session
        self.role = role
        self.spec = spec
        self.stats = PodStats(role, spec)
        self.link = PodLink(spec, name=f"{role} ({spec})", on_message=self._on_message,
                            on_state=self._on_state)
        self.clock = LiveClock()
        self.seg = -1
        self._seg_open = False
        self._last_seq: int | None = None
        self._last_dev: int | None = None     # u64 device time of the latest sample/pong
        self._boot_id = None
        self._need_restart = False
        self._arrival_best = None
        self._arrival_sec = -1
        self._rate_win: deque = deque(maxlen=64)
        self.lock = threading.Lock()
        self._ctl: threading.Thread | None = None

    # -- reader-thread callbacks -----------------------------------------------------
    def _on_state(self, link, state: str, why: str) -> None:
        s = self.stats
        if state == "lost":
            s.state = "lost"
            s.link_drops += 1
            s.last_error = why
            self._close_segment("link lost: " + why)
        elif state == "reopened":
            s.state = "reconnecting"
            self._need_restart = True
        elif state == "open":
            s.state = "open"
        self.session._log("link", role=self.role, state=state, why=why)

    def _close_segment(self, why: str) -> None:
        if self._seg_open:
            self._seg_open = False
            self.session._log("segment_end", role=self.role, seg=self.seg, why=why)
        self._last_seq = None
        self.clock.reset()

    def _on_message(self, link, m: Message, t: float) -> None:
        b = m.body
        if isinstance(b, Samples):
            self._on_samples(b, t)
        elif isinstance(b, Status):
            self.stats.fifo_overflows = b.fifo_overflows
        elif m.name == "info":
            bid = b.get("boot_id")
            if self._boot_id is not None and bid != self._boot_id:
                self.stats.reboots += 1
                self.session._log("reboot", role=self.role, boot_id=bid)
                self._close_segment("pod rebooted")
                self._need_restart = True
            self._boot_id = bid
            rec = self.session.recorder
            if rec and not rec.closed:
                rec.update_pod_info(self.role, b)
        elif m.name == "log":
            self.stats.logs.append(b)
            self.session._log("pod_log", role=self.role, **b)

    def _on_samples(self, b: Samples, t_arrival: float) -> None:
        n = b.n
        if n == 0 or not self.session.streaming:
            return
        if b.flags & wire.FLAG_BACKLOG:
            self._on_backlog(b, t_arrival)
            return
        with self.lock:
            if self._last_seq is None:
                seq0 = b.seq0
            else:
                d = (b.seq0 - self._last_seq - 1 + SEQ_HALF) % wire.SEQ_MODULO - SEQ_HALF
                if d > 0:
                    self.stats.seq_gaps += 1
                    self.stats.lost_samples += d
                elif d < 0 and not (b.flags & wire.FLAG_BACKLOG):
                    # the pod's counter went back without a reboot notice: new segment
                    self._close_segment("sequence restarted")
                seq0 = self._last_seq + 1 + d if self._last_seq is not None else b.seq0
            seq = seq0 + np.arange(n, dtype=np.int64)
            t_u32 = b.t_us
            ref = self._last_dev
            if ref is None:
                dev0 = int(t_u32[0])
            else:
                dev0 = ref + (int(t_u32[0]) - ref + (U32 >> 1)) % U32 - (U32 >> 1)
            rec = self.session.recorder
            if not self._seg_open:
                self.seg += 1
                self._seg_open = True
                self.stats.segments += 1
                if rec:
                    rec.log("segment", role=self.role, seg=self.seg,
                            first=rec.records(self.role), t0_dev_us=dev0,
                            boot_id=self._boot_id, host_s=rec.time_s(t_arrival))
            dev_last = dev0 + int(np.int64(t_u32[-1]) - np.int64(t_u32[0])) % U32
            self._last_dev = dev_last
            self._last_seq = int(seq[-1])
            self.stats.samples += n
            self._rate_win.append((t_arrival, n))
            if rec:
                try:
                    rec.samples(self.role, seq % U32, t_u32, b.counts)
                    sec = int(t_arrival)
                    lat = t_arrival - dev_last * 1e-6
                    if sec != self._arrival_sec:
                        if self._arrival_best is not None:
                            rec.sync(self.role, self.seg, SYNC_ARRIVAL, *self._arrival_best)
                        self._arrival_sec = sec
                        self._arrival_best = None
                    if self._arrival_best is None or lat < self._arrival_best[0] - \
                            self._arrival_best[1] * 1e-6:
                        self._arrival_best = (t_arrival, dev_last)
                except RecordingError as e:
                    self.session._recording_failed(e)
        cb = self.session.on_samples
        if cb is not None:
            cb(self, b, dev0, t_arrival)

    def _on_backlog(self, b: Samples, t_arrival: float) -> None:
        """Samples the pod stored while the link was down (BLE store and forward), sent late
        with their original sequence numbers and times: recorded (the loader puts them in
        order and marks them late), and taken off the live loss count."""
        with self.lock:
            if self._last_seq is None or self._last_dev is None or not self._seg_open:
                return
            last = self._last_seq
            d = (b.seq0 - last + SEQ_HALF) % wire.SEQ_MODULO - SEQ_HALF
            seq = last + d + np.arange(b.n, dtype=np.int64)
            t_u32 = b.t_us
            self.stats.late_samples += b.n
            self.stats.lost_samples = max(0, self.stats.lost_samples - b.n)
            rec = self.session.recorder
            if rec:
                try:
                    rec.samples(self.role, seq % U32, t_u32, b.counts)
                except RecordingError as e:
                    self.session._recording_failed(e)

    # -- control thread --------------------------------------------------------------
    def ping_once(self) -> None:
        p = self.link.ping()
        with self.lock:
            if self._last_dev is None or not self._seg_open:
                self._last_dev = p.dev_us
            self.clock.add(p.t_mid, p.dev_us, p.rtt_s)
            rec = self.session.recorder
            if rec and self.seg >= 0 and self._seg_open:
                try:
                    rec.sync(self.role, self.seg, SYNC_PING, p.t_mid, p.dev_us, p.rtt_s)
                except RecordingError as e:
                    self.session._recording_failed(e)

    def restart(self) -> None:
        info = self.link.request("info", timeout_s=1.0).body
        self._boot_id = info.get("boot_id")
        self._last_dev = None
        self.ping_once()
        if self.session.streaming:
            self.link.start()
        self.stats.state = "streaming" if self.session.streaming else "open"

    def control_loop(self) -> None:
        last_ping = 0.0
        while not self.session._stopping:
            time.sleep(0.05)
            if self.link.state in ("lost", "closed"):
                continue
            try:
                if self._need_restart:
                    self._need_restart = False
                    self.restart()
                now = time.monotonic()
                if now - last_ping >= self.session.ping_every_s:
                    last_ping = now
                    self.ping_once()
            except PodError as e:
                self.stats.last_error = str(e)

    def silent_s(self, now: float | None = None) -> float | None:
        """Seconds since the last samples arrived, None before the first."""
        w = self._rate_win
        if not w:
            return None
        return max((time.monotonic() if now is None else now) - w[-1][0], 0.0)

    def rate_now(self) -> float:
        w = list(self._rate_win)
        if len(w) < 2:
            return 0.0
        quiet = self.silent_s()
        if quiet is not None and quiet > SILENT_S:
            return 0.0          # not a stale rate for a pod that has stopped sending
        dt = w[-1][0] - w[0][0]
        return sum(n for _, n in w[1:]) / dt if dt > 0 else 0.0


class Session:
    def __init__(self, pods: dict[str, str], recorder: RecordingWriter | None = None, *,
                 rate_hz: int | None = None, ping_every_s: float = 1.0, on_samples=None,
                 set_roles: bool = True):
        self.pods = {role: PodSession(self, role, spec) for role, spec in pods.items()}
        self.recorder = recorder
        self.rate_hz = rate_hz
        self.ping_every_s = ping_every_s
        self.on_samples = on_samples
        self.set_roles = set_roles
        self.streaming = False
        self._stopping = False
        self.error: str | None = None
        self.warnings: list[str] = []

    def _log(self, kind: str, **fields) -> None:
        r = self.recorder
        if r is not None and not r.closed:
            try:
                r.log(kind, **fields)
            except RecordingError as e:
                self._recording_failed(e)

    def _recording_failed(self, e: Exception) -> None:
        if self.error is None:
            self.error = str(e)

    def connect(self, timeout_s: float = 8.0) -> None:
        errors: dict[str, PodError] = {}

        def one(ps: PodSession):
            try:
                info = ps.link.open(timeout_s)
                ps._boot_id = info.get("boot_id")
                if info.get("imu") is None:
                    raise PodError(f"{ps.role} ({ps.spec}): pod reports no IMU: "
                                   f"{info.get('imu_error')}")
                if self.set_roles and info.get("role") != ps.role:
                    self.warnings.append(f"{ps.spec}: pod was set up as "
                                         f"{info.get('role')!r}, now {ps.role!r}")
                    info = ps.link.set_role(ps.role).get("info", info)
                if self.rate_hz and info.get("rate_hz") != self.rate_hz:
                    info = ps.link.set_rate(self.rate_hz).get("info", info)
                ps.link.info = info
                ps.ping_once()
                ps.stats.state = "open"
            except PodError as e:
                errors[ps.role] = e

        ts = [threading.Thread(target=one, args=(ps,)) for ps in self.pods.values()]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            for ps in self.pods.values():
                ps.link.close()
            msg = "; ".join(str(errors[r]) for r in sorted(errors))
            if any(isinstance(e, PodMissing) for e in errors.values()):
                from posturepod.pods.transport.serial import ports_seen
                raise PodMissing(f"{msg}; {ports_seen()}")
            raise PodError(msg)
        if self.recorder:
            for ps in self.pods.values():
                self.recorder.add_pod(ps.role, ps.link.info, ps.spec)

    def start(self) -> None:
        self._stopping = False
        self.streaming = True
        for ps in self.pods.values():
            ps.link.start()
            ps.stats.state = "streaming"
        for ps in self.pods.values():
            ps._ctl = threading.Thread(target=ps.control_loop, name=f"ctl-{ps.role}",
                                       daemon=True)
            ps._ctl.start()
        self._log("start", pods={r: ps.spec for r, ps in self.pods.items()})

    def mark(self, label: str, **fields):
        if self.recorder is None:
            return None
        return self.recorder.event(label, **fields)

    def stats(self) -> dict[str, PodStats]:
        for ps in self.pods.values():
            st = ps.stats
            d = ps.link.decoder.stats
            st.rate_hz = ps.rate_now()
            st.silent_s = ps.silent_s()
            st.crc_errors = d.crc_errors  # type: ignore[attr-defined]
            st.resyncs = d.resyncs  # type: ignore[attr-defined]
            st.bad_frames = d.bad_frames  # type: ignore[attr-defined]
        return {r: ps.stats for r, ps in self.pods.items()}

    def stop(self) -> None:
        self._stopping = True
        for ps in self.pods.values():
            if ps._ctl:
                ps._ctl.join(2)
        for ps in self.pods.values():
            try:
                if ps.link.state not in ("lost", "closed"):
                    ps.link.stop()
            except PodError:
                pass
        time.sleep(0.1)
        self.streaming = False
        stats = self.stats()
        self._log("stop", stats={r: {k: v for k, v in vars(s).items() if k != "logs"}
                                 for r, s in stats.items()})
        for ps in self.pods.values():
            ps.link.close()
        if self.recorder:
            self.recorder.close(reason=self.error or "stopped")
