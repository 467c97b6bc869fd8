"""Transports: how frames travel between host and pod (serial, BLE)."""
