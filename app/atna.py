"""Audit trail entries as DICOM audit messages (PS3.15 A.5), the XML an ATNA collector reads.

One stored event (a row of ``AuditTrail.events()``) becomes one ``AuditMessage``: DCM
EventID/EventTypeCode (PS3.16 CID 400–404), the detail text as EventOutcomeDescription, the
actor as the requesting ActiveParticipant (remote address as NetworkAccessPointID) and this
workstation as the application, and each study as A.5.3 describes studies: type 2 "System
Object", role 3 "Report", ID type (110180, DCM, "Study Instance UID"). Patients appear only
through those UIDs, never by name or ID. The trail entry itself is one more participant
object, shaped as A.5.3 describes the audit log (type 2, role 13 "Security Resource", ID
type (12, RFC-3881, "URI")); its ``telerad-chain`` ParticipantObjectDetail carries seq and
hashes so a collector can check that the chain arrived whole and in order.
Rendering is a pure function of the stored row: sending an entry again gives the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import quote

from app.errors import TeleradError

# PS3.16 CID 400 "Audit Event ID" (STANDARDS §7)
EVENT_IDS: dict[str, str] = {
    "110100": "Application Activity", "110101": "Audit Log Used",
    "110102": "Begin Transferring DICOM Instances", "110103": "DICOM Instances Accessed",
    "110104": "DICOM Instances Transferred", "110105": "DICOM Study Deleted",
    "110106": "Export", "110107": "Import", "110108": "Network Entry",
    "110109": "Order Record", "110110": "Patient Record", "110111": "Procedure Record",
    "110112": "Query", "110113": "Security Alert", "110114": "User Authentication",
}
# PS3.16 CID 401–404 event type codes (110122 Login and 110123 Logout among them)
EVENT_TYPES: dict[str, str] = {
    "110120": "Application Start", "110121": "Application Stop", "110122": "Login",
    "110123": "Logout", "110124": "Attach", "110125": "Detach",
    "110126": "Node Authentication", "110127": "Emergency Override Started",
    "110128": "Network Configuration", "110129": "Security Configuration",
    "110130": "Hardware Configuration", "110131": "Software Configuration",
    "110132": "Use of Restricted Function", "110133": "Audit Recording Stopped",
    "110134": "Audit Recording Started", "110135": "Object Security Attributes Changed",
    "110136": "Security Roles Changed", "110137": "User security Attributes Changed",
    "110138": "Emergency Override Stopped", "110139": "Remote Service Operation Started",
    "110140": "Remote Service Operation Stopped", "110141": "Local Service Operation Started",
    "110142": "Local Service Operation Stopped",
}

ACTION_CODES = frozenset("CRUDE")
OUTCOMES = frozenset({"0", "4", "8", "12"})
CHAIN_DETAIL_TYPE = "telerad-chain"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'

# (csd-code, codeSystemName, originalText) of the participant object ID types we write
STUDY_INSTANCE_UID = ("110180", "DCM", "Study Instance UID")
URI = ("12", "RFC-3881", "URI")
USER_IDENTIFIER = ("11", "RFC-3881", "User Identifier")
# Not in A.5, which allows implementation-defined ID types: an image referred to without
# its study (a refused read of one instance)
SOP_INSTANCE_UID = ("sop-instance-uid", "telerad", "SOP Instance UID")
# object kind of the trail -> (ParticipantObjectTypeCode, ...TypeCodeRole, ...IDTypeCode);
# A.5.3 gives studies type 2 "System Object" and role 3 "Report", users 1 "Person" and
# 11 "Security User Entity"
OBJECT_KINDS: dict[str, tuple[str, str, tuple[str, str, str]]] = {
    "study": ("2", "3", STUDY_INSTANCE_UID),
    "instance": ("2", "3", SOP_INSTANCE_UID),
    "user": ("1", "11", USER_IDENTIFIER),
}

# Roles of the two active participants (PS3.16 CID 402): a store from a remote AE is a
# transfer from a source to us as destination; otherwise we are simply the application.
SOURCE_ROLE = ("110153", "DCM", "Source Role ID")
DESTINATION_ROLE = ("110152", "DCM", "Destination Role ID")
APPLICATION_ROLE = ("110150", "DCM", "Application")
AUDIT_SOURCE_TYPE_END_USER = "1"  # A.5.1.2.1: end-user display device, diagnostic device

_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class AuditMessageError(TeleradError):
    """An audit event cannot be rendered, or a rendered message lacks what A.5.1 requires."""


def _text(value: object) -> str:
    """Characters XML cannot carry become U+FFFD instead of breaking the message."""
    return _NOT_XML_TEXT.sub("\ufffd", str(value))


def _coded(parent: ET.Element, tag: str, code: tuple[str, str, str]) -> ET.Element:
    csd_code, system, meaning = code
    return ET.SubElement(parent, tag, {"csd-code": csd_code, "codeSystemName": system,
                                       "displayName": meaning, "originalText": meaning})


def utc_timestamp(recorded_at: str) -> str:
    """xsd:dateTime (A.5.2.5) and RFC 5424 TIMESTAMP alike: UTC, microseconds, "Z".

    A naive time is taken as UTC.
    """
    try:
        moment = datetime.fromisoformat(recorded_at)
    except ValueError as exc:
        raise AuditMessageError(f"audit time {recorded_at!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _network_access_point_type(address: str) -> str:
    """2 for an IP address, 1 for a machine name (A.5.1)."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return "1"
    return "2"


def _event_identification(root: ET.Element, row: dict) -> str:
    event_id = str(row["event_id"])
    if event_id not in EVENT_IDS:
        raise AuditMessageError(f"audit entry {row.get('seq')}: event ID {event_id} is not "
                                "a DCM audit event ID (PS3.16 CID 400)")
    # a wrong action or outcome is named by the validation every message passes
    action, outcome = str(row.get("action") or ""), str(row.get("outcome", "0"))
    attributes = {"EventDateTime": utc_timestamp(str(row["recorded_at"])),
                  "EventOutcomeIndicator": outcome}
    if action:
        attributes["EventActionCode"] = action
    event = ET.SubElement(root, "EventIdentification", attributes)
    _coded(event, "EventID", (event_id, "DCM", EVENT_IDS[event_id]))
    event_type = str(row.get("event_type") or "").split(" ", 1)[0]
    if event_type:
        if event_type not in EVENT_TYPES:
            raise AuditMessageError(f"audit entry {row.get('seq')}: event type {event_type} "
                                    "is not a DCM audit event type code")
        _coded(event, "EventTypeCode", (event_type, "DCM", EVENT_TYPES[event_type]))
    if row.get("detail"):
        ET.SubElement(event, "EventOutcomeDescription").text = _text(row["detail"])
    return event_id


def _active_participants(root: ET.Element, row: dict, event_id: str, source_id: str) -> None:
    source = str(row.get("source") or "")
    imported = event_id == "110107" and bool(source)
    actor = ET.SubElement(root, "ActiveParticipant",
                          {"UserID": _text(row.get("actor") or "unknown"),
                           "UserIsRequestor": "true"})
    if source:
        actor.set("NetworkAccessPointID", _text(source))
        actor.set("NetworkAccessPointTypeCode", _network_access_point_type(source))
    if imported:
        _coded(actor, "RoleIDCode", SOURCE_ROLE)
    application = ET.SubElement(root, "ActiveParticipant",
                                {"UserID": _text(source_id), "UserIsRequestor": "false"})
    _coded(application, "RoleIDCode", DESTINATION_ROLE if imported else APPLICATION_ROLE)


def _participant_object(root: ET.Element, kind: str, uid: str) -> None:
    # a kind added later still reaches the collector, as a system object with a local code
    type_code, role, code = OBJECT_KINDS.get(kind, ("2", "", (kind or "object", "telerad",
                                                               kind or "object")))
    attributes = {"ParticipantObjectID": _text(uid), "ParticipantObjectTypeCode": type_code}
    if role:
        attributes["ParticipantObjectTypeCodeRole"] = role
    _coded(ET.SubElement(root, "ParticipantObjectIdentification", attributes),
           "ParticipantObjectIDTypeCode", tuple(map(_text, code)))


def _chain_object(root: ET.Element, row: dict, source_id: str) -> None:
    """The trail entry: its place and links in the hash chain, as a ``telerad-chain`` detail."""
    chain = json.dumps({"seq": int(row["seq"]), "prev_hash": str(row.get("prev_hash", "")),
                        "hash": str(row["hash"])}, separators=(",", ":")).encode("ascii")
    entry = ET.SubElement(root, "ParticipantObjectIdentification", {
        "ParticipantObjectID": f"urn:x-telerad:audit-trail:{quote(source_id, safe='')}:"
                               f"{int(row['seq'])}",
        "ParticipantObjectTypeCode": "2", "ParticipantObjectTypeCodeRole": "13"})
    _coded(entry, "ParticipantObjectIDTypeCode", URI)
    ET.SubElement(entry, "ParticipantObjectName").text = "Security Audit Log"
    ET.SubElement(entry, "ParticipantObjectDetail", {
        "type": CHAIN_DETAIL_TYPE, "value": base64.b64encode(chain).decode("ascii")})


def _objects(row: dict) -> list[tuple[str, str]]:
    raw = row.get("objects") or "[]"
    try:
        pairs = json.loads(raw) if isinstance(raw, str) else list(raw)
        return [(str(kind), str(uid)) for kind, uid in pairs]
    except (ValueError, TypeError) as exc:
        raise AuditMessageError(f"audit entry {row.get('seq')}: objects are not a list of "
                                "[kind, UID] pairs") from exc


def render_audit_message(event_row: dict, *, source_id: str, enterprise_site: str = "") -> bytes:
    """The PS3.15 A.5 ``AuditMessage`` (UTF-8 XML, one line) for one stored audit event.

    Raises AuditMessageError when the row holds a code A.5 has no place for; the result
    always passes ``validate_audit_message``.
    """
    if not source_id.strip():
        raise AuditMessageError("an audit message needs an AuditSourceID (the workstation)")
    root = ET.Element("AuditMessage")
    event_id = _event_identification(root, event_row)
    _active_participants(root, event_row, event_id, source_id)
    audit_source = ET.SubElement(root, "AuditSourceIdentification",
                                 {"AuditSourceID": _text(source_id)})
    if enterprise_site:
        audit_source.set("AuditEnterpriseSiteID", _text(enterprise_site))
    ET.SubElement(audit_source, "AuditSourceTypeCode", {"csd-code": AUDIT_SOURCE_TYPE_END_USER})
    for kind, uid in _objects(event_row):
        _participant_object(root, kind, uid)
    _chain_object(root, event_row, source_id)
    body = ET.tostring(root, encoding="unicode")
    # Text nodes keep raw line breaks; as references the message stays on one line, which
    # syslog collectors and their files handle best, and means exactly the same.
    body = body.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
    message = XML_DECLARATION + body.encode("utf-8")
    validate_audit_message(message)
    return message


def render_audit_messages(rows: list[dict], *, source_id: str, enterprise_site: str = "") -> bytes:
    """Many events as one XML document: an ``AuditMessages`` root holding one validated
    ``AuditMessage`` per event, one per line (``telerad audit export --format xml``)."""
    messages = [render_audit_message(row, source_id=source_id, enterprise_site=enterprise_site)
                .removeprefix(XML_DECLARATION) for row in rows]
    return b"\n".join([XML_DECLARATION + b"<AuditMessages>", *messages, b"</AuditMessages>\n"])


# ---- structural validation ---------------------------------------------------------------

def _numbers(last: int) -> frozenset[str]:
    return frozenset(str(number) for number in range(1, last + 1))


ACCESS_POINT_TYPES, OBJECT_TYPES, OBJECT_ROLES, LIFE_CYCLES = (
    _numbers(5), _numbers(4), _numbers(26), _numbers(15))
BOOLEANS = frozenset({"true", "false", "1", "0"})
ORDER = ("EventIdentification", "ActiveParticipant", "AuditSourceIdentification",
         "ParticipantObjectIdentification")
CODED = ("csd-code", "codeSystemName", "originalText")  # CodedValueType's required attributes


def _require(element: ET.Element, where: str, problems: list[str], *attributes: str) -> None:
    problems.extend(f"{where} lacks {name}" for name in attributes if not element.get(name))


def _check_enum(element: ET.Element, where: str, problems: list[str],
                **allowed: frozenset[str]) -> None:
    for name, values in allowed.items():
        value = element.get(name)
        if value is not None and value not in values:
            problems.append(f"{where} {name}={value!r} is not an allowed value")


def _check_codes(parent: ET.Element, tag: str, where: str, problems: list[str],
                 *, exactly_one: bool = False) -> None:
    codes = parent.findall(tag)
    if exactly_one and len(codes) != 1:
        problems.append(f"{where} needs exactly one {tag}")
    for element in codes:
        _require(element, f"{where} {tag}", problems, *CODED)


def _check_event(event: ET.Element, problems: list[str]) -> None:
    where = "EventIdentification"
    _check_codes(event, "EventID", where, problems, exactly_one=True)
    _check_codes(event, "EventTypeCode", where, problems)
    _require(event, where, problems, "EventDateTime", "EventOutcomeIndicator")
    _check_enum(event, where, problems, EventOutcomeIndicator=OUTCOMES,
                EventActionCode=ACTION_CODES)
    try:
        datetime.fromisoformat(event.get("EventDateTime", "").replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"EventDateTime {event.get('EventDateTime')!r} is not an xsd:dateTime")


def _check_participant(participant: ET.Element, where: str, problems: list[str]) -> None:
    _require(participant, where, problems, "UserID", "UserIsRequestor")
    _check_enum(participant, where, problems, UserIsRequestor=BOOLEANS,
                NetworkAccessPointTypeCode=ACCESS_POINT_TYPES)
    _check_codes(participant, "RoleIDCode", where, problems)


def _check_object(obj: ET.Element, where: str, problems: list[str]) -> None:
    _require(obj, where, problems, "ParticipantObjectID")
    _check_codes(obj, "ParticipantObjectIDTypeCode", where, problems, exactly_one=True)
    _check_enum(obj, where, problems, ParticipantObjectTypeCode=OBJECT_TYPES,
                ParticipantObjectTypeCodeRole=OBJECT_ROLES,
                ParticipantObjectDataLifeCycle=LIFE_CYCLES)
    for detail in obj.findall("ParticipantObjectDetail"):
        _require(detail, f"{where} ParticipantObjectDetail", problems, "type", "value")
        try:
            base64.b64decode(detail.get("value", ""), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{where} ParticipantObjectDetail value is not base64")


def validate_audit_message(xml: bytes) -> None:
    """Structural check of the elements and attributes the A.5.1 schema REQUIRES.

    Not a full RELAX NG validation: it checks presence, count and order of the top-level
    elements, the required attributes, the coded-value attributes (csd-code,
    codeSystemName, originalText) and the enumerated values, which is what a collector
    rejects messages for. Raises AuditMessageError listing every problem found.
    """
    try:
        root = ET.fromstring(xml.removeprefix(b"\xef\xbb\xbf"))
    except ET.ParseError as exc:
        raise AuditMessageError(f"audit message is not well-formed XML: {exc}") from exc
    if root.tag != "AuditMessage":
        raise AuditMessageError(f"audit message root is {root.tag}, not AuditMessage")
    problems: list[str] = []
    tags = [child.tag for child in root]
    unknown = sorted(set(tags) - set(ORDER))
    if unknown:
        problems.append(f"unexpected element(s) {', '.join(unknown)}")
    ranks = [ORDER.index(tag) for tag in tags if tag in ORDER]
    if ranks != sorted(ranks):
        problems.append("elements are out of the schema's order " + " > ".join(ORDER))
    for tag, minimum, maximum in ((ORDER[0], 1, 1), (ORDER[1], 1, None), (ORDER[2], 1, 1)):
        count = tags.count(tag)
        if count < minimum:
            problems.append(f"missing {tag}")
        elif maximum is not None and count > maximum:
            problems.append(f"{count} {tag} elements, the schema allows {maximum}")
    for event in root.findall(ORDER[0]):
        _check_event(event, problems)
    for number, participant in enumerate(root.findall(ORDER[1]), start=1):
        _check_participant(participant, f"ActiveParticipant {number}", problems)
    for source in root.findall(ORDER[2]):
        _require(source, ORDER[2], problems, "AuditSourceID")
    for number, obj in enumerate(root.findall(ORDER[3]), start=1):
        _check_object(obj, f"ParticipantObjectIdentification {number}", problems)
    if problems:
        raise AuditMessageError("audit message does not satisfy PS3.15 A.5.1: "
                                + "; ".join(problems))
