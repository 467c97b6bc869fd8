"""Session history: find the per-session summaries that analyses leave beside their
recordings (``flexion.json``, ``sitting.json``, ...) and list or plot their key measures
in date order.

The reader is generic: a session file is any JSON object with a ``"protocol"`` key and a
``"summary"`` object, found under one of the names in :data:`SESSION_FILES`. The measures
shown for a protocol come from :data:`KEY_MEASURES` when it is listed there, else every
numeric scalar of its summary. Each file should also carry ``"patient"`` (pseudonymous ID)
and ``"recorded_at"`` (ISO 8601); a file without a date is placed by its modification time.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

# File names that hold one session summary each (one per protocol).
SESSION_FILES = ("flexion.json", "sitting.json")

# (summary key, label, unit) shown first for a known protocol.
KEY_MEASURES: dict[str, list[tuple[str, str, str]]] = {
    "flexion": [
        ("peak_trunk_deg", "Trunk flexion", "deg"),
        ("peak_pelvis_deg", "Pelvic rotation", "deg"),
        ("peak_lumbar_deg", "Lumbar flexion", "deg"),
        ("peak_neck_deg", "Neck flexion", "deg"),
        ("lumbar_share", "Lumbar share", ""),
    ],
    "sitting": [
        ("sitting_min", "Sitting", "min"),
        ("slouch_pct", "Slouched", "% of sitting"),
        ("head_forward_pct", "Head forward", "% of sitting"),
        ("breaks", "Breaks", "count"),
        ("longest_sitting_bout_min", "Longest sitting bout", "min"),
    ],
}

SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv"}


@dataclass
class Session:
    path: Path
    protocol: str
    patient: str | None
    recorded_at: datetime | None      # naive UTC
    recorded_at_text: str | None
    summary: dict
    data: dict = field(repr=False, default_factory=dict)
    dated_by: str = "recorded_at"     # or "file time"

    @property
    def pattern(self) -> str | None:
        p = self.summary.get("pattern")
        return str(p) if p is not None else None

    def value(self, key: str) -> float | None:
        v = self.summary.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v) if math.isfinite(v) else None

    def as_json(self, root: Path | None = None) -> dict:
        p = self.path
        if root is not None:
            try:
                p = self.path.relative_to(root)
            except ValueError:
                pass
        return {"path": str(p), "protocol": self.protocol, "patient": self.patient,
                "recorded_at": self.recorded_at_text, "dated_by": self.dated_by,
                "summary": self.summary, "placement": self.data.get("placement")}

    @property
    def thorax_level(self) -> str | None:
        """The thoracic pod's level recorded with the session (None when not recorded)."""
        p = self.data.get("placement") or {}
        return p.get("thorax_level") if p.get("recorded") else None


def parse_time(text) -> datetime | None:
    """ISO 8601 (with or without zone, 'Z' accepted) or a Unix time -> naive UTC."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return datetime.fromtimestamp(float(text), tz=timezone.utc).replace(tzinfo=None)
    s = str(text).strip()
    if not s:
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def read_session(path: str | Path) -> Session:
    """Read one session file; ValueError when it is not a session summary."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not readable JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("protocol"), str):
        raise ValueError(f"{path}: no \"protocol\" key")
    summary = data.get("summary")
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: no \"summary\" object")
    text = data.get("recorded_at")
    when = parse_time(text)
    dated_by = "recorded_at"
    if when is None:
        when = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).replace(tzinfo=None)
        dated_by = "file time"
        text = when.isoformat(timespec="seconds") + "Z"
    patient = data.get("patient")
    return Session(path=path, protocol=data["protocol"],
                   patient=str(patient) if patient not in (None, "") else None,
                   recorded_at=when, recorded_at_text=str(text), summary=summary,
                   data=data, dated_by=dated_by)


def scan(root: str | Path, *, patient: str | None = None, protocol: str | None = None,
         names: Iterable[str] = SESSION_FILES, max_depth: int = 12,
         problems: list[str] | None = None) -> list[Session]:
    """All sessions under ``root`` (recursively), oldest first. ``patient``/``protocol``
    filter; unreadable files are skipped and described in ``problems``."""
    root = Path(root)
    names = set(names)
    found: list[Session] = []
    if root.is_file():
        candidates = [root]
    else:
        candidates = []
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            depth = len(Path(dirpath).parts) - base_depth
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in SKIP_DIRS and not d.startswith("."))
            if depth >= max_depth:
                dirnames[:] = []
            for f in filenames:
                if f in names:
                    candidates.append(Path(dirpath) / f)
    for p in candidates:
        try:
            s = read_session(p)
        except ValueError as e:
            if problems is not None:
                problems.append(str(e))
            continue
        if protocol and s.protocol != protocol:
            continue
        if patient is not None and s.patient != patient:
            continue
        found.append(s)
    found.sort(key=lambda s: (s.recorded_at or datetime.min, str(s.path)))
    return found


def patient_history(rec_dir: str | Path, patient: str | None, protocol: str, *,
                    history_dir: str | Path | None = None) -> list[Session]:
    """The earlier sessions of one patient that a report shows, oldest first, the one rule
    of both reports (docs/flexion.md, "Sessions and history"): a patient's recordings are
    kept side by side in one patient folder, so the sessions are the ``<protocol>.json`` of
    the recordings beside ``rec_dir`` (one level, no deeper) whose patient ID is
    ``patient``; ``history_dir`` (``--history``) names another folder, searched through.
    Without a patient ID there is no history."""
    if not patient:
        return []
    rec_dir = Path(rec_dir).resolve()
    if history_dir is not None:
        found = scan(history_dir, patient=patient, protocol=protocol,
                     names=(f"{protocol}.json",))
    else:
        found = scan(rec_dir.parent, patient=patient, protocol=protocol,
                     names=(f"{protocol}.json",), max_depth=2)
        found = [s for s in found if s.path.parent.parent.resolve() == rec_dir.parent]
    return [s for s in found if s.path.parent.resolve() != rec_dir]


def measures_for(protocol: str, sessions: Iterable[Session], limit: int = 8
                 ) -> list[tuple[str, str, str]]:
    """Measures to show for a protocol: the known list, else the numeric summary keys."""
    if protocol in KEY_MEASURES:
        return list(KEY_MEASURES[protocol])
    keys: list[str] = []
    for s in sessions:
        for k, v in s.summary.items():
            if k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.append(k)
    out = []
    for k in keys[:limit]:
        unit = "deg" if k.endswith("_deg") else "s" if k.endswith("_s") else ""
        label = k.removesuffix("_deg").removesuffix("_s").replace("_", " ").capitalize()
        out.append((k, label, unit))
    return out


def by_protocol(sessions: Iterable[Session]) -> dict[str, list[Session]]:
    out: dict[str, list[Session]] = {}
    for s in sessions:
        out.setdefault(s.protocol, []).append(s)
    return out


def text_table(sessions: list[Session], root: Path | None = None) -> str:
    """Plain-text tables, one per protocol, sessions in date order."""
    lines: list[str] = []
    for proto, ss in by_protocol(sessions).items():
        ms = measures_for(proto, ss)
        patterns = any(s.pattern for s in ss)      # flexion has one, a sitting day not
        head = ["date", "patient"] + [f"{lab} ({u})" if u else lab for _, lab, u in ms] + \
            (["pattern"] if patterns else []) + ["thorax", "session"]
        rows = []
        for s in ss:
            row = [s.recorded_at.strftime("%Y-%m-%d %H:%M") if s.recorded_at else "?",
                   s.patient or "-"]
            for k, _, u in ms:
                v = s.value(k)
                row.append("-" if v is None else f"{v:.0f}" if u == "count"
                           else f"{v:.2f}" if not u else f"{v:.1f}")
            if patterns:
                row.append(s.pattern or "-")
            p = s.path.parent
            if root is not None:
                try:
                    p = p.relative_to(root)
                except ValueError:
                    pass
            row += [s.thorax_level or "-", str(p)]
            rows.append(row)
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        lines.append(f"{proto}: {len(ss)} session(s)")
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in rows:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# the smallest y range a progress panel shows, per unit: a change of 0.002 deg must look
# like no change, not like a decline
MIN_SPAN = {"deg": 10.0, "": 0.1, "% of sitting": 10.0, "min": 10.0, "count": 2.0}


def _min_span(ax, values, span: float) -> None:
    vals = [v for v in values if v is not None]
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    if hi - lo < span:
        mid = (lo + hi) / 2
        ax.set_ylim(mid - span / 2, mid + span / 2)


PATTERN_COLORS = {"normal": "#2e7d32", "inhibited_hip": "#b71c1c", "inconclusive": "#9e9e9e"}


def plot(sessions: list[Session], fig=None, *, protocol: str | None = None,
         highlight: Path | None = None):
    """Key measures against date, one panel per measure, one line per patient; markers
    coloured by the session's pattern. Returns the figure."""
    import matplotlib.dates as mdates
    if fig is None:
        from posturepod.report.html import new_figure
        fig = new_figure(9, 5)
    groups = by_protocol(sessions)
    if protocol:
        groups = {protocol: groups.get(protocol, [])}
    panels = [(p, m) for p, ss in groups.items() for m in measures_for(p, ss)]
    if not panels:
        ax = fig.add_subplot(111)
        ax.text(0.5, 0.5, "no sessions", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    ncol = 3 if len(panels) > 4 else min(2, len(panels))
    nrow = int(math.ceil(len(panels) / ncol))
    w, h = fig.get_size_inches()
    fig.set_size_inches(max(w, 3.2 * ncol), max(2.3 * nrow + 0.6, 2.6))
    for i, (proto, (key, label, unit)) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        ss = groups[proto]
        patients = sorted({s.patient or "-" for s in ss})
        for pid in patients:
            pts = [(s.recorded_at, s.value(key), s) for s in ss
                   if (s.patient or "-") == pid and s.value(key) is not None]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            ax.plot(xs, ys, "-", color="#1f4e79", lw=1.2, alpha=0.7,
                    label=pid if len(patients) > 1 else None)
            for x, y, s in pts:
                edge = "k" if highlight is not None and s.path == highlight else "none"
                ax.plot([x], [y], "o", ms=6, color=PATTERN_COLORS.get(s.pattern, "#1f4e79"),
                        mec=edge, mew=1.2)
        ax.set_title(f"{label}" + (f" ({unit})" if unit else "")
                     + (f" [{proto}]" if len(groups) > 1 else ""), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")   # no "+9.2e1"
        _min_span(ax, [s.value(key) for s in ss], MIN_SPAN.get(unit, 1.0))
        ax.grid(alpha=0.3)
        loc = mdates.AutoDateLocator(minticks=2, maxticks=5)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        if len(patients) > 1 and i == 0:
            ax.legend(fontsize=7)
        if proto == "flexion" and key == "peak_pelvis_deg":
            ax.axhline(50, color="#b71c1c", lw=0.8, ls="--")
        if proto == "flexion" and key == "lumbar_share":
            ax.axhline(0.5, color="#b71c1c", lw=0.8, ls="--")
    fig.tight_layout()
    return fig
