"""The reporting desk: prefilled drafts, signing with a one-time code, access, addenda."""

from __future__ import annotations

import pytest

from app.access import AccessDenied
from app.audit import EventId
from app.auth import AuthError
from app.config import Peer
from app.workstation import Workstation
from reporting.model import (
    Alert,
    AlertCategory,
    Communication,
    PartKind,
    ReportError,
    ReportState,
)
from reporting.outbox import DeliveryStatus
from tests.report_desk import Desk, later, open_desk


@pytest.fixture
def desk(workstation: Workstation) -> Desk:
    return open_desk(workstation)


def _written(desk: Desk, **changes: object):
    draft = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(1))
    sections = dict(draft.sections, findings="Spiculated RUL nodule, 14 mm.",
                    impression="Suspicious nodule; PET-CT advised.")
    return draft.edited(sections=sections, **changes)


def _send_everywhere(workstation: Workstation) -> None:
    settings = workstation.settings.with_peers((Peer("TRUSTPACS", "127.0.0.1", 104, "pacs"),))
    workstation.save_settings(settings.with_value("ris.host", "127.0.0.1"))


def test_new_draft_starts_from_the_template_request_and_prior(desk: Desk) -> None:
    prior = next(s for s in desk.desk.access.list_studies() if s.study_uid == desk.prior_uid)
    draft = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(1), prior=prior)
    assert "Lungs and airways:" in draft.sections["findings"]  # the CT chest template
    assert draft.sections["clinical_information"]  # the request's reason travels in
    assert prior.description in draft.sections["comparison"]
    assert prior.accession in draft.sections["comparison"]


def test_autosaved_draft_is_what_reopening_shows(desk: Desk) -> None:
    draft = _written(desk)
    desk.desk.save_draft(draft, now=later(2))
    reopened = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(30))
    assert reopened.sections == draft.sections
    assert reopened.opened_at == draft.opened_at  # writing time counts from first opening


def test_signing_needs_the_current_one_time_code(desk: Desk) -> None:
    with pytest.raises(AuthError):
        desk.desk.sign(_written(desk), "000000", now=later(3))
    assert desk.desk.report(desk.study_uid).state is ReportState.DRAFT


def test_signed_report_is_final_audited_and_queued_for_pacs_and_ris(desk: Desk) -> None:
    _send_everywhere(desk.workstation)
    report = desk.desk.sign(_written(desk), desk.code(later(3)), now=later(3))
    assert report.state is ReportState.FINAL
    assert report.original.author.gmc_number == "7654321"
    assert report.original.writing_seconds == pytest.approx(120)
    entries = desk.desk.outbox.entries(study_uid=desk.study_uid)
    assert sorted(e.destination for e in entries) == ["pacs:TRUSTPACS", "ris"]
    assert all(e.status is DeliveryStatus.QUEUED for e in entries)
    signed = [e for e in desk.workstation.audit.events()
              if e["event_id"] == EventId.PATIENT_RECORD]
    assert signed and signed[-1]["actor"] == "alice"


def test_a_replayed_code_cannot_sign_twice(desk: Desk) -> None:
    code = desk.code(later(3))
    desk.desk.sign(_written(desk), code, now=later(3))
    addendum = desk.desk.open_draft(desk.study_uid, PartKind.ADDENDUM, now=later(3.2)).edited(
        sections={"addendum": "Also a small effusion."}, reason="Missed on first read")
    with pytest.raises(AuthError):
        desk.desk.sign(addendum, code, now=later(3.3))


def test_flagged_report_waits_for_the_communication_record(desk: Desk) -> None:
    flagged = _written(desk, alert=Alert(AlertCategory.SAFEGUARDING))
    with pytest.raises(ReportError, match="who at the trust was told"):
        desk.desk.sign(flagged, desk.code(later(3)), now=later(3))
    told = Alert(AlertCategory.SAFEGUARDING, Communication(
        "Named nurse for safeguarding", "telephone", later(2)))
    report = desk.desk.sign(flagged.edited(alert=told), desk.code(later(3)), now=later(3))
    assert report.alerts == (told,)
    assert desk.desk.statuses()[desk.study_uid].alert == "safeguarding concern"


def test_addendum_is_a_new_part_and_leaves_the_report_unchanged(desk: Desk) -> None:
    _send_everywhere(desk.workstation)
    original = desk.desk.sign(_written(desk), desk.code(later(3)), now=later(3)).original
    addendum = desk.desk.open_draft(desk.study_uid, PartKind.ADDENDUM, now=later(60)).edited(
        sections={"addendum": "Also a small effusion."}, reason="Missed on first read")
    report = desk.desk.sign(addendum, desk.code(later(61)), now=later(61))
    assert report.state is ReportState.ADDENDED
    assert report.original == original
    assert report.parts[1].reason == "Missed on first read"
    parts = {e.part_number for e in desk.desk.outbox.entries(study_uid=desk.study_uid)}
    assert parts == {1, 2}


def test_return_to_referrer_leaves_only_a_message_for_the_ris(desk: Desk) -> None:
    _send_everywhere(desk.workstation)
    draft = desk.desk.open_draft(desk.study_uid, PartKind.RETURN, now=later(1)).edited(
        reason="Non-contrast study for a staging request")
    report = desk.desk.sign(draft, desk.code(later(3)), now=later(3))
    assert report.state is ReportState.RETURNED
    entries = desk.desk.outbox.entries(study_uid=desk.study_uid)
    assert [e.destination for e in entries] == ["ris"]  # no SR for a study without a result


def test_another_reporter_cannot_draft_or_read_the_report(desk: Desk) -> None:
    desk.desk.sign(_written(desk), desk.code(later(3)), now=later(3))
    bob = desk.desk_for("bob")
    with pytest.raises(AccessDenied):
        bob.open_draft(desk.study_uid, PartKind.ADDENDUM, now=later(4))
    with pytest.raises(AccessDenied):
        bob.report(desk.study_uid)
    alerts = [e for e in desk.workstation.audit.events()
              if e["event_id"] == EventId.SECURITY_ALERT and e["actor"] == "bob"]
    assert len(alerts) == 2


def test_an_it_auditor_cannot_report(desk: Desk) -> None:
    with pytest.raises(AccessDenied):
        desk.desk_for("carol", "it-auditor").open_draft(desk.study_uid, PartKind.REPORT,
                                                        now=later(1))
