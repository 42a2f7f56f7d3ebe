"""A reporter sees only the studies assigned to them — enforced in the store API."""

from __future__ import annotations

import json

import pytest

from app.access import AccessDenied, StudyAccess
from app.audit import EventId
from app.synthetic import iter_instances
from tests.helpers import encode, small_plan


@pytest.fixture
def two_reporters(workstation):
    mine, theirs = small_plan("CT_HEAD", 2), small_plan("CR_CHEST", 1)
    for plan, reporter in ((mine, "dr.a"), (theirs, "dr.b")):
        for dataset in iter_instances(plan):
            workstation.store.put(encode(dataset), dataset, reporter=reporter)
    return mine, theirs


def _alerts(workstation) -> list[list]:
    return [json.loads(e["objects"]) for e in workstation.audit.events()
            if e["event_id"] == EventId.SECURITY_ALERT]


def test_reporter_lists_only_their_own_studies(workstation, two_reporters) -> None:
    mine, _theirs = two_reporters
    access = StudyAccess(workstation.store, workstation.audit, "dr.a", "reporter")
    assert [s.study_uid for s in access.list_studies()] == [mine.study_uid]


def test_reporter_cannot_read_another_reporters_study_and_the_attempt_is_audited(
    workstation, two_reporters
) -> None:
    _mine, theirs = two_reporters
    access = StudyAccess(workstation.store, workstation.audit, "dr.a", "reporter")
    instance = workstation.store.list_instances(theirs.study_uid)[0].sop_instance_uid
    with pytest.raises(AccessDenied, match="not assigned to them"):
        access.list_instances(theirs.study_uid)
    with pytest.raises(AccessDenied):
        access.read_bytes(instance)
    with pytest.raises(AccessDenied):
        access.open_instance(instance)
    assert _alerts(workstation) == [[["study", theirs.study_uid]], [["instance", instance]],
                                    [["instance", instance]]]


def test_reporter_reads_their_own_images(workstation, two_reporters) -> None:
    mine, _theirs = two_reporters
    access = StudyAccess(workstation.store, workstation.audit, "dr.a", "reporter")
    (instance, _second) = access.list_instances(mine.study_uid)
    assert access.open_instance(instance.sop_instance_uid).StudyInstanceUID == mine.study_uid
    assert _alerts(workstation) == []


def test_it_auditor_sees_no_images(workstation, two_reporters) -> None:
    mine, _theirs = two_reporters
    access = StudyAccess(workstation.store, workstation.audit, "it.audit", "it-auditor")
    assert access.list_studies() == []
    with pytest.raises(AccessDenied):
        access.list_instances(mine.study_uid)


def test_administrator_sees_every_study(workstation, two_reporters) -> None:
    access = StudyAccess(workstation.store, workstation.audit, "admin", "admin")
    assert len(access.list_studies()) == 2
