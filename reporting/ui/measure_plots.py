"""Plots of the service measures (STANDARDS §5): for the in-app dashboard and the KPI PDF.

Three pyqtgraph views over a ``ServiceMeasures``: the turnaround distribution against the
contract's 3- and 5-day lines, reports signed per day, and active hours per user per day
against the daily limit. Each is a plain widget with ``show(measures)``;
``render_image``/``render_png`` draw one offscreen for print.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget

from reporting.measures import ServiceMeasures
from viewer.ui.offscreen import ensure_application, render_offscreen

DEFAULT_SIZE: Final = (900, 450)
BIN_DAYS: Final = 0.25  # turnaround histogram bins of 6 hours
ACKNOWLEDGED_COLOUR: Final = "#1f4e9c"
OPEN_COLOUR: Final = "#f0a030"  # not yet acknowledged: turnaround so far
LIMIT_COLOUR: Final = "#d62728"
TARGET_COLOURS: Final = ("#d62728", "#8c1010")  # 3-day, 5-day
USER_COLOURS: Final = ("#1f4e9c", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_TICKS: Final = 15  # day labels shown on an axis, the others thinned out


class MeasurePlot(QWidget):
    """A white pyqtgraph plot with black labelled axes and a legend; subclasses draw."""

    x_label = ""
    y_label = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.item = self.plot.getPlotItem()
        self.item.showGrid(x=False, y=True, alpha=0.25)
        for side, label in (("bottom", self.x_label), ("left", self.y_label)):
            axis = self.item.getAxis(side)
            axis.setPen("k")
            axis.setTextPen("k")
            axis.enableAutoSIPrefix(False)
            self.item.setLabel(side, label, color="k")
        self.legend = self.item.addLegend(offset=(-10, 10), labelTextColor="k",
                                          brush=(255, 255, 255, 200))

    def show(self, measures: ServiceMeasures | None = None) -> None:  # type: ignore[override]
        """Redraw from ``measures``; without them, QWidget.show()."""
        if measures is None:
            super().show()
            return
        self.item.clear()
        self.legend.clear()
        self.item.enableAutoRange()  # a plot may then fix a range of its own
        self.draw(measures)

    def draw(self, measures: ServiceMeasures) -> None:
        raise NotImplementedError

    def title(self, text: str) -> None:
        self.item.setTitle(text, color="k", size="11pt")

    def day_ticks(self, labels: Sequence[str]) -> None:
        step = max(1, math.ceil(len(labels) / MAX_TICKS))
        ticks = [(float(i), label[5:]) for i, label in enumerate(labels) if i % step == 0]
        self.item.getAxis("bottom").setTicks([ticks, []])

    def limit_line(self, value: float, *, angle: int, colour: str, label: str,
                   position: float = 0.9) -> None:
        pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(pos=value, angle=angle, pen=pen, label=label,
                               labelOpts={"color": colour, "position": position})
        self.item.addItem(line)


class TurnaroundPlot(MeasurePlot):
    """How many studies took how long, against the 3- and 5-day targets."""

    x_label = "Turnaround, arrival → acknowledged (days)"
    y_label = "Studies"

    def draw(self, measures: ServiceMeasures) -> None:
        spans = [span.total_seconds() / 86400 for _, span in measures.targets]
        days = [(t.elapsed.total_seconds() / 86400, t.acknowledged_at is not None)
                for t in measures.turnarounds]
        top = max([*spans, *(d for d, _ in days)], default=5.0) + BIN_DAYS
        edges = np.arange(0.0, top + BIN_DAYS, BIN_DAYS)
        below = np.zeros(len(edges) - 1)  # open studies stacked on the acknowledged ones
        for acknowledged, colour, name in ((True, ACKNOWLEDGED_COLOUR, "Acknowledged"),
                                           (False, OPEN_COLOUR, "Not yet acknowledged")):
            counts, _ = np.histogram([d for d, a in days if a is acknowledged], bins=edges)
            if counts.any():
                bars = pg.BarGraphItem(x0=edges[:-1], y0=below, height=counts,
                                       width=BIN_DAYS * 0.9, brush=colour, pen="k")
                self.item.addItem(bars)
                self.legend.addItem(bars, name)
            below = below + counts
        for (name, _), span, colour in zip(measures.targets, spans, TARGET_COLOURS,
                                           strict=False):
            self.limit_line(span, angle=90, colour=colour, label=f"{name} target")
        met = sum(1 for t in measures.turnarounds if t.acknowledged_at is not None)
        self.title(f"Turnaround of {len(days)} studies ({met} acknowledged)")


class ReportsPerDayPlot(MeasurePlot):
    """Reports signed on each day of the period."""

    x_label = "Day (month-day, UTC)"
    y_label = "Reports signed"

    def draw(self, measures: ServiceMeasures) -> None:
        counts = [day.reports for day in measures.reports_per_day]
        bars = pg.BarGraphItem(x=np.arange(len(counts)), height=counts, width=0.8,
                               brush=ACKNOWLEDGED_COLOUR, pen="k")
        self.item.addItem(bars)
        self.day_ticks([day.day.isoformat() for day in measures.reports_per_day])
        self.item.setXRange(-0.5, len(counts) - 0.5, padding=0)
        self.title(f"Reports per day: {sum(counts)} in {len(counts)} days")


class HoursPlot(MeasurePlot):
    """Active hours of each user on each day, side by side, with the daily limit."""

    x_label = "Day (month-day, UTC)"
    y_label = "Active hours"

    def draw(self, measures: ServiceMeasures) -> None:
        days = [day.day.isoformat() for day in measures.reports_per_day]
        index = {day: i for i, day in enumerate(days)}
        users = sorted({active.user for active in measures.daily_hours})
        width = 0.8 / max(len(users), 1)
        for n, user in enumerate(users):
            worked = [(index[a.period], a.hours) for a in measures.daily_hours
                      if a.user == user and a.period in index]
            x = np.array([i for i, _ in worked], dtype=float) - 0.4 + width * (n + 0.5)
            bars = pg.BarGraphItem(x=x, height=[h for _, h in worked], width=width,
                                   brush=USER_COLOURS[n % len(USER_COLOURS)], pen="k")
            self.item.addItem(bars)
            self.legend.addItem(bars, user)
        limit = measures.limits.max_hours_per_day
        self.limit_line(limit, angle=0, colour=LIMIT_COLOUR, label=f"limit {limit:g} h/day",
                        position=0.5)
        self.day_ticks(days)
        self.item.setXRange(-0.5, len(days) - 0.5, padding=0)
        self.item.setYRange(0, max([limit, *(a.hours for a in measures.daily_hours)]) * 1.15,
                            padding=0)
        self.title(f"Active hours per day ({len(measures.warnings)} limit warning(s))")


def render_image(plot: type[MeasurePlot], measures: ServiceMeasures,
                 size: tuple[int, int] = DEFAULT_SIZE, *, scale: int = 1) -> QImage:
    """``plot`` of ``measures`` drawn offscreen into ``size`` × ``scale`` pixels (print)."""
    ensure_application()
    widget = plot()
    widget.show(measures)
    return render_offscreen(widget, size, scale)


def render_png(plot: type[MeasurePlot], measures: ServiceMeasures, path: Path | str,
               size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Write ``plot`` of ``measures`` as a PNG of ``size`` pixels."""
    target = Path(path)
    if not render_image(plot, measures, size).save(str(target), "PNG"):
        raise OSError(f"could not write the plot to {target}")
    return target
