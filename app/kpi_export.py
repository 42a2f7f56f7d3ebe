"""The service measures as tables: CSV with one section per measure, or nested JSON.

For the registered manager's meetings with the trust (STANDARDS §5). Both formats come
from the same ``sections``, so they say the same thing; times are ISO 8601 UTC, durations
in the unit the column name says, numbers rounded to 3 decimals, an unknown value empty
(CSV) or null (JSON).

CSV layout: a section starts with a row ``[group.name]``, then its header row, then its
rows, then an empty row. Sections and columns:

- ``[summary.period]`` from, to (inclusive days), as_of, near_breach_hours,
  max_hours_per_day, max_hours_per_week, max_minutes_without_break
- ``[turnaround.studies]`` study_uid, modality, arrived_at, acknowledged_at,
  turnaround_hours (to as_of while unacknowledged), status_3_day, status_5_day
  (met / breached / pending)
- ``[turnaround.weekly]`` / ``[turnaround.monthly]`` period (ISO week / month of arrival),
  target, arrived, met, breached, pending, compliance (met / (met + breached))
- ``[turnaround.flags]`` study_uid, modality, arrived_at, acknowledged_at, target, due_at,
  flag (breach / near-breach), margin_hours (negative: late)
- ``[speed.reports]`` study_uid, modality, author, opened_at, signed_at, away_minutes
  (idle-locked or logged out), active_minutes
- ``[speed.by_modality]`` modality, reports, median_minutes, q1_minutes, q3_minutes,
  iqr_minutes, min_minutes, max_minutes
- ``[hours.daily]`` / ``[hours.weekly]`` user, period (day / ISO week), active_hours
- ``[hours.warnings]`` user, period, limit_kind, measured, limit, message
- ``[reports.per_day]`` day, reports
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from reporting.measures import Compliance, ServiceMeasures

DECIMALS = 3


@dataclass(frozen=True)
class Section:
    group: str
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"


def value(item: Any) -> Any:
    """A cell as it is exported: ISO times, rounded numbers, None kept."""
    if isinstance(item, datetime):
        return item.isoformat()
    if isinstance(item, float):
        return round(item, DECIMALS)
    return item.value if isinstance(item, Enum) else item


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def _minutes(span: timedelta) -> float:
    return span.total_seconds() / 60


def status_column(target: str) -> str:
    """"3-day" → "status_3_day"."""
    return "status_" + target.replace("-", "_")


def sections(m: ServiceMeasures) -> list[Section]:
    """Every measure of ``m`` as a table, in the order of the CSV."""
    last_day = m.reports_per_day[-1].day if m.reports_per_day else m.until.date()
    return [
        Section("summary", "period", (
            "from", "to", "as_of", "near_breach_hours", "max_hours_per_day",
            "max_hours_per_week", "max_minutes_without_break"), ((
                m.since.date().isoformat(), last_day.isoformat(), m.now,
                _hours(m.near_window), m.limits.max_hours_per_day,
                m.limits.max_hours_per_week, m.limits.max_minutes_without_break),)),
        Section("turnaround", "studies", (
            "study_uid", "modality", "arrived_at", "acknowledged_at", "turnaround_hours",
            *(status_column(name) for name, _ in m.targets)), tuple(
                (t.study_uid, t.modality, t.arrived_at, t.acknowledged_at, _hours(t.elapsed),
                 *(status for _, status in t.statuses)) for t in m.turnarounds)),
        _compliance("weekly", m.weekly),
        _compliance("monthly", m.monthly),
        Section("turnaround", "flags", (
            "study_uid", "modality", "arrived_at", "acknowledged_at", "target", "due_at",
            "flag", "margin_hours"), tuple(
                (f.study_uid, f.modality, f.arrived_at, f.acknowledged_at, f.target, f.due_at,
                 f.kind, _hours(f.margin)) for f in m.flags)),
        *_speed(m),
        *_hours_sections(m),
        Section("reports", "per_day", ("day", "reports"),
                tuple((d.day.isoformat(), d.reports) for d in m.reports_per_day)),
    ]


def _compliance(name: str, found: tuple[Compliance, ...]) -> Section:
    return Section("turnaround", name, (
        "period", "target", "arrived", "met", "breached", "pending", "compliance"), tuple(
            (c.period, c.target, c.arrived, c.met, c.breached, c.pending, c.fraction)
            for c in found))


def _speed(m: ServiceMeasures) -> list[Section]:
    return [
        Section("speed", "reports", (
            "study_uid", "modality", "author", "opened_at", "signed_at", "away_minutes",
            "active_minutes"), tuple(
                (w.study_uid, w.modality, w.author, w.opened_at, w.signed_at,
                 _minutes(w.away), _minutes(w.active)) for w in m.writing)),
        Section("speed", "by_modality", (
            "modality", "reports", "median_minutes", "q1_minutes", "q3_minutes",
            "iqr_minutes", "min_minutes", "max_minutes"), tuple(
                (s.modality, s.minutes.count, float(s.minutes.median), float(s.minutes.q1),
                 float(s.minutes.q3), float(s.minutes.iqr), float(s.minutes.minimum),
                 float(s.minutes.maximum)) for s in m.speed)),
    ]


def _hours_sections(m: ServiceMeasures) -> list[Section]:
    return [
        Section("hours", "daily", ("user", "period", "active_hours"),
                tuple((a.user, a.period, a.hours) for a in m.daily_hours)),
        Section("hours", "weekly", ("user", "period", "active_hours"),
                tuple((a.user, a.period, a.hours) for a in m.weekly_hours)),
        Section("hours", "warnings", (
            "user", "period", "limit_kind", "measured", "limit", "message"), tuple(
                (w.user, w.period, w.kind, float(w.measured), float(w.limit), w.message)
                for w in m.warnings)),
    ]


def to_csv(m: ServiceMeasures) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for section in sections(m):
        writer.writerow([f"[{section.key}]"])
        writer.writerow(section.columns)
        for row in section.rows:
            writer.writerow(["" if cell is None else value(cell) for cell in row])
        writer.writerow([])
    return buffer.getvalue()


def to_json(m: ServiceMeasures) -> str:
    """``{"summary": {"period": [...]}, "turnaround": {"studies": [...], ...}, ...}``."""
    document: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for section in sections(m):
        document.setdefault(section.group, {})[section.name] = [
            {column: value(cell) for column, cell in zip(section.columns, row, strict=True)}
            for row in section.rows]
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def read_csv(text: str) -> dict[str, list[dict[str, str]]]:
    """The sections of a CSV export back, as ``{"group.name": [row, ...]}`` of strings."""
    found: dict[str, list[dict[str, str]]] = {}
    rows = iter(csv.reader(io.StringIO(text)))
    for row in rows:
        if len(row) == 1 and row[0].startswith("[") and row[0].endswith("]"):
            key, header = row[0][1:-1], next(rows)
            found[key] = []
            for line in rows:
                if not line:
                    break
                found[key].append(dict(zip(header, line, strict=True)))
    return found
