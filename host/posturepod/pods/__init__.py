"""Pods and links: the first host stage of the data's way.

- ``transport/``  byte pipes to one pod behind one interface (serial, BLE)
- ``protocol``    stream decoder on the firmware's wire codec (resync, CRC, stats)
- ``podlink``     one pod: commands and replies, reader thread
- ``session``     N pods by role: start together, pings for the clock, reconnects, stats
- ``acquire``     record a session to a native recording with a live status view
"""
