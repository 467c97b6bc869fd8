"""The transport interface: a byte pipe to one pod. The session and the pod link know
nothing else about the medium, so serial (pyserial), BLE (bleak) and replayed files are
interchangeable. Pod specs are URL-like: ``/dev/ttyACM0``, ``COM5``, ``ble:ID``."""
from __future__ import annotations

from abc import ABC, abstractmethod


class TransportError(Exception):
    """Root of transport errors; the message names the pod spec."""


class PortMissing(TransportError):
    """The port does not exist (no board plugged in, or a mistyped name): retrying the
    same name is pointless, so callers say so at once."""


class LinkLost(TransportError):
    """The link went away (unplugged, reset, out of range). Reopening may bring it back."""


class Transport(ABC):
    spec: str

    @abstractmethod
    def open(self) -> None:
        """Open the link; raise TransportError naming the spec if it cannot be opened."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def read(self, timeout_s: float) -> bytes:
        """Bytes received, b"" after timeout_s with none; raise LinkLost if the link died."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes; raise LinkLost if the link died."""

    @property
    def kind(self) -> str:
        return type(self).__name__
