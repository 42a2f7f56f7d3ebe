"""Service measures from a scripted fortnight with known answers (STANDARDS §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.turnaround import CONTRACT_TARGETS, DUE_SOON
from reporting.measures import (
    FlagKind,
    ReportRecord,
    ServiceMeasures,
    TargetStatus,
    away_intervals,
    compute_measures,
    spread,
    turnarounds,
)
from reporting.working_hours import (
    LimitKind,
    Limits,
    SessionEvent,
    SessionKind,
    by_day,
    sessions,
)

SINCE = datetime(2026, 11, 9, tzinfo=UTC)  # Monday of ISO week 46
UNTIL = datetime(2026, 11, 23, tzinfo=UTC)  # the Monday after week 47
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # Sunday noon
LIMITS = Limits(max_hours_per_day=10, max_hours_per_week=18, max_minutes_without_break=120)
LOGIN, LOGOUT, LOCK = SessionKind.LOGIN, SessionKind.LOGOUT, SessionKind.IDLE_LOCK


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


MONDAY_8 = at(16, 8)
RECORDS = (
    ReportRecord("on-time", "CT", MONDAY_8, MONDAY_8 + timedelta(days=1),
                 at(16, 9), at(16, 9, 40), "alice"),
    ReportRecord("exactly-3-days", "CT", MONDAY_8, MONDAY_8 + timedelta(days=3),
                 at(16, 13), at(16, 13, 20), "alice"),
    ReportRecord("3-days-and-a-minute", "MR", MONDAY_8,
                 MONDAY_8 + timedelta(days=3, minutes=1), at(16, 10), at(16, 10, 45), "bob"),
    ReportRecord("near", "CT", MONDAY_8, MONDAY_8 + timedelta(days=2, hours=20),
                 at(16, 14), at(16, 15, 30), "alice"),
    ReportRecord("open-overdue", "CT", MONDAY_8),
    ReportRecord("open-pending", "CR", at(21, 10)),  # arrived on Saturday
    ReportRecord("open-due-soon", "CR", at(19, 20)),
    ReportRecord("last-week", "MR", at(13, 8), at(17, 8), at(13, 16, 30), at(13, 17), "bob"),
    ReportRecord("returned", "CT", at(16, 8), at(16, 12), at(16, 11), at(16, 11, 5), "alice",
                 kind="return"),
    ReportRecord("october", "CT", at(2, 8), at(3, 8), at(2, 9), at(2, 9, 30), "alice"),
)
EVENTS = (
    # Alice, Monday: an idle lock inside "on-time", a logout inside "near"
    SessionEvent("alice", at(16, 8), LOGIN), SessionEvent("alice", at(16, 9, 10), LOCK),
    SessionEvent("alice", at(16, 9, 25), LOGIN), SessionEvent("alice", at(16, 12), LOGOUT),
    SessionEvent("alice", at(16, 12, 55), LOGIN), SessionEvent("alice", at(16, 14, 30), LOGOUT),
    SessionEvent("alice", at(16, 15), LOGIN), SessionEvent("alice", at(16, 16), LOGOUT),
    # Alice, Tuesday: a 3-minute lock is no break
    SessionEvent("alice", at(17, 8), LOGIN), SessionEvent("alice", at(17, 9, 30), LOCK),
    SessionEvent("alice", at(17, 9, 33), LOGIN), SessionEvent("alice", at(17, 10, 30), LOGOUT),
    # Bob: a long Friday, a Saturday with breaks, Sunday night over midnight into week 47
    SessionEvent("bob", at(13, 6), LOGIN), SessionEvent("bob", at(13, 17, 30), LOGOUT),
    SessionEvent("bob", at(14, 9), LOGIN), SessionEvent("bob", at(14, 11), LOGOUT),
    SessionEvent("bob", at(14, 11, 30), LOGIN), SessionEvent("bob", at(14, 13, 30), LOCK),
    SessionEvent("bob", at(14, 14), LOGIN), SessionEvent("bob", at(14, 16), LOGOUT),
    SessionEvent("bob", at(15, 22), LOGIN), SessionEvent("bob", at(16, 2), LOGOUT),
    SessionEvent("bob", at(16, 9, 45), LOGIN), SessionEvent("bob", at(16, 11), LOGOUT),
    # Carol is still signed in at NOW; her later events have not happened yet
    SessionEvent("carol", at(22, 11), LOGIN), SessionEvent("carol", at(22, 13), LOGOUT),
)


@pytest.fixture(scope="module")
def measures() -> ServiceMeasures:
    return compute_measures(RECORDS, EVENTS, since=SINCE, until=UNTIL, now=NOW,
                            targets=CONTRACT_TARGETS, near_window=DUE_SOON, limits=LIMITS)


def test_turnaround_counts_the_studies_that_arrived_in_the_period(
        measures: ServiceMeasures) -> None:
    uids = [t.study_uid for t in measures.turnarounds]
    assert "october" not in uids and len(uids) == 9
    overdue = next(t for t in measures.turnarounds if t.study_uid == "open-overdue")
    assert overdue.elapsed == timedelta(days=6, hours=4)  # to NOW: never acknowledged
    assert overdue.status("5-day") is TargetStatus.BREACHED


def test_three_days_exactly_is_met_and_a_minute_more_is_a_breach() -> None:
    found = {t.study_uid: t for t in turnarounds(RECORDS[1:3], CONTRACT_TARGETS, NOW)}
    exact, late = found["exactly-3-days"], found["3-days-and-a-minute"]
    assert exact.status("3-day") is TargetStatus.MET
    assert late.status("3-day") is TargetStatus.BREACHED
    assert late.status("5-day") is TargetStatus.MET


def test_breaches_and_near_breaches_are_listed_worst_first(measures: ServiceMeasures) -> None:
    listed = [(f.study_uid, f.target, f.kind, f.margin) for f in measures.flags]
    breach, near = FlagKind.BREACH, FlagKind.NEAR_BREACH
    assert listed == [
        ("open-overdue", "3-day", breach, -timedelta(days=3, hours=4)),
        ("open-overdue", "5-day", breach, -timedelta(days=1, hours=4)),
        ("last-week", "3-day", breach, -timedelta(days=1)),
        ("3-days-and-a-minute", "3-day", breach, -timedelta(minutes=1)),
        ("exactly-3-days", "3-day", near, timedelta(0)),
        ("near", "3-day", near, timedelta(hours=4)),
        ("open-due-soon", "3-day", near, timedelta(hours=8)),  # due soon, still open
    ]
    assert measures.flags[3].due_at == MONDAY_8 + timedelta(days=3)


def test_weekly_and_monthly_compliance_leave_pending_studies_out(
        measures: ServiceMeasures) -> None:
    weekly = {(c.period, c.target): (c.arrived, c.met, c.breached, c.pending, c.fraction)
              for c in measures.weekly}
    assert weekly == {
        ("2026-W46", "3-day"): (1, 0, 1, 0, 0.0), ("2026-W46", "5-day"): (1, 1, 0, 0, 1.0),
        ("2026-W47", "3-day"): (8, 4, 2, 2, 4 / 6), ("2026-W47", "5-day"): (8, 5, 1, 2, 5 / 6),
    }
    monthly = [(c.period, c.target, c.met, c.breached) for c in measures.monthly]
    assert monthly == [("2026-11", "3-day", 4, 3), ("2026-11", "5-day", 6, 1)]


def test_idle_lock_and_logout_inside_a_report_are_not_writing_time(
        measures: ServiceMeasures) -> None:
    writing = {w.study_uid: w for w in measures.writing}
    assert "returned" not in writing and "open-overdue" not in writing
    assert writing["on-time"].away == timedelta(minutes=15)  # locked 09:10–09:25
    assert writing["on-time"].active == timedelta(minutes=25)
    assert writing["near"].active == timedelta(minutes=60)  # logged out 14:30–15:00
    assert writing["exactly-3-days"].active == timedelta(minutes=20)  # signed in at 12:55


def test_reporting_speed_per_modality_has_median_and_spread(measures: ServiceMeasures) -> None:
    speed = {s.modality: s.minutes for s in measures.speed}
    ct, mr = speed["CT"], speed["MR"]
    assert (ct.count, ct.median, ct.q1, ct.q3, ct.iqr, ct.minimum, ct.maximum) == (
        3, 25, 22.5, 42.5, 20, 20, 60)
    assert (mr.count, mr.median, mr.q1, mr.q3) == (2, 37.5, 33.75, 41.25)
    assert spread([7.0]).iqr == 0


def test_open_session_ends_now_and_later_events_are_ignored() -> None:
    carol = [s for s in sessions(EVENTS, NOW) if s.user == "carol"]
    assert [(s.start, s.end, s.open) for s in carol] == [(at(22, 11), NOW, True)]


def test_a_login_without_logout_is_closed_by_the_next_login() -> None:
    events = [SessionEvent("dan", at(16, 8), LOGIN), SessionEvent("dan", at(16, 9), LOGIN),
              SessionEvent("dan", at(16, 10), LOGOUT)]
    assert [s.duration for s in sessions(events, NOW)] == [timedelta(hours=1)] * 2


def test_session_over_midnight_counts_on_both_days_and_both_weeks(
        measures: ServiceMeasures) -> None:
    sunday_night = next(s for s in sessions(EVENTS, NOW) if s.start == at(15, 22))
    assert list(by_day(sunday_night)) == [(date(2026, 11, 15), timedelta(hours=2)),
                                          (date(2026, 11, 16), timedelta(hours=2))]
    daily = {(a.user, a.period): a.hours for a in measures.daily_hours}
    assert daily == pytest.approx({
        ("alice", "2026-11-16"): 6 + 20 / 60, ("alice", "2026-11-17"): 2.45,
        ("bob", "2026-11-13"): 11.5, ("bob", "2026-11-14"): 6.0, ("bob", "2026-11-15"): 2.0,
        ("bob", "2026-11-16"): 3.25, ("carol", "2026-11-22"): 1.0})
    weekly = {(a.user, a.period): a.hours for a in measures.weekly_hours}
    assert weekly == pytest.approx({("alice", "2026-W47"): 6 + 20 / 60 + 2.45,
                                    ("bob", "2026-W46"): 19.5, ("bob", "2026-W47"): 3.25,
                                    ("carol", "2026-W47"): 1.0})


def test_limits_give_warnings_with_what_was_measured(measures: ServiceMeasures) -> None:
    found = [(w.user, w.period, w.kind, round(w.measured, 2), w.limit)
             for w in measures.warnings]
    assert found == [
        ("alice", "2026-11-16T09:25/2026-11-16T12:00", LimitKind.MINUTES_WITHOUT_BREAK, 155,
         120),
        ("alice", "2026-11-17T08:00/2026-11-17T10:30", LimitKind.MINUTES_WITHOUT_BREAK, 150,
         120),  # the 3-minute lock at 09:30 was no break
        ("bob", "2026-11-13", LimitKind.HOURS_PER_DAY, 11.5, 10),
        ("bob", "2026-11-13T06:00/2026-11-13T17:30", LimitKind.MINUTES_WITHOUT_BREAK, 690,
         120),
        ("bob", "2026-11-15T22:00/2026-11-16T02:00", LimitKind.MINUTES_WITHOUT_BREAK, 240,
         120),
        ("bob", "2026-W46", LimitKind.HOURS_PER_WEEK, 19.5, 18),
    ]
    assert "11.5 h on 2026-11-13" in measures.warnings[2].message


def test_reports_per_day_include_the_empty_days(measures: ServiceMeasures) -> None:
    counts = {c.day.isoformat(): c.reports for c in measures.reports_per_day}
    assert len(counts) == 14 and sum(counts.values()) == 5  # the return is not a report
    assert counts["2026-11-16"] == 4 and counts["2026-11-13"] == 1
    assert counts["2026-11-22"] == 0


def test_time_away_after_the_last_logout_is_open_ended() -> None:
    assert away_intervals(EVENTS, "alice")[-1] == (at(17, 10, 30), None)
