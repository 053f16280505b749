"""Plain tables: Markdown from DataFrames (pandas' to_markdown needs an extra package); the
number formats of the study's report and its jinja2 templates (studies/templates/)."""

from __future__ import annotations

import functools
import math

import jinja2
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


def fmt(mean, sd=None) -> str:
    """'0.812', '0.812 ± 0.010', or '–' for no value."""
    if mean is None:
        return "–"
    return f"{mean:.3f}" if sd is None else f"{mean:.3f} ± {sd:.3f}"


@functools.cache
def templates() -> jinja2.Environment:
    """The report's jinja2 templates (studies/templates/), every value autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("radiolatent.studies", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def section(name: str, *args: object) -> str:
    """One section of the report: the macro `name` of sections.html.j2."""
    return str(getattr(templates().get_template("sections.html.j2").module, name)(*args))


def html_rows(rows: list[list]) -> list[list[dict]]:
    """Table rows for the templates: a cell is text, or (text, css class)."""
    return [[_html_cell(c) for c in row] for row in rows]


def _html_cell(value: object) -> dict:
    if isinstance(value, tuple):
        return {"text": value[0], "cls": value[1]}
    return {"text": value, "cls": ""}
