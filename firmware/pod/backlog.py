# Store and forward for a radio link (pod/link_ble.py): while the link is down (or too
# slow), SAMPLES frame bodies are kept here instead of being lost, and sent again later
# with FLAG_BACKLOG, their original sequence numbers and timestamps. See docs/ble.md.
#
# Storage: one FIFO byte stream of entries  len:u16 | body[len]  (body = the frame body the
# sampler builds: type byte, SAMPLES header, records; no CRC). The stream is, oldest first:
#   read cache (RAM, bytes already read back from the file) | file | RAM ring
# New entries go to the RAM ring; when it is full its oldest half moves to the end of the
# file in one write (flash likes few large writes). Reading takes from the cache, refilled
# from the file, then from the RAM ring. When RAM ring and file are both full the incoming
# frame is dropped and counted (dropped_samples, dropped_frames, first_dropped_seq): the
# host sees the sequence gap, the pod reports the count in STATUS and in a LOG message.
#
# Recent window: every frame sent live is also copied into a small ring (`keep`). When the
# link drops, frames queued in the radio stack or in the air are lost without notice, so
# the window is put back into the backlog (`requeue_recent`): the host drops the copies it
# already has (same sequence numbers).
#
# No heap allocation per frame in put/get/keep (byte loops over preallocated buffers);
# the file path allocates a memoryview per spill or refill (once per several kB).
import sys

if sys.implementation.name == "micropython":
    from micropython import const  # type: ignore[import-not-found]
else:
    def const(__x):  # noqa: D103
        return __x

from pod import wire

_N_AT = const(9)          # body offset of n (type 1, seq0 4, t0 4)
_FLAGS_AT = const(10)     # body offset of flags
_SEQ_AT = const(1)
MAX_BODY = const(1 + 11 + 32 * 20)   # 9-axis batch of 32: the largest SAMPLES body


class Backlog:
    def __init__(self, path="backlog.bin", ram_bytes=8192, file_bytes=524288,
                 recent_bytes=8192, cache_bytes=1024):
        self.path = path
        self.file_bytes = file_bytes
        self.live = False             # set by the link: frames may go out now
        self._ram = bytearray(ram_bytes)
        self._rsz = ram_bytes
        self._rh = 0                  # ring head (oldest byte)
        self._rn = 0                  # bytes in the ring
        self._rec = bytearray(recent_bytes)
        self._csz = recent_bytes
        self._ch = 0
        self._cn = 0
        self._cache = bytearray(cache_bytes)
        self._cache_mv = memoryview(self._cache)
        self._ksz = cache_bytes
        self._kh = 0
        self._kn = 0
        self._f = None
        self._fr = 0                  # file read offset
        self._fw = 0                  # file write offset (end of data)
        self._lenb = bytearray(2)
        self._tmp = bytearray(MAX_BODY + 2)
        self.samples = 0              # samples waiting
        self.frames = 0               # frames waiting
        self.stored = 0               # samples ever stored (mod 2**30)
        self.dropped_samples = 0      # lost to a full backlog (never silently: reported)
        self.dropped_frames = 0
        self.first_dropped_seq = -1
        self.last_dropped_seq = -1
        self.discarded = 0            # samples cleared by clear() (a new stream started)
        self.peak_bytes = 0
        self.file_error = None
        try:
            import os
            os.remove(path)           # a backlog of a previous boot has another clock
        except OSError:
            pass

    # ---- byte stream primitives -----------------------------------------------------
    def _ram_put(self, src, off, k):
        r = self._ram
        sz = self._rsz
        t = self._rh + self._rn
        if t >= sz:
            t -= sz
        for i in range(off, off + k):
            r[t] = src[i]
            t += 1
            if t == sz:
                t = 0
        self._rn += k

    def _ram_take(self, dst, off, k):
        r = self._ram
        sz = self._rsz
        h = self._rh
        for i in range(off, off + k):
            dst[i] = r[h]
            h += 1
            if h == sz:
                h = 0
        self._rh = h
        self._rn -= k

    def _take(self, dst, off, k):
        """Move the k oldest bytes of the stream into dst[off:]."""
        while k > 0:
            if self._kn == 0 and self._fw > self._fr:
                self._refill()
            if self._kn:
                m = k if k < self._kn else self._kn
                c = self._cache
                h = self._kh
                for i in range(off, off + m):
                    dst[i] = c[h]
                    h += 1
                self._kh = h
                self._kn -= m
            else:
                m = k if k < self._rn else self._rn
                if m == 0:
                    raise ValueError("backlog stream truncated")
                self._ram_take(dst, off, m)
            off += m
            k -= m

    def _refill(self):
        n = self._fw - self._fr
        if n > self._ksz:
            n = self._ksz
        f = self._f
        if f is None:
            raise OSError(5)
        f.seek(self._fr)
        got = f.readinto(self._cache_mv[:n]) if n < self._ksz else f.readinto(self._cache)
        if not got:
            raise OSError(5)
        self._fr += got
        self._kh = 0
        self._kn = got
        if self._fr >= self._fw:      # file drained: start over at its beginning
            self._fr = 0
            self._fw = 0

    def _spill(self, want):
        """Move up to `want` of the oldest RAM bytes to the end of the file."""
        room = self.file_bytes - self._fw
        k = want if want < self._rn else self._rn
        if k > room:
            k = room
        if k <= 0:
            return 0
        try:
            if self._f is None:
                self._f = open(self.path, "w+b")
            f = self._f
            f.seek(self._fw)
            h = self._rh
            a = self._rsz - h
            mv = memoryview(self._ram)
            if a >= k:
                f.write(mv[h:h + k])
            else:
                f.write(mv[h:self._rsz])
                f.write(mv[0:k - a])
            f.flush()
        except OSError as e:
            self.file_error = repr(e)
            return 0
        self._fw += k
        h = self._rh + k
        if h >= self._rsz:
            h -= self._rsz
        self._rh = h
        self._rn -= k
        return k

    # ---- API --------------------------------------------------------------------------
    def bytes_waiting(self):
        return self._kn + (self._fw - self._fr) + self._rn

    def put(self, body, blen):
        """Store one SAMPLES body (body[:blen]). Returns False when it was dropped."""
        need = blen + 2
        free = self._rsz - self._rn
        if free < need:
            want = self._rsz >> 1
            if want < need - free:
                want = need - free
            self._spill(want)
            free = self._rsz - self._rn
        n = body[_N_AT]
        if free < need or blen > MAX_BODY:
            self.dropped_samples += n
            self.dropped_frames += 1
            s = body[_SEQ_AT] | (body[_SEQ_AT + 1] << 8) | (body[_SEQ_AT + 2] << 16) | \
                ((body[_SEQ_AT + 3] & 0x3F) << 24)
            if self.first_dropped_seq < 0:
                self.first_dropped_seq = s
            self.last_dropped_seq = (s + n - 1) & wire.SEQ_MASK
            return False
        lb = self._lenb
        lb[0] = blen & 0xFF
        lb[1] = blen >> 8
        self._ram_put(lb, 0, 2)
        self._ram_put(body, 0, blen)
        self.samples += n
        self.frames += 1
        self.stored = (self.stored + n) & wire.SEQ_MASK
        w = self.bytes_waiting()
        if w > self.peak_bytes:
            self.peak_bytes = w
        return True

    def get(self, dst):
        """Oldest stored body into dst (MAX_BODY + 2 bytes), marked FLAG_BACKLOG.
        Returns its length, 0 when empty."""
        if self.frames == 0:
            return 0
        lb = self._lenb
        self._take(lb, 0, 2)
        blen = lb[0] | (lb[1] << 8)
        self._take(dst, 0, blen)
        dst[_FLAGS_AT] |= wire.FLAG_BACKLOG
        self.samples -= dst[_N_AT]
        self.frames -= 1
        return blen

    def keep(self, body, blen):
        """Remember a frame just sent live (recent window, oldest forgotten first)."""
        need = blen + 2
        if need > self._csz:
            return
        r = self._rec
        sz = self._csz
        while self._csz - self._cn < need:      # forget the oldest entries
            h = self._ch
            h2 = h + 1 if h + 1 < sz else 0
            k = (r[h] | (r[h2] << 8)) + 2
            h += k
            if h >= sz:
                h -= sz
            self._ch = h
            self._cn -= k
        t = self._ch + self._cn
        if t >= sz:
            t -= sz
        r[t] = blen & 0xFF
        t = t + 1 if t + 1 < sz else 0
        r[t] = blen >> 8
        t = t + 1 if t + 1 < sz else 0
        for i in range(blen):
            r[t] = body[i]
            t += 1
            if t == sz:
                t = 0
        self._cn += need

    def requeue_recent(self):
        """The link dropped: frames sent lately may never have arrived. Store them again.
        Returns the number of samples requeued."""
        r = self._rec
        sz = self._csz
        tmp = self._tmp
        total = 0
        while self._cn > 0:
            h = self._ch
            blen = r[h] | (r[h + 1 if h + 1 < sz else 0] << 8)
            h += 2
            if h >= sz:
                h -= sz
            for i in range(blen):
                tmp[i] = r[h]
                h += 1
                if h == sz:
                    h = 0
            self._ch = h
            self._cn -= blen + 2
            total += tmp[_N_AT]
            self.put(tmp, blen)
        self._ch = 0
        return total

    def forget_recent(self):
        self._ch = 0
        self._cn = 0

    def clear(self):
        """Drop everything (a new stream starts). Returns the samples discarded."""
        n = self.samples
        self.discarded += n
        self._rh = self._rn = 0
        self._kh = self._kn = 0
        self._fr = self._fw = 0
        self.samples = self.frames = 0
        self.forget_recent()
        return n

    def close(self):
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
