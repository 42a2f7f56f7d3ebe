"""Reporters' working hours from login, idle-lock and logout events (STANDARDS §5).

The regulator found no oversight of reporters' working hours. Active time runs from each
successful login to the same user's next logout or idle lock; a sign-in after an idle
lock starts a new session. Limits only warn: nothing here blocks a clinical action.
Pure: the app layer (app/service_measures.py) reads the audit trail into SessionEvents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum


class SessionKind(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    IDLE_LOCK = "idle-lock"


@dataclass(frozen=True)
class SessionEvent:
    user: str
    at: datetime
    kind: SessionKind


@dataclass(frozen=True)
class Session:
    """Active time of one user; ``open`` when no logout or lock has ended it yet."""

    user: str
    start: datetime
    end: datetime
    open: bool = False

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def sessions(events: Iterable[SessionEvent], now: datetime) -> list[Session]:
    """Pair each login with the user's next logout or idle lock.

    A session still open at ``now`` ends at ``now``. A login while a session is open
    (the app ended without a logout, or a command-line sign-in) closes the earlier one
    there: time is never counted twice. Events after ``now`` are ignored.
    """
    found: list[Session] = []
    started: dict[str, datetime] = {}
    ordered = sorted((e for e in events if e.at <= now),  # at one instant: the end first
                     key=lambda e: (e.at, e.user, e.kind is SessionKind.LOGIN))
    for event in ordered:
        start = started.pop(event.user, None)
        if start is not None and event.at > start:
            found.append(Session(event.user, start, event.at))
        if event.kind is SessionKind.LOGIN:
            started[event.user] = event.at
    found += [Session(user, start, now, open=True) for user, start in started.items()
              if now > start]
    return sorted(found, key=lambda s: (s.user, s.start))


def clip(found: Iterable[Session], since: datetime, until: datetime) -> list[Session]:
    """The parts of the sessions inside [since, until)."""
    clipped = []
    for session in found:
        start, end = max(session.start, since), min(session.end, until)
        if end > start:
            clipped.append(Session(session.user, start, end, session.open))
    return clipped


def by_day(session: Session, zone: tzinfo = UTC) -> Iterator[tuple[date, timedelta]]:
    """A session cut at each midnight of ``zone``: (day, time worked that day)."""
    start, end = session.start.astimezone(zone), session.end.astimezone(zone)
    while start < end:
        midnight = datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=zone)
        piece_end = min(end, midnight)
        # subtract in UTC: within one zone Python ignores a daylight-saving change
        yield start.date(), piece_end.astimezone(UTC) - start.astimezone(UTC)
        start = piece_end


@dataclass(frozen=True)
class ActiveTime:
    """Active hours of one user in one period ("2026-11-20" or ISO week "2026-W47")."""

    user: str
    period: str
    hours: float


def active_hours(found: Iterable[Session], zone: tzinfo = UTC
                 ) -> tuple[list[ActiveTime], list[ActiveTime]]:
    """Active hours per user per day and per ISO week (a week sums its days)."""
    days: dict[tuple[str, date], timedelta] = {}
    for session in found:
        for day, worked in by_day(session, zone):
            days[(session.user, day)] = days.get((session.user, day), timedelta(0)) + worked
    weeks: dict[tuple[str, str], timedelta] = {}
    for (user, day), worked in days.items():
        year, week, _ = day.isocalendar()
        key = (user, f"{year}-W{week:02d}")
        weeks[key] = weeks.get(key, timedelta(0)) + worked
    return ([ActiveTime(user, day.isoformat(), worked.total_seconds() / 3600)
             for (user, day), worked in sorted(days.items())],
            [ActiveTime(user, week, worked.total_seconds() / 3600)
             for (user, week), worked in sorted(weeks.items())])


@dataclass(frozen=True)
class Limits:
    """Working-hours limits (settings ``oversight.*``); exceeding one warns, never blocks.

    A gap shorter than ``min_break_minutes`` between two sessions (a quick lock and
    unlock) is not a break.
    """

    max_hours_per_day: float = 10.0
    max_hours_per_week: float = 48.0
    max_minutes_without_break: float = 120.0
    min_break_minutes: float = 5.0


class LimitKind(StrEnum):
    HOURS_PER_DAY = "hours per day"
    HOURS_PER_WEEK = "hours per week"
    MINUTES_WITHOUT_BREAK = "minutes without a break"


@dataclass(frozen=True)
class LimitWarning:
    """A limit exceeded: shown as a gentle warning and recorded; nothing is blocked."""

    user: str
    period: str  # a day, an ISO week, or "start/end" of a stretch without a break
    kind: LimitKind
    measured: float
    limit: float
    message: str


def stretches(found: Iterable[Session], min_break: timedelta) -> list[Session]:
    """Each user's sessions joined where the gap between them is shorter than a break."""
    joined: list[Session] = []
    for session in sorted(found, key=lambda s: (s.user, s.start)):
        last = joined[-1] if joined else None
        if last is not None and last.user == session.user and (
                session.start - last.end < min_break):
            joined[-1] = Session(last.user, last.start, max(last.end, session.end),
                                 session.open)
        else:
            joined.append(session)
    return joined


def limit_warnings(found: Sequence[Session], daily: Iterable[ActiveTime],
                   weekly: Iterable[ActiveTime], limits: Limits, since: datetime,
                   until: datetime, zone: tzinfo = UTC) -> list[LimitWarning]:
    """Days and weeks over their limit, and stretches without a break over theirs that
    overlap [since, until) (measured whole, even where they cross its edges)."""
    warnings = [_over(active, LimitKind.HOURS_PER_DAY, limits.max_hours_per_day, "on")
                for active in daily if active.hours > limits.max_hours_per_day]
    warnings += [_over(active, LimitKind.HOURS_PER_WEEK, limits.max_hours_per_week, "in")
                 for active in weekly if active.hours > limits.max_hours_per_week]
    for stretch in stretches(found, timedelta(minutes=limits.min_break_minutes)):
        minutes = stretch.duration.total_seconds() / 60
        if minutes > limits.max_minutes_without_break and (
                stretch.start < until and stretch.end > since):
            start, end = stretch.start.astimezone(zone), stretch.end.astimezone(zone)
            warnings.append(LimitWarning(
                stretch.user, f"{start:%Y-%m-%dT%H:%M}/{end:%Y-%m-%dT%H:%M}",
                LimitKind.MINUTES_WITHOUT_BREAK, minutes, limits.max_minutes_without_break,
                f"{stretch.user} was active {minutes:.0f} min without a break from "
                f"{start:%Y-%m-%d %H:%M} (suggested at most "
                f"{limits.max_minutes_without_break:g} min): a break is due"))
    return sorted(warnings, key=lambda w: (w.user, w.period, w.kind))


def _over(active: ActiveTime, kind: LimitKind, limit: float, preposition: str
          ) -> LimitWarning:
    return LimitWarning(active.user, active.period, kind, active.hours, limit,
                        f"{active.user} worked {active.hours:.1f} h {preposition} "
                        f"{active.period} (suggested at most {limit:g} h)")
