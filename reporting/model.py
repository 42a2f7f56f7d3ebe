"""The report: draft ▸ final (signed) ▸ addended, or returned to the referrer.

A signed part never changes; an addendum is a new dated part with its own author, reason
and signature, delivered as its own message (STANDARDS §4, RCR 2016: "the original is
never altered"). Alerts follow the Academy/RCR 2022 categories plus a safeguarding
concern; a flagged report cannot be signed until the reporter records who at the trust
was told, how and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class ReportError(ValueError):
    """A report cannot be signed or changed as asked; the message says what to fix."""


class AlertCategory(StrEnum):
    """Fail-safe alert categories (Academy/RCR 2022) and a safeguarding concern."""

    CRITICAL = "critical"
    URGENT = "urgent"
    SIGNIFICANT_UNEXPECTED = "significant unexpected"
    CANCER = "cancer"
    SAFEGUARDING = "safeguarding concern"

    @property
    def label(self) -> str:
        return {
            AlertCategory.CRITICAL: "Critical finding",
            AlertCategory.URGENT: "Urgent finding",
            AlertCategory.SIGNIFICANT_UNEXPECTED: "Significant unexpected finding",
            AlertCategory.CANCER: "Suspected cancer",
            AlertCategory.SAFEGUARDING: "Safeguarding concern (suspected non-accidental injury)",
        }[self]


class PartKind(StrEnum):
    REPORT = "report"
    ADDENDUM = "addendum"
    RETURN = "return"  # returned to the referrer: no result (OBR-25 X)


class ReportState(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    ADDENDED = "addended"
    RETURNED = "returned"


# TID 2000 sections (PS3.16), in report order: key -> heading shown and sent.
SECTIONS: dict[str, str] = {
    "clinical_information": "Clinical information",
    "technique": "Technique",
    "comparison": "Comparison",
    "findings": "Findings",
    "impression": "Impression and recommendation",
}
REQUIRED_SECTIONS = ("findings", "impression")


@dataclass(frozen=True)
class Communication:
    """Who at the trust was told of a flagged finding, how and when (RCR fail-safe)."""

    told: str  # name and role, e.g. "Dr Jones, ED registrar"
    method: str  # e.g. "telephone", "in person", "secure email"
    at: datetime

    def __post_init__(self) -> None:
        if not self.told.strip():
            raise ReportError("say who at the trust was told of the alert")
        if not self.method.strip():
            raise ReportError("say how the trust was told of the alert (e.g. telephone)")
        if self.at.tzinfo is None:
            raise ReportError("the time the trust was told needs a time zone")

    @property
    def shown(self) -> str:
        return f"{self.told} by {self.method} at {self.at.strftime('%Y-%m-%d %H:%M')}"


@dataclass(frozen=True)
class Alert:
    category: AlertCategory
    communication: Communication | None = None

    @property
    def shown(self) -> str:
        told = f"; communicated to {self.communication.shown}" if self.communication else ""
        return f"ALERT: {self.category.label}{told}"


@dataclass(frozen=True)
class Reporter:
    """The signing radiologist as the messages name them (OBR-32, Verifying Observer)."""

    username: str
    display_name: str
    gmc_number: str = ""

    @property
    def person_name(self) -> str:
        """DICOM PN / HL7 XCN family^given from a display name like 'Dr Alice Smith'."""
        return person_name(self.display_name)


TITLES = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "miss"})


def person_name(display_name: str) -> str:
    if "^" in display_name:
        return display_name
    words = [w for w in display_name.split() if w.lower().rstrip(".") not in TITLES]
    if not words:
        return display_name.strip()
    if len(words) == 1:
        return words[0]
    return f"{words[-1]}^{' '.join(words[:-1])}"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    text: str


@dataclass(frozen=True)
class SignedPart:
    """One signed, immutable part of a report: the report itself, an addendum or a return."""

    number: int  # 1 = the report (or return); 2.. = addenda in order
    kind: PartKind
    author: Reporter
    sections: tuple[Section, ...]  # report: TID 2000 sections; addendum: one "Addendum"
    reason: str  # addendum reason, or why the study was returned; "" for a report
    alert: Alert | None
    opened_at: datetime
    signed_at: datetime
    sr_sop_instance_uid: str  # "" for a return (no SR for a study without a result)
    hl7_control_id: str  # MSH-10, fixed at signing so a resend is recognisable

    @property
    def writing_seconds(self) -> float:
        return (self.signed_at - self.opened_at).total_seconds()


@dataclass(frozen=True)
class Report:
    """All signed parts of one study's report, oldest first."""

    study_uid: str
    sr_series_uid: str  # one new series holds the report SR and its addenda
    parts: tuple[SignedPart, ...] = ()

    @property
    def state(self) -> ReportState:
        if not self.parts:
            return ReportState.DRAFT
        if self.parts[0].kind is PartKind.RETURN:
            return ReportState.RETURNED
        return ReportState.ADDENDED if len(self.parts) > 1 else ReportState.FINAL

    @property
    def original(self) -> SignedPart:
        if not self.parts:
            raise ReportError("the report has not been signed yet")
        return self.parts[0]

    @property
    def addenda(self) -> tuple[SignedPart, ...]:
        return self.parts[1:]

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(part.alert for part in self.parts if part.alert)

    def up_to(self, number: int) -> Report:
        """The report as it stood when part ``number`` was signed (what that message says)."""
        return replace(self, parts=tuple(p for p in self.parts if p.number <= number))

    def with_part(self, part: SignedPart) -> Report:
        expected = len(self.parts) + 1
        if part.number != expected:
            raise ReportError(f"part {part.number} out of order; expected {expected}")
        if self.state is ReportState.RETURNED:
            raise ReportError("a returned study has no report to add to")
        if self.parts and part.kind is not PartKind.ADDENDUM:
            raise ReportError("the report is signed; further text must be an addendum")
        if not self.parts and part.kind is PartKind.ADDENDUM:
            raise ReportError("there is no signed report to add an addendum to")
        return replace(self, parts=(*self.parts, part))


def only_headings(text: str) -> bool:
    """True when every non-empty line is a bare template heading such as "Pleura:"."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(line.endswith(":") for line in lines)


@dataclass(frozen=True)
class Draft:
    """Text being written: the report, an addendum or a return, autosaved until signed."""

    study_uid: str
    author: str  # username
    kind: PartKind
    opened_at: datetime
    sections: dict[str, str] = field(default_factory=dict)  # section key -> text
    reason: str = ""
    alert: Alert | None = None

    def edited(self, **changes: object) -> Draft:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check_signable(self) -> None:
        """Raise ReportError naming the first thing that stops signing."""
        if self.kind is PartKind.REPORT:
            for key in REQUIRED_SECTIONS:
                if not self.sections.get(key, "").strip():
                    raise ReportError(f"{SECTIONS[key]} is empty")
                if only_headings(self.sections[key]):
                    raise ReportError(f"{SECTIONS[key]} holds only the template's headings")
        elif self.kind is PartKind.ADDENDUM:
            if not self.sections.get("addendum", "").strip():
                raise ReportError("the addendum has no text")
            if not self.reason.strip():
                raise ReportError("say why the addendum is made")
        elif not self.reason.strip():
            raise ReportError("say why the study is returned to the referrer")
        if self.alert and self.alert.communication is None:
            raise ReportError(
                f"{self.alert.category.label}: record who at the trust was told, how and "
                "when before signing")

    def signed_sections(self) -> tuple[Section, ...]:
        if self.kind is PartKind.ADDENDUM:
            return (Section("addendum", "Addendum", self.sections.get("addendum", "").strip()),)
        if self.kind is PartKind.RETURN:
            return ()
        return tuple(Section(key, title, self.sections.get(key, "").strip())
                     for key, title in SECTIONS.items() if self.sections.get(key, "").strip())

    def sign(self, *, author: Reporter, number: int, signed_at: datetime,
             sr_sop_instance_uid: str, hl7_control_id: str) -> SignedPart:
        if author.username != self.author:
            raise ReportError(f"{author.username} cannot sign {self.author}'s draft")
        if signed_at.tzinfo is None:
            raise ReportError("the signing time needs a time zone")
        self.check_signable()
        return SignedPart(
            number=number, kind=self.kind, author=author, sections=self.signed_sections(),
            reason=self.reason.strip(), alert=self.alert, opened_at=self.opened_at,
            signed_at=signed_at,
            sr_sop_instance_uid="" if self.kind is PartKind.RETURN else sr_sop_instance_uid,
            hl7_control_id=hl7_control_id)


@dataclass(frozen=True)
class StudyFacts:
    """What the messages say about the study, read from one of its images (PS3.3 C.7)."""

    study_uid: str
    accession: str
    patient_name: str  # DICOM PN, e.g. DOE^JANE
    patient_id: str
    issuer_of_patient_id: str
    nhs_number: str
    birth_date: str  # YYYYMMDD or ""
    sex: str  # M, F, O or ""
    study_date: str
    study_time: str
    description: str
    modality: str
    procedure_code: str  # exam code (Procedure Code Sequence), "" when absent
    referring_physician: str
    placer_order: str = ""  # Placer Order Number / Imaging Service Request, if sent
