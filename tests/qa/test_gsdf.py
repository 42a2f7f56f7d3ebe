"""The GSDF maths (PS3.14 §7.1) against published values.

Reference values used here:
- STANDARDS §6 check values: L(1) = 0.050, L(512) ≈ 130.07, j(4000) ≈ 1023.2 cd/m².
- colour-science documentation of its independent GSDF implementation
  (colour.readthedocs.io, eotf_DICOMGSDF / oetf_DICOMGSDF examples):
  L(512) = 130.0652840… and j(130.065284012159790) = 511.9964806….
- The PS3.14 Annex B table itself was not reachable in the sources searched, so no row of it
  is asserted here; PS3.14 §7.1 states the formula reproduces it within 0.3 % of log L.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa.gsdf import (
    JND_COEFFICIENTS,
    LUMINANCE_COEFFICIENTS,
    GsdfRangeError,
    gsdf_contrast_per_jnd,
    gsdf_step_contrast_per_jnd,
    jnd_index,
    luminance,
)


def test_darkest_jnd_is_the_gsdf_floor_of_0_05_cd_m2() -> None:
    assert round(luminance(1), 3) == 0.050


def test_jnd_512_is_130_07_cd_m2() -> None:
    assert luminance(512) == pytest.approx(130.07, abs=0.005)
    assert luminance(512) == pytest.approx(130.0652840, abs=1e-7)  # colour-science docs


def test_4000_cd_m2_is_jnd_1023_2() -> None:
    assert jnd_index(4000.0) == pytest.approx(1023.2, abs=0.05)


def test_inverse_agrees_with_an_independent_implementation() -> None:
    assert jnd_index(130.065284012159790) == pytest.approx(511.9964806, abs=1e-7)


def test_the_coefficients_are_the_published_ones() -> None:
    assert LUMINANCE_COEFFICIENTS["a"] == -1.3011877
    assert LUMINANCE_COEFFICIENTS["k"] == 1.2992634e-4
    assert LUMINANCE_COEFFICIENTS["m"] == 1.3635334e-3
    assert JND_COEFFICIENTS["A"] == 71.498068
    assert JND_COEFFICIENTS["I"] == -0.017046845
    with pytest.raises(TypeError):
        LUMINANCE_COEFFICIENTS["a"] = 0.0  # type: ignore[index]


def test_1_cd_m2_is_jnd_index_a() -> None:
    # log10(1) = 0, so j(1) is the constant term A of the inverse polynomial.
    assert jnd_index(1.0) == JND_COEFFICIENTS["A"]


def test_every_jnd_index_survives_the_round_trip_through_luminance() -> None:
    j = np.arange(1, 1024, dtype=float)
    # The two fits of PS3.14 §7.1 disagree by under 0.1 JND anywhere in the range.
    assert np.max(np.abs(jnd_index(luminance(j)) - j)) < 0.1


def test_luminance_rises_with_every_jnd() -> None:
    assert np.all(np.diff(luminance(np.arange(1, 1024, dtype=float))) > 0)


def test_scalars_give_floats_and_arrays_keep_their_shape() -> None:
    assert isinstance(luminance(10), float)
    assert isinstance(jnd_index(10.0), float)
    grid = np.array([[1.0, 100.0], [500.0, 1023.0]])
    assert luminance(grid).shape == (2, 2)
    assert luminance([1.0, 512.0])[1] == luminance(512)


@pytest.mark.parametrize("j", [0, 0.5, 1024.5, float("nan")])
def test_a_jnd_index_outside_1_to_1023_is_refused_by_value(j: float) -> None:
    with pytest.raises(ValueError, match=rf"JND index {j:g} is outside .*1\.\.1023"):
        luminance(j)


@pytest.mark.parametrize("lum", [0.01, -1.0, 5000.0, float("inf")])
def test_a_luminance_outside_the_gsdf_range_is_refused_by_value(lum: float) -> None:
    with pytest.raises(GsdfRangeError, match=rf"Luminance {lum:g} is outside .*0\.05\.\.4000"):
        jnd_index(lum)


def test_the_first_offending_value_of_an_array_is_named() -> None:
    with pytest.raises(ValueError, match="Luminance 6000 "):
        jnd_index([1.0, 10.0, 6000.0, 0.001])


def test_the_ends_of_the_range_round_trip_despite_the_fits_disagreeing() -> None:
    assert jnd_index(luminance(1)) == pytest.approx(1.0, abs=0.1)  # L(1) = 0.04998 < 0.05
    assert luminance(jnd_index(4000.0)) == pytest.approx(4000.0, rel=1e-3)  # j = 1023.16


def test_gsdf_contrast_per_jnd_is_one_jnd_across_the_point() -> None:
    j = jnd_index(130.0)  # 511.93
    expected = (luminance(j + 0.5) - luminance(j - 0.5)) / luminance(j)
    assert gsdf_contrast_per_jnd(130.0) == pytest.approx(expected, rel=1e-12)
    assert gsdf_contrast_per_jnd(130.0) == pytest.approx(0.00729, abs=1e-5)  # 0.73 % at 130


def test_the_eye_needs_more_contrast_in_the_dark() -> None:
    lum = np.geomspace(0.05, 1000.0, 50)
    assert np.all(np.diff(gsdf_contrast_per_jnd(lum)) < 0)  # flat within 0.01 % above that
    assert gsdf_contrast_per_jnd(0.05) > 0.12  # about 12 % at 0.05 cd/m²
    assert gsdf_contrast_per_jnd(4000.0) < 0.0066  # 0.65 % at 4000 cd/m²


def test_a_one_jnd_step_has_the_point_contrast() -> None:
    step = gsdf_step_contrast_per_jnd(511.5, 512.5)
    assert step == pytest.approx(gsdf_contrast_per_jnd(luminance(512)), rel=1e-3)


def test_a_step_spanning_many_jnds_is_averaged_per_jnd() -> None:
    low, high = luminance(100), luminance(130)
    expected = 2 * (high - low) / (high + low) / 30
    assert gsdf_step_contrast_per_jnd(100, 130) == pytest.approx(expected, rel=1e-12)


def test_a_backward_step_is_refused() -> None:
    with pytest.raises(GsdfRangeError, match="j_high above j_low"):
        gsdf_step_contrast_per_jnd(200.0, 100.0)
