"""A meter session: 18 levels, ambient, five uniformity points, typed as the meter reads."""

from __future__ import annotations

import pytest

from qa.meter_session import MeterSession, meter_steps
from qa.patterns import LN_LEVELS


def test_session_asks_for_every_level_then_ambient_then_uniformity() -> None:
    steps = meter_steps((1024, 1024))
    assert [s.ddl for s in steps[:18]] == list(LN_LEVELS)
    assert [s.kind for s in steps[18:]] == ["ambient"] + ["uniformity"] * 5
    assert all(s.pattern.pixels.shape == (1024, 1024) for s in steps)


def test_readings_come_out_as_the_evaluation_needs_them() -> None:
    session = MeterSession(meter_steps((1024, 1024)))
    for n in range(18):
        session.enter(f"{1.0 + 20 * n}")
    session.enter("0,3")  # a decimal comma is what some meters' owners type
    for value in ("180", "176", "182", "179", "181"):
        session.enter(value)
    levels, luminances = session.levels
    assert levels == LN_LEVELS and luminances[0] == 1.0 and luminances[-1] == 341.0
    assert session.ambient == 0.3
    assert session.uniformity == [180.0, 176.0, 182.0, 179.0, 181.0]
    assert session.current is None


@pytest.mark.parametrize("typed", ["abc", "-2", "12000"])
def test_a_reading_that_cannot_be_right_is_refused(typed: str) -> None:
    session = MeterSession(meter_steps((1024, 1024)))
    with pytest.raises(ValueError):
        session.enter(typed)
    assert session.values == []
