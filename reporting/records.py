"""Reports and drafts in the profile database, their text sealed with the study's data key.

Signing is one transaction: the signed part, the report's new state, the draft's removal
and the outbox entries for every destination commit together or not at all, so a crash
never leaves a signed report that nobody will deliver (or a delivery of an unsigned one).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydicom.uid import generate_uid

from reporting.model import (
    Alert,
    AlertCategory,
    Communication,
    Draft,
    PartKind,
    Report,
    Reporter,
    ReportError,
    ReportState,
    Section,
    SignedPart,
)
from reporting.outbox import Outbox, OutgoingMessage
from reporting.templates import default_macros, validate_abbreviation


class Cursor(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...


class ReportDatabase(Protocol):
    """The profile database as reporting uses it (app.database.Database fits)."""

    def transaction(self) -> AbstractContextManager[Cursor]: ...
    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]: ...


class Vault(Protocol):
    """Seals a study's text with its data key (app.store.StudyStore fits)."""

    def seal(self, study_uid: str, plaintext: bytes, purpose: str) -> bytes: ...
    def unseal(self, study_uid: str, blob: bytes, purpose: str) -> bytes: ...


@dataclass(frozen=True)
class ReportStatus:
    """What the worklist shows of a study's report, read without decrypting anything."""

    study_uid: str
    state: ReportState
    alert: str  # the latest alert category, "" when none
    delivery: str  # queued / sent / acknowledged / failed, "" before signing


MessageBuilder = Callable[[Report, SignedPart], Sequence[OutgoingMessage]]


def new_control_id() -> str:
    """An HL7 MSH-10 (ST, at most 20 characters) unique across workstations of a trust."""
    return "TR" + secrets.token_hex(9).upper()


class ReportBook:
    """Drafts, signed reports and addenda of the studies on this workstation."""

    def __init__(self, database: ReportDatabase, vault: Vault, outbox: Outbox) -> None:
        self._database = database
        self._vault = vault
        self._outbox = outbox

    # ---- drafts -------------------------------------------------------------------------

    def save_draft(self, draft: Draft, *, saved_at: datetime) -> None:
        """Autosave: the draft as it stands replaces the previous save (one per author/kind)."""
        body = self._vault.seal(draft.study_uid, _dumps(_draft_fields(draft)),
                                _draft_purpose(draft.author, draft.kind))
        with self._database.transaction() as cursor:
            cursor.execute(
                """INSERT INTO report_drafts (study_uid, author, kind, opened_at, saved_at, body)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (study_uid, author, kind)
                   DO UPDATE SET saved_at = excluded.saved_at, body = excluded.body""",
                (draft.study_uid, draft.author, draft.kind.value, draft.opened_at.isoformat(),
                 saved_at.isoformat(), body))

    def load_draft(self, study_uid: str, author: str, kind: PartKind) -> Draft | None:
        rows = self._database.query(
            "SELECT body FROM report_drafts WHERE study_uid = ? AND author = ? AND kind = ?",
            (study_uid, author, kind.value))
        if not rows:
            return None
        fields = json.loads(self._vault.unseal(study_uid, rows[0]["body"],
                                               _draft_purpose(author, kind)))
        return _draft_from(study_uid, author, kind, fields)

    def discard_draft(self, study_uid: str, author: str, kind: PartKind) -> None:
        with self._database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM report_drafts WHERE study_uid = ? AND author = ? AND kind = ?",
                (study_uid, author, kind.value))

    # ---- signed reports -----------------------------------------------------------------

    def report(self, study_uid: str) -> Report:
        """Every signed part of the study's report (a new, unsigned report if none)."""
        rows = self._database.query(
            "SELECT sr_series_uid FROM reports WHERE study_uid = ?", (study_uid,))
        if not rows:
            return Report(study_uid, generate_uid())
        parts = self._database.query(
            "SELECT number, body FROM report_parts WHERE study_uid = ? ORDER BY number",
            (study_uid,))
        return Report(study_uid, rows[0]["sr_series_uid"], tuple(
            _part_from(json.loads(self._vault.unseal(study_uid, row["body"],
                                                      _part_purpose(row["number"]))))
            for row in parts))

    def sign(self, draft: Draft, author: Reporter, *, signed_at: datetime,
             messages: MessageBuilder, modality: str = "", study_received_at: str = ""
             ) -> Report:
        """Sign ``draft`` as the next part and queue its messages, in one transaction."""
        with self._database.transaction() as cursor:
            report = self.report(draft.study_uid)
            part = draft.sign(author=author, number=len(report.parts) + 1, signed_at=signed_at,
                              sr_sop_instance_uid=generate_uid(),
                              hl7_control_id=new_control_id())
            report = report.with_part(part)
            outgoing = messages(report, part)
            self._write_part(cursor, report, part, modality, study_received_at)
            kinds = (draft.kind.value, PartKind.REPORT.value)  # a return ends the report draft
            cursor.execute(
                "DELETE FROM report_drafts WHERE study_uid = ? AND author = ? AND kind IN (?, ?)",
                (draft.study_uid, draft.author, *kinds))
            self._outbox.enqueue(cursor, draft.study_uid, part.number, outgoing, now=signed_at)
        return report

    def _write_part(self, cursor: Cursor, report: Report, part: SignedPart, modality: str,
                    study_received_at: str) -> None:
        alert = part.alert.category.value if part.alert else ""
        cursor.execute(
            """INSERT INTO reports (study_uid, sr_series_uid, state, alert, modality,
                                    study_received_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (study_uid) DO UPDATE SET state = excluded.state,
                   alert = CASE WHEN excluded.alert != '' THEN excluded.alert ELSE alert END,
                   updated_at = excluded.updated_at""",
            (report.study_uid, report.sr_series_uid, report.state.value, alert, modality,
             study_received_at, part.signed_at.isoformat()))
        body = self._vault.seal(report.study_uid, _dumps(_part_fields(part)),
                                _part_purpose(part.number))
        cursor.execute(
            """INSERT INTO report_parts (study_uid, number, kind, author, opened_at, signed_at,
                   writing_seconds, alert, sr_sop_instance_uid, hl7_control_id, body)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (report.study_uid, part.number, part.kind.value, part.author.username,
             part.opened_at.isoformat(), part.signed_at.isoformat(), part.writing_seconds,
             alert, part.sr_sop_instance_uid, part.hl7_control_id, body))

    def statuses(self) -> dict[str, ReportStatus]:
        """Each study's report state, latest alert and delivery, for the worklist."""
        delivery = self._outbox.delivery_by_study()
        return {row["study_uid"]: ReportStatus(
                    row["study_uid"], ReportState(row["state"]), row["alert"],
                    delivery.get(row["study_uid"], ""))
                for row in self._database.query("SELECT study_uid, state, alert FROM reports")}


def _draft_purpose(author: str, kind: PartKind) -> str:
    return f"draft:{author}:{kind.value}"


def _part_purpose(number: int) -> str:
    return f"report part:{number}"


def _dumps(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _alert_fields(alert: Alert | None) -> dict[str, Any] | None:
    if alert is None:
        return None
    told = alert.communication
    return {"category": alert.category.value, "communication": None if told is None else
            {"told": told.told, "method": told.method, "at": told.at.isoformat()}}


def _alert_from(fields: dict[str, Any] | None) -> Alert | None:
    if not fields:
        return None
    told = fields.get("communication")
    return Alert(AlertCategory(fields["category"]), None if not told else Communication(
        told["told"], told["method"], datetime.fromisoformat(told["at"])))


def _draft_fields(draft: Draft) -> dict[str, Any]:
    return {"opened_at": draft.opened_at.isoformat(), "sections": dict(draft.sections),
            "reason": draft.reason, "alert": _alert_fields(draft.alert)}


def _draft_from(study_uid: str, author: str, kind: PartKind, fields: dict[str, Any]) -> Draft:
    return Draft(study_uid, author, kind, datetime.fromisoformat(fields["opened_at"]),
                 dict(fields["sections"]), fields["reason"], _alert_from(fields["alert"]))


def _part_fields(part: SignedPart) -> dict[str, Any]:
    return {
        "number": part.number, "kind": part.kind.value,
        "author": [part.author.username, part.author.display_name, part.author.gmc_number],
        "sections": [[s.key, s.title, s.text] for s in part.sections],
        "reason": part.reason, "alert": _alert_fields(part.alert),
        "opened_at": part.opened_at.isoformat(), "signed_at": part.signed_at.isoformat(),
        "sr_sop_instance_uid": part.sr_sop_instance_uid,
        "hl7_control_id": part.hl7_control_id,
    }


def _part_from(fields: dict[str, Any]) -> SignedPart:
    return SignedPart(
        number=fields["number"], kind=PartKind(fields["kind"]),
        author=Reporter(*fields["author"]),
        sections=tuple(Section(*s) for s in fields["sections"]),
        reason=fields["reason"], alert=_alert_from(fields["alert"]),
        opened_at=datetime.fromisoformat(fields["opened_at"]),
        signed_at=datetime.fromisoformat(fields["signed_at"]),
        sr_sop_instance_uid=fields["sr_sop_instance_uid"],
        hl7_control_id=fields["hl7_control_id"])


class MacroBook:
    """A reporter's own macros over the defaults in resources/templates/macros.toml."""

    def __init__(self, database: ReportDatabase) -> None:
        self._database = database

    def macros(self, username: str) -> dict[str, str]:
        own = self._database.query(
            "SELECT abbreviation, expansion FROM macros WHERE username = ?", (username,))
        return default_macros() | {row["abbreviation"]: row["expansion"] for row in own}

    def set(self, username: str, abbreviation: str, expansion: str) -> None:
        validate_abbreviation(abbreviation)
        if not expansion.strip():
            raise ReportError("a macro needs the text it expands to")
        with self._database.transaction() as cursor:
            cursor.execute(
                """INSERT INTO macros (username, abbreviation, expansion) VALUES (?, ?, ?)
                   ON CONFLICT (username, abbreviation) DO UPDATE SET
                   expansion = excluded.expansion""", (username, abbreviation, expansion))

    def remove(self, username: str, abbreviation: str) -> None:
        with self._database.transaction() as cursor:
            removed = cursor.execute(
                "DELETE FROM macros WHERE username = ? AND abbreviation = ?",
                (username, abbreviation)).rowcount
        if not removed:
            raise ReportError(f"{username} has no own macro {abbreviation}")
