"""The signed report as a DICOM Enhanced SR (PS3.3 A.35.2), content per TID 2000 (PS3.16).

One SR instance per signed part, all in the report's own new series of the imaged study
(IHE SINR; STANDARDS §4). An addendum is a new, complete SR: the original sections
unchanged, then every addendum so far, with the earlier parts' SRs in the Predecessor
Documents Sequence (PS3.3 C.17.2.1). Built from the signed parts alone, so the same inputs
give the same bytes (no clock is read here). Dates and times are written on the clock of
the signing time as recorded (aware, usually the reporter's local time); date-times (DT)
carry its UTC offset.

Content tree (TID 2000 "Basic Diagnostic Imaging Report"):

- root CONTAINER (18748-4, LN, "Diagnostic Imaging Report") from CID 7000;
- HAS CONCEPT MOD language (TID 1204), HAS OBS CONTEXT the reporter (TID 1001-1003);
- a CONTAINER per section with a CID 7001 heading holding one TEXT item (TID 2002) with a
  CID 7002 element name; see ``SECTION_CODES``. CID 7001 now lists LOINC headings only:
  Findings is (59776-5, LN), not the retired (121070, DCM);
- an alert becomes the first heading, (73568-8, LN, "Communication of Critical Results"),
  whose TEXT items are (121291, DCM, "Results communicated"): the alert as shown, with
  who at the trust was told, how and when (RCR fail-safe alerts);
- each addendum is an (55107-7, LN, "Addendum") heading carrying its own author as
  observer context (TID 2000 row 9), its signing time as Observation DateTime
  (PS3.3 C.17.3.2) and one TEXT item (55107-7) opening with the date, author and reason.
"""

from __future__ import annotations

import io
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime

from highdicom.sr import (
    CodedConcept,
    ContainerContentItem,
    ContentSequence,
    EnhancedSR,
    LanguageOfContentItemAndDescendants,
    ObservationContext,
    ObserverContext,
    PersonObserverIdentifyingAttributes,
    RelationshipTypeValues,
    TextContentItem,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import EnhancedSRStorage, ExplicitVRLittleEndian
from pydicom.valuerep import DA, DT, TM

from app import __version__
from reporting.model import PartKind, Report, ReportError, SignedPart

DOCUMENT_TITLE = Code("18748-4", "LN", "Diagnostic Imaging Report")  # CID 7000
LANGUAGE = CodedConcept("en-GB", "RFC5646", "English (United Kingdom)")  # CID 5000
# Section key (reporting.model.SECTIONS) -> (CID 7001 heading, CID 7002 TEXT element).
SECTION_CODES: dict[str, tuple[Code, Code]] = {
    "clinical_information": (codes.LN.ClinicalInformation, codes.LN.History),
    "technique": (codes.LN.CurrentProcedureDescriptions, codes.DCM.ProcedureDescription),
    "comparison": (codes.LN.PriorProcedureDescriptions, codes.DCM.ProcedureDescription),
    "findings": (codes.LN.Findings, codes.DCM.Finding),
    "impression": (codes.LN.Impressions, codes.DCM.Impression),
}
ALERT_HEADING = codes.LN.CommunicationOfCriticalResults  # (73568-8, LN), CID 7001
ALERT_ELEMENT = codes.DCM.ResultsCommunicated  # (121291, DCM)
ADDENDUM_HEADING = codes.LN.Addendum  # (55107-7, LN), CID 7001
CONTAINS = RelationshipTypeValues.CONTAINS
SERIES_DESCRIPTION = "Radiology report"
LONG_STRING_MAX = 64


@dataclass(frozen=True)
class SrContext:
    """Who issues the SR and on which equipment (PS3.3 C.7.5.1, C.17.2).

    organisation: Verifying Organization (0040,A027) and the reporter's organisation in
        the observer context, e.g. the teleradiology company.
    institution_name: Institution Name (0008,0080) of the equipment that made the SR
        (Type 3: left out when empty).
    manufacturer / software_version / device_serial_number: General Equipment module.
    series_number: Series Number of the report series (one series per report).
    """

    organisation: str
    institution_name: str
    manufacturer: str = "telerad"
    software_version: str = __version__
    series_number: int = 9901
    device_serial_number: str = ""

    def __post_init__(self) -> None:
        if not self.organisation.strip():
            raise ReportError("SrContext.organisation (Verifying Organization) is empty")
        for name in ("organisation", "institution_name", "manufacturer", "software_version",
                     "device_serial_number"):
            if len(getattr(self, name)) > LONG_STRING_MAX:  # all are LO (PS3.5 6.2)
                raise ReportError(f"SrContext.{name} is longer than {LONG_STRING_MAX} "
                                  "characters, the most DICOM allows (LO)")
        if self.series_number < 1:
            raise ReportError(f"SrContext.series_number must be positive, not "
                              f"{self.series_number}")


def build_sr(report: Report, part_number: int, evidence: Dataset,
             context: SrContext) -> Dataset:
    """The Enhanced SR for signed part ``part_number`` as it stood when that part was signed.

    ``evidence`` is an image header of the study: Patient and Study modules are copied from
    it (PS3.3 A.35.2) and it is the Current Requested Procedure Evidence (C.17.2.3).
    """
    report = report.up_to(part_number)
    part = _signed_part(report, part_number)
    _check_same_study(report, evidence)
    try:
        sr = _enhanced_sr(report, part, evidence, context)
    except ValueError as exc:  # highdicom refuses what the standard does not allow
        raise ReportError(f"the SR for part {part_number} cannot be built: {exc}") from exc
    _pin_creation_times(sr, part.signed_at)
    return sr


def _enhanced_sr(report: Report, part: SignedPart, evidence: Dataset,
                 context: SrContext) -> EnhancedSR:
    """highdicom's Enhanced SR with the SR Document General module filled (C.17.2)."""
    signed_at, series_started = part.signed_at, report.original.signed_at
    return EnhancedSR(
        evidence=[evidence], content=_content(report, context),
        series_instance_uid=report.sr_series_uid, series_number=context.series_number,
        sop_instance_uid=part.sr_sop_instance_uid, instance_number=part.number,
        manufacturer=context.manufacturer, institution_name=context.institution_name or None,
        is_complete=True, is_final=True, is_verified=True,
        verifying_observer_name=_person_name(part.author.person_name),
        verifying_organization=context.organisation,
        performed_procedure_codes=_performed_procedures(evidence),
        requested_procedures=[_referenced_request(evidence)],
        previous_versions=_predecessors(report, part.number) or None,
        software_versions=context.software_version,
        device_serial_number=context.device_serial_number or None,
        series_description=SERIES_DESCRIPTION,
        content_date=signed_at.date(), content_time=signed_at.time(),
        series_date=series_started.date(), series_time=series_started.time(),
        specific_character_set="ISO_IR 192",  # UTF-8: report text is free text
    )


def sr_file_bytes(dataset: Dataset) -> bytes:
    """PS3.10 file bytes: File Meta Information, then the data set in Explicit VR Little
    Endian, as a C-STORE or a DICOMweb STOW sends it. Sets ``dataset.file_meta`` to match."""
    meta = FileMetaDataset(getattr(dataset, "file_meta", FileMetaDataset()))
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _signed_part(report: Report, part_number: int) -> SignedPart:
    part = next((p for p in report.parts if p.number == part_number), None)
    if part is None:
        raise ReportError(f"the report has no signed part {part_number}")
    if part.kind is PartKind.RETURN or report.original.kind is PartKind.RETURN:
        raise ReportError("a study returned to the referrer has no report, so no SR")
    if not part.sr_sop_instance_uid:
        raise ReportError(f"part {part_number} has no SR SOP Instance UID")
    return part


def _check_same_study(report: Report, evidence: Dataset) -> None:
    study_uid = str(evidence.get("StudyInstanceUID", ""))
    if study_uid != report.study_uid:
        raise ReportError(
            f"the image header belongs to study {study_uid or '(none)'}, the report to "
            f"study {report.study_uid}: the SR would name the wrong study")


def _person_name(name: str) -> str:
    """A PN value; a lone family name keeps a trailing ``^`` so it is unambiguous (PS3.5
    6.2.1.1)."""
    return name if "^" in name else f"{name}^"


def _pin_creation_times(sr: Dataset, signed_at: datetime) -> None:
    """Replace the build-time clock readings highdicom writes with the signing time, so a
    resend is byte-identical: Instance Creation (C.12.1), Verification DateTime (C.17.2)
    and Contribution DateTime (Contributing Equipment, C.12.1)."""
    sr.InstanceCreationDate = DA(signed_at.date())
    sr.InstanceCreationTime = TM(signed_at.time())
    sr.VerifyingObserverSequence[0].VerificationDateTime = DT(signed_at)
    for equipment in sr.get("ContributingEquipmentSequence") or []:
        if "ContributionDateTime" in equipment:
            equipment.ContributionDateTime = DT(signed_at)


def _content(report: Report, context: SrContext) -> ContainerContentItem:
    """The TID 2000 root container: language, observer, alert, sections, addenda."""
    root = ContainerContentItem(DOCUMENT_TITLE, is_content_continuous=False,
                                template_id="2000")
    items = ContentSequence()
    items.extend(LanguageOfContentItemAndDescendants(LANGUAGE))
    items.extend(_observation_context(report.original, context))
    if report.alerts:
        items.append(_section(ALERT_HEADING, ALERT_ELEMENT,
                              [alert.shown for alert in report.alerts]))
    for section in report.original.sections:
        heading, element = SECTION_CODES[section.key]
        items.append(_section(heading, element, [section.text]))
    for addendum in report.addenda:
        items.append(_addendum_section(addendum, context))
    root.ContentSequence = items
    return root


def _observation_context(part: SignedPart, context: SrContext) -> ObservationContext:
    """TID 1001/1002/1003: the person who wrote and signed ``part``."""
    person = PersonObserverIdentifyingAttributes(
        name=_person_name(part.author.person_name), organization_name=context.organisation)
    return ObservationContext(observer_person_context=ObserverContext(
        observer_type=codes.DCM.Person, observer_identifying_attributes=person))


def _section(heading: Code, element: Code, texts: list[str]) -> ContainerContentItem:
    """A TID 2000 row 8 heading holding TID 2002 TEXT items."""
    container = ContainerContentItem(heading, is_content_continuous=False,
                                     relationship_type=CONTAINS)
    container.ContentSequence = ContentSequence(
        [TextContentItem(element, text, relationship_type=CONTAINS) for text in texts])
    return container


def _addendum_section(part: SignedPart, context: SrContext) -> ContainerContentItem:
    """An addendum heading: its own author (row 9), its signing time, date/author/reason."""
    signed = part.signed_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    lines = [f"Addendum {signed} by {part.author.display_name}. Reason: {part.reason}"]
    lines += [section.text for section in part.sections]
    container = _section(ADDENDUM_HEADING, ADDENDUM_HEADING, ["\n".join(lines)])
    container.ObservationDateTime = DT(part.signed_at)
    observer = _observation_context(part, context)
    container.ContentSequence = ContentSequence([*observer, *container.ContentSequence])
    return container


def _performed_procedures(evidence: Dataset) -> list[CodedConcept]:
    """Performed Procedure Code Sequence (C.17.2) from the images' Procedure Code Sequence."""
    return [CodedConcept.from_dataset(item) for item in evidence.get("ProcedureCodeSequence")
            or [] if item.get("CodeValue")]


def _referenced_request(evidence: Dataset) -> Dataset:
    """One Referenced Request Sequence item (PS3.3 C.17.2, Table C.17-3): the order the
    report answers, identified by its accession number."""
    requested = (evidence.get("RequestAttributesSequence") or [evidence])[0]
    item = Dataset()
    item.StudyInstanceUID = evidence.StudyInstanceUID
    item.ReferencedStudySequence = []
    item.AccessionNumber = evidence.get("AccessionNumber", "")
    if "IssuerOfAccessionNumberSequence" in evidence:
        item.IssuerOfAccessionNumberSequence = deepcopy(evidence.IssuerOfAccessionNumberSequence)
    item.PlacerOrderNumberImagingServiceRequest = _first(
        "PlacerOrderNumberImagingServiceRequest", requested, evidence)
    item.FillerOrderNumberImagingServiceRequest = _first(
        "FillerOrderNumberImagingServiceRequest", requested, evidence)
    item.RequestedProcedureID = _first("RequestedProcedureID", requested, evidence)
    item.RequestedProcedureDescription = _first(
        "RequestedProcedureDescription", requested, evidence)
    item.RequestedProcedureCodeSequence = deepcopy(
        requested.get("RequestedProcedureCodeSequence")
        or evidence.get("RequestedProcedureCodeSequence") or [])
    reason = _first("ReasonForTheRequestedProcedure", requested, evidence)
    if reason:
        item.ReasonForTheRequestedProcedure = reason
    return item


def _first(keyword: str, *datasets: Dataset) -> str:
    """The first non-empty value of ``keyword`` among ``datasets``, or ""."""
    for dataset in datasets:
        value = dataset.get(keyword)
        if value:
            return str(value)
    return ""


def _predecessors(report: Report, part_number: int) -> list[Dataset]:
    """Minimal headers of the SRs of every earlier part, for Predecessor Documents
    Sequence (C.17.2.1): what highdicom's ``previous_versions`` reads."""
    earlier = []
    for part in report.parts:
        if part.number < part_number and part.sr_sop_instance_uid:
            reference = Dataset()
            reference.StudyInstanceUID = report.study_uid
            reference.SeriesInstanceUID = report.sr_series_uid
            reference.SOPInstanceUID = part.sr_sop_instance_uid
            reference.SOPClassUID = EnhancedSRStorage
            earlier.append(reference)
    return earlier


__all__ = ["SrContext", "build_sr", "sr_file_bytes"]
