"""The pod placement block shared by the reports (flexion, sitting): where the thoracic and
head pods were worn, as recorded with the session (posturepod.recordings.placement), or a
warning that it was not recorded."""
from __future__ import annotations

from posturepod.recordings import placement as P

from . import html as H

WHY = ("What the thoracic pod measures depends on where it sits: lumbar = thorax − pelvis "
       "covers every joint between the two pods, so numbers from different thoracic levels "
       "are not comparable (hardware/placement.md).")


def header_item(p: dict | None) -> tuple[str, str]:
    """('Thoracic pod', 'T4, 14.5 cm below C7') or ('Thoracic pod', 'not recorded')."""
    p = p or {}
    if not p.get("recorded"):
        return ("Thoracic pod", "placement not recorded")
    d = p.get("thorax_distance_cm")
    ref = "C7" if p.get("thorax_reference") == "C7" else "the iliac-crest line"
    where = (f", {d:g} cm {'below' if ref == 'C7' else 'above'} {ref}" if d is not None
             else "")
    return ("Thoracic pod", f"{p['thorax_level']}{where}")


def section(p: dict | None, *, history_levels: list[str] | None = None) -> H.Markup:
    """The "Pod placement" section. ``history_levels``: the thoracic levels recorded with
    the earlier sessions shown in the report; a different one is pointed out."""
    p = p or {"recorded": False, "note": P.NOT_RECORDED}
    parts = []
    if not p.get("recorded"):
        parts.append(H.callout(H.paragraph(p.get("note") or P.NOT_RECORDED),
                               kind="warn", title="Placement not recorded"))
        parts.append(H.paragraph(
            "Record it with the session: posturepod placement REC --thorax-level T4 "
            "--thorax-cm CM --head-landmark TEXT --placement-photo FILE (or the same "
            "options of record, flexion and sitting)."))
    else:
        rows = P.rows(p)
        if p.get("source") == "command line":
            rows.append(("Source", "given on the command line for this analysis, not "
                                   "stored in the recording"))
        parts.append(H.key_values(rows))
        level = p["thorax_level"]
        parts.append(H.paragraph(
            "Between the pods lies the lumbar spine (L1–S1) only, so lumbar = thorax − pelvis "
            "is lumbar flexion in the strict sense." if level == "T12-L1" else
            f"Between the pods lie the lumbar spine and the thoracic spine below {level}, so "
            f"lumbar = thorax − pelvis also includes that thoracic flexion and reads larger "
            f"than lumbar flexion alone."))
        other = sorted({lv for lv in history_levels or [] if lv and lv != p["thorax_level"]})
        if other:
            parts.append(H.callout(
                f"Earlier sessions compared in this report were recorded with the thoracic "
                f"pod at {', '.join(other)}, this one at {p['thorax_level']}: their lumbar "
                f"and neck angles are not comparable with this one's.", kind="warn",
                title="Different thoracic level"))
    parts.append(H.paragraph(WHY))
    return H.section("Pod placement", *parts, id="placement")


def levels_of(sessions) -> list[str]:
    """The thoracic levels recorded in earlier result objects (dicts or history Sessions
    with ``data``), for :func:`section`."""
    out = []
    for s in sessions or []:
        d = s if isinstance(s, dict) else (getattr(s, "data", None) or {})
        p = d.get("placement") or (d.get("summary") or {}).get("placement") or {}
        if p.get("recorded") and p.get("thorax_level"):
            out.append(p["thorax_level"])
    return out
