"""DICOM Grayscale Standard Display Function (GSDF): L(j), j(L) and its contrast per JND.

PS3.14 §7.1 defines the GSDF as a rational polynomial in ln j that interpolates the 1023
luminance levels of Barten's model (Annex B), and gives a polynomial in log10 L as its
inverse. The two fits disagree by up to 0.1 JND: L(1) = 0.04998 cd/m² and j(4000) = 1023.16,
so values within 0.1 % of the published limits are accepted. Pure numpy, no Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Final, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

JND_MIN: Final = 1.0
JND_MAX: Final = 1023.0
LUMINANCE_MIN: Final = 0.05  # cd/m²
LUMINANCE_MAX: Final = 4000.0  # cd/m²
RANGE_TOLERANCE: Final = 1e-3  # relative slack at the range ends (see module docstring)

# PS3.14 §7.1: log10 L(j) = (a + c·x + e·x² + g·x³ + m·x⁴) / (1 + b·x + d·x² + f·x³ + h·x⁴ + k·x⁵)
LUMINANCE_COEFFICIENTS: Final = MappingProxyType({
    "a": -1.3011877, "b": -2.5840191e-2, "c": 8.0242636e-2, "d": -1.0320229e-1,
    "e": 1.3646699e-1, "f": 2.8745620e-2, "g": -2.5468404e-2, "h": -3.1978977e-3,
    "k": 1.2992634e-4, "m": 1.3635334e-3,
})
# PS3.14 §7.1 note 1: j(L) = A + B·y + C·y² + … + I·y⁸ with y = log10 L
JND_COEFFICIENTS: Final = MappingProxyType({
    "A": 71.498068, "B": 94.593053, "C": 41.912053, "D": 9.8247004, "E": 0.28175407,
    "F": -1.1878455, "G": -0.18014349, "H": 0.14710899, "I": -0.017046845,
})

_C = LUMINANCE_COEFFICIENTS
_NUMERATOR = (_C["m"], _C["g"], _C["e"], _C["c"], _C["a"])  # highest power first (np.polyval)
_DENOMINATOR = (_C["k"], _C["h"], _C["f"], _C["d"], _C["b"], 1.0)
_INVERSE = tuple(reversed(JND_COEFFICIENTS.values()))

FloatArray = NDArray[np.float64]


class GsdfRangeError(ValueError):
    """A JND index or luminance lies outside the range the GSDF is defined for (PS3.14 §7.1)."""


@overload
def luminance(j: float) -> float: ...
@overload
def luminance(j: Sequence[float] | FloatArray) -> FloatArray: ...
def luminance(j: ArrayLike) -> float | FloatArray:
    """Luminance L(j) in cd/m² of JND index j (1..1023), PS3.14 §7.1.

    Vectorised: a scalar gives a float, a sequence or array gives an array.
    """
    values = _checked(j, JND_MIN, JND_MAX, "JND index", "")
    return _scalar_or_array(_luminance(values))


@overload
def jnd_index(lum: float) -> float: ...
@overload
def jnd_index(lum: Sequence[float] | FloatArray) -> FloatArray: ...
def jnd_index(lum: ArrayLike) -> float | FloatArray:
    """JND index j(L) of luminance L in cd/m² (0.05..4000), PS3.14 §7.1 note 1."""
    values = _checked(lum, LUMINANCE_MIN, LUMINANCE_MAX, "Luminance", " cd/m²")
    return _scalar_or_array(_jnd_index(values))


@overload
def gsdf_contrast_per_jnd(lum: float) -> float: ...
@overload
def gsdf_contrast_per_jnd(lum: Sequence[float] | FloatArray) -> FloatArray: ...
def gsdf_contrast_per_jnd(lum: ArrayLike) -> float | FloatArray:
    """The GSDF's own contrast dL/L of one JND at luminance L (the threshold of PS3.14 §3.1).

    Defined as pacsDisplay (lumResponse, evalQClr) does for a point on the curve: with
    j = j(L), dL/L = (L(j + ½) − L(j − ½)) / L(j), the luminance change across one JND
    centred on L, relative to L. This is the curve drawn with its ±10 %/±20 % band in the
    contrast-response plot (AAPM TG18 §4.3).
    """
    j = _jnd_index(_checked(lum, LUMINANCE_MIN, LUMINANCE_MAX, "Luminance", " cd/m²"))
    contrast = (_luminance(j + 0.5) - _luminance(j - 0.5)) / _luminance(j)
    return _scalar_or_array(contrast)


@overload
def gsdf_step_contrast_per_jnd(j_low: float, j_high: float) -> float: ...
@overload
def gsdf_step_contrast_per_jnd(
    j_low: Sequence[float] | FloatArray, j_high: Sequence[float] | FloatArray
) -> FloatArray: ...
def gsdf_step_contrast_per_jnd(j_low: ArrayLike, j_high: ArrayLike) -> float | FloatArray:
    """Expected dL/L per JND of a GSDF step from j_low to j_high (PS3.14 Annex C, TG18 §4.3).

    dL/L = 2·(L(j_high) − L(j_low)) / (L(j_high) + L(j_low)), divided by the JNDs spanned,
    j_high − j_low. This is the reference pacsDisplay uses for 18-point TG18-LN readings,
    so a display that follows the GSDF exactly has zero error at every step.
    """
    low = _checked(j_low, JND_MIN, JND_MAX, "JND index", "")
    high = _checked(j_high, JND_MIN, JND_MAX, "JND index", "")
    if np.any(high <= low):
        raise GsdfRangeError("A GSDF step needs j_high above j_low (PS3.14 Annex C)")
    lum_low, lum_high = _luminance(low), _luminance(high)
    contrast = 2.0 * (lum_high - lum_low) / (lum_high + lum_low)
    return _scalar_or_array(contrast / (high - low))


def _luminance(j: FloatArray) -> FloatArray:
    x = np.log(j)
    return np.power(10.0, np.polyval(_NUMERATOR, x) / np.polyval(_DENOMINATOR, x))


def _jnd_index(lum: FloatArray) -> FloatArray:
    return np.polyval(_INVERSE, np.log10(lum))


def _checked(value: ArrayLike, low: float, high: float, what: str, unit: str) -> FloatArray:
    """Values as float64, refusing any outside low..high (with RANGE_TOLERANCE) or not finite."""
    values = np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < low * (1 - RANGE_TOLERANCE))
        bad |= values > high * (1 + RANGE_TOLERANCE)
    if np.any(bad):
        first = values[bad].flat[0]
        raise GsdfRangeError(f"{what} {first:g} is outside the GSDF range "
                             f"{low:g}..{high:g}{unit} (PS3.14 §7.1)")
    return values


def _scalar_or_array(values: FloatArray) -> float | FloatArray:
    return float(values) if values.ndim == 0 else values
