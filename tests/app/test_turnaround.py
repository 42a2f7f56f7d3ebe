"""Deadlines of the 3-day and 5-day turnaround targets, as the worklist shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.turnaround import deadlines, describe, urgency

ARRIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_deadlines_run_from_arrival() -> None:
    three, five = deadlines(ARRIVED, ARRIVED + timedelta(days=1))
    assert (three.name, three.due) == ("3-day", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert (five.name, five.left) == ("5-day", timedelta(days=4))


def test_breach_at_three_days_and_one_minute() -> None:
    now = ARRIVED + timedelta(days=3, minutes=1)
    three, five = deadlines(ARRIVED, now)
    assert three.overdue and not five.overdue
    assert describe(three.left) == "overdue 0 h 01 min"
    assert urgency(ARRIVED, now) == "overdue"


def test_due_soon_in_the_last_twelve_hours() -> None:
    assert urgency(ARRIVED, ARRIVED + timedelta(days=2, hours=11)) == "on time"
    assert urgency(ARRIVED, ARRIVED + timedelta(days=2, hours=12)) == "due soon"


def test_description_is_readable_at_a_glance() -> None:
    assert describe(timedelta(days=2, hours=4, minutes=59)) == "2 d 04 h"
    assert describe(timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert describe(-timedelta(days=1, hours=2)) == "overdue 1 d 02 h"
