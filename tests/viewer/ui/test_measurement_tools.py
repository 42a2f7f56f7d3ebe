"""A radiologist measures on the image: a ruler in mm and ROI statistics in HU."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF

from app.access import StudyAccess
from app.synthetic import iter_instances
from app.viewing import StoreStudyReader
from tests.helpers import encode, small_plan
from viewer.measure import ellipse_mask, roi_statistics
from viewer.series import SeriesVolume, main_series
from viewer.ui.viewport import Viewport


@pytest.fixture
def viewport(qtbot, workstation):
    plan = small_plan("CT_CHEST", 4)
    for dataset in iter_instances(plan):
        workstation.store.put(encode(dataset), dataset, reporter="demo")
    reader = StoreStudyReader(StudyAccess(workstation.store, workstation.audit, "demo",
                                          "reporter"))
    volume = SeriesVolume(reader, main_series(reader.series_of(plan.study_uid)).instances)
    shown = Viewport(volume)
    qtbot.addWidget(shown)
    shown.resize(600, 600)
    shown.show()
    yield shown
    volume.close()


def _centre(row: float, column: float) -> QPointF:
    """View coordinates of the centre of pixel (row, column) of an isotropic image."""
    return QPointF(column + 0.5, row + 0.5)


def test_ruler_reports_millimetres_and_the_spacing_it_used(viewport: Viewport) -> None:
    spacing = viewport.volume.info(0).spacing
    viewport.measurements.set_tool("distance")
    viewport.measurements.drag(_centre(10, 10), _centre(10, 110), 0, finished=True)
    (measurement,) = viewport.measurements.measurements
    assert measurement.text == f"{100 * spacing.column_mm:.1f} mm ({spacing.describe()})"


def test_ellipse_statistics_are_in_hounsfield_units_of_that_region(viewport: Viewport) -> None:
    viewport.measurements.set_tool("ellipse")
    viewport.measurements.drag(_centre(200, 200), _centre(260, 300), 0, finished=True)
    (measurement,) = viewport.measurements.measurements
    values = viewport.volume.modality(0)
    mask = ellipse_mask(values.shape, (230, 250), (30, 50))
    expected = roi_statistics(values, mask, viewport.volume.info(0).spacing, "HU", "ellipse")
    assert measurement.text == expected.label()
    assert "HU" in measurement.text


def test_measurement_stays_on_its_own_slice(viewport: Viewport) -> None:
    viewport.measurements.set_tool("rectangle")
    viewport.measurements.drag(_centre(100, 100), _centre(150, 150), 0, finished=True)
    (measurement,) = viewport.measurements.measurements
    assert all(item.isVisible() for item in measurement.items)
    viewport.scroll(1)
    assert not any(item.isVisible() for item in measurement.items)
    viewport.scroll(-1)
    assert all(item.isVisible() for item in measurement.items)


def test_unknown_tool_is_refused(viewport: Viewport) -> None:
    with pytest.raises(ValueError, match="unknown measurement tool"):
        viewport.measurements.set_tool("protractor")
