"""The hash-chained audit trail: append-only, and any edit is named by ``verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlcipher3

from app.audit import GENESIS_HASH, AuditEvent, EventId, Outcome, _digest
from app.workstation import Workstation, open_workstation


def record_some_events(workstation: Workstation, count: int = 5) -> list[int]:
    """Events of the kinds the node writes: imports per study and a rejected caller."""
    seqs = []
    for n in range(count):
        if n == 2:
            event = AuditEvent(EventId.SECURITY_ALERT, "E", actor="INTRUDER",
                               outcome=Outcome.MINOR_FAILURE, source="192.0.2.7",
                               detail="association rejected: unknown calling AE title")
        else:
            event = AuditEvent(EventId.IMPORT, "C", actor="STORESCU", source="127.0.0.1",
                               objects=(("study", f"1.2.826.0.1.3680043.2.1125.{n}"),),
                               detail="12 instance(s) stored")
        seqs.append(workstation.audit.record(event))
    return seqs


def tamper(workstation: Workstation, sql: str, *parameters: object) -> None:
    """What an attacker with the key could do: drop the append-only guard, then edit."""
    connection = workstation.database._connection
    connection.execute("DROP TRIGGER audit_events_no_update")
    connection.execute("DROP TRIGGER audit_events_no_delete")
    connection.execute(sql, parameters)


def test_fresh_trail_verifies(workstation: Workstation) -> None:
    assert workstation.audit.verify() is None
    record_some_events(workstation)
    assert workstation.audit.verify() is None


def test_events_are_numbered_and_each_links_to_the_one_before(workstation: Workstation) -> None:
    assert record_some_events(workstation, 3) == [1, 2, 3]

    events = workstation.audit.events()
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
    assert [e["event_id"] for e in events] == ["110107", "110107", "110113"]
    assert json.loads(str(events[0]["objects"])) == [["study", "1.2.826.0.1.3680043.2.1125.0"]]


def test_chain_still_verifies_after_reopening_the_profile(tmp_path: Path) -> None:
    first = open_workstation(tmp_path / "profile")
    record_some_events(first, 3)
    first.close()

    reopened = open_workstation(tmp_path / "profile")
    record_some_events(reopened, 2)
    assert [e["seq"] for e in reopened.audit.events()] == [1, 2, 3, 4, 5]
    assert reopened.audit.verify() is None
    reopened.close()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 1",
     "DELETE FROM audit_events WHERE seq = 1"],
    ids=["update", "delete"],
)
def test_database_refuses_to_change_the_trail(workstation: Workstation, statement: str) -> None:
    record_some_events(workstation, 2)

    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        workstation.database._connection.execute(statement)
    assert workstation.audit.verify() is None


@pytest.mark.parametrize(
    ("column", "value"),
    [("detail", "0 instance(s) stored"), ("actor", "TRUSTED"), ("outcome", 0),
     ("recorded_at", "2020-01-01T00:00:00+00:00")],
)
def test_changed_value_is_named_by_verify(
    workstation: Workstation, column: str, value: object
) -> None:
    record_some_events(workstation)
    tamper(workstation, f"UPDATE audit_events SET {column} = ? WHERE seq = 3", value)

    broken = workstation.audit.verify()
    assert broken is not None
    assert broken.seq == 3
    assert "entry 3" in broken.reason


def test_rewritten_entry_with_a_recomputed_hash_is_caught_by_the_next_entry(
    workstation: Workstation,
) -> None:
    record_some_events(workstation)
    entry = workstation.audit.events()[1]
    entry["detail"] = "0 instance(s) stored"
    forged = _digest(str(entry["prev_hash"]), entry)
    tamper(workstation, "UPDATE audit_events SET detail = ?, hash = ? WHERE seq = 2",
           entry["detail"], forged)

    broken = workstation.audit.verify()
    assert broken is not None
    assert broken.seq == 3
    assert "does not link to entry 2" in broken.reason


def test_deleted_middle_entry_is_detected(workstation: Workstation) -> None:
    record_some_events(workstation)
    tamper(workstation, "DELETE FROM audit_events WHERE seq = 3")

    broken = workstation.audit.verify()
    assert broken is not None
    assert broken.seq == 3
    assert "missing" in broken.reason
