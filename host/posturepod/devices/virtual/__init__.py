"""Virtual boards: the real firmware in the MicroPython unix port on a pseudo-terminal."""
