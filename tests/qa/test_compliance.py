"""The device compliance log as IT checks it: chained, signed, append-only, exportable.

Tampering is done as an attacker holding the profile database's key would do it: drop the
append-only triggers, change the rows with SQL, put the triggers back. The chain and the
signatures, not the triggers, are what must give it away.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.database import Database
from app.errors import StoreError
from app.workstation import Workstation
from qa.compliance import (
    CSV_COLUMNS,
    ComplianceBreak,
    ComplianceError,
    ComplianceLog,
    EntryKind,
    Problem,
    canonical_json,
    entry_hash,
    first_break,
    load_public_key,
    public_key_pem,
    read_export,
    signing_key,
)
from qa.posture import PostureCheck, PostureStatus, posture_payload

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
POSTURE = posture_payload([
    PostureCheck("disk-encryption", PostureStatus.PASS, "dm-0 (LUKS2)"),
    PostureCheck("firewall", PostureStatus.UNKNOWN, "nftables could not be read"),
])
PAYLOADS = [
    (EntryKind.POSTURE, POSTURE),
    (EntryKind.QA_RUN, {"passed": False, "reasons": ["GSDF error 14 % at 15→30"],
                        "luminance": {"lmax": 412.5, "lmin": 1.2}}),
    (EntryKind.DISPLAY_CHANGE, {"changes": ["DP-1: EIZO RX350 replaced by EIZO RX360"]}),
    (EntryKind.QA_OVERRIDE, {"user": "drsmith", "reason": "urgent stroke CT, QA tomorrow"}),
    (EntryKind.POSTURE, POSTURE),
]


@pytest.fixture
def log(workstation: Workstation) -> ComplianceLog:
    return ComplianceLog(workstation.database, signing_key(workstation.database, NOW))


@pytest.fixture
def filled(log: ComplianceLog) -> ComplianceLog:
    for day, (kind, payload) in enumerate(PAYLOADS):
        log.append(kind, payload, now=NOW + timedelta(days=day))
    return log


def tamper(database: Database, *statements: tuple[str, list]) -> None:
    """Change the log as someone holding the database key can: without its triggers."""
    triggers = database.query("SELECT name, sql FROM sqlite_master "
                              "WHERE type = 'trigger' AND tbl_name = 'compliance_log'")
    assert len(triggers) == 2
    with database.transaction() as cursor:
        for trigger in triggers:
            cursor.execute(f"DROP TRIGGER {trigger['name']}")
        for sql, parameters in statements:
            cursor.execute(sql, parameters)
        for trigger in triggers:
            cursor.execute(trigger["sql"])


def row(database: Database, seq: int) -> dict:
    return database.query("SELECT * FROM compliance_log WHERE seq = ?", [seq])[0]


def rewrite(seq: int, source: dict) -> tuple[str, list]:
    """Give entry ``seq`` the stored content of another entry (its seq stays)."""
    return ("UPDATE compliance_log SET recorded_at = ?, kind = ?, payload = ?, prev_hash = ?, "
            "hash = ?, signature = ? WHERE seq = ?",
            [source["recorded_at"], source["kind"], source["payload"], source["prev_hash"],
             source["hash"], source["signature"], seq])


def broken(log: ComplianceLog) -> ComplianceBreak | None:
    return log.verify(log.public_key)


# ---- writing and reading ---------------------------------------------------------------------

def test_entries_are_chained_signed_and_verify(filled: ComplianceLog) -> None:
    entries = filled.entries()
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert [entry.kind for entry in entries] == [kind for kind, _ in PAYLOADS]
    assert entries[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(entries))
    assert entries[1].payload == PAYLOADS[1][1]
    assert broken(filled) is None
    assert [entry.seq for entry in filled.entries(since_seq=3)] == [4, 5]


def test_latest_entry_of_a_kind(filled: ComplianceLog) -> None:
    latest = filled.latest(EntryKind.POSTURE)
    assert latest is not None and latest.seq == 5
    assert filled.latest("qa-override").seq == 4  # type: ignore[union-attr]


def test_latest_of_a_kind_never_written_is_none(log: ComplianceLog) -> None:
    log.append(EntryKind.POSTURE, POSTURE, now=NOW)
    assert log.latest(EntryKind.QA_RUN) is None


def test_hash_and_signature_are_what_it_documents(filled: ComplianceLog) -> None:
    """IT can check an entry with nothing but SHA-256, JSON and Ed25519."""
    entry = filled.entries()[1]
    canonical = json.dumps({"seq": 2, "recorded_at": "2026-03-03T08:30:00.000000+00:00",
                            "kind": "qa-run", "payload": PAYLOADS[1][1],
                            "prev_hash": filled.entries()[0].hash},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert entry.hash == hashlib.sha256(canonical.encode("ascii")).hexdigest()
    registered = load_public_key(public_key_pem(filled.public_key))
    registered.verify(entry.signature, bytes.fromhex(entry.hash))  # raises if not


def test_what_cannot_be_recorded_is_refused(log: ComplianceLog) -> None:
    with pytest.raises(ComplianceError, match="not one of qa-run, display-change"):
        log.append("screenshot", {}, now=NOW)
    with pytest.raises(ComplianceError, match="time zone"):
        log.append(EntryKind.POSTURE, POSTURE, now=datetime(2026, 3, 2, 8, 30))
    with pytest.raises(ComplianceError, match="not plain JSON"):
        log.append(EntryKind.QA_RUN, {"lmax": float("nan")}, now=NOW)
    assert log.entries() == []


def test_signing_key_is_made_once_and_kept(workstation: Workstation) -> None:
    first = signing_key(workstation.database, NOW)
    again = signing_key(workstation.database, NOW + timedelta(days=400))
    assert first.private_bytes_raw() == again.private_bytes_raw()
    stored = workstation.database.query("SELECT created_at FROM workstation_signing_key")
    assert stored == [{"created_at": NOW.isoformat()}]
    assert public_key_pem(first).startswith("-----BEGIN PUBLIC KEY-----")


# ---- the log is append-only ----------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE compliance_log SET payload = '{}' WHERE seq = 2",
    "DELETE FROM compliance_log WHERE seq = 2",
    "DELETE FROM compliance_log",
])
def test_log_refuses_update_and_delete_through_sql(filled: ComplianceLog,
                                                   workstation: Workstation, sql: str) -> None:
    with (pytest.raises(StoreError, match="append-only"),
          workstation.database.transaction() as cursor):
        cursor.execute(sql)
    assert len(filled.entries()) == 5 and broken(filled) is None


# ---- tampering is named ----------------------------------------------------------------------

def test_altered_entry_is_named(filled: ComplianceLog, workstation: Workstation) -> None:
    tamper(workstation.database, ("UPDATE compliance_log SET payload = ? WHERE seq = 2",
                                  [canonical_json({**PAYLOADS[1][1], "passed": True})]))
    assert broken(filled) == ComplianceBreak(2, Problem.ALTERED,
                                             "entry 2 was altered after it was written")


def test_altered_entry_with_a_fresh_hash_is_named_as_forged(filled: ComplianceLog,
                                                            workstation: Workstation) -> None:
    old = filled.entries()[1]
    payload = canonical_json({**PAYLOADS[1][1], "passed": True})
    fresh = entry_hash(2, old.recorded_at, old.kind, payload, old.prev_hash)
    tamper(workstation.database, ("UPDATE compliance_log SET payload = ?, hash = ? "
                                  "WHERE seq = 2", [payload, fresh]))
    found = broken(filled)
    assert found is not None and (found.seq, found.problem) == (2, Problem.FORGED)


def test_deleted_entry_is_named(filled: ComplianceLog, workstation: Workstation) -> None:
    tamper(workstation.database, ("DELETE FROM compliance_log WHERE seq = 3", []))
    assert broken(filled) == ComplianceBreak(3, Problem.DELETED,
                                             "entry 3 is missing (found 4 next)")


def test_deleted_entry_with_the_rest_renumbered_is_named(filled: ComplianceLog,
                                                         workstation: Workstation) -> None:
    tamper(workstation.database, ("DELETE FROM compliance_log WHERE seq = 3", []),
           ("UPDATE compliance_log SET seq = seq - 1 WHERE seq > 3", []))
    found = broken(filled)
    assert found is not None and (found.seq, found.problem) == (3, Problem.REORDERED)


def test_two_entries_swapped_are_named(filled: ComplianceLog, workstation: Workstation) -> None:
    second, third = row(workstation.database, 2), row(workstation.database, 3)
    tamper(workstation.database, rewrite(2, third), rewrite(3, second))
    found = broken(filled)
    assert found is not None and (found.seq, found.problem) == (2, Problem.REORDERED)
    assert "entry 2 does not link to entry 1" in found.reason


def test_entry_signed_with_another_key_is_named(filled: ComplianceLog,
                                                workstation: Workstation) -> None:
    entry = filled.entries()[3]
    forged = Ed25519PrivateKey.generate().sign(bytes.fromhex(entry.hash))
    tamper(workstation.database, ("UPDATE compliance_log SET signature = ? WHERE seq = 4",
                                  [forged]))
    assert broken(filled) == ComplianceBreak(
        4, Problem.FORGED, "entry 4 is not signed by the workstation's registered key")


def test_log_of_another_workstation_fails_against_this_key(filled: ComplianceLog) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    found = filled.verify(other)
    assert found is not None and (found.seq, found.problem) == (1, Problem.FORGED)


def test_unreadable_payload_is_an_alteration_not_a_crash(filled: ComplianceLog,
                                                         workstation: Workstation) -> None:
    tamper(workstation.database, ("UPDATE compliance_log SET payload = 'not json' "
                                  "WHERE seq = 5", []))
    found = broken(filled)
    assert found is not None and (found.seq, found.problem) == (5, Problem.ALTERED)
    with pytest.raises(ComplianceError, match="entry 5 has an unreadable payload"):
        _ = filled.entries()[4].payload
    assert b"not json" in filled.export("json")  # still exported, as stored


# ---- exports ---------------------------------------------------------------------------------

def test_json_export_round_trips_and_verifies(filled: ComplianceLog) -> None:
    data = filled.export("json")
    document = json.loads(data)
    assert document["public_key"] == public_key_pem(filled.public_key)
    assert document["entries"][1]["payload"] == PAYLOADS[1][1]
    assert document["entries"][3]["signature"] == filled.entries()[3].signature.hex()
    assert read_export(data, "json") == filled.entries()
    assert first_break(read_export(data, "json"), filled.public_key) is None


def csv_rows(data: bytes) -> Iterator[dict[str, str]]:
    return csv.DictReader(io.StringIO(data.decode("utf-8")))


def test_csv_export_has_one_row_per_entry_with_flattened_fields(filled: ComplianceLog) -> None:
    data = filled.export("csv")
    header = data.decode("utf-8").splitlines()[0].split(",")
    assert tuple(header[:len(CSV_COLUMNS)]) == CSV_COLUMNS
    rows = list(csv_rows(data))
    entries = filled.entries()
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4", "5"]
    posture, qa_run, change, override = rows[0], rows[1], rows[2], rows[3]
    assert (posture["kind"], posture["outcome"]) == ("posture", "unknown")
    assert posture["payload.checks.disk-encryption.status"] == "pass"
    assert posture["payload.checks.firewall.detail"] == "nftables could not be read"
    assert (qa_run["outcome"], qa_run["payload.passed"]) == ("fail", "false")
    assert qa_run["payload.reasons.0"] == "GSDF error 14 % at 15→30"
    assert float(qa_run["payload.luminance.lmax"]) == 412.5
    assert change["payload.changes.0"].startswith("DP-1: EIZO RX350")
    assert (override["outcome"], override["payload.user"]) == ("", "drsmith")
    assert override["payload.passed"] == ""  # a field this entry does not have
    assert [json.loads(r["payload"]) for r in rows] == [e.payload for e in entries]
    assert [(r["recorded_at"], r["hash"], r["signature"]) for r in rows] == [
        (e.recorded_at, e.hash, e.signature.hex()) for e in entries]


def test_csv_export_round_trips_and_an_edited_cell_is_named(filled: ComplianceLog) -> None:
    data = filled.export("csv")
    assert read_export(data, "csv") == filled.entries()
    assert first_break(read_export(data, "csv"), filled.public_key) is None
    edited = data.decode("utf-8").replace('"passed"":false', '"passed"":true').encode()
    assert edited != data
    found = first_break(read_export(edited, "csv"), filled.public_key)
    assert found is not None and (found.seq, found.problem) == (2, Problem.ALTERED)


def test_export_formats_are_json_and_csv(filled: ComplianceLog) -> None:
    with pytest.raises(ComplianceError, match="json, csv"):
        filled.export("xml")
