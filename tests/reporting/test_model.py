"""The report's rules: what a reporter must write before signing, and what never changes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
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
    SignedPart,
    person_name,
)
from tests.reporting.samples import (
    ADDENDUM_AUTHOR,
    REPORTER,
    SIGNED_AT,
    returned_report,
    signed_report,
)

OPENED_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
COMPLETE = {
    "clinical_information": "Cough for six weeks.",
    "findings": "Clear lungs.",
    "impression": "No acute abnormality.",
}
TOLD = Communication("Dr Jones, ED registrar", "telephone", OPENED_AT + timedelta(minutes=20))


def report_draft(**changes: object) -> Draft:
    return Draft(STUDY_UID, REPORTER.username, PartKind.REPORT, OPENED_AT).edited(**changes)


def addendum_draft(author: Reporter = ADDENDUM_AUTHOR, **changes: object) -> Draft:
    return Draft(STUDY_UID, author.username, PartKind.ADDENDUM, OPENED_AT).edited(**changes)


def sign(draft: Draft, author: Reporter = REPORTER, *, number: int = 1,
         minutes: int = 15) -> SignedPart:
    return draft.sign(author=author, number=number,
                      signed_at=OPENED_AT + timedelta(minutes=minutes),
                      sr_sop_instance_uid=generate_uid(), hl7_control_id=f"TR{number:06d}")


def signed(draft: Draft) -> Report:
    return Report(STUDY_UID, generate_uid()).with_part(sign(draft))


# ---- what a report needs before it is signed -------------------------------------------

@pytest.mark.parametrize(("missing", "message"), [
    ("findings", "Findings is empty"),
    ("impression", "Impression and recommendation is empty"),
])
def test_report_needs_findings_and_impression_to_be_signed(missing: str, message: str) -> None:
    blank = report_draft(sections={**COMPLETE, missing: "   \n"})

    with pytest.raises(ReportError, match=message):
        blank.check_signable()
    with pytest.raises(ReportError, match=message):
        sign(blank)
    sign(report_draft(sections=COMPLETE))  # with both written it signs


def test_template_headings_alone_are_not_findings() -> None:
    untouched = report_draft(sections={**COMPLETE, "findings": "Lungs:\nPleura:\n"})

    with pytest.raises(ReportError, match="only the template's headings"):
        untouched.check_signable()
    sign(report_draft(sections={**COMPLETE, "findings": "Lungs: clear.\nPleura:\n"}))


def test_empty_sections_are_left_out_of_the_signed_report() -> None:
    part = sign(report_draft(sections={**COMPLETE, "technique": "", "findings": " Clear. "}))

    assert [s.key for s in part.sections] == ["clinical_information", "findings", "impression"]
    assert part.sections[1].title == "Findings"
    assert part.sections[1].text == "Clear."


def test_flagged_report_cannot_be_signed_until_communication_recorded() -> None:
    flagged = report_draft(sections=COMPLETE, alert=Alert(AlertCategory.CANCER))

    with pytest.raises(ReportError, match="Suspected cancer: record who at the trust was told"):
        sign(flagged)

    told = flagged.edited(alert=Alert(AlertCategory.CANCER, TOLD))
    part = sign(told)
    assert part.alert == Alert(AlertCategory.CANCER, TOLD)
    assert part.alert.shown == ("ALERT: Suspected cancer; communicated to Dr Jones, "
                                "ED registrar by telephone at 2026-11-20 09:20")


def test_each_alert_category_has_a_label() -> None:
    labels = {category: category.label for category in AlertCategory}

    assert all(label.strip() for label in labels.values())
    assert len(set(labels.values())) == len(AlertCategory)
    assert AlertCategory("safeguarding concern") is AlertCategory.SAFEGUARDING
    assert "non-accidental injury" in AlertCategory.SAFEGUARDING.label
    assert AlertCategory.CRITICAL.label == "Critical finding"


@pytest.mark.parametrize(("told", "method", "at", "message"), [
    ("  ", "telephone", OPENED_AT, "say who at the trust was told"),
    ("Dr Jones, ED registrar", "", OPENED_AT, "say how the trust was told"),
    ("Dr Jones, ED registrar", "telephone", OPENED_AT.replace(tzinfo=None), "time zone"),
])
def test_communication_needs_who_how_and_aware_time(told: str, method: str, at: datetime,
                                                    message: str) -> None:
    with pytest.raises(ReportError, match=message):
        Communication(told, method, at)


def test_addendum_needs_text_and_reason() -> None:
    report = signed(report_draft(sections=COMPLETE))
    no_text = addendum_draft(reason="Measurement revised")
    no_reason = addendum_draft(sections={"addendum": "Nodule measures 15 mm."})

    with pytest.raises(ReportError, match="the addendum has no text"):
        sign(no_text, ADDENDUM_AUTHOR, number=2)
    with pytest.raises(ReportError, match="say why the addendum is made"):
        sign(no_reason, ADDENDUM_AUTHOR, number=2)

    part = sign(no_reason.edited(reason=" Measurement revised "), ADDENDUM_AUTHOR, number=2)
    assert report.with_part(part).state is ReportState.ADDENDED
    assert part.reason == "Measurement revised"
    assert [(s.key, s.title, s.text) for s in part.sections] == [
        ("addendum", "Addendum", "Nodule measures 15 mm.")]


def test_return_needs_reason() -> None:
    returning = Draft(STUDY_UID, REPORTER.username, PartKind.RETURN, OPENED_AT)

    with pytest.raises(ReportError, match="say why the study is returned"):
        sign(returning)

    part = sign(returning.edited(reason="Wrong protocol for a staging request"))
    assert part.kind is PartKind.RETURN
    assert part.sections == ()
    assert part.sr_sop_instance_uid == ""  # no SR for a study without a result


# ---- what a signed report is --------------------------------------------------------------

def test_addendum_leaves_signed_report_unchanged() -> None:
    report = signed_report()
    original = report.original
    before = dataclasses.replace(original)

    with pytest.raises(dataclasses.FrozenInstanceError):
        original.reason = "edited"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        original.sections[0].text = "edited"  # type: ignore[misc]

    addended = report.with_part(sign(
        addendum_draft(sections={"addendum": "PET-CT booked."}, reason="Follow-up arranged"),
        ADDENDUM_AUTHOR, number=2))

    assert addended is not report
    assert report.parts == (original,)
    assert report.state is ReportState.FINAL
    assert addended.original == before
    assert addended.addenda[0].author == ADDENDUM_AUTHOR
    assert addended.up_to(1) == report


def test_report_states_draft_final_addended_returned() -> None:
    assert Report(STUDY_UID, generate_uid()).state is ReportState.DRAFT
    assert signed_report().state is ReportState.FINAL
    assert signed_report(addendum=True).state is ReportState.ADDENDED
    assert returned_report().state is ReportState.RETURNED


def test_unsigned_report_has_no_original() -> None:
    with pytest.raises(ReportError, match="has not been signed yet"):
        _ = Report(STUDY_UID, generate_uid()).original


def test_second_report_part_must_be_an_addendum() -> None:
    report = signed(report_draft(sections=COMPLETE))
    second_report = sign(report_draft(sections=COMPLETE), number=2)
    second_return = sign(Draft(STUDY_UID, REPORTER.username, PartKind.RETURN, OPENED_AT,
                               reason="Wrong patient"), number=2)

    for part in (second_report, second_return):
        with pytest.raises(ReportError, match="further text must be an addendum"):
            report.with_part(part)


def test_addendum_needs_a_signed_report_and_the_next_number() -> None:
    addendum = addendum_draft(sections={"addendum": "Text."}, reason="Reason")
    unsigned = Report(STUDY_UID, generate_uid())
    report = signed(report_draft(sections=COMPLETE))

    with pytest.raises(ReportError, match="no signed report to add an addendum to"):
        unsigned.with_part(sign(addendum, ADDENDUM_AUTHOR, number=1))
    with pytest.raises(ReportError, match="part 3 out of order; expected 2"):
        report.with_part(sign(addendum, ADDENDUM_AUTHOR, number=3))


def test_returned_study_takes_no_addendum() -> None:
    returned = returned_report()
    addendum = addendum_draft(sections={"addendum": "Text."}, reason="Reason").edited(
        study_uid=returned.study_uid)

    with pytest.raises(ReportError, match="a returned study has no report to add to"):
        returned.with_part(sign(addendum, ADDENDUM_AUTHOR, number=2))
    assert returned.state is ReportState.RETURNED


def test_only_the_author_signs_their_draft() -> None:
    alices = report_draft(sections=COMPLETE)

    with pytest.raises(ReportError, match="bob cannot sign alice's draft"):
        sign(alices, ADDENDUM_AUTHOR)
    assert sign(alices, REPORTER).author == REPORTER


def test_signing_time_needs_a_time_zone() -> None:
    with pytest.raises(ReportError, match="signing time needs a time zone"):
        report_draft(sections=COMPLETE).sign(
            author=REPORTER, number=1, signed_at=datetime(2026, 11, 20, 9, 15),
            sr_sop_instance_uid=generate_uid(), hl7_control_id="TR000001")


@pytest.mark.parametrize(("display_name", "expected"), [
    ("Dr Alice Smith", "Smith^Alice"),
    ("Prof. Mary Anne Jones", "Jones^Mary Anne"),
    ("Mrs Smith", "Smith"),
    ("SMITH^ALICE", "SMITH^ALICE"),
])
def test_person_name_drops_titles(display_name: str, expected: str) -> None:
    assert person_name(display_name) == expected


def test_reporter_is_named_family_then_given() -> None:
    assert REPORTER.person_name == "Smith^Alice"


def test_writing_time_is_open_to_sign() -> None:
    part = sign(report_draft(sections=COMPLETE), minutes=12)

    assert part.opened_at == OPENED_AT
    assert part.writing_seconds == 12 * 60
    assert signed_report().original.writing_seconds == 12 * 60
    assert signed_report().original.signed_at == SIGNED_AT
