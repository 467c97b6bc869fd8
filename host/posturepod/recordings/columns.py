"""Columns of a long recording read on demand, so a chunked analysis of a whole day holds
one chunk of samples, not the day (docs/recording.md, "Reading long recordings").

A :class:`Column` looks like a read-only numpy array (``len``, ``shape``, ``[i]``,
``[i0:i1]``, ``[i0:i1, k]``) but computes or reads each slice when it is asked for.
``searchsorted`` finds times in a monotonic column without reading it whole (a sparse index
of every ``MARK_EVERY``-th value, then one block). Anything else (``np.asarray``,
arithmetic, fancy indexing, array methods) materialises the whole column, so code written
for arrays keeps working, at the memory cost of an array.

- :class:`RecordFile`: fixed-size binary records read with ``pread`` (no memory map: pages
  that were read do not stay in the process's resident set).
- :class:`FieldColumn`: one field of a :class:`RecordFile`, optionally times a scale
  (raw int16 counts to SI units).
- :class:`MappedColumn`: another column with a row-wise function applied on each read (a
  pod's accelerometer calibration).
"""
from __future__ import annotations

import operator
import os
import weakref
from pathlib import Path

import numpy as np

MARK_EVERY = 256          # samples per entry of the searchsorted index
BLOCK = 1 << 16           # samples per block when a column is scanned


class Column:
    """Read-only, array-like column of ``n`` rows; subclasses implement ``_read(i0, i1)``
    (rows ``i0..i1-1`` as an ndarray)."""

    def __init__(self, n: int, tail: tuple = (), dtype=np.float64):
        self._n = int(n)
        self._tail = tuple(tail)
        self.dtype = np.dtype(dtype)
        self._marks: np.ndarray | None = None

    # -- array protocol ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return (self._n,) + self._tail

    @property
    def ndim(self) -> int:
        return 1 + len(self._tail)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self._n

    def _read(self, i0: int, i1: int) -> np.ndarray:       # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, k):
        rest = ()
        if isinstance(k, tuple):
            k, rest = k[0], k[1:]
        if isinstance(k, (int, np.integer)):
            i = int(k) + (self._n if k < 0 else 0)
            if not 0 <= i < self._n:
                raise IndexError(f"index {int(k)} out of range for length {self._n}")
            out = self._read(i, i + 1)[0]
            return out[rest] if rest else out
        if isinstance(k, slice):
            i0, i1, step = k.indices(self._n)
            if step > 0:
                out = self._read(i0, max(i1, i0))[::step]
            else:
                out = np.asarray(self)[k]
        else:                                     # index arrays, masks: the whole column
            out = np.asarray(self)[k]
        return out[(slice(None),) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        a = self._read(0, self._n)
        return a if dtype is None else a.astype(dtype, copy=False)

    def __iter__(self):
        return iter(np.asarray(self))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def blocks(self, block: int = BLOCK):
        """(i0, rows) for successive blocks of the whole column."""
        for i0 in range(0, self._n, block):
            yield i0, self._read(i0, min(i0 + block, self._n))

    # -- monotonic search ---------------------------------------------------------------
    def searchsorted(self, v, side: str = "left"):
        """Like ``np.searchsorted`` on a non-decreasing 1-D column, reading only the blocks
        the values fall in."""
        if self._marks is None:
            # BLOCK is a multiple of MARK_EVERY: every block starts on a mark
            self._marks = np.concatenate([b[::MARK_EVERY].copy() for _, b in self.blocks()]) \
                if self._n else np.zeros(0)
        vv = np.asarray(v, dtype=np.float64)
        flat = np.atleast_1d(vv).ravel()
        j = np.searchsorted(self._marks, flat, side)
        out = np.zeros(len(flat), dtype=np.intp)
        # the answer for a value in mark interval jj lies in rows (jj-1)*M .. jj*M: read
        # neighbouring intervals together, up to BLOCK rows at a time
        uj = np.unique(j[j > 0])
        k = 0
        while k < len(uj):
            first = int(uj[k])
            while k + 1 < len(uj) and (int(uj[k + 1]) - first + 1) * MARK_EVERY <= BLOCK:
                k += 1
            last = int(uj[k])
            k += 1
            lo, hi = (first - 1) * MARK_EVERY, min(last * MARK_EVERY, self._n)
            sel = (j >= first) & (j <= last)
            out[sel] = lo + np.searchsorted(self._read(lo, hi), flat[sel], side)
        return int(out[0]) if vv.ndim == 0 else out.reshape(vv.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"


def _arith(op):
    def f(self, other):
        return op(np.asarray(self), other)

    def r(self, other):
        return op(other, np.asarray(self))
    return f, r


for _name, _fn in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("matmul", operator.matmul),
                   ("pow", operator.pow)):
    _f, _r = _arith(_fn)
    setattr(Column, f"__{_name}__", _f)
    setattr(Column, f"__r{_name}__", _r)
for _name, _fn in (("lt", operator.lt), ("le", operator.le), ("gt", operator.gt),
                   ("ge", operator.ge)):
    setattr(Column, f"__{_name}__", _arith(_fn)[0])
Column.__neg__ = lambda self: -np.asarray(self)  # type: ignore[attr-defined]


class RecordFile:
    """Fixed-size records of ``dtype`` in ``path`` (the first ``n`` whole records; a torn
    last record is ignored), read with ``pread``."""

    def __init__(self, path: str | Path, dtype: np.dtype, n: int | None = None):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        size = self.path.stat().st_size if self.path.exists() else 0
        self.n = size // self.dtype.itemsize if n is None else int(n)
        self._fd = os.open(self.path, os.O_RDONLY) if self.n else -1
        if self._fd >= 0:
            weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.n

    def read(self, i0: int, i1: int) -> np.ndarray:
        i0, i1 = max(int(i0), 0), min(int(i1), self.n)
        if i1 <= i0:
            return np.zeros(0, dtype=self.dtype)
        size = self.dtype.itemsize
        want = (i1 - i0) * size
        buf = bytearray(want)
        view = memoryview(buf)
        got = 0
        while got < want:          # pread may return less than asked
            k = os.preadv(self._fd, [view[got:]], i0 * size + got)
            if k <= 0:
                raise OSError(f"{self.path}: file shrank while reading")
            got += k
        return np.frombuffer(buf, dtype=self.dtype)

    def read_mapped(self, runs: RunMap, i0: int, i1: int) -> np.ndarray:
        """Rows i0..i1-1 of the order ``runs`` describes (one read per span of runs that
        follow one another in the file)."""
        parts = [self.read(f0, f0 + (o1 - o0)) for _, _, o0, o1, f0 in runs.spans(i0, i1)]
        if not parts:
            return np.zeros(0, dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def field(self, name: str, scale: float | None = None,
              runs: RunMap | None = None) -> FieldColumn:
        return FieldColumn(self, name, scale, runs)


class RunMap:
    """An order of a file's records (some left out, some moved: late samples put in place)
    as runs of consecutive records: row ``out[k] + j`` is record ``file[k] + j`` within run
    ``k``. Runs are also cut at the records in ``cuts`` (segment starts) and every
    ``max_len`` rows, so each run start can carry a checkpoint."""

    def __init__(self, order: np.ndarray, cuts: np.ndarray | None = None,
                 max_len: int = 1024):
        order = np.asarray(order, dtype=np.int64)
        self.n = len(order)
        if not self.n:
            self.out = self.file = np.zeros(0, dtype=np.int64)
            return
        brk = np.diff(order) != 1
        if cuts is not None and len(cuts):
            brk |= np.isin(order[1:], np.asarray(cuts, dtype=np.int64))
        starts = np.flatnonzero(np.concatenate([[True], brk]))
        lens = np.diff(np.concatenate([starts, [self.n]]))
        extra = [np.arange(s + max_len, s + ln, max_len) for s, ln in zip(starts, lens)
                 if ln > max_len]
        if extra:
            starts = np.sort(np.concatenate([starts] + extra))
        self.out = starts.astype(np.int64)
        self.file = order[self.out]
        self._joined: np.ndarray | None = None

    @classmethod
    def from_starts(cls, out: np.ndarray, file: np.ndarray, n: int) -> RunMap:
        """Runs given by their starts: row ``out[k]`` is record ``file[k]``."""
        m = cls.__new__(cls)
        m.n = int(n)
        m.out = np.asarray(out, dtype=np.int64)
        m.file = np.asarray(file, dtype=np.int64)
        m._joined = None
        return m

    def __len__(self) -> int:
        return len(self.out)

    def indices(self) -> np.ndarray:
        """The whole order as an array (n integers: for checks)."""
        out = np.empty(self.n, dtype=np.int64)
        for _, o0, o1, f0 in self.pieces(0, self.n):
            out[o0:o1] = np.arange(f0, f0 + (o1 - o0))
        return out

    @property
    def joined(self) -> np.ndarray:
        """Per run: it continues the previous run in the file (its first record follows
        the previous run's last one), so the two can be read as one."""
        if self._joined is None:
            j = np.zeros(len(self.out), dtype=bool)
            j[1:] = np.diff(self.file) == np.diff(self.out)
            self._joined = j
        return self._joined

    def spans(self, i0: int, i1: int, cut: np.ndarray | None = None):
        """(k0, k1, o0, o1, f0): rows o0..o1-1 (within i0..i1) are the consecutive records
        f0.. of runs k0..k1-1, which follow one another in the file and, when ``cut`` is
        given (a flag per run), none of k0+1..k1-1 is flagged. Few spans for many runs:
        one read each instead of one per run."""
        if i1 <= i0 or not self.n:
            return
        k0 = max(int(np.searchsorted(self.out, i0, "right")) - 1, 0)
        k1 = int(np.searchsorted(self.out, i1, "left"))       # runs k0..k1-1 hold the rows
        new = ~self.joined[k0 + 1:k1]
        if cut is not None:
            new |= cut[k0 + 1:k1]
        starts = [k0] + (k0 + 1 + np.flatnonzero(new)).tolist()
        for ka, kb in zip(starts, starts[1:] + [k1]):
            o0 = max(i0, int(self.out[ka]))
            o1 = min(i1, int(self.out[kb]) if kb < len(self.out) else self.n)
            if o1 > o0:
                yield ka, kb, o0, o1, int(self.file[ka]) + (o0 - int(self.out[ka]))

    def pieces(self, i0: int, i1: int):
        """(run k, o0, o1, f0): rows o0..o1-1 (within i0..i1) are records f0.. of run k."""
        if i1 <= i0 or not self.n:
            return
        k = max(int(np.searchsorted(self.out, i0, "right")) - 1, 0)
        while k < len(self.out) and self.out[k] < i1:
            end = int(self.out[k + 1]) if k + 1 < len(self.out) else self.n
            o0, o1 = max(i0, int(self.out[k])), min(i1, end)
            if o1 > o0:
                yield k, o0, o1, int(self.file[k]) + (o0 - int(self.out[k]))
            k += 1


class FieldColumn(Column):
    """One field of a :class:`RecordFile` (times ``scale`` as float64 when given), in file
    order or in the order of a :class:`RunMap`."""

    def __init__(self, records: RecordFile, name: str, scale: float | None = None,
                 runs: RunMap | None = None):
        sub = records.dtype[name]
        super().__init__(len(records) if runs is None else runs.n, sub.shape,
                         np.float64 if scale is not None else sub.base)
        self._rec = records
        self._name = name
        self._scale = None if scale is None else float(scale)
        self._runs = runs

    def _read(self, i0: int, i1: int) -> np.ndarray:
        rec = self._rec.read(i0, i1) if self._runs is None else \
            self._rec.read_mapped(self._runs, i0, i1)
        raw = rec[self._name]
        if self._scale is None:
            return np.ascontiguousarray(raw)
        return np.multiply(raw, self._scale, dtype=np.float64)


class MappedColumn(Column):
    """``fn`` applied to each slice of ``base`` as it is read; ``fn`` maps rows to rows of
    the same shape (row-wise: its result for a row must not depend on other rows)."""

    def __init__(self, base: Column, fn):
        super().__init__(len(base), base.shape[1:], np.float64)
        self._base = base
        self._fn = fn

    def _read(self, i0: int, i1: int) -> np.ndarray:
        return np.ascontiguousarray(self._fn(self._base[i0:i1]), dtype=np.float64)
