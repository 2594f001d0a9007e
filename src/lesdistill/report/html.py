"""A self-contained HTML page from sections of text, tables and PNG figures (base64 inline).

The page has no external resources (no scripts, fonts or image links): it opens offline, can be
mailed as one file, and every figure is an ``<img src="data:image/png;base64,...">``.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Figure", "Section", "Table", "render_html", "format_value"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #345;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;color:#234}
table{border-collapse:collapse;margin:.6em 0 1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#eef2f6}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.4em 1em .8em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:640px}
img{max-width:100%;height:auto}
.note{color:#666;font-size:.9em}
"""


@dataclass(frozen=True)
class Table:
    """A table: header row and data rows (values are formatted by :func:`format_value`)."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG figure (raw bytes) with a caption; ``name`` is its file name without ``.png``."""

    name: str
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One report section: a heading, paragraphs, tables and figures (in this order)."""

    title: str
    paragraphs: Sequence[str] = field(default_factory=tuple)
    tables: Sequence[Table] = field(default_factory=tuple)
    figures: Sequence[Figure] = field(default_factory=tuple)


def format_value(value: Any) -> str:
    """Compact text of a number or other value for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == 0.0:
            return "0"
        mag = abs(value)
        if mag >= 1e5 or mag < 1e-3:
            return f"{value:.3e}"
        if mag >= 100:
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def _table(t: Table) -> str:
    parts = ["<table>"]
    if t.caption:
        parts.append(f"<caption>{html.escape(t.caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header)
                 + "</tr></thead><tbody>")
    for row in t.rows:
        cells = "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _figure(f: Figure) -> str:
    if not f.png.startswith(_PNG_MAGIC):
        raise ValueError(f"figure {f.name!r} is not PNG data")
    data = base64.b64encode(f.png).decode("ascii")
    alt = html.escape(f.caption or f.name)
    cap = f"<figcaption>{html.escape(f.caption)}</figcaption>" if f.caption else ""
    return (f'<figure id="fig-{html.escape(f.name)}"><img alt="{alt}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>')


def render_html(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The whole page as a string (UTF-8, no external resources)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="note">{html.escape(subtitle)}</p>')
    if len(sections) > 1:
        links = "".join(f'<li><a href="#s{k}">{html.escape(s.title)}</a></li>'
                        for k, s in enumerate(sections))
        body.append(f"<nav><ul>{links}</ul></nav>")
    for k, sec in enumerate(sections):
        body.append(f'<section id="s{k}"><h2>{html.escape(sec.title)}</h2>')
        body.extend(f"<p>{html.escape(p)}</p>" for p in sec.paragraphs)
        body.extend(_table(t) for t in sec.tables)
        body.extend(_figure(f) for f in sec.figures)
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
