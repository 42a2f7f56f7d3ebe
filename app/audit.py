"""Append-only, hash-chained audit trail (IHE ATNA; event codes of DICOM PS3.15 A.5).

Each event stores the SHA-256 of the previous one, so any changed, removed or reordered
entry breaks the chain at that point and ``telerad audit verify`` names it. Objects are
referred to by UID, never by patient name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum

from app.database import Database

GENESIS_HASH = "0" * 64


class EventId(StrEnum):
    """DCM audit event IDs (PS3.15 A.5.3, STANDARDS §7)."""

    APPLICATION_ACTIVITY = "110100"
    AUDIT_LOG_USED = "110101"
    INSTANCES_ACCESSED = "110103"
    INSTANCES_TRANSFERRED = "110104"
    STUDY_DELETED = "110105"
    EXPORT = "110106"
    IMPORT = "110107"
    PATIENT_RECORD = "110110"  # a report signed, an addendum added, a study returned
    SECURITY_ALERT = "110113"
    USER_AUTHENTICATION = "110114"


class EventType(StrEnum):
    """DCM EventTypeCodes refining an event ID (PS3.15 A.5.3.11 Security Alert, A.5.3.12)."""

    LOGIN = "110122"
    LOGOUT = "110123"
    USE_OF_RESTRICTED_FUNCTION = "110132"
    USER_SECURITY_ATTRIBUTES_CHANGED = "110137"


class Outcome(IntEnum):
    """EventOutcomeIndicator (RFC 3881 / PS3.15 A.5.1)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened, as the ATNA message will describe it."""

    event_id: EventId
    action: str  # EventActionCode: C create, R read, U update, D delete, E execute
    actor: str  # user name, or the AE title / component that acted
    outcome: Outcome = Outcome.SUCCESS
    event_type: str = ""  # EventTypeCode, e.g. 110122 Login
    source: str = ""  # network address of the remote party, if any
    objects: tuple[tuple[str, str], ...] = ()  # (kind, UID) pairs: ("study", "1.2.3")
    detail: str = ""  # free text without patient identifiers
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass(frozen=True)
class ChainBreak:
    """Where verification failed and why."""

    seq: int
    reason: str


def _digest(prev_hash: str, row: dict[str, object]) -> str:
    fields = {key: row[key] for key in sorted(row) if key not in ("hash", "prev_hash", "seq")}
    canonical = json.dumps([row["seq"], prev_hash, fields], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class AuditTrail:
    """Writes and verifies the chain held in the profile database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def database(self) -> Database:
        """The database the trail lives in, for a change that must commit with an event."""
        return self._database

    def record(self, event: AuditEvent) -> int:
        """Append ``event`` and return its sequence number."""
        row: dict[str, object] = {
            "recorded_at": event.recorded_at,
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "action": event.action,
            "outcome": int(event.outcome),
            "actor": event.actor,
            "source": event.source,
            "objects": json.dumps([list(pair) for pair in event.objects]),
            "detail": event.detail,
        }
        with self._database.transaction() as cursor:
            last = cursor.execute(
                "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
            row["seq"] = seq
            row["prev_hash"] = prev_hash
            row["hash"] = _digest(prev_hash, row)
            columns = ", ".join(row)
            placeholders = ", ".join("?" for _ in row)
            cursor.execute(
                f"INSERT INTO audit_events ({columns}) VALUES ({placeholders})", list(row.values())
            )
        return seq

    def events(self, *, since_seq: int = 0, limit: int | None = None) -> list[dict[str, object]]:
        sql = "SELECT * FROM audit_events WHERE seq > ? ORDER BY seq"
        parameters: list[object] = [since_seq]
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return self._database.query(sql, parameters)

    def verify(self) -> ChainBreak | None:
        """Recompute the chain; the first entry that does not hold, or None."""
        return first_break(self.events())


def first_break(rows: Iterable[dict[str, object]]) -> ChainBreak | None:
    """Check sequence continuity, back links and each entry's own hash."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for row in rows:
        seq = int(row["seq"])  # type: ignore[arg-type]
        if seq != expected_seq:
            return ChainBreak(expected_seq, f"entry {expected_seq} is missing (found {seq} next)")
        if row["prev_hash"] != prev_hash:
            return ChainBreak(seq, f"entry {seq} does not link to entry {seq - 1}")
        if _digest(prev_hash, row) != row["hash"]:
            return ChainBreak(seq, f"entry {seq} was altered after it was written")
        expected_seq, prev_hash = seq + 1, str(row["hash"])
    return None
