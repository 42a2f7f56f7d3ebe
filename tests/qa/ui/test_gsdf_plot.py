"""The contrast-response plot: measured steps against the GSDF and its tolerance band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from qa.gsdf import gsdf_contrast_per_jnd
from qa.luminance import GsdfEvaluation, SimulatedDisplay, evaluate, measure
from qa.ui.gsdf_plot import FAILED_COLOUR, GsdfPlot, render_png

GAMMA = evaluate(measure(SimulatedDisplay(1.0, 420.0, 0.2, response="gamma", gamma=2.2)))
CALIBRATED = measure(SimulatedDisplay(1.0, 420.0, 0.2, seed=1))


def _plot(qtbot, evaluation: GsdfEvaluation) -> GsdfPlot:
    plot = GsdfPlot()
    qtbot.addWidget(plot)
    plot.show_evaluation(evaluation)
    return plot


def _mean_luminance(evaluation: GsdfEvaluation, low: int, high: int) -> float:
    primed = dict(zip(evaluation.readings.levels, evaluation.readings.primed(), strict=True))
    return (primed[low] + primed[high]) / 2


def test_failed_steps_of_a_gamma_display_are_drawn_in_red(qtbot) -> None:
    plot = _plot(qtbot, GAMMA)
    red_x, red_y = plot.failed_points.getOriginalDataset()
    assert GAMMA.failed_steps and len(GAMMA.failed_steps) < len(GAMMA.steps)
    expected_x = [_mean_luminance(GAMMA, low, high) for low, high in GAMMA.failed_steps]
    np.testing.assert_allclose(red_x, expected_x)
    failed = [s for s in GAMMA.steps if not s.within_tolerance]
    np.testing.assert_allclose(red_y, [s.measured for s in failed])
    assert plot.failed_points.opts["symbolBrush"].color() == QColor(FAILED_COLOUR)
    passed_x, _ = plot.passed_points.getOriginalDataset()
    assert len(passed_x) == len(GAMMA.steps) - len(GAMMA.failed_steps)
    assert not set(np.round(passed_x, 9)) & set(np.round(red_x, 9))


def test_a_calibrated_display_has_no_red_points(qtbot) -> None:
    plot = _plot(qtbot, evaluate(CALIBRATED))
    red_x, _ = plot.failed_points.getOriginalDataset()
    assert red_x is None or len(red_x) == 0
    assert len(plot.passed_points.getOriginalDataset()[0]) == len(CALIBRATED.levels) - 1


@pytest.mark.parametrize(("display_class", "tolerance"), [("primary", 0.10),
                                                           ("secondary", 0.20)])
def test_the_band_is_as_wide_as_the_display_class_allows(qtbot, display_class: str,
                                                         tolerance: float) -> None:
    evaluation = evaluate(CALIBRATED, display_class=display_class)
    plot = _plot(qtbot, evaluation)
    x, gsdf = plot.expected_curve.getOriginalDataset()
    np.testing.assert_allclose(gsdf, gsdf_contrast_per_jnd(x))
    assert x[0] == pytest.approx(evaluation.l_min_prime)
    assert x[-1] == pytest.approx(evaluation.l_max_prime)
    np.testing.assert_allclose(plot.band_upper.getOriginalDataset()[1] / gsdf, 1 + tolerance)
    np.testing.assert_allclose(plot.band_lower.getOriginalDataset()[1] / gsdf, 1 - tolerance)
    assert plot.band.curves == [plot.band_lower, plot.band_upper]


def test_axes_are_labelled_with_units_and_luminance_is_logarithmic(qtbot) -> None:
    plot = _plot(qtbot, GAMMA)
    item = plot.plot.getPlotItem()
    assert "cd/m²" in item.getAxis("bottom").labelText
    assert "dL/L per JND" in item.getAxis("left").labelText
    assert item.getAxis("bottom").logMode
    labels = [label.text for _, label in plot.legend.items]
    assert any("±10%" in text for text in labels)
    assert any("outside tolerance" in text for text in labels)


def test_png_is_written_at_the_requested_size_with_red_points(qapp, tmp_path: Path) -> None:
    path = render_png(GAMMA, tmp_path / "gsdf.png", size=(900, 600))
    assert path.stat().st_size > 0
    image = QImage(str(path))
    assert (image.width(), image.height()) == (900, 600)
    red = QColor(FAILED_COLOUR).rgb()
    pixels = (image.pixel(x, y) for x in range(0, 900, 2) for y in range(0, 600, 2))
    assert any(pixel == red for pixel in pixels)
