"""The service measures as an A4 PDF for the meetings with the trust (STANDARDS §5).

Qt offscreen, as app/qa_report.py: a QTextDocument printed onto a QPdfWriter, with the
three plots of reporting/ui/measure_plots.py embedded as images. The tables are the
summary sections of app/kpi_export.py (compliance, breaches, speed, hours and warnings);
the per-study and per-report lists stay in the CSV and JSON exports.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument

from app.kpi_export import Section, sections, value
from app.pdf import print_pdf
from app.qa_report import PLOT_WIDTH, STYLE
from qa.ui.gsdf_plot import ensure_application
from reporting.measures import ServiceMeasures
from reporting.ui.measure_plots import (
    HoursPlot,
    MeasurePlot,
    ReportsPerDayPlot,
    TurnaroundPlot,
    render_image,
)

PLOT_SIZE: Final = (900, 450)
PLOT_SCALE: Final = 2
PLOTS: Final[tuple[tuple[str, type[MeasurePlot], str], ...]] = (
    ("turnaround", TurnaroundPlot, "Turnaround distribution against the 3- and 5-day targets"),
    ("reports", ReportsPerDayPlot, "Reports signed per day"),
    ("hours", HoursPlot, "Active hours per reporter per day, with the daily limit"),
)
# (section key, heading, plot shown after it)
CONTENTS: Final = (
    ("summary.period", "Period and limits", None),
    ("turnaround.weekly", "Turnaround compliance per week of arrival", None),
    ("turnaround.monthly", "Turnaround compliance per month of arrival", "turnaround"),
    ("turnaround.flags", "Breaches and near-breaches (within {near:g} h of a target)", None),
    ("speed.by_modality", "Reporting speed: active writing minutes per modality", None),
    ("reports.per_day", None, "reports"),
    ("hours.weekly", "Active hours per reporter per ISO week", "hours"),
    ("hours.warnings", "Working-hours warnings (nothing was blocked)", None),
)


def kpi_pdf(measures: ServiceMeasures, out: Path, *, title: str) -> Path:
    """Write the measures of one period as an A4 PDF to ``out``."""
    ensure_application()
    document = QTextDocument()
    document.setDefaultStyleSheet(STYLE)
    for name, plot, _ in PLOTS:
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(_url(name)),
                             render_image(plot, measures, PLOT_SIZE, scale=PLOT_SCALE))
    by_key = {section.key: section for section in sections(measures)}
    captions = {name: caption for name, _, caption in PLOTS}
    parts = [f"<h1>{escape(title)}</h1>"]
    for key, heading, plot_name in CONTENTS:
        if heading is not None:
            heading = heading.format(near=measures.near_window.total_seconds() / 3600)
            parts.append(f"<h2>{escape(heading)}</h2>" + _table(by_key[key]))
        if plot_name is not None:
            parts.append(f"<h2>{escape(captions[plot_name])}</h2>"
                         f'<p><img src="{_url(plot_name)}" width="{PLOT_WIDTH}"></p>')
    document.setHtml("<html><body>" + "".join(parts) + "</body></html>")
    print_pdf(document, out, title)
    return out


def _url(name: str) -> str:
    return f"telerad://kpi-{name}.png"


def _cell(item: object) -> str:
    shown = value(item)
    if shown is None:
        return "—"
    if isinstance(shown, str) and "/" in shown and shown[10:11] == "T":
        return shown.replace("T", " ").replace("/", " – ")  # a stretch: start – end
    if isinstance(shown, str) and len(shown) > 19 and shown[10:11] == "T":
        return shown[:16].replace("T", " ")  # ISO time to the minute
    return str(shown)


def _table(section: Section) -> str:
    if not section.rows:
        return "<p>None in this period.</p>"
    return _html_table(section.columns, [[_cell(item) for item in row] for row in section.rows])


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(name.replace('_', ' '))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return (f'<table border="1" cellspacing="0" cellpadding="3" width="100%">'
            f"<tr>{head}</tr>{body}</table>")
