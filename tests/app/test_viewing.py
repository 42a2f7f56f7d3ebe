"""Opening a study for reporting: the access is audited and Alice's relevant prior is offered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from pydicom.uid import generate_uid

from app.access import AccessDenied, StudyAccess
from app.audit import EventId
from app.synthetic import iter_instances
from app.viewing import OpenedStudy, StoreStudyReader, open_study
from app.workstation import Workstation
from tests.helpers import small_plan
from tests.reading_room import (
    CURRENT_SLICES,
    REPORTER,
    ReadingRoom,
    fill_reading_room,
    store_plan,
)


@pytest.fixture
def room(workstation: Workstation) -> ReadingRoom:
    return fill_reading_room(workstation.store)


def access_for(workstation: Workstation, reporter: str = REPORTER) -> StudyAccess:
    return StudyAccess(workstation.store, workstation.audit, reporter, "reporter")


def open_for(workstation: Workstation, study_uid: str, reporter: str = REPORTER) -> OpenedStudy:
    return open_study(access_for(workstation, reporter), study_uid)


def events_of(workstation: Workstation, event_id: EventId) -> list[dict]:
    return [e for e in workstation.audit.events() if e["event_id"] == event_id]


def studies_named(event: dict) -> list[str]:
    return [uid for kind, uid in json.loads(event["objects"]) if kind == "study"]


def test_opening_a_study_records_dicom_instances_accessed(workstation, room) -> None:
    current = room.alice_current.study_uid
    assert events_of(workstation, EventId.INSTANCES_ACCESSED) == []

    open_for(workstation, current)

    (event,) = events_of(workstation, EventId.INSTANCES_ACCESSED)
    assert studies_named(event) == [current]
    assert event["action"] == "R"
    assert event["actor"] == REPORTER  # the signed-in user who opened it
    assert workstation.audit.verify() is None


def test_alices_chest_prior_is_proposed_before_her_more_recent_head_ct(workstation,
                                                                          room) -> None:
    alice = room.alice_current.patient
    month_ago = dt.date.fromisoformat(room.alice_current.study_date) - dt.timedelta(days=30)
    head = dataclasses.replace(small_plan("CT_HEAD", 4), patient=alice,
                               study_uid=generate_uid(), study_date=month_ago.strftime("%Y%m%d"))
    store_plan(workstation.store, head)

    opened = open_for(workstation, room.alice_current.study_uid)

    assert opened.layout.current.study_uid == room.alice_current.study_uid
    assert [p.study_uid for p in opened.priors] == [room.alice_prior.study_uid, head.study_uid]


def test_other_patients_and_misspelt_copies_are_listed_among_others_not_proposed(
        workstation, room) -> None:
    opened = open_for(workstation, room.alice_current.study_uid)

    proposed = {p.study_uid for p in opened.priors}
    others = {s.study_uid for s in opened.others}
    assert room.bob.study_uid in others
    assert room.alicia_uid in others
    assert not proposed & others
    assert room.alice_current.study_uid not in proposed | others


def test_a_study_outside_the_reporters_worklist_cannot_be_opened(workstation, room) -> None:
    carol = small_plan("CR_CHEST", 1)
    store_plan(workstation.store, carol, reporter="someone-else")

    with pytest.raises(AccessDenied, match="not assigned"):
        open_for(workstation, carol.study_uid)
    with pytest.raises(AccessDenied, match="not assigned"):
        open_for(workstation, generate_uid())
    assert events_of(workstation, EventId.INSTANCES_ACCESSED) == []
    refused = events_of(workstation, EventId.SECURITY_ALERT)
    assert json.loads(refused[0]["objects"]) == [["study", carol.study_uid]]


def test_store_reader_lists_the_series_with_geometry_from_the_index(workstation, room) -> None:
    reader = StoreStudyReader(access_for(workstation))

    (series,) = reader.series_of(room.alice_current.study_uid)

    images = {ds.SOPInstanceUID: ds for ds in iter_instances(room.alice_current)}
    first = next(iter(images.values()))
    assert series.series_uid == first.SeriesInstanceUID
    assert (series.number, series.modality, series.description) == (2, "CT", "Axial chest")
    assert len(series.instances) == CURRENT_SLICES
    assert {ref.sop_instance_uid for ref in series.instances} == images.keys()
    for ref in series.instances:
        image = images[ref.sop_instance_uid]
        assert ref.instance_number == image.InstanceNumber
        assert ref.image_position == pytest.approx(tuple(map(float, image.ImagePositionPatient)))
        assert ref.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        assert ref.frames == 1
    assert series.label() == f"Se 2 CT Axial chest ({CURRENT_SLICES})"
