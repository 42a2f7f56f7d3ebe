"""Series geometry: spacing sources, slice order, orientation letters, linked scrolling."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from pydicom.dataset import Dataset

from viewer.geometry import (
    BY_ACQUISITION_ORDER,
    BY_GEOMETRY,
    BY_INSTANCE_NUMBER,
    IMAGER_PIXEL_SPACING,
    NOMINAL_SCANNED_PIXEL_SPACING,
    PIXEL_SPACING,
    PixelSpacing,
    nearest_index,
    orientation_letters,
    patient_orientation_letters,
    pixel_spacing,
    slice_plane,
    sort_series,
)

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]


def image(position=None, orientation=AXIAL, number=None, **attributes) -> Dataset:
    ds = Dataset()
    if position is not None:
        ds.ImagePositionPatient = list(position)
    if orientation is not None:
        ds.ImageOrientationPatient = list(orientation)
    if number is not None:
        ds.InstanceNumber = number
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def axial_series(zs, numbers=None) -> list[Dataset]:
    numbers = numbers or range(1, len(zs) + 1)
    return [image((-100, -120, z), number=n) for z, n in zip(zs, numbers, strict=True)]


# ---- pixel spacing (PS3.3 10.7.1.1, 10.7.1.3) ----------------------------------------------


def test_ct_pixel_spacing_is_row_then_column():
    spacing = pixel_spacing(image(PixelSpacing=[0.5, 0.8], Modality="CT"))
    assert spacing == PixelSpacing(0.5, 0.8, PIXEL_SPACING)
    assert spacing.describe() == "Pixel Spacing"


def test_cr_with_imager_pixel_spacing_only_carries_the_detector_caveat():
    spacing = pixel_spacing(image(orientation=None, Modality="CR", ImagerPixelSpacing=[0.15, 0.15]))
    assert (spacing.row_mm, spacing.column_mm) == (0.15, 0.15)
    assert spacing.source == IMAGER_PIXEL_SPACING
    assert "at the detector, not calibrated to the patient" in spacing.describe()


def test_pixel_spacing_that_repeats_imager_pixel_spacing_is_still_at_the_detector():
    ds = image(orientation=None, Modality="DX", PixelSpacing=[0.14, 0.14],
               ImagerPixelSpacing=[0.14, 0.14])
    assert pixel_spacing(ds).source == IMAGER_PIXEL_SPACING


def test_pixel_spacing_different_from_the_detector_is_preferred_as_corrected():
    ds = image(orientation=None, Modality="DX", PixelSpacing=[0.125, 0.125],
               ImagerPixelSpacing=[0.14, 0.14])
    spacing = pixel_spacing(ds)
    assert (spacing.row_mm, spacing.source) == (0.125, PIXEL_SPACING)
    assert "corrected for magnification" in spacing.describe()


def test_calibration_type_is_noted_in_the_label():
    ds = image(orientation=None, Modality="DX", PixelSpacing=[0.14, 0.14],
               ImagerPixelSpacing=[0.14, 0.14], PixelSpacingCalibrationType="FIDUCIAL",
               PixelSpacingCalibrationDescription="25 mm ball at the greater trochanter")
    assert pixel_spacing(ds).describe() == (
        "Pixel Spacing, calibrated: FIDUCIAL (25 mm ball at the greater trochanter)")


def test_projection_pixel_spacing_without_any_calibration_clue_says_so():
    ds = image(orientation=None, Modality="CR", PixelSpacing=[0.2, 0.2])
    assert pixel_spacing(ds).describe() == "Pixel Spacing, calibration not stated"


def test_scanned_film_uses_nominal_scanned_pixel_spacing():
    ds = image(orientation=None, Modality="OT", NominalScannedPixelSpacing=[0.3, 0.3])
    assert pixel_spacing(ds).source == NOMINAL_SCANNED_PIXEL_SPACING


def test_enhanced_multiframe_spacing_comes_from_shared_pixel_measures():
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.7]
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    ds = image(orientation=None, SharedFunctionalGroupsSequence=[shared])
    assert pixel_spacing(ds) == PixelSpacing(0.7, 0.7, PIXEL_SPACING)


@pytest.mark.parametrize("value", [None, [0.5], [0.0, 0.5], [-1, 1]])
def test_missing_or_invalid_spacing_gives_none(value):
    ds = image(orientation=None)
    if value is not None:
        ds.PixelSpacing = value
    assert pixel_spacing(ds) is None


# ---- slice plane (PS3.3 C.7.6.2.1.1) ----------------------------------------------------


def test_pixel_to_patient_follows_the_image_plane_matrix():
    plane = slice_plane(image((-100, -120, 30)))
    point = plane.pixel_to_patient(10, 20, PixelSpacing(0.5, 0.8, PIXEL_SPACING))
    np.testing.assert_allclose(point, [-100 + 20 * 0.8, -120 + 10 * 0.5, 30])
    np.testing.assert_allclose(plane.normal, [0, 0, 1])
    assert plane.location == pytest.approx(30)


@pytest.mark.parametrize("orientation", [
    None, [1, 0, 0, 0, 1], [1, 0, 0, 1, 0, 0], [2, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0],
])
def test_invalid_orientation_gives_no_plane(orientation):
    assert slice_plane(image((0, 0, 0), orientation)) is None


def test_missing_position_gives_no_plane():
    assert slice_plane(image(None)) is None


# ---- slice order --------------------------------------------------------------------------


def test_shuffled_slices_with_shuffled_instance_numbers_come_back_in_geometric_order():
    zs = [-50.0 + 5 * i for i in range(12)]
    shuffled = random.Random(3).sample(zs, len(zs))
    numbers = random.Random(4).sample(range(1, 13), 12)
    headers = axial_series(shuffled, numbers)
    result = sort_series(headers)
    assert result.method == BY_GEOMETRY
    assert [shuffled[i] for i in result.order] == sorted(zs, reverse=True)
    assert result.locations == sorted(zs, reverse=True)
    assert result.spacing_mm == pytest.approx(5.0)
    assert result.warnings == []


def test_axial_order_is_head_first_whichever_way_the_slices_arrive():
    zs = [0.0, 2.5, 5.0, 7.5]
    upward, downward = sort_series(axial_series(zs)), sort_series(axial_series(zs[::-1]))
    assert upward.order == [3, 2, 1, 0]
    assert downward.order == [0, 1, 2, 3]
    assert upward.locations == downward.locations == [7.5, 5.0, 2.5, 0.0]


def test_feet_first_series_reports_the_same_locations_as_head_first():
    feet_first = [image((100, -120, z), [-1, 0, 0, 0, 1, 0]) for z in (0.0, 5.0, 10.0)]
    assert slice_plane(feet_first[0]).normal[2] == pytest.approx(-1)
    result = sort_series(feet_first)
    assert result.locations == [10.0, 5.0, 0.0]
    assert result.order == [2, 1, 0]


def test_coronal_runs_front_to_back_and_sagittal_right_to_left():
    coronal = [image((-100, y, 100), CORONAL) for y in (20.0, -10.0, 5.0)]
    sagittal = [image((x, -100, 100), SAGITTAL) for x in (3.0, -30.0, 40.0)]
    assert sort_series(coronal).locations == [-10.0, 5.0, 20.0]  # anterior (-y) first
    assert sort_series(sagittal).locations == [-30.0, 3.0, 40.0]  # right (-x) first


def test_gantry_tilt_is_sorted_along_the_tilted_normal():
    tilt = math.radians(20)
    orientation = [1, 0, 0, 0, math.cos(tilt), -math.sin(tilt)]
    zs = [0.0, 10.0, 5.0, 15.0]
    headers = [image((-100, -100, z), orientation, number=i) for i, z in enumerate(zs)]
    result = sort_series(headers)
    assert result.method == BY_GEOMETRY
    assert result.order == [3, 1, 2, 0]
    assert result.spacing_mm == pytest.approx(5 * math.cos(tilt))


def test_oblique_stack_is_sorted_along_its_normal():
    row, column = np.array([0.8, 0.6, 0.0]), np.array([-0.36, 0.48, -0.8])
    normal = np.cross(row, column)  # (-0.48, 0.64, 0.6): mostly posterior
    origin = np.array([10.0, -20.0, 30.0])
    steps = [2, 0, 3, 1]
    headers = [image(origin + 3 * k * normal, [*row, *column]) for k in steps]
    result = sort_series(headers)
    assert result.order == [1, 3, 0, 2]
    assert result.spacing_mm == pytest.approx(3.0)
    assert result.locations[0] == pytest.approx(float(origin @ normal))


def test_missing_position_falls_back_to_instance_number_and_says_so():
    headers = axial_series([0.0, 10.0, 5.0], numbers=[3, 1, 2])
    del headers[1].ImagePositionPatient
    result = sort_series(headers)
    assert result.method == BY_INSTANCE_NUMBER == "Instance Number (no consistent geometry)"
    assert result.order == [1, 2, 0]
    assert result.locations == [None, None, None]
    assert "1 of 3" in result.warnings[0]


def test_without_geometry_or_instance_numbers_the_received_order_is_kept():
    headers = [image(None, number=None) for _ in range(3)]
    result = sort_series(headers)
    assert (result.method, result.order) == (BY_ACQUISITION_ORDER, [0, 1, 2])


def test_a_localizer_in_the_series_is_reported_as_mixed_orientations():
    headers = [*axial_series([0.0, 5.0]), image((0, -100, 100), SAGITTAL, number=9)]
    result = sort_series(headers)
    assert result.method == BY_INSTANCE_NUMBER
    assert "mixed orientations" in result.warnings[0]


def test_duplicate_positions_are_warned_and_ignored_for_spacing():
    result = sort_series(axial_series([0.0, 5.0, 5.0, 10.0]))
    assert result.spacing_mm == pytest.approx(5.0)
    assert any(w.startswith("duplicate positions: 1 slice") for w in result.warnings)
    assert result.order == [3, 1, 2, 0]  # the tied pair keeps its received order


def test_a_gap_in_the_series_is_warned_with_the_slice_numbers():
    result = sort_series(axial_series([0.0, 5.0, 10.0, 25.0, 30.0]))
    assert result.spacing_mm == pytest.approx(5.0)
    assert result.warnings == [
        "gap of 15.0 mm between slices 2 and 3 (spacing 5.0 mm): slices may be missing"]


def test_uneven_spacing_is_warned():
    result = sort_series(axial_series([0.0, 5.0, 10.0, 14.0, 19.0]))
    assert result.warnings == ["uneven slice spacing: 4.00 to 5.00 mm"]


def test_single_image_and_empty_series():
    single = sort_series(axial_series([12.0]))
    assert (single.order, single.locations, single.spacing_mm) == ([0], [12.0], None)
    assert sort_series([]).order == []


# ---- orientation letters (PS3.3 C.7.6.2.1.1, C.7.6.1.1.1) --------------------------------


@pytest.mark.parametrize(("orientation", "expected"), [
    (AXIAL, {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
    (CORONAL, {"left": "R", "right": "L", "top": "H", "bottom": "F"}),
    (SAGITTAL, {"left": "A", "right": "P", "top": "H", "bottom": "F"}),
])
def test_standard_planes_have_the_expected_edge_letters(orientation, expected):
    assert orientation_letters(orientation[:3], orientation[3:]) == expected


def test_oblique_directions_list_letters_by_decreasing_component():
    letters = orientation_letters([0.8, 0.6, 0.0], [-0.36, 0.48, -0.8])
    assert letters == {"left": "RA", "right": "LP", "top": "HAL", "bottom": "FPR"}


def test_rounding_noise_does_not_make_a_plane_look_oblique():
    assert orientation_letters([1, 1e-7, 0], [0, 1, -2e-6])["right"] == "L"


def test_orientation_letters_come_from_the_image_orientation_first():
    ds = image((0, 0, 0), CORONAL, PatientOrientation=["P", "F"])
    assert patient_orientation_letters(ds)["top"] == "H"


def test_cr_uses_patient_orientation_rows_then_columns():
    ds = image(orientation=None, Modality="CR", PatientOrientation=["P", "F"])
    assert patient_orientation_letters(ds) == {
        "left": "A", "right": "P", "top": "H", "bottom": "F"}


def test_patient_orientation_refinements_are_inverted_letter_by_letter():
    ds = image(orientation=None, PatientOrientation=["LA", "FP"])
    assert patient_orientation_letters(ds) == {
        "left": "RP", "right": "LA", "top": "HA", "bottom": "FP"}


@pytest.mark.parametrize("value", [None, ["P"], ["CR", "V"], ["", "F"]])
def test_unusable_patient_orientation_gives_none(value):
    ds = image(orientation=None)
    if value is not None:
        ds.PatientOrientation = value
    assert patient_orientation_letters(ds) is None


# ---- linked scrolling -----------------------------------------------------------------


def test_nearest_index_picks_the_closest_known_location():
    locations = [20.0, 15.0, None, 5.0, 0.0]
    assert nearest_index(locations, 6.0) == 3
    assert nearest_index(locations, 100.0) == 0
    assert nearest_index(locations, 10.0) == 1  # tie: the first one
    assert nearest_index([None, None], 1.0) is None
    assert nearest_index([], 1.0) is None


def test_prior_follows_the_current_slice_by_location():
    current = sort_series(axial_series([0.0 + 5 * i for i in range(10)]))
    prior = sort_series(axial_series([1.0 + 2.5 * i for i in range(20)]))
    for location in current.locations:
        matched = prior.locations[nearest_index(prior.locations, location)]
        assert abs(matched - location) <= 2.5 / 2
