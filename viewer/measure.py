"""Measurements on one image: distance and region-of-interest statistics.

Points are (row, column) in image pixel coordinates, with pixel (r, c) centred on (r, c) as
in the Image Plane module (PS3.3 C.7.6.2.1.1). Millimetres come from `viewer.geometry`
pixel spacing (PS3.3 10.7.1.3), whose source is stated in every label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from viewer.geometry import PixelSpacing

ROI_SHAPES = ("ellipse", "rectangle")


@dataclass(frozen=True)
class Distance:
    """A straight-line distance; `mm` is None when the image has no pixel spacing."""

    mm: float | None
    pixels: float
    spacing: PixelSpacing | None

    def label(self) -> str:
        """Text beside the ruler, naming the spacing it relies on."""
        if self.mm is None or self.spacing is None:
            return f"{self.pixels:.1f} px (no pixel spacing: not calibrated)"
        return f"{self.mm:.1f} mm ({self.spacing.describe()})"


def distance(p0: tuple[float, float], p1: tuple[float, float],
             spacing: PixelSpacing | None) -> Distance:
    """Distance between two (row, column) points; rows and columns scale separately."""
    rows, columns = p1[0] - p0[0], p1[1] - p0[1]
    pixels = math.hypot(rows, columns)
    if spacing is None:
        return Distance(None, pixels, None)
    mm = math.hypot(rows * spacing.row_mm, columns * spacing.column_mm)
    return Distance(mm, pixels, spacing)


def _number(value: float) -> str:
    """Whole numbers without decimals (stored integers), others to one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class RoiStatistics:
    """Statistics of the modality values (e.g. HU) whose pixel centres lie in an ROI.

    `sd` is the sample standard deviation (ddof=1): the ROI samples a tissue and the SD
    estimates its noise; it is NaN for a single pixel. `area_mm2` is the pixel count times
    the pixel area, so it matches the pixels the statistics were taken from.
    """

    shape: str
    pixels: int
    mean: float
    sd: float
    minimum: float
    maximum: float
    area_mm2: float | None
    unit: str

    def label(self) -> str:
        """Three lines: mean and SD, minimum and maximum, area."""
        unit = f" {self.unit}" if self.unit else ""
        sd = "n/a" if math.isnan(self.sd) else f"{self.sd:.1f}"
        area = (f"area {self.area_mm2:.1f} mm² ({self.pixels} px)" if self.area_mm2 is not None
                else f"area {self.pixels} px (no pixel spacing)")
        return (f"mean {self.mean:.1f}{unit}  SD {sd}\n"
                f"min {_number(self.minimum)}  max {_number(self.maximum)}\n{area}")


def ellipse_mask(shape: tuple[int, int], center: tuple[float, float],
                 radii: tuple[float, float]) -> np.ndarray:
    """Pixels whose centres lie inside an axis-aligned ellipse (radii in rows, columns)."""
    if min(radii) <= 0:
        raise ValueError(f"Ellipse radii must be positive, got {radii}")
    rows, columns = np.ogrid[:shape[0], :shape[1]]
    inside = (((rows - center[0]) / radii[0]) ** 2
              + ((columns - center[1]) / radii[1]) ** 2)
    return inside <= 1.0


def rectangle_mask(shape: tuple[int, int], top_left: tuple[float, float],
                   bottom_right: tuple[float, float]) -> np.ndarray:
    """Pixels whose centres lie inside a rectangle, corners included, in either order."""
    r0, r1 = sorted((top_left[0], bottom_right[0]))
    c0, c1 = sorted((top_left[1], bottom_right[1]))
    rows, columns = np.ogrid[:shape[0], :shape[1]]
    return (rows >= r0) & (rows <= r1) & (columns >= c0) & (columns <= c1)


def roi_statistics(values: np.ndarray, mask: np.ndarray, spacing: PixelSpacing | None,
                   unit: str, shape: str) -> RoiStatistics:
    """Mean, SD, extremes and area of `values` (modality values) where `mask` is set."""
    if shape not in ROI_SHAPES:
        raise ValueError(f"Unknown ROI shape {shape!r}: expected one of {', '.join(ROI_SHAPES)}")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(values):
        raise ValueError(f"ROI mask {mask.shape} does not match the image {np.shape(values)}")
    inside = np.asarray(values, dtype=np.float64)[mask]
    if inside.size == 0:
        raise ValueError("The ROI contains no pixel centres: draw it larger")
    sd = float(inside.std(ddof=1)) if inside.size > 1 else math.nan
    area = inside.size * spacing.row_mm * spacing.column_mm if spacing else None
    return RoiStatistics(shape, int(inside.size), float(inside.mean()), sd,
                         float(inside.min()), float(inside.max()), area, unit)
