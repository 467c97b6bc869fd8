"""BLE transport (bleak): a pod's GATT service as the blocking byte pipe of ``Transport``.

The pod (``firmware/pod/link_ble.py``, docs/ble.md) serves the wire protocol over a service
of its own: frames arrive as notifications of DATA (a byte stream cut at MTU-3 bytes),
command lines are written to CMD (encryption required: the first connection pairs and
bonds). bleak is asyncio; every BleTransport of the process shares one event loop running
in a daemon thread (one adapter, several pods), and the blocking methods submit coroutines
to it.

Outages: when the link drops, ``read`` keeps returning b"" while the transport reconnects
in the background with exponential backoff (scan, connect, encrypt, MTU exchange,
subscribe). The pod keeps sampling meanwhile and sends what it stored (FLAG_BACKLOG) after
the reconnection, with its original sequence numbers and timestamps, so the session sees
one continuous segment and the loader puts the late samples in order. ``write`` raises
LinkLost while the link is down (a request then fails like a timeout). Only a complete
frame is ever handed to ``read``: bytes of a frame cut by a disconnection are dropped and
counted (``partial_dropped``).

Backends: the platform's (BlueZ, CoreBluetooth, WinRT) by default; ``use_backend`` installs
another pair of bleak backend classes, e.g. the emulated radio of
``posturepod.devices.virtual.ble_bleak`` (same code path, no radio).
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from posturepod.firmware.pod import wire
from posturepod.pods.transport.base import LinkLost, Transport, TransportError

# the pod's GATT service (firmware/pod/link_ble.py; tests check both stay equal)
SVC_UUID = "7a1d0001-6f70-4f64-8e2a-706f73747572"
DATA_UUID = "7a1d0002-6f70-4f64-8e2a-706f73747572"
CMD_UUID = "7a1d0003-6f70-4f64-8e2a-706f73747572"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
NAME_PREFIX = "pp-"
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
# the first write after subscribing tells the pod the host listens; INFO (id 0) answers it,
# and after a reconnection the session sees a pod reboot in it (boot_id)
HELLO = wire.encode_command("info", 0)
MAX_UNDELIMITED = 8192  # longer runs without a delimiter go to the decoder as they are


def short_id(pod_id: str) -> str:
    """The 4 hex digits a pod advertises for its id (CRC-16 of the pod id)."""
    return "%04x" % wire.crc16(pod_id.encode())


def parse_name(name: str | None) -> tuple[str | None, str | None]:
    """("pp-head-1a2b") -> ("head", "1a2b"); (None, None) for other names."""
    if not name or not name.startswith(NAME_PREFIX):
        return None, None
    role, _, sid = name[len(NAME_PREFIX):].rpartition("-")
    return (role or None), (sid.lower() or None)


# ---- backend selection and the shared event loop -------------------------------------

_backend: dict = {"scanner": None, "client": None, "name": "platform", "client_kwargs": {}}


def use_backend(scanner_cls=None, client_cls=None, name: str = "platform",
                **client_kwargs) -> None:
    """bleak backend classes (BaseBleakScanner, BaseBleakClient subclasses) for all BLE
    transports of this process; None restores the platform's."""
    _backend.update(scanner=scanner_cls, client=client_cls, name=name,
                    client_kwargs=client_kwargs)


def backend_name() -> str:
    return _backend["name"]


class _Loop:
    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="ble-loop", daemon=True)
                t.start()
                cls._loop = loop
            return cls._loop


def ble_loop() -> asyncio.AbstractEventLoop:
    """The event loop every BLE transport (and the emulated radio) runs on."""
    return _Loop.get()


def run(coro, timeout_s: float | None = None):
    """Run a coroutine on the BLE loop from any other thread and wait for its result."""
    loop = ble_loop()
    fut = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return fut.result(timeout_s)
    except TimeoutError:
        fut.cancel()
        raise


# ---- discovery -----------------------------------------------------------------------

@dataclass
class Found:
    address: str
    name: str | None
    role: str | None
    short_id: str | None
    rssi: int | None
    device: object = field(repr=False, default=None)


async def scan(timeout_s: float = 3.0, want=None) -> list[Found]:
    """Pods advertising the posturepod service; stops early when ``want(found)`` is true."""
    from bleak import BleakScanner
    seen: dict[str, Found] = {}
    done = asyncio.Event()

    def cb(dev, adv):
        name = adv.local_name or dev.name
        if SVC_UUID not in [u.lower() for u in adv.service_uuids] and \
                not (name or "").startswith(NAME_PREFIX):
            return
        f = seen.get(dev.address)
        role, sid = parse_name(name)
        if f is None or (name and not f.name):
            f = Found(dev.address, name, role, sid, adv.rssi, dev)
            seen[dev.address] = f
        if want is not None and want(f):
            done.set()

    kw = {"backend": _backend["scanner"]} if _backend["scanner"] else {}
    async with BleakScanner(cb, service_uuids=[SVC_UUID], **kw):
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            pass
    return list(seen.values())


def find_pods(timeout_s: float = 3.0) -> list[Found]:
    """Blocking scan (for ``posturepod devices``)."""
    return run(scan(timeout_s), timeout_s + 10)


def matcher(ident: str):
    """``ble:ID``: the pod's BLE address, its advertised name (pp-role-sid), its short id
    (4 hex digits) or its full pod id (the short id is derived from it)."""
    i = ident.strip().lower()
    sids = {i, short_id(ident.strip())}

    def want(f: Found) -> bool:
        return (f.address.lower() == i or (f.name or "").lower() == i or
                (f.short_id is not None and f.short_id in sids))
    return want


# ---- the transport ---------------------------------------------------------------------

class BleTransport(Transport):
    def __init__(self, ident: str, *, mtu: int = 247, pair: bool = True,
                 scan_s: float = 5.0, backoff_s=BACKOFF_S, connect_timeout_s: float = 10.0):
        self.spec = "ble:" + ident
        self.ident = ident
        self.want = matcher(ident)
        self.mtu_wanted = mtu
        self.pair = pair
        self.scan_s = scan_s
        self.backoff_s = tuple(backoff_s)
        self.connect_timeout_s = connect_timeout_s
        self.address: str | None = None
        self.name: str | None = None
        self.mtu = 23
        self._client = None
        self._device = None
        self._cv = threading.Condition()
        self._buf = bytearray()
        self._open = False          # between open() and close()
        self._up = False            # connected and subscribed now
        self._closing = False
        self._task: asyncio.Task | None = None
        self._got_data = False
        # statistics
        self.connects = 0
        self.drops = 0
        self.reconnect_attempts = 0
        self.outages: list[tuple[float, float]] = []   # (down, up) host monotonic s
        self.notifications = 0
        self.bytes_in = 0
        self.partial_dropped = 0
        self._down_at: float | None = None

    @property
    def kind(self) -> str:
        return "ble"

    @property
    def up(self) -> bool:
        return self._up

    # -- async side (BLE loop) ----------------------------------------------------------
    def _on_data(self, _sender, data: bytearray) -> None:
        with self._cv:
            self._buf += data
            self.notifications += 1
            self.bytes_in += len(data)
            self._got_data = True
            self._cv.notify_all()

    def _on_disconnect(self, _client) -> None:
        if self._closing or not self._up:
            return
        self._up = False
        self.drops += 1
        self._down_at = time.monotonic()
        with self._cv:
            cut = self._buf.rfind(0)
            tail = len(self._buf) - (cut + 1)
            if tail:
                self.partial_dropped += 1
                del self._buf[cut + 1:]
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._reconnect())

    async def _find(self, timeout_s: float):
        found = await scan(timeout_s, self.want)
        for f in found:
            if self.want(f):
                return f
        return None

    async def _connect(self, scan_s: float, hello: bytes) -> None:
        from bleak import BleakClient
        f = await self._find(scan_s)
        if f is None:
            raise TransportError(f"{self.spec}: no pod advertising as {self.ident!r} "
                                 f"(scanned {scan_s:.0f} s; in range, powered, set to BLE?)")
        kw = dict(_backend["client_kwargs"])
        if _backend["client"]:
            kw["backend"] = _backend["client"]
        client = BleakClient(f.device or f.address, disconnected_callback=self._on_disconnect,
                             timeout=self.connect_timeout_s, pair=self.pair, **kw)
        try:
            await client.connect()
            acquire = getattr(getattr(client, "_backend", None), "_acquire_mtu", None)
            if acquire is not None:          # BlueZ: read the MTU it negotiated
                try:
                    await acquire()
                except Exception:  # noqa: BLE001 - keep the default
                    pass
            self.mtu = int(client.mtu_size or 23)
            self._client = client
            self.address, self.name = f.address, f.name
            self._got_data = False
            await client.start_notify(DATA_UUID, self._on_data)
            self._up = True
            await self._write(hello)
        except (Exception, asyncio.CancelledError) as e:
            self._up = False
            task = asyncio.current_task()
            if isinstance(e, asyncio.CancelledError) and task is not None and \
                    getattr(task, "cancelling", lambda: 1)():
                raise                 # we are being cancelled (close())
            try:
                await client.disconnect()
            except (Exception, asyncio.CancelledError):  # noqa: BLE001
                pass
            if isinstance(e, TransportError):
                raise
            raise TransportError(f"{self.spec}: {type(e).__name__}: {e}") from None
        self.connects += 1
        # the pod only streams once it has a write from a bonded connection; say it again
        # if nothing arrives (a write racing the end of pairing is refused)
        for _ in range(5):
            await asyncio.sleep(0.3)
            if self._got_data or not self._up:
                break
            try:
                await self._write(hello)
            except Exception:  # noqa: BLE001
                break

    async def _reconnect(self) -> None:
        k = 0
        while not self._closing:
            delay = self.backoff_s[min(k, len(self.backoff_s) - 1)]
            await asyncio.sleep(delay)
            if self._closing:
                return
            self.reconnect_attempts += 1
            try:
                await self._connect(min(self.scan_s, 2.0 + delay), HELLO)
            except TransportError:
                k += 1
                continue
            if self._down_at is not None:
                self.outages.append((self._down_at, time.monotonic()))
                self._down_at = None
            return

    async def _write(self, data: bytes) -> None:
        c = self._client
        if c is None or not self._up:
            raise LinkLost(f"{self.spec}: BLE link down (reconnecting)")
        n = max(20, self.mtu - 3)
        for i in range(0, len(data), n):
            await c.write_gatt_char(CMD_UUID, data[i:i + n], response=True)

    async def _close(self) -> None:
        t = self._task
        if t is not None and not t.done():
            t.cancel()
        c = self._client
        self._client = None
        self._up = False
        if c is not None:
            try:
                await c.disconnect()
            except Exception:  # noqa: BLE001
                pass

    # -- blocking side -------------------------------------------------------------------
    def open(self) -> None:
        if self._open and self._up:
            return
        self._closing = False
        try:
            run(self._connect(self.scan_s, HELLO),
                self.scan_s + self.connect_timeout_s + 10)
        except TimeoutError:
            raise TransportError(f"{self.spec}: connection timed out") from None
        self._open = True

    def close(self) -> None:
        self._closing = True
        self._open = False
        try:
            run(self._close(), 10)
        except Exception:  # noqa: BLE001
            pass
        with self._cv:
            self._buf.clear()
            self._cv.notify_all()

    def read(self, timeout_s: float) -> bytes:
        end = time.monotonic() + timeout_s
        with self._cv:
            while True:
                if not self._open:
                    raise LinkLost(f"{self.spec}: not open")
                cut = self._buf.rfind(0)
                if cut < 0 and len(self._buf) > MAX_UNDELIMITED:
                    cut = len(self._buf) - 1    # garbage: the decoder counts and skips it
                if cut >= 0:
                    out = bytes(self._buf[:cut + 1])
                    del self._buf[:cut + 1]
                    return out
                left = end - time.monotonic()
                if left <= 0:
                    return b""
                self._cv.wait(left)

    def write(self, data: bytes) -> None:
        if not self._up:
            raise LinkLost(f"{self.spec}: BLE link down (reconnecting)")
        try:
            run(self._write(bytes(data)), 5.0)
        except LinkLost:
            raise
        except Exception as e:  # noqa: BLE001 - bleak/OS errors of every backend
            raise LinkLost(f"{self.spec}: write failed: {type(e).__name__}: {e}") from None

    def stats(self) -> dict:
        return {"connects": self.connects, "drops": self.drops,
                "reconnect_attempts": self.reconnect_attempts,
                "outages_s": [round(b - a, 3) for a, b in self.outages],
                "notifications": self.notifications, "bytes_in": self.bytes_in,
                "partial_dropped": self.partial_dropped, "mtu": self.mtu,
                "address": self.address, "name": self.name}
