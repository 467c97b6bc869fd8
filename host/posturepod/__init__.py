"""posturepod: IMU posture pods (MicroPython firmware) and the host toolkit."""

__version__ = "0.1.0"
