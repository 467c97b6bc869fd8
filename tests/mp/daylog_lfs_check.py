# The day log (pod/daylog.py) on a real littlefs v2 filesystem of a Raspberry Pi Pico's
# size, in the MicroPython unix port (its VfsLfs2 is MicroPython's own littlefs driver, the
# one the rp2 port uses): a RAM block device of 352 blocks of 4 KiB (the rp2 port's 1408 KiB
# filesystem), the pod firmware's files written on it first (sources: more than the .mpy a
# flash writes), then:
#   capacity  - capacity from the free space; fill past it: the newest records kept,
#               every CRC good after a remount, the overwritten ones counted;
#   powercut  - the block device stops writing after k more block writes (k = 0..K) in
#               the middle of appending: after a remount, every record whose append
#               returned is there; at most the one being written is lost.
#   MICROPYPATH=firmware micropython tests/mp/daylog_lfs_check.py FIRMWARE_DIR
# Prints "OK ..." / "FAIL ..." lines, then "ALL OK" or "FAILED n". A file whose flush failed
# at the cut is closed later by the GC's finaliser, which then prints a harmless "heap is
# locked" traceback from readblocks on stderr (the filesystem is already unmounted).
import os
import sys

from pod import wire
from pod.daylog import DayLog

BLOCK = 4096
N_BLOCKS = 352
failures = []
_keep = []


class RamBlocks:
    """A block device (MicroPython's extended interface) in RAM; writes fail once `left`
    reaches 0 (a power cut: nothing after that reaches the flash)."""

    def __init__(self, n, data=None):
        self.n = n
        self.data = data if data is not None else bytearray(n * BLOCK)
        self.left = -1
        self.writes = 0

    def readblocks(self, num, buf, off=0):
        o = num * BLOCK + off
        buf[:] = self.data[o:o + len(buf)]

    def writeblocks(self, num, buf, off=None):
        if self.left == 0:
            raise OSError(5)          # EIO: the power is gone
        if self.left > 0:
            self.left -= 1
        self.writes += 1
        o = num * BLOCK + (off or 0)
        if off is None:               # a whole-block write includes the erase
            self.data[o:o + BLOCK] = b"\xff" * BLOCK
        self.data[o:o + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return BLOCK
        if op == 6:                   # erase
            o = arg * BLOCK
            self.data[o:o + BLOCK] = b"\xff" * BLOCK
            return 0
        return 0


def check(name, cond, why=""):
    if cond:
        print("OK", name, why)
    else:
        print("FAIL", name + ":", why)
        failures.append(name)


def mount(bdev, fresh=False):
    if fresh:
        os.VfsLfs2.mkfs(bdev)
    try:
        os.umount("/fs")
    except OSError:
        pass
    os.mount(os.VfsLfs2(bdev), "/fs")


def copy_firmware(src, dst):
    n = 0
    for name in os.listdir(src):
        p = src + "/" + name
        if os.stat(p)[0] & 0x4000:
            if name != "__pycache__":
                os.mkdir(dst + "/" + name)
                n += copy_firmware(p, dst + "/" + name)
        elif name.endswith(".py"):
            with open(p, "rb") as f:
                data = f.read()
            with open(dst + "/" + name, "wb") as f:
                f.write(data)
            n += len(data)
    return n


def records(d):
    """Read every record back through send() (the frames log_read sends), checking as it
    goes: returns (log, records read, all CRCs good and seqs consecutive from first_seq,
    all contents as written: mean_cdeg == seq % 3000 or 7)."""
    lg = DayLog(d)
    lg.open()
    st = [0, lg.first_seq(), True, True]     # n, next expected seq, ok, content

    class Sink:
        def write(self, buf, n):
            t, p = wire.decode_frame(bytes(buf[1:n - 1]))
            seq0, rr = wire.unpack_logrecs(p)
            for r in rr:
                st[0] += 1
                if not r[7] or r[0] != st[1]:
                    st[2] = False
                if r[2] != r[0] % 3000 and r[2] != 7:
                    st[3] = False
                st[1] = r[0] + 1

    seq = lg.first_seq()
    while seq < lg.next_seq:
        f, k = lg.send(Sink(), seq, 256)
        if k == 0:
            break
        seq = f + k
    return lg, st[0], st[2], st[3]


def capacity(fw_dir):
    bd = RamBlocks(N_BLOCKS)
    mount(bd, True)
    os.mkdir("/fs/pod")
    nbytes = copy_firmware(fw_dir + "/pod", "/fs/pod")
    with open(fw_dir + "/main.py", "rb") as f:
        data = f.read()
    with open("/fs/main.py", "wb") as f:
        f.write(data)
    st = os.statvfs("/fs")
    free_kb = st[0] * st[4] // 1024
    lg = DayLog("/fs/dlog")
    lg.open()
    cap = lg.set_capacity()
    print("firmware %d bytes of sources; %d KiB free; capacity %d records = %.1f h; "
          "segments of %d records, at most %d" % (nbytes, free_kb, cap, cap / 3600,
                                                  lg.seg_n, lg.max_segs))
    check("capacity_16h", cap >= 57600, "%d records" % cap)
    total = cap + 2 * lg.seg_n + 7          # past the capacity: the ring turns
    for i in range(total):
        lg.append(i & 0xFFFF, i % 3000, -5, 5, i % 200, 0)
    lg.close()
    st = os.statvfs("/fs")
    check("room_left", st[4] >= 2, "%d blocks free when full" % st[4])
    mount(bd)
    lg2, n, ok, content = records("/fs/dlog")
    kept = lg2.next_seq - lg2.first_seq()
    check("newest_kept", lg2.next_seq == total and kept >= cap and n == kept,
          "next %d kept %d read %d" % (lg2.next_seq, kept, n))
    check("overwritten_counted", lg2.overwritten == total - kept, "%d" % lg2.overwritten)
    check("crc_all", ok and content, "")
    os.umount("/fs")


def powercut():
    base = RamBlocks(64)
    mount(base, True)
    lg = DayLog("/fs/dlog")
    lg.open()
    lg.seg_n = 40
    lg.max_segs = 4
    lg.save()
    for i in range(150):                 # a ring already turning
        lg.append(i, i, i, i, 0, 0)
    lg.close()
    os.umount("/fs")
    snapshot = bytes(base.data)
    worst = 0
    cuts = 0
    for k in range(0, 40):
        bd = RamBlocks(64, bytearray(snapshot))
        mount(bd)
        lg = DayLog("/fs/dlog")
        lg.open()
        bd.left = k                      # the power goes after k more block writes
        done = lg.next_seq
        try:
            for i in range(60):
                lg.append(i, 7, 7, 7, 0, 0)
                done = lg.next_seq       # this append returned: the record is written
        except OSError:
            cuts += 1
        try:
            lg.close()
        except OSError:
            # the file stays open on the dead filesystem: keep it from the GC, whose
            # finaliser would flush it with the heap locked
            _keep.append(lg)
        try:
            os.umount("/fs")
        except OSError:
            pass
        bd.left = -1
        mount(bd)                       # the next boot
        lg2, n, ok, content = records("/fs/dlog")
        ok = ok and content and n == lg2.next_seq - lg2.first_seq()
        lost = done - lg2.next_seq
        if lost > worst:
            worst = lost
        if not ok or lost > 0 or lg2.next_seq > done + 1:
            check("powercut_%d" % k, False, "appended up to %d, read back up to %d, ok %s"
                  % (done, lg2.next_seq, ok))
        os.umount("/fs")
    check("powercut", cuts >= 30, "%d cuts at every block write, no returned record lost"
          % cuts)


capacity(sys.argv[1] if len(sys.argv) > 1 else "firmware")
powercut()
print("FAILED %d" % len(failures) if failures else "ALL OK")
sys.exit(1 if failures else 0)
