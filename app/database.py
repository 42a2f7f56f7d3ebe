"""The profile's one database: SQLCipher-encrypted SQLite in WAL mode, versioned migrations.

It holds the study index, the wrapped study keys, the audit chain, reports, drafts and the
outbox (DESIGN rule 3).
Every statement uses bound parameters: received values never become SQL text.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlcipher3

from app.errors import OutOfResources, StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: index, keys, audit chain
    """
    CREATE TABLE studies (
        study_uid TEXT PRIMARY KEY,
        patient_name TEXT NOT NULL DEFAULT '',
        patient_id TEXT NOT NULL DEFAULT '',
        issuer_of_patient_id TEXT NOT NULL DEFAULT '',
        nhs_number TEXT NOT NULL DEFAULT '',
        birth_date TEXT NOT NULL DEFAULT '',
        sex TEXT NOT NULL DEFAULT '',
        study_date TEXT NOT NULL DEFAULT '',
        study_time TEXT NOT NULL DEFAULT '',
        accession TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        referring_physician TEXT NOT NULL DEFAULT '',
        called_ae TEXT NOT NULL DEFAULT '',
        calling_ae TEXT NOT NULL DEFAULT '',
        assigned_reporter TEXT NOT NULL DEFAULT '',
        wrapped_key BLOB NOT NULL,
        first_received_at TEXT NOT NULL,
        last_received_at TEXT NOT NULL
    );
    CREATE TABLE series (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT NOT NULL REFERENCES studies(study_uid) ON DELETE CASCADE,
        modality TEXT NOT NULL DEFAULT '',
        series_number INTEGER,
        description TEXT NOT NULL DEFAULT '',
        body_part TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX series_by_study ON series(study_uid);
    CREATE TABLE instances (
        sop_instance_uid TEXT PRIMARY KEY,
        series_uid TEXT NOT NULL REFERENCES series(series_uid) ON DELETE CASCADE,
        study_uid TEXT NOT NULL REFERENCES studies(study_uid) ON DELETE CASCADE,
        sop_class_uid TEXT NOT NULL,
        transfer_syntax_uid TEXT NOT NULL,
        instance_number INTEGER,
        object_name TEXT NOT NULL UNIQUE,
        stored_bytes INTEGER NOT NULL,
        received_at TEXT NOT NULL
    );
    CREATE INDEX instances_by_study ON instances(study_uid);
    CREATE INDEX instances_by_series ON instances(series_uid);
    CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        outcome INTEGER NOT NULL,
        actor TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        objects TEXT NOT NULL DEFAULT '[]',
        detail TEXT NOT NULL DEFAULT '',
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    """,
    # 2: what the viewer needs to order and size a series without opening every file
    """
    ALTER TABLE instances ADD COLUMN image_position TEXT NOT NULL DEFAULT '';
    ALTER TABLE instances ADD COLUMN image_orientation TEXT NOT NULL DEFAULT '';
    ALTER TABLE instances ADD COLUMN frames INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE instances ADD COLUMN rows_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE instances ADD COLUMN columns_count INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: the requested procedure's priority, when the sender includes it (PS3.3 C.4.11)
    """
    ALTER TABLE studies ADD COLUMN priority TEXT NOT NULL DEFAULT '';
    """,
    # 4: local accounts (app/users.py): Argon2id password hash, TOTP secret, lockout
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('reporter', 'it-auditor', 'admin')),
        gmc_number TEXT NOT NULL DEFAULT '',
        password_salt BLOB NOT NULL,
        password_parameters TEXT NOT NULL,
        password_hash BLOB NOT NULL,
        totp_secret TEXT NOT NULL,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        last_failure_at TEXT NOT NULL DEFAULT '',
        locked_until TEXT NOT NULL DEFAULT '',
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    """,
    # 5: how far the audit trail has gone to each syslog collector (app/syslog_forward.py)
    """
    CREATE TABLE audit_forwarding (
        collector TEXT PRIMARY KEY,
        last_forwarded_seq INTEGER NOT NULL DEFAULT 0,
        last_forwarded_at TEXT NOT NULL DEFAULT ''
    );
    """,
    # 6: when the trust acknowledged the study's report (set by delivery; starts retention)
    """
    ALTER TABLE studies ADD COLUMN report_delivered_at TEXT NOT NULL DEFAULT '';
    """,
    # 7: reports, drafts and the outbox (reporting/). Text columns named body/payload are
    # sealed with the study's data key, so purging a study shreds its report text too;
    # the times and states stay for the service measures.
    """
    CREATE TABLE reports (
        study_uid TEXT PRIMARY KEY,
        sr_series_uid TEXT NOT NULL,
        state TEXT NOT NULL,
        alert TEXT NOT NULL DEFAULT '',
        modality TEXT NOT NULL DEFAULT '',
        study_received_at TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE TABLE report_parts (
        study_uid TEXT NOT NULL REFERENCES reports(study_uid),
        number INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('report', 'addendum', 'return')),
        author TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        writing_seconds REAL NOT NULL,
        alert TEXT NOT NULL DEFAULT '',
        sr_sop_instance_uid TEXT NOT NULL,
        hl7_control_id TEXT NOT NULL UNIQUE,
        body BLOB NOT NULL,
        PRIMARY KEY (study_uid, number)
    );
    CREATE TRIGGER report_parts_never_change BEFORE UPDATE ON report_parts
    BEGIN SELECT RAISE(ABORT, 'a signed report part never changes; add an addendum'); END;
    CREATE TRIGGER report_parts_never_deleted BEFORE DELETE ON report_parts
    BEGIN SELECT RAISE(ABORT, 'a signed report part is never deleted'); END;
    CREATE TABLE report_drafts (
        study_uid TEXT NOT NULL,
        author TEXT NOT NULL,
        kind TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (study_uid, author, kind)
    );
    CREATE TABLE outbox (
        entry_id INTEGER PRIMARY KEY,
        study_uid TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        destination TEXT NOT NULL,
        payload BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'sending', 'acknowledged', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        claimed_by TEXT NOT NULL DEFAULT '',
        claimed_until TEXT NOT NULL DEFAULT '',
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT NOT NULL DEFAULT '',
        acknowledged_at TEXT NOT NULL DEFAULT '',
        UNIQUE (study_uid, part_number, destination),
        FOREIGN KEY (study_uid, part_number) REFERENCES report_parts(study_uid, number)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE macros (
        username TEXT NOT NULL,
        abbreviation TEXT NOT NULL,
        expansion TEXT NOT NULL,
        PRIMARY KEY (username, abbreviation)
    );
    """,
    # 8: the reading key (app/reading_keys.py): study keys sealed to it, one per key version
    # (the node, unable to open an older key, starts a new one); the index's patient
    # columns move into a sealed identity; each reader's password seals a slot of it
    """
    CREATE TABLE reading_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        public_key BLOB NOT NULL,
        enrolment_slot BLOB
    );
    CREATE TABLE key_slots (
        username TEXT PRIMARY KEY REFERENCES users(username) ON DELETE CASCADE,
        salt BLOB NOT NULL,
        parameters TEXT NOT NULL,
        sealed_key BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE study_keys (
        study_uid TEXT NOT NULL REFERENCES studies(study_uid) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sealed_key BLOB NOT NULL,
        PRIMARY KEY (study_uid, version)
    );
    ALTER TABLE instances ADD COLUMN key_version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE studies ADD COLUMN identity BLOB;
    ALTER TABLE studies ADD COLUMN identity_version INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: the device compliance log (qa/compliance.py): display QA runs, display changes,
    # posture checks at login; hash-chained and signed with the workstation's Ed25519 key
    """
    CREATE TABLE workstation_signing_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        private_key BLOB NOT NULL,
        public_key BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE compliance_log (
        seq INTEGER PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        signature BLOB NOT NULL
    );
    CREATE TRIGGER compliance_log_no_update BEFORE UPDATE ON compliance_log
    BEGIN SELECT RAISE(ABORT, 'the compliance log is append-only'); END;
    CREATE TRIGGER compliance_log_no_delete BEFORE DELETE ON compliance_log
    BEGIN SELECT RAISE(ABORT, 'the compliance log is append-only'); END;
    CREATE TABLE compliance_forwarding (
        collector TEXT PRIMARY KEY,
        last_forwarded_seq INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 10: discrepancy and peer feedback for the REALM (reporting/discrepancy.py). The
    # learning points may identify the patient, so they are sealed with the study's data
    # key and shredded with it; the category, people and dates stay for the counts.
    """
    CREATE TABLE discrepancies (
        id INTEGER PRIMARY KEY,
        study_uid TEXT NOT NULL,
        report_part INTEGER,
        reporter TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('self', 'colleague', 'trust audit import')),
        category TEXT NOT NULL,
        learning_points BLOB,
        recorded_at TEXT NOT NULL,
        event_date TEXT
    );
    CREATE INDEX discrepancies_by_reporter ON discrepancies(reporter);
    """,
    # 11: studies an association has begun to deliver (app/import_ledger.py), so a crash
    # mid-association still leaves an Import audit event behind
    """
    CREATE TABLE open_imports (
        association TEXT NOT NULL,
        study_uid TEXT NOT NULL,
        calling_ae TEXT NOT NULL,
        source TEXT NOT NULL,
        began_at TEXT NOT NULL,
        PRIMARY KEY (association, study_uid)
    );
    """,
)


class Database:
    """One SQLCipher connection shared by the node's threads and the GUI, under a lock."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._connection = sqlcipher3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        # The key pragma must be the first statement; a raw key skips SQLCipher's own KDF
        # because ours is already a 256-bit key from HKDF.
        self._connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        # SQLCipher would print its own lines to stderr; our errors say it in one line.
        self._connection.execute("PRAGMA cipher_log_level = NONE")
        try:
            self._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            self._connection.close()
            if "full" in str(exc).lower():  # a wrong key is "file is not a database"
                raise _store_error(exc) from exc
            raise StoreError(
                f"{path.name} cannot be opened with this profile's key "
                "(wrong keyring entry or passphrase, or the file is damaged)"
            ) from exc
        for pragma in (
            "journal_mode = WAL",
            "synchronous = FULL",  # a commit is on disk before we answer 0x0000
            "foreign_keys = ON",
            "secure_delete = ON",  # shredded keys do not linger in free pages
        ):
            self._connection.execute(f"PRAGMA {pragma}")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path.name} is schema {version}, newer than this telerad "
                    f"({len(MIGRATIONS)}); upgrade telerad"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                with self.transaction() as cursor:
                    for statement in _statements(script):
                        cursor.execute(statement)
                    cursor.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlcipher3.Cursor]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception. A transaction opened
        inside another (same thread: the lock is held) joins it."""
        with self._lock:
            if self._connection.in_transaction:
                yield self._connection.cursor()
                return
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException as exc:
                # SQLite may already have rolled back (e.g. SQLITE_FULL ends the transaction)
                if self._connection.in_transaction:
                    cursor.execute("ROLLBACK")
                if isinstance(exc, sqlcipher3.DatabaseError):
                    raise _store_error(exc) from exc
                raise
            finally:
                # a failed statement kept alive by a logged error (its traceback holds this
                # cursor) would otherwise keep the database file open after close()
                cursor.close()

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                cursor = self._connection.execute(sql, parameters)
                names = [column[0] for column in cursor.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            except sqlcipher3.DatabaseError as exc:
                raise _store_error(exc) from exc

    def checkpoint(self) -> None:
        """Copy the WAL into the database and empty it, so deleted rows leave no copy there."""
        with self._lock:
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _store_error(exc: sqlcipher3.DatabaseError) -> StoreError:
    """SQLite's error as the store's: a full disk is OutOfResources (answered 0xA700)."""
    if "full" in str(exc).lower():
        return OutOfResources(f"the index is out of space: {exc}")
    return StoreError(f"the index database failed: {exc}")


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if sqlcipher3.complete_statement(joined):
            statements.append(joined)
            current = []
    return statements
