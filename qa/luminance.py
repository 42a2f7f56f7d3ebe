"""Luminance conformance of a diagnostic display from meter readings (AAPM TG18, TG270).

Readings are the 18 TG18-LN levels (DDL 0..255 every 15) measured without room light, plus
the ambient luminance reflected by the switched-off screen. As pacsDisplay computes it,
ambient is added to every reading (L' = L + Lamb) and each step's contrast dL/L per JND is
compared with the GSDF's (PS3.14 Annex C). Pure Python and numpy, no Qt.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

import numpy as np

from qa.gsdf import gsdf_step_contrast_per_jnd, jnd_index, luminance

TG18_LN_LEVELS: Final = tuple(range(0, 256, 15))  # 0, 15, … 255: the 18 TG18-LN patterns
MAX_DDL: Final = 255
TOLERANCES: Final = MappingProxyType({"primary": 0.10, "secondary": 0.20})  # TG18 §4.3
MIN_LUMINANCE_RATIO: Final = 250.0  # LR' = L'max / L'min, TG18 §4.3
TARGET_LUMINANCE_RATIO: Final = 350.0  # TG270: ≈ 600 JNDs at 350 / 1.0 cd/m²
MAX_AMBIENT_RATIO: Final = 2 / 3  # Lamb / L'min (STANDARDS §6)
WARN_AMBIENT_RATIO: Final = 1 / 4  # TG18's advice: room light well below L'min
MIN_L_MIN_PRIME: Final = 1.0  # cd/m², a common floor for L'min in diagnostic reading
DEFAULT_MIN_L_MAX: Final = 350.0  # cd/m², CR/DR/CT/MR diagnostic (≥ 450 mammography)
MAX_NON_UNIFORMITY: Final = 30.0  # %, TG18 §4.4, TG270
DRIFT_ACTION_LIMIT: Final = 0.20  # relative change of L'max or L'min from the baseline


class ReadingsError(ValueError):
    """Meter readings that cannot be evaluated; the message says which value and why."""


class Status(StrEnum):
    """Outcome of one criterion: a warning passed but lies beyond an advisory threshold."""

    PASS = "pass"
    WARNING = "warning"
    FAIL = "fail"


@dataclass(frozen=True)
class LuminanceReadings:
    """Display luminances (cd/m², room dark) at increasing DDLs, and the ambient luminance."""

    levels: tuple[int, ...]
    luminances: tuple[float, ...]
    ambient: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(int(v) for v in self.levels))
        object.__setattr__(self, "luminances", tuple(float(v) for v in self.luminances))
        if len(self.levels) != len(self.luminances):
            raise ReadingsError(f"{len(self.levels)} levels but {len(self.luminances)} "
                                "luminance readings: one reading per level is needed")
        if len(self.levels) < 2:
            raise ReadingsError("At least two levels are needed (TG18-LN uses 18)")
        for before, level in pairwise(self.levels):
            if level <= before:
                raise ReadingsError(f"DDL {level} follows DDL {before}: levels must increase")
        if self.levels[0] < 0 or self.levels[-1] > MAX_DDL:
            raise ReadingsError(f"Levels must lie in 0..{MAX_DDL}, found "
                                f"{self.levels[0]}..{self.levels[-1]}")
        for level, value in zip(self.levels, self.luminances, strict=True):
            _require_luminance(value, f"Luminance at DDL {level}")
        _require_luminance(self.ambient, "Ambient luminance")

    def primed(self) -> tuple[float, ...]:
        """L' = L + Lamb at every level, the luminances a reader actually sees."""
        return tuple(value + self.ambient for value in self.luminances)


@dataclass(frozen=True)
class Criterion:
    """One acceptance test: its value, the limit it is held to, and what the result means."""

    name: str
    value: float
    limit: float
    passed: bool
    unit: str
    explanation: str
    warning: bool = False

    @property
    def status(self) -> Status:
        if not self.passed:
            return Status.FAIL
        return Status.WARNING if self.warning else Status.PASS


@dataclass(frozen=True)
class StepResponse:
    """Contrast response of one step between two measured levels (TG18 §4.3)."""

    ddl_low: int
    ddl_high: int
    measured: float  # dL/L per JND from the readings
    expected: float  # the GSDF's dL/L per JND over the same JNDs
    relative_error: float  # (measured − expected) / expected
    within_tolerance: bool

    @property
    def mean_ddl(self) -> float:
        return (self.ddl_low + self.ddl_high) / 2


@dataclass(frozen=True)
class GsdfEvaluation:
    """Luminance conformance of one display: figures, per-step response and criteria."""

    readings: LuminanceReadings
    display_class: str
    tolerance: float
    l_max_prime: float
    l_min_prime: float
    luminance_ratio: float
    ambient_ratio: float
    steps: tuple[StepResponse, ...]
    max_error: float  # largest |relative error| over the steps
    criteria: tuple[Criterion, ...] = ()

    @property
    def passed(self) -> bool:
        return all(criterion.passed for criterion in self.criteria)

    @property
    def warnings(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.status is Status.WARNING)

    @property
    def failures(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.status is Status.FAIL)

    @property
    def failed_steps(self) -> tuple[tuple[int, int], ...]:
        return tuple((s.ddl_low, s.ddl_high) for s in self.steps if not s.within_tolerance)


def evaluate(readings: LuminanceReadings, *, display_class: str = "primary",
             min_lmax: float = DEFAULT_MIN_L_MAX) -> GsdfEvaluation:
    """Evaluate readings against the GSDF and the TG18/TG270 luminance criteria.

    display_class "primary" (diagnostic) allows ±10 % contrast error per step, "secondary"
    ±20 % (TG18 §4.3). L'min and L'max are the readings at DDL 0 and 255, plus ambient.
    """
    if display_class not in TOLERANCES:
        raise ValueError(f"Display class {display_class!r} is not one of {tuple(TOLERANCES)}")
    if readings.levels[0] != 0 or readings.levels[-1] != MAX_DDL:
        raise ReadingsError(f"Readings must include DDL 0 and {MAX_DDL} to give L'min and L'max")
    primed = readings.primed()
    l_min, l_max = primed[0], primed[-1]
    if l_max <= l_min:
        raise ReadingsError(f"L'max {l_max:g} cd/m² is not above L'min {l_min:g} cd/m²")
    tolerance = TOLERANCES[display_class]
    steps = _contrast_response(readings.levels, primed, tolerance)
    result = GsdfEvaluation(
        readings=readings, display_class=display_class, tolerance=tolerance,
        l_max_prime=l_max, l_min_prime=l_min, luminance_ratio=l_max / l_min,
        ambient_ratio=readings.ambient / l_min, steps=steps,
        max_error=max(abs(step.relative_error) for step in steps),
    )
    criteria = (
        _contrast_criterion(result), _ratio_criterion(result), _ambient_criterion(result),
        _floor_criterion("L'min", l_min, MIN_L_MIN_PRIME,
                         f"L'min of at least {MIN_L_MIN_PRIME:g} cd/m² is a common floor"),
        _floor_criterion("L'max", l_max, min_lmax, f"L'max of at least {min_lmax:g} cd/m² for "
                         "the modalities read (350 CR/DR/CT/MR, 450 mammography)"),
    )
    return replace(result, criteria=criteria)


def _contrast_response(levels: Sequence[int], primed: Sequence[float],
                       tolerance: float) -> tuple[StepResponse, ...]:
    """Measured vs GSDF dL/L per JND for each step, as pacsDisplay's 18-point QC computes it."""
    lum = np.asarray(primed, dtype=np.float64)
    if np.any(lum <= 0):
        raise ReadingsError("Every L' = L + Lamb must be above 0 cd/m² to give a contrast")
    ddl = np.asarray(levels, dtype=np.float64)
    j_min, j_max = jnd_index(lum[0]), jnd_index(lum[-1])  # refuses L' outside the GSDF
    jnd_per_ddl = (j_max - j_min) / (ddl[-1] - ddl[0])
    measured = 2 * np.diff(lum) / (lum[1:] + lum[:-1]) / (np.diff(ddl) * jnd_per_ddl)
    target = j_min + (ddl - ddl[0]) * jnd_per_ddl  # where the GSDF puts each level
    expected = gsdf_step_contrast_per_jnd(target[:-1], target[1:])
    errors = (measured - expected) / expected
    return tuple(
        StepResponse(int(levels[i]), int(levels[i + 1]), float(measured[i]),
                     float(expected[i]), float(errors[i]), bool(abs(errors[i]) <= tolerance))
        for i in range(len(errors))
    )


def _contrast_criterion(result: GsdfEvaluation) -> Criterion:
    bad = [f"{low}→{high}" for low, high in result.failed_steps]
    band = f"±{result.tolerance:.0%} ({result.display_class})"
    explanation = (f"Steps {', '.join(bad)} deviate from the GSDF by more than {band}" if bad
                   else f"Every step follows the GSDF within {band}")
    return Criterion("GSDF contrast response", result.max_error * 100, result.tolerance * 100,
                     not bad, "%", explanation)


def _ratio_criterion(result: GsdfEvaluation) -> Criterion:
    ratio = result.luminance_ratio
    below_target = ratio < TARGET_LUMINANCE_RATIO
    explanation = (f"LR' must be at least {MIN_LUMINANCE_RATIO:g}; {TARGET_LUMINANCE_RATIO:g} "
                   "is the target (about 600 JNDs)" + (", not reached" if below_target else ""))
    return Criterion("Luminance ratio LR'", ratio, MIN_LUMINANCE_RATIO,
                     ratio >= MIN_LUMINANCE_RATIO, "", explanation, warning=below_target)


def _ambient_criterion(result: GsdfEvaluation) -> Criterion:
    ratio = result.ambient_ratio
    explanation = (f"Lamb / L'min must not exceed 2/3; above 1/4 room light starts to mask "
                   f"the darkest grey levels (Lamb {result.readings.ambient:g} cd/m²)")
    return Criterion("Ambient ratio", ratio, MAX_AMBIENT_RATIO, ratio <= MAX_AMBIENT_RATIO,
                     "", explanation, warning=ratio > WARN_AMBIENT_RATIO)


def _floor_criterion(name: str, value: float, limit: float, explanation: str) -> Criterion:
    return Criterion(name, value, limit, value >= limit, "cd/m²", explanation)


def uniformity(readings: Sequence[float]) -> float:
    """Non-uniformity in %, 200·(Lmax − Lmin)/(Lmax + Lmin) over 5 (TG18) or 9 (TG270) points."""
    values = [float(v) for v in readings]
    if len(values) < 2:
        raise ReadingsError("Uniformity needs readings at 5 (TG18) or 9 (TG270) points")
    for number, value in enumerate(values, start=1):
        _require_luminance(value, f"Uniformity reading {number}")
    high, low = max(values), min(values)
    if high == 0:
        raise ReadingsError("Uniformity readings are all 0 cd/m²: is the display on?")
    return 200 * (high - low) / (high + low)


def uniformity_criterion(readings: Sequence[float], *,
                         limit: float = MAX_NON_UNIFORMITY) -> Criterion:
    """Uniformity within limit % (TG18-UN10/UN80 patterns, TG18 §4.4)."""
    value = uniformity(readings)
    explanation = f"Luminance deviation over {len(readings)} points must not exceed {limit:g} %"
    return Criterion("Luminance uniformity", value, limit, value <= limit, "%", explanation)


def drift(current: LuminanceReadings, baseline: LuminanceReadings) -> float:
    """Largest relative change of L'max or L'min from the baseline; above 0.20 needs action."""
    return max(abs(change) for change in _drifts(current, baseline).values())


def drift_criterion(current: LuminanceReadings, baseline: LuminanceReadings, *,
                    limit: float = DRIFT_ACTION_LIMIT) -> Criterion:
    """Constancy of L'max and L'min against the baseline (STANDARDS §6): beyond limit, act."""
    changes = _drifts(current, baseline)
    name, change = max(changes.items(), key=lambda item: abs(item[1]))
    explanation = (f"{name} changed by {change:+.1%} since the baseline; more than "
                   f"{limit:.0%} needs recalibration or service")
    return Criterion("Drift from baseline", abs(change) * 100, limit * 100,
                     abs(change) <= limit, "%", explanation)


def _drifts(current: LuminanceReadings, baseline: LuminanceReadings) -> dict[str, float]:
    now, then = current.primed(), baseline.primed()
    if min(then[0], then[-1]) <= 0:
        raise ReadingsError("The baseline has L' of 0 cd/m²: no drift can be computed from it")
    return {"L'max": (now[-1] - then[-1]) / then[-1], "L'min": (now[0] - then[0]) / then[0]}


def readings_from_csv(text: str) -> LuminanceReadings:
    """Readings from CSV text: a `ddl,luminance` header, one `<ddl>,<cd/m²>` row per level.

    Exactly one `ambient,<cd/m²>` row gives the ambient luminance. DDLs must increase.
    Blank lines and lines starting with # are ignored. Errors name the line number.
    """
    levels: list[int] = []
    values: list[float] = []
    ambient: float | None = None
    header_seen = False
    for number, row in _csv_rows(text):
        if not header_seen:
            if [cell.lower() for cell in row] != ["ddl", "luminance"]:
                raise ReadingsError(f"line {number}: expected the header 'ddl,luminance', "
                                    f"found {','.join(row)!r}")
            header_seen = True
        elif row[0].lower() == "ambient":
            if ambient is not None:
                raise ReadingsError(f"line {number}: a second ambient row; give it once")
            ambient = _csv_luminance(row[1], number)
        else:
            level = _csv_level(row[0], number, levels[-1] if levels else None)
            levels.append(level)
            values.append(_csv_luminance(row[1], number))
    if not levels:
        raise ReadingsError("No readings: expected 'ddl,luminance' rows after the header")
    if ambient is None:
        raise ReadingsError("No ambient row: add 'ambient,<cd/m²>' (0 for a dark room)")
    return LuminanceReadings(tuple(levels), tuple(values), ambient)


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = [cell.strip() for cell in next(csv.reader([line]))]
        if len(row) != 2:
            raise ReadingsError(f"line {number}: expected 2 values, found {len(row)}: {line!r}")
        rows.append((number, row))
    return rows


def _csv_level(cell: str, number: int, previous: int | None) -> int:
    try:
        level = int(cell)
    except ValueError:
        raise ReadingsError(f"line {number}: DDL {cell!r} is not a whole number") from None
    if not 0 <= level <= MAX_DDL:
        raise ReadingsError(f"line {number}: DDL {level} is outside 0..{MAX_DDL}")
    if previous is not None and level <= previous:
        raise ReadingsError(f"line {number}: DDL {level} follows DDL {previous}; "
                            "rows must be in increasing DDL order")
    return level


def _csv_luminance(cell: str, number: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise ReadingsError(f"line {number}: luminance {cell!r} is not a number") from None
    _require_luminance(value, f"line {number}: luminance")
    return value


def _require_luminance(value: float, what: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ReadingsError(f"{what} {value:g} cd/m² is not a valid reading (finite, ≥ 0)")


@runtime_checkable
class LuminanceSensor(Protocol):
    """A luminance meter showing DDLs full-screen: a real photometer or a display model."""

    def read(self, ddl: int) -> float:
        """Luminance in cd/m² with DDL ddl displayed (room light excluded)."""

    def ambient(self) -> float:
        """Ambient luminance in cd/m² reflected by the switched-off screen."""


class SimulatedDisplay:
    """Display model for tests and the demo: GSDF-calibrated or a plain gamma curve.

    "gsdf": L' = L + Lamb follows PS3.14 from L'min = Lmin + Lamb to L'max = Lmax + Lamb,
    as after a DICOM calibration. "gamma": L = Lmin + (Lmax − Lmin)·(DDL/255)^gamma.
    DDL 0 and 255 read exactly Lmin and Lmax. With noise > 0 each reading is multiplied by
    1 + noise·N(0, 1) from a generator seeded by seed, so a run is repeatable.
    """

    def __init__(self, l_min: float, l_max: float, ambient: float = 0.0, *,
                 response: str = "gsdf", gamma: float = 2.2, noise: float = 0.0,
                 seed: int | None = None) -> None:
        if response not in ("gsdf", "gamma"):
            raise ValueError(f"Response {response!r} is not 'gsdf' or 'gamma'")
        if not 0 <= l_min < l_max or ambient < 0 or gamma <= 0 or noise < 0:
            raise ValueError("Need 0 ≤ Lmin < Lmax, ambient ≥ 0, gamma > 0 and noise ≥ 0")
        self.l_min, self.l_max, self._ambient = l_min, l_max, ambient
        self.response, self.gamma, self.noise = response, gamma, noise
        self._rng = np.random.default_rng(seed)
        if response == "gsdf":  # refuses a range outside the GSDF
            self._j_low, self._j_high = jnd_index(l_min + ambient), jnd_index(l_max + ambient)

    def read(self, ddl: int) -> float:
        if not 0 <= ddl <= MAX_DDL:
            raise ValueError(f"DDL {ddl} is outside 0..{MAX_DDL}")
        value = self._ideal(ddl)
        if self.noise:
            value *= 1 + self.noise * float(self._rng.standard_normal())
        return max(value, 0.0)

    def ambient(self) -> float:
        return self._ambient

    def _ideal(self, ddl: int) -> float:
        if ddl == 0:
            return self.l_min
        if ddl == MAX_DDL:
            return self.l_max
        fraction = ddl / MAX_DDL
        if self.response == "gamma":
            return self.l_min + (self.l_max - self.l_min) * fraction**self.gamma
        j = self._j_low + fraction * (self._j_high - self._j_low)
        return luminance(j) - self._ambient


def measure(sensor: LuminanceSensor, levels: Sequence[int] = TG18_LN_LEVELS) -> LuminanceReadings:
    """Read the sensor at each level (TG18-LN) and once for ambient."""
    return LuminanceReadings(tuple(levels), tuple(sensor.read(level) for level in levels),
                             sensor.ambient())
