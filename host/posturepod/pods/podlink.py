"""One pod seen from the host: a transport, a stream decoder, numbered command requests
with their replies, and a reader thread that hands every other message (samples, status,
logs, unsolicited info) to a callback together with its host arrival time.

Requests are matched to replies by id; a request that gets no reply in time raises
PodError naming the pod. ``auto_reconnect`` reopens a lost link every ``retry_s``."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from posturepod.firmware.pod import wire
from posturepod.pods.protocol import Message, Pong, StreamDecoder
from posturepod.pods.transport import open_transport
from posturepod.pods.transport.base import LinkLost, PortMissing, Transport, TransportError


def protocol_mismatch(info: dict) -> str:
    """Why the host cannot talk to a pod whose INFO says ``proto`` (docs/protocol.md,
    "Versioning"): its major version is newer than the wire protocol this host knows.
    Empty when they agree (or the pod does not say)."""
    proto = info.get("proto") if isinstance(info, dict) else None
    if proto is None:
        return ""
    try:
        major = int(str(proto).split(".")[0])
    except ValueError:
        return f"the pod reports an unreadable protocol version {proto!r}"
    if major > wire.PROTOCOL_VERSION:
        return (f"the pod speaks wire protocol {proto}, newer than this posturepod's "
                f"({wire.PROTOCOL_VERSION}): upgrade posturepod, or flash the pod with this "
                f"posturepod's firmware (posturepod flash)")
    return ""


class PodError(Exception):
    pass


class PodMissing(PodError):
    """The pod's port does not exist (nothing plugged in, or a mistyped name)."""


@dataclass
class PingResult:
    t_send: float          # host monotonic seconds when the request left
    t_recv: float          # ... when the reply arrived
    dev_us: int            # device time the pod stamped, us since its boot

    @property
    def rtt_s(self) -> float:
        return self.t_recv - self.t_send

    @property
    def t_mid(self) -> float:
        return 0.5 * (self.t_send + self.t_recv)


# the INFO handshake's own time once the transport is up, whatever opening it took: a BLE
# pod advertising every 2 s (standalone radio "slow") is found within one interval and
# connected at its next advertising event, so its transport alone may take 4.4 s of open()'s
# 5 s (docs/ble.md, "Host side")
INFO_MIN_S = 2.0


class PodLink:
    def __init__(self, transport: Transport | str, *, name: str = "",
                 on_message: Callable[[PodLink, Message, float], None] | None = None,
                 on_state: Callable[[PodLink, str, str], None] | None = None,
                 auto_reconnect: bool = True, retry_s: float = 0.5):
        self.transport = open_transport(transport) if isinstance(transport, str) else transport
        self.name = name or self.transport.spec
        self.on_message = on_message
        self.on_state = on_state
        self.auto_reconnect = auto_reconnect
        self.retry_s = retry_s
        self.decoder = StreamDecoder()
        self.state = "closed"
        self.info: dict = {}
        self.link_drops = 0
        self._ids = itertools.count(1)
        self._waiters: dict[int, list] = {}
        self._lock = threading.Lock()
        self._wlock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------
    def open(self, timeout_s: float = 5.0) -> dict:
        """Open the link, start the reader, fetch the pod's info. Raises PodError.
        ``timeout_s`` bounds the attempts to open the transport; asking for the info then
        has until that deadline, and at least INFO_MIN_S."""
        self._closing = False
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.transport.open()
                break
            except PortMissing as e:      # no point waiting for a name that is not there
                raise PodMissing(str(e)) from None
            except TransportError as e:
                if time.monotonic() > deadline:
                    raise PodError(str(e)) from None
                time.sleep(0.2)
        self._set_state("open", "")
        self._thread = threading.Thread(target=self._reader, name=f"pod-{self.name}",
                                        daemon=True)
        self._thread.start()
        deadline = max(deadline, time.monotonic() + INFO_MIN_S)
        last = None
        while time.monotonic() < deadline:
            try:
                self.info = self.request("info", timeout_s=0.5).body  # type: ignore[assignment]
                break
            except PodError as e:
                last = e
        else:
            raise PodError(f"{self.name}: no info reply from the pod "
                           f"(is the posturepod firmware running?): {last}")
        why = protocol_mismatch(self.info)
        if why:
            self.close()
            raise PodError(f"{self.name}: {why}")
        return self.info

    def close(self) -> None:
        self._closing = True
        self.transport.close()
        if self._thread:
            self._thread.join(2)
        self._set_state("closed", "")

    def _set_state(self, state: str, why: str) -> None:
        self.state = state
        if self.on_state:
            self.on_state(self, state, why)

    # -- reader ---------------------------------------------------------------------
    def _reader(self) -> None:
        while not self._closing:
            try:
                data = self.transport.read(0.05)
            except LinkLost as e:
                if self._closing:
                    return
                self.link_drops += 1
                self._set_state("lost", str(e))
                self._fail_waiters(str(e))
                self.transport.close()
                if not self.auto_reconnect:
                    return
                self._reconnect()
                continue
            if not data:
                continue
            t = time.monotonic()
            for m in self.decoder.feed(data):
                self._dispatch(m, t)

    def _reconnect(self) -> None:
        while not self._closing:
            time.sleep(self.retry_s)
            try:
                self.transport.open()
            except TransportError:
                continue
            self.decoder.drop_partial()
            self._set_state("reopened", "")
            return

    def _dispatch(self, m: Message, t: float) -> None:
        rid = None
        if isinstance(m.body, dict) and m.type in (wire.MSG_REPLY, wire.MSG_INFO):
            rid = m.body.get("id")
        elif isinstance(m.body, Pong):
            rid = m.body.req_id
        if rid:
            with self._lock:
                w = self._waiters.pop(rid, None)
            if w is not None:
                w[1] = (m, t)
                w[0].set()
                return
        if m.type == wire.MSG_INFO and isinstance(m.body, dict):
            self.info = m.body
        if self.on_message:
            self.on_message(self, m, t)

    def _fail_waiters(self, why: str) -> None:
        with self._lock:
            ws = list(self._waiters.values())
            self._waiters.clear()
        for w in ws:
            w[1] = why
            w[0].set()

    # -- requests -------------------------------------------------------------------
    def send(self, op: str, **args) -> tuple[int, float]:
        rid = next(self._ids) & 0xFFFF or next(self._ids)
        line = wire.encode_command(op, rid, args)
        with self._wlock:
            t = time.monotonic()
            self.transport.write(line)
        return rid, t

    def request(self, op: str, timeout_s: float = 1.0, **args) -> Message:
        ev = threading.Event()
        w: list = [ev, None]
        rid = next(self._ids) & 0xFFFF or next(self._ids)
        with self._lock:
            self._waiters[rid] = w
        line = wire.encode_command(op, rid, args)
        try:
            with self._wlock:
                w.append(time.monotonic())
                self.transport.write(line)
        except LinkLost as e:
            with self._lock:
                self._waiters.pop(rid, None)
            raise PodError(f"{self.name}: {op}: {e}") from None
        if not ev.wait(timeout_s):
            with self._lock:
                self._waiters.pop(rid, None)
            raise PodError(f"{self.name}: no reply to {op} within {timeout_s:.1f} s")
        if isinstance(w[1], str):
            raise PodError(f"{self.name}: {op}: {w[1]}")
        m, t_recv = w[1]
        if isinstance(m.body, dict) and m.body.get("ok") is False:
            raise PodError(f"{self.name}: {op} refused: {m.body.get('error')}")
        m.t_send = w[2]  # type: ignore[attr-defined]
        m.t_recv = t_recv  # type: ignore[attr-defined]
        return m

    def ping(self, timeout_s: float = 0.5) -> PingResult:
        m = self.request("ping", timeout_s)
        return PingResult(m.t_send, m.t_recv, m.body.t_dev_us)  # type: ignore[attr-defined]

    def start(self) -> dict:
        return self.request("start").body  # type: ignore[return-value]

    def stop(self) -> dict:
        return self.request("stop").body  # type: ignore[return-value]

    def buzz(self, ms: int = 300, pattern: tuple[int, ...] | None = None) -> dict:
        """One ``ms`` pulse, or a ``pattern`` the firmware plays: (on, off, on, ...) ms."""
        if pattern is not None:
            return self.request("buzz", pattern=list(pattern)).body  # type: ignore[return-value]
        return self.request("buzz", ms=ms).body  # type: ignore[return-value]

    def identify(self, ms: int = 2000) -> dict:
        return self.request("identify", ms=ms).body  # type: ignore[return-value]

    def set_rate(self, rate_hz: int) -> dict:
        return self.request("set_rate", rate_hz=rate_hz).body  # type: ignore[return-value]

    def set_role(self, role: str) -> dict:
        return self.request("set_role", role=role).body  # type: ignore[return-value]

    def reboot(self) -> None:
        self.request("reboot")
