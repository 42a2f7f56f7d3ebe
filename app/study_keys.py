"""Each study's data keys, sealed to the reading key: the node seals, only a reader opens.

A study gets a random data key (version 1) when its first instance arrives. A process
that cannot open the study's newest key — the node running while nobody is signed in —
starts the next version for what it receives; every instance row names its version, so
all of them open once a reader signs in. Deleting a study's rows shreds every version.
"""

from __future__ import annotations

import json
import secrets
import struct
import threading

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from app.crypto import BLOB_MAGIC, KEY_BYTES, decrypt_blob, encrypt_blob, open_sealed, seal_to
from app.database import Database
from app.errors import StoreError, StoreLocked
from app.reading_keys import IDENTITY_COLUMNS, identity_ad, study_key_ad

LOCKED_MESSAGE = ("patient data is sealed to this profile's reading key: sign in (or pass "
                  "--user NAME) to open it")
_VERSION = struct.Struct(">I")


class StudyKeys:
    """Write keys for the node (always available) and read keys (only while unlocked)."""

    def __init__(self, database: Database, reading_public: bytes) -> None:
        self._database = database
        self._public = reading_public
        self._private: X25519PrivateKey | None = None
        self._writing: dict[str, tuple[int, bytes, bytes]] = {}  # uid → (version, key, sealed)
        self._reading: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    @property
    def locked(self) -> bool:
        return self._private is None

    @property
    def reading_key(self) -> X25519PrivateKey | None:
        return self._private

    def unlock(self, private: X25519PrivateKey) -> None:
        self._private = private

    def lock(self) -> None:
        with self._lock:
            self._private = None
            self._reading.clear()

    def forget(self, study_uid: str) -> None:
        with self._lock:
            self._writing.pop(study_uid, None)
            for cached in [k for k in self._reading if k[0] == study_uid]:
                del self._reading[cached]

    def for_writing(self, study_uid: str) -> tuple[int, bytes, bytes]:
        """(version, key, sealed key) to encrypt new data of the study with; the sealed key
        travels with every index write (INSERT … DO NOTHING), so it is stored with the
        first data it protects."""
        with self._lock:
            if study_uid in self._writing:
                return self._writing[study_uid]
        # no lock held while the index is read: a thread inside a transaction may be
        # waiting for this lock (lock order: index first, then this cache)
        chosen = self._newest_or_next(study_uid)
        with self._lock:
            return self._writing.setdefault(study_uid, chosen)

    def _newest_or_next(self, study_uid: str) -> tuple[int, bytes, bytes]:
        rows = self._database.query(
            "SELECT version, sealed_key FROM study_keys WHERE study_uid = ? "
            "ORDER BY version DESC LIMIT 1", (study_uid,))
        private = self._private
        if rows and private is not None:
            version, sealed = rows[0]["version"], rows[0]["sealed_key"]
            return version, self._open(study_uid, version, sealed, private), sealed
        version = rows[0]["version"] + 1 if rows else 1
        key = secrets.token_bytes(KEY_BYTES)
        return version, key, seal_to(self._public, key, study_key_ad(study_uid, version))

    def for_reading(self, study_uid: str, version: int) -> bytes:
        """The key of one version; raises StoreLocked unless a reader has signed in."""
        private = self._private
        if private is None:
            raise StoreLocked(LOCKED_MESSAGE)
        with self._lock:
            if (study_uid, version) in self._reading:
                return self._reading[(study_uid, version)]
        rows = self._database.query(
            "SELECT sealed_key FROM study_keys WHERE study_uid = ? AND version = ?",
            (study_uid, version))
        if not rows:
            raise StoreError(f"study {study_uid} has no key version {version} (purged by the "
                             "retention rule, or never stored)")
        return self._open(study_uid, version, rows[0]["sealed_key"], private)

    def _open(self, study_uid: str, version: int, sealed: bytes,
              private: X25519PrivateKey) -> bytes:
        key = open_sealed(private, sealed, study_key_ad(study_uid, version))
        with self._lock:
            self._reading[(study_uid, version)] = key
        return key

    # ---- a study's text: reports, drafts, outgoing messages ----------------------------

    def seal_text(self, study_uid: str, plaintext: bytes, associated_data: bytes) -> bytes:
        """The key version, then AES-256-GCM under that version's key."""
        version, key, sealed = self.for_writing(study_uid)
        with self._database.transaction() as cursor:
            cursor.execute("INSERT INTO study_keys (study_uid, version, sealed_key) "
                           "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           (study_uid, version, sealed))
        return _VERSION.pack(version) + encrypt_blob(key, plaintext, associated_data)

    def open_text(self, study_uid: str, blob: bytes, associated_data: bytes) -> bytes:
        version, body = (1, blob) if blob.startswith(BLOB_MAGIC) else (
            _VERSION.unpack(blob[:_VERSION.size])[0], blob[_VERSION.size:])
        return decrypt_blob(self.for_reading(study_uid, version), body, associated_data)


def seal_identity(study_uid: str, values: tuple[str, ...], key: bytes) -> bytes:
    """The study's patient columns (IDENTITY_COLUMNS order) as one sealed value."""
    fields = dict(zip(IDENTITY_COLUMNS, values, strict=True))
    return encrypt_blob(key, json.dumps(fields).encode("utf-8"), identity_ad(study_uid))


def open_identity(study_uid: str, sealed: bytes, key: bytes) -> dict[str, str]:
    return json.loads(decrypt_blob(key, sealed, identity_ad(study_uid)))
