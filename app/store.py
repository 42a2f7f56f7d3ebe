"""The encrypted study store: every received instance written once, indexed once.

Instance files are AES-256-GCM under a random per-study data key (sealed to the reading
key, app/study_keys.py), with the study and instance UIDs as associated data; the index's
patient columns are sealed the same way. File names are random tokens, never received
values.
An instance is durable before :meth:`StudyStore.put` returns: encrypted, written into a
file whose name is already durable (see ``object_files``), fsynced, then indexed and
committed (STANDARDS §1). Only the index makes an instance exist: a file that is not
indexed was never acknowledged, and recovery sets it aside.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

import pydicom
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydicom.dataset import Dataset

from app.crypto import decrypt_blob, encrypt_blob
from app.database import Database
from app.dicom_header import InstanceHeader, check_uids
from app.errors import IntegrityError, StoreError, StoreLocked
from app.import_ledger import ImportStart
from app.instance_index import IndexEntry, InstanceIndex
from app.object_files import (
    FAN_OUT,
    ObjectFilePool,
    SyncFailed,
    WriterLock,
    fsync_directory,
    os_error,
    write_then_sync,
)
from app.profile import ProfilePaths
from app.study_keys import StudyKeys, open_identity

LOG = logging.getLogger(__name__)
# more than any number of concurrent associations we allow (node.maximum_associations)
UNSYNCED_ROWS_AFTER_CRASH = 1000


class PutResult(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # same SOP Instance UID already held: first copy kept


@dataclass(frozen=True)
class StudySummary:
    """One worklist/`telerad studies` row."""

    study_uid: str
    patient_name: str
    patient_id: str
    issuer_of_patient_id: str
    nhs_number: str
    birth_date: str
    sex: str
    study_date: str
    accession: str
    description: str
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    instances: int
    first_received_at: str
    received_at: str  # when the latest instance landed
    assigned_reporter: str
    complete: bool
    priority: str  # as the request gave it; "" when the sender did not say


@dataclass(frozen=True)
class SeriesSummary:
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    body_part: str
    instances: int


@dataclass(frozen=True)
class StoredInstance:
    sop_instance_uid: str
    series_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    stored_bytes: int
    image_position: tuple[float, float, float] | None
    image_orientation: tuple[float, ...] | None
    frames: int
    rows: int
    columns: int


def _floats(text: str) -> tuple[float, ...] | None:
    return tuple(float(v) for v in text.split("\\")) if text else None


def _associated_data(study_uid: str, sop_instance_uid: str) -> bytes:
    return f"{study_uid}\0{sop_instance_uid}".encode("ascii")


class StudyStore:
    """Writer for the node and the one reader API for everyone else."""

    def __init__(
        self,
        paths: ProfilePaths,
        database: Database,
        keys: StudyKeys,
        *,
        quiet_period: timedelta = timedelta(seconds=120),
    ) -> None:
        self._paths = paths
        self._database = database
        self._index = InstanceIndex(database)
        self._keys = keys
        self._quiet_period = quiet_period
        self.listeners: list[Callable[[str], None]] = []  # called with a study UID on change
        self._pool = ObjectFilePool(paths.objects)
        self._writer_lock = WriterLock(paths.root / "writer.lock")
        self._writer_ready = False
        self._writer_setup = threading.Lock()
        self._running_marker = paths.root / "writer.running"
        self.quarantined: list[Path] = []

    # ---- writing -------------------------------------------------------------------------

    def put(
        self, encoded: bytes, dataset: Dataset, *, calling_ae: str = "", called_ae: str = "",
        reporter: str = "", opens_import: ImportStart | None = None,
    ) -> PutResult:
        """Store one instance in DICOM file format (``encoded``), parsed as ``dataset``.

        Only its UIDs are checked before the file is written (a bad one never reaches the
        disk); the rest of the header is validated while the file's fsync runs, and a
        refusal then empties the file again. Raises InvalidDicomValue for bad UIDs or
        values, OutOfResources when the disk is full.
        """
        study_uid, _, sop_instance_uid, _ = check_uids(dataset)
        self.open_for_writing()
        if self.contains(sop_instance_uid):
            return PutResult.DUPLICATE
        study_key = self._keys.for_writing(study_uid)
        blob = encrypt_blob(study_key[1], encoded, _associated_data(study_uid, sop_instance_uid))
        object_name = self._pool.take()
        entry = IndexEntry(object_name, len(blob), calling_ae, called_ae, reporter,
                           opens_import)
        try:
            inserted = write_then_sync(self._pool.path(object_name), blob, lambda: self._index.add(
                InstanceHeader.from_dataset(dataset), entry, study_key))
        except SyncFailed as failed:
            if failed.result:  # the row goes before its file is emptied
                self._index.remove(sop_instance_uid)
            self._pool.give_back(object_name)
            raise failed.error from failed
        except Exception:  # a refused header, a full disk, a value pydicom cannot read
            self._pool.give_back(object_name)
            raise
        if not inserted:  # a parallel association stored the same instance first
            self._pool.give_back(object_name)
            return PutResult.DUPLICATE
        for listener in list(self.listeners):
            listener(study_uid)
        return PutResult.STORED

    # ---- the reading key ----------------------------------------------------------------

    @property
    def locked(self) -> bool:
        """True until a reader signs in: the node stores, nothing opens."""
        return self._keys.locked

    def unlock(self, reading_key: X25519PrivateKey) -> None:
        self._keys.unlock(reading_key)

    def lock(self) -> None:
        self._keys.lock()

    @property
    def reading_key(self) -> X25519PrivateKey | None:
        """The reading key while unlocked (to grant a new reader a slot), else None."""
        return self._keys.reading_key

    def _require_study(self, study_uid: str) -> None:
        if not self._database.query("SELECT 1 FROM studies WHERE study_uid = ?", (study_uid,)):
            raise StoreError(f"study {study_uid} is not in the store (never received, or "
                             "purged by the retention rule)")

    def seal(self, study_uid: str, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt a study's text (a report, a draft, an outgoing message) with its data key,
        so purging the study shreds it with the images; ``purpose`` binds where it belongs."""
        self._require_study(study_uid)
        return self._keys.seal_text(study_uid, plaintext, _associated_data(study_uid, purpose))

    def unseal(self, study_uid: str, blob: bytes, purpose: str) -> bytes:
        self._require_study(study_uid)
        return self._keys.open_text(study_uid, blob, _associated_data(study_uid, purpose))

    def _object_path(self, object_name: str) -> Path:
        return self._pool.path(object_name)

    def open_for_writing(self) -> None:
        """Take the profile's writer lock, recover from any crash, start the file pool."""
        with self._writer_setup:
            if self._writer_ready:
                return
            self._writer_lock.acquire()
            try:
                self._start_writing()
            except OSError as exc:
                self._writer_lock.release()
                raise os_error(exc, "opening the store for writing") from exc
            except BaseException:
                self._writer_lock.release()
                raise
            self._writer_ready = True

    def _start_writing(self) -> None:
        """Fan-out directories, crash recovery if the last writer did not close, the pool."""
        for prefix in range(FAN_OUT):
            (self._paths.objects / f"{prefix:02x}").mkdir(mode=0o700, exist_ok=True)
        if self._running_marker.exists():  # the last writer did not close: a crash
            self._verify_latest()
        else:  # durable before the first instance: a power cut must leave it behind
            self._running_marker.touch()
            fsync_directory(self._paths.root)
        self._pool.start(reusable=self._recover())

    def _verify_latest(self) -> None:
        """After a crash, the newest rows may point at files whose fsync never finished
        (see object_files.write_then_sync); those were never acknowledged. Each association
        has at most one such row, so checking the newest few covers every case."""
        rows = self._database.query(
            "SELECT sop_instance_uid, object_name, stored_bytes FROM instances "
            "ORDER BY rowid DESC LIMIT ?", (UNSYNCED_ROWS_AFTER_CRASH,))
        for row in rows:
            if self._written_whole(row):
                continue
            LOG.warning("instance %s was not fully written before a crash; set aside",
                        row["sop_instance_uid"])
            self._index.remove(row["sop_instance_uid"])
            self._set_aside(self._object_path(row["object_name"]))

    def _written_whole(self, row: dict) -> bool:
        """The row's file has its indexed size and, once a reader has signed in,
        authenticates. Any other failure (the index busy, say) is raised, not taken for an
        incomplete file: recovery must never drop an instance that is whole."""
        try:
            size = self._object_path(row["object_name"]).stat().st_size
        except FileNotFoundError:
            return False
        if size != row["stored_bytes"]:
            return False
        try:
            self.read_bytes(row["sop_instance_uid"])
        except StoreLocked:
            return True  # the size is all the node can check without the reading key
        except IntegrityError:
            return False
        return True

    def _set_aside(self, path: Path) -> None:
        if path.exists():
            target = self._paths.quarantine / path.name
            path.replace(target)
            self.quarantined.append(target)

    def _recover(self) -> list[str]:
        """Files not in the index were never acknowledged: empty ones are reused, others
        (a crash mid-write) are moved to ``quarantine/``. Returns the reusable names."""
        indexed = {row["object_name"] for row in self._database.query(
            "SELECT object_name FROM instances")}
        reusable: list[str] = []
        for path in self._paths.objects.glob("??/*"):
            if path.name in indexed:
                continue
            if path.stat().st_size == 0:
                reusable.append(path.name)
            else:
                self._set_aside(path)
        if self.quarantined:
            LOG.warning("%d partly written file(s) from an interrupted run moved to quarantine",
                        len(self.quarantined))
        return reusable

    def close(self) -> None:
        """Stop writing and release the writer lock; readers may stay open elsewhere."""
        with self._writer_setup:
            if self._writer_ready:
                self._pool.stop()
                self._running_marker.unlink(missing_ok=True)
                self._writer_lock.release()
                self._writer_ready = False

    # ---- reading -------------------------------------------------------------------------

    def contains(self, sop_instance_uid: str) -> bool:
        return bool(self._database.query(
            "SELECT 1 FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,)
        ))

    def list_studies(self, *, reporter: str | None = None) -> list[StudySummary]:
        """Studies, newest activity first; ``reporter`` limits to those assigned to them."""
        sql = """
            SELECT s.*, (SELECT count(*) FROM instances i WHERE i.study_uid = s.study_uid)
                       AS instance_count,
                   (SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT modality
                       FROM series r WHERE r.study_uid = s.study_uid ORDER BY modality))
                       AS modality_list,
                   (SELECT group_concat(body_part, '\\') FROM (SELECT DISTINCT body_part
                       FROM series r WHERE r.study_uid = s.study_uid AND body_part != ''
                       ORDER BY body_part)) AS body_part_list
            FROM studies s
            WHERE EXISTS (SELECT 1 FROM instances i WHERE i.study_uid = s.study_uid) {reporter}
            ORDER BY s.last_received_at DESC"""
        # a study exists for the worklist once an instance of it is stored
        where, parameters = ("AND s.assigned_reporter = ?", (reporter,)) if reporter else ("", ())
        quiet_since = datetime.now(UTC) - self._quiet_period
        return [
            StudySummary(
                study_uid=row["study_uid"], patient_name=row["patient_name"],
                patient_id=row["patient_id"], issuer_of_patient_id=row["issuer_of_patient_id"],
                nhs_number=row["nhs_number"],
                birth_date=row["birth_date"], sex=row["sex"], study_date=row["study_date"],
                accession=row["accession"], description=row["description"],
                modalities=tuple(filter(None, (row["modality_list"] or "").split("\\"))),
                body_parts=tuple(filter(None, (row["body_part_list"] or "").split("\\"))),
                instances=row["instance_count"], first_received_at=row["first_received_at"],
                received_at=row["last_received_at"], assigned_reporter=row["assigned_reporter"],
                complete=datetime.fromisoformat(row["last_received_at"]) <= quiet_since,
                priority=row["priority"],
            )
            for row in map(self._opened_identity,
                           self._database.query(sql.format(reporter=where), parameters))
        ]

    def _opened_identity(self, row: dict) -> dict:
        """The row with its patient columns opened from the sealed identity."""
        if row["identity"] is None:
            return row
        key = self._keys.for_reading(row["study_uid"], row["identity_version"])
        return row | open_identity(row["study_uid"], row["identity"], key)

    def list_series(self, study_uid: str) -> list[SeriesSummary]:
        rows = self._database.query(
            """SELECT r.series_uid, r.modality, r.series_number, r.description, r.body_part,
                      (SELECT count(*) FROM instances i WHERE i.series_uid = r.series_uid)
                      AS instances
               FROM series r WHERE r.study_uid = ? ORDER BY r.series_number, r.series_uid""",
            (study_uid,),
        )
        return [SeriesSummary(**row) for row in rows]

    def list_instances(self, study_uid: str) -> list[StoredInstance]:
        rows = self._database.query(
            """SELECT sop_instance_uid, series_uid, sop_class_uid, transfer_syntax_uid,
                      instance_number, stored_bytes, image_position, image_orientation, frames,
                      rows_count AS rows, columns_count AS columns
               FROM instances WHERE study_uid = ?
               ORDER BY series_uid, instance_number, sop_instance_uid""",
            (study_uid,),
        )
        return [
            StoredInstance(**{**row, "image_position": _floats(row["image_position"]),
                              "image_orientation": _floats(row["image_orientation"])})
            for row in rows
        ]

    def assigned_reporter(self, *, study_uid: str = "", sop_instance_uid: str = "") -> str | None:
        """Whom a study (or the study of an instance) is assigned to; None if not held."""
        if sop_instance_uid:
            rows = self._database.query(
                """SELECT s.assigned_reporter FROM instances i JOIN studies s
                   ON s.study_uid = i.study_uid WHERE i.sop_instance_uid = ?""",
                (sop_instance_uid,))
        else:
            rows = self._database.query(
                "SELECT assigned_reporter FROM studies WHERE study_uid = ?", (study_uid,))
        return rows[0]["assigned_reporter"] if rows else None

    def mark_report_delivered(self, study_uid: str, when: datetime) -> None:
        """Record that the trust acknowledged the study's report: retention counts from here."""
        with self._database.transaction() as cursor:
            cursor.execute("UPDATE studies SET report_delivered_at = ? WHERE study_uid = ?",
                           (when.isoformat(), study_uid))

    def delivered_before(self, cutoff: datetime) -> list[str]:
        """Studies whose report was delivered before ``cutoff`` (never undelivered ones)."""
        rows = self._database.query(
            "SELECT study_uid, report_delivered_at FROM studies WHERE report_delivered_at != ''")
        return sorted(row["study_uid"] for row in rows
                      if datetime.fromisoformat(row["report_delivered_at"]) < cutoff)

    def purge_study(self, study_uid: str) -> int:
        """Crypto-shred a study: its wrapped data key and index rows go first (secure_delete,
        WAL checkpointed), then its files; returns how many instances were purged."""
        rows = self._database.query(
            "SELECT object_name FROM instances WHERE study_uid = ?", (study_uid,))
        with self._database.transaction() as cursor:
            cursor.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))
        self._database.checkpoint()  # no copy of the sealed keys left in the WAL
        self._keys.forget(study_uid)
        self._index.forget_study(study_uid)
        for row in rows:
            self._object_path(row["object_name"]).unlink(missing_ok=True)
        return len(rows)

    def read_bytes(self, sop_instance_uid: str) -> bytes:
        """The instance exactly as received (DICOM file format), decrypted and authenticated."""
        rows = self._database.query(
            "SELECT study_uid, object_name, key_version FROM instances "
            "WHERE sop_instance_uid = ?", (sop_instance_uid,),
        )
        if not rows:
            raise StoreError(f"instance {sop_instance_uid} is not in the store")
        study_uid, object_name = rows[0]["study_uid"], rows[0]["object_name"]
        key = self._keys.for_reading(study_uid, rows[0]["key_version"])
        try:
            blob = self._object_path(object_name).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"the file of instance {sop_instance_uid} is missing") from exc
        return decrypt_blob(key, blob, _associated_data(study_uid, sop_instance_uid))

    def open_instance(self, sop_instance_uid: str) -> Dataset:
        """A pydicom Dataset; pixel data is decoded only when ``pixel_array`` is asked for."""
        return pydicom.dcmread(io.BytesIO(self.read_bytes(sop_instance_uid)))
