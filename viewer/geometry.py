"""Series geometry: pixel spacing, slice planes, slice order and orientation letters.

Patient coordinates are DICOM's LPS system (PS3.3 C.7.6.2.1.1): +x towards the patient's
left, +y posterior, +z towards the head. Everything here is pure numpy and pydicom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from statistics import median
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

PIXEL_SPACING = "Pixel Spacing"
IMAGER_PIXEL_SPACING = "Imager Pixel Spacing (at the detector, not calibrated to the patient)"
NOMINAL_SCANNED_PIXEL_SPACING = "Nominal Scanned Pixel Spacing"
NO_SPACING = "none"

BY_GEOMETRY = "geometry (Image Position/Orientation Patient)"
BY_INSTANCE_NUMBER = "Instance Number (no consistent geometry)"
BY_ACQUISITION_ORDER = "acquisition order"

# Projection radiography: Pixel Spacing alone does not say whether it is in the patient.
PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "IO", "PX", "RF", "XA", "RG"})
UNIT_TOLERANCE = 0.01          # direction cosines written with few decimals stay valid
ORIENTATION_TOLERANCE = 1e-4   # 1 - cos(angle) between slices: about 0.8 degrees
DUPLICATE_MM = 0.01            # neighbours closer than this share a position
GAP_FACTOR = 1.5               # a neighbour distance this many medians apart is a gap
LETTER_THRESHOLD = 1e-4        # smaller direction components are rounding, not obliquity
# Patient axis letters (PS3.3 C.7.6.1.1.1) for the negative and positive direction of x, y, z.
AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))
OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "F": "H", "H": "F"}


@dataclass(frozen=True)
class PixelSpacing:
    """Physical distance between pixel centres, in mm (PS3.3 10.7.1.3: row, then column)."""

    row_mm: float
    column_mm: float
    source: str
    note: str = ""

    def describe(self) -> str:
        """Where the spacing came from, for measurement labels."""
        return f"{self.source}, {self.note}" if self.note else self.source


def _floats(dataset: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """`count` finite numbers from a multi-valued attribute, or None when absent or invalid."""
    try:
        value = dataset.get(keyword)
        if value is None:
            return None
        many = isinstance(value, Sequence) and not isinstance(value, str | bytes)
        values = tuple(float(v) for v in (value if many else [value]))
    except (TypeError, ValueError):
        return None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        return None
    return values


def _spacing_pair(dataset: Dataset, keyword: str) -> tuple[float, float] | None:
    """A positive row/column spacing pair; multi-frame images keep it in Pixel Measures."""
    pair = _floats(dataset, keyword, 2)
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if pair is None and keyword == "PixelSpacing" and shared:
        measures = shared[0].get("PixelMeasuresSequence")
        pair = _floats(measures[0], keyword, 2) if measures else None
    if pair is None or min(pair) <= 0:
        return None
    return pair[0], pair[1]


def _calibration_note(dataset: Dataset, detector: tuple[float, float] | None) -> str:
    """PS3.3 10.7.1.1/10.7.1.2: say how far a Pixel Spacing can be trusted."""
    kind = str(dataset.get("PixelSpacingCalibrationType", "") or "").strip()
    if kind:
        description = str(dataset.get("PixelSpacingCalibrationDescription", "") or "").strip()
        return f"calibrated: {kind}" + (f" ({description})" if description else "")
    if detector is not None:
        return "corrected for magnification or calibrated"
    if str(dataset.get("Modality", "")).upper() in PROJECTION_MODALITIES:
        return "calibration not stated"
    return ""


def pixel_spacing(dataset: Dataset) -> PixelSpacing | None:
    """Spacing for measurements following PS3.3 10.7.1.1 and 10.7.1.3.

    Pixel Spacing is in the patient, unless it merely repeats Imager Pixel Spacing (at the
    detector, magnified) or Nominal Scanned Pixel Spacing without a calibration type. Imager
    Pixel Spacing alone carries the detector caveat. None when no valid spacing is present.
    """
    in_patient = _spacing_pair(dataset, "PixelSpacing")
    imager = _spacing_pair(dataset, "ImagerPixelSpacing")
    scanned = _spacing_pair(dataset, "NominalScannedPixelSpacing")
    calibrated = bool(dataset.get("PixelSpacingCalibrationType"))
    detector = imager or scanned
    if in_patient and (calibrated or detector is None or not np.allclose(in_patient, detector)):
        return PixelSpacing(*in_patient, PIXEL_SPACING, _calibration_note(dataset, detector))
    if imager:
        return PixelSpacing(*imager, IMAGER_PIXEL_SPACING)
    if scanned:
        return PixelSpacing(*scanned, NOMINAL_SCANNED_PIXEL_SPACING)
    return None


@dataclass(frozen=True)
class SlicePlane:
    """One image plane in patient space (PS3.3 C.7.6.2 Image Plane module)."""

    position: np.ndarray = field(repr=False)
    row_direction: np.ndarray = field(repr=False)
    column_direction: np.ndarray = field(repr=False)
    normal: np.ndarray = field(repr=False)
    location: float

    def pixel_to_patient(self, row: float, column: float, spacing: PixelSpacing) -> np.ndarray:
        """Patient coordinates (mm) of a pixel centre, by the matrix of PS3.3 C.7.6.2.1.1."""
        return (self.position
                + self.row_direction * column * spacing.column_mm
                + self.column_direction * row * spacing.row_mm)


def _orientation(dataset: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit row and column directions from Image Orientation (Patient), if orthonormal."""
    values = _floats(dataset, "ImageOrientationPatient", 6)
    if values is None:
        return None
    row, column = np.array(values[:3]), np.array(values[3:])
    norms = np.linalg.norm(row), np.linalg.norm(column)
    if max(abs(n - 1.0) for n in norms) > UNIT_TOLERANCE:
        return None
    if abs(float(row @ column)) > UNIT_TOLERANCE:
        return None
    return row / norms[0], column / norms[1]


def slice_plane(dataset: Dataset) -> SlicePlane | None:
    """The plane of an image (PS3.3 C.7.6.2.1.1), or None when IPP/IOP are missing or invalid."""
    directions = _orientation(dataset)
    position = _floats(dataset, "ImagePositionPatient", 3)
    if directions is None or position is None:
        return None
    row, column = directions
    normal = np.cross(row, column)
    normal /= np.linalg.norm(normal)
    where = np.array(position)
    return SlicePlane(where, row, column, normal, float(where @ normal))


@dataclass(frozen=True)
class SortedSeries:
    """Display order of a series, how it was decided, and what looked wrong."""

    order: list[int]
    locations: list[float | None]
    spacing_mm: float | None
    method: str
    warnings: list[str]


def _stack_axis(normal: np.ndarray) -> tuple[np.ndarray, bool]:
    """The normal signed towards patient Left, Posterior or Head, and whether to descend.

    Locations are measured along this axis so that a head-first and a feet-first study of
    the same patient agree (axial location is the z coordinate). The display order starts
    at the head (axial), the front (coronal) or the patient's right (sagittal).
    """
    dominant = int(np.argmax(np.abs(normal)))
    axis = normal if normal[dominant] > 0 else -normal
    return axis, dominant == 2


def _same_orientation(first: SlicePlane, other: SlicePlane) -> bool:
    row_cos = float(first.row_direction @ other.row_direction)
    column_cos = float(first.column_direction @ other.column_direction)
    return min(row_cos, column_cos) >= 1.0 - ORIENTATION_TOLERANCE


def _spacing_warnings(locations: list[float]) -> tuple[float | None, list[str]]:
    """Median neighbour distance, plus warnings for duplicates, gaps and uneven spacing."""
    steps = [abs(b - a) for a, b in pairwise(locations)]
    distinct = [s for s in steps if s > DUPLICATE_MM]
    if not distinct:
        return None, (["duplicate positions: every slice at the same location"]
                      if steps else [])
    spacing = float(median(distinct))
    warnings = []
    duplicates = len(steps) - len(distinct)
    if duplicates:
        warnings.append(f"duplicate positions: {duplicates} slice(s) share a location "
                        "with a neighbour")
    for number, step in enumerate(steps, start=1):
        if step > GAP_FACTOR * spacing:
            warnings.append(f"gap of {step:.1f} mm between slices {number} and {number + 1} "
                            f"(spacing {spacing:.1f} mm): slices may be missing")
    tolerance = max(DUPLICATE_MM, 0.01 * spacing)
    if any(abs(s - spacing) > tolerance and s <= GAP_FACTOR * spacing for s in distinct):
        warnings.append(f"uneven slice spacing: {min(distinct):.2f} to {max(distinct):.2f} mm")
    return spacing, warnings


def _by_geometry(planes: list[SlicePlane]) -> SortedSeries:
    axis, descending = _stack_axis(planes[0].normal)
    raw = [float(p.position @ axis) for p in planes]
    order = sorted(range(len(planes)), key=lambda i: -raw[i] if descending else raw[i])
    locations = [raw[i] for i in order]
    spacing, warnings = _spacing_warnings(locations)
    return SortedSeries(order, locations, spacing, BY_GEOMETRY, warnings)


def _instance_number(dataset: Dataset) -> int | None:
    try:
        return int(dataset.get("InstanceNumber"))
    except (TypeError, ValueError):
        return None


def _without_geometry(headers: Sequence[Dataset], reason: str) -> SortedSeries:
    """Fallback when geometry cannot order the series: Instance Number, else input order."""
    numbers = [_instance_number(h) for h in headers]
    unknown = [None] * len(headers)
    if any(n is None for n in numbers):
        warning = "no usable Instance Number either: shown in the order received"
        return SortedSeries(list(range(len(headers))), unknown, None, BY_ACQUISITION_ORDER,
                            [reason, warning])
    order = sorted(range(len(headers)), key=lambda i: numbers[i])
    warnings = [reason]
    if len(set(numbers)) < len(numbers):
        warnings.append("duplicate Instance Numbers")
    return SortedSeries(order, unknown, None, BY_INSTANCE_NUMBER, warnings)


def sort_series(headers: Sequence[Dataset | Mapping[str, Any]]) -> SortedSeries:
    """Order a series by geometry (PS3.3 C.7.6.2.1.1), not by Instance Number alone.

    Geometry is used when every image has a valid plane with the same orientation. Slices
    then run head to feet (axial), front to back (coronal) or right to left (sagittal):
    slice 1 is where a radiologist starts reading, whichever way the scanner moved, and
    locations are signed towards Head, Posterior or Left, so axial location is z and a
    feet-first prior links to a head-first current. Ties keep the input order.
    """
    if not headers:
        return SortedSeries([], [], None, BY_ACQUISITION_ORDER, [])
    planes = [slice_plane(h) for h in headers]
    missing = sum(p is None for p in planes)
    if missing:
        return _without_geometry(headers, f"missing or invalid Image Position/Orientation "
                                          f"(Patient) on {missing} of {len(headers)} images")
    valid = [p for p in planes if p is not None]
    if not all(_same_orientation(valid[0], p) for p in valid):
        return _without_geometry(headers, "mixed orientations in the series")
    return _by_geometry(valid)


def _letters(direction: np.ndarray) -> str:
    """Up to three patient letters for a direction, largest component first."""
    components = sorted(range(3), key=lambda axis: -abs(direction[axis]))
    return "".join(AXIS_LETTERS[axis][int(direction[axis] > 0)]
                   for axis in components if abs(direction[axis]) > LETTER_THRESHOLD)


def orientation_letters(row_direction: Sequence[float] | np.ndarray,
                        column_direction: Sequence[float] | np.ndarray) -> dict[str, str]:
    """Letters for each image edge (PS3.3 C.7.6.2.1.1 directions, C.7.6.1.1.1 letters).

    The right edge is where +row_direction points, the bottom edge +column_direction.
    """
    row, column = np.asarray(row_direction, float), np.asarray(column_direction, float)
    return {"left": _letters(-row), "right": _letters(row),
            "top": _letters(-column), "bottom": _letters(column)}


def _opposite(letters: str) -> str:
    return "".join(OPPOSITE[letter] for letter in letters)


def patient_orientation_letters(dataset: Dataset) -> dict[str, str] | None:
    """Edge letters from Image Orientation (Patient), else from Patient Orientation.

    Patient Orientation (0020,0020), PS3.3 C.7.6.1.1.1, is how projection images (CR, DX)
    state it: first value the direction of the rows (right edge), second of the columns
    (bottom edge). None when neither is usable (e.g. quadruped terms).
    """
    directions = _orientation(dataset)
    if directions is not None:
        return orientation_letters(*directions)
    values = dataset.get("PatientOrientation")
    if values is None or isinstance(values, str) or len(values) != 2:
        return None
    rows, columns = (str(v).strip().upper() for v in values)
    if not rows or not columns or not set(rows + columns) <= OPPOSITE.keys():
        return None
    return {"left": _opposite(rows), "right": rows, "top": _opposite(columns), "bottom": columns}


def nearest_index(locations: Sequence[float | None], target: float) -> int | None:
    """Index of the slice whose location is nearest `target`; first on ties; None if none."""
    known = [(abs(loc - target), i) for i, loc in enumerate(locations) if loc is not None]
    return min(known)[1] if known else None
