"""Pull a standalone pod's day log into a day-log recording (``posturepod sync``).

Per pod: ``log_info``; then ``log_read`` in chunks of up to ``wire.LOG_READ_MAX`` records
from where the recording's ``<role>.log`` ends (so a second run continues, and syncing
twice adds nothing twice). Every record is checked: its own CRC and its sequence number
(the next one expected). Records missing from a chunk (a frame lost on the link) are asked
for again; a record whose CRC fails twice is damaged on the pod's flash: counted, skipped.
Verified records are appended and fsynced before the manifest says so. Then pings give
the pod's clock against the host's wall time (the clock mapping, docs/recording.md), and
with ``clear`` the pod drops the records it no longer needs, only after all that is on
disk.
"""
from __future__ import annotations

import struct
import time
from pathlib import Path

from posturepod.firmware.pod import wire
from posturepod.pods.podlink import PodError, PodLink
from posturepod.pods.protocol import LogRecs
from posturepod.recordings import daylog as D

MAX_REREADS = 5        # consecutive re-reads of one place before giving up
N_PINGS = 12


class SyncError(Exception):
    """The sync of a pod cannot go on: the message says why and what is kept."""


def _wall_offset() -> float:
    """host wall time - host monotonic time, now (the pings are timed on the monotonic
    clock, the mapping is to UTC)."""
    a = time.monotonic()
    w = time.time()
    b = time.monotonic()
    return w - 0.5 * (a + b)


class PodSync:
    """One pod's sync into ``out`` (a day-log directory, created if needed)."""

    def __init__(self, role: str, spec: str, out: Path, meta: dict, *, chunk: int = 0,
                 link: PodLink | None = None, log=print):
        self.role, self.spec, self.out, self.meta = role, spec, Path(out), meta
        self.chunk = min(chunk or wire.LOG_READ_MAX, wire.LOG_READ_MAX)
        self.frames: list[LogRecs] = []
        self.link = link
        self.own_link = link is None
        self.log = log
        self.stats = {"added": 0, "bad_records": 0, "rereads": 0, "lost_before": 0}

    def _on_message(self, _link, m, _t) -> None:
        if isinstance(m.body, LogRecs):
            self.frames.append(m.body)

    # -- the steps -----------------------------------------------------------------------
    def run(self, clear: bool = False) -> dict:
        if self.link is None:
            self.link = PodLink(self.spec, name=self.role, auto_reconnect=False)
        prev_cb = self.link.on_message
        self.link.on_message = self._on_message
        try:
            if self.own_link:
                self.link.open()
            return self._sync(clear)
        finally:
            self.link.on_message = prev_cb
            if self.own_link:
                self.link.close()

    def _log_info(self) -> dict:
        for attempt in range(3):        # a reply lost to line noise: ask again
            try:
                return self.link.request("log_info", timeout_s=2.0).body  # type: ignore
            except PodError as e:
                if "refused" in str(e):
                    raise SyncError(f"{self.role} ({self.spec}): the pod has no standalone "
                                    f"log ({e}): flash it with this posturepod "
                                    f"(posturepod flash)") from None
                if attempt == 2:
                    raise SyncError(str(e)) from None
        raise AssertionError("unreachable")

    def _check_pod(self, info: dict, li: dict, pm: dict) -> None:
        pid = info.get("pod_id")
        if pm.get("pod_id") and pid and pm["pod_id"] != pid:
            raise SyncError(f"{self.out} holds the {self.role} log of pod {pm['pod_id']}, but "
                            f"{self.spec} is pod {pid}: sync it into another --out directory "
                            f"or give the right --pod {self.role}=PORT")
        if not li.get("arms") and int(li["next_seq"]) <= int(li["first_seq"]) \
                and not li.get("armed") and not pm.get("records"):
            raise SyncError(f"{self.role} ({self.spec}): this pod was never armed, so it has "
                            f"no day log: arm it first with posturepod wear")

    def _sync(self, clear: bool) -> dict:
        info = self.link.info or {}
        li = self._log_info()
        pods = self.meta.setdefault("pods", {})
        pm = pods.get(self.role, {})
        self._check_pod(info, li, pm)
        path = self.out / f"{self.role}.log"
        valid, have = D.stored_tail(path)
        if have > int(li["next_seq"]):
            raise SyncError(f"{self.role}: {path} already has records up to {have - 1}, but "
                            f"the pod's log ends at {int(li['next_seq']) - 1}: its log was "
                            f"started anew (reflashed?); sync it into a new --out directory")
        if valid and int(li["first_seq"]) > have:
            self.stats["lost_before"] = int(li["first_seq"]) - have
        t_start = time.monotonic()
        nxt = max(have, int(li["first_seq"]))
        for _ in range(4):            # an armed pod keeps logging while we read
            end = int(li["next_seq"])
            if nxt >= end:
                break
            valid, nxt = self._read_range(path, valid, nxt, end)
            li = self._log_info()
        pings = self._pings()
        li_end = self._log_info()
        entry = {"utc": D.utc_now(), "boot": li_end.get("boot_count"),
                 "armed": li_end.get("armed"), "first_seq": li_end.get("first_seq"),
                 "next_seq": nxt, "pod_next_seq": li_end.get("next_seq"),
                 "overwritten": li_end.get("overwritten"), "torn": li_end.get("torn"),
                 "capacity_records": li_end.get("capacity_records"),
                 "pings": pings, "read_s": round(time.monotonic() - t_start, 3),
                 "frame_errors": self.link.decoder.stats.crc_errors
                 + self.link.decoder.stats.bad_frames, **self.stats}
        arms = list(pm.get("arms", []))
        for a in li_end.get("arms") or []:
            if a not in arms:
                arms.append(a)
        boots = list(pm.get("boots", []))
        for b in li_end.get("boots") or []:
            if b not in boots:
                boots.append(b)
        pm["boots"] = boots
        pm.update({"spec": self.spec, "pod_id": info.get("pod_id") or pm.get("pod_id"),
                   "info": info, "settings": li_end.get("settings") or pm.get("settings"),
                   "arms": arms, "records": valid // D.LOGREC_SIZE,
                   "overwritten": li_end.get("overwritten"), "torn": li_end.get("torn")})
        pm.setdefault("syncs", []).append(entry)
        pods[self.role] = pm
        D.write_meta(self.out, self.meta)
        if clear:
            v2, n2 = D.stored_tail(path)       # verify what is on disk before dropping it
            if v2 != valid or n2 != nxt:
                raise SyncError(f"{self.role}: {path} does not read back as written; "
                                f"the pod's log was NOT cleared")
            self.link.request("log_clear", upto_seq=nxt, timeout_s=3.0)
            entry["cleared_upto"] = nxt
            D.write_meta(self.out, self.meta)
        return entry

    def _read_range(self, path: Path, valid: int, nxt: int, end: int) -> tuple[int, int]:
        rereads = 0
        last_bad = None
        while nxt < end:
            n = min(self.chunk, end - nxt)
            self.frames = []
            try:
                rep = self.link.request("log_read", from_seq=nxt, n=n, timeout_s=2.0).body
            except PodError as e:
                rereads += 1                # the reply lost on the link: ask again
                self.stats["rereads"] += 1
                if rereads <= MAX_REREADS and "refused" not in str(e):
                    continue
                raise SyncError(f"{self.role}: log_read from {nxt}: {e}; the "
                                f"{valid // D.LOGREC_SIZE} records stored so far are kept: "
                                f"run sync again to continue") from None
            start = int(rep.get("from_seq", nxt))     # type: ignore[union-attr]
            got = int(rep.get("n", 0))                # type: ignore[union-attr]
            if start > nxt:                # overwritten on the pod before we got them
                self.stats["lost_before"] += start - nxt
                nxt = start
            if got == 0:
                break
            good, bad = self._verify(nxt)
            if good:
                valid = D.append_records(path, good, valid)
                k = len(good) // D.LOGREC_SIZE
                nxt += k
                self.stats["added"] += k
            if nxt >= start + got:         # the whole chunk verified
                rereads, last_bad = 0, None
                continue
            if bad == nxt and last_bad == nxt:     # its CRC failed twice: flash damage
                self.stats["bad_records"] += 1
                nxt += 1
                rereads, last_bad = 0, None
                continue
            last_bad = bad                 # a bad CRC or a frame lost: read it again
            rereads += 1
            self.stats["rereads"] += 1
            if rereads > MAX_REREADS:
                raise SyncError(f"{self.role}: record {nxt} could not be read intact after "
                                f"{MAX_REREADS} tries; the records stored so far are kept: "
                                f"run sync again to continue")
        return valid, nxt

    def _verify(self, nxt: int) -> tuple[bytes, int | None]:
        """The verified run of records from ``nxt`` in the frames received, and the
        sequence number of the record that stopped it with a bad CRC or a wrong sequence
        number (None: it stopped at a record that did not arrive)."""
        recs = {}
        for f in self.frames:
            for i in range(f.n):
                recs[f.seq0 + i] = f.raw[i * D.LOGREC_SIZE:(i + 1) * D.LOGREC_SIZE]
        out = []
        s = nxt
        while s in recs:
            raw = recs[s]
            if not D.record_ok(raw) or struct.unpack_from("<I", raw)[0] != s:
                return b"".join(out), s
            out.append(raw)
            s += 1
        return b"".join(out), None

    def _pings(self) -> list:
        out = []
        for _ in range(N_PINGS):
            off = _wall_offset()
            try:
                p = self.link.ping(timeout_s=0.5)
            except PodError:
                continue
            out.append([round(p.t_mid + off, 6), int(p.dev_us), round(p.rtt_s, 6)])
        if not out:
            raise SyncError(f"{self.role}: no ping answered: the pod's clock cannot be "
                            f"mapped; the records are kept, run sync again")
        return out


def sync_pods(pods: dict[str, str], out: str | Path, *, clear: bool = False,
              patient: str = "", log=print) -> dict:
    """Sync each pod (role -> port) into the day-log ``out``; returns role -> sync entry
    (or {"error": message}). Pods are synced one after another."""
    out = Path(out)
    mf = out / "recording.json"
    if mf.exists():
        from posturepod.recordings.data import read_json_object
        meta = read_json_object(mf)
        if meta.get("kind") != D.KIND:
            raise SyncError(f"{out} holds a recording of another kind "
                            f"({meta.get('kind', 'streamed samples')}): choose a new --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        meta = D.new_meta(patient)
        D.write_meta(out, meta)
    res = {}
    for role, spec in pods.items():
        try:
            res[role] = PodSync(role, spec, out, meta, log=log).run(clear=clear)
        except (SyncError, PodError) as e:
            res[role] = {"error": str(e)}
    return res


def summary_line(role: str, e: dict) -> str:
    if "error" in e:
        return f"{role}: {e['error']}"
    best = min((p[2] for p in e["pings"]), default=float("nan"))
    parts = [f"{role}: {e['added']} new records (log {e['first_seq']}..{e['next_seq'] - 1})",
             f"{e['read_s']:.1f} s"]
    if e["bad_records"]:
        parts.append(f"{e['bad_records']} damaged on the pod, skipped")
    if e["rereads"]:
        parts.append(f"{e['rereads']} re-reads")
    if e["lost_before"]:
        parts.append(f"{e['lost_before']} overwritten on the pod before this sync")
    parts.append(f"{len(e['pings'])} pings (best round trip {best * 1e3:.1f} ms)")
    if "cleared_upto" in e:
        parts.append("pod log cleared")
    return ", ".join(parts)


