"""Recordings: what a session leaves on disk and how analyses read it back.

- ``data``       the in-memory Recording every analysis consumes (PodData, Event, DataError)
- ``format``     the native format's constants and record layouts (docs/recording.md)
- ``writer``     append-only native writer (and ``write_native`` for imports)
- ``timeline``   clock alignment: device time -> recording clock (clock fits, gaps)
- ``columns``    samples read on demand, slice by slice
- ``reader``     open a native recording
- ``csvio``      the CSV interchange directory
- ``loader``     ``load(path)``: whichever of the two a path holds
"""
