"""A pod's peripheral: a bumble Device (GATT server, SMP pairing and bonding) bridged over
TCP to the firmware's ``bluetooth`` calls in the MicroPython unix port
(firmware/vboard/ble.py, the other end of the wire).

The GATT database is the one the firmware registers with ``gatts_register_services``,
writes by the central become ``_IRQ_GATTS_WRITE``, connection, MTU and encryption events
become the IRQs the firmware handles on a real port, and the bond keys bumble's SMP produces
are stored by the firmware (``_IRQ_SET_SECRET`` / ``_IRQ_GET_SECRET`` into its bond file,
``PodKeyStore``). ``PodPeripheral.cut`` and ``notify_raw`` are the faults ble_radio offers.
"""
from __future__ import annotations

import asyncio
import json
import struct

from bumble.att import Attribute
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.keys import KeyStore, PairingKeys

from posturepod.devices.virtual.ble_common import ad_fields, pairing_config, uuid_str
from posturepod.pods.transport import ble as tble

# characteristic flags of MicroPython's bluetooth API, as the firmware registers them
_FLAG_READ = 0x0002
_FLAG_WRITE_NO_RESPONSE = 0x0004
_FLAG_WRITE = 0x0008
_FLAG_NOTIFY = 0x0010
_FLAG_INDICATE = 0x0020
_FLAG_READ_ENCRYPTED = 0x0200
_FLAG_WRITE_ENCRYPTED = 0x1000


# bytes travel the JSON messages of the wire as "hex:..." strings
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
    """One virtual board's radio, as it dialled ``r`` (a ble_radio.Radio, which supplies the
    bumble Device on its link): the firmware's requests arrive on ``reader``, its IRQs and
    secret queries leave on ``writer``."""

    def __init__(self, r, reader, writer, index: int):
        self.radio = r
        self.reader = reader
        self.writer = writer
        self.address = f"D0:00:00:00:{index >> 8:02X}:{index & 0xFF:02X}"
        self.device = r.new_device(self.address, f"pod{index}")
        self.keystore = PodKeyStore(self)
        self.device.keystore = self.keystore
        self.device.pairing_config_factory = pairing_config
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
        name, _ = ad_fields(resp)
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
                 if uuid_str(c.uuid) == tble.DATA_UUID)
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
        self.advertising = False    # the controller ends advertising on a connection
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
