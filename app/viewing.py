"""Wires the viewer to the store and the audit trail (viewer never imports app).

Opening a study is audited as DICOM Instances Accessed (110103); a prior refused by the
identity check as a Security Alert (110113), and so is a partly matching prior shown on
the reporter's stated reason (PS3.15 A.5.3, STANDARDS §3 and §7).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pydicom.dataset import Dataset

from app.access import StudyAccess
from app.audit import AuditEvent, AuditTrail, EventId, Outcome
from app.store import StudySummary
from viewer.comparison import ComparisonLayout, LayoutPolicy, PatientIdentity, StudyInfo
from viewer.comparison import propose_priors as rank_priors
from viewer.series import InstanceRef, SeriesChoice


def study_info(summary: StudySummary) -> StudyInfo:
    """The viewer's view of a worklist row."""
    identity = PatientIdentity(
        patient_id=summary.patient_id, issuer=summary.issuer_of_patient_id,
        nhs_number=summary.nhs_number, name=summary.patient_name,
        birth_date=summary.birth_date, sex=summary.sex,
    )
    return StudyInfo(summary.study_uid, identity, summary.study_date, summary.modalities,
                     summary.body_parts, summary.description)


@dataclass
class StoreStudyReader:
    """The viewer's StudyReader over the encrypted store, as the signed-in user may see it."""

    access: StudyAccess

    def series_of(self, study_uid: str) -> list[SeriesChoice]:
        refs: dict[str, list[InstanceRef]] = defaultdict(list)
        for instance in self.access.list_instances(study_uid):
            refs[instance.series_uid].append(InstanceRef(
                instance.sop_instance_uid, instance.instance_number, instance.image_position,
                instance.image_orientation, instance.frames))
        return [
            SeriesChoice(series.series_uid, series.series_number, series.modality,
                         series.description, tuple(refs[series.series_uid]))
            for series in self.access.list_series(study_uid) if refs[series.series_uid]
        ]

    def open_instance(self, sop_instance_uid: str) -> Dataset:
        return self.access.open_instance(sop_instance_uid)


@dataclass
class AuditedComparison:
    """ComparisonAudit that writes to the hash-chained audit trail."""

    audit: AuditTrail
    actor: str

    def prior_refused(self, current_study_uid: str, prior_study_uid: str, message: str) -> None:
        self.audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "E", self.actor, Outcome.SERIOUS_FAILURE,
            objects=(("study", current_study_uid), ("study", prior_study_uid)),
            # the message names the patients; the trail refers to them only by study UID
            detail="prior refused by the identity check: a different patient",
        ))

    def prior_shown_despite_mismatch(self, current_study_uid: str, prior_study_uid: str,
                                     message: str, reason: str) -> None:
        self.audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "E", self.actor, Outcome.MINOR_FAILURE,
            objects=(("study", current_study_uid), ("study", prior_study_uid)),
            detail=f"prior shown despite an identity mismatch; reason given: {reason}",
        ))


@dataclass(frozen=True)
class OpenedStudy:
    layout: ComparisonLayout
    priors: list[StudyInfo]  # proposed: same patient, most relevant first
    others: list[StudyInfo]  # every other study the reporter may open, unranked


def open_study(access: StudyAccess, study_uid: str, *,
               current_side: str = "left") -> OpenedStudy:
    """Everything a comparison window needs; records the access (110103). Priors are
    offered only from what the same user may see."""
    studies = {s.study_uid: study_info(s) for s in access.list_studies()}
    if study_uid not in studies:
        access.list_instances(study_uid)  # refused and audited if it is someone else's
        raise KeyError(f"study {study_uid} is not in {access.user}'s worklist")
    current = studies.pop(study_uid)
    access.audit.record(AuditEvent(EventId.INSTANCES_ACCESSED, "R", access.user,
                                   objects=(("study", study_uid),),
                                   detail="opened for reporting"))
    layout = ComparisonLayout(current, AuditedComparison(access.audit, access.user),
                              LayoutPolicy(current_side))
    priors = rank_priors(current, list(studies.values()))
    proposed = {p.study_uid for p in priors}
    others = [s for uid, s in studies.items() if uid not in proposed]
    return OpenedStudy(layout, priors, others)
