"""The identifying header of a received instance, validated before anything is stored.

UIDs must be digits and dots, at most 64 characters (PS3.5 §9.1); any other value is
refused, so a crafted UID can never steer a file name, a command or a query. The values
the index keeps must fit their VR's length (PS3.5 Table 6.2-1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from app.errors import InvalidDicomValue
from viewer.comparison import PatientIdentity

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
MAX_UID_LENGTH = 64
# Most characters a value may hold, per VR (PS3.5 Table 6.2-1); PN per component group.
MAX_CHARACTERS = {"AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12,
                  "LO": 64, "LT": 10240, "PN": 64, "SH": 16, "ST": 1024, "TM": 14}
# The attributes the index keeps and the worklist and banners show.
INDEXED_TEXT = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                "PatientSex", "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
                "ReferringPhysicianName", "RequestedProcedurePriority", "Modality",
                "SeriesNumber", "SeriesDescription", "BodyPartExamined", "InstanceNumber",
                "ImagePositionPatient", "ImageOrientationPatient", "NumberOfFrames")


def validate_uid(value: object, keyword: str) -> str:
    """Return ``value`` as a UID string or raise InvalidDicomValue naming the attribute."""
    text = str(value or "").rstrip("\0 ")
    if not text:
        raise InvalidDicomValue(f"{keyword} is missing")
    if len(text) > MAX_UID_LENGTH or not _UID.fullmatch(text):
        shown = text[:70].encode("ascii", "backslashreplace").decode("ascii")
        raise InvalidDicomValue(
            f"{keyword} is not a valid UID (digits and dots, at most 64 characters): {shown!r}"
        )
    return text


UID_ATTRIBUTES = (("StudyInstanceUID", "Study Instance UID"),
                  ("SeriesInstanceUID", "Series Instance UID"),
                  ("SOPInstanceUID", "SOP Instance UID"), ("SOPClassUID", "SOP Class UID"))


class InstanceUids(NamedTuple):
    study: str
    series: str
    sop_instance: str
    sop_class: str


def check_uids(dataset: Dataset) -> InstanceUids:
    """The instance's own UIDs, each validated (InvalidDicomValue names a bad one)."""
    return InstanceUids(*(validate_uid(dataset.get(keyword), name)
                          for keyword, name in UID_ATTRIBUTES))


def _pieces(value: object, vr: str) -> list[str]:
    """The parts of a value whose length PS3.5 limits: each value, each PN component group."""
    values = value if isinstance(value, MultiValue | list | tuple) else [value]
    texts = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]
    return [group for text in texts for group in text.split("=")] if vr == "PN" else texts


def _limits() -> list[tuple[int, str, str, int]]:
    """(tag, keyword, VR, most characters) of each indexed attribute; the dictionary VR
    also for a value sent as UN (PS3.5 §6.2.2)."""
    return [(tag_for_keyword(keyword), keyword, dictionary_VR(keyword),
             MAX_CHARACTERS[dictionary_VR(keyword)]) for keyword in INDEXED_TEXT]


_INDEXED_LIMITS = _limits()


def check_lengths(dataset: Dataset) -> None:
    """Refuse an indexed value longer than its VR allows (PS3.5 Table 6.2-1): a worklist
    row or a banner is never fed a megabyte of text. A value still undecoded whose bytes
    fit the limit needs no decoding: no character set encodes a character in less than a
    byte."""
    for tag, keyword, vr, limit in _INDEXED_LIMITS:
        element = dataset.get_item(tag)
        if element is None or (isinstance(element, RawDataElement) and element.length <= limit):
            continue
        longest = max((len(piece) for piece in _pieces(dataset[tag].value, vr)), default=0)
        if longest > limit:
            raise InvalidDicomValue(f"{keyword} has {longest} characters, {vr} allows "
                                    f"{limit} (PS3.5 Table 6.2-1)")


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def _integer(dataset: Dataset, keyword: str) -> int | None:
    try:
        value = dataset.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _numbers(dataset: Dataset, keyword: str, count: int) -> str:
    """A multi-valued DS as text, or "" when absent or not ``count`` finite numbers."""
    try:
        values = [float(v) for v in dataset.get(keyword) or []]
    except (TypeError, ValueError):
        return ""
    if len(values) != count or not all(abs(v) < 1e9 for v in values):
        return ""
    return "\\".join(repr(v) for v in values)


@dataclass(frozen=True)
class InstanceHeader:
    """What the index keeps of an instance (patient, study, series and instance level)."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    patient_name: str
    patient_id: str
    issuer_of_patient_id: str
    nhs_number: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession: str
    study_description: str
    referring_physician: str
    priority: str  # Requested Procedure Priority: STAT, HIGH, ROUTINE, MEDIUM, LOW or ""
    modality: str
    series_number: int | None
    series_description: str
    body_part: str
    instance_number: int | None
    image_position: str  # Image Position (Patient) as "x\\y\\z", "" if absent (PS3.3 C.7.6.2)
    image_orientation: str  # Image Orientation (Patient), six values joined by "\\"
    frames: int
    rows: int
    columns: int

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> InstanceHeader:
        """Read and validate; raises InvalidDicomValue for a bad UID or an over-long value."""
        meta = getattr(dataset, "file_meta", None) or Dataset()
        uids = check_uids(dataset)
        check_lengths(dataset)
        patient = PatientIdentity.from_dataset(dataset)  # one reading of who it is
        return cls(
            study_uid=uids.study,
            series_uid=uids.series,
            sop_instance_uid=uids.sop_instance,
            sop_class_uid=uids.sop_class,
            transfer_syntax_uid=validate_uid(
                meta.get("TransferSyntaxUID"), "Transfer Syntax UID"
            ),
            patient_name=patient.name,
            patient_id=patient.patient_id,
            issuer_of_patient_id=patient.issuer,
            nhs_number=patient.nhs_number,
            birth_date=patient.birth_date,
            sex=patient.sex,
            study_date=_text(dataset, "StudyDate"),
            study_time=_text(dataset, "StudyTime"),
            accession=_text(dataset, "AccessionNumber"),
            study_description=_text(dataset, "StudyDescription"),
            referring_physician=_text(dataset, "ReferringPhysicianName"),
            priority=_text(dataset, "RequestedProcedurePriority").upper(),
            modality=_text(dataset, "Modality"),
            series_number=_integer(dataset, "SeriesNumber"),
            series_description=_text(dataset, "SeriesDescription"),
            body_part=_text(dataset, "BodyPartExamined"),
            instance_number=_integer(dataset, "InstanceNumber"),
            image_position=_numbers(dataset, "ImagePositionPatient", 3),
            image_orientation=_numbers(dataset, "ImageOrientationPatient", 6),
            frames=_integer(dataset, "NumberOfFrames") or 1,
            rows=_integer(dataset, "Rows") or 0,
            columns=_integer(dataset, "Columns") or 0,
        )
