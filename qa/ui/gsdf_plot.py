"""Contrast-response plot: measured dL/L per JND of each step against the GSDF and its band.

The plot of AAPM TG18 §4.3 (and pacsDisplay's lumResponse): x is the mean luminance L' of
each TG18-LN step on a log axis, y its contrast dL/L per JND. The GSDF's own dL/L per JND
(PS3.14 §7.1) is drawn over the display's L'min..L'max with the tolerance band of the
display class (±10 % primary, ±20 % secondary) filled around it; steps outside their
tolerance are red. Thin view over qa.luminance.GsdfEvaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget

from qa.gsdf import gsdf_contrast_per_jnd
from qa.luminance import GsdfEvaluation
from viewer.ui.offscreen import ensure_application, render_offscreen

CURVE_POINTS: Final = 200  # samples of the GSDF curve over L'min..L'max
PASSED_COLOUR: Final = "#1f4e9c"
FAILED_COLOUR: Final = "#d62728"  # red: a step outside its tolerance
CURVE_COLOUR: Final = "#202020"
BAND_COLOUR: Final = (44, 160, 44, 60)  # translucent green
DEFAULT_SIZE: Final = (900, 600)


def step_luminances(evaluation: GsdfEvaluation) -> np.ndarray:
    """Mean L' (cd/m²) of each step, in the order of ``evaluation.steps``."""
    primed = dict(zip(evaluation.readings.levels, evaluation.readings.primed(), strict=True))
    return np.array([(primed[s.ddl_low] + primed[s.ddl_high]) / 2 for s in evaluation.steps])


def gsdf_curve(evaluation: GsdfEvaluation) -> tuple[np.ndarray, np.ndarray]:
    """The GSDF's dL/L per JND sampled log-evenly over the display's L'min..L'max."""
    lum = np.geomspace(evaluation.l_min_prime, evaluation.l_max_prime, CURVE_POINTS)
    return lum, gsdf_contrast_per_jnd(lum)


class GsdfPlot(QWidget):
    """Measured vs GSDF contrast response of one evaluation, with its tolerance band."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        item = self.plot.getPlotItem()
        item.setLogMode(x=True, y=False)
        item.showGrid(x=True, y=True, alpha=0.25)
        for side, label, unit in (("bottom", "Mean luminance L′ of the step", "cd/m²"),
                                  ("left", "Contrast dL/L per JND", "unitless")):
            axis = item.getAxis(side)
            axis.setPen("k")
            axis.setTextPen("k")
            axis.enableAutoSIPrefix(False)
            item.setLabel(side, f"{label} ({unit})", color="k")
        self.legend = item.addLegend(offset=(-10, 10), labelTextColor="k",
                                     brush=(255, 255, 255, 200))
        self.expected_curve = pg.PlotDataItem(pen=pg.mkPen(CURVE_COLOUR, width=2))
        self.band_upper = pg.PlotDataItem(pen=pg.mkPen(BAND_COLOUR[:3], width=1))
        self.band_lower = pg.PlotDataItem(pen=pg.mkPen(BAND_COLOUR[:3], width=1))
        self.band = pg.FillBetweenItem(self.band_lower, self.band_upper, brush=BAND_COLOUR)
        self.passed_points = self._points(PASSED_COLOUR)
        self.failed_points = self._points(FAILED_COLOUR)
        for curve in (self.band_upper, self.band_lower, self.band, self.expected_curve,
                      self.passed_points, self.failed_points):
            item.addItem(curve)
        # the fill itself cannot draw a legend sample; a filled stand-in, never plotted, does
        self._band_sample = pg.PlotDataItem(pen=pg.mkPen(BAND_COLOUR[:3]), fillLevel=0.0,
                                            fillBrush=BAND_COLOUR)
        self.evaluation: GsdfEvaluation | None = None

    @staticmethod
    def _points(colour: str) -> pg.PlotDataItem:
        return pg.PlotDataItem(pen=None, symbol="o", symbolSize=9, symbolPen=pg.mkPen("k"),
                               symbolBrush=pg.mkBrush(colour))

    def show_evaluation(self, evaluation: GsdfEvaluation) -> None:
        """Draw one evaluation: GSDF curve, ±tolerance band, and the measured steps."""
        self.evaluation = evaluation
        lum, expected = gsdf_curve(evaluation)
        self.expected_curve.setData(lum, expected)
        self.band_upper.setData(lum, expected * (1 + evaluation.tolerance))
        self.band_lower.setData(lum, expected * (1 - evaluation.tolerance))
        x = step_luminances(evaluation)
        y = np.array([s.measured for s in evaluation.steps])
        failed = np.array([not s.within_tolerance for s in evaluation.steps], dtype=bool)
        self.passed_points.setData(x[~failed], y[~failed])
        self.failed_points.setData(x[failed], y[failed])
        self._fill_legend(evaluation, bool(failed.any()), bool((~failed).any()))
        self.plot.getPlotItem().getAxis("bottom").setTicks([_log_ticks(lum[0], x.max()), []])
        verdict = (f"{len(evaluation.failed_steps)} of {len(evaluation.steps)} steps outside"
                   if failed.any() else "every step within tolerance")
        self.plot.getPlotItem().setTitle(
            f"Contrast response vs GSDF: {verdict}", color="k", size="11pt")
        self.plot.getPlotItem().enableAutoRange()

    def _fill_legend(self, evaluation: GsdfEvaluation, any_failed: bool,
                     any_passed: bool) -> None:
        """Legend entries for what is drawn: an empty set of points gets none."""
        self.legend.clear()
        self.legend.addItem(self.expected_curve, "GSDF (PS3.14)")
        band = f"Tolerance ±{evaluation.tolerance:.0%} ({evaluation.display_class})"
        self.legend.addItem(self._band_sample, band)
        if any_passed:
            self.legend.addItem(self.passed_points, "Measured step, within tolerance")
        if any_failed:
            self.legend.addItem(self.failed_points, "Measured step, outside tolerance")


def _log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks at 1, 2, 5 × 10ⁿ cd/m² between low and high, at their log10 positions."""
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    values = [m * 10.0**n for n in decades for m in (1, 2, 5)]
    return [(float(np.log10(v)), f"{v:g}") for v in values if low / 1.5 <= v <= high * 1.5]


def render_image(evaluation: GsdfEvaluation, size: tuple[int, int] = DEFAULT_SIZE, *,
                 scale: int = 1) -> QImage:
    """The plot of ``evaluation`` drawn offscreen into an image of ``size`` × ``scale`` pixels.

    ``scale`` > 1 keeps the layout and text size of ``size`` but draws it sharper (for print).
    """
    ensure_application()
    widget = GsdfPlot()
    widget.show_evaluation(evaluation)
    return render_offscreen(widget, size, scale)


def render_png(evaluation: GsdfEvaluation, path: Path | str,
               size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Write the plot of ``evaluation`` as a PNG of ``size`` pixels (for the PDF report)."""
    target = Path(path)
    if not render_image(evaluation, size).save(str(target), "PNG"):
        raise OSError(f"could not write the GSDF plot to {target}")
    return target
