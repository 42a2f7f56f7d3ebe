"""A study, its image header and signed reports to build messages from in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.synthetic import demo_plans, iter_instances
from reporting.model import (
    Alert,
    AlertCategory,
    Communication,
    Draft,
    PartKind,
    Report,
    Reporter,
    StudyFacts,
)
from reporting.study import study_facts

SIGNED_AT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
REPORTER = Reporter("alice", "Dr Alice Smith", "7654321")
ADDENDUM_AUTHOR = Reporter("bob", "Dr Bob Jones", "1234567")


def evidence_dataset() -> Dataset:
    """The header of the first image of the demo CT chest (no pixel data)."""
    plan = next(p for p in demo_plans() if p.kind == "CT_CHEST" and not p.is_prior)
    dataset = next(iter(iter_instances(plan)))
    del dataset.PixelData
    return dataset


def facts() -> StudyFacts:
    return study_facts(evidence_dataset())


def _draft(study_uid: str, kind: PartKind, author: str, **changes: object) -> Draft:
    draft = Draft(study_uid, author, kind, opened_at=SIGNED_AT - timedelta(minutes=12))
    return draft.edited(**changes)


def signed_report(*, alert: bool = False, addendum: bool = False) -> Report:
    study = facts()
    flagged = Alert(AlertCategory.CRITICAL, Communication(
        "Dr Jones, ED registrar", "telephone", SIGNED_AT - timedelta(minutes=2))
    ) if alert else None
    draft = _draft(study.study_uid, PartKind.REPORT, REPORTER.username, sections={
        "clinical_information": "Cough for six weeks; smoker.",
        "technique": "CT chest with intravenous contrast.",
        "comparison": "CT chest 2025-11-02.",
        "findings": "A 14 mm spiculated nodule in the right upper lobe.\nNo effusion.",
        "impression": "Suspicious right upper lobe nodule. Recommend PET-CT.",
    }, alert=flagged)
    report = Report(study.study_uid, generate_uid()).with_part(draft.sign(
        author=REPORTER, number=1, signed_at=SIGNED_AT, sr_sop_instance_uid=generate_uid(),
        hl7_control_id="TR000001"))
    if addendum:
        extra = _draft(study.study_uid, PartKind.ADDENDUM, ADDENDUM_AUTHOR.username,
                       sections={"addendum": "PET-CT booked; nodule measures 15 mm on review."},
                       reason="Measurement revised after multiplanar review")
        report = report.with_part(extra.sign(
            author=ADDENDUM_AUTHOR, number=2, signed_at=SIGNED_AT + timedelta(days=1),
            sr_sop_instance_uid=generate_uid(), hl7_control_id="TR000002"))
    return report


def returned_report() -> Report:
    study = facts()
    draft = _draft(study.study_uid, PartKind.RETURN, REPORTER.username,
                   reason="Wrong protocol: non-contrast study for a staging request")
    return Report(study.study_uid, generate_uid()).with_part(draft.sign(
        author=REPORTER, number=1, signed_at=SIGNED_AT, sr_sop_instance_uid="",
        hl7_control_id="TR000003"))
