"""Devices: putting the firmware on boards and checking them.

- ``deploy``    ``posturepod flash``: compile, copy, verify, reboot (with its helpers)
- ``selftest``  ``posturepod selftest``: gravity, gyro, rate, stream, motor
- ``virtual/``  virtual boards: the unchanged firmware in the MicroPython unix port behind a
  pseudo-terminal, emulated IMUs and BLE radio, virtual patients (POSIX only)
"""
