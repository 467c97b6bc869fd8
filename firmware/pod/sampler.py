# Sampler: drains the IMU (FIFO or data-ready) whenever the main loop calls service(),
# timestamps every sample on the device clock and packs SAMPLES frames (pod/wire.py).
#
# Timing comes from the chip: the chip's output data rate fixes when samples exist; the pod
# only reads them. A read that returns n samples ends at `now`; the time elapsed since the
# previous sample is spread evenly over the n new ones, so the newest is stamped `now` and
# a stall (FIFO backlog) does not bunch timestamps; one read takes up to _READ_MAX samples,
# more than the deepest chip FIFO holds, so a read drains the chip and the newest really is
# the one made just before `now`. When the chip FIFO overflowed, the lost samples are
# estimated from the elapsed time (in periods of the chip's true output rate) and skipped
# in the sequence numbers, so the host sees a gap instead of a silent splice; the samples
# read after the gap are stamped one period apart, ending at `now`.
#
# When to read: stamping the newest sample `now` is right only if it was made just before
# `now`. Reading whenever the FIFO holds something (every pass of a 1 ms loop) keeps it so,
# but then the FIFO count is read over I2C a thousand times a second. So after a read the
# sampler does not look at the chip until the batch's last sample may be due, then looks
# at the FIFO count alone (imu.waiting(), one short transfer) every pass, and reads the
# samples when the count has grown since the previous look: the newest was made since
# that look, within one pass, as before. Due: the earliest the newest sample read can have
# been made (the previous look; one period before the read when the first look already
# found a whole batch, the loop being late) plus the batch's nominal span, less 1/32 of it
# for the chip's rate error and _EARLY_US; wait_us() tells the main loop how long it may
# sleep meanwhile. When the pass that reads came late (more than _WIDE_US after the
# previous look: a command was handled meanwhile), `now` would stamp the newest sample too
# late; it is stamped instead at the previous stamp plus n periods, kept between the
# earliest it can have been made and `now`.
#
# Steady state allocates nothing: preallocated raw/body/out buffers, struct.pack_into,
# integer-only arithmetic, time kept as 16-bit halves (pod/clock.py).
import struct

from pod import wire

_REC = 14          # dt u16 + 6 x int16
_RAW = 12
_HDR_END = 12      # type byte + SAMPLES header
_READ_MAX = 344    # samples per read: more than the deepest FIFO (LSM6DS3TR-C: 4 KB = 341)
_EARLY_US = 1500   # start looking this long before the batch's last sample is due (FIFO)
_EARLY_1_US = 600  # the same for a driver without FIFO (looked at every 150 us or so)
_WIDE_US = 2000    # a pass later than this after the previous look: stamp by the period


class Sampler:
    def __init__(self, imu, clock, link):
        self.imu = imu
        self.clock = clock
        self.link = link
        self._raw = bytearray(_RAW * _READ_MAX)
        self._body = bytearray(_HDR_END + _REC * wire.MAX_BATCH + 2)
        self._body[0] = wire.MSG_SAMPLES
        self._out = bytearray(wire.max_encoded_len(len(self._body)))
        self.seq = 0
        self.sent = 0           # samples sent since boot (mod 2**30)
        self.frames = 0
        self.streaming = False  # the IMU runs (raw frames sent only while `send`)
        self.send = True        # pack and send SAMPLES frames
        self.on_sample = None   # per-sample consumer(raw, offset, seq, t_lo, t_hi) or None
        self.batch = 1
        self.period_us = 10000
        self._count = 0
        self._flags = 0
        self._seq0 = 0
        self._t0lo = 0
        self._t0hi = 0
        self.tl = 0             # time of the last stamped sample, 16-bit halves
        self.th = 0
        self._have_last = False
        self._ovf_seen = 0
        self._carry = 0         # rounding left over by the last loss estimate, us
        self._open_us = 0       # after a read, look at the chip again after this long
        self._seen = -1         # samples waiting at the previous look, -1: none yet
        self._full = 1          # samples that make a read worth it at the first look
        self._rl = 0            # the newest sample read was made at or after this time
        self._rh = 0
        self._ll = 0            # the time of the previous look
        self._lh = 0
        self.backlog = getattr(link, "backlog", None)   # store and forward (pod/backlog.py)

    def start(self, rate_hz):
        # the chip's true output period, not the rate asked (e.g. 1000 Hz asked, 1666 Hz
        # given by an LSM6DSOX): losses on overflow are counted in chip samples
        odr = self.imu.odr_hz
        self.period_us = int(1000000 / odr + 0.5) if odr > 0 else 1000000 // rate_hz
        b = rate_hz // 50
        self.batch = 1 if b < 1 else (wire.MAX_BATCH if b > wire.MAX_BATCH else b)
        self._count = 0
        self._flags = 0
        self._have_last = False
        self._carry = 0
        # the batch's last sample is due batch x period after the newest one read
        span = (self.batch if self.imu.has_fifo else 1) * self.period_us
        o = span - (span >> 5) - (_EARLY_US if self.imu.has_fifo else _EARLY_1_US)
        self._open_us = o if o > 0 else 0
        self._full = self.batch if self.imu.has_fifo else 1
        self._seen = -1
        self.imu.start()
        self._ovf_seen = self.imu.overflows
        self.streaming = True

    def set_consumer(self, fn):
        """fn(raw, offset, seq, t_lo, t_hi) called for every sample, or None."""
        self.on_sample = fn

    def stop(self):
        if self.streaming and self.send:
            self.flush()
            self.imu.stop()
        self.streaming = False

    def _back(self, d):
        lo = self.clock.lo - d
        hi = self.clock.hi
        while lo < 0:
            lo += 0x10000
            hi = (hi - 1) & 0xFFFF
        self.tl = lo
        self.th = hi

    def _advance(self, d):
        lo = self.tl + d
        if lo > 0xFFFF:
            self.th = (self.th + (lo >> 16)) & 0xFFFF
            lo &= 0xFFFF
        self.tl = lo

    def wait_us(self):
        """Microseconds until service() looks at the chip again (0: now)."""
        if not self.streaming or not self._have_last:
            return 0
        clk = self.clock
        clk.update()
        w = self._open_us - clk.since(self._rl, self._rh)
        return w if w > 0 else 0

    def service(self):
        if not self.streaming:
            return 0
        clk = self.clock
        if self._have_last and clk.since(self._rl, self._rh) < self._open_us:
            return 0                    # the next batch is not due yet
        w = self.imu.waiting()
        seen = self._seen
        if w <= seen or (seen < 0 and w < self._full):
            self._seen = w              # nothing new since the last look
            self._ll = clk.lo
            self._lh = clk.hi
            return 0
        self._seen = -1
        n = self.imu.read(self._raw, _READ_MAX)
        if n == 0:
            return 0
        clk.update()
        if seen >= 0:                   # the newest was made since the previous look
            self._rl = self._ll
            self._rh = self._lh
        else:                           # at most one period ago
            lo = clk.lo - self.period_us
            hi = clk.hi
            while lo < 0:
                lo += 0x10000
                hi = (hi - 1) & 0xFFFF
            self._rl = lo
            self._rh = hi
        per = self.period_us
        wide = 0
        if self._have_last:
            el = clk.since(self.tl, self.th)
            wide = clk.since(self._rl, self._rh)    # the newest was made within this
        else:
            el = n * per
            self._back(el)
            self._have_last = True
        ovf = self.imu.overflows
        if ovf != self._ovf_seen:
            self._ovf_seen = ovf
            # samples the chip made in el, the rounding carried over from the previous
            # estimate so that repeated overflows (a driver that returns one sample per
            # read, a loop slower than the chip) do not accumulate rounding error. An
            # overflow means at least one sample was lost, whatever the estimate says (a
            # one-deep driver flags it as soon as a second sample lands before a read).
            el2 = el + self._carry
            made = (el2 + (per >> 1)) // per
            if made <= n:
                made = n + 1
            c = el2 - made * per
            self._carry = c if -per < c < per else 0
            lost = made - n
            if lost > 0:
                self.flush()
                self.seq = (self.seq + lost) & wire.SEQ_MASK
                el = n * per            # the n read are the newest: one period apart
                self._back(el)
            self._flags |= wire.FLAG_OVERFLOW
        else:
            self._carry = 0
            if wide > _WIDE_US:
                # this pass came late (a command was handled, a write blocked): `now` may
                # be well past the newest sample. It was made after the previous look (or
                # one period ago): put it where the chip's period says, within that.
                lo = el - wide
                p = n * per
                el = p if lo <= p <= el else (lo if p < lo else el)
        if el < n:
            el = n
        step = el // n
        rem = el - step * n
        raw = self._raw
        body = self._body
        bl = self.backlog
        batch = self.batch if bl is None or bl.live else wire.MAX_BATCH  # offline: fuller frames
        cb = self.on_sample
        send = self.send
        for i in range(n):
            dt = step + rem if i == n - 1 else step
            self._advance(dt)
            if cb is not None:
                cb(raw, i * _RAW, self.seq, self.tl, self.th)
            if not send:
                self.seq = (self.seq + 1) & wire.SEQ_MASK
                continue
            if self._count and dt > 0xFFFF:
                self.flush()
            if self._count == 0:
                self._seq0 = self.seq
                self._t0lo = self.tl
                self._t0hi = self.th
                dt = 0
            o = _HDR_END + self._count * _REC
            body[o] = dt & 0xFF
            body[o + 1] = dt >> 8
            wire.copy_fast(raw, i * _RAW, body, o + 2, _RAW, 0)
            self._count += 1
            self.seq = (self.seq + 1) & wire.SEQ_MASK
            if self._count >= batch:
                self.flush()
        return n

    def flush(self):
        c = self._count
        if c == 0:
            return
        body = self._body
        struct.pack_into(wire.SAMPLES_HDR, body, 1, self._seq0, self._t0lo, self._t0hi,
                         c, self._flags, 6)
        blen = _HDR_END + c * _REC
        bl = self.backlog
        if bl is not None and not bl.live:
            bl.put(body, blen)               # link down: kept, sent later with FLAG_BACKLOG
        else:
            n = wire.encode_frame_into(body, blen, self._out)
            if self.link.write(self._out, n) is False and bl is not None:
                bl.put(body, blen)           # link full
            elif bl is not None:
                bl.keep(body, blen)          # may be lost in flight if the link drops now
        self.sent = (self.sent + c) & wire.SEQ_MASK
        self.frames += 1
        self._count = 0
        self._flags = 0
