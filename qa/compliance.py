"""The device compliance log for IT: append-only, hash-chained, signed (STANDARDS §8).

Each display QA run, display change, posture check at login and QA override is one entry.
Its hash is the SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII escapes) of
``{seq, recorded_at, kind, payload, prev_hash}``, and the workstation's Ed25519 key signs
the 32 bytes of that hash (RFC 8032). A changed entry no longer matches its hash, a removed
one leaves a gap in ``seq`` or a broken link, an entry rewritten with a fresh hash lacks a
valid signature; ``verify`` names the first entry that does not hold, as the audit trail
does (app/audit.py).

What the chain cannot show on its own: the signing key lives in the encrypted profile
database, so whoever holds that database's key could rewrite and re-sign the whole log, and
dropping the newest entries leaves no gap. The copy the syslog feed already delivered off
the machine, checked against the public key IT registered (``public_key_pem``), shows both.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

GENESIS_HASH = "0" * 64
EXPORT_FORMATS = ("json", "csv")
# The CSV export, one row per entry. First the entry itself: seq, recorded_at (ISO 8601
# UTC), kind, outcome ("pass"/"fail"/"unknown" from the payload's "status", or from its
# "passed" flag; empty for entries without one), prev_hash and hash (SHA-256 hex),
# signature (Ed25519, hex) and payload (the exact JSON text the hash covers). Then every
# scalar of the payload in its own column, "payload.<path>": nested keys joined by dots,
# list items by index, or by their "name" when each item has a distinct one
# (payload.checks.firewall.status); numbers and booleans as JSON, null as empty.
CSV_COLUMNS = ("seq", "recorded_at", "kind", "outcome", "prev_hash", "hash", "signature",
               "payload")
OUTCOMES = ("pass", "fail", "unknown")


class ComplianceError(Exception):
    """The compliance log cannot do what was asked; the message says what is wrong."""


class EntryKind(StrEnum):
    """What an entry records (issue 6: QA runs, display changes, posture at every login)."""

    QA_RUN = "qa-run"
    DISPLAY_CHANGE = "display-change"
    POSTURE = "posture"
    QA_OVERRIDE = "qa-override"
    SELF_ASSESSMENT = "self-assessment"  # the reporter's yearly DSE checklist


class Problem(StrEnum):
    """Why an entry fails verification."""

    ALTERED = "altered"  # its content no longer matches its hash
    DELETED = "deleted"  # a seq number is missing
    REORDERED = "reordered"  # it does not link to the entry before (moved, or one removed)
    FORGED = "forged"  # the hash holds but the workstation's key did not sign it


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...


class ComplianceDatabase(Protocol):
    """The profile database as the log uses it (app.database.Database fits)."""

    def transaction(self) -> AbstractContextManager[Cursor]: ...
    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ComplianceEntry:
    """One signed entry; ``payload_json`` is the exact canonical text the hash covers."""

    seq: int
    recorded_at: str  # ISO 8601, UTC
    kind: str
    payload_json: str
    prev_hash: str
    hash: str
    signature: bytes

    @property
    def payload(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.payload_json)
        except ValueError as exc:
            raise ComplianceError(f"compliance entry {self.seq} has an unreadable payload; "
                                  "run `telerad compliance verify`") from exc
        if not isinstance(payload, dict):
            raise ComplianceError(f"compliance entry {self.seq} payload is not an object")
        return payload

    def record(self) -> dict[str, Any]:
        """The entry as the JSON export and the syslog feed carry it (signature in hex)."""
        try:
            payload: Any = self.payload
        except ComplianceError:  # a damaged entry is still exported, as it is stored
            payload = self.payload_json
        return {"seq": self.seq, "recorded_at": self.recorded_at, "kind": self.kind,
                "payload": payload, "prev_hash": self.prev_hash, "hash": self.hash,
                "signature": self.signature.hex()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ComplianceEntry:
        """Inverse of ``record``; raises ComplianceError naming a missing or bad field."""
        try:
            payload = record["payload"]
            return cls(int(record["seq"]), str(record["recorded_at"]), str(record["kind"]),
                       payload if isinstance(payload, str) else canonical_json(payload),
                       str(record["prev_hash"]), str(record["hash"]),
                       bytes.fromhex(str(record["signature"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise ComplianceError(f"not a compliance log entry: {exc!r}") from exc


@dataclass(frozen=True)
class ComplianceBreak:
    """The first entry that does not verify, and why."""

    seq: int
    problem: Problem
    reason: str


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, ASCII only, no NaN: one text for one value."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ComplianceError(f"compliance payload is not plain JSON: {exc}") from exc


def entry_hash(seq: int, recorded_at: str, kind: str, payload_json: str,
               prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical JSON of the entry's fields.

    Equal to ``canonical_json({...})`` with the payload as an object: the payload is stored
    as its canonical text and spliced in verbatim, so a changed payload text changes it.
    """
    text = (f'{{"kind":{canonical_json(kind)},"payload":{payload_json},'
            f'"prev_hash":{canonical_json(prev_hash)},'
            f'"recorded_at":{canonical_json(recorded_at)},"seq":{int(seq)}}}')
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def first_break(entries: Iterable[ComplianceEntry],
                public_key: Ed25519PublicKey) -> ComplianceBreak | None:
    """Check seq continuity, back links, each entry's hash and signature, in that order."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in entries:
        seq = entry.seq
        if seq > expected_seq:
            return ComplianceBreak(expected_seq, Problem.DELETED,
                                   f"entry {expected_seq} is missing (found {seq} next)")
        if seq < expected_seq or entry.prev_hash != prev_hash:
            return ComplianceBreak(seq, Problem.REORDERED,
                                   f"entry {seq} does not link to entry {expected_seq - 1} "
                                   "(moved, or an entry before it was removed)")
        if entry_hash(seq, entry.recorded_at, entry.kind, entry.payload_json,
                      prev_hash) != entry.hash:
            return ComplianceBreak(seq, Problem.ALTERED,
                                   f"entry {seq} was altered after it was written")
        try:
            public_key.verify(entry.signature, bytes.fromhex(entry.hash))
        except InvalidSignature:
            return ComplianceBreak(seq, Problem.FORGED, f"entry {seq} is not signed by the "
                                   "workstation's registered key")
        expected_seq, prev_hash = seq + 1, entry.hash
    return None


class ComplianceLog:
    """Writes, reads, verifies and exports the log held in the profile database."""

    def __init__(self, database: ComplianceDatabase, signing_key: Ed25519PrivateKey) -> None:
        self._database = database
        self._key = signing_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def append(self, kind: str, payload: Mapping[str, Any], *,
               now: datetime) -> ComplianceEntry:
        """Chain, sign and store one entry; ``now`` must carry a time zone."""
        entry_kind = _kind(kind)
        if now.tzinfo is None:
            raise ComplianceError("a compliance entry needs a time with a time zone")
        recorded_at = now.astimezone(UTC).isoformat(timespec="microseconds")
        payload_json = canonical_json(dict(payload))
        with self._database.transaction() as cursor:
            last = cursor.execute(
                "SELECT seq, hash FROM compliance_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS_HASH)
            digest = entry_hash(seq, recorded_at, entry_kind, payload_json, prev_hash)
            entry = ComplianceEntry(seq, recorded_at, str(entry_kind), payload_json, prev_hash,
                                    digest, self._key.sign(bytes.fromhex(digest)))
            cursor.execute(
                "INSERT INTO compliance_log (seq, recorded_at, kind, payload, prev_hash, hash, "
                "signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [entry.seq, entry.recorded_at, entry.kind, entry.payload_json,
                 entry.prev_hash, entry.hash, entry.signature])
        return entry

    def entries(self, since_seq: int = 0, *, limit: int | None = None) -> list[ComplianceEntry]:
        """Entries after ``since_seq`` in ``seq`` order (at most ``limit``)."""
        sql = "SELECT * FROM compliance_log WHERE seq > ? ORDER BY seq"
        parameters: list[Any] = [since_seq]
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return [_entry(row) for row in self._database.query(sql, parameters)]

    def latest(self, kind: str) -> ComplianceEntry | None:
        rows = self._database.query(
            "SELECT * FROM compliance_log WHERE kind = ? ORDER BY seq DESC LIMIT 1",
            [str(_kind(kind))])
        return _entry(rows[0]) if rows else None

    def verify(self, public_key: Ed25519PublicKey) -> ComplianceBreak | None:
        """The first entry that does not hold against IT's registered key, or None."""
        return first_break(self.entries(), public_key)

    def export(self, format: str) -> bytes:
        """The whole log as ``json`` (with the public key) or ``csv`` (CSV_COLUMNS)."""
        entries = self.entries()
        if format == "json":
            document = {"log": "telerad device compliance log", "version": 1,
                        "public_key": public_key_pem(self._key),
                        "entries": [entry.record() for entry in entries]}
            return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        if format == "csv":
            return _csv(entries)
        raise ComplianceError(f"export format {format!r} is not one of "
                              f"{', '.join(EXPORT_FORMATS)}")


def read_export(data: bytes, format: str) -> list[ComplianceEntry]:
    """The entries of a JSON or CSV export, ready for ``first_break``."""
    text = data.decode("utf-8-sig")
    if format == "json":
        try:
            records = json.loads(text)["entries"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ComplianceError("not a compliance log JSON export") from exc
        return [ComplianceEntry.from_record(record) for record in records]
    if format == "csv":
        return [ComplianceEntry.from_record(row) for row in csv.DictReader(io.StringIO(text))]
    raise ComplianceError(f"export format {format!r} is not one of {', '.join(EXPORT_FORMATS)}")


def _kind(kind: str) -> EntryKind:
    try:
        return EntryKind(kind)
    except ValueError:
        raise ComplianceError(f"compliance entry kind {kind!r} is not one of "
                              f"{', '.join(EntryKind)}") from None


def _entry(row: Mapping[str, Any]) -> ComplianceEntry:
    signature = row["signature"]  # a BLOB, unless someone wrote something else there
    if not isinstance(signature, bytes | bytearray | memoryview):
        signature = str(signature).encode("utf-8")
    return ComplianceEntry(int(row["seq"]), str(row["recorded_at"]), str(row["kind"]),
                           str(row["payload"]), str(row["prev_hash"]), str(row["hash"]),
                           bytes(signature))


def _csv(entries: Sequence[ComplianceEntry]) -> bytes:
    rows = []
    for entry in entries:
        record = entry.record()
        payload = record["payload"] if isinstance(record["payload"], dict) else {}
        row = {**record, "payload": entry.payload_json, "outcome": outcome(payload)}
        row.update((f"payload.{key}", value) for key, value in _flatten(payload))
        rows.append(row)
    flattened = sorted({key for row in rows for key in row} - set(CSV_COLUMNS))
    out = io.StringIO()
    writer = csv.DictWriter(out, [*CSV_COLUMNS, *flattened], restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def outcome(payload: Mapping[str, Any]) -> str:
    """pass / fail / unknown as the payload states it ("status" or "passed"), else ""."""
    status = payload.get("status")
    if status in OUTCOMES:
        return str(status)
    passed = payload.get("passed")
    return ("pass" if passed else "fail") if isinstance(passed, bool) else ""


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, cell text) for every scalar in a payload."""
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((str(key), item) for key, item in value.items())
    elif isinstance(value, list):
        names = [item.get("name") if isinstance(item, dict) else None for item in value]
        named = all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)
        keys = names if named else None
        items = ((str(keys[index]) if keys else str(index), item)
                 for index, item in enumerate(value))
    else:
        yield prefix, _cell(value)
        return
    for key, item in items:
        yield from _flatten(item, f"{prefix}.{key}" if prefix else key)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else canonical_json(value)


# ---- the workstation's key -------------------------------------------------------------------

def signing_key(database: ComplianceDatabase, now: datetime) -> Ed25519PrivateKey:
    """This workstation's Ed25519 key from ``workstation_signing_key``, made on first use."""
    select = "SELECT private_key, public_key FROM workstation_signing_key WHERE id = 1"
    rows = database.query(select)
    if not rows:
        candidate = Ed25519PrivateKey.generate()
        with database.transaction() as cursor:  # another process may have made one first
            cursor.execute(
                "INSERT OR IGNORE INTO workstation_signing_key "
                "(id, private_key, public_key, created_at) VALUES (1, ?, ?, ?)",
                [candidate.private_bytes_raw(), candidate.public_key().public_bytes_raw(),
                 now.astimezone(UTC).isoformat()])
        rows = database.query(select)
    key = Ed25519PrivateKey.from_private_bytes(bytes(rows[0]["private_key"]))
    if key.public_key().public_bytes_raw() != bytes(rows[0]["public_key"]):
        raise ComplianceError("the workstation's signing key is damaged (its public half "
                              "does not match); the compliance log cannot be signed")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), for IT to register."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """A registered workstation key from its PEM; ComplianceError if it is not Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise ComplianceError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ComplianceError("the registered key is not an Ed25519 public key")
    return key


def key_fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """``SHA256:`` and the hex digest of the raw public key: names the key in messages."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return "SHA256:" + hashlib.sha256(public.public_bytes_raw()).hexdigest()
