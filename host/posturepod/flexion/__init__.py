"""Standing forward-flexion test: analysis, live guided capture and report.

Modules (import the one you need; this package imports none of them):

* ``analysis``: :class:`FlexionConfig`, :func:`analyze` (the entry), the result
  :class:`FlexionResult`, the session summary and the JSON;
* ``repetitions``: finding the bends and their phases (start, peak, end), the calibration
  bend, the per-repetition record;
* ``rhythm``: lumbopelvic rhythm, lumbar share, peak angles, timing, the normal band;
* ``verdict``: :class:`VerdictRule`, the pattern names (``INCONCLUSIVE`` ...) and the
  verdict's reasons;
* ``smoothness``: SPARC and LDLJ of the trunk angular speed;
* ``signals``: the signal settings, uniform resampling and Savitzky-Golay smoothing;
* ``jsonsafe``: JSON-safe rounding of numbers;
* ``guide``: live guided capture of the test;
* ``report``: the HTML report.
"""
