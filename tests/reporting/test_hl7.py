"""The ORU^R01 a signed report becomes, and reading the RIS's ACK (STANDARDS §4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from reporting.errors import RetryableDeliveryError
from reporting.hl7 import (
    Ack,
    Hl7Endpoints,
    Hl7Error,
    build_ack,
    build_oru,
    message_control_id,
    parse_ack,
    unescape,
)
from reporting.model import Report, Section
from tests.reporting.samples import (
    ADDENDUM_AUTHOR,
    SIGNED_AT,
    facts,
    returned_report,
    signed_report,
)

ENDPOINTS = Hl7Endpoints("TELERAD", "TELERAD LTD", "CRIS", "RXH")
SENT_AT = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)


def strictly_valid(text: str, tmp_path: Path) -> Message:
    """Parse as HL7 2.5.1 with hl7apy's strict level, then validate the structure; hl7apy
    raises on structural errors and only reports table and length problems, so those must
    leave its report empty."""
    message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    report = tmp_path / "hl7-validation.txt"
    assert message.validate(report_file=str(report))
    assert report.read_text() == ""
    return message


def segments(text: str, name: str) -> list[list[str]]:
    """The fields of every ``name`` segment; index n is SEG-n (MSH-1 is the field separator)."""
    found = [segment.split("|") for segment in text.split("\r") if segment.startswith(name)]
    return [[name, "|", *fields[1:]] if name == "MSH" else fields for fields in found]


def field(text: str, name: str, number: int) -> str:
    fields = segments(text, name)[0]
    return fields[number] if number < len(fields) else ""


def oru(report: Report, part_number: int = 1) -> str:
    return build_oru(facts(), report, part_number, ENDPOINTS, message_time=SENT_AT)


def with_findings(text: str) -> Report:
    report = signed_report()
    part = replace(report.original, sections=(Section("findings", "Findings", text),))
    return replace(report, parts=(part,))


def test_final_report_validates_strictly_as_2_5_1(tmp_path: Path) -> None:
    text = oru(signed_report())
    message = strictly_valid(text, tmp_path)
    assert message.name == "ORU_R01"
    assert text.endswith("\r") and "\n" not in text
    assert [field(text, "MSH", n) for n in (3, 4, 5, 6, 7)] == [
        "TELERAD", "TELERAD LTD", "CRIS", "RXH", "20261120143100+0000"]
    assert [field(text, "MSH", n) for n in (9, 10, 11, 12, 18)] == [
        "ORU^R01^ORU_R01", "TR000001", "P", "2.5.1", "UNICODE UTF-8"]


def test_final_report_names_the_order_the_exam_and_the_reporting_radiologist() -> None:
    study = facts()
    text = oru(signed_report())
    assert [field(text, "ORC", n) for n in (1, 2, 3)] == ["RE", study.accession, study.accession]
    assert field(text, "OBR", 2) == field(text, "OBR", 3) == study.accession
    assert field(text, "OBR", 4) == "CTCHEST^CT Chest without contrast"
    assert field(text, "OBR", 7) == "20261127094304"
    assert field(text, "OBR", 22) == "20261120143000+0000"
    assert [field(text, "OBR", n) for n in (24, 25)] == ["RAD", "F"]
    assert field(text, "OBR", 32) == "7654321&Smith&Alice&&&&&&GMC"


def test_placer_order_number_fills_orc2_and_obr2_when_the_request_carried_one() -> None:
    study = replace(facts(), placer_order="PL-77")
    text = build_oru(study, signed_report(), 1, ENDPOINTS, message_time=SENT_AT)
    assert [field(text, "ORC", 2), field(text, "OBR", 2)] == ["PL-77", "PL-77"]
    assert [field(text, "ORC", 3), field(text, "OBR", 3)] == [study.accession] * 2


def test_exam_without_a_procedure_code_sends_its_description_only() -> None:
    study = replace(facts(), procedure_code="")
    text = build_oru(study, signed_report(), 1, ENDPOINTS, message_time=SENT_AT)
    assert field(text, "OBR", 4) == "^CT Chest without contrast"


def test_each_section_is_a_final_TX_observation_with_one_repetition_per_line() -> None:
    observations = segments(oru(signed_report()), "OBX")
    assert [obx[1] for obx in observations] == ["1", "2", "3", "4", "5"]
    assert {obx[2] for obx in observations} == {"TX"}
    assert {obx[11] for obx in observations} == {"F"}
    assert [obx[3] for obx in observations] == [
        "CLINICAL_INFORMATION^Clinical information", "TECHNIQUE^Technique",
        "COMPARISON^Comparison", "FINDINGS^Findings", "IMPRESSION^Impression and recommendation"]
    assert observations[3][5] == "A 14 mm spiculated nodule in the right upper lobe.~No effusion."


def test_nhs_number_is_a_second_pid3_identifier() -> None:
    study = facts()
    text = oru(signed_report())
    assert field(text, "PID", 3) == (
        f"{study.patient_id}^^^{study.issuer_of_patient_id}^MR~{study.nhs_number}^^^NHS^NH")
    assert [field(text, "PID", n) for n in (5, 7, 8)] == ["TESTPATIENT^Alice", "19580314", "F"]


def test_patient_without_nhs_number_is_identified_by_the_local_mrn_only() -> None:
    study = replace(facts(), nhs_number="")
    text = build_oru(study, signed_report(), 1, ENDPOINTS, message_time=SENT_AT)
    assert field(text, "PID", 3) == f"{study.patient_id}^^^{study.issuer_of_patient_id}^MR"


def test_alert_travels_as_obx_with_abnormal_flag_AA(tmp_path: Path) -> None:
    report = signed_report(alert=True)
    text = oru(report)
    strictly_valid(text, tmp_path)
    alert = segments(text, "OBX")[0]
    assert [alert[1], alert[3], alert[8], alert[11]] == ["1", "ALERT^Alert", "AA", "F"]
    assert unescape(alert[5]) == report.original.alert.shown
    assert alert[5].startswith("ALERT: Critical finding; communicated to Dr Jones")


def test_report_without_alert_flags_no_observation() -> None:
    observations = segments(oru(signed_report()), "OBX")
    assert all(obx[8] == "" for obx in observations)
    assert "ALERT^Alert" not in [obx[3] for obx in observations]


def test_addendum_resends_whole_report_with_status_C(tmp_path: Path) -> None:
    report = signed_report(alert=True, addendum=True)
    addendum = report.parts[1]
    text = oru(report, 2)
    strictly_valid(text, tmp_path)
    assert field(text, "MSH", 10) == "TR000002"
    assert field(text, "OBR", 25) == "C"
    assert field(text, "OBR", 22) == "20261121143000+0000"
    assert field(text, "OBR", 32).startswith("7654321&Smith&Alice")  # the original reporter
    observations = segments(text, "OBX")
    assert [obx[3].split("^")[0] for obx in observations] == [
        "ALERT", "CLINICAL_INFORMATION", "TECHNIQUE", "COMPARISON", "FINDINGS", "IMPRESSION",
        "ADDENDUM"]
    assert {obx[11] for obx in observations} == {"C"}
    heading, *lines = observations[-1][5].split("~")
    assert observations[-1][4] == "2"  # OBX-4 sub-id: which addendum
    assert heading == (f"Addendum 2026-11-21 14:30 UTC by {ADDENDUM_AUTHOR.display_name}. "
                       f"Reason: {addendum.reason}")
    assert lines == [addendum.sections[0].text]


def test_message_for_part_1_of_an_addended_report_is_still_the_final_report() -> None:
    text = oru(signed_report(addendum=True), 1)
    assert field(text, "MSH", 10) == "TR000001"
    assert field(text, "OBR", 25) == "F"
    assert "ADDENDUM" not in text


def test_return_to_referrer_has_result_status_X_and_reason(tmp_path: Path) -> None:
    report = returned_report()
    text = oru(report)
    strictly_valid(text, tmp_path)
    assert field(text, "OBR", 25) == "X"
    [observation] = segments(text, "OBX")
    assert observation[3] == "RETURN^Returned to referrer"
    assert observation[5] == f"Returned to referrer: {report.original.reason}"
    assert observation[11] == "X"


def test_delimiters_in_report_text_are_escaped_and_survive_the_round_trip(
        tmp_path: Path) -> None:
    findings = "Ratio 3|4 ^ up, T1 & T2 ~ similar, path C:\\scans\\H\\N\\."
    text = oru(with_findings(findings))
    message = strictly_valid(text, tmp_path)
    obx = message.oru_r01_patient_result.oru_r01_order_observation.oru_r01_observation.obx
    assert unescape(obx.obx_5.to_er7()) == findings
    assert segments(text, "OBX")[0][5] == (
        "Ratio 3\\F\\4 \\S\\ up, T1 \\T\\ T2 \\R\\ similar, "
        "path C:\\E\\scans\\E\\H\\E\\N\\E\\.")


def test_blank_line_in_a_section_is_an_empty_repetition() -> None:
    text = oru(with_findings("First paragraph.\n\nSecond paragraph."))
    assert segments(text, "OBX")[0][5] == "First paragraph.~~Second paragraph."


def test_part_that_was_never_signed_is_refused() -> None:
    with pytest.raises(Hl7Error, match="no signed part 2"):
        oru(signed_report(), 2)


def test_study_without_accession_number_is_refused_naming_obr3() -> None:
    with pytest.raises(Hl7Error, match="OBR-3"):
        build_oru(replace(facts(), accession=""), signed_report(), 1, ENDPOINTS,
                  message_time=SENT_AT)


def test_message_time_without_zone_is_refused() -> None:
    with pytest.raises(Hl7Error, match="time zone"):
        build_oru(facts(), signed_report(), 1, ENDPOINTS, message_time=SENT_AT.replace(tzinfo=None))


def test_control_id_of_a_built_message_is_its_msh10() -> None:
    assert message_control_id(oru(signed_report(addendum=True), 2)) == "TR000002"


def test_ris_ack_validates_strictly_and_answers_the_control_id(tmp_path: Path) -> None:
    ack = build_ack(oru(signed_report()), "AA", message_time=SIGNED_AT)
    strictly_valid(ack, tmp_path)
    assert [field(ack, "MSH", n) for n in (3, 4, 5, 6, 9)] == [
        "CRIS", "RXH", "TELERAD", "TELERAD LTD", "ACK^R01^ACK"]
    assert parse_ack(ack) == Ack("AA", "TR000001", "")


def test_error_ack_carries_the_ris_text_in_msa3_and_err(tmp_path: Path) -> None:
    ack = build_ack(oru(signed_report()), "AE", "Unknown accession | check the order")
    strictly_valid(ack, tmp_path)
    assert field(ack, "MSA", 3) == field(ack, "ERR", 8) == "Unknown accession \\F\\ check the order"
    assert parse_ack(ack) == Ack("AE", "TR000001", "Unknown accession | check the order")


@pytest.mark.parametrize(("sent", "read"), [("CA", "AA"), ("CE", "AE"), ("CR", "AR")])
def test_original_mode_commit_codes_read_as_application_codes(sent: str, read: str) -> None:
    ack = "MSH|^~\\&|CRIS|RXH|TELERAD|TELERAD LTD|20261120143100||ACK|A1|P|2.4\r" \
          f"MSA|{sent}|TR000001\r"
    assert parse_ack(ack) == Ack(read, "TR000001", "")


def test_older_ris_error_text_in_err1_is_read() -> None:
    ack = "MSH|^~\\&|CRIS|RXH|TELERAD||20261120143100||ACK|A2|P|2.3\n" \
          "MSA|AE|TR000001\nERR|OBR^1^3^204&Unknown key identifier&HL70357\n"
    assert parse_ack(ack) == Ack("AE", "TR000001", "Unknown key identifier")


@pytest.mark.parametrize("answer", [
    "", "HTTP/1.1 400 Bad Request", "MSH|^~\\&|CRIS|RXH|||20261120||ACK|A3|P|2.5.1\r",
    "MSH|^~\\&|CRIS|RXH|||20261120||ADT^A01|A4|P|2.5.1\rMSA|AA|TR000001\r"])
def test_answer_that_is_not_an_ack_is_retryable(answer: str) -> None:
    not_an_ack = r"^the answer .*(not an HL7 v2 message|not an ACK)"
    with pytest.raises(RetryableDeliveryError, match=not_an_ack):
        parse_ack(answer)


def test_ack_with_an_unknown_code_is_retryable() -> None:
    with pytest.raises(RetryableDeliveryError, match="unknown MSA-1 'ZZ'"):
        parse_ack("MSH|^~\\&|CRIS|RXH|||20261120||ACK|A5|P|2.5.1\rMSA|ZZ|TR000001\r")
