"""Discrepancy and peer feedback: recorded against a report, notes sealed, counted for REALM."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.workstation import Workstation
from reporting.discrepancy import (
    Discrepancy,
    DiscrepancyBook,
    DiscrepancyCategory,
    DiscrepancyError,
    Source,
)
from reporting.outbox import Outbox
from reporting.records import ReportBook
from tests.helpers import small_plan
from tests.reading_room import store_plan
from tests.reporting.test_records import SECRET, sign_report

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOTES = f"Missed {SECRET}; review the lingula on every chest CT."


@pytest.fixture
def study(workstation: Workstation) -> tuple[str, str]:
    """(study UID, accession) of a stored CT chest with alice's signed report."""
    plan = small_plan("CT_CHEST", 3)
    store_plan(workstation.store, plan)
    sign_report(ReportBook(workstation.database, workstation.store,
                           Outbox(workstation.database, workstation.store)), plan.study_uid)
    return plan.study_uid, plan.accession


@pytest.fixture
def book(workstation: Workstation, study: tuple[str, str]) -> DiscrepancyBook:
    accessions = {study[1]: study[0]}
    return DiscrepancyBook(workstation.database, workstation.store,
                           accession_lookup=accessions.get)


def test_reporter_records_own_discrepancy_and_finds_it(book: DiscrepancyBook,
                                                       study: tuple[str, str]) -> None:
    entry = book.record(study[0], DiscrepancyCategory.MINOR, recorded_by="alice", now=NOW,
                        learning_points=NOTES, event_date=date(2026, 12, 1))

    assert (entry.reporter, entry.source, entry.id) == ("alice", Source.SELF, 1)
    assert book.for_reporter("alice") == [entry]
    assert book.for_reporter("bob") == []


def test_colleague_feedback_is_held_against_the_reports_author(
        book: DiscrepancyBook, study: tuple[str, str]) -> None:
    entry = book.record(study[0], DiscrepancyCategory.GOOD_SPOT, recorded_by="bob", now=NOW)

    assert (entry.reporter, entry.source, entry.report_part) == ("alice", Source.COLLEAGUE,
                                                                 None)
    with pytest.raises(DiscrepancyError, match="is by alice, not carol"):
        book.record(study[0], DiscrepancyCategory.MINOR, recorded_by="bob", now=NOW,
                    reporter="carol")
    with pytest.raises(DiscrepancyError, match="no signed report part 2"):
        book.record(study[0], DiscrepancyCategory.MINOR, recorded_by="bob", now=NOW,
                    report_part=2)


def test_learning_points_are_sealed_not_stored_in_clear(
        workstation: Workstation, book: DiscrepancyBook, study: tuple[str, str]) -> None:
    book.record(study[0], DiscrepancyCategory.SIGNIFICANT, recorded_by="bob", now=NOW,
                learning_points=NOTES)

    row = workstation.database.query("SELECT * FROM discrepancies")[0]
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert SECRET.encode() not in stored
    assert book.entries()[0].learning_points == NOTES


def test_counts_per_month_and_category_for_the_meeting(book: DiscrepancyBook,
                                                       study: tuple[str, str]) -> None:
    for category, day in ((DiscrepancyCategory.MINOR, date(2026, 10, 30)),
                          (DiscrepancyCategory.MINOR, date(2026, 11, 2)),
                          (DiscrepancyCategory.SIGNIFICANT, date(2026, 11, 30)),
                          (DiscrepancyCategory.HARM, date(2026, 9, 1))):  # before the period
        book.record(study[0], category, recorded_by="bob", now=NOW, event_date=day)
    book.record(study[0], DiscrepancyCategory.EDUCATIONAL, recorded_by="bob", now=NOW)

    totals = book.counts(date(2026, 10, 1), date(2026, 12, 31))
    months = book.monthly_counts(date(2026, 10, 1), date(2026, 12, 31))

    assert totals == {DiscrepancyCategory.GOOD_SPOT: 0, DiscrepancyCategory.EDUCATIONAL: 1,
                      DiscrepancyCategory.MINOR: 2, DiscrepancyCategory.SIGNIFICANT: 1,
                      DiscrepancyCategory.HARM: 0}
    assert list(months) == ["2026-10", "2026-11", "2026-12"]
    assert months["2026-11"][DiscrepancyCategory.MINOR] == 1
    assert months["2026-11"][DiscrepancyCategory.SIGNIFICANT] == 1
    assert months["2026-12"][DiscrepancyCategory.EDUCATIONAL] == 1  # by the date recorded


def test_trust_audit_file_is_imported(book: DiscrepancyBook, study: tuple[str, str]) -> None:
    uid, accession = study
    text = ("study_uid,accession,category,learning_points,event_date\n"
            f"{uid},,minor,Check the lung bases,2026-11-20\n"
            f',{accession},"Discrepancy, clinically significant (could change management)",'
            '"Compare with the prior, always",\n')

    entries = book.import_csv(text, "audit-lead", now=NOW)

    assert [(e.study_uid, e.category, e.source, e.reporter) for e in entries] == [
        (uid, DiscrepancyCategory.MINOR, Source.TRUST_AUDIT_IMPORT, "alice"),
        (uid, DiscrepancyCategory.SIGNIFICANT, Source.TRUST_AUDIT_IMPORT, "alice")]
    assert [e.learning_points for e in book.entries()] == [
        "Check the lung bases", "Compare with the prior, always"]


def test_bad_line_of_an_import_is_named_and_nothing_recorded(
        book: DiscrepancyBook, study: tuple[str, str]) -> None:
    text = ("study_uid,category,event_date\n"
            f"{study[0]},minor,2026-11-20\n"
            f"{study[0]},catastrophic,2026-11-21\n")

    with pytest.raises(DiscrepancyError, match=r"line 3: unknown discrepancy category"):
        book.import_csv(text, "audit-lead", now=NOW)
    with pytest.raises(DiscrepancyError, match=r"line 2: event_date '20/11/2026'"):
        book.import_csv(f"study_uid,category,event_date\n{study[0]},minor,20/11/2026\n",
                        "audit-lead", now=NOW)
    assert book.entries() == []


def test_unknown_study_is_refused_with_its_line(book: DiscrepancyBook,
                                                study: tuple[str, str]) -> None:
    text = f"study_uid,category\n{study[0]},minor\n1.2.826.0.1.3680043.99,minor\n"

    with pytest.raises(DiscrepancyError, match=r"line 3: study 1\.2\.826\.0\.1\.3680043\.99 "
                                               "is not known"):
        book.import_csv(text, "audit-lead", now=NOW)
    with pytest.raises(DiscrepancyError, match=r"line 2: accession RX0 is not on"):
        book.import_csv("accession,category\nRX0,minor\n", "audit-lead", now=NOW)
    with pytest.raises(DiscrepancyError, match="is not known"):
        book.record("1.2.3.4", DiscrepancyCategory.MINOR, recorded_by="bob", now=NOW)


def test_purged_study_keeps_its_category_but_not_free_text(
        workstation: Workstation, book: DiscrepancyBook, study: tuple[str, str]) -> None:
    book.record(study[0], DiscrepancyCategory.MINOR, recorded_by="bob", now=NOW,
                learning_points=NOTES)
    workstation.store.purge_study(study[0])

    with pytest.raises(DiscrepancyError, match="was purged"):
        book.record(study[0], DiscrepancyCategory.HARM, recorded_by="bob", now=NOW,
                    learning_points="Told the referrer.")
    later = book.record(study[0], DiscrepancyCategory.HARM, recorded_by="bob", now=NOW)

    earlier, again = book.entries()
    assert (earlier.learning_points, earlier.notes_shredded) == ("", True)
    assert again == later and not again.notes_shredded


def test_invalid_discrepancy_is_refused_with_the_field_named() -> None:
    def make(**changes: object) -> Discrepancy:
        fields: dict[str, object] = {
            "study_uid": "1.2.3", "reporter": "alice", "recorded_by": "bob",
            "source": Source.COLLEAGUE, "category": DiscrepancyCategory.MINOR,
            "recorded_at": NOW} | changes
        return Discrepancy(**fields)  # type: ignore[arg-type]

    with pytest.raises(DiscrepancyError, match="needs a time zone"):
        make(recorded_at=datetime(2026, 12, 3, 10, 0))
    with pytest.raises(DiscrepancyError, match="after the recording date"):
        make(event_date=date(2026, 12, 4))
    with pytest.raises(DiscrepancyError, match="cannot record self-feedback"):
        make(source=Source.SELF)
    with pytest.raises(DiscrepancyError, match="needs its reporter"):
        make(reporter=" ")
    with pytest.raises(DiscrepancyError, match="use one of good-spot, educational"):
        DiscrepancyCategory.parse("class 2")
    assert DiscrepancyCategory.parse("Significant") is DiscrepancyCategory.SIGNIFICANT
