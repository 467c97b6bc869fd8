"""A bleak backend on the emulated radio (ble_radio): BleTransport runs its real bleak code
path (scan, connect, pair, MTU exchange, discovery, notifications) against bumble, no radio.

``radio()`` starts the process's radio and installs this backend for every BleTransport;
``install(mtu=..., central=...)`` installs it again with other client arguments.
"""
from __future__ import annotations

import asyncio

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble.device import Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address

from posturepod.devices.virtual import ble_radio
from posturepod.devices.virtual.ble_common import ad_fields, uuid_str
from posturepod.devices.virtual.ble_radio import Radio, radio_async
from posturepod.pods.transport import ble as tble


def radio() -> Radio:
    """The process's emulated radio (started on the BLE loop), installed as bleak backend."""
    if not ble_radio.started():
        ble_radio.start()
        install()
    return radio_async()


def install(**client_kwargs) -> None:
    """Make every BleTransport of this process use the emulated radio."""
    tble.use_backend(VirtualBleakScanner, VirtualBleakClient, "virtual", **client_kwargs)


class VirtualBleakScanner(BaseBleakScanner):
    """bleak scanner on the emulated radio: every scanner listens to the radio's adapter."""

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
        name, uuids = ad_fields(data)
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
            bs = BleakGATTService(s, s.handle, uuid_str(s.uuid))
            col.add_service(bs)
            for c in s.characteristics:
                props = [v for k, v in names.items()
                         if c.properties & getattr(Characteristic.Properties, k)]
                bc = BleakGATTCharacteristic(c, c.handle, uuid_str(c.uuid), props,
                                             lambda: self.mtu_size - 3, bs)
                col.add_characteristic(bc)
                for d in c.descriptors:
                    col.add_descriptor(BleakGATTDescriptor(d, d.handle, uuid_str(d.type),
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
