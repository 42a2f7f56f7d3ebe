"""Service measures of a profile: its reports, outbox and audit trail read into plain records.

STANDARDS §5: turnaround against the contract's 3-day and 5-day targets, reporting speed
and reporters' working hours. The maths is in reporting/measures.py and
reporting/working_hours.py; this module only reads the facts the workstation recorded
anyway (migration 7's ``reports``, ``report_parts``, ``outbox``; ``studies`` for studies
not reported yet; login, idle-lock and logout events of the audit trail).
"""

from __future__ import annotations

from datetime import datetime

from app.audit import EventId, EventType, Outcome
from app.config import Settings
from app.database import Database
from app.turnaround import CONTRACT_TARGETS, DUE_SOON
from app.workstation import Workstation
from reporting.measures import ReportRecord, ServiceMeasures, compute_measures
from reporting.working_hours import Limits, SessionEvent, SessionKind

_REPORTED = """
    SELECT r.study_uid, r.modality, r.study_received_at, p.kind, p.author, p.opened_at,
           p.signed_at, coalesce(s.report_delivered_at, '') AS delivered_at,
           coalesce(s.first_received_at, '') AS first_received_at,
           (SELECT count(*) FROM outbox o WHERE o.study_uid = r.study_uid
                AND o.part_number = 1) AS entries,
           (SELECT count(*) FROM outbox o WHERE o.study_uid = r.study_uid
                AND o.part_number = 1 AND o.status = 'acknowledged') AS acknowledged,
           (SELECT max(o.acknowledged_at) FROM outbox o WHERE o.study_uid = r.study_uid
                AND o.part_number = 1) AS last_acknowledged_at
    FROM reports r
    JOIN report_parts p ON p.study_uid = r.study_uid AND p.number = 1
    LEFT JOIN studies s ON s.study_uid = r.study_uid
"""
_UNREPORTED = """
    SELECT s.study_uid, s.first_received_at, s.report_delivered_at,
           coalesce((SELECT group_concat(modality, ',') FROM (
               SELECT DISTINCT modality FROM series e WHERE e.study_uid = s.study_uid
               ORDER BY modality)), '') AS modality
    FROM studies s WHERE s.study_uid NOT IN (SELECT study_uid FROM reports)
"""
# Successful logins (not the one-time code re-check before signing), logouts, idle locks
_SESSION_EVENTS = """
    SELECT actor, recorded_at, event_type, detail FROM audit_events
    WHERE event_id = ? AND ((event_type = ? AND outcome = ? AND detail LIKE 'login:%')
                            OR event_type = ?)
"""


def limits_from_settings(settings: Settings) -> Limits:
    """The working-hours limits of ``oversight.*`` (app/config.py)."""
    return Limits(max_hours_per_day=float(settings["oversight.max_hours_per_day"]),
                  max_hours_per_week=float(settings["oversight.max_hours_per_week"]),
                  max_minutes_without_break=float(
                      settings["oversight.max_minutes_without_break"]))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _acknowledged(row: dict[str, object]) -> datetime | None:
    """Every destination of part 1 acknowledged: the latest of them; else the study's
    ``report_delivered_at`` (kept by delivery; gone once retention purged the study)."""
    if row["entries"] and row["entries"] == row["acknowledged"]:
        return _time(str(row["last_acknowledged_at"]))
    return _time(str(row["delivered_at"]))


def report_records(database: Database) -> list[ReportRecord]:
    """Every study the profile knows: reported ones (even purged) and those still open."""
    records = []
    for row in database.query(_REPORTED):
        # arrival as the report kept it (it outlives a purge); else as the index has it;
        # else the report's opening, the earliest moment known to have followed arrival
        arrived = (_time(row["study_received_at"]) or _time(row["first_received_at"])
                   or _time(row["opened_at"]))
        assert arrived is not None  # opened_at is NOT NULL
        records.append(ReportRecord(
            row["study_uid"], row["modality"], arrived, _acknowledged(row),
            _time(row["opened_at"]), _time(row["signed_at"]), row["author"], row["kind"]))
    for row in database.query(_UNREPORTED):
        arrived = _time(row["first_received_at"])
        assert arrived is not None  # first_received_at is NOT NULL
        records.append(ReportRecord(row["study_uid"], row["modality"], arrived,
                                    _time(row["report_delivered_at"])))
    return records


def session_events(database: Database) -> list[SessionEvent]:
    """Logins, idle locks and logouts of the audit trail (app/auth.py, PS3.15 A.5.3.12)."""
    rows = database.query(_SESSION_EVENTS, (str(EventId.USER_AUTHENTICATION),
                                            str(EventType.LOGIN), int(Outcome.SUCCESS),
                                            str(EventType.LOGOUT)))
    events = []
    for row in rows:
        if row["event_type"] == EventType.LOGIN:
            kind = SessionKind.LOGIN
        else:
            kind = SessionKind.IDLE_LOCK if row["detail"] == "idle lock" else SessionKind.LOGOUT
        events.append(SessionEvent(row["actor"], datetime.fromisoformat(row["recorded_at"]),
                                   kind))
    return events


def load_measures(workstation: Workstation, since: datetime, until: datetime,
                  now: datetime) -> ServiceMeasures:
    """The measures of [since, until) as at ``now``, under the contract's targets (3 and
    5 days, near-breach within 12 h: app/turnaround.py) and the profile's limits."""
    database = workstation.database
    return compute_measures(report_records(database), session_events(database),
                            since=since, until=until, now=now, targets=CONTRACT_TARGETS,
                            near_window=DUE_SOON,
                            limits=limits_from_settings(workstation.settings))
