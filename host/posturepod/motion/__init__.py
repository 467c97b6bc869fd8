"""Motion: from sensor samples to segment angles.

- ``quaternion``         w-first quaternion maths shared by the filters and the simulator
- ``fusion``             orientation filters (ahrs, VQF), batch and live
- ``calibration``        sensor-to-segment frames from the calibration routine
- ``calibration_guide``  the live guide of that routine, shared by the exams' guides
- ``angles``             sagittal angles of pelvis, thorax, head, lumbar and neck
- ``live``               causal angles within milliseconds of a sample's arrival
"""
