# Runs the pod's tilt filter (pod/tilt.py) over recorded IMU samples, unchanged under the
# MicroPython unix port and CPython:  micropython tests/mp/tilt_run.py SAMPLES OUT
# SAMPLES: one JSON line {"gyr_scale", "acc_scale", "odr_hz", "seg_q14", "per_s", and
# optionally "acc_cal" (pod.json's) and "gyr_bias_mdps" (arm's)} then raw
# samples, 12 bytes each (acc xyz, gyr xyz, int16 little-endian: the IMU drivers' format).
# OUT: one line per group of per_s samples (one second): "mean min max n_valid rest"
# (angles in centidegrees, the mean over the samples that had an angle).
import json
import sys

try:
    from pod.tilt import Tilt, ANGLE_NONE
except ImportError:
    from posturepod.firmware.pod.tilt import Tilt, ANGLE_NONE


def run(src, dst):
    with open(src, "rb") as f:
        hdr = json.loads(f.readline())
        data = f.read()
    t = Tilt()
    t.set_acc_cal(hdr.get("acc_cal"))
    t.set_gyr_bias(hdr.get("gyr_bias_mdps"))
    t.configure(hdr["gyr_scale"], hdr["acc_scale"], hdr["odr_hz"])
    t.set_segment(hdr["seg_q14"])
    per = hdr["per_s"]
    n = len(data) // 12
    out = open(dst, "w")
    s = k = 0
    lo = 32767
    hi = -32768
    rest = 0
    for i in range(n):
        t.update(data, i * 12)
        a = t.angle_cdeg()
        if a != ANGLE_NONE:
            s += a
            k += 1
            lo = a if a < lo else lo
            hi = a if a > hi else hi
        rest += t.at_rest
        if (i + 1) % per == 0:
            out.write("%d %d %d %d %d\n" % (s // k if k else ANGLE_NONE, lo, hi, k, rest))
            s = k = rest = 0
            lo = 32767
            hi = -32768
    out.close()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
