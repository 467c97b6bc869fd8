"""The emulated radio: BLE pods without radios, through the host's real bleak code path.

    bleak (BleTransport) --custom backend--> VirtualBleakScanner / VirtualBleakClient
        --> bumble central Device --LocalLink (emulated controllers)--> bumble peripheral
        Device per pod (GATT server, SMP pairing/bonding) <--TCP--> firmware/vboard/ble.py
        (MicroPython's `bluetooth` API) <-- pod/link_ble.py, the real firmware, running in
        the MicroPython unix port on a virtual board (pod.json transport "ble")

The peripheral side is a bridge: the GATT database is the one the firmware registers with
``gatts_register_services``, writes by the central become ``_IRQ_GATTS_WRITE``, connection,
MTU and encryption events become the IRQs the firmware handles on a real port, and the
bond keys bumble's SMP produces are stored by the firmware (``_IRQ_SET_SECRET`` /
``_IRQ_GET_SECRET`` into its bond file). Everything runs on the BLE transport's event loop
(``posturepod.transport.ble.ble_loop``).

Faults: ``Radio.cut(pod)`` takes a pod out of range (notifications vanish in the air for
``supervision_s``, then the link drops; the pod is invisible and unreachable until
``restore``); ``Radio.inject(pod, data)`` sends a raw notification (malformed data).
"""
from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble.att import Attribute
from bumble.controller import Controller
from bumble.core import UUID as BUMBLE_UUID  # noqa: F401 - for tests and tools
from bumble.device import Device, Peer
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import KeyStore, PairingKeys
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from ..transport import ble as tble

_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_FLAG_READ_ENCRYPTED = 0x0200
_FLAG_WRITE_ENCRYPTED = 0x1000


def _pairing_config(_conn=None) -> PairingConfig:
    return PairingConfig(sc=True, mitm=False, bonding=True,
                         delegate=PairingDelegate(
                             io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT))


def _uuid_str(u) -> str:
    return normalize_uuid_str(u.to_hex_str("-").lower())


def _ad_fields(data: bytes) -> tuple[str | None, list[str]]:
    """(complete local name, 128-bit service UUIDs) from raw advertising data."""
    name, uuids = None, []
    i = 0
    while i + 1 < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            break
        t, v = data[i + 1], data[i + 2:i + 1 + n]
        if t in (0x08, 0x09):
            name = v.decode(errors="replace")
        elif t in (0x06, 0x07):
            for k in range(0, len(v) - 15, 16):
                h = v[k:k + 16][::-1].hex()
                uuids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        i += 1 + n
    return name, uuids


def _enc(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "hex:" + bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


def _dec(v):
    if isinstance(v, str) and v.startswith("hex:"):
        return bytes.fromhex(v[4:])
    return v


# ---- the radio world -----------------------------------------------------------------

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
        d.pairing_config_factory = _pairing_config
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


def radio() -> Radio:
    """The process's emulated radio (started on the BLE loop), installed as bleak backend."""
    global _radio
    if _radio is None:
        async def make():
            r = Radio()
            await r.start()
            await r.central()
            return r
        _radio = tble.run(make(), 10)
        install()
    return _radio


def install(**client_kwargs) -> None:
    """Make every BleTransport of this process use the emulated radio."""
    tble.use_backend(VirtualBleakScanner, VirtualBleakClient, "virtual", **client_kwargs)


# ---- a pod's peripheral: bumble GATT server bridged to the firmware ------------------

class PodKeyStore(KeyStore):
    """Bond keys kept by the pod firmware (its bond file), mirrored here."""

    def __init__(self, pod: PodPeripheral):
        self.pod = pod
        self.cache: dict[str, PairingKeys] = {}

    async def update(self, name: str, keys: PairingKeys) -> None:
        ok = await self.pod.secret(30, [1, name.encode(),
                                        json.dumps(keys.to_dict()).encode()])
        if ok:
            self.cache[name] = keys
        else:
            self.pod.refused = True

    async def get(self, name: str):
        if name in self.cache:
            return self.cache[name]
        v = await self.pod.secret(29, [1, 0, name.encode()])
        if v:
            k = PairingKeys.from_dict(json.loads(v))
            self.cache[name] = k
            return k
        return None

    async def delete(self, name: str) -> None:
        self.cache.pop(name, None)
        await self.pod.secret(30, [1, name.encode(), None])

    async def get_all(self):
        return list(self.cache.items())


class PodPeripheral:
    def __init__(self, r: Radio, reader, writer, index: int):
        self.radio = r
        self.reader = reader
        self.writer = writer
        self.address = f"D0:00:00:00:{index >> 8:02X}:{index & 0xFF:02X}"
        self.device = r.new_device(self.address, f"pod{index}")
        self.keystore = PodKeyStore(self)
        self.device.keystore = self.keystore
        self.device.pairing_config_factory = _pairing_config
        self.values: dict[int, bytes] = {}
        self.chars: dict[int, Characteristic] = {}
        self.conns: dict[int, object] = {}
        self.cfg: dict = {}
        self.name: str | None = None
        self.role: str | None = None
        self.sid: str | None = None
        self.blocked = False
        self.refused = False
        self.powered = False
        self.advertising = False
        self.resp: bytes | None = None
        self._pairing: set[int] = set()
        self._rid = 0
        self._waiters: dict[int, asyncio.Future] = {}
        # statistics
        self.notified = 0
        self.air_lost = 0
        self.bytes_out = 0

    # -- messages to the pod -----------------------------------------------------------
    def _send(self, op: bytes, payload: bytes) -> None:
        self.writer.write(struct.pack("<HB", len(payload) + 1, op[0]) + payload)

    def event(self, irq: int, args) -> None:
        self._send(b"E", json.dumps({"irq": irq, "args": _enc(args)}).encode())

    async def secret(self, irq: int, args):
        self._rid += 1
        rid = self._rid
        fut = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        self._send(b"Q", json.dumps({"rid": rid, "irq": irq, "args": _enc(args)}).encode())
        try:
            return await asyncio.wait_for(fut, 5.0)
        except (asyncio.TimeoutError, TimeoutError):
            return None
        finally:
            self._waiters.pop(rid, None)

    # -- the pod's requests --------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                hdr = await self.reader.readexactly(2)
                n = hdr[0] | (hdr[1] << 8)
                body = await self.reader.readexactly(n)
                await self._handle(body[0:1], body[1:])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for c in list(self.conns.values()):
                try:
                    await c.disconnect()
                except Exception:  # noqa: BLE001
                    pass
            try:
                await self.device.stop_advertising()
            except Exception:  # noqa: BLE001
                pass

    async def _handle(self, op: bytes, p: bytes) -> None:
        if op == b"N":
            conn_h, handle = struct.unpack_from("<HH", p)
            await self._notify(conn_h, handle, p[4:])
        elif op == b"W":
            handle, upd = struct.unpack_from("<HB", p)
            self.values[handle] = bytes(p[3:])
        elif op == b"S":
            d = json.loads(p)
            f = self._waiters.get(d["rid"])
            if f is not None and not f.done():
                f.set_result(_dec(d.get("value")))
        elif op == b"D":
            (conn_h,) = struct.unpack("<H", p)
            c = self.conns.get(conn_h)
            if c is not None:
                asyncio.get_running_loop().create_task(self._disconnect(c))
        elif op == b"C":
            d = json.loads(p)
            self.cfg.update(d)
            if "mtu" in d:
                self.device.gatt_server.max_mtu = int(d["mtu"])
        elif op == b"R":
            self._register(json.loads(p)["services"])
        elif op == b"A":
            await self._advertise(json.loads(p))

    def _register(self, services) -> None:
        out = []
        for uuid, chars in services:
            cs = []
            for cu, flags, h in chars:
                props = Characteristic.Properties(0)
                perms = Attribute.Permissions(0)
                if flags & _FLAG_READ:
                    props |= Characteristic.Properties.READ
                    perms |= Attribute.READABLE
                if flags & _FLAG_WRITE:
                    props |= Characteristic.Properties.WRITE
                if flags & _FLAG_WRITE_NO_RESPONSE:
                    props |= Characteristic.Properties.WRITE_WITHOUT_RESPONSE
                if flags & (_FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE):
                    perms |= Attribute.WRITEABLE
                if flags & _FLAG_NOTIFY:
                    props |= Characteristic.Properties.NOTIFY
                if flags & _FLAG_INDICATE:
                    props |= Characteristic.Properties.INDICATE
                if flags & _FLAG_WRITE_ENCRYPTED:
                    perms |= Attribute.WRITE_REQUIRES_ENCRYPTION
                if flags & _FLAG_READ_ENCRYPTED:
                    perms |= Attribute.READ_REQUIRES_ENCRYPTION
                value = CharacteristicValue(
                    read=lambda conn, h=h: self.values.get(h, b""),
                    write=lambda conn, v, h=h: self._on_write(conn, h, v))
                c = Characteristic(cu, props, perms, value)
                self.chars[h] = c
                cs.append(c)
            out.append(Service(uuid, cs))
        self.device.add_services(out)

    async def _advertise(self, d) -> None:
        if not self.powered:
            await self.device.power_on()
            self.powered = True
        if self.advertising:
            try:
                await self.device.stop_advertising()
            except Exception:  # noqa: BLE001
                pass
            self.advertising = False
        if d.get("interval_us") is None:
            return
        adv, resp = _dec(d["adv"]), _dec(d["resp"])
        self.resp = resp
        name, _ = _ad_fields(resp)
        if name:
            self.name = name
            self.role, self.sid = tble.parse_name(name)
        if not self.device.listeners("connection"):
            self.device.on("connection", self._on_connection)
        await self.device.start_advertising(
            advertising_data=adv, scan_response_data=resp,
            advertising_interval_min=max(20.0, d["interval_us"] / 1000.0),
            advertising_interval_max=max(20.0, d["interval_us"] / 1000.0))
        self.advertising = True

    async def _disconnect(self, c) -> None:
        try:
            await c.disconnect()
        except Exception:  # noqa: BLE001
            pass

    async def _notify(self, conn_h: int, handle: int, data: bytes) -> None:
        c = self.conns.get(conn_h)
        ch = self.chars.get(handle)
        if c is not None and ch is not None:
            if self.blocked:
                self.air_lost += 1          # out of range: lost in the air, unnoticed
            else:
                try:
                    await self.device.notify_subscriber(c, ch, data)
                    self.notified += 1
                    self.bytes_out += len(data)
                except Exception:  # noqa: BLE001 - the link went away meanwhile
                    pass
        self._send(b"K", struct.pack("<H", 1))

    async def notify_raw(self, data: bytes) -> None:
        h = next(h for h, c in self.chars.items()
                 if _uuid_str(c.uuid) == tble.DATA_UUID)
        for conn_h in list(self.conns):
            c = self.conns[conn_h]
            await self.device.notify_subscriber(c, self.chars[h], data)

    def _on_write(self, conn, handle: int, value: bytes) -> None:
        self.event(3, [conn.handle, handle, bytes(value)])

    # -- connection events -----------------------------------------------------------
    def _on_connection(self, conn) -> None:
        if self.blocked:
            asyncio.get_running_loop().create_task(self._disconnect(conn))
            return
        self.conns[conn.handle] = conn
        self.refused = False
        self.event(1, [conn.handle, 1, bytes(conn.peer_address)])
        h = conn.handle

        def on_disc(*_a):
            self.conns.pop(h, None)
            self._pairing.discard(h)
            self.event(2, [h, 1, bytes(conn.peer_address)])

        def on_mtu(*_a):
            self.event(21, [h, conn.att_mtu])

        def on_pairing_start(*_a):
            self._pairing.add(h)

        def on_pairing(*_a):
            self._pairing.discard(h)
            self._enc_update(conn)

        def on_pairing_failure(*_a):
            self._pairing.discard(h)
            self._enc_update(conn)

        def on_enc(*_a):
            if h not in self._pairing:
                self._enc_update(conn)

        conn.on("disconnection", on_disc)
        conn.on("connection_att_mtu_update", on_mtu)
        conn.on("pairing_start", on_pairing_start)
        conn.on("pairing", on_pairing)
        conn.on("pairing_failure", on_pairing_failure)
        conn.on("connection_encryption_change", on_enc)

    def _enc_update(self, conn) -> None:
        name = str(conn.peer_address)
        bonded = name in self.keystore.cache or self.refused
        enc = bool(conn.is_encrypted)
        self.event(28, [conn.handle, enc, bool(getattr(conn, "authenticated", False)),
                        bonded and enc, 16 if enc else 0])

    async def cut(self, supervision_s: float) -> None:
        """Out of range: the air swallows notifications, then the link supervision
        timeout ends the connection."""
        self.blocked = True
        await asyncio.sleep(supervision_s)
        for c in list(self.conns.values()):
            await self._disconnect(c)


# ---- bleak backend ---------------------------------------------------------------------

class VirtualBleakScanner(BaseBleakScanner):
    def __init__(self, detection_callback=None, service_uuids=None, scanning_mode="active",
                 **kwargs):
        super().__init__(detection_callback, service_uuids)
        self._names: dict[str, str] = {}
        self._uuids: dict[str, list[str]] = {}

    def _advertisement(self, addr: str, adv) -> None:
        data = bytes(adv.data_bytes)
        if adv.is_scan_response:
            # bumble's emulated controller reports the advertising data again as the scan
            # response; a real controller sends the one the pod set: use that
            p = radio_async().by_address(addr)
            if p is not None and p.resp is not None:
                data = p.resp
        name, uuids = _ad_fields(data)
        if name:
            self._names[addr] = name
        if uuids:
            self._uuids[addr] = uuids
        name = self._names.get(addr)
        uuids = self._uuids.get(addr, [])
        if not self.is_allowed_uuid(uuids):
            return
        ad = AdvertisementData(local_name=name, manufacturer_data={}, service_data={},
                               service_uuids=uuids, tx_power=None, rssi=int(adv.rssi),
                               platform_data=(adv,))
        dev = self.create_or_update_device(addr, addr, name, adv, ad)
        self.call_detection_callbacks(dev, ad)

    async def start(self) -> None:
        self.seen_devices = {}
        await radio_async().add_scanner(self)

    async def stop(self) -> None:
        await radio_async().remove_scanner(self)


def radio_async() -> Radio:
    if _radio is None:
        raise RuntimeError("the emulated radio is not started (posturepod.virtual.ble.radio())")
    return _radio


class VirtualBleakClient(BaseBleakClient):
    """bleak client on the emulated radio. Extra keyword arguments (through BleakClient or
    ``install``): ``central`` (a bumble Device, default the radio's adapter), ``mtu``."""

    def __init__(self, address_or_ble_device, **kwargs):
        super().__init__(address_or_ble_device,
                         disconnected_callback=kwargs.get("disconnected_callback"),
                         timeout=kwargs.get("timeout", 10.0))
        self._central: Device | None = kwargs.get("central")
        self._mtu_req = int(kwargs.get("mtu") or radio_async().default_mtu)
        self._conn = None
        self._peer: Peer | None = None
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device,
                                                              BLEDevice) else None

    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return int(self._conn.att_mtu) if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    async def connect(self, pair: bool, **kwargs) -> None:
        r = radio_async()
        p = r.by_address(self.address)
        if p is None or p.blocked:
            await asyncio.sleep(min(self._timeout, 1.0))
            raise BleakError(f"{self.address}: device not found (out of range)")
        central = self._central or await r.central()
        async with r._connect_lock:
            conn = await central.connect(Address(self.address, Address.RANDOM_DEVICE_ADDRESS),
                                         timeout=self._timeout)
        self._conn = conn

        def on_disc(*_a):
            was = self._conn is not None
            self._conn = None
            self._peer = None
            if was and self._disconnected_callback is not None:
                self._disconnected_callback()
        conn.on("disconnection", on_disc)
        try:
            keys = await central.keystore.get(str(conn.peer_address)) \
                if central.keystore else None
            if keys is not None:
                await conn.encrypt()
            elif pair:
                await conn.pair()
            peer = Peer(conn)
            if self._mtu_req != 23:
                await peer.request_mtu(self._mtu_req)
            await peer.discover_all()
            self._peer = peer
            self.services = self._collection(peer)
        except Exception as e:
            c, self._conn = self._conn, None
            if c is not None:
                try:
                    await c.disconnect()
                except Exception:  # noqa: BLE001
                    pass
            raise BleakError(f"{self.address}: {type(e).__name__}: {e}") from None

    def _collection(self, peer: Peer) -> BleakGATTServiceCollection:
        col = BleakGATTServiceCollection()
        names = {"READ": "read", "WRITE": "write", "WRITE_WITHOUT_RESPONSE":
                 "write-without-response", "NOTIFY": "notify", "INDICATE": "indicate"}
        for s in peer.services:
            bs = BleakGATTService(s, s.handle, _uuid_str(s.uuid))
            col.add_service(bs)
            for c in s.characteristics:
                props = [v for k, v in names.items()
                         if c.properties & getattr(Characteristic.Properties, k)]
                bc = BleakGATTCharacteristic(c, c.handle, _uuid_str(c.uuid), props,
                                             lambda: self.mtu_size - 3, bs)
                col.add_characteristic(bc)
                for d in c.descriptors:
                    col.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type),
                                                           bc))
        return col

    async def disconnect(self) -> None:
        c, self._conn = self._conn, None
        self._peer = None
        if c is not None:
            try:
                await c.disconnect()
            except Exception:  # noqa: BLE001
                pass

    async def pair(self, *args, **kwargs) -> None:
        if self._conn is None:
            raise BleakError("not connected")
        await self._conn.pair()

    async def unpair(self) -> None:
        central = self._central or await radio_async().central()
        if self._conn is not None and central.keystore:
            await central.keystore.delete(str(self._conn.peer_address))

    def _need(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def read_gatt_char(self, characteristic, **kwargs) -> bytearray:
        return bytearray(await self._need().read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor, **kwargs) -> bytearray:
        return bytearray(await self._need().read_value(descriptor.obj))

    async def write_gatt_char(self, characteristic, data, response: bool) -> None:
        try:
            await self._need().write_value(characteristic.obj, bytes(data),
                                           with_response=response)
        except BleakError:
            raise
        except Exception as e:
            raise BleakError(f"write {characteristic.uuid}: {type(e).__name__}: {e}") \
                from None

    async def write_gatt_descriptor(self, descriptor, data) -> None:
        await self._need().write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(self, characteristic, callback, **kwargs) -> None:
        await self._need().subscribe(characteristic.obj,
                                     lambda value: callback(bytearray(value)))

    async def stop_notify(self, characteristic) -> None:
        if self._peer is not None:
            await self._peer.unsubscribe(characteristic.obj)


# ---- virtual BLE pods (real firmware, MicroPython unix port) ------------------------

class BlePodProcess:
    def __init__(self, role: str, fs: Path, proc: subprocess.Popen, pod_id: str, args):
        self.role = role
        self.fs = fs
        self.proc = proc
        self.pod_id = pod_id
        self.args = args

    @property
    def spec(self) -> str:
        return "ble:" + self.pod_id

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.kill()
        self.proc = _spawn(self.args, self.fs)


def _spawn(args, fs: Path) -> subprocess.Popen:
    log = open(fs / "console.log", "ab")
    return subprocess.Popen(args, cwd=fs, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def spawn_ble_pod(role: str, fs: Path, *, rate_hz: int = 100, imu: str = "MPU-6050",
                  trace=None, t0_us=None, ppm: int = 0, pod_id: str | None = None,
                  ble: dict | None = None, heap: str = "4M") -> BlePodProcess:
    """A virtual board running the real firmware with pod.json transport "ble", its radio
    dialling this process's emulated radio."""
    from .board import board_profile, micropython_path, prepare
    r = radio()
    pod_id = pod_id or f"virt-{role}"
    fs = Path(fs)
    prepare(fs, role=role, rate_hz=rate_hz, imu=imu, trace=str(trace) if trace else None,
            t0_us=t0_us, ppm=ppm, pod_id=pod_id)
    cfg = json.loads((fs / "pod.json").read_text())
    cfg["transport"] = "ble"
    cfg["pod_id"] = pod_id
    (fs / "pod.json").write_text(json.dumps(cfg))
    vb = json.loads((fs / "vboard.json").read_text())
    vb["ble"] = {"port": r.port}
    (fs / "vboard.json").write_text(json.dumps(vb))
    prof = board_profile("virtual")
    prof["ble"] = dict(ble or {})
    (fs / "board.json").write_text(json.dumps(prof))
    args = [micropython_path(), "-X", f"heapsize={heap}", "main.py"]
    return BlePodProcess(role, fs, _spawn(args, fs), pod_id, args)


class VirtualBlePatient:
    """Three (or ``roles``) virtual BLE pods: ``.links`` maps role -> ``ble:ID`` specs for
    ``record``/``Session``, exactly as real BLE pods are given."""

    def __init__(self, workdir: Path, *, trace=None, t0_us=None, rate_hz: int = 100,
                 imus: dict | None = None, ppm: dict | None = None,
                 roles=("pelvis", "thorax", "head"), ble: dict | None = None,
                 mtu: int | dict = 247, wait_s: float = 15.0):
        self.workdir = Path(workdir)
        self.trace = trace
        self.t0_us = t0_us
        self.rate_hz = rate_hz
        self.imus = imus or {"pelvis": "MPU-6050", "thorax": "ICM-20948", "head": "MPU-6500"}
        self.ppm = ppm or {}
        self.roles = roles
        self.ble = ble or {}
        self.mtu = mtu
        self.wait_s = wait_s
        self.pods: dict[str, BlePodProcess] = {}

    @property
    def links(self) -> dict[str, str]:
        return {r: p.spec for r, p in self.pods.items()}

    def __enter__(self) -> VirtualBlePatient:
        self.workdir.mkdir(parents=True, exist_ok=True)
        r = radio()
        if isinstance(self.mtu, int):
            install(mtu=self.mtu)
        try:
            for role in self.roles:
                self.pods[role] = spawn_ble_pod(
                    role, self.workdir / f"fs-{role}", rate_hz=self.rate_hz,
                    imu=self.imus.get(role, "MPU-6050"), trace=self.trace, t0_us=self.t0_us,
                    ppm=self.ppm.get(role, 0), ble=self.ble)
            t_end = time.monotonic() + self.wait_s
            while time.monotonic() < t_end:
                if all(r.find(p.pod_id) is not None and r.find(p.pod_id).advertising
                       for p in self.pods.values()):
                    break
                for p in self.pods.values():
                    if p.proc.poll() is not None:
                        log = (p.fs / "console.log").read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"virtual BLE pod {p.role} exited: {log}")
                time.sleep(0.05)
            else:
                raise TimeoutError("virtual BLE pods did not start advertising")
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self, role: str, supervision_s: float = 0.5) -> None:
        tble.run(radio().cut(self.pods[role].pod_id, supervision_s), supervision_s + 10)

    def restore(self, role: str) -> None:
        tble.run(radio().restore(self.pods[role].pod_id), 10)

    def inject(self, role: str, data: bytes) -> None:
        tble.run(radio().inject(self.pods[role].pod_id, data), 10)

    def peripheral(self, role: str) -> PodPeripheral:
        return radio().find(self.pods[role].pod_id)

    def close(self) -> None:
        from .patient import stop_boards
        stop_boards(self.pods.values())


def new_workdir(prefix: str = "posturepod-ble-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))

