"""Simulator internals (the public entry point is :mod:`posturepod.sim.simulate`).

- :mod:`.signals`   smooth driving signals: min-jerk keyframe channels, sums of sinusoids
- :mod:`.body`      the three-segment body: orientations, sensor positions, truth angles
- :mod:`.protocols` the scripted movements: calibration routine, flexion, sitting day
- :mod:`.restless`  postural restlessness on top (``sway`` level): sway, looking about,
                     nodding, weight shifts
- :mod:`.sensors`   mountings, sensor error and clock models, chunked sample generation
- :mod:`.truth`     episode detection on the truth series (slouch, head forward, breaks)

Quaternion maths (w-first, Hamilton convention) is :mod:`posturepod.motion.quaternion`.
"""
