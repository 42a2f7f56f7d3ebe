"""Imports in progress, so every study a sender delivers gets its Import audit event
(DCM 110107, PS3.15 A.5.3), even when the node is stopped uncleanly mid-association.

The node records an association's Import events when the association ends. The index
transaction of the first instance of a study an association stores also writes a row
here: the import has begun. At the association's end its events are recorded and its
rows deleted in one transaction. Rows still here when the node next starts belong to
associations a crash cut short: their events are recorded then, with the instances
indexed since the import began.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlcipher3

from app.audit import AuditEvent, AuditTrail, EventId, Outcome


@dataclass(frozen=True)
class ImportStart:
    """Who delivers on an association: what a new open import row records."""

    association: str  # a key of the association, unique to this node's run
    calling_ae: str
    source: str


def record_start(cursor: sqlcipher3.Cursor, start: ImportStart, study_uid: str,
                 now: str) -> None:
    """In the transaction that indexes the study's first instance on the association."""
    cursor.execute(
        """INSERT INTO open_imports (association, study_uid, calling_ae, source, began_at)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (start.association, study_uid, start.calling_ae, start.source, now))


@dataclass(frozen=True)
class OpenImport:
    """A study an association had begun to deliver."""

    association: str
    study_uid: str
    calling_ae: str
    source: str
    began_at: str


class ImportLedger:
    """Open imports in the index database, closed together with their audit events."""

    def __init__(self, audit: AuditTrail) -> None:
        self._audit = audit
        self._database = audit.database  # one database: the events and rows commit together

    def end(self, association: str, events: list[AuditEvent]) -> None:
        """Record the association's Import events and close its imports, atomically."""
        with self._database.transaction() as cursor:
            for event in events:
                self._audit.record(event)
            cursor.execute("DELETE FROM open_imports WHERE association = ?", (association,))

    def interrupted(self) -> list[OpenImport]:
        rows = self._database.query(
            "SELECT association, study_uid, calling_ae, source, began_at FROM open_imports "
            "ORDER BY began_at")
        return [OpenImport(**row) for row in rows]

    def close_interrupted(self) -> int:
        """At start-up: one Import event per import a crash left open, naming how many of
        its study's instances were indexed since it began. Returns how many were closed."""
        left = self.interrupted()
        for cut_short in left:
            self.end(cut_short.association, [self._interrupted_event(cut_short)])
        return len(left)

    def _interrupted_event(self, cut_short: OpenImport) -> AuditEvent:
        (row,) = self._database.query(
            "SELECT count(*) AS stored FROM instances WHERE study_uid = ? AND received_at >= ?",
            (cut_short.study_uid, cut_short.began_at))
        stored = row["stored"]
        return AuditEvent(
            EventId.IMPORT, "C", actor=cut_short.calling_ae, source=cut_short.source,
            outcome=Outcome.MINOR_FAILURE if stored else Outcome.SERIOUS_FAILURE,
            objects=(("study", cut_short.study_uid),),
            detail=f"{stored} instance(s) indexed since {cut_short.began_at}, on an "
                   "association cut short when the node stopped uncleanly; recorded at its "
                   "next start",
        )
