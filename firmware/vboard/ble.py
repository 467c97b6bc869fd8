# The virtual board's radio: MicroPython's `bluetooth` API (the part the pod uses) for the
# unix port, forwarded over a TCP socket to the host process, where a bumble peripheral
# serves the GATT database over an emulated link (posturepod/virtual/ble.py). The firmware
# runs unchanged: pod/link_ble.py imports this module when `bluetooth` does not exist.
#
# Settings: vboard.json "ble": {"port": N} (host 127.0.0.1).
# Messages both ways: len:u16 LE | op:u8 | payload[len-1].
#   pod -> host   C config (JSON)   R services (JSON)   A advertise (JSON)
#                 N notify conn:u16 handle:u16 data      W local value handle:u16 data
#                 D disconnect conn:u16                  S secret reply (JSON)
#   host -> pod   E irq event (JSON {"irq", "args"}; strings "hex:..." are bytes)
#                 Q secret request (JSON {"rid", "irq", "args"}) -> S reply
#                 K notifications acknowledged: count:u16
# IRQs run inside wait_ms() (pod/link_ble.py waits with it) and inside API calls, like
# scheduled callbacks between bytecodes on a real port. gatts_notify raises OSError(ENOMEM)
# while MAX_INFLIGHT notifications are unacknowledged: the radio's buffers are full.
import json
import select
import socket
import struct
import time
import binascii

MAX_INFLIGHT = 16
_ENOMEM = 12
_ENOTCONN = 107


def _settings():
    try:
        with open("vboard.json") as f:
            return json.loads(f.read()).get("ble") or {}
    except (OSError, ValueError):
        return {}


def _enc(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "hex:" + binascii.hexlify(bytes(v)).decode()
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


def _dec(v):
    if isinstance(v, str) and v.startswith("hex:"):
        return binascii.unhexlify(v[4:])
    if isinstance(v, list):
        return tuple(_dec(x) for x in v)
    return v


class UUID:
    def __init__(self, v):
        if isinstance(v, int):
            self.s = "%04x" % v
        else:
            self.s = str(v).lower()

    def __str__(self):
        return self.s

    def __eq__(self, o):
        return isinstance(o, UUID) and o.s == self.s


_ble = None


class BLE:
    def __new__(cls):
        global _ble
        if _ble is None:
            _ble = object.__new__(cls)
            _ble._init()
        return _ble

    def __init__(self):
        pass

    def _init(self):
        s = _settings()
        port = s.get("port")
        if not port:
            raise OSError("vboard.json has no ble port: this virtual board has no radio")
        self._sock = socket.socket()
        self._sock.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        self._sock.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self._sock, select.POLLIN)
        self._in = bytearray()
        self._handler = None
        self._values = {}
        self._bufsize = {}
        self._append = {}
        self._inflight = 0
        self._active = False
        self._cfg = {"mtu": 23}
        self._conns = set()
        self.notified = 0

    # ---- transport ----------------------------------------------------------------------
    def _send(self, op, payload):
        msg = struct.pack("<HB", len(payload) + 1, op) + payload
        mv = memoryview(msg)
        while len(mv):
            try:
                n = self._sock.send(mv)
            except OSError as e:
                if e.args[0] == 11:
                    self._pump(5)
                    continue
                raise
            mv = mv[n:]

    def _json(self, op, obj):
        self._send(op, json.dumps(obj).encode())

    def _pump(self, timeout_ms):
        got = False
        for _ in self._poll.ipoll(timeout_ms):
            got = True
        if got:
            while True:
                try:
                    d = self._sock.recv(65536)
                except OSError:
                    d = None
                if not d:
                    if d == b"":
                        raise SystemExit("virtual radio closed")
                    break
                self._in += d
        self._dispatch()

    def _dispatch(self):
        while len(self._in) >= 3:
            buf = self._in
            n = buf[0] | (buf[1] << 8)
            if len(buf) < 2 + n:
                break
            op = buf[2]
            payload = bytes(buf[3:2 + n])
            self._in = buf[2 + n:]
            if op == ord("K"):
                self._inflight -= struct.unpack("<H", payload)[0]
                if self._inflight < 0:
                    self._inflight = 0
            elif op == ord("E"):
                d = json.loads(payload.decode())
                irq = d["irq"]
                args = _dec(d["args"])
                if irq == 1:
                    self._conns.add(args[0])
                elif irq == 2:
                    self._conns.discard(args[0])
                    self._inflight = 0
                elif irq == 3:          # value written by the central
                    conn, handle, data = args
                    if self._append.get(handle) and handle in self._values:
                        self._values[handle] = self._values[handle] + data
                    else:
                        self._values[handle] = data
                    args = (conn, handle)
                if self._handler:
                    self._handler(irq, args)
            elif op == ord("Q"):
                d = json.loads(payload.decode())
                r = self._handler(d["irq"], _dec(d["args"])) if self._handler else None
                self._json(ord("S"), {"rid": d["rid"], "value": _enc(r)})

    # ---- the bluetooth.BLE API ----------------------------------------------------------
    def active(self, *a):
        if a:
            self._active = bool(a[0])
        return self._active

    def config(self, *a, **kw):
        if a:
            return self._cfg.get(a[0])
        self._cfg.update(kw)
        self._json(ord("C"), kw)

    def irq(self, handler):
        self._handler = handler

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self._json(ord("A"), {"interval_us": interval_us, "adv": _enc(adv_data or b""),
                              "resp": _enc(resp_data or b""), "connectable": connectable})

    def gap_disconnect(self, conn):
        self._send(ord("D"), struct.pack("<H", conn))
        return conn in self._conns

    def gap_pair(self, conn):
        self._json(ord("P"), {"conn": conn})

    def gatts_register_services(self, services):
        h = 1
        out = []
        desc = []
        for uuid, chars in services:
            h += 1
            hs = []
            cd = []
            for c in chars:
                h += 1                  # declaration
                hs.append(h)
                cd.append([str(c[0]), c[1], h])
                self._values[h] = b""
                h += 2                  # value, room for a CCCD
            out.append(tuple(hs))
            desc.append([str(uuid), cd])
        self._json(ord("R"), {"services": desc})
        return tuple(out)

    def gatts_read(self, handle):
        v = self._values.get(handle, b"")
        if self._append.get(handle):
            self._values[handle] = b""
        return v

    def gatts_write(self, handle, data, send_update=False):
        self._values[handle] = bytes(data)
        self._send(ord("W"), struct.pack("<HB", handle, 1 if send_update else 0) + bytes(data))

    def gatts_set_buffer(self, handle, n, append=False):
        self._bufsize[handle] = n
        self._append[handle] = append

    def gatts_notify(self, conn, handle, data=None):
        self._pump(0)
        if conn not in self._conns:
            raise OSError(_ENOTCONN)
        if self._inflight >= MAX_INFLIGHT:
            raise OSError(_ENOMEM)
        if data is None:
            data = self._values.get(handle, b"")
        self._inflight += 1
        self.notified += 1
        self._send(ord("N"), struct.pack("<HH", conn, handle) + bytes(data))


def wait_ms(ms):
    """Sleep up to ms, delivering radio events (the link's idle wait on this port)."""
    b = _ble
    if b is None:
        time.sleep_ms(ms)
        return
    b._pump(ms)
