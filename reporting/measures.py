"""Service measures from plain records: turnaround, reporting speed, reports per day.

STANDARDS §5: the contract's 3-day and 5-day turnaround KPIs (arrival at the service →
report acknowledged by the trust), and the regulator's finding that reporting speed and
reporters' working hours were not monitored. Everything here is computed from facts the
workstation records anyway; no Qt and no database. The app layer
(app/service_measures.py) reads the records and passes in the contract's targets
(app/turnaround.py) and the working-hours limits (settings ``oversight.*``).
Working hours live in reporting/working_hours.py; ``compute_measures`` joins both.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum

from reporting.working_hours import (
    ActiveTime,
    Limits,
    LimitWarning,
    SessionEvent,
    SessionKind,
    active_hours,
    clip,
    limit_warnings,
    sessions,
)

Targets = Sequence[tuple[str, timedelta]]  # ("3-day", 3 days): app.turnaround.CONTRACT_TARGETS


@dataclass(frozen=True)
class ReportRecord:
    """One study as the measures see it: arrival, its first signed part, acknowledgement.

    ``opened_at``/``signed_at`` are None while the study is unreported; ``kind`` is the
    first part's kind (report, or return to the referrer); ``acknowledged_at`` is when
    the trust acknowledged that part at every destination (None: not yet).
    """

    study_uid: str
    modality: str
    arrived_at: datetime
    acknowledged_at: datetime | None = None
    opened_at: datetime | None = None
    signed_at: datetime | None = None
    author: str = ""
    kind: str = "report"


class TargetStatus(StrEnum):
    MET = "met"  # acknowledged within the target (exactly at it counts as met)
    BREACHED = "breached"  # acknowledged late, or still unacknowledged past the target
    PENDING = "pending"  # unacknowledged, the target not yet reached: not counted yet


@dataclass(frozen=True)
class Turnaround:
    """Arrival → acknowledgement of one study, or arrival → now while unacknowledged."""

    study_uid: str
    modality: str
    arrived_at: datetime
    acknowledged_at: datetime | None
    elapsed: timedelta
    statuses: tuple[tuple[str, TargetStatus], ...]  # per contract target, in its order

    def status(self, target: str) -> TargetStatus:
        return dict(self.statuses)[target]


def turnarounds(records: Iterable[ReportRecord], targets: Targets,
                now: datetime) -> list[Turnaround]:
    """Each study's turnaround and its status against each target (STANDARDS §5)."""
    found = []
    for record in records:
        end = record.acknowledged_at or now
        elapsed = end - record.arrived_at
        statuses = tuple((name, _status(elapsed, record.acknowledged_at is not None, span))
                         for name, span in targets)
        found.append(Turnaround(record.study_uid, record.modality, record.arrived_at,
                                record.acknowledged_at, elapsed, statuses))
    return sorted(found, key=lambda t: (t.arrived_at, t.study_uid))


def _status(elapsed: timedelta, acknowledged: bool, span: timedelta) -> TargetStatus:
    if elapsed > span:
        return TargetStatus.BREACHED
    return TargetStatus.MET if acknowledged else TargetStatus.PENDING


@dataclass(frozen=True)
class Compliance:
    """One target in one period: studies that arrived then, and how many met it."""

    period: str  # "2026-W47" (ISO week) or "2026-11"
    target: str
    arrived: int
    met: int
    breached: int

    @property
    def pending(self) -> int:
        return self.arrived - self.met - self.breached

    @property
    def fraction(self) -> float | None:
        """met / (met + breached); pending studies are not decided yet. None: nothing to
        count."""
        decided = self.met + self.breached
        return self.met / decided if decided else None


def iso_week(moment: datetime | date, zone: tzinfo = UTC) -> str:
    """"2026-W47": the ISO 8601 week of a moment (in ``zone``) or of a day."""
    day = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month(moment: datetime, zone: tzinfo = UTC) -> str:
    return f"{moment.astimezone(zone):%Y-%m}"


def compliance(found: Iterable[Turnaround], targets: Targets,
               period: Callable[[datetime], str]) -> list[Compliance]:
    """Compliance per period of arrival and per target, oldest period first."""
    counts: dict[tuple[str, str], Counter[TargetStatus]] = {}
    for turnaround in found:
        key = period(turnaround.arrived_at)
        for name, _ in targets:
            counts.setdefault((key, name), Counter())[turnaround.status(name)] += 1
    order = {name: index for index, (name, _) in enumerate(targets)}
    return [Compliance(key, name, sum(tally.values()), tally[TargetStatus.MET],
                       tally[TargetStatus.BREACHED])
            for (key, name), tally in sorted(counts.items(),
                                             key=lambda item: (item[0][0], order[item[0][1]]))]


class FlagKind(StrEnum):
    BREACH = "breach"
    NEAR_BREACH = "near-breach"


@dataclass(frozen=True)
class TargetFlag:
    """A study that missed a target, or came (or is coming) within the near window of it.

    ``margin`` = target − elapsed: negative when late; for an unacknowledged study it is
    the time left at ``now``.
    """

    study_uid: str
    modality: str
    arrived_at: datetime
    acknowledged_at: datetime | None
    target: str
    due_at: datetime
    margin: timedelta
    kind: FlagKind


def target_flags(found: Iterable[Turnaround], targets: Targets,
                 near_window: timedelta) -> list[TargetFlag]:
    """Breaches (elapsed > target) and near-breaches (0 ≤ margin ≤ ``near_window``), the
    worst first. A study acknowledged exactly at the target is a near-breach, not a
    breach; an open study within the window of its due time is one too (due soon)."""
    flags = []
    for turnaround in found:
        for name, span in targets:
            margin = span - turnaround.elapsed
            if margin > near_window:
                continue
            kind = FlagKind.BREACH if margin < timedelta(0) else FlagKind.NEAR_BREACH
            flags.append(TargetFlag(turnaround.study_uid, turnaround.modality,
                                    turnaround.arrived_at, turnaround.acknowledged_at, name,
                                    turnaround.arrived_at + span, margin, kind))
    return sorted(flags, key=lambda flag: (flag.margin, flag.study_uid, flag.target))


@dataclass(frozen=True)
class WritingTime:
    """Active writing time of one report: opened → signed minus the author's time away."""

    study_uid: str
    modality: str
    author: str
    opened_at: datetime
    signed_at: datetime
    away: timedelta  # idle-locked or logged out inside opened → signed

    @property
    def active(self) -> timedelta:
        return self.signed_at - self.opened_at - self.away


def away_intervals(events: Iterable[SessionEvent], user: str
                   ) -> list[tuple[datetime, datetime | None]]:
    """From each idle lock or logout of ``user`` to their next login (None: no login yet)."""
    away: list[tuple[datetime, datetime | None]] = []
    left: datetime | None = None
    for event in sorted((e for e in events if e.user == user), key=lambda e: e.at):
        if event.kind is SessionKind.LOGIN and left is not None:
            away.append((left, event.at))
            left = None
        elif event.kind is not SessionKind.LOGIN and left is None:
            left = event.at
    if left is not None:
        away.append((left, None))
    return away


def writing_times(records: Iterable[ReportRecord],
                  events: Sequence[SessionEvent]) -> list[WritingTime]:
    """Writing time of every signed report (returns to the referrer are not reports)."""
    found, away_of = [], {}
    for record in records:
        if record.kind != "report" or record.opened_at is None or record.signed_at is None:
            continue
        if record.author not in away_of:
            away_of[record.author] = away_intervals(events, record.author)
        away = sum((_overlap(record.opened_at, record.signed_at, start, end)
                    for start, end in away_of[record.author]), timedelta(0))
        found.append(WritingTime(record.study_uid, record.modality, record.author,
                                 record.opened_at, record.signed_at, away))
    return sorted(found, key=lambda w: (w.signed_at, w.study_uid))


def _overlap(start: datetime, end: datetime, other_start: datetime,
             other_end: datetime | None) -> timedelta:
    latest_start = max(start, other_start)
    earliest_end = end if other_end is None else min(end, other_end)
    return max(earliest_end - latest_start, timedelta(0))


@dataclass(frozen=True)
class Spread:
    """Median, quartiles (inclusive method, as numpy's default) and range of a sample."""

    count: int
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def spread(values: Sequence[float]) -> Spread:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("a spread needs at least one value")
    if len(ordered) == 1:
        q1 = q3 = ordered[0]
    else:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return Spread(len(ordered), statistics.median(ordered), q1, q3, ordered[0], ordered[-1])


@dataclass(frozen=True)
class ModalitySpeed:
    """Active writing minutes of the reports of one modality."""

    modality: str
    minutes: Spread


def speed_by_modality(found: Iterable[WritingTime]) -> list[ModalitySpeed]:
    by_modality: dict[str, list[float]] = {}
    for writing in found:
        by_modality.setdefault(writing.modality, []).append(writing.active.total_seconds() / 60)
    return [ModalitySpeed(modality, spread(minutes))
            for modality, minutes in sorted(by_modality.items())]


@dataclass(frozen=True)
class DayCount:
    day: date
    reports: int


def reports_per_day(records: Iterable[ReportRecord], first: date, last: date,
                    zone: tzinfo = UTC) -> list[DayCount]:
    """Reports signed on each day from ``first`` to ``last`` inclusive, empty days as 0."""
    signed = Counter(record.signed_at.astimezone(zone).date() for record in records
                     if record.kind == "report" and record.signed_at is not None)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [DayCount(day, signed[day]) for day in days]


@dataclass(frozen=True)
class ServiceMeasures:
    """Every measure of one period [since, until), as at ``now``."""

    since: datetime
    until: datetime
    now: datetime
    targets: tuple[tuple[str, timedelta], ...]
    near_window: timedelta
    limits: Limits
    turnarounds: tuple[Turnaround, ...]
    weekly: tuple[Compliance, ...]
    monthly: tuple[Compliance, ...]
    flags: tuple[TargetFlag, ...]
    writing: tuple[WritingTime, ...]
    speed: tuple[ModalitySpeed, ...]
    daily_hours: tuple[ActiveTime, ...]
    weekly_hours: tuple[ActiveTime, ...]
    warnings: tuple[LimitWarning, ...]
    reports_per_day: tuple[DayCount, ...]


def compute_measures(records: Sequence[ReportRecord], events: Sequence[SessionEvent], *,
                     since: datetime, until: datetime, now: datetime, targets: Targets,
                     near_window: timedelta, limits: Limits,
                     zone: tzinfo = UTC) -> ServiceMeasures:
    """All measures of [since, until): turnaround of the studies that arrived in it,
    writing time and counts of the reports signed in it, hours worked in it (sessions
    clipped to it; open ones end at ``now``)."""
    arrived = [r for r in records if since <= r.arrived_at < until]
    signed = [r for r in records if r.signed_at is not None and since <= r.signed_at < until]
    found = turnarounds(arrived, targets, now)
    writing = writing_times(signed, events)
    worked = sessions(events, now)
    daily, weekly = active_hours(clip(worked, since, until), zone)
    last_day = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return ServiceMeasures(
        since, until, now, tuple(targets), near_window, limits, tuple(found),
        tuple(compliance(found, targets, lambda m: iso_week(m, zone))),
        tuple(compliance(found, targets, lambda m: month(m, zone))),
        tuple(target_flags(found, targets, near_window)), tuple(writing),
        tuple(speed_by_modality(writing)), tuple(daily), tuple(weekly),
        tuple(limit_warnings(worked, daily, weekly, limits, since, until, zone)),
        tuple(reports_per_day(signed, since.astimezone(zone).date(), last_day, zone)))
