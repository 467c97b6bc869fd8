"""Self-contained HTML report building blocks, shared by every posturepod report.

Everything a page needs is inline: CSS in a <style> element, figures as inline <svg>
(matplotlib's SVG backend, text drawn as paths so no font is fetched), no script, no
external URL. Pages print on A4 (``@media print``): figures and tables do not break across
pages, colours are kept.

Typical use::

    from posturepod.report import html as H
    fig = H.new_figure(8, 3)
    ax = fig.add_subplot(111); ax.plot(t, y)
    body = H.section("Angles", H.figure(H.figure_svg(fig), "Angles over time."))
    H.write_page("out.html", H.page("Report", [body], subtitle="Patient P-01"))

All functions return HTML strings; anything given as plain text is escaped, anything
given as ``Markup`` (a str subclass) is inserted as is.
"""
from __future__ import annotations

import html as _html
import io
import itertools
import re
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

_fig_counter = itertools.count(1)

# One palette for all reports, chosen to stay distinguishable in greyscale print.
COLORS = {
    "trunk": "#1f4e79", "thorax": "#1f4e79", "pelvis": "#c0504d", "lumbar": "#2e8b57",
    "neck": "#8064a2", "head": "#7f7f7f",
    "ok": "#2e7d32", "warn": "#b26a00", "alert": "#b71c1c", "info": "#1f4e79",
    "muted": "#9e9e9e", "band": "#d9ead3",
}


class Markup(str):
    """A string that is already HTML: inserted without escaping."""


def escape(x) -> str:
    if isinstance(x, Markup):
        return x
    return _html.escape("" if x is None else str(x), quote=True)


def raw(s: str) -> Markup:
    return Markup(s)


# --------------------------------------------------------------------------- figures
def new_figure(width_in: float = 8.0, height_in: float = 3.0, **kw):
    """A matplotlib Figure bound to the SVG canvas (no pyplot, no GUI backend, thread-safe
    enough for a CLI)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width_in, height_in), **kw)
    FigureCanvasSVG(fig)
    return fig


_ID_RE = re.compile(r'\bid="([^"]+)"')


def figure_svg(fig, *, title: str | None = None, prefix: str | None = None) -> Markup:
    """Render a matplotlib figure to an inline <svg> element.

    Every id inside the SVG is prefixed (``prefix`` or a fresh ``figN-``) so several
    figures can share one page without clip-path or glyph id clashes. The SVG scales to the
    width of its container. ``title`` becomes the SVG's accessible <title>.
    """
    import matplotlib
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "posturepod",
                                "svg.image_inline": True}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    start = svg.find("<svg")
    svg = svg[start:]
    pre = prefix or f"fig{next(_fig_counter)}-"
    ids = set(_ID_RE.findall(svg))
    if ids:
        svg = _ID_RE.sub(lambda m: f'id="{pre}{m.group(1)}"', svg)

        def ref(m):
            name = m.group(2)
            return f"{m.group(1)}#{pre}{name}" if name in ids else m.group(0)
        svg = re.sub(r'(url\(|href=")#([^)"]+)', ref, svg)
    # responsive: drop fixed width/height (the viewBox keeps the aspect ratio)
    head_end = svg.find(">")
    head = svg[:head_end]
    head = re.sub(r'\swidth="[^"]*"', "", head, count=1)
    head = re.sub(r'\sheight="[^"]*"', "", head, count=1)
    head += ' class="fig" role="img" preserveAspectRatio="xMidYMid meet"'
    svg = head + svg[head_end:]
    if title:
        gt = svg.find(">") + 1
        svg = svg[:gt] + f"<title>{escape(title)}</title>" + svg[gt:]
    return Markup(svg)


def decimate(x, *ys, max_points: int = 1500):
    """Thin evenly sampled series to about ``max_points`` points for plotting, keeping each
    block's minimum and maximum (so peaks survive)."""
    import numpy as np
    x = np.asarray(x)
    n = len(x)
    if n <= max_points:
        return (x, *[np.asarray(y) for y in ys])
    block = int(np.ceil(n / (max_points / 2)))
    m = n // block
    idx = np.arange(m * block).reshape(m, block)
    sel = []
    for y in ys:
        y = np.asarray(y)
        if np.isfinite(y).any():
            yy = np.where(np.isfinite(y), y, np.nanmean(y))[: m * block].reshape(m, block)
            sel.append(idx[np.arange(m), yy.argmin(1)])
            sel.append(idx[np.arange(m), yy.argmax(1)])
    keep = np.unique(np.concatenate(sel + [np.arange(0, n, block), [n - 1]]))
    return (x[keep], *[np.asarray(y)[keep] for y in ys])


# --------------------------------------------------------------------------- blocks
def figure(svg: str, caption: str | None = None, *, cls: str = "") -> Markup:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="{escape(cls)}">{svg}{cap}</figure>')


def section(title: str, *parts: str, id: str | None = None, cls: str = "") -> Markup:
    ida = f' id="{escape(id)}"' if id else ""
    return Markup(f'<section{ida} class="{escape(cls)}"><h2>{escape(title)}</h2>'
                  + "".join(str(p) for p in parts) + "</section>")


def heading(text: str, level: int = 3) -> Markup:
    return Markup(f"<h{level}>{escape(text)}</h{level}>")


def paragraph(*parts) -> Markup:
    return Markup("<p>" + "".join(escape(p) for p in parts) + "</p>")


def bullet_list(items: Iterable, *, ordered: bool = False) -> Markup:
    tag = "ol" if ordered else "ul"
    return Markup(f"<{tag}>" + "".join(f"<li>{escape(i)}</li>" for i in items) + f"</{tag}>")


def degree_signs(text: str) -> str:
    """'27 deg < 50 deg' as the pages write it: '27° < 50°'."""
    return re.sub(r"(\d) deg\b", "\\1°", text)


def local_time(iso, none: str = "–") -> str:
    """An ISO 8601 time (a recording's UTC date) as a person reads it: in the local time of
    this computer, e.g. "Fri 4 Dec 2026, 18:53 (UTC+01:00)"."""
    from datetime import datetime, timezone
    if not iso:
        return none
    try:
        dt = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    loc = dt.astimezone()
    off = loc.strftime("%z")
    zone = f"UTC{off[:3]}:{off[3:]}" if off not in ("", "+0000") else "UTC"
    return f"{loc:%a} {loc.day} {loc:%b %Y, %H:%M} ({zone})"


def fmt(x, nd: int = 1, unit: str = "", none: str = "–") -> str:
    """Number formatting for tables: None/NaN -> dash."""
    if x is None:
        return none
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if xf != xf:
        return none
    return f"{xf:.{nd}f}{unit}"


def table(headers: Sequence, rows: Iterable[Sequence], *, caption: str | None = None,
          align: Sequence[str] | None = None, row_classes: Sequence[str] | None = None,
          cls: str = "data", nowrap: Sequence[int] = ()) -> Markup:
    """A table; cells are escaped unless Markup. ``align`` per column: 'l', 'r', 'c';
    ``nowrap``: indices of columns whose cells must not wrap."""
    amap = {"l": "left", "r": "right", "c": "center"}
    al = list(align) if align else []

    def style(i):
        st = []
        if i < len(al) and al[i] in amap:
            st.append(f"text-align:{amap[al[i]]}")
        if i in nowrap:
            st.append("white-space:nowrap")
        return f' style="{";".join(st)}"' if st else ""
    out = [f'<table class="{escape(cls)}">']
    if caption:
        out.append(f"<caption>{escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th{style(i)}>{escape(h)}</th>"
                                       for i, h in enumerate(headers)) + "</tr></thead>")
    out.append("<tbody>")
    for k, row in enumerate(rows):
        rc = f' class="{escape(row_classes[k])}"' if row_classes and k < len(row_classes) \
            and row_classes[k] else ""
        out.append(f"<tr{rc}>" + "".join(f"<td{style(i)}>{escape(c)}</td>"
                                          for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return Markup("".join(out))


def key_values(pairs: Iterable[tuple], *, cls: str = "kv") -> Markup:
    """Two-column label/value table."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return Markup(f'<table class="{escape(cls)}"><tbody>{rows}</tbody></table>')


def callout(body, *, kind: str = "info", title: str | None = None) -> Markup:
    """A coloured box: kind is 'ok', 'warn', 'alert', 'info' or 'muted'."""
    t = f"<div class=\"callout-title\">{escape(title)}</div>" if title else ""
    inner = body if isinstance(body, Markup) else escape(body)
    return Markup(f'<div class="callout {escape(kind)}">{t}{inner}</div>')


def badge(text: str, kind: str = "info") -> Markup:
    return Markup(f'<span class="badge {escape(kind)}">{escape(text)}</span>')


def calibration_banner(cal: dict | None) -> Markup:
    """Top-of-page box for a calibration that is not good (empty when good or absent): every
    angle in the report rests on it, so a doubt or a failure is said before anything else."""
    if not cal or cal.get("quality", "good") == "good":
        return Markup("")
    failed = cal["quality"] == "failed"
    title = ("Calibration FAILED: the angles below may be wrong" if failed else
             "Calibration doubtful: read the angles below with care")
    return callout(bullet_list(cal.get("reasons") or ["(no reason recorded)"]),
                   kind="alert" if failed else "warn", title=title)


def calibration_section(cal: dict | None) -> Markup:
    """The calibration the angles rest on: quality per pod and its figures (docs/angles.md,
    "How far a calibration can be trusted")."""
    if not cal:
        return Markup("")
    src = str(cal.get("source", "automatic"))
    kind = {"good": "ok", "doubtful": "warn", "failed": "alert"}.get(cal.get("quality"), "info")
    badge_q = badge(str(cal.get("quality", "–")).upper(), kind)
    if src == "armed":          # a day-log: the pods kept only the grade they were armed with
        head = paragraph(badge_q, " Calibration given to the pods when they were armed "
                                  "(posturepod wear; its figures are in that recording's "
                                  "calibration.json).")
        tab = table(["Pod", "Quality"], [[r, p.get("quality", "–")] for r, p in
                                         (cal.get("pods") or {}).items()],
                    align="ll", cls="data compact")
    else:
        src = {"automatic": "found in the recording (stand, then the first shared bend)",
               "events": "marked by the guided capture"}.get(src, "reused from " +
                                                            src.removeprefix("file:"))
        rows = []
        for role, p in (cal.get("pods") or {}).items():
            rows.append([role, p.get("quality", "–"), fmt(p.get("stand_length_s"), 1, " s"),
                         fmt(p.get("stand_sway_deg"), 1, "°"), fmt(p.get("bend_deg"), 0, "°"),
                         fmt(p.get("bend_axis_tilt_deg"), 1, "°"),
                         fmt(p.get("bend_peak_lag_s"), 1, " s"),
                         fmt(p.get("return_deg"), 1, "°"), fmt(p.get("drift_deg"), 1, "°")])
        head = paragraph(badge_q, f" Calibration {src}. Stand {fmt(cal['stand_s'][0], 1)}–"
                                  f"{fmt(cal['stand_s'][1], 1)} s, bend from "
                                  f"{fmt(cal['bend_s'][0], 1)} s.")
        tab = table(["Pod", "Quality", "Stand", "Sway (RMS)", "Bend",
                     "Bend axis from horizontal", "Bend peak vs others", "Return",
                     "Later drift"], rows, align="llrrrrrrr", cls="data compact")
    reasons = bullet_list(cal["reasons"]) if cal.get("reasons") else Markup("")
    return section("Calibration", head, tab, reasons, id="calibration")


def reference_box(references: Iterable, *, title: str = "References",
                  note: str | None = None) -> Markup:
    """Numbered reference list in a bordered box. Items are plain strings (escaped) or
    (key, text) pairs rendered as '[key] text'."""
    items = []
    for r in references:
        if isinstance(r, (tuple, list)):
            items.append(f'<li><span class="refkey">[{escape(r[0])}]</span> {escape(r[1])}</li>')
        else:
            items.append(f"<li>{escape(r)}</li>")
    n = f"<p class=\"small\">{escape(note)}</p>" if note else ""
    return Markup(f'<div class="refs"><h3>{escape(title)}</h3>{n}<ul>{"".join(items)}</ul></div>')


def range_box(rows: Iterable[Sequence], *, title: str = "Reference ranges",
              headers: Sequence[str] = ("Measure", "Reference", "Source")) -> Markup:
    """Reference-range box: rows of (measure, range, source)."""
    return Markup(f'<div class="refs"><h3>{escape(title)}</h3>'
                  + table(headers, rows, cls="data compact") + "</div>")


# --------------------------------------------------------------------------- page
CSS = """
:root { --ink:#1b1b1b; --muted:#616161; --line:#d0d0d0; --accent:#1f4e79; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       max-width: 1100px; margin: 0 auto; padding: 24px 32px; line-height: 1.45;
       font-size: 15px; background: #fff; }
header.page { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 8px; }
header.page h1 { margin: 0 0 4px 0; font-size: 26px; color: var(--accent); }
header.page .subtitle { color: var(--muted); font-size: 15px; }
header.page table.kv { margin-top: 8px; }
h2 { font-size: 20px; color: var(--accent); border-bottom: 1px solid var(--line);
     padding-bottom: 3px; margin-top: 28px; }
h3 { font-size: 16px; margin: 14px 0 6px 0; }
section { margin-bottom: 18px; }
figure { margin: 10px 0 16px 0; }
figure svg.fig { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.figrow { display: flex; gap: 16px; flex-wrap: wrap; }
.figrow > figure { flex: 1 1 420px; min-width: 0; }
table { border-collapse: collapse; margin: 8px 0 14px 0; font-size: 14px; }
table.data { width: 100%; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 8px;
                               text-align: left; vertical-align: top; }
table.data thead th { background: #eef3f8; border-bottom: 2px solid var(--accent); }
table.data caption { text-align: left; font-weight: bold; padding: 4px 0; }
table.compact th, table.compact td { padding: 2px 6px; font-size: 13px; }
table.kv th { text-align: left; padding: 2px 14px 2px 0; color: var(--muted); font-weight: normal; }
table.kv td { padding: 2px 0; }
tr.alert td { background: #fdecea; } tr.warn td { background: #fff4e5; }
tr.ok td { background: #edf7ed; } tr.muted td { color: var(--muted); }
.callout { border-left: 6px solid var(--accent); background: #eef3f8; padding: 10px 14px;
           margin: 10px 0; border-radius: 3px; }
.callout.ok { border-color: #2e7d32; background: #edf7ed; }
.callout.warn { border-color: #b26a00; background: #fff4e5; }
.callout.alert { border-color: #b71c1c; background: #fdecea; }
.callout.muted { border-color: #9e9e9e; background: #f5f5f5; }
.callout-title { font-weight: bold; font-size: 17px; margin-bottom: 4px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: bold; color: #fff; background: #1f4e79; }
.badge.ok { background: #2e7d32; } .badge.warn { background: #b26a00; }
.badge.alert { background: #b71c1c; } .badge.muted { background: #9e9e9e; }
.refs { border: 1px solid var(--line); background: #fafafa; padding: 8px 14px; margin: 10px 0;
        font-size: 13px; border-radius: 3px; }
.refs h3 { margin-top: 4px; }
.refs ul { padding-left: 18px; margin: 4px 0; } .refs li { margin-bottom: 3px; }
.refkey { font-weight: bold; }
.small { font-size: 13px; color: var(--muted); }
footer.page { margin-top: 30px; border-top: 1px solid var(--line); padding-top: 6px;
              font-size: 12px; color: var(--muted); }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2, h3, h4, .callout > h3 { break-after: avoid; page-break-after: avoid; }
  h2 + *, h3 + * { break-before: avoid; page-break-before: avoid; }
  table { font-size: 9pt; } th { font-size: 8.5pt; }
  figure, table, .callout, .refs, tr { break-inside: avoid; page-break-inside: avoid; }
  .figrow { display: block; }
  .noprint { display: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def page(title: str, sections: Iterable[str], *, subtitle: str | None = None,
         header_items: Iterable[tuple] | None = None, footer: str | None = None,
         lang: str = "en", extra_css: str = "") -> str:
    """A complete HTML document. ``header_items`` are (label, value) pairs shown under the
    title (patient ID, date, recording...)."""
    hdr = f"<h1>{escape(title)}</h1>"
    if subtitle:
        hdr += f'<div class="subtitle">{escape(subtitle)}</div>'
    if header_items:
        hdr += key_values(header_items)
    foot = footer if footer is not None else (
        f"Generated {datetime.now().strftime('%Y-%m-%d %H:%M')} by posturepod.")
    return ("<!DOCTYPE html>\n"
            f'<html lang="{escape(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}{extra_css}</style></head>"
            f'<body><header class="page">{hdr}</header>'
            + "".join(str(s) for s in sections)
            + f'<footer class="page">{escape(foot)}</footer></body></html>\n')


def write_page(path, text: str) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


_EXTERNAL = re.compile(r'(?:src|href)\s*=\s*["\'](?:https?:|//)|@import'
                       r'|url\(\s*["\']?(?:https?:|//)', re.I)


def external_references(text: str) -> list[str]:
    """Any place where the page would fetch something from outside (for tests and a final
    self-check); SVG namespace declarations are not fetches and are not reported."""
    return [m.group(0) for m in _EXTERNAL.finditer(text)]
