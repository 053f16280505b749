"""Plain tables: Markdown from DataFrames (pandas' to_markdown needs an extra package), and
the HTML tables and number formats of the study's report."""

from __future__ import annotations

import html
import math

import pandas as pd


def _markdown_cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table, floats rounded to `digits`."""
    header = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(_markdown_cell(v, digits) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def esc(value) -> str:
    """Text made safe for HTML."""
    return html.escape(str(value))


def fmt(mean, sd=None) -> str:
    """'0.812', '0.812 ± 0.010', or '–' for no value."""
    if mean is None:
        return "–"
    return f"{mean:.3f}" if sd is None else f"{mean:.3f} ± {sd:.3f}"


def table(header: list[str], rows: list[list], cls: str = "") -> str:
    """An HTML table; a cell is text, or (text, css class)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _html_cell(value: object) -> str:
    """A cell is text, or (text, css class)."""
    if isinstance(value, tuple):
        return f'<td class="{value[1]}">{esc(value[0])}</td>'
    return f"<td>{esc(value)}</td>"
