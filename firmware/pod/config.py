# pod.json: the pod's own settings. A missing or malformed file falls back to safe defaults;
# every problem is kept in `errors` and reported to the host in the info message.
import json

FW_VERSION = "0.1.0"
ROLES = ("pelvis", "thorax", "head")
ACC_RANGES_G = (2, 4, 8, 16)
GYR_RANGES_DPS = (250, 500, 1000, 2000)
TRANSPORTS = ("serial", "ble")
# an accelerometer calibration's limits, the pod's and the host's
# (posturepod.recordings.acc_calibration): beyond them it is not a calibration
ACC_CAL_MAX_GAIN_ERROR = 0.08     # |G - I| per element
ACC_CAL_MAX_BIAS_M_S2 = 2.0       # |b| per axis
ACC_CAL_SYMMETRY = 1e-4           # |G - G^T| per element

DEFAULTS = {
    "role": "pelvis",
    "rate_hz": 100,
    "acc_range_g": 8,
    "gyr_range_dps": 1000,
    "transport": "serial",
    "board": "",
    "pod_id": "",
    "acc_cal": None,   # the accelerometer's own calibration (host: recordings/acc_calibration.py)
}


def _nums(v, n):
    if not isinstance(v, list) or len(v) != n:
        return False
    for x in v:
        if not isinstance(x, (int, float)) or x != x or x > 100 or x < -100:
            return False
    return True


def _acc_cal_ok(v):
    """None, or {"bias_m_s2": 3 numbers, "gain": 9 numbers, ...}: kept, reported in INFO and
    applied by the pod's own tilt filter (pod/tilt.py); the host applies it to the raw
    samples (the pod sends raw counts). Within the ACC_CAL_* limits: gain symmetric and
    near the identity, bias small."""
    if v is None:
        return True
    if not isinstance(v, dict) or not _nums(v.get("bias_m_s2"), 3) or not _nums(v.get("gain"), 9):
        return False
    for k in v:
        if k not in ("bias_m_s2", "gain", "rms_m_s2", "poses"):
            return False
    g = v["gain"]
    for i in range(9):
        if abs(g[i] - (1 if i in (0, 4, 8) else 0)) > ACC_CAL_MAX_GAIN_ERROR:
            return False
    sym = ACC_CAL_SYMMETRY
    if abs(g[1] - g[3]) > sym or abs(g[2] - g[6]) > sym or abs(g[5] - g[7]) > sym:
        return False
    for b in v["bias_m_s2"]:
        if abs(b) > ACC_CAL_MAX_BIAS_M_S2:
            return False
    return True


def _check(cfg, key, val, errors):
    if key == "role":
        ok = val in ROLES
    elif key == "rate_hz":
        ok = isinstance(val, int) and 25 <= val <= 1000
    elif key == "acc_range_g":
        ok = val in ACC_RANGES_G
    elif key == "gyr_range_dps":
        ok = val in GYR_RANGES_DPS
    elif key == "transport":
        ok = val in TRANSPORTS
    elif key in ("board", "pod_id"):
        ok = isinstance(val, str)
    elif key == "acc_cal":
        ok = _acc_cal_ok(val)
    else:
        errors.append("pod.json: unknown key %s ignored" % key)
        return
    if ok:
        cfg[key] = val
    else:
        errors.append("pod.json: bad %s %r, using %r" % (key, val, cfg[key]))


def load(path="pod.json"):
    """Return (cfg, errors). Never raises."""
    cfg = dict(DEFAULTS)
    errors = []
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        errors.append("pod.json missing, using defaults")
        return cfg, errors
    try:
        raw = json.loads(text)
    except ValueError:
        errors.append("pod.json is not valid JSON, using defaults")
        return cfg, errors
    if not isinstance(raw, dict):
        errors.append("pod.json is not a JSON object, using defaults")
        return cfg, errors
    for k in raw:
        _check(cfg, k, raw[k], errors)
    return cfg, errors


def validate(key, val):
    """Check one setting from a host command; return an error string or None."""
    errs = []
    tmp = dict(DEFAULTS)
    _check(tmp, key, val, errs)
    return errs[0].replace("pod.json: ", "").split(",")[0] if errs else None


def save(cfg, path="pod.json"):
    keep = {}
    for k in DEFAULTS:
        if k in cfg:
            keep[k] = cfg[k]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(keep))
    import os
    try:
        os.remove(path)
    except OSError:
        pass
    os.rename(tmp, path)
