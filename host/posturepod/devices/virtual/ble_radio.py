"""The emulated radio: BLE pods without radios, through the host's real bleak code path.

    bleak (BleTransport) --custom backend (ble_bleak)--> VirtualBleakScanner /
        VirtualBleakClient --> bumble central Device --LocalLink (emulated controllers,
        this module)--> bumble peripheral Device per pod (ble_bridge: GATT server, SMP
        pairing/bonding) <--TCP--> firmware/vboard/ble.py (MicroPython's `bluetooth` API)
        <-- pod/link_ble.py, the real firmware, running in the MicroPython unix port on a
        virtual board (pod.json transport "ble"; ble_patient starts them)

Everything runs on the BLE transport's event loop (``posturepod.pods.transport.ble.ble_loop``).
One ``Radio`` per process: ``start`` makes it, ``radio_async`` returns the running one;
``ble_bleak.radio()`` also installs it as bleak backend.

Faults: ``Radio.cut(pod)`` takes a pod out of range (notifications vanish in the air for
``supervision_s``, then the link drops; the pod is invisible and unreachable until
``restore``); ``Radio.inject(pod, data)`` sends a raw notification (malformed data).
"""
from __future__ import annotations

import asyncio

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from posturepod.devices.virtual.ble_bridge import PodPeripheral
from posturepod.devices.virtual.ble_common import pairing_config
from posturepod.pods.transport import ble as tble


class Radio:
    """One emulated radio per process: a LocalLink, the host's adapter (a central) and the
    pods that connected to ``port`` (a TCP server the virtual boards' radios dial)."""

    def __init__(self):
        self.link = LocalLink()
        self.port: int | None = None
        self.pods: list[PodPeripheral] = []
        self._n = 0
        self._central: Device | None = None
        self._scanners: list = []
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._server = None
        self.default_mtu = 247

    def new_device(self, address: str, name: str = "") -> Device:
        c = Controller(name or address, link=self.link, public_address=address)
        return Device(address=Address(address), host=Host(c, AsyncPipeSink(c)))

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._on_pod, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

    async def central(self) -> Device:
        if self._central is None:
            self._central = await self.new_central("C0:00:00:00:00:01")
            self._central.on("advertisement", self._on_adv)
        return self._central

    async def new_central(self, address: str) -> Device:
        """A host adapter (the default one, or another phone/laptop for the tests)."""
        d = self.new_device(address, "central-" + address)
        d.pairing_config_factory = pairing_config
        await d.power_on()
        return d

    async def _on_pod(self, reader, writer) -> None:
        self._n += 1
        p = PodPeripheral(self, reader, writer, self._n)
        self.pods.append(p)
        try:
            await p.run()
        finally:
            if p in self.pods:
                self.pods.remove(p)

    # -- scanning (shared by every VirtualBleakScanner) ------------------------------
    def _on_adv(self, adv) -> None:
        addr = str(adv.address).split("/")[0]
        p = self.by_address(addr)
        if p is not None and p.blocked:
            return
        for s in list(self._scanners):
            s._advertisement(addr, adv)

    async def add_scanner(self, s) -> None:
        c = await self.central()
        async with self._scan_lock:
            self._scanners.append(s)
            if len(self._scanners) == 1:
                await c.start_scanning(filter_duplicates=False)

    async def remove_scanner(self, s) -> None:
        async with self._scan_lock:
            if s in self._scanners:
                self._scanners.remove(s)
                if not self._scanners and self._central is not None:
                    await self._central.stop_scanning()

    # -- pods ------------------------------------------------------------------------
    def by_address(self, addr: str):
        a = addr.upper()
        return next((p for p in self.pods if p.address == a), None)

    def find(self, key: str):
        """A pod by its name (pp-role-sid), short id, pod id, role or address."""
        k = key.lower()
        sk = tble.short_id(key)
        for p in self.pods:
            if k in ((p.name or "").lower(), (p.sid or ""), p.address.lower(), p.role or "") \
                    or sk == p.sid:
                return p
        return None

    async def cut(self, key: str, supervision_s: float = 0.5) -> None:
        p = self.find(key)
        if p is None:
            raise KeyError(key)
        await p.cut(supervision_s)

    async def restore(self, key: str) -> None:
        p = self.find(key)
        if p is None:
            raise KeyError(key)
        p.blocked = False

    async def inject(self, key: str, data: bytes) -> None:
        p = self.find(key)
        if p is None:
            raise KeyError(key)
        await p.notify_raw(data)


_radio: Radio | None = None


def started() -> bool:
    return _radio is not None


def start() -> Radio:
    """The process's emulated radio, started on the BLE loop if it is not yet (blocking)."""
    global _radio
    if _radio is None:
        async def make():
            r = Radio()
            await r.start()
            await r.central()
            return r
        _radio = tble.run(make(), 10)
    return _radio


def radio_async() -> Radio:
    """The started radio (on the BLE loop: never starts it)."""
    if _radio is None:
        raise RuntimeError("the emulated radio is not started "
                           "(posturepod.devices.virtual.ble_bleak.radio())")
    return _radio
