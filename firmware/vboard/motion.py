# Motion sources for the emulated IMUs: what the sensor feels at a true time, in integer
# units so that the chip models convert to counts without floats (no heap use):
#   acc 1e-5 m/s^2, gyr 1e-6 rad/s (urad/s), mag 1e-3 uT (nT); sensor (chip) axes.
# fill(t_us, out) writes 9 ints into out (array('i', 9)); t_us is true time since t0.
#
# Trace file (written by posturepod.virtual.trace), little-endian:
#   b"PPTRACE1", rate_hz:u32, n_pods:u16, n_ch:u16 (=9), n_pods x role:8s (NUL padded),
#   then records of n_pods*9 int32 (pod-major: pelvis acc,gyr,mag then thorax ...).
# Before the first record and after the last one the pod holds the nearest record (still).
from array import array
import struct

ACC_UNIT = 100000      # counts of the trace per m/s^2
GYR_UNIT = 1000000     # per rad/s
MAG_UNIT = 1000        # per uT
G_TRACE = 980665       # standard gravity in trace units
_CHUNK = 256


class StillSource:
    """A pod lying still, gravity along +z of the sensor."""

    def fill(self, t_us, out):
        for i in range(9):
            out[i] = 0
        out[2] = G_TRACE


class TraceSource:
    def __init__(self, path, role):
        f = open(path, "rb")
        hdr = f.read(16)
        if hdr[:8] != b"PPTRACE1":
            raise ValueError("not a posturepod trace: " + path)
        rate, n_pods, n_ch = struct.unpack("<IHH", hdr[8:16])
        idx = -1
        for i in range(n_pods):
            name = f.read(8).rstrip(b"\x00").decode()
            if name == role:
                idx = i
        if idx < 0:
            raise ValueError("trace %s has no pod %s" % (path, role))
        self._f = f
        self.rate_hz = rate
        self._stride = n_pods * n_ch
        self._col = idx * n_ch
        self._data0 = 16 + 8 * n_pods
        f.seek(0, 2)
        self.n = (f.tell() - self._data0) // (4 * self._stride)
        if self.n <= 0:
            raise ValueError("trace %s is empty" % path)
        self._cache = array("i", [0] * (_CHUNK * self._stride))
        self._c0 = -1
        self._cn = 0

    def _load(self, k):
        c0 = k - k % _CHUNK
        self._f.seek(self._data0 + 4 * c0 * self._stride)
        got = self._f.readinto(self._cache)
        self._c0 = c0
        self._cn = (got or 0) // (4 * self._stride)

    def fill(self, t_us, out):
        k = t_us * self.rate_hz // 1000000
        if k < 0:
            k = 0
        elif k >= self.n:
            k = self.n - 1
        if k < self._c0 or k >= self._c0 + self._cn:
            self._load(k)
        base = (k - self._c0) * self._stride + self._col
        c = self._cache
        for i in range(9):
            out[i] = c[base + i]
