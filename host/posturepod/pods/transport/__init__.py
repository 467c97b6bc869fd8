"""Transports: how frames travel between host and pod (serial, BLE), behind the one
interface of :mod:`.base`. ``open_transport`` picks one from a pod spec."""
from __future__ import annotations

from posturepod.pods.transport.base import Transport


def open_transport(spec: str) -> Transport:
    """Transport for a pod spec, not yet opened."""
    if spec.startswith("ble:"):
        from posturepod.pods.transport.ble import BleTransport
        return BleTransport(spec[4:])
    from posturepod.pods.transport.serial import SerialTransport
    return SerialTransport(spec)
