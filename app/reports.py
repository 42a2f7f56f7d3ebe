"""The reporting desk: drafts, signing and returns for the signed-in reporter.

Wires reporting/ to the store (report text sealed with the study key), the access rules
(only the assigned reporter reports), the one-time code check before signing (issue of
login: signing re-asks for the code), the outbox and the audit trail (Patient Record
110110 for each signed part, PS3.15 A.5.3.9).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pydicom
from pydicom.dataset import Dataset

from app.access import StudyAccess
from app.audit import AuditEvent, EventId
from app.delivery import PACS_PREFIX, RIS, destinations, outbox_of
from app.display_qa import DisplayQa
from app.store import StudySummary
from app.users import UserDirectory
from app.workstation import Workstation
from reporting.hl7 import Hl7Endpoints, build_oru
from reporting.model import Draft, PartKind, Report, Reporter, SignedPart
from reporting.outbox import OutgoingMessage
from reporting.records import MacroBook, ReportBook, ReportStatus
from reporting.sr import SrContext, build_sr, sr_file_bytes
from reporting.study import request_reason, study_facts
from reporting.templates import choose_template, load_templates, prefilled_sections
from viewer.overlay_text import dicom_date

CodeCheck = Callable[[str, str, datetime], None]  # (username, code, now); raises if wrong


def comparison_line(prior: StudySummary | None) -> str:
    """The comparison section's first words, from the prior on screen."""
    if prior is None:
        return ""
    shown = dicom_date(prior.study_date) or "undated"
    accession = f" (accession {prior.accession})" if prior.accession else ""
    return f"{prior.description or ', '.join(prior.modalities)} of {shown}{accession}."


@dataclass
class ReportDesk:
    """Everything the report editor and the CLI do with reports, as one user."""

    workstation: Workstation
    access: StudyAccess
    check_code: CodeCheck
    display_qa: DisplayQa | None = None  # None: this desk does not gate on display QA

    def __post_init__(self) -> None:
        self.outbox = outbox_of(self.workstation)
        self.book = ReportBook(self.workstation.database, self.workstation.store, self.outbox)

    # ---- what the study says -----------------------------------------------------------

    def evidence(self, study_uid: str) -> Dataset:
        """The header of one image of the study: patient, study and request modules."""
        instances = self.access.list_instances(study_uid)
        if not instances:
            raise LookupError(f"study {study_uid} has no images to report on")
        encoded = self.access.read_bytes(instances[0].sop_instance_uid)
        return pydicom.dcmread(io.BytesIO(encoded), stop_before_pixels=True)

    def summary(self, study_uid: str) -> StudySummary:
        found = [s for s in self.access.list_studies() if s.study_uid == study_uid]
        if not found:
            self.access.check_may_report(study_uid)  # audits and raises AccessDenied
            raise LookupError(f"study {study_uid} is not on the worklist")
        return found[0]

    # ---- drafts --------------------------------------------------------------------------

    def open_draft(self, study_uid: str, kind: PartKind, *, now: datetime,
                   prior: StudySummary | None = None) -> Draft:
        """The saved draft, else a new one from the best template, prefilled."""
        self.access.check_may_report(study_uid)
        saved = self.book.load_draft(study_uid, self.access.user, kind)
        if saved is not None:
            return saved
        draft = Draft(study_uid, self.access.user, kind, opened_at=now)
        if kind is not PartKind.REPORT:
            return draft
        study, evidence = self.summary(study_uid), self.evidence(study_uid)
        template = choose_template(load_templates(), study.modalities[0] if study.modalities
                                   else "", study.body_parts)
        return draft.edited(sections=prefilled_sections(
            template, clinical_information=request_reason(evidence),
            comparison=comparison_line(prior)))

    def save_draft(self, draft: Draft, *, now: datetime) -> None:
        self.access.check_may_report(draft.study_uid)
        self.book.save_draft(draft, saved_at=now)

    def report(self, study_uid: str) -> Report:
        self.access.check_may_report(study_uid)
        return self.book.report(study_uid)

    def statuses(self) -> dict[str, ReportStatus]:
        return self.book.statuses()

    def delivery_lines(self, study_uid: str) -> list[str]:
        """One line per message of the study's report: where, which part, its status."""
        return [f"Part {e.part_number} → {e.destination}: {e.shown_status}"
                for e in self.outbox.entries(study_uid=study_uid)]

    def macros(self) -> dict[str, str]:
        return MacroBook(self.workstation.database).macros(self.access.user)

    # ---- signing -------------------------------------------------------------------------

    def display_warning(self) -> tuple[str, bool]:
        """Why this display is not fit for diagnosis ("" when it is), and whether the
        policy lets the reporter sign anyway with a reason."""
        if self.display_qa is None:
            return "", True
        status = self.display_qa.status(datetime.now(UTC))
        return status.warning, self.display_qa.policy().allow_override

    def sign(self, draft: Draft, code: str, *, now: datetime, qa_override: str = "") -> Report:
        """Check the one-time code, sign the draft and queue its messages; audited. On a
        display that failed or missed its QA only with ``qa_override`` (STANDARDS §6)."""
        self.access.check_may_report(draft.study_uid)
        draft.check_signable()  # say what is missing before asking for a code
        self.check_code(self.access.user, code, now)
        if self.display_qa is not None:
            status = self.display_qa.status(now)
            if not status.diagnostic:
                self.display_qa.override(self.access.user, qa_override, status, now=now)
        study, evidence = self.summary(draft.study_uid), self.evidence(draft.study_uid)
        report = self.book.sign(
            draft, self._reporter(), signed_at=now,
            messages=lambda report, part: self._messages(evidence, report, part),
            modality=",".join(study.modalities), study_received_at=study.first_received_at)
        part = report.parts[-1]
        self.workstation.audit.record(AuditEvent(
            EventId.PATIENT_RECORD, "C" if part.number == 1 else "U", self.access.user,
            objects=(("study", draft.study_uid),),
            detail=f"{part.kind.value} signed (part {part.number})"
                   + (f", alert: {part.alert.category.value}" if part.alert else "")))
        return report

    def _reporter(self) -> Reporter:
        user = UserDirectory(self.workstation.database, self.workstation.audit).get(
            self.access.user)
        return Reporter(user.username, user.display_name, user.gmc_number)

    def _messages(self, evidence: Dataset, report: Report, part: SignedPart
                  ) -> list[OutgoingMessage]:
        settings = self.workstation.settings
        messages = []
        for destination in destinations(settings):
            if destination.startswith(PACS_PREFIX) and part.kind is not PartKind.RETURN:
                sr = build_sr(report, part.number, evidence, SrContext(  # we made the SR
                    organisation=settings["reporting.organisation"],
                    institution_name=settings["reporting.organisation"]))
                messages.append(OutgoingMessage(destination, sr_file_bytes(sr)))
            elif destination == RIS:
                endpoints = Hl7Endpoints(
                    "TELERAD", settings["reporting.sending_facility"],
                    settings["ris.receiving_application"], settings["ris.receiving_facility"])
                oru = build_oru(study_facts(evidence), report, part.number, endpoints,
                                message_time=part.signed_at)
                messages.append(OutgoingMessage(RIS, oru.encode("utf-8")))
        return messages
