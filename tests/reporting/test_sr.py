"""The signed report reaches the trust's PACS as a valid Enhanced SR (STANDARDS §4, TID 2000).

A report, its addenda and its alert are checked by dicom3tools' dciodvfy, stored in a real
Orthanc with our C-STORE and read back over Orthanc's REST API; refusals by the PACS are
told apart from failures worth retrying.
"""

from __future__ import annotations

import dataclasses
import io
import ssl
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, EnhancedSRStorage, ExplicitVRLittleEndian
from pynetdicom import AE, evt

from reporting.dicom_send import store_sr
from reporting.errors import RejectedDelivery, RetryableDeliveryError
from reporting.model import Report, ReportError
from reporting.sr import SrContext, build_sr, sr_file_bytes
from tests.helpers import require_tool
from tests.orthanc import Orthanc, free_port
from tests.reporting.samples import (
    ADDENDUM_AUTHOR,
    REPORTER,
    evidence_dataset,
    facts,
    returned_report,
    signed_report,
)
from tests.tls_material import make_tls_files

CONTEXT = SrContext(organisation="Telerad Reporting Ltd",
                    institution_name="Telerad Reporting Service")
CALLING_AE = "TELERAD"
# CID 7001 headings the report sections must carry, in report order (PS3.16).
SECTION_HEADINGS = {"clinical_information": "55752-0", "technique": "55111-9",
                    "comparison": "55114-3", "findings": "59776-5", "impression": "19005-8"}
ALERT_HEADING, ADDENDUM_HEADING = "73568-8", "55107-7"


def sr_of(report: Report, part: int = 1) -> Dataset:
    return build_sr(report, part, evidence_dataset(), CONTEXT)


def headings(sr: Dataset) -> list[tuple[str, list[str]]]:
    """(CID 7001 heading code, its TEXT values) for each section container, in order."""
    return [(item.ConceptNameCodeSequence[0].CodeValue,
             [child.TextValue for child in item.ContentSequence
              if child.ValueType == "TEXT" and child.RelationshipType == "CONTAINS"])
            for item in sr.ContentSequence if item.ValueType == "CONTAINER"]


def observer_names(items: Iterable[Dataset]) -> list[str]:
    """Person Observer Name (121008, DCM) values among ``items`` (TID 1003)."""
    return [str(item.PersonName) for item in items
            if item.ConceptNameCodeSequence[0].CodeValue == "121008"]


def dciodvfy(tmp_path: Path, sr: Dataset) -> str:
    """dciodvfy's verdict on the SR as a file (it writes its findings to stderr)."""
    path = tmp_path / f"{sr.SOPInstanceUID}.dcm"
    path.write_bytes(sr_file_bytes(sr))
    run = subprocess.run([require_tool("dciodvfy", "dicom3tools"), str(path)],
                         capture_output=True, text=True, timeout=120, check=False)
    return run.stdout + run.stderr


def assert_valid_enhanced_sr(output: str) -> None:
    assert "EnhancedSR" in output, f"dciodvfy did not recognise an Enhanced SR:\n{output}"
    errors = [line for line in output.splitlines() if "Error" in line]
    assert not errors, f"dciodvfy found errors:\n{output}"


def store(sr: Dataset, orthanc: Orthanc, *, calling_ae: str = CALLING_AE) -> None:
    store_sr(sr_file_bytes(sr), host=orthanc.host, port=orthanc.dicom_port,
             called_ae=orthanc.ae_title, calling_ae=calling_ae, timeout=30)


@contextmanager
def scripted_pacs(*, accepts: str, status: int = 0x0000, answer: threading.Event | None = None,
                  tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """A pynetdicom storage SCP on loopback accepting only ``accepts`` and answering every
    C-STORE with ``status`` (after ``answer`` is set, when given), over DICOM TLS when
    ``tls`` is given. Yields its port."""

    def on_store(event: evt.Event) -> int:
        if answer is not None:
            answer.wait()
        return status

    ae = AE("SCRIPTEDPACS")
    ae.add_supported_context(accepts, ExplicitVRLittleEndian)
    server = ae.start_server(("127.0.0.1", 0), block=False, ssl_context=tls,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield int(server.server_address[1])
    finally:
        if answer is not None:
            answer.set()
        server.shutdown()


def send_to_scripted(port: int, *, timeout: float = 30,
                     tls: ssl.SSLContext | None = None) -> None:
    store_sr(sr_file_bytes(sr_of(signed_report())), host="127.0.0.1", port=port,
             called_ae="SCRIPTEDPACS", calling_ae=CALLING_AE, timeout=timeout,
             ssl_context=tls)


# --- the SR document -------------------------------------------------------------------

@pytest.mark.integration
def test_report_sr_passes_dciodvfy_without_errors(tmp_path: Path) -> None:
    assert_valid_enhanced_sr(dciodvfy(tmp_path, sr_of(signed_report())))


@pytest.mark.integration
def test_addendum_sr_passes_dciodvfy_without_errors(tmp_path: Path) -> None:
    assert_valid_enhanced_sr(dciodvfy(tmp_path, sr_of(signed_report(addendum=True), 2)))


@pytest.mark.integration
def test_report_with_an_alert_passes_dciodvfy_without_errors(tmp_path: Path) -> None:
    assert_valid_enhanced_sr(dciodvfy(tmp_path, sr_of(signed_report(alert=True))))


def test_sr_keeps_study_and_patient_identity_of_the_images() -> None:
    images, report = evidence_dataset(), signed_report()
    sr = sr_of(report)
    for keyword in ("PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate",
                    "PatientSex", "OtherPatientIDsSequence", "StudyInstanceUID",
                    "AccessionNumber", "StudyID", "StudyDate", "StudyTime"):
        assert sr[keyword].value == images[keyword].value, keyword
    assert sr.SOPClassUID == EnhancedSRStorage
    assert sr.Modality == "SR"
    assert sr.SeriesInstanceUID == report.sr_series_uid != images.SeriesInstanceUID
    assert sr.SOPInstanceUID == report.original.sr_sop_instance_uid
    assert sr.InstanceNumber == 1


def test_image_header_of_another_study_is_refused() -> None:
    other_study = evidence_dataset()
    other_study.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    with pytest.raises(ReportError, match="wrong study"):
        build_sr(signed_report(), 1, other_study, CONTEXT)


def test_institution_name_too_long_for_dicom_is_refused_naming_it() -> None:
    with pytest.raises(ReportError, match=r"SrContext\.institution_name is longer than 64"):
        dataclasses.replace(CONTEXT, institution_name="Telerad " * 9)


def test_sr_is_complete_verified_final_with_verifying_observer() -> None:
    sr = sr_of(signed_report())
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == (
        "COMPLETE", "VERIFIED", "FINAL")
    (verifier,) = sr.VerifyingObserverSequence
    assert str(verifier.VerifyingObserverName) == REPORTER.person_name == "Smith^Alice"
    assert verifier.VerifyingOrganization == CONTEXT.organisation
    assert str(verifier.VerificationDateTime) == "20261120143000+0000"
    assert (str(sr.ContentDate), str(sr.ContentTime)) == ("20261120", "143000")
    assert observer_names(sr.ContentSequence) == ["Smith^Alice"]


def test_report_sections_carry_tid_2000_headings_in_report_order() -> None:
    report = signed_report()
    sr = sr_of(report)
    assert sr.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    assert headings(sr) == [(SECTION_HEADINGS[section.key], [section.text])
                            for section in report.original.sections]


def test_alert_is_the_first_section_with_who_was_told() -> None:
    report = signed_report(alert=True)
    first_heading, texts = headings(sr_of(report))[0]
    assert first_heading == ALERT_HEADING
    assert texts == [report.alerts[0].shown]
    assert "Dr Jones, ED registrar by telephone" in texts[0]


def test_referenced_request_carries_the_accession() -> None:
    (request,) = sr_of(signed_report()).ReferencedRequestSequence
    assert request.AccessionNumber == facts().accession == "RX2611270001"
    assert request.StudyInstanceUID == facts().study_uid
    assert request.RequestedProcedureID == "RP11270001"
    assert request.RequestedProcedureDescription == "CT Chest without contrast"


def test_addendum_sr_references_its_predecessor() -> None:
    report = signed_report(addendum=True)
    original, addendum = sr_of(report, 1), sr_of(report, 2)
    assert "PredecessorDocumentsSequence" not in original
    (study,) = addendum.PredecessorDocumentsSequence
    (series,) = study.ReferencedSeriesSequence
    (instance,) = series.ReferencedSOPSequence
    assert study.StudyInstanceUID == report.study_uid
    assert series.SeriesInstanceUID == report.sr_series_uid == addendum.SeriesInstanceUID
    assert instance.ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert instance.ReferencedSOPClassUID == EnhancedSRStorage
    assert addendum.SOPInstanceUID == report.parts[1].sr_sop_instance_uid
    assert addendum.InstanceNumber == 2


def test_addendum_sr_repeats_the_original_unchanged_then_the_dated_addendum() -> None:
    report = signed_report(addendum=True)
    original, addendum = sr_of(report, 1), sr_of(report, 2)
    assert headings(addendum)[:-1] == headings(original)
    heading, (text,) = headings(addendum)[-1]
    assert heading == ADDENDUM_HEADING
    assert text.startswith("Addendum 2026-11-21 14:30 UTC by Dr Bob Jones. "
                           "Reason: Measurement revised after multiplanar review")
    assert text.endswith("PET-CT booked; nodule measures 15 mm on review.")
    section = addendum.ContentSequence[-1]
    assert str(section.ObservationDateTime) == "20261121143000+0000"
    assert observer_names(section.ContentSequence) == [ADDENDUM_AUTHOR.person_name]
    (verifier,) = addendum.VerifyingObserverSequence
    assert str(verifier.VerifyingObserverName) == "Jones^Bob"
    assert str(verifier.VerificationDateTime) == "20261121143000+0000"


def test_same_signed_part_gives_the_same_sr_bytes() -> None:
    report = signed_report(alert=True, addendum=True)
    assert sr_file_bytes(sr_of(report, 2)) == sr_file_bytes(sr_of(report, 2))


def test_sr_file_is_part_10_in_explicit_vr_little_endian() -> None:
    data = sr_file_bytes(sr_of(signed_report()))
    assert data[128:132] == b"DICM"
    assert dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_report_text_outside_latin_1_survives_the_file() -> None:
    report = signed_report()
    findings = "Nodule ≥ 14 mm — unchanged; Łódź protocol → no follow-up."
    sections = tuple(dataclasses.replace(section, text=findings)
                     if section.key == "findings" else section
                     for section in report.original.sections)
    report = dataclasses.replace(report, parts=(
        dataclasses.replace(report.original, sections=sections),))
    stored = dcmread(io.BytesIO(sr_file_bytes(sr_of(report))))
    assert stored.SpecificCharacterSet == "ISO_IR 192"
    assert (SECTION_HEADINGS["findings"], [findings]) in headings(stored)
    assert stored.PatientName == evidence_dataset().PatientName


def test_sr_without_institution_name_leaves_it_out() -> None:
    sr = build_sr(signed_report(), 1, evidence_dataset(),
                  dataclasses.replace(CONTEXT, institution_name=""))
    assert "InstitutionName" not in sr


def test_returned_study_has_no_sr() -> None:
    with pytest.raises(ReportError, match="returned"):
        sr_of(returned_report())


# --- delivery to the PACS -------------------------------------------------------------

@pytest.mark.integration
def test_signed_report_and_addendum_read_back_from_orthanc(orthanc: Orthanc) -> None:
    report, images = signed_report(alert=True, addendum=True), evidence_dataset()
    sent = [sr_of(report, 1), sr_of(report, 2)]
    for sr in sent:
        store(sr, orthanc)
    assert len(orthanc.instances()) == 2
    stored = []
    for sr in sent:
        instance_id = orthanc.find_sop(sr.SOPInstanceUID)
        assert instance_id, f"Orthanc has no instance {sr.SOPInstanceUID}"
        stored.append(dcmread(io.BytesIO(orthanc.instance_file(instance_id))))
    for sr in stored:
        assert (sr.PatientID, sr.PatientName) == (images.PatientID, images.PatientName)
        assert sr.StudyInstanceUID == images.StudyInstanceUID
        assert headings(sr)[0] == (ALERT_HEADING, [report.alerts[0].shown])
        assert (SECTION_HEADINGS["findings"], [report.original.sections[3].text]) in headings(sr)
    assert headings(stored[1])[-1][0] == ADDENDUM_HEADING
    assert "PET-CT booked" in headings(stored[1])[-1][1][0]
    predecessor = stored[1].PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0]
    assert predecessor.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        stored[0].SOPInstanceUID)


@pytest.mark.integration
def test_pacs_that_does_not_know_our_ae_title_is_a_rejection(orthanc: Orthanc) -> None:
    with pytest.raises(RejectedDelivery, match="Calling AE title not recognised"):
        store(sr_of(signed_report()), orthanc, calling_ae="STRANGER")
    assert orthanc.instances() == []


def test_pacs_that_refuses_the_sop_class_is_a_rejection() -> None:
    with scripted_pacs(accepts=CTImageStorage) as port, pytest.raises(
            RejectedDelivery, match="does not accept Enhanced SR Storage"):
        send_to_scripted(port)


@pytest.mark.parametrize(("status", "meaning"), [
    (0xA900, "Data Set Does Not Match SOP Class"),
    (0xC000, "Cannot Understand"),
    (0x0122, "Refused: SOP Class Not Supported"),
])
def test_failure_status_is_a_rejection_naming_the_status(status: int, meaning: str) -> None:
    with scripted_pacs(accepts=EnhancedSRStorage, status=status) as port, pytest.raises(
            RejectedDelivery) as refused:
        send_to_scripted(port)
    assert f"0x{status:04X} ({meaning})" in str(refused.value)


def test_pacs_out_of_resources_is_retryable() -> None:
    with scripted_pacs(accepts=EnhancedSRStorage, status=0xA700) as port, pytest.raises(
            RetryableDeliveryError, match="out of resources, status 0xA700"):
        send_to_scripted(port)


def test_warning_status_counts_as_stored() -> None:
    with scripted_pacs(accepts=EnhancedSRStorage, status=0xB000) as port:
        send_to_scripted(port)


def test_pacs_that_never_answers_is_retryable() -> None:
    with scripted_pacs(accepts=EnhancedSRStorage, answer=threading.Event()) as port, \
            pytest.raises(RetryableDeliveryError, match="no C-STORE response"):
        send_to_scripted(port, timeout=1)


def test_sr_is_stored_over_dicom_tls(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "tls")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    server.load_cert_chain(str(files.server_certificate), str(files.server_key))
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
    client.load_cert_chain(str(files.client_certificate), str(files.client_key))
    with scripted_pacs(accepts=EnhancedSRStorage, tls=server) as port:
        send_to_scripted(port, tls=client)


def test_unreachable_pacs_is_retryable() -> None:
    closed_port = free_port()
    with pytest.raises(RetryableDeliveryError, match="cannot connect"):
        store_sr(sr_file_bytes(sr_of(signed_report())), host="127.0.0.1", port=closed_port,
                 called_ae="TRUSTPACS", calling_ae=CALLING_AE, timeout=5)
