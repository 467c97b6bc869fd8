# The day log: standalone mode's one record a second (pod/wire.py LOGREC_*, 16 bytes with
# its own CRC) on the pod's flash filesystem, as a ring of segment files (docs/standalone.md).
#
#   <dir>/s<first seq, 9 digits>.bin   records first..first+n-1, 16 bytes each, appended
#   <dir>/meta.json                    seg_n, max_segs, overwritten, torn, floor, next
#
# - Appending writes one record and flushes: a power cut loses at most the record being
#   written. At open, a last record cut short or failing its CRC is dropped and counted
#   (`torn`); its sequence number is reused and writing goes on in a new segment, so the
#   torn bytes are never followed by good ones in a file. Nothing else is dropped.
# - Full: opening a new segment beyond max_segs deletes the oldest one; its records not yet
#   cleared are counted in `overwritten`. The ring always keeps the newest
#   (max_segs - 1) * seg_n records at least: `capacity_records`.
# - Sequence numbers (30-bit) never restart while the log exists: `next` is kept in
#   meta.json, also when log_clear removes every segment.
# - Capacity from the free space (os.statvfs) when armed: segments of SEG_N records take
#   whole filesystem blocks (a LittleFS file of k blocks holds a little less than k blocks
#   of data: its block pointers), RESERVE_BLOCKS stay free for meta/state files.
# Appending allocates nothing but what the filesystem write itself does (1 Hz, not per
# sample); opening, rotating, reading and clearing allocate (rare).
import json
import os
import struct

from pod import wire

SEG_N = 2000               # records per segment: 32000 bytes, 8 blocks of 4 KB with pointers
RESERVE_BLOCKS = 8
MAX_SEGS = 400             # at most 800,000 records (9 days) whatever the free space
_PTR_BYTES = 64            # room for LittleFS's block pointers in a segment
_SIZE = wire.LOGREC_SIZE


def _name(d, first):
    return "%s/s%09d.bin" % (d, first)


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


class DayLog:
    def __init__(self, d="dlog"):
        self.dir = d
        self.segs = []          # first seq of each segment, oldest first
        self.counts = []        # records in each segment
        self.seg_n = SEG_N
        self.max_segs = 2
        self.overwritten = 0
        self.torn = 0
        self.floor = 0          # records below this seq were cleared
        self.next_seq = 0
        self._f = None
        self._fresh = True      # the next record opens a segment (the newest, or a new one)
        self._torn_tail = False # the newest segment ends in a torn record: never append to it
        self._rec = bytearray(_SIZE)
        self._body = bytearray(1 + wire.LOGRECS_HDR_SIZE + wire.LOGRECS_PER_FRAME * _SIZE + 2)
        self._body[0] = wire.MSG_LOGRECS
        self._out = bytearray(wire.max_encoded_len(len(self._body)))
        self.errors = []

    # ---- state ----------------------------------------------------------------------
    def open(self):
        """Read meta.json and the segment files; drop and count a torn tail."""
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        try:
            with open(self.dir + "/meta.json") as f:
                m = json.loads(f.read())
            self.seg_n = int(m.get("seg_n", SEG_N))
            self.max_segs = int(m.get("max_segs", 2))
            self.overwritten = int(m.get("overwritten", 0))
            self.torn = int(m.get("torn", 0))
            self.floor = int(m.get("floor", 0))
            self.next_seq = int(m.get("next", 0))
        except (OSError, ValueError, TypeError, AttributeError) as e:
            if _exists(self.dir + "/meta.json"):
                self.errors.append("day log meta.json unreadable: %r" % (e,))
        firsts = []
        for name in os.listdir(self.dir):
            if len(name) == 14 and name[0] == "s" and name[-4:] == ".bin":
                try:
                    firsts.append(int(name[1:10]))
                except ValueError:
                    pass
        firsts.sort()
        self.segs = []
        self.counts = []
        torn = 0
        for first in firsts:
            p = _name(self.dir, first)
            size = os.stat(p)[6]
            n = size // _SIZE
            if first == firsts[-1]:
                # the newest segment: a cut-short or bad last record is a torn write
                if size % _SIZE:
                    torn += 1
                elif n:
                    with open(p, "rb") as f:
                        f.seek((n - 1) * _SIZE)
                        f.readinto(self._rec)
                    if not wire.logrec_ok(self._rec):
                        n -= 1
                        torn += 1
            self.segs.append(first)
            self.counts.append(n)
        if self.segs:
            end = self.segs[-1] + self.counts[-1]
            if end > self.next_seq:
                self.next_seq = end
        self._fresh = True
        self._torn_tail = torn > 0
        if torn:
            self.torn += torn
            self.save()

    def save(self):
        m = {"seg_n": self.seg_n, "max_segs": self.max_segs, "overwritten": self.overwritten,
             "torn": self.torn, "floor": self.floor, "next": self.next_seq}
        tmp = self.dir + "/meta.tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(m))
        try:
            os.remove(self.dir + "/meta.json")   # FAT/some ports: rename does not replace
        except OSError:
            pass
        os.rename(tmp, self.dir + "/meta.json")

    def set_capacity(self, want_records=0):
        """Size the ring from the free space now (plus what the log already uses); with
        want_records > 0 (tests, or a user's limit) at most that many. Returns
        capacity_records (the newest records always kept)."""
        st = os.statvfs(self.dir)
        bsize = st[0] or 4096
        free_blocks = st[4]
        used = 0
        for c in self.counts:
            used += (c * _SIZE + bsize - 1) // bsize
        avail = free_blocks + used - RESERVE_BLOCKS
        seg_n = SEG_N
        if want_records > 0 and want_records < 4 * SEG_N:
            seg_n = max(2, want_records // 4)
        seg_blocks = (seg_n * _SIZE + _PTR_BYTES + bsize - 1) // bsize
        max_segs = avail // seg_blocks
        if max_segs > MAX_SEGS:
            max_segs = MAX_SEGS
        if want_records > 0:
            m = (want_records + seg_n - 1) // seg_n + 1
            if m < max_segs:
                max_segs = m
        if max_segs < 2:
            raise OSError("no room for the day log: %d blocks free" % free_blocks)
        self.seg_n = seg_n
        self.max_segs = max_segs
        self._fresh = True
        self.save()
        return self.capacity()

    def capacity(self):
        return (self.max_segs - 1) * self.seg_n

    def first_seq(self):
        if not self.segs:
            return self.next_seq
        return self.segs[0] if self.segs[0] > self.floor else min(self.floor, self.next_seq)

    def records(self):
        return self.next_seq - self.first_seq()

    # ---- writing --------------------------------------------------------------------
    def _rotate(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        changed = False
        while len(self.segs) >= self.max_segs:
            first = self.segs.pop(0)
            n = self.counts.pop(0)
            lost = first + n - (self.floor if self.floor > first else first)
            if lost > 0:
                self.overwritten += lost
            try:
                os.remove(_name(self.dir, first))
            except OSError:
                pass
            changed = True
        first = self.next_seq
        p = _name(self.dir, first)
        if _exists(p):                   # a torn segment starting here (nothing valid in it)
            os.remove(p)
            if self.segs and self.segs[-1] == first:
                self.segs.pop()
                self.counts.pop()
        self._f = open(p, "ab")
        self.segs.append(first)
        self.counts.append(0)
        self._fresh = False
        self._torn_tail = False
        if changed:
            self.save()

    def ready(self):
        """Open the segment the next record goes to (at arming and boot: the first
        record of a second then only writes)."""
        if self._fresh or self.counts[-1] >= self.seg_n:
            self._open_next()

    def _open_next(self):
        # go on in the newest segment while it has room and ends cleanly (after a reboot,
        # a re-arm): a reboot must not cost a whole segment of the ring; else a new one
        if (self.segs and self.counts[-1] < self.seg_n and not self._torn_tail
                and self.segs[-1] + self.counts[-1] == self.next_seq):
            if self._f is None:
                self._f = open(_name(self.dir, self.segs[-1]), "ab")
            self._fresh = False
            return
        self._rotate()

    def append(self, dev_s, mean_cdeg, min_cdeg, max_cdeg, motion, flags):
        """Write the next record (seq = next_seq) and flush it. Returns its seq."""
        if self._fresh or self.counts[-1] >= self.seg_n:
            self._open_next()
        seq = self.next_seq
        wire.pack_logrec_into(self._rec, 0, seq, dev_s, mean_cdeg, min_cdeg, max_cdeg,
                              motion, flags)
        f = self._f
        if f is None:
            raise OSError("day log segment not open")
        f.write(self._rec)
        f.flush()
        self.counts[-1] += 1
        self.next_seq = (seq + 1) & wire.SEQ_MASK
        return seq

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        self._fresh = True

    # ---- reading, clearing ------------------------------------------------------------
    def send(self, link, from_seq, n):
        """Send records from_seq.. (clamped to first_seq), at most n, as LOGRECS frames.
        Returns (from_seq used, records sent)."""
        first = self.first_seq()
        if from_seq < first:
            from_seq = first
        end = self.next_seq
        if n > end - from_seq:
            n = end - from_seq if end > from_seq else 0
        sent = 0
        body = self._body
        mv = memoryview(body)
        seq = from_seq
        for i in range(len(self.segs)):
            if sent >= n:
                break
            s0 = self.segs[i]
            c = self.counts[i]
            if seq >= s0 + c or seq < s0:
                continue
            with open(_name(self.dir, s0), "rb") as f:
                while sent < n and seq < s0 + c:
                    k = n - sent
                    if k > wire.LOGRECS_PER_FRAME:
                        k = wire.LOGRECS_PER_FRAME
                    if k > s0 + c - seq:
                        k = s0 + c - seq
                    f.seek((seq - s0) * _SIZE)
                    got = f.readinto(mv[1 + wire.LOGRECS_HDR_SIZE:
                                        1 + wire.LOGRECS_HDR_SIZE + k * _SIZE])
                    k = (got or 0) // _SIZE
                    if k == 0:
                        break
                    struct.pack_into(wire.LOGRECS_HDR, body, 1, seq, k)
                    ln = wire.encode_frame_into(body, 1 + wire.LOGRECS_HDR_SIZE + k * _SIZE,
                                                self._out)
                    link.write(self._out, ln)
                    seq += k
                    sent += k
        return from_seq, sent

    def clear(self, upto_seq):
        """Drop records before upto_seq (whole segments are deleted)."""
        if upto_seq > self.next_seq:
            upto_seq = self.next_seq
        if upto_seq > self.floor:
            self.floor = upto_seq
        cur = self.segs[-1] if (self.segs and self._f is not None) else -1
        while self.segs and self.segs[0] + self.counts[0] <= self.floor and self.segs[0] != cur:
            first = self.segs.pop(0)
            self.counts.pop(0)
            try:
                os.remove(_name(self.dir, first))
            except OSError:
                pass
        self.save()
