"""Audit events as DICOM audit messages (PS3.15 A.5): valid, coded right, UIDs only."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest
from pydicom.uid import generate_uid

from app.access import StudyAccess
from app.atna import (
    EVENT_IDS,
    AuditMessageError,
    render_audit_message,
    render_audit_messages,
    validate_audit_message,
)
from app.audit import AuditEvent, EventId, Outcome
from app.viewing import AuditedComparison, open_study
from app.workstation import Workstation
from tests.helpers import encode, make_instance

SOURCE = "TELERAD@reporting-ws-07"
STUDY = "1.2.826.0.1.3680043.2.1125.7"


def rendered(workstation: Workstation, event: AuditEvent) -> ET.Element:
    """Record ``event`` in the real trail, render its stored row, validate and parse it."""
    seq = workstation.audit.record(event)
    (row,) = workstation.audit.events(since_seq=seq - 1)
    xml = render_audit_message(row, source_id=SOURCE, enterprise_site="RXX")
    validate_audit_message(xml)
    return ET.fromstring(xml)


def coded(element: ET.Element | None) -> tuple[str | None, str | None, str | None]:
    assert element is not None
    return (element.get("csd-code"), element.get("codeSystemName"), element.get("originalText"))


def study_objects(message: ET.Element) -> list[ET.Element]:
    return [obj for obj in message.findall("ParticipantObjectIdentification")
            if coded(obj.find("ParticipantObjectIDTypeCode"))[0] == "110180"]


@pytest.mark.parametrize("event_id", list(EventId))
def test_every_event_kind_renders_a_valid_message(workstation: Workstation,
                                                  event_id: EventId) -> None:
    message = rendered(workstation, AuditEvent(event_id, "E", actor="drsmith",
                                               objects=(("study", STUDY),), detail="done"))
    assert coded(message.find("EventIdentification/EventID")) == (
        event_id.value, "DCM", EVENT_IDS[event_id.value])


def test_import_message_names_sender_address_study_and_source(workstation: Workstation) -> None:
    message = rendered(workstation, AuditEvent(
        EventId.IMPORT, "C", actor="STORESCU", outcome=Outcome.MINOR_FAILURE,
        source="192.0.2.10", objects=(("study", STUDY),), detail="3 stored, 1 refused"))
    event = message.find("EventIdentification")
    assert event is not None
    assert event.get("EventActionCode") == "C"
    assert event.get("EventOutcomeIndicator") == "4"
    assert event.get("EventDateTime", "").endswith("Z")
    assert event.findtext("EventOutcomeDescription") == "3 stored, 1 refused"
    requestor, application = message.findall("ActiveParticipant")
    assert requestor.attrib == {"UserID": "STORESCU", "UserIsRequestor": "true",
                                "NetworkAccessPointID": "192.0.2.10",
                                "NetworkAccessPointTypeCode": "2"}
    assert coded(requestor.find("RoleIDCode")) == ("110153", "DCM", "Source Role ID")
    assert application.get("UserID") == SOURCE
    assert application.get("UserIsRequestor") == "false"
    source = message.find("AuditSourceIdentification")
    assert source is not None
    assert (source.get("AuditSourceID"), source.get("AuditEnterpriseSiteID")) == (SOURCE, "RXX")
    (study,) = study_objects(message)
    assert study.get("ParticipantObjectID") == STUDY
    assert study.get("ParticipantObjectTypeCode") == "2"  # system object
    assert study.get("ParticipantObjectTypeCodeRole") == "3"  # report (A.5.3)
    assert coded(study.find("ParticipantObjectIDTypeCode")) == (
        "110180", "DCM", "Study Instance UID")


@pytest.mark.parametrize(("event_type", "meaning"), [("110122", "Login"), ("110123", "Logout")])
def test_login_and_logout_carry_their_event_type(workstation: Workstation, event_type: str,
                                                 meaning: str) -> None:
    message = rendered(workstation, AuditEvent(EventId.USER_AUTHENTICATION, "E",
                                               actor="drsmith", event_type=event_type,
                                               source="10.0.0.5"))
    assert coded(message.find("EventIdentification/EventTypeCode")) == (
        event_type, "DCM", meaning)


def test_chain_detail_lets_a_collector_check_order_and_integrity(
        workstation: Workstation) -> None:
    for n in range(3):
        workstation.audit.record(AuditEvent(EventId.INSTANCES_ACCESSED, "R", "drsmith",
                                            objects=(("study", f"{STUDY}.{n}"),)))
    rows = workstation.audit.events()
    for row in rows:
        message = ET.fromstring(render_audit_message(row, source_id=SOURCE))
        (detail,) = message.iter("ParticipantObjectDetail")
        assert detail.get("type") == "telerad-chain"
        chain = json.loads(base64.b64decode(detail.get("value", "")))
        assert chain == {"seq": row["seq"], "prev_hash": row["prev_hash"], "hash": row["hash"]}
    assert [row["prev_hash"] for row in rows[1:]] == [row["hash"] for row in rows[:-1]]


def test_rendering_is_repeatable_and_one_line(workstation: Workstation) -> None:
    workstation.audit.record(AuditEvent(EventId.SECURITY_ALERT, "E", "drsmith",
                                        detail="reason given:\n\tsame patient, née Smith"))
    (row,) = workstation.audit.events()
    first = render_audit_message(row, source_id=SOURCE)
    assert first == render_audit_message(row, source_id=SOURCE)
    assert b"\n" not in first and b"\t" not in first
    assert ET.fromstring(first).findtext("EventIdentification/EventOutcomeDescription") == (
        "reason given:\n\tsame patient, née Smith")


def test_message_missing_event_identification_fails_naming_it(
        workstation: Workstation) -> None:
    message = rendered(workstation, AuditEvent(EventId.EXPORT, "R", "drsmith"))
    event = message.find("EventIdentification")
    assert event is not None
    message.remove(event)
    with pytest.raises(AuditMessageError, match="missing EventIdentification"):
        validate_audit_message(ET.tostring(message))


def test_every_missing_required_attribute_is_listed(workstation: Workstation) -> None:
    message = rendered(workstation, AuditEvent(EventId.IMPORT, "C", "STORESCU",
                                               objects=(("study", STUDY),)))
    del message.findall("ActiveParticipant")[0].attrib["UserID"]
    source = message.find("AuditSourceIdentification")
    assert source is not None
    del source.attrib["AuditSourceID"]
    del study_objects(message)[0].attrib["ParticipantObjectID"]
    event_id = message.find("EventIdentification/EventID")
    assert event_id is not None
    del event_id.attrib["codeSystemName"]
    with pytest.raises(AuditMessageError) as raised:
        validate_audit_message(ET.tostring(message))
    for missing in ("ActiveParticipant 1 lacks UserID",
                    "AuditSourceIdentification lacks AuditSourceID",
                    "ParticipantObjectIdentification 1 lacks ParticipantObjectID",
                    "EventID lacks codeSystemName"):
        assert missing in str(raised.value)


@pytest.mark.parametrize(("field", "value", "named"), [
    ("event_id", "123456", "event ID 123456"),
    ("event_type", "110999", "event type 110999"),
    ("outcome", 5, "EventOutcomeIndicator='5'"),
    ("action", "X", "EventActionCode='X'"),
])
def test_codes_outside_the_standard_are_refused(workstation: Workstation, field: str,
                                                value: object, named: str) -> None:
    workstation.audit.record(AuditEvent(EventId.EXPORT, "R", "drsmith"))
    (row,) = workstation.audit.events()
    with pytest.raises(AuditMessageError, match=named):
        render_audit_message({**row, field: value}, source_id=SOURCE)


def test_no_patient_names_appear_only_uids(workstation: Workstation) -> None:
    """Events written by the real access paths refer to the patient by study UID only."""
    study_uid, prior_uid = generate_uid(), generate_uid()
    for uid in (study_uid, prior_uid):
        dataset = make_instance(study_uid=uid, patient_name="WHITMORE^Agnes^Clara",
                                patient_id="NHS9434765919")
        workstation.store.put(encode(dataset), dataset, calling_ae="STORESCU",
                              reporter="drsmith")
    access = StudyAccess(workstation.store, workstation.audit, "drsmith", "reporter")
    open_study(access, study_uid)
    AuditedComparison(workstation.audit, "drsmith").prior_refused(
        study_uid, prior_uid, "Prior belongs to WHITMORE^Agnes^Clara, ID NHS9434765919")
    document = render_audit_messages(workstation.audit.events(), source_id=SOURCE)
    assert b"WHITMORE" not in document and b"Agnes" not in document
    assert b"NHS9434765919" not in document
    messages = ET.fromstring(document).findall("AuditMessage")
    assert len(messages) == 2
    assert {obj.get("ParticipantObjectID") for message in messages
            for obj in study_objects(message)} == {study_uid, prior_uid}


def test_export_document_holds_one_valid_message_per_event(workstation: Workstation) -> None:
    for n in range(4):
        workstation.audit.record(AuditEvent(EventId.IMPORT, "C", "STORESCU",
                                            objects=(("study", f"{STUDY}.{n}"),)))
    document = ET.fromstring(render_audit_messages(workstation.audit.events(),
                                                   source_id=SOURCE))
    assert document.tag == "AuditMessages"
    assert len(document) == 4
    for message in document:
        validate_audit_message(ET.tostring(message))
