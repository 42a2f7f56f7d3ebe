"""The reading key: patient data opens only after a reader signs in (STANDARDS §8).

The node key in the OS keyring opens the index and lets the node store what arrives,
unattended. Study keys and the index's patient columns are sealed to the profile's
X25519 *reading key*; its private half is kept only in key slots, each sealed under one
reader's password (Argon2id, RFC 9106). So a stolen machine with the app stopped — even
with the OS keyring — reveals no patient: a reader's password is needed.

Until the first reader (reporter or admin) is enrolled the private half waits in an
enrolment slot under the node key, so a new profile works before it has accounts; it
closes once every active reader holds a slot (the first `telerad users add`, or — for a
profile made before the reading key — once each reader has signed in). Later readers
get their slot from a signed-in reader (``telerad users add … --by NAME``). Disabling an
account deletes its slot.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from app.crypto import (
    RFC9106_SECOND,
    Argon2Parameters,
    KeyHierarchy,
    decrypt_blob,
    derive_password_key,
    encrypt_blob,
    new_reading_key,
    public_bytes,
    seal_to,
)
from app.database import Database
from app.errors import AuthError, IntegrityError

READER_ROLES = ("reporter", "admin")  # an IT auditor sees no patient data: no slot
_ENROLMENT_AD = b"telerad reading key enrolment slot"
IDENTITY_COLUMNS = ("patient_name", "patient_id", "issuer_of_patient_id", "nhs_number",
                    "birth_date", "sex", "study_date", "study_time", "accession",
                    "description", "referring_physician")


def study_key_ad(study_uid: str, version: int) -> bytes:
    return f"{study_uid}\0study key {version}".encode("ascii")


def identity_ad(study_uid: str) -> bytes:
    return f"{study_uid}\0identity".encode("ascii")


def _raw(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _slot_ad(username: str) -> bytes:
    return f"telerad reading key slot\0{username}".encode()


@dataclass
class ReadingKeys:
    """The reading key's public half, its enrolment slot and the readers' key slots."""

    database: Database
    keys: KeyHierarchy

    def ensure(self) -> bytes:
        """The public reading key, creating the pair on first use (and sealing studies a
        profile received before the reading key existed). Returns the public key."""
        rows = self.database.query("SELECT public_key FROM reading_key WHERE id = 1")
        if rows:
            return rows[0]["public_key"]
        private = new_reading_key()
        public = public_bytes(private)
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO reading_key (id, public_key, enrolment_slot) VALUES (1, ?, ?)",
                (public, encrypt_blob(self.keys.enrolment_key, _raw(private), _ENROLMENT_AD)))
            self._seal_earlier_studies(cursor, public)
        self.database.checkpoint()  # the clear columns and old wrapped keys leave the WAL
        return public

    def _seal_earlier_studies(self, cursor: object, public: bytes) -> None:
        """Studies from before the reading key: their key sealed as version 1, their
        patient columns moved into the sealed identity."""
        rows = self.database.query(
            f"SELECT study_uid, wrapped_key, {', '.join(IDENTITY_COLUMNS)} FROM studies "
            "WHERE identity IS NULL")
        blank = ", ".join(f"{column} = ''" for column in IDENTITY_COLUMNS)
        for row in rows:
            uid = row["study_uid"]
            key = self.keys.unwrap_study_key(uid, row["wrapped_key"])
            identity = json.dumps({c: row[c] for c in IDENTITY_COLUMNS}).encode("utf-8")
            cursor.execute(  # type: ignore[attr-defined]
                "INSERT INTO study_keys (study_uid, version, sealed_key) VALUES (?, 1, ?)",
                (uid, seal_to(public, key, study_key_ad(uid, 1))))
            cursor.execute(  # type: ignore[attr-defined]
                f"UPDATE studies SET identity = ?, identity_version = 1, wrapped_key = x'', "
                f"{blank} WHERE study_uid = ?",
                (encrypt_blob(key, identity, identity_ad(uid)), uid))
            cursor.execute(  # type: ignore[attr-defined]
                "UPDATE instances SET key_version = 1 WHERE study_uid = ?", (uid,))

    def enrolment_open(self) -> bool:
        rows = self.database.query("SELECT enrolment_slot FROM reading_key WHERE id = 1")
        return bool(rows and rows[0]["enrolment_slot"])

    def from_enrolment_slot(self) -> X25519PrivateKey | None:
        """The private key while no reader is enrolled yet; None once enrolment closed."""
        rows = self.database.query("SELECT enrolment_slot FROM reading_key WHERE id = 1")
        if not rows or not rows[0]["enrolment_slot"]:
            return None
        raw = decrypt_blob(self.keys.enrolment_key, rows[0]["enrolment_slot"], _ENROLMENT_AD)
        return X25519PrivateKey.from_private_bytes(raw)

    def grant(self, username: str, password: str, private: X25519PrivateKey,
              parameters: Argon2Parameters = RFC9106_SECOND) -> None:
        """Give ``username`` a slot (their password seals the private key); the first
        slot closes enrolment, so from then on only readers open patient data."""
        salt = secrets.token_bytes(16)
        sealed = encrypt_blob(derive_password_key(password, salt, parameters), _raw(private),
                              _slot_ad(username))
        with self.database.transaction() as cursor:
            cursor.execute(
                """INSERT INTO key_slots (username, salt, parameters, sealed_key, created_at)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET
                   salt = excluded.salt, parameters = excluded.parameters,
                   sealed_key = excluded.sealed_key""",
                (username, salt, parameters.encode(), sealed, datetime.now(UTC).isoformat()))
            if not self._readers_without_slot(cursor):
                cursor.execute("UPDATE reading_key SET enrolment_slot = NULL WHERE id = 1")
        self.database.checkpoint()  # no copy of the enrolment slot left in the WAL

    @staticmethod
    def _readers_without_slot(cursor: object) -> int:
        """Active readers still without a slot: enrolment stays open until there are none
        (a profile made before the reading key gives each reader a slot at sign-in)."""
        roles = ", ".join(f"'{role}'" for role in READER_ROLES)
        return cursor.execute(  # type: ignore[attr-defined]
            f"""SELECT count(*) FROM users WHERE role IN ({roles}) AND disabled = 0
                AND username NOT IN (SELECT username FROM key_slots)""").fetchone()[0]

    def has_slot(self, username: str) -> bool:
        return bool(self.database.query(
            "SELECT 1 FROM key_slots WHERE username = ?", (username,)))

    def open_slot(self, username: str, password: str) -> X25519PrivateKey:
        """The private key from ``username``'s slot; their password is the only way in."""
        rows = self.database.query(
            "SELECT salt, parameters, sealed_key FROM key_slots WHERE username = ?",
            (username,))
        if not rows:
            raise AuthError(f"{username} holds no key to this profile's patient data; a "
                            "signed-in reader grants one (`telerad users add … --by NAME`)")
        row = rows[0]
        kek = derive_password_key(password, row["salt"], Argon2Parameters.decode(
            row["parameters"]))
        try:
            raw = decrypt_blob(kek, row["sealed_key"], _slot_ad(username))
        except IntegrityError as exc:
            raise AuthError(f"the key slot of {username} does not open with this "
                            "password") from exc
        return X25519PrivateKey.from_private_bytes(raw)

    def revoke(self, username: str) -> None:
        with self.database.transaction() as cursor:
            cursor.execute("DELETE FROM key_slots WHERE username = ?", (username,))
        self.database.checkpoint()
