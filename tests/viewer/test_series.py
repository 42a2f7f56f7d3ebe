"""A series volume's display values equal the pipeline's, at 8 and at 10 bits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ten_bit_probe import OneImage, ramp_dataset
from viewer.pipeline import Window, modality_values, present
from viewer.series import InstanceRef, SeriesVolume


@pytest.fixture
def volume() -> SeriesVolume:
    dataset = ramp_dataset()
    return SeriesVolume(OneImage(dataset), [InstanceRef(dataset.SOPInstanceUID, 1, None,
                                                         None)])


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("invert", [False, True])
def test_display_table_equals_the_pipeline(volume: SeriesVolume, bits: int,
                                           invert: bool) -> None:
    window = Window(1500, 2000)
    shown = volume.display(0, window, invert=invert, bits=bits)
    stored = volume.load(0)
    header = volume.info(0).header
    expected = present(header, modality_values(header, stored), window, invert=invert,
                       bits=bits)
    np.testing.assert_array_equal(shown, expected)
    assert int(shown.max()) == (1 << bits) - 1


def test_ten_bit_ramp_keeps_four_times_the_levels(volume: SeriesVolume) -> None:
    ten = len(np.unique(volume.display(0, None, bits=10)))
    eight = len(np.unique(volume.display(0, None, bits=8)))
    assert eight == 256
    assert ten >= 4 * eight - 2  # the ramp's last step lands one level short of 1023
