"""Luminance conformance from meter readings: the weekly QA a reporter's display must pass.

Displays are simulated (qa.luminance.SimulatedDisplay) so every number is hand-checkable:
a GSDF-calibrated display, and an uncalibrated gamma-2.2 one from 1 to 420 cd/m².
"""

from __future__ import annotations

import dataclasses

import pytest

from qa.gsdf import jnd_index, luminance
from qa.luminance import (
    TG18_LN_LEVELS,
    Criterion,
    GsdfEvaluation,
    LuminanceReadings,
    LuminanceSensor,
    ReadingsError,
    SimulatedDisplay,
    Status,
    drift,
    drift_criterion,
    evaluate,
    measure,
    readings_from_csv,
    uniformity,
    uniformity_criterion,
)


def evaluated(l_min: float, l_max: float, ambient: float = 0.0, *,
              min_lmax: float = 350.0) -> GsdfEvaluation:
    """Evaluation of a GSDF-calibrated display with these luminances (cd/m²)."""
    return evaluate(measure(SimulatedDisplay(l_min, l_max, ambient)), min_lmax=min_lmax)


def criterion(evaluation: GsdfEvaluation, name: str) -> Criterion:
    return next(c for c in evaluation.criteria if c.name == name)


GAMMA_DISPLAY = SimulatedDisplay(1.0, 420.0, response="gamma", gamma=2.2)
DARK_STEPS = ((0, 15), (15, 30), (30, 45), (45, 60), (60, 75))
BRIGHT_STEPS = tuple((low, low + 15) for low in range(120, 255, 15))


# --- contrast response against the GSDF ------------------------------------------------


def test_tg18_ln_levels_are_18_grey_levels_every_15() -> None:
    assert TG18_LN_LEVELS == (0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195,
                              210, 225, 240, 255)


def test_calibrated_display_passes_with_near_zero_error() -> None:
    result = evaluated(0.8, 400.0, ambient=0.2)
    assert result.passed
    assert result.max_error < 0.001  # the two PS3.14 fits disagree by < 0.1 JND at the ends
    assert len(result.steps) == 17
    assert result.failed_steps == ()
    assert all(c.status is Status.PASS for c in result.criteria)


def test_gamma_display_fails_in_the_dark_steps() -> None:
    result = evaluate(measure(GAMMA_DISPLAY))
    assert not result.passed
    assert result.failed_steps == DARK_STEPS + BRIGHT_STEPS
    middle = [s for s in result.steps if 75 <= s.ddl_low < 120]
    assert all(step.within_tolerance for step in middle)
    contrast = criterion(result, "GSDF contrast response")
    assert contrast.status is Status.FAIL
    assert "0→15, 15→30, 30→45, 45→60, 60→75" in contrast.explanation


def test_gamma_display_crushes_black_then_overshoots_the_dark_greys() -> None:
    errors = {s.ddl_low: s.relative_error for s in evaluate(measure(GAMMA_DISPLAY)).steps}
    assert errors[0] < -0.10  # 0→15: too little contrast just above black
    assert all(errors[low] > 0.10 for low in (15, 30, 45, 60))  # too much in the dark greys
    assert all(errors[low] < -0.10 for low in range(120, 255, 15))  # too little in the bright


def test_gamma_step_15_to_30_is_computed_as_by_hand() -> None:
    l15 = 1 + 419 * (15 / 255) ** 2.2  # 1.8227 cd/m²
    l30 = 1 + 419 * (30 / 255) ** 2.2  # 4.7800 cd/m²
    jnd_per_ddl = (jnd_index(420.0) - jnd_index(1.0)) / 255  # (680.02 − 71.50) / 255 = 2.386
    measured = 2 * (l30 - l15) / (l30 + l15) / (15 * jnd_per_ddl)  # 0.02503
    j15, j30 = jnd_index(1.0) + 15 * jnd_per_ddl, jnd_index(1.0) + 30 * jnd_per_ddl
    lj15, lj30 = luminance(j15), luminance(j30)
    expected = 2 * (lj30 - lj15) / (lj30 + lj15) / (j30 - j15)  # 0.01611
    step = evaluate(measure(GAMMA_DISPLAY)).steps[1]
    assert (step.ddl_low, step.ddl_high) == (15, 30)
    assert step.measured == pytest.approx(measured, rel=1e-12)
    assert step.expected == pytest.approx(expected, rel=1e-12)
    assert step.relative_error == pytest.approx(0.5533, abs=1e-4)


def test_secondary_display_is_allowed_twenty_percent() -> None:
    secondary = evaluate(measure(GAMMA_DISPLAY), display_class="secondary")
    assert secondary.tolerance == 0.20
    assert (0, 15) not in secondary.failed_steps  # −19 % is inside ±20 %
    assert (15, 30) in secondary.failed_steps  # +55 % is not


def test_an_unknown_display_class_is_refused() -> None:
    with pytest.raises(ValueError, match="'tertiary'"):
        evaluate(measure(GAMMA_DISPLAY), display_class="tertiary")


# --- luminance ratio, ambient ratio, L'min and L'max ------------------------------------


def test_luminance_ratio_of_exactly_250_passes_below_the_350_target() -> None:
    ratio = criterion(evaluated(1.0, 250.0, min_lmax=100.0), "Luminance ratio LR'")
    assert ratio.value == 250.0
    assert ratio.status is Status.WARNING
    assert "target" in ratio.explanation


def test_luminance_ratio_just_below_250_fails() -> None:
    ratio = criterion(evaluated(1.0, 249.9, min_lmax=100.0), "Luminance ratio LR'")
    assert ratio.status is Status.FAIL


def test_luminance_ratio_reaching_350_is_clean() -> None:
    assert criterion(evaluated(1.0, 350.0), "Luminance ratio LR'").status is Status.PASS
    assert criterion(evaluated(1.0, 349.9), "Luminance ratio LR'").status is Status.WARNING


def test_ambient_of_exactly_two_thirds_of_l_min_passes_with_a_warning() -> None:
    result = evaluated(1.0, 1100.0, ambient=2.0)  # L'min = 3, Lamb / L'min = 2/3, LR' 367
    ambient = criterion(result, "Ambient ratio")
    assert ambient.value == 2 / 3
    assert ambient.passed and ambient.warning
    assert result.passed and result.warnings == (ambient,)


def test_ambient_just_beyond_two_thirds_of_l_min_fails() -> None:
    result = evaluated(1.0, 400.0, ambient=2.01)  # 2.01 / 3.01 = 0.668
    assert criterion(result, "Ambient ratio").status is Status.FAIL
    assert not result.passed


def test_ambient_of_a_quarter_of_l_min_is_no_warning() -> None:
    at_quarter = evaluated(1.5, 400.0, ambient=0.5)  # 0.5 / 2.0
    assert criterion(at_quarter, "Ambient ratio").status is Status.PASS
    beyond = evaluated(1.5, 400.0, ambient=0.51)  # 0.51 / 2.01 = 0.254
    assert criterion(beyond, "Ambient ratio").status is Status.WARNING


def test_l_min_of_1_cd_m2_passes_and_below_fails() -> None:
    assert criterion(evaluated(0.75, 400.0, ambient=0.25), "L'min").passed
    assert not criterion(evaluated(0.74, 400.0, ambient=0.25), "L'min").passed


def test_l_max_floor_is_350_and_configurable_for_mammography() -> None:
    assert criterion(evaluated(1.0, 350.0), "L'max").passed
    assert not criterion(evaluated(1.0, 349.9), "L'max").passed
    mammography = evaluated(1.0, 420.0, min_lmax=450.0)
    assert not criterion(mammography, "L'max").passed
    assert not mammography.passed


def test_ambient_is_added_to_every_reading() -> None:
    result = evaluated(0.8, 400.0, ambient=0.2)
    assert result.l_min_prime == 1.0
    assert result.l_max_prime == 400.2
    assert result.luminance_ratio == pytest.approx(400.2)
    assert result.ambient_ratio == pytest.approx(0.2)


def test_the_evaluation_is_a_frozen_record() -> None:
    result = evaluated(1.0, 400.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.max_error = 0.0  # type: ignore[misc]


# --- readings that cannot be evaluated -------------------------------------------------


def test_readings_without_black_and_white_are_refused() -> None:
    readings = LuminanceReadings((15, 240), (1.5, 380.0), 0.1)
    with pytest.raises(ReadingsError, match="DDL 0 and 255"):
        evaluate(readings)


def test_a_display_darker_than_the_gsdf_range_is_refused() -> None:
    readings = LuminanceReadings((0, 255), (0.01, 300.0), 0.0)
    with pytest.raises(ValueError, match=r"Luminance 0\.01 is outside the GSDF range"):
        evaluate(readings)


@pytest.mark.parametrize(("levels", "values", "message"), [
    ((0, 255), (1.0,), "2 levels but 1 luminance"),
    ((0, 30, 15), (1.0, 2.0, 3.0), "DDL 15 follows DDL 30"),
    ((0, 256), (1.0, 2.0), "0..255"),
    ((0, 255), (1.0, -2.0), "Luminance at DDL 255 -2"),
])
def test_inconsistent_readings_are_refused(levels: tuple[int, ...], values: tuple[float, ...],
                                           message: str) -> None:
    with pytest.raises(ReadingsError, match=message):
        LuminanceReadings(levels, values, 0.1)


# --- uniformity and drift ---------------------------------------------------------------


def test_uniform_screen_has_no_non_uniformity() -> None:
    assert uniformity([200.0] * 5) == 0.0


def test_non_uniformity_of_exactly_30_percent_passes() -> None:
    readings = [100.0, 85.0, 115.0, 100.0, 100.0]  # 200·30/200
    assert uniformity(readings) == 30.0
    assert uniformity_criterion(readings).passed


def test_non_uniformity_just_beyond_30_percent_fails() -> None:
    readings = [100.0, 85.0, 115.1, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]  # 9 points
    assert uniformity(readings) == pytest.approx(30.085, abs=1e-3)
    assert uniformity_criterion(readings).status is Status.FAIL


def test_uniformity_needs_more_than_one_reading() -> None:
    with pytest.raises(ReadingsError, match="5 \\(TG18\\) or 9 \\(TG270\\)"):
        uniformity([100.0])


BASELINE = LuminanceReadings((0, 255), (1.0, 400.0), 0.0)


def test_drift_of_exactly_20_percent_is_tolerated() -> None:
    current = LuminanceReadings((0, 255), (1.0, 320.0), 0.0)
    assert drift(current, BASELINE) == pytest.approx(0.20)
    assert drift_criterion(current, BASELINE).passed


def test_drift_beyond_20_percent_calls_for_action_and_names_the_level() -> None:
    current = LuminanceReadings((0, 255), (1.25, 400.0), 0.0)
    assert drift(current, BASELINE) == pytest.approx(0.25)
    result = drift_criterion(current, BASELINE)
    assert result.status is Status.FAIL
    assert result.explanation.startswith("L'min changed by +25.0%")


# --- CSV import --------------------------------------------------------------------------


def test_readings_are_imported_from_csv() -> None:
    text = "# TG18-LN, contact meter\nddl,luminance\n0, 0.8\n255, 400\n\nambient,0.2\n"
    readings = readings_from_csv(text)
    assert readings == LuminanceReadings((0, 255), (0.8, 400.0), 0.2)


def test_a_full_csv_of_a_calibrated_display_passes() -> None:
    display = SimulatedDisplay(0.8, 400.0, 0.2)
    rows = "".join(f"{ddl},{display.read(ddl):.4f}\n" for ddl in TG18_LN_LEVELS)
    result = evaluate(readings_from_csv(f"DDL,Luminance\n{rows}ambient,0.2\n"))
    assert result.passed
    assert result.max_error < 0.01  # four decimals of cd/m² still fit the GSDF


def test_a_bad_csv_row_is_reported_with_its_line_number() -> None:
    text = "# meter log\nddl,luminance\n0,0.8\n15,abc\n255,400\nambient,0.2\n"
    with pytest.raises(ReadingsError, match="line 4: luminance 'abc' is not a number"):
        readings_from_csv(text)


@pytest.mark.parametrize(("text", "message"), [
    ("level,cd\n0,1\n", "line 1: expected the header 'ddl,luminance'"),
    ("ddl,luminance\n0,1,2\n", "line 2: expected 2 values, found 3"),
    ("ddl,luminance\nzero,1\n", "line 2: DDL 'zero' is not a whole number"),
    ("ddl,luminance\n0,1\n300,2\n", "line 3: DDL 300 is outside 0..255"),
    ("ddl,luminance\n15,1\n0,2\n", "line 3: DDL 0 follows DDL 15"),
    ("ddl,luminance\n0,-1\n", "line 2: luminance -1 cd/m²"),
    ("ddl,luminance\n0,1\n255,300\n", "No ambient row"),
    ("ddl,luminance\nambient,0.1\nambient,0.2\n", "line 3: a second ambient row"),
    ("ddl,luminance\nambient,0.1\n", "No readings"),
])
def test_malformed_csv_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ReadingsError, match=message):
        readings_from_csv(text)


# --- sensors -----------------------------------------------------------------------------


def test_the_simulated_display_is_a_luminance_sensor() -> None:
    display = SimulatedDisplay(1.0, 400.0, 0.3)
    assert isinstance(display, LuminanceSensor)
    assert (display.read(0), display.read(255), display.ambient()) == (1.0, 400.0, 0.3)


def test_a_gsdf_display_spaces_its_levels_evenly_in_jnds() -> None:
    display = SimulatedDisplay(1.0, 400.0, 0.5)
    j = [jnd_index(display.read(ddl) + 0.5) for ddl in (0, 85, 170, 255)]
    assert j[1] - j[0] == pytest.approx(j[2] - j[1], abs=0.2)
    assert j[2] - j[1] == pytest.approx(j[3] - j[2], abs=0.2)


def test_measure_reads_the_requested_levels_and_the_ambient() -> None:
    readings = measure(SimulatedDisplay(1.0, 400.0, 0.1, response="gamma"), levels=(0, 128, 255))
    assert readings.levels == (0, 128, 255)
    assert readings.luminances[1] == pytest.approx(1 + 399 * (128 / 255) ** 2.2)
    assert readings.ambient == 0.1


def test_noisy_display_repeats_with_the_same_seed() -> None:
    first = measure(SimulatedDisplay(1.0, 400.0, noise=0.01, seed=7))
    again = measure(SimulatedDisplay(1.0, 400.0, noise=0.01, seed=7))
    other = measure(SimulatedDisplay(1.0, 400.0, noise=0.01, seed=8))
    assert first == again
    assert first != other


@pytest.mark.parametrize(("args", "options", "message"), [
    ((1.0, 400.0), {"response": "sigmoid"}, "'sigmoid'"),
    ((400.0, 1.0), {}, "Lmin < Lmax"),
    ((0.01, 400.0), {}, "Luminance 0.01 is outside the GSDF range"),
])
def test_an_impossible_display_model_is_refused(args: tuple[float, float],
                                                options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedDisplay(*args, **options)  # type: ignore[arg-type]


def test_a_grey_level_beyond_8_bits_cannot_be_shown() -> None:
    with pytest.raises(ValueError, match="DDL 256"):
        SimulatedDisplay(1.0, 400.0).read(256)
