"""The reference comparison and the account's timeline as terminal tables (rich) and HTML."""

from __future__ import annotations

from html import escape

from rich.table import Table

from sim.analysis.summary import ReferenceComparison, ReferenceRow

__all__ = ["narrative_html", "narrative_table", "reference_html", "reference_table"]


def _cells(row: ReferenceRow) -> list[str]:
    reported, simulated = row.reported, row.simulated
    return [row.label, reported.incident, simulated.incident.shown, reported.baseline or "-", simulated.baseline.shown]


def reference_table(document: ReferenceComparison) -> Table:
    """What the account reported beside the simulated incident day and ordinary day."""
    seeds = ", ".join(str(s) for s in document.seeds)
    table = Table(title=f"reported vs simulated (seeds {seeds}); report: {document.source}")
    for i, heading in enumerate(document.columns):
        table.add_column(heading, justify="left" if i == 0 else "right")
    for row in document.rows:
        table.add_row(*_cells(row))
    return table


def narrative_table(document: ReferenceComparison) -> Table:
    """The account's timeline, line by line, beside the simulated moments of the first seed."""
    table = Table(title=f"the account's timeline beside the simulation (seed {document.seeds[0]})")
    for heading in ("simulated time", "the account", "in the simulation"):
        table.add_column(heading)
    for line in document.narrative:
        table.add_row(line.clock or "-", line.reported, line.simulated)
    return table


def reference_html(document: ReferenceComparison) -> str:
    """The comparison as an HTML table (the report's first section)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in document.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td class='num'>{escape(c)}</td>" for c in _cells(row)) + "</tr>" for row in document.rows
    )
    sources = "".join(f"<li>{escape(row.label)}: {escape(row.source)}</li>" for row in document.rows)
    return (
        f"<table id='reference'><tr>{head}</tr>{rows}</table>"
        f"<p>Report: {escape(document.source)}</p><ul class='sources'>{sources}</ul>"
    )


def narrative_html(document: ReferenceComparison) -> str:
    """The account's timeline beside the simulation, as an HTML table."""
    rows = "".join(
        f"<tr><td class='num'>{escape(line.clock or '-')}</td><td>{escape(line.reported)}</td>"
        f"<td>{escape(line.simulated)}</td></tr>"
        for line in document.narrative
    )
    return (
        "<table id='narrative'><tr><th>simulated time</th><th>the account</th><th>in the simulation</th></tr>"
        f"{rows}</table>"
    )
