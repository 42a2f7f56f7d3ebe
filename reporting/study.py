"""What a report's messages say about its study, read from one of the study's images."""

from __future__ import annotations

from pydicom.dataset import Dataset

from reporting.model import StudyFacts
from viewer.comparison import nhs_number


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def _first_code(dataset: Dataset) -> str:
    """The exam code: Procedure Code Sequence (PS3.3 C.7.2.1), else the requested one."""
    for keyword in ("ProcedureCodeSequence", "RequestedProcedureCodeSequence"):
        for item in dataset.get(keyword) or []:
            if _text(item, "CodeValue"):
                return _text(item, "CodeValue")
    return ""


def _placer_order(dataset: Dataset) -> str:
    for item in dataset.get("RequestAttributesSequence") or []:
        if _text(item, "PlacerOrderNumberImagingServiceRequest"):
            return _text(item, "PlacerOrderNumberImagingServiceRequest")
    return _text(dataset, "PlacerOrderNumberImagingServiceRequest")


def study_facts(dataset: Dataset) -> StudyFacts:
    """Patient, study and request facts from an image header (PS3.3 C.7.1.1, C.7.2.1)."""
    return StudyFacts(
        study_uid=_text(dataset, "StudyInstanceUID"),
        accession=_text(dataset, "AccessionNumber"),
        patient_name=_text(dataset, "PatientName"),
        patient_id=_text(dataset, "PatientID"),
        issuer_of_patient_id=_text(dataset, "IssuerOfPatientID"),
        nhs_number=nhs_number(dataset),
        birth_date=_text(dataset, "PatientBirthDate"),
        sex=_text(dataset, "PatientSex"),
        study_date=_text(dataset, "StudyDate"),
        study_time=_text(dataset, "StudyTime"),
        description=_text(dataset, "StudyDescription"),
        modality=_text(dataset, "Modality"),
        procedure_code=_first_code(dataset),
        referring_physician=_text(dataset, "ReferringPhysicianName"),
        placer_order=_placer_order(dataset),
    )


def request_reason(dataset: Dataset) -> str:
    """Clinical information the request carried (Request Attributes, C.7.3.1; C.4.11)."""
    reasons = [_text(item, "ReasonForTheRequestedProcedure")
               for item in dataset.get("RequestAttributesSequence") or []]
    reasons += [_text(dataset, k) for k in ("ReasonForTheRequestedProcedure",
                                            "AdditionalPatientHistory")]
    seen: list[str] = []
    for reason in reasons:
        if reason and reason not in seen:
            seen.append(reason)
    return "\n".join(seen)
