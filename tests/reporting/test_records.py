"""Drafts and signed reports in the profile database: sealed, immutable, signed atomically."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import StoreError
from app.workstation import Workstation
from reporting.model import (
    Alert,
    AlertCategory,
    Communication,
    Draft,
    PartKind,
    Report,
    ReportError,
    ReportState,
    SignedPart,
)
from reporting.outbox import DeliveryStatus, Outbox, OutgoingMessage
from reporting.records import MacroBook, ReportBook, ReportStatus, new_control_id
from tests.helpers import small_plan
from tests.reading_room import store_plan
from tests.reporting.samples import ADDENDUM_AUTHOR, REPORTER

OPENED_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SIGNED_AT = OPENED_AT + timedelta(minutes=14)
# A phrase no template, macro or synthetic header contains, to look for in the raw files.
SECRET = "Lingular ground-glass focus, pattern zebra-quartz-71"
FINDINGS = {
    "clinical_information": "Follow-up of right upper lobe nodule.",
    "technique": "CT chest without contrast.",
    "findings": f"{SECRET}. No effusion.",
    "impression": "Indeterminate lingular opacity; repeat CT in three months.",
}
TOLD = Communication("Dr Jones, respiratory registrar", "telephone",
                     OPENED_AT + timedelta(minutes=10))


@pytest.fixture
def study_uid(workstation: Workstation) -> str:
    """A small CT chest, stored as the node stores it, so its data key exists."""
    plan = small_plan("CT_CHEST", 3)
    store_plan(workstation.store, plan)
    return plan.study_uid


@pytest.fixture
def outbox(workstation: Workstation) -> Outbox:
    return Outbox(workstation.database, workstation.store)


@pytest.fixture
def book(workstation: Workstation, outbox: Outbox) -> ReportBook:
    return ReportBook(workstation.database, workstation.store, outbox)


def report_draft(study_uid: str, **changes: object) -> Draft:
    return Draft(study_uid, REPORTER.username, PartKind.REPORT, OPENED_AT,
                 sections=dict(FINDINGS)).edited(**changes)


def addendum_draft(study_uid: str) -> Draft:
    return Draft(study_uid, ADDENDUM_AUTHOR.username, PartKind.ADDENDUM,
                 OPENED_AT + timedelta(days=1),
                 sections={"addendum": "Opacity measures 9 mm on review."},
                 reason="Measurement added after multiplanar review")


def to_pacs_and_ris(report: Report, part: SignedPart) -> Sequence[OutgoingMessage]:
    """Stand-ins for the SR and the ORU^R01, one per destination, naming the part."""
    return [OutgoingMessage("pacs:PACS", f"SR {part.sr_sop_instance_uid}".encode()),
            OutgoingMessage("ris", f"MSH|{part.hl7_control_id}|{SECRET}".encode())]


def sign_report(book: ReportBook, study_uid: str, **changes: object) -> Report:
    return book.sign(report_draft(study_uid, **changes), REPORTER, signed_at=SIGNED_AT,
                     messages=to_pacs_and_ris, modality="CT",
                     study_received_at="2026-11-20T08:40:00+00:00")


def sign_addendum(book: ReportBook, study_uid: str) -> Report:
    return book.sign(addendum_draft(study_uid), ADDENDUM_AUTHOR,
                     signed_at=SIGNED_AT + timedelta(days=1), messages=to_pacs_and_ris)


def count(workstation: Workstation, table: str) -> int:
    return workstation.database.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


# ---- drafts -------------------------------------------------------------------------------

def test_draft_autosave_round_trips(book: ReportBook, study_uid: str) -> None:
    draft = report_draft(study_uid, alert=Alert(AlertCategory.CANCER, TOLD))

    book.save_draft(draft, saved_at=OPENED_AT + timedelta(minutes=1))

    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) == draft
    assert book.load_draft(study_uid, REPORTER.username, PartKind.ADDENDUM) is None
    assert book.load_draft(study_uid, ADDENDUM_AUTHOR.username, PartKind.REPORT) is None


def test_return_draft_keeps_its_reason(book: ReportBook, study_uid: str) -> None:
    returning = Draft(study_uid, REPORTER.username, PartKind.RETURN, OPENED_AT,
                      reason="Non-contrast study for a staging request")

    book.save_draft(returning, saved_at=OPENED_AT)

    assert book.load_draft(study_uid, REPORTER.username, PartKind.RETURN) == returning


def test_later_autosave_replaces_the_earlier(workstation: Workstation, book: ReportBook,
                                             study_uid: str) -> None:
    first = report_draft(study_uid, sections={"findings": "Clear lungs."})
    later = first.edited(sections={"findings": "Clear lungs.", "impression": "Normal study."},
                         alert=Alert(AlertCategory.URGENT))

    book.save_draft(first, saved_at=OPENED_AT + timedelta(minutes=1))
    book.save_draft(later, saved_at=OPENED_AT + timedelta(minutes=2))

    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) == later
    (row,) = workstation.database.query("SELECT opened_at, saved_at FROM report_drafts")
    assert row == {"opened_at": OPENED_AT.isoformat(),
                   "saved_at": (OPENED_AT + timedelta(minutes=2)).isoformat()}


def test_discarded_draft_is_gone(book: ReportBook, study_uid: str) -> None:
    book.save_draft(report_draft(study_uid), saved_at=OPENED_AT)

    book.discard_draft(study_uid, REPORTER.username, PartKind.REPORT)

    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) is None


def test_report_text_is_not_in_the_database_files_in_clear(
        workstation: Workstation, book: ReportBook, study_uid: str) -> None:
    book.save_draft(report_draft(study_uid), saved_at=OPENED_AT)
    (draft_row,) = workstation.database.query("SELECT body FROM report_drafts")
    sign_report(book, study_uid)
    book.save_draft(addendum_draft(study_uid).edited(sections={"addendum": SECRET}),
                    saved_at=SIGNED_AT)

    phrase = SECRET.encode()
    database_file = workstation.database.path
    write_ahead_log = database_file.with_name(database_file.name + "-wal")
    assert write_ahead_log.exists()
    for path in (database_file, write_ahead_log):
        assert phrase not in path.read_bytes(), path.name
    sealed = [draft_row["body"]]
    for table, column in (("report_drafts", "body"), ("report_parts", "body"),
                          ("outbox", "payload")):
        sealed += [row[column] for row in workstation.database.query(
            f"SELECT {column} FROM {table}")]
    assert len(sealed) == 5  # first draft, addendum draft, the part, two messages
    assert all(phrase not in value for value in sealed)
    findings = {s.key: s.text for s in book.report(study_uid).original.sections}["findings"]
    assert SECRET in findings  # and yet the reporter reads it back


# ---- signing --------------------------------------------------------------------------------

def test_signing_stores_the_part_removes_the_draft_and_queues_its_messages(
        workstation: Workstation, book: ReportBook, outbox: Outbox, study_uid: str) -> None:
    book.save_draft(report_draft(study_uid), saved_at=OPENED_AT + timedelta(minutes=5))

    report = sign_report(book, study_uid)

    assert report.state is ReportState.FINAL
    assert book.report(study_uid) == report
    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) is None
    entries = outbox.entries(study_uid=study_uid)
    assert [(e.part_number, e.destination, e.status) for e in entries] == [
        (1, "pacs:PACS", DeliveryStatus.QUEUED), (1, "ris", DeliveryStatus.QUEUED)]
    assert outbox.next_due() == SIGNED_AT
    (row,) = workstation.database.query(
        "SELECT state, modality, study_received_at, updated_at FROM reports")
    assert row == {"state": "final", "modality": "CT",
                   "study_received_at": "2026-11-20T08:40:00+00:00",
                   "updated_at": SIGNED_AT.isoformat()}
    (part,) = workstation.database.query(
        "SELECT number, kind, author, signed_at, writing_seconds FROM report_parts")
    assert part == {"number": 1, "kind": "report", "author": REPORTER.username,
                    "signed_at": SIGNED_AT.isoformat(), "writing_seconds": 14 * 60}


def test_failed_message_build_signs_nothing(workstation: Workstation, book: ReportBook,
                                            study_uid: str) -> None:
    draft = report_draft(study_uid)
    book.save_draft(draft, saved_at=OPENED_AT)

    def cannot_build(report: Report, part: SignedPart) -> Sequence[OutgoingMessage]:
        raise ValueError("the SR could not be built")

    with pytest.raises(ValueError, match="the SR could not be built"):
        book.sign(draft, REPORTER, signed_at=SIGNED_AT, messages=cannot_build)

    assert [count(workstation, t) for t in ("reports", "report_parts", "outbox")] == [0, 0, 0]
    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) == draft
    assert book.report(study_uid).state is ReportState.DRAFT


def test_unsignable_draft_is_refused_and_kept(workstation: Workstation, book: ReportBook,
                                              study_uid: str) -> None:
    flagged = report_draft(study_uid, alert=Alert(AlertCategory.CRITICAL))
    book.save_draft(flagged, saved_at=OPENED_AT)

    with pytest.raises(ReportError, match="record who at the trust was told"):
        sign_report(book, study_uid, alert=Alert(AlertCategory.CRITICAL))

    assert count(workstation, "report_parts") == 0
    assert book.load_draft(study_uid, REPORTER.username, PartKind.REPORT) == flagged


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE report_parts SET author = 'mallory'", "a signed report part never changes"),
    ("UPDATE report_parts SET body = x'00'", "a signed report part never changes"),
    ("DELETE FROM report_parts", "a signed report part is never deleted"),
])
def test_signed_part_cannot_be_changed_in_sql(workstation: Workstation, book: ReportBook,
                                              study_uid: str, statement: str,
                                              message: str) -> None:
    signed = sign_report(book, study_uid)

    with pytest.raises(StoreError, match=message), workstation.database.transaction() as cursor:
        cursor.execute(statement)

    assert book.report(study_uid) == signed


def test_addendum_becomes_part_two_and_leaves_the_report_unchanged(
        book: ReportBook, outbox: Outbox, study_uid: str) -> None:
    original = sign_report(book, study_uid, alert=Alert(AlertCategory.CANCER, TOLD)).original

    addended = sign_addendum(book, study_uid)

    read_back = book.report(study_uid)
    assert read_back == addended
    assert read_back.state is ReportState.ADDENDED
    assert read_back.original == original
    (addendum,) = read_back.addenda
    assert (addendum.number, addendum.kind, addendum.author) == (
        2, PartKind.ADDENDUM, ADDENDUM_AUTHOR)
    assert addendum.reason == "Measurement added after multiplanar review"
    assert read_back.sr_series_uid == addended.up_to(1).sr_series_uid
    assert addendum.sr_sop_instance_uid != original.sr_sop_instance_uid
    assert [e.part_number for e in outbox.entries(study_uid=study_uid)] == [1, 1, 2, 2]


def test_control_ids_are_unique_and_fit_msh_10(book: ReportBook, study_uid: str) -> None:
    sign_report(book, study_uid)
    report = sign_addendum(book, study_uid)

    ids = [part.hl7_control_id for part in report.parts] + [new_control_id()
                                                           for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert all(0 < len(control_id) <= 20 for control_id in ids)


def test_statuses_show_state_alert_and_delivery(book: ReportBook, outbox: Outbox,
                                                study_uid: str) -> None:
    assert book.statuses() == {}

    sign_report(book, study_uid, alert=Alert(AlertCategory.CRITICAL, TOLD))
    assert book.statuses() == {
        study_uid: ReportStatus(study_uid, ReportState.FINAL, "critical", "queued")}

    outbox.deliver_due(lambda destination, payload: None, lambda: SIGNED_AT)
    sign_addendum(book, study_uid)  # no alert of its own: the report's alert still shows
    assert book.statuses() == {
        study_uid: ReportStatus(study_uid, ReportState.ADDENDED, "critical", "queued")}

    outbox.deliver_due(lambda destination, payload: None,
                       lambda: SIGNED_AT + timedelta(days=1))
    assert book.statuses()[study_uid].delivery == "acknowledged"


def test_purged_study_report_text_is_shredded_but_its_times_remain(
        workstation: Workstation, book: ReportBook, study_uid: str) -> None:
    sign_report(book, study_uid)

    workstation.store.purge_study(study_uid)

    with pytest.raises(StoreError, match="not in the store"):
        book.report(study_uid)
    (row,) = workstation.database.query("SELECT state, updated_at FROM reports")
    assert row == {"state": "final", "updated_at": SIGNED_AT.isoformat()}
    (part,) = workstation.database.query(
        "SELECT opened_at, signed_at, writing_seconds FROM report_parts")
    assert part == {"opened_at": OPENED_AT.isoformat(), "signed_at": SIGNED_AT.isoformat(),
                    "writing_seconds": 14 * 60}


def test_purged_study_draft_can_no_longer_be_read(workstation: Workstation, book: ReportBook,
                                                  study_uid: str) -> None:
    book.save_draft(report_draft(study_uid), saved_at=OPENED_AT)

    workstation.store.purge_study(study_uid)

    with pytest.raises(StoreError, match="not in the store"):
        book.load_draft(study_uid, REPORTER.username, PartKind.REPORT)


# ---- macros ---------------------------------------------------------------------------------

def test_own_macros_override_the_defaults(workstation: Workstation) -> None:
    macros = MacroBook(workstation.database)

    macros.set("alice", ".nad", "Normal examination.")
    macros.set("alice", ".pe", "No pulmonary embolus.")

    alices = macros.macros("alice")
    assert alices[".nad"] == "Normal examination."
    assert alices[".pe"] == "No pulmonary embolus."
    assert alices[".fu"] == "Follow-up imaging is recommended."
    assert macros.macros("bob")[".nad"] == "No acute abnormality."
    assert ".pe" not in macros.macros("bob")

    macros.set("alice", ".pe", "No pulmonary embolism.")
    macros.remove("alice", ".nad")
    assert macros.macros("alice")[".nad"] == "No acute abnormality."
    assert macros.macros("alice")[".pe"] == "No pulmonary embolism."


def test_macro_needs_a_valid_name_and_text(workstation: Workstation) -> None:
    macros = MacroBook(workstation.database)

    with pytest.raises(ReportError, match="must be a dot"):
        macros.set("alice", "nad", "No acute abnormality.")
    with pytest.raises(ReportError, match="needs the text it expands to"):
        macros.set("alice", ".nad", "  ")


def test_removing_a_missing_macro_is_refused(workstation: Workstation) -> None:
    macros = MacroBook(workstation.database)

    with pytest.raises(ReportError, match=r"alice has no own macro \.nad"):
        macros.remove("alice", ".nad")  # a default, not alice's own
    with pytest.raises(ReportError, match=r"alice has no own macro \.missing"):
        macros.remove("alice", ".missing")
