"""The emulated Raspberry Pi Pico (docs/pico.md): MicroPython's RPI_PICO image in the
rp2040js RP2040 emulator (``emulator.mjs``, run by Node), bridged to a pseudo-terminal
(``bridge``), with the project's own IMU register models on its I2C bus (``chip_bus``)."""
