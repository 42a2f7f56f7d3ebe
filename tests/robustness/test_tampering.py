"""Tampering with the store on disk: an instance file that was altered, truncated or
swapped for another study's is refused by its AES-GCM tag, audited as a Security Alert
(110113), and shown to the reader as refused, while every untouched image still opens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.access import StudyAccess
from app.audit import EventId, Outcome
from app.errors import IntegrityError
from app.synthetic import StudyPlan
from app.workstation import Workstation
from tests.helpers import object_files_with_data, small_plan
from tests.reading_room import REPORTER, store_plan
from tests.study_windows import worklist_opener
from viewer.ui.comparison_window import ComparisonWindow

SLICES = 5
OpenWindow = Callable[[str], ComparisonWindow]


@pytest.fixture
def chest(workstation: Workstation) -> StudyPlan:
    plan = small_plan("CT_CHEST", SLICES)
    store_plan(workstation.store, plan)
    return plan


@pytest.fixture
def head(workstation: Workstation) -> StudyPlan:
    plan = small_plan("CT_HEAD", SLICES)
    store_plan(workstation.store, plan)
    return plan


@pytest.fixture
def access(workstation: Workstation) -> StudyAccess:
    return StudyAccess(workstation.store, workstation.audit, REPORTER, "reporter")


def instances_of(workstation: Workstation, plan: StudyPlan) -> list[str]:
    return [i.sop_instance_uid for i in workstation.store.list_instances(plan.study_uid)]


def object_file(workstation: Workstation, sop_instance_uid: str) -> Path:
    """The encrypted file holding one instance (its name is a random token)."""
    (row,) = workstation.database.query(
        "SELECT object_name FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,))
    (path,) = workstation.paths.objects.rglob(row["object_name"])
    return path


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def swap(first: Path, second: Path) -> None:
    """Exchange two files on disk by renaming, as someone with access to the folder could."""
    parked = first.with_name(first.name + ".swap")
    first.rename(parked)
    second.rename(first)
    parked.rename(second)


def integrity_alerts(workstation: Workstation) -> list[list[list[str]]]:
    """The objects named by each Security Alert about a failed integrity check."""
    return [json.loads(str(event["objects"])) for event in workstation.audit.events()
            if event["event_id"] == EventId.SECURITY_ALERT
            and str(event["detail"]).startswith("integrity check failed")
            and event["outcome"] == Outcome.SERIOUS_FAILURE and event["actor"] == REPORTER]


def assert_opens(access: StudyAccess, uids: list[str]) -> None:
    for uid in uids:
        assert access.open_instance(uid).SOPInstanceUID == uid


# ---- the store refuses -----------------------------------------------------------------


def test_one_flipped_byte_is_refused_and_audited(workstation: Workstation, chest: StudyPlan,
                                                 access: StudyAccess) -> None:
    victim, *untouched = instances_of(workstation, chest)
    flip_middle_byte(object_file(workstation, victim))

    with pytest.raises(IntegrityError, match="integrity check"):
        access.read_bytes(victim)

    assert integrity_alerts(workstation) == [[["instance", victim]]]
    (alert,) = [e for e in workstation.audit.events()
                if str(e["detail"]).startswith("integrity check failed")]
    assert "altered, truncated or swapped" in str(alert["detail"])
    assert workstation.audit.verify() is None
    assert_opens(access, untouched)


def test_files_swapped_between_two_studies_are_both_refused(
        workstation: Workstation, chest: StudyPlan, head: StudyPlan,
        access: StudyAccess) -> None:
    # both files are genuine ciphertext: only the study and instance UIDs bound in as
    # associated data tell that each now sits under the other's index entry
    from_chest, from_head = instances_of(workstation, chest)[2], instances_of(workstation, head)[2]
    swap(object_file(workstation, from_chest), object_file(workstation, from_head))

    for uid in (from_chest, from_head):
        with pytest.raises(IntegrityError):
            access.open_instance(uid)

    assert integrity_alerts(workstation) == [[["instance", from_chest]], [["instance", from_head]]]
    assert_opens(access, [uid for plan in (chest, head) for uid in instances_of(workstation, plan)
                          if uid not in (from_chest, from_head)])


def test_truncated_file_is_refused(workstation: Workstation, chest: StudyPlan,
                                   access: StudyAccess) -> None:
    victim, *untouched = instances_of(workstation, chest)
    path = object_file(workstation, victim)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(IntegrityError, match="integrity check"):
        access.read_bytes(victim)

    assert integrity_alerts(workstation) == [[["instance", victim]]]
    assert_opens(access, untouched)


def test_file_cut_to_a_few_bytes_is_refused_as_an_integrity_failure(
        workstation: Workstation, chest: StudyPlan, access: StudyAccess) -> None:
    victim = instances_of(workstation, chest)[0]
    path = object_file(workstation, victim)
    path.write_bytes(path.read_bytes()[:8])

    with pytest.raises(IntegrityError, match="integrity check"):
        access.read_bytes(victim)

    assert integrity_alerts(workstation) == [[["instance", victim]]]


def test_untouched_store_raises_no_alert(workstation: Workstation, chest: StudyPlan,
                                         head: StudyPlan, access: StudyAccess) -> None:
    assert len(object_files_with_data(workstation)) == 2 * SLICES

    assert_opens(access, instances_of(workstation, chest) + instances_of(workstation, head))

    assert integrity_alerts(workstation) == []


# ---- the viewer shows it ---------------------------------------------------------------


@pytest.fixture
def opened_window(qtbot, workstation: Workstation, chest: StudyPlan, access: StudyAccess,
                  monkeypatch) -> Iterator[OpenWindow]:
    """Opens a study as the worklist does; decoding threads are finished afterwards."""
    with worklist_opener(qtbot, workstation, access, monkeypatch) as open_:
        yield open_


def test_tampered_slice_shows_as_refused_in_the_viewer(
        workstation: Workstation, chest: StudyPlan, opened_window: OpenWindow) -> None:
    victim = instances_of(workstation, chest)[SLICES // 2]
    flip_middle_byte(object_file(workstation, victim))

    window = opened_window(chest.study_uid)
    viewport = window.current_pane.viewport
    assert viewport is not None
    viewport.volume.wait()  # every slice decoded (or refused) in the background
    shown = {uid.sop_instance_uid: index for index, uid in enumerate(viewport.volume.frames)}

    viewport.go_to(shown[victim])
    assert "integrity check" in viewport.message.text()
    assert "altered, truncated or swapped" in viewport.message.text()
    for uid, index in shown.items():
        if uid != victim:
            viewport.go_to(index)
            assert viewport.message.text() == ""
    assert [["instance", victim]] in integrity_alerts(workstation)
