"""What both ends of the emulated BLE link share (ble_bridge's peripherals, ble_radio's
centrals, ble_bleak's scanner and client): the pairing policy, advertising-data parsing and
UUID spelling."""
from __future__ import annotations

from bleak.uuids import normalize_uuid_str
from bumble.pairing import PairingConfig, PairingDelegate


def pairing_config(_conn=None) -> PairingConfig:
    return PairingConfig(sc=True, mitm=False, bonding=True,
                         delegate=PairingDelegate(
                             io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT))


def uuid_str(u) -> str:
    return normalize_uuid_str(u.to_hex_str("-").lower())


def ad_fields(data: bytes) -> tuple[str | None, list[str]]:
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
