# BLE link (MicroPython `bluetooth`, ESP32 NimBLE and Pico W BTstack): the same byte
# stream as the serial link, carried by a GATT service of our own. See docs/ble.md.
#
#   service  POD_SVC   7a1d0001-6f70-4f64-8e2a-706f73747572   ("posturepod" service)
#     DATA   7a1d0002-...   notify: pod -> host wire frames (pod/wire.py), a byte stream cut
#                           into notifications of (ATT MTU - 3) bytes; frames are
#                           delimited by 0x00 so chunk boundaries do not matter
#     CMD    7a1d0003-...   write / write without response, encryption required: command
#                           lines (JSON*CRC\n), any chunking
#   Device Information 0x180A (manufacturer, model = board, firmware revision)
#   Battery Service    0x180F, Battery Level 0x2A19 (read, notify)
#
# Advertising: flags + the 128-bit service UUID; scan response: name "pp-<role>-<sid>",
# sid = CRC-16 of the pod id as 4 hex digits. Nothing about the person wearing the pod.
#
# Security: LE Secure Connections, bonding, no MITM (the pod has no display or keyboard:
# Just Works). New bonds are accepted only in the pairing window (PAIR_WINDOW_S after boot,
# or any time while the pod has no bond); commands are accepted only from a connection
# that is encrypted with a stored bond. Bond keys live in `ble_bonds.json`.
#
# A link has write(buf, n), poll(timeout_ms), read_byte(), close(), kind, like
# pod/link_serial.py; plus `backlog` (pod/backlog.py): the sampler stores SAMPLES frames
# there while `backlog.live` is False, and poll() sends them again when the link is back.
import sys
import json
import time

if sys.implementation.name == "micropython":
    from micropython import const  # type: ignore[import-not-found]
else:
    def const(__x):  # noqa: D103
        return __x

from pod import wire
from pod.backlog import Backlog, MAX_BODY

SVC_UUID = "7a1d0001-6f70-4f64-8e2a-706f73747572"
DATA_UUID = "7a1d0002-6f70-4f64-8e2a-706f73747572"
CMD_UUID = "7a1d0003-6f70-4f64-8e2a-706f73747572"
NAME_PREFIX = "pp-"

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_CONNECTION_UPDATE = const(27)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_FLAG_READ = const(0x0002)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_WRITE_ENCRYPTED = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)

PAIR_WINDOW_S = const(120)
MAX_BONDS = const(8)
ADV_INTERVAL_US = const(100000)
ADV_SLOW_US = const(2000000)   # standalone mode, radio "slow": a host finds it within seconds
_TX_BYTES = const(4096)
_RX_BYTES = const(1024)
_NOTIFY_BURST = const(8)       # notifications per poll() at most
_LIVE_ROOM = const(600)        # below this much free TX space, frames go to the backlog
_BACKLOG_SHARE = const(2048)   # backlog frames only fill the TX ring this far
_PREFERRED_MTU = const(247)


def short_id(pod_id):
    """4 hex digits naming the pod in advertisements (CRC-16 of its id)."""
    return "%04x" % wire.crc16(pod_id.encode())


def adv_name(role, pod_id):
    return NAME_PREFIX + role + "-" + short_id(pod_id)


def _uuid128_le(s):
    h = s.replace("-", "")
    b = bytearray(16)
    for i in range(16):
        b[15 - i] = int(h[2 * i:2 * i + 2], 16)
    return bytes(b)


def advertising_payloads(role, pod_id):
    """(adv_data, scan_response): flags + 128-bit service UUID; the name."""
    adv = bytes((2, 0x01, 0x06, 17, 0x07)) + _uuid128_le(SVC_UUID)
    name = adv_name(role, pod_id).encode()
    resp = bytes((len(name) + 1, 0x09)) + name
    return adv, resp


def _bluetooth():
    try:
        import bluetooth  # type: ignore[import-not-found]
        return bluetooth
    except ImportError:
        pass
    try:   # the virtual board's emulated radio (firmware/vboard/ble.py), unix port only
        return __import__("vboard.ble", None, None, ("ble",))
    except ImportError:
        return None


def available():
    return _bluetooth() is not None


class Bonds:
    """Bond keys (the stack's secrets) in a JSON file: [[sec_type, key_hex, value_hex]]."""

    def __init__(self, path="ble_bonds.json"):
        self.path = path
        self.items = []
        import binascii
        try:
            with open(path) as f:
                d = json.loads(f.read())
            for it in d:
                self.items.append([it[0], binascii.unhexlify(it[1]),
                                   binascii.unhexlify(it[2])])
        except (OSError, ValueError, TypeError, IndexError):
            self.items = []

    def _save(self):
        import binascii
        out = [[t, binascii.hexlify(k).decode(), binascii.hexlify(v).decode()]
               for t, k, v in self.items]
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(out))
        import os
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.rename(tmp, self.path)

    def count(self):
        return len(self.items)

    def get(self, sec_type, index, key):
        if key is None:
            i = 0
            for t, k, v in self.items:
                if t == sec_type:
                    if i == index:
                        return v
                    i += 1
            return None
        key = bytes(key)
        for t, k, v in self.items:
            if t == sec_type and k == key:
                return v
        return None

    def set(self, sec_type, key, value):
        key = bytes(key) if key is not None else b""
        for i in range(len(self.items)):
            t, k, v = self.items[i]
            if t == sec_type and k == key:
                if value is None:
                    self.items.pop(i)
                else:
                    self.items[i][2] = bytes(value)
                self._save()
                return True
        if value is None:
            return False
        if len(self.items) >= MAX_BONDS * 4:   # a few secrets per bond
            self.items.pop(0)
        self.items.append([sec_type, key, bytes(value)])
        self._save()
        return True

    def remove(self, sec_type, key):
        return self.set(sec_type, key, None)


class BleLink:
    def __init__(self, cfg, board=None, profile=None):
        bt = _bluetooth()
        if bt is None:
            raise OSError("no bluetooth module on this port")
        self._bt = bt
        self.kind = "ble"
        self.cfg = cfg
        p = (profile or {}).get("ble") or {}
        self.pod_id = cfg.get("pod_id") or (board.unique_id() if board else "pod")
        self.backlog = Backlog(p.get("backlog_file", "backlog.bin"),
                               p.get("backlog_ram", 8192), p.get("backlog_bytes", 524288),
                               p.get("recent_bytes", 8192))
        self.pair_window_s = p.get("pair_window_s", PAIR_WINDOW_S)
        self.bonds = Bonds(p.get("bond_file", "ble_bonds.json"))
        self._boot_ms = time.ticks_ms()
        # the emulated radio (vboard) runs IRQs only inside its calls, where a real port runs
        # them between any bytecodes: poll() lets them in even when it does not wait
        self._events = getattr(bt, "wait_ms", None)
        self._wait = self._events or time.sleep_ms
        # connection state
        self.conn = None
        self.secure = False          # encrypted with a stored bond
        self.ready = False           # the host has written to CMD: it is listening
        self.mtu = 23
        self._new_bond = False       # keys stored during this connection
        self._refused = False        # a new bond was refused during this connection
        self._last_new = None
        self.rejected_writes = 0     # writes refused (not bonded / not encrypted)
        self.connects = 0
        self._down_ms = time.ticks_ms()
        self._down_samples = 0
        self._live_after_up = False
        self._up_ms = 0
        self._pending_log = None
        # byte rings
        self._tx = bytearray(_TX_BYTES)
        self._th = 0
        self._tn = 0
        self._rx = bytearray(_RX_BYTES)
        self._xr = 0                 # read index (main loop only)
        self._xw = 0                 # write index (IRQ only)
        self._down_flag = False      # set in the IRQ, handled in service()
        self._up_flag = False
        self._set_chunk(20)
        self._bbody = bytearray(MAX_BODY + 2)
        self._bout = bytearray(wire.max_encoded_len(MAX_BODY + 2))
        # radio
        ble = bt.BLE()
        self.ble = ble
        ble.active(True)
        for kw in ({"gap_name": adv_name(cfg.get("role", "pelvis"), self.pod_id)},
                   {"mtu": _PREFERRED_MTU},
                   {"bond": True}, {"le_secure": True}, {"mitm": False},
                   {"io": _IO_NO_INPUT_OUTPUT}):
            try:
                ble.config(**kw)
            except (ValueError, OSError, TypeError):
                pass   # a port without this setting (logged in docs/ble.md)
        ble.irq(self._irq)
        # bound once (no allocation per call); the ports' stubs lack its conn_handle
        self._gatts_notify = getattr(ble, "gatts_notify")
        u = bt.UUID
        from pod import config
        svc = (u(SVC_UUID), ((u(DATA_UUID), _FLAG_NOTIFY),
                             (u(CMD_UUID), _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE |
                              _FLAG_WRITE_ENCRYPTED)))
        dis = (u(0x180A), ((u(0x2A29), _FLAG_READ), (u(0x2A24), _FLAG_READ),
                           (u(0x2A26), _FLAG_READ)))
        bas = (u(0x180F), ((u(0x2A19), _FLAG_READ | _FLAG_NOTIFY),))
        ((self.h_data, self.h_cmd), (h_man, h_model, h_fw), (self.h_batt,)) = \
            ble.gatts_register_services((svc, dis, bas))
        ble.gatts_set_buffer(self.h_cmd, 256, True)
        ble.gatts_write(h_man, b"posturepod")
        ble.gatts_write(h_model, str(getattr(board, "name", "unknown")).encode())
        ble.gatts_write(h_fw, config.FW_VERSION.encode())
        self._board = board
        self._batt_at = time.ticks_ms()
        self.battery_level()
        self.advertise()

    # ---- helpers ----------------------------------------------------------------------
    def _set_chunk(self, n):
        self.chunk = n
        self._nb = bytearray(n)
        self._nbv = memoryview(self._nb)
        self._views = [None] * (n + 1)    # cached slices: no allocation per notification

    def pairing_open(self):
        return self.bonds.count() == 0 or \
            time.ticks_diff(time.ticks_ms(), self._boot_ms) < self.pair_window_s * 1000

    def advertise(self):
        radio = getattr(self, "radio", "on")
        try:
            if radio == "off":
                getattr(self.ble, "gap_advertise")(None)    # None stops advertising
                return
            adv, resp = advertising_payloads(self.cfg.get("role", "pelvis"), self.pod_id)
            self.ble.gap_advertise(ADV_SLOW_US if radio == "slow" else ADV_INTERVAL_US, adv,
                                   resp_data=resp)
        except OSError:
            pass

    def set_radio(self, mode):
        """Standalone mode's radio: "on" (normal advertising), "slow" (every 2 s) or "off"
        (no advertising once the host has disconnected)."""
        self.radio = mode
        if self.conn is None:
            self.advertise()

    def battery_level(self):
        b = self._board
        mv = b.battery_mv() if b else 0
        # LiPo: 3.3 V empty .. 4.15 V full, linear is good enough for a gauge
        pct = 0 if mv <= 3300 else (100 if mv >= 4150 else (mv - 3300) * 100 // 850)
        try:
            self.ble.gatts_write(self.h_batt, bytes((pct,)))
        except OSError:
            pass
        return pct

    def _update_live(self):
        bl = self.backlog
        bl.live = self.conn is not None and self.secure and self.ready and \
            _TX_BYTES - self._tn >= _LIVE_ROOM

    # ---- IRQ (runs scheduled, between bytecodes: keep short, copy buffers) -------------
    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            if self.conn is not None:      # one host at a time
                self.ble.gap_disconnect(conn)
                return
            self.conn = conn
            self.secure = False
            self.ready = False
            self._new_bond = False
            self._last_new = None
            self._refused = False
            self._set_chunk(20)
            self.mtu = 23
            self.connects += 1
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] != self.conn:
                return
            self.conn = None
            self.secure = False
            self.ready = False
            self.backlog.live = False
            self._down_flag = True
        elif event == _IRQ_GATTS_WRITE:
            conn, handle = data[0], data[1]
            if handle != self.h_cmd:
                return
            v = self.ble.gatts_read(handle)
            if conn != self.conn or not self.secure:
                self.rejected_writes += 1
                return
            rx = self._rx
            w = self._xw
            for b in v:
                w2 = w + 1 if w + 1 < _RX_BYTES else 0
                if w2 == self._xr:
                    break           # full: the command parser reports the broken line
                rx[w] = b
                w = w2
            self._xw = w
            if not self.ready:
                self.ready = True
                self._up_flag = True
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]
                n = data[1] - 3
                self._set_chunk(n if n < 244 else 244)
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted, bonded = data[0], data[1], data[3]
            if conn != self.conn:
                return
            if encrypted and bonded:
                if self._refused:      # a new bond outside the pairing window
                    self._forget_new_bond()
                    self.secure = False
                    self.ble.gap_disconnect(conn)
                    return
                self.secure = True
            else:
                self.secure = False
        elif event == _IRQ_GET_SECRET:
            sec_type, index, key = data
            return self.bonds.get(sec_type, index, None if key is None else bytes(key))
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            key = None if key is None else bytes(key)
            if value is not None and self.bonds.get(sec_type, 0, key) is None:
                if not self.pairing_open():
                    self._refused = True  # no new bonds outside the pairing window
                    return False
                self._new_bond = True
                self._last_new = (sec_type, key)
            return self.bonds.set(sec_type, key, None if value is None else bytes(value))

    def _forget_new_bond(self):
        nk = self._last_new
        if self._new_bond and nk:
            self.bonds.remove(nk[0], nk[1])
        self._new_bond = False
        self._last_new = None

    def _link_up(self):
        bl = self.backlog
        self._up_ms = time.ticks_ms()
        self._live_after_up = False
        down_s = time.ticks_diff(self._up_ms, self._down_ms) // 1000
        if bl.frames or bl.dropped_frames or self._down_samples:
            msg = "BLE link was down %d s: %d samples waiting in the backlog" % (
                down_s, bl.samples)
            if bl.dropped_frames:
                msg += "; backlog full: %d samples (%d frames, seq %d..%d) dropped" % (
                    bl.dropped_samples, bl.dropped_frames, bl.first_dropped_seq,
                    bl.last_dropped_seq)
            if bl.file_error:
                msg += "; backlog file error " + bl.file_error
            self._pending_log = ("warning" if bl.dropped_frames else "info", msg)
        self._update_live()

    def _link_down(self):
        self._th = 0
        self._tn = 0
        self._xr = self._xw
        self._down_ms = time.ticks_ms()
        self._pending_log = None
        self._down_samples = self.backlog.requeue_recent()
        if self.conn is None:
            self.advertise()

    # ---- link interface -----------------------------------------------------------------
    def write(self, buf, n):
        """Queue n bytes for the host. False (nothing queued) when the link is down or full."""
        if not self._queue(buf, n):
            return False
        if n > 2 and buf[2] == wire.MSG_SAMPLES:
            self._live_after_up = True   # live samples flow again since the link came back
        return True

    def _queue(self, buf, n):
        if self.conn is None or not self.ready or not self.secure:
            return False
        if _TX_BYTES - self._tn < n:
            self.backlog.live = False
            return False
        tx = self._tx
        t = self._th + self._tn
        if t >= _TX_BYTES:
            t -= _TX_BYTES
        for i in range(n):
            tx[t] = buf[i]
            t += 1
            if t == _TX_BYTES:
                t = 0
        self._tn += n
        self._update_live()
        return True

    def _notify(self):
        sent = 0
        c = self.conn
        while self._tn and sent < _NOTIFY_BURST and c is not None:
            k = self._tn if self._tn < self.chunk else self.chunk
            nb = self._nb
            h = self._th
            for i in range(k):
                nb[i] = self._tx[h]
                h += 1
                if h == _TX_BYTES:
                    h = 0
            v = self._views[k]
            if v is None:
                v = self._nbv[:k]
                self._views[k] = v
            try:
                ok = self._gatts_notify(c, self.h_data, v)
            except OSError:
                ok = False      # the stack's buffers are full: try again next poll
            if ok is False or self.conn is not c:
                break
            self._th = h
            self._tn -= k
            sent += 1
        return sent

    def _pump_backlog(self):
        bl = self.backlog
        if not bl.frames or not (self.conn is not None and self.secure and self.ready):
            return
        if not self._live_after_up and \
                time.ticks_diff(time.ticks_ms(), self._up_ms) < 500:
            return      # live samples first, so the host sees the backlog as late
        if self._tn > _BACKLOG_SHARE:
            return
        blen = bl.get(self._bbody)
        if blen:
            n = wire.encode_frame_into(self._bbody, blen, self._bout)
            if not self._queue(self._bout, n):
                self.backlog.put(self._bbody, blen)   # cannot happen (room checked)

    def service(self):
        if self._down_flag:
            self._down_flag = False
            self._link_down()
        if self._up_flag:
            self._up_flag = False
            self._link_up()
        if time.ticks_diff(time.ticks_ms(), self._batt_at) > 60000:
            self._batt_at = time.ticks_ms()
            self.battery_level()
        if self._pending_log is not None and self.backlog.live:
            lvl, msg = self._pending_log
            self._pending_log = None
            f = wire.encode_frame(wire.MSG_LOG, json.dumps({"level": lvl, "msg": msg}).encode())
            self.write(f, len(f))
        self._pump_backlog()
        if self._tn:
            self._notify()
        self._update_live()

    def poll(self, timeout_ms):
        if timeout_ms <= 0 and self._events is not None:
            self._events(0)     # a busy main loop never waits: IRQs come in here
        self.service()
        if self._xw != self._xr:
            return True
        if timeout_ms > 0:
            self._wait(timeout_ms)
            self.service()
        return self._xw != self._xr

    def read_byte(self):
        r = self._xr
        if r == self._xw:
            return -1
        b = self._rx[r]
        self._xr = r + 1 if r + 1 < _RX_BYTES else 0
        return b

    def close(self):
        try:
            getattr(self.ble, "gap_advertise")(None)    # None stops advertising
            if self.conn is not None:
                self.ble.gap_disconnect(self.conn)
        except OSError:
            pass
        self.backlog.close()


def open_link(cfg, board=None, profile=None):
    return BleLink(cfg, board, profile)
