"""The index rows of a stored instance: its study, series and instance (PS3.3 §7.1, the
DICOM information model's levels), written in one transaction before 0x0000.

A study's identifying values are sealed under its data key (app/study_keys.py) and, with
its sealed key, written by its first instance; later instances of a study this index has
already written only move its last-received time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlcipher3

from app.database import Database
from app.dicom_header import InstanceHeader
from app.import_ledger import ImportStart, record_start
from app.study_keys import seal_identity

StudyKey = tuple[int, bytes, bytes]  # (version, data key, sealed key): StudyKeys.for_writing


@dataclass(frozen=True)
class IndexEntry:
    """Where an instance is kept and how it arrived."""

    object_name: str
    stored_bytes: int
    calling_ae: str = ""
    called_ae: str = ""
    reporter: str = ""
    opens_import: ImportStart | None = None  # the study's first instance on an association


def _now() -> str:
    return datetime.now(UTC).isoformat()


def identity_values(header: InstanceHeader) -> tuple[str, ...]:
    """The patient columns of the index, in IDENTITY_COLUMNS order."""
    return (header.patient_name, header.patient_id, header.issuer_of_patient_id,
            header.nhs_number, header.birth_date, header.sex, header.study_date,
            header.study_time, header.accession, header.study_description,
            header.referring_physician)


class InstanceIndex:
    """Adds and removes instance rows; remembers which studies it has written."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._written_studies: set[tuple[str, int]] = set()  # (study UID, key version)

    def add(self, header: InstanceHeader, entry: IndexEntry, study_key: StudyKey) -> bool:
        """Index one instance; False if its SOP Instance UID was already there."""
        now = _now()
        with self._database.transaction() as cursor:
            if not self._touch_study(cursor, header.study_uid, study_key[0], now):
                self._insert_study(cursor, header, entry, study_key, now)
            cursor.execute(
                """INSERT INTO series (series_uid, study_uid, modality, series_number,
                       description, body_part) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(series_uid) DO NOTHING""",
                (header.series_uid, header.study_uid, header.modality, header.series_number,
                 header.series_description, header.body_part),
            )
            cursor.execute(
                """INSERT INTO instances (sop_instance_uid, series_uid, study_uid, sop_class_uid,
                       transfer_syntax_uid, instance_number, object_name, stored_bytes,
                       received_at, image_position, image_orientation, frames, rows_count,
                       columns_count, key_version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(sop_instance_uid) DO NOTHING""",
                (header.sop_instance_uid, header.series_uid, header.study_uid,
                 header.sop_class_uid, header.transfer_syntax_uid, header.instance_number,
                 entry.object_name, entry.stored_bytes, now, header.image_position,
                 header.image_orientation, header.frames, header.rows, header.columns,
                 study_key[0]),
            )
            inserted = cursor.rowcount == 1
            if inserted and entry.opens_import is not None:
                record_start(cursor, entry.opens_import, header.study_uid, now)
        self._written_studies.add((header.study_uid, study_key[0]))
        return inserted

    def remove(self, sop_instance_uid: str) -> None:
        with self._database.transaction() as cursor:
            cursor.execute("DELETE FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,))

    def forget_study(self, study_uid: str) -> None:
        """The study's rows were deleted (purged): its next instance writes them again."""
        self._written_studies -= {known for known in self._written_studies
                                  if known[0] == study_uid}

    def _touch_study(self, cursor: sqlcipher3.Cursor, study_uid: str, key_version: int,
                     now: str) -> bool:
        """A study written with this key version: only its last-received time changes.
        False otherwise, or if its row has gone meanwhile."""
        if (study_uid, key_version) not in self._written_studies:
            return False
        cursor.execute("UPDATE studies SET last_received_at = ? WHERE study_uid = ?",
                       (now, study_uid))
        return cursor.rowcount == 1

    @staticmethod
    def _insert_study(cursor: sqlcipher3.Cursor, header: InstanceHeader, entry: IndexEntry,
                      study_key: StudyKey, now: str) -> None:
        version, key, sealed_key = study_key
        cursor.execute(
            """INSERT INTO studies (study_uid, identity, identity_version, called_ae,
                   calling_ae, assigned_reporter, wrapped_key, first_received_at,
                   last_received_at, priority)
               VALUES (?, ?, ?, ?, ?, ?, x'', ?, ?, ?)
               ON CONFLICT(study_uid)
               DO UPDATE SET last_received_at = excluded.last_received_at""",
            (header.study_uid, seal_identity(header.study_uid, identity_values(header), key),
             version, entry.called_ae, entry.calling_ae, entry.reporter, now, now,
             header.priority),
        )
        cursor.execute(
            """INSERT INTO study_keys (study_uid, version, sealed_key) VALUES (?, ?, ?)
               ON CONFLICT DO NOTHING""", (header.study_uid, version, sealed_key))
