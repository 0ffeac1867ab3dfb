"""HTML building blocks of the report: the stylesheet (screen and print), captioned tables, embedded figures.

Everything is escaped here, so the report's sections pass plain text and pre-formatted cells.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable, Sequence

import pandas as pd

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #008bfb; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0 0 1.2em; font-size: 0.92em; }
.caption { color: #444; font-size: 0.95em; margin: 1em 0 .3em; max-width: 60em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f6fa; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flag td { background: #fff4e5; }
.pass { color: #0a7d27; font-weight: bold; } .fail { color: #c4001f; font-weight: bold; }
.na { color: #555; font-weight: bold; }
.flag { border-left: 4px solid #e07b00; background: #fff4e5; padding: .4em .8em; }
figure { margin: 1em 0; } figcaption { color: #444; font-size: 0.9em; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  h2 { margin-top: 1.2em; }
  table { break-inside: auto; }
  table.short { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  tr, td, th { break-inside: avoid; page-break-inside: avoid; }
  .caption { break-after: avoid; page-break-after: avoid; }
  figure, img, .flag, .applicant-head { break-inside: avoid; page-break-inside: avoid; }
  img { max-height: 120mm; }
  a { color: inherit; text-decoration: none; }
}
"""


#: Tables of at most this many rows are kept on one printed page.
_SHORT_ROWS = 15


def escape(text) -> str:
    return html.escape(str(text))


def table(
    frame: pd.DataFrame,
    caption: str,
    *,
    numeric: Iterable[str] = (),
    index: bool = True,
    flagged: Sequence[bool] | None = None,
) -> str:
    """A captioned table of pre-formatted cells.

    Parameters
    ----------
    frame : DataFrame
        Cells as they are to be read (strings); the index is the first column when ``index``.
    caption : str
        One sentence saying how to read the table.
    numeric : iterable of str
        Columns aligned right (numbers).
    index : bool, default=True
        Show the index (its name heads the column).
    flagged : sequence of bool, default=None
        Rows to highlight (e.g. a feature with no reason text).
    """
    numeric = {str(column) for column in numeric}

    def cell(value, column, tag="td"):
        kind = ' class="num"' if str(column) in numeric else ""
        return f"<{tag}{kind}>{escape(value)}</{tag}>"

    head = ([cell(frame.index.name or "", None, "th")] if index else []) + [
        cell(column, column, "th") for column in frame.columns
    ]
    flagged = [False] * len(frame) if flagged is None else list(flagged)
    body = []
    for label, values, flag in zip(frame.index, frame.itertuples(index=False), flagged, strict=True):
        cells = ([cell(label, None)] if index else []) + [
            cell(value, column) for column, value in zip(frame.columns, values, strict=True)
        ]
        row_class = ' class="flag"' if flag else ""
        body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    short = ' class="short"' if len(frame) <= _SHORT_ROWS else ""  # printed on one page, long ones break by row
    return (
        f'<p class="caption">{escape(caption)}</p><table{short}><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def figure(draw: Callable, alt: str, caption: str, size: tuple[float, float] = (8, 5)) -> str:
    """Draw with ``draw(ax)`` on a fresh Agg figure and embed it as a base64 PNG, with a one-sentence caption."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def paragraph(text: str, css: str | None = None) -> str:
    return f'<p class="{css}">{escape(text)}</p>' if css else f"<p>{escape(text)}</p>"


def heading(level: int, text: str, anchor: str | None = None) -> str:
    anchor = f' id="{escape(anchor)}"' if anchor else ""
    return f"<h{level}{anchor}>{escape(text)}</h{level}>"


def document(title: str, parts: list[str]) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
