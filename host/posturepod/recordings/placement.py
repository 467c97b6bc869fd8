"""Where the pods were worn: the thoracic level, its measured distance from a landmark, the
head pod's landmark and a photo (hardware/placement.md, "Finding the thoracic level").

Stored in a recording's metadata as ``placement`` (``recording.json`` of a native
recording, ``meta.json`` of a CSV interchange directory; docs/recording.md)::

    {"thorax_level": "T4", "thorax_reference": "C7", "thorax_distance_cm": 14.5,
     "head_landmark": "external occipital protuberance", "photo": "back.jpg"}

Every field but ``thorax_level`` is optional. Results (``--json``, ``info``) carry it as
the ``placement`` object: the fields plus ``"recorded": true``, or ``{"recorded": false,
"note": ...}`` for a recording made without it (all recordings before this field) or
with an unreadable one, which is reported, never fatal.
"""
from __future__ import annotations

import re

KEY = "placement"
REFERENCES = {"C7": "the C7 spinous process",
              "iliac_crest": "the iliac-crest line"}
NOT_RECORDED = ("The pod placement was not recorded with this session: the thoracic level "
                "and its distance from C7 or from the iliac-crest line are unknown, so any "
                "comparison with other sessions assumes the pods were worn at the same sites.")
MAX_DISTANCE_CM = 100.0
_LEVEL = re.compile(r"^T([1-9]|1[0-2])(-L1)?$")


def normalise_level(text: str) -> str:
    """'t4' -> 'T4', 't12-l1' -> 'T12-L1'. Accepted: a thoracic spinous process T1..T12, or
    the T12-L1 interspinous space (the two sites of hardware/placement.md and the others)."""
    level = str(text).strip().upper().replace(" ", "").replace("/", "-")
    m = _LEVEL.match(level)
    if not m or (m.group(2) and m.group(1) != "12"):
        raise ValueError(f"thoracic level {text!r}: give a spinous process T1..T12 (e.g. T4) "
                         f"or the interspinous space T12-L1")
    return level


def make(thorax_level: str | None = None, thorax_distance_cm: float | None = None,
         thorax_reference: str | None = None, head_landmark: str | None = None,
         photo: str | None = None) -> dict | None:
    """A validated placement, or None when nothing was given. ``thorax_reference`` defaults
    to C7 for a thoracic process and to the iliac-crest line for T12-L1 (the procedure of
    hardware/placement.md). Raises ValueError naming the bad field."""
    given = [thorax_level, thorax_distance_cm, thorax_reference, head_landmark, photo]
    if all(v in (None, "") for v in given):
        return None
    if not thorax_level:
        raise ValueError("the placement needs the thoracic level (--thorax-level, e.g. T4)")
    level = normalise_level(thorax_level)
    ref = (thorax_reference or ("iliac_crest" if level == "T12-L1" else "C7"))
    ref = ref.strip().replace("-", "_").lower().replace("c7", "C7")
    if ref not in REFERENCES:
        raise ValueError(f"thoracic reference {thorax_reference!r}: C7 or iliac-crest")
    p: dict = {"thorax_level": level, "thorax_reference": ref}
    if thorax_distance_cm is not None:
        try:
            d = float(thorax_distance_cm)
        except (TypeError, ValueError):
            raise ValueError(f"thoracic distance {thorax_distance_cm!r}: not a number "
                             f"(cm)") from None
        if not 0.0 < d <= MAX_DISTANCE_CM:
            raise ValueError(f"thoracic distance {d:g} cm: must be above 0 and at most "
                             f"{MAX_DISTANCE_CM:g} cm (measured along the skin)")
        p["thorax_distance_cm"] = round(d, 1)
    if head_landmark:
        p["head_landmark"] = str(head_landmark).strip()
    if photo:
        p["photo"] = str(photo).strip()
    return p


def from_meta(meta: dict | None, where: str = "the recording's metadata") -> dict:
    """The ``placement`` object of a result: the stored fields plus ``recorded: true``;
    ``recorded: false`` and a ``note`` when absent or unreadable (``where`` names the file)."""
    raw = (meta or {}).get(KEY)
    if raw is None:
        return {"recorded": False, "note": NOT_RECORDED}
    try:
        if not isinstance(raw, dict):
            raise ValueError(f"not an object ({type(raw).__name__})")
        p = make(raw.get("thorax_level"), raw.get("thorax_distance_cm"),
                 raw.get("thorax_reference"), raw.get("head_landmark"), raw.get("photo"))
        if p is None:
            raise ValueError("empty")
    except ValueError as e:
        return {"recorded": False, "note": f"The placement in {where} could not be read "
                f"({e}); it is not shown. Fix it with: posturepod placement REC ..."}
    return {"recorded": True, **p}


def thorax_text(p: dict) -> str:
    """'T4 spinous process, 14.5 cm below C7 (along the skin)' for a recorded placement."""
    level = p["thorax_level"]
    site = "interspinous space" if "-" in level else "spinous process"
    text = f"{level} {site}"
    d = p.get("thorax_distance_cm")
    if d is not None:
        side = "below" if p.get("thorax_reference") == "C7" else "above"
        text += (f", {d:g} cm {side} {REFERENCES[p['thorax_reference']]} "
                 f"(measured along the skin)")
    else:
        text += ", distance from the landmark not recorded"
    return text


def rows(p: dict) -> list[tuple[str, str]]:
    """Label/value rows of a placement object (recorded or not), for the reports and info."""
    if not p.get("recorded"):
        return [("Placement", "not recorded")]
    return [("Thoracic pod", thorax_text(p)),
            ("Head pod", p.get("head_landmark") or "landmark not recorded"),
            ("Photo", p.get("photo") or "none recorded")]


def text_lines(p: dict) -> list[str]:
    """Plain-text lines for the terminal (info, flexion, sitting)."""
    if not p.get("recorded"):
        return ["placement: not recorded (posturepod placement REC --thorax-level T4 "
                "--thorax-cm CM ...; hardware/placement.md)"]
    return [f"placement: {label.lower()}: {value}" for label, value in rows(p)]


def write(path, placement: dict, *, force: bool = False) -> str:
    """Store ``placement`` in the metadata of the recording directory ``path``
    (recording.json or meta.json, rewritten atomically). Returns the file name. Refuses a
    native recording that is still being written (its recorder rewrites recording.json)."""
    import json
    import os
    from pathlib import Path

    from posturepod.recordings.data import DataError, read_json_object
    path = Path(path)
    native = path / "recording.json"
    if native.exists():
        meta = read_json_object(native)
        if meta.get("stopped_utc") is None and not force:
            raise DataError(f"{native}: the recording has not stopped (still recording, or "
                            f"it was killed): give the placement to the recording command "
                            f"(--thorax-level ...), or add --force once it has stopped")
        f = native
    else:
        from posturepod.recordings.csvio import is_csv_dir
        if not is_csv_dir(path):
            raise DataError(f"{path}: neither a native recording nor a CSV interchange "
                            f"directory")
        f = path / "meta.json"
        meta = read_json_object(f) if f.exists() else {}
    meta[KEY] = placement
    tmp = f.with_name(f.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, f)
    return f.name
