"""HL7 v2.5.1 ORU^R01 for a signed report, and the ACK that answers it (STANDARDS §4).

Built with hl7apy and validated against the 2.5.1 ORU_R01 structure before it leaves the
process. Report text travels as TX: HL7 v2.5.1 §2.A.79 makes the repetition separator a hard
line break for TX, so every line of a section is one repetition of OBX-5 (hl7apy would mangle
an FT ``\\.br\\`` formatting command by escaping its backslashes).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message, Segment
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from reporting.errors import RetryableDeliveryError
from reporting.model import PartKind, Report, Reporter, SignedPart, StudyFacts

HL7_VERSION = "2.5.1"
ORU_MESSAGE_TYPE = "ORU^R01^ORU_R01"
CHARACTER_SET = "UNICODE UTF-8"  # MSH-18, table 0211
SEGMENT_TERMINATOR = "\r"  # §2.5.4: every segment ends with a carriage return

# OBR-25 (table 0123) for the kind of part being sent; OBX-11 (table 0085) follows it:
# F final, C a correction replacing the final result (an addendum re-sends the whole
# report), X "results cannot be obtained for this observation" (returned to the referrer).
RESULT_STATUS = {PartKind.REPORT: "F", PartKind.ADDENDUM: "C", PartKind.RETURN: "X"}

# Application acknowledgment codes (table 0008); the original-mode C* codes mean the same.
ACK_CODES = {"AA": "AA", "AE": "AE", "AR": "AR", "CA": "AA", "CE": "AE", "CR": "AR"}

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_UNESCAPES = {"E": "\\", "F": "|", "S": "^", "T": "&", "R": "~", ".br": "\n"}
_ESCAPE_SEQUENCE = re.compile(r"\\(E|F|S|T|R|\.br)\\")


class Hl7Error(ValueError):
    """An HL7 message cannot be built as asked; the text names the HL7 field and what is wrong."""


@dataclass(frozen=True)
class Hl7Endpoints:
    """MSH-3 to MSH-6: who sends the report and which RIS receives it."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str


@dataclass(frozen=True)
class Ack:
    """What the RIS answered: MSA-1 (AA, AE or AR), MSA-2 and its explanation (MSA-3, ERR)."""

    code: str
    control_id: str
    text: str


def escape(text: str) -> str:
    """``text`` as one line, its delimiters replaced by escape sequences (§2.7.4).

    Line breaks become spaces: a raw carriage return would end the segment (§2.5.4).
    """
    text = " ".join(text.splitlines())
    for character, sequence in _ESCAPES:
        text = text.replace(character, sequence)
    return text


def unescape(text: str) -> str:
    """The inverse of :func:`escape`, also turning ``\\.br\\`` into a line break (§2.7)."""
    return _ESCAPE_SEQUENCE.sub(lambda match: _UNESCAPES[match.group(1)], text)


def hl7_time(moment: datetime) -> str:
    """A DTM with its UTC offset (§2.A.22); a time without a zone is refused."""
    if moment.tzinfo is None:
        raise Hl7Error(f"time {moment.isoformat()} needs a time zone")
    return moment.strftime("%Y%m%d%H%M%S%z")


def _put(segment: Segment, field: str, *repetitions: str) -> None:
    """Set ``field`` (e.g. ``PID_3``) from escaped ER7 text, one argument per repetition.

    A field whose repetitions are all empty is left out.
    """
    if not any(repetitions):
        return
    try:
        for number, value in enumerate(repetitions):
            target = getattr(segment, field.lower()) if number == 0 else segment.add_field(field)
            target.value = value
    except (HL7apyException, ValueError) as error:
        shown = field.replace("_", "-")
        raise Hl7Error(f"{shown} cannot hold {repetitions!r}: {error}") from error


def _encoded(message: Message) -> str:
    """Validate against the 2.5.1 structure and return ER7 text, every segment terminated."""
    try:
        message.validate()
    except HL7apyException as error:
        raise Hl7Error(f"the {message.name} message is not valid HL7 2.5.1: {error}") from error
    return message.to_er7() + SEGMENT_TERMINATOR


def _fill_msh(msh: Segment, endpoints: tuple[str, str, str, str], message_type: str,
              control_id: str, message_time: datetime) -> None:
    """MSH per STANDARDS §4 (HL7 v2.5.1 §2.14.9); ``endpoints`` is MSH-3 to MSH-6 as ER7."""
    if not control_id:
        raise Hl7Error("MSH-10: the message has no control id")
    for field, value in zip(("MSH_3", "MSH_4", "MSH_5", "MSH_6"), endpoints, strict=True):
        _put(msh, field, value)
    _put(msh, "MSH_7", hl7_time(message_time))
    _put(msh, "MSH_9", message_type)
    _put(msh, "MSH_10", escape(control_id))
    _put(msh, "MSH_11", "P")
    _put(msh, "MSH_12", HL7_VERSION)
    _put(msh, "MSH_18", CHARACTER_SET)


def _dicom_date(value: str) -> str:
    """A DICOM DA as an HL7 date, or "" when it is not YYYYMMDD."""
    return value if len(value) == 8 and value.isdigit() else ""


def _exam_time(study: StudyFacts) -> str:
    """OBR-7 from Study Date and Time (local time, no offset); fractions of a second dropped."""
    date = _dicom_date(study.study_date)
    time = study.study_time.split(".")[0].replace(":", "")
    if not date:
        return ""  # omitted rather than blocking the report on a malformed image header
    return date + time if len(time) in (2, 4, 6) and time.isdigit() else date


def _patient_name(dicom_name: str) -> str:
    """XPN family^given^second^suffix^prefix from a DICOM PN family^given^middle^prefix^suffix."""
    parts = [*dicom_name.split("=")[0].split("^"), "", "", "", "", ""][:5]
    family, given, middle, prefix, suffix = (escape(part.strip()) for part in parts)
    return "^".join((family, given, middle, suffix, prefix)).rstrip("^")


def _fill_pid(pid: Segment, study: StudyFacts) -> None:
    """PID-3 local MRN plus the NHS number, PID-5/7/8 (STANDARDS §4)."""
    if not study.patient_id:
        raise Hl7Error("PID-3: the study has no Patient ID for the RIS to file the report under")
    if not _patient_name(study.patient_name):
        raise Hl7Error("PID-5: the study has no Patient Name")
    identifiers = [f"{escape(study.patient_id)}^^^{escape(study.issuer_of_patient_id)}^MR"]
    if study.nhs_number:
        identifiers.append(f"{escape(study.nhs_number)}^^^NHS^NH")
    _put(pid, "PID_1", "1")
    _put(pid, "PID_3", *identifiers)
    _put(pid, "PID_5", _patient_name(study.patient_name))
    if _dicom_date(study.birth_date):
        _put(pid, "PID_7", study.birth_date)
    if study.sex in ("M", "F", "O", "U"):  # table 0001
        _put(pid, "PID_8", study.sex)


def _interpreter(author: Reporter) -> str:
    """OBR-32 NDL whose first component is a CNN: GMC number&family&given, GMC as authority."""
    family, _, given = author.person_name.partition("^")
    names = f"{escape(family)}&{escape(given)}"
    if not author.gmc_number:
        return f"&{names}"
    return f"{escape(author.gmc_number)}&{names}&&&&&&GMC"


def _fill_order(orc: Segment, obr: Segment, study: StudyFacts, report: Report) -> None:
    """ORC and OBR per STANDARDS §4 (HL7 v2.5.1 §4.5.1, §4.5.3)."""
    if not study.accession:
        raise Hl7Error("OBR-3: the study has no Accession Number to match the report to its "
                       "request")
    placer, filler = escape(study.placer_order or study.accession), escape(study.accession)
    service = escape(study.description or study.modality)
    if not (study.procedure_code or service):
        raise Hl7Error("OBR-4: the study has neither a procedure code nor a description")
    part = report.parts[-1]
    _put(orc, "ORC_1", "RE")
    _put(orc, "ORC_2", placer)
    _put(orc, "ORC_3", filler)
    for field, value in (("OBR_1", "1"), ("OBR_2", placer), ("OBR_3", filler),
                         ("OBR_4", f"{escape(study.procedure_code)}^{service}"),
                         ("OBR_7", _exam_time(study)), ("OBR_22", hl7_time(part.signed_at)),
                         ("OBR_24", "RAD"), ("OBR_25", RESULT_STATUS[part.kind]),
                         ("OBR_32", _interpreter(report.original.author))):
        if value:
            _put(obr, field, value)


@dataclass(frozen=True)
class _Observation:
    """One OBX: identifier^text, its lines, and optional sub-id and abnormal flag."""

    identifier: str
    lines: tuple[str, ...]
    sub_id: str = ""
    abnormal_flag: str = ""


def _addendum_heading(part: SignedPart) -> str:
    when = part.signed_at.strftime("%Y-%m-%d %H:%M %Z").strip()
    return f"Addendum {when} by {part.author.display_name}. Reason: {part.reason}"


def _observations(report: Report) -> list[_Observation]:
    """The OBX contents of ``report``: alert first, then sections, then each dated addendum."""
    found: list[_Observation] = []
    alerts = tuple(dict.fromkeys(alert.shown for alert in report.alerts))
    if alerts:
        found.append(_Observation("ALERT^Alert", alerts, abnormal_flag="AA"))
    for part in report.parts:
        if part.kind is PartKind.RETURN:
            found.append(_Observation("RETURN^Returned to referrer",
                                      (f"Returned to referrer: {part.reason}",)))
        for section in part.sections:
            heading = (_addendum_heading(part),) if part.kind is PartKind.ADDENDUM else ()
            found.append(_Observation(
                f"{escape(section.key.upper())}^{escape(section.title)}",
                (*heading, *section.text.splitlines()),
                sub_id=str(part.number) if part.kind is PartKind.ADDENDUM else ""))
    return found


def _fill_obx(obx: Segment, set_id: int, observation: _Observation, status: str) -> None:
    """OBX per STANDARDS §4 (HL7 v2.5.1 §7.4.2): TX, one repetition of OBX-5 per line."""
    _put(obx, "OBX_1", str(set_id))
    _put(obx, "OBX_2", "TX")
    _put(obx, "OBX_3", observation.identifier)
    if observation.sub_id:
        _put(obx, "OBX_4", observation.sub_id)  # tells repeated ADDENDUM identifiers apart
    lines = [line for text in observation.lines for line in text.splitlines() or [""]]
    _put(obx, "OBX_5", *(escape(line.rstrip()) for line in lines))
    if observation.abnormal_flag:
        _put(obx, "OBX_8", observation.abnormal_flag)
    _put(obx, "OBX_11", status)


def build_oru(study: StudyFacts, report: Report, part_number: int, endpoints: Hl7Endpoints, *,
              message_time: datetime) -> str:
    """The ORU^R01 for signed part ``part_number``: the report as it stood then (STANDARDS §4)."""
    sent = report.up_to(part_number)
    if not sent.parts or sent.parts[-1].number != part_number:
        raise Hl7Error(f"the report has no signed part {part_number}")
    part = sent.parts[-1]
    message = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    header = (escape(endpoints.sending_application), escape(endpoints.sending_facility),
              escape(endpoints.receiving_application), escape(endpoints.receiving_facility))
    _fill_msh(message.msh, header, ORU_MESSAGE_TYPE, part.hl7_control_id, message_time)
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _fill_pid(result.add_group("ORU_R01_PATIENT").pid, study)
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    _fill_order(order.orc, order.obr, study, sent)
    status = RESULT_STATUS[part.kind]
    for set_id, observation in enumerate(_observations(sent), start=1):
        _fill_obx(order.add_group("ORU_R01_OBSERVATION").obx, set_id, observation, status)
    return _encoded(message)


def _parsed(text: str) -> Message:
    """Any HL7 v2 message, read tolerantly: segments only, no groups."""
    normalised = text.strip().replace("\r\n", "\r").replace("\n", "\r")
    try:
        return parse_message(normalised, validation_level=VALIDATION_LEVEL.TOLERANT,
                             find_groups=False)
    except (HL7apyException, ValueError, IndexError) as error:
        raise Hl7Error(f"not an HL7 v2 message ({error})") from error


def _segments(message: Message, name: str) -> list[Segment]:
    return [child for child in message.children if child.name == name]


def message_control_id(message: str) -> str:
    """MSH-10 of an ER7 message."""
    return unescape(_parsed(message).msh.msh_10.to_er7())


def _text_at(segment: Segment, *path: str) -> str:
    """The ER7 text at ``path`` (e.g. ``err_3``, ``err_3_2``), "" when this version lacks it."""
    element = segment
    try:
        for name in path:
            element = getattr(element, name)
        return element.to_er7()
    except HL7apyException:
        return ""


def _ack_text(msa: Segment, errors: list[Segment]) -> str:
    """MSA-3, then per ERR the most specific of: user message, diagnostic, error text (2.5),
    ERR-1 text (2.3/2.4); without repeats."""
    texts = [_text_at(msa, "msa_3")]
    for err in errors:
        legacy = _text_at(err, "err_1", "err_1_4").split("&")  # ELD.4 CE: code&text&system
        candidates = (_text_at(err, "err_8"), _text_at(err, "err_7"),
                      _text_at(err, "err_3", "err_3_2"), legacy[1] if len(legacy) > 1 else "")
        texts.append(next((text for text in candidates if text), ""))
    return "; ".join(dict.fromkeys(unescape(text) for text in texts if text))


def parse_ack(text: str) -> Ack:
    """The RIS's answer as an :class:`Ack` (HL7 v2.5.1 §2.9.2, §2.15.8 MSA)."""
    shown = text.strip()[:80] or "an empty answer"
    try:
        message = _parsed(text)
    except Hl7Error as error:
        raise RetryableDeliveryError(f"the answer {shown!r} is {error}") from error
    message_type = message.msh.msh_9.msh_9_1.to_er7()
    msa = _segments(message, "MSA")
    if message_type != "ACK" or not msa:
        raise RetryableDeliveryError(
            f"the answer is {message_type or 'a message'} without an MSA segment, not an ACK")
    code = msa[0].msa_1.to_er7().upper()
    if code not in ACK_CODES:
        raise RetryableDeliveryError(f"the answer is an ACK with unknown MSA-1 {code!r}")
    return Ack(ACK_CODES[code], unescape(msa[0].msa_2.to_er7()),
               _ack_text(msa[0], _segments(message, "ERR")))


def build_ack(message: str, code: str, text: str = "", *,
              message_time: datetime | None = None) -> str:
    """The ACK a receiver returns for ``message`` (HL7 v2.5.1 §2.9.2), with an ERR unless AA."""
    if code not in ACK_CODES:
        raise Hl7Error(f"MSA-1: {code!r} is not an acknowledgment code (table 0008)")
    incoming = _parsed(message).msh
    trigger = incoming.msh_9.msh_9_2.to_er7()
    ack = Message("ACK", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    answering = (incoming.msh_5.to_er7(), incoming.msh_6.to_er7(),  # sender becomes receiver
                 incoming.msh_3.to_er7(), incoming.msh_4.to_er7())
    _fill_msh(ack.msh, answering, f"ACK^{trigger}^ACK" if trigger else "ACK",
              uuid.uuid4().hex[:20], message_time or datetime.now(UTC))
    msa = ack.add_segment("MSA")
    _put(msa, "MSA_1", code)
    _put(msa, "MSA_2", incoming.msh_10.to_er7())
    if text:
        _put(msa, "MSA_3", escape(text))
    if ACK_CODES[code] != "AA":
        err = ack.add_segment("ERR")
        _put(err, "ERR_3", "207^Application internal error")
        _put(err, "ERR_4", "E")
        if text:
            _put(err, "ERR_8", escape(text))
    return _encoded(ack)
