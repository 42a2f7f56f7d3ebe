"""Measurements: distances that state their spacing, ROI statistics in modality units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.geometry import IMAGER_PIXEL_SPACING, PIXEL_SPACING, PixelSpacing
from viewer.measure import (
    distance,
    ellipse_mask,
    rectangle_mask,
    roi_statistics,
)

CT_SPACING = PixelSpacing(0.5, 0.8, PIXEL_SPACING)


def test_distance_with_anisotropic_spacing_scales_rows_and_columns_separately():
    measured = distance((10, 20), (40, 60), CT_SPACING)  # 30 rows, 40 columns
    assert measured.pixels == pytest.approx(50.0)
    assert measured.mm == pytest.approx(math.hypot(30 * 0.5, 40 * 0.8))  # 35.34 mm
    assert measured.label() == "35.3 mm (Pixel Spacing)"


def test_distance_along_a_row_uses_the_column_spacing():
    assert distance((5, 0), (5, 100), CT_SPACING).mm == pytest.approx(80.0)
    assert distance((0, 5), (100, 5), CT_SPACING).mm == pytest.approx(50.0)


def test_radiograph_distance_names_the_detector_caveat():
    spacing = PixelSpacing(0.15, 0.15, IMAGER_PIXEL_SPACING)
    label = distance((0, 0), (0, 282), spacing).label()
    assert label == ("42.3 mm (Imager Pixel Spacing (at the detector, "
                     "not calibrated to the patient))")


def test_distance_without_spacing_is_in_pixels_and_says_it_is_not_calibrated():
    measured = distance((0, 0), (0, 118), None)
    assert measured.mm is None
    assert measured.label() == "118.0 px (no pixel spacing: not calibrated)"


def test_ellipse_mask_area_is_close_to_pi_a_b():
    mask = ellipse_mask((400, 400), (200, 200), (60, 90))
    assert mask.sum() == pytest.approx(math.pi * 60 * 90, rel=0.01)
    assert mask[200, 200] and mask[140, 200] and mask[200, 290]
    assert not mask[139, 200] and not mask[200, 291]


def test_ellipse_mask_clips_at_the_image_edge():
    mask = ellipse_mask((50, 50), (0, 0), (10, 10))
    assert mask.sum() == pytest.approx(math.pi * 100 / 4, rel=0.15)


def test_ellipse_needs_positive_radii():
    with pytest.raises(ValueError, match="radii must be positive"):
        ellipse_mask((10, 10), (5, 5), (0, 3))


def test_rectangle_mask_is_exact_and_includes_both_corners():
    mask = rectangle_mask((20, 20), (2, 3), (5, 8))
    assert mask.sum() == 4 * 6
    assert mask[2, 3] and mask[5, 8] and not mask[6, 8] and not mask[5, 9]
    np.testing.assert_array_equal(mask, rectangle_mask((20, 20), (5, 8), (2, 3)))


def test_roi_statistics_equal_numpy_on_the_same_mask():
    values = np.random.default_rng(7).normal(40, 3, (64, 64)).round().astype(np.int16)
    mask = ellipse_mask(values.shape, (32, 32), (10, 12))
    stats = roi_statistics(values, mask, CT_SPACING, "HU", "ellipse")
    inside = values[mask].astype(float)
    assert stats.pixels == inside.size
    assert stats.mean == pytest.approx(inside.mean())
    assert stats.sd == pytest.approx(inside.std(ddof=1))
    assert (stats.minimum, stats.maximum) == (inside.min(), inside.max())
    assert stats.area_mm2 == pytest.approx(inside.size * 0.5 * 0.8)


def test_roi_label_reads_mean_sd_extremes_and_area():
    values = np.array([[30.0, 40.0], [50.0, 40.0]])
    stats = roi_statistics(values, np.ones((2, 2), bool), PixelSpacing(1, 1, PIXEL_SPACING),
                           "HU", "rectangle")
    assert stats.label() == "mean 40.0 HU  SD 8.2\nmin 30  max 50\narea 4.0 mm² (4 px)"


def test_roi_without_spacing_or_unit():
    values = np.array([[0.5, 1.5]])
    stats = roi_statistics(values, np.array([[True, True]]), None, "", "rectangle")
    assert stats.area_mm2 is None
    assert stats.label() == "mean 1.0  SD 0.7\nmin 0.5  max 1.5\narea 2 px (no pixel spacing)"


def test_single_pixel_roi_has_no_sample_sd():
    stats = roi_statistics(np.array([[7.0]]), np.array([[True]]), None, "HU", "ellipse")
    assert math.isnan(stats.sd)
    assert "SD n/a" in stats.label()


def test_empty_roi_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="ROI contains no pixel centres"):
        roi_statistics(np.zeros((4, 4)), np.zeros((4, 4), bool), None, "HU", "ellipse")


def test_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match="does not match the image"):
        roi_statistics(np.zeros((4, 4)), np.ones((3, 3), bool), None, "HU", "rectangle")


def test_unknown_roi_shape_is_refused():
    with pytest.raises(ValueError, match="Unknown ROI shape"):
        roi_statistics(np.zeros((2, 2)), np.ones((2, 2), bool), None, "HU", "freehand")
