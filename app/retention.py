"""Retention: local copies are crypto-shredded a set time after the report is delivered.

The regulator found no retention policy for staff working from home (STANDARDS §8). The
rule: purge a study ``retention.days_after_delivery`` days after the trust acknowledged
its report — never before delivery. Purging deletes the study's data key, its index rows
and its files; the audit trail keeps DICOM Study Deleted (110105) for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.audit import AuditEvent, AuditTrail, EventId
from app.store import StudyStore
from app.workstation import Workstation

RETENTION_INTERVAL_SECONDS = 3600  # how often `serve` and the app apply the rule


@dataclass(frozen=True)
class Purged:
    study_uid: str
    instances: int


def due_for_purge(store: StudyStore, days_after_delivery: int, now: datetime) -> list[str]:
    """Studies whose report was delivered more than ``days_after_delivery`` days ago."""
    return store.delivered_before(now - timedelta(days=days_after_delivery))


def apply_retention(store: StudyStore, audit: AuditTrail, days_after_delivery: int,
                    now: datetime, *, actor: str = "retention rule") -> list[Purged]:
    """Purge every study the rule says is due; each purge is audited (110105)."""
    purged = []
    for study_uid in due_for_purge(store, days_after_delivery, now):
        count = store.purge_study(study_uid)
        audit.record(AuditEvent(
            EventId.STUDY_DELETED, "D", actor, objects=(("study", study_uid),),
            detail=f"{count} instance(s) crypto-shredded {days_after_delivery} day(s) after "
                   "the report was delivered (retention rule)",
            recorded_at=now.isoformat()))
        purged.append(Purged(study_uid, count))
    return purged


def apply_retention_rule(workstation: Workstation, *, actor: str) -> list[Purged]:
    """The rule as the profile's settings give it, applied now (the hourly schedule)."""
    return apply_retention(workstation.store, workstation.audit,
                           workstation.settings["retention.days_after_delivery"],
                           datetime.now(UTC), actor=actor)
