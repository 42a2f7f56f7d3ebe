"""The encrypted study store: what goes in comes back bit for bit, or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from app.errors import IntegrityError, InvalidDicomValue, OutOfResources, StoreError
from app.node import StorageNode
from app.store import PutResult
from app.workstation import Workstation, open_workstation
from tests.helpers import (
    encode,
    indexed_object_names,
    make_instance,
    object_files_with_data,
    snapshot,
    unacknowledged_data,
)


def put(workstation: Workstation, **fields: object) -> tuple[str, bytes]:
    """Store one small CT instance; returns its SOP Instance UID and the bytes stored."""
    dataset = make_instance(**fields)  # type: ignore[arg-type]
    encoded = encode(dataset)
    assert workstation.store.put(encoded, dataset) is PutResult.STORED
    return dataset.SOPInstanceUID, encoded


def object_file(workstation: Workstation, sop_uid: str) -> Path:
    (row,) = workstation.database.query(
        "SELECT object_name FROM instances WHERE sop_instance_uid = ?", (sop_uid,)
    )
    (path,) = workstation.paths.objects.rglob(row["object_name"])
    return path


def test_instance_reads_back_bit_identical(workstation: Workstation) -> None:
    sop_uid, encoded = put(workstation, patient_name="TESTPATIENT^Round", pixel_value=1234)

    assert workstation.store.read_bytes(sop_uid) == encoded
    opened = workstation.store.open_instance(sop_uid)
    assert str(opened.PatientName) == "TESTPATIENT^Round"
    assert opened.pixel_array[0, 0] == 1234


def test_instance_file_on_disk_is_ciphertext(workstation: Workstation) -> None:
    sop_uid, encoded = put(workstation, patient_name="TESTPATIENT^Cipher", patient_id="PID7731")

    stored = object_file(workstation, sop_uid).read_bytes()
    assert stored != encoded
    for clear_text in (b"TESTPATIENT", b"PID7731", sop_uid.encode(), b"DICM"):
        assert clear_text not in stored
    assert sop_uid not in object_file(workstation, sop_uid).name


def test_received_study_is_listed_with_its_instances(workstation: Workstation) -> None:
    study_uid, series_uid = generate_uid(), generate_uid()
    uids = [
        put(workstation, study_uid=study_uid, series_uid=series_uid, instance_number=n)[0]
        for n in (2, 1, 3)
    ]

    (study,) = workstation.store.list_studies()
    assert (study.study_uid, study.instances, study.modalities) == (study_uid, 3, ("CT",))
    assert (study.patient_name, study.patient_id) == ("TESTPATIENT^Unit", "UNIT0001")
    listed = workstation.store.list_instances(study_uid)
    assert [i.instance_number for i in listed] == [1, 2, 3]
    assert sorted(i.sop_instance_uid for i in listed) == sorted(uids)
    assert {i.transfer_syntax_uid for i in listed} == {"1.2.840.10008.1.2.1"}


def test_worklist_hears_of_a_study_as_each_instance_lands(workstation: Workstation) -> None:
    heard: list[str] = []
    workstation.store.listeners.append(heard.append)
    study_uid = generate_uid()

    first, _ = put(workstation, study_uid=study_uid)
    assert heard == [study_uid]
    assert workstation.store.list_studies()[0].instances == 1
    put(workstation, study_uid=study_uid)
    assert heard == [study_uid, study_uid]
    assert workstation.store.list_studies()[0].instances == 2

    again = make_instance(study_uid=study_uid, sop_uid=first)
    assert workstation.store.put(encode(again), again) is PutResult.DUPLICATE
    assert heard == [study_uid, study_uid], "a duplicate changes nothing, so nobody is told"


def test_study_counts_as_complete_only_after_the_quiet_period(tmp_path: Path) -> None:
    waiting = open_workstation(tmp_path / "waiting")  # default quiet period: 120 s
    put(waiting)
    assert waiting.store.list_studies()[0].complete is False
    waiting.close()

    quiet = open_workstation(tmp_path / "quiet")
    quiet.save_settings(quiet.settings.with_value("node.study_quiet_seconds", 0))
    quiet.close()
    quiet = open_workstation(tmp_path / "quiet")
    put(quiet)
    assert quiet.store.list_studies()[0].complete is True
    quiet.close()


def test_duplicate_keeps_the_first_copy(workstation: Workstation) -> None:
    sop_uid, first = put(workstation, pixel_value=1)
    study_uid = workstation.store.list_studies()[0].study_uid
    second = make_instance(study_uid=study_uid, sop_uid=sop_uid, pixel_value=2)

    assert workstation.store.put(encode(second), second) is PutResult.DUPLICATE
    assert workstation.store.read_bytes(sop_uid) == first
    assert workstation.store.list_studies()[0].instances == 1
    assert len(object_files_with_data(workstation)) == 1


def test_a_purged_study_received_again_is_indexed_afresh(workstation: Workstation) -> None:
    """The store remembers which studies it indexed (only their last-received time changes
    with each instance); after a purge the next instance writes the study row again."""
    first, _ = put(workstation, patient_name="TESTPATIENT^Again")
    study_uid = workstation.store.list_studies()[0].study_uid
    put(workstation, study_uid=study_uid)
    assert workstation.store.list_studies()[0].instances == 2
    assert workstation.store.purge_study(study_uid) == 2

    again, encoded_again = put(workstation, study_uid=study_uid, patient_name="TESTPATIENT^Again")

    (study,) = workstation.store.list_studies()
    assert (study.study_uid, study.instances) == (study_uid, 1)
    assert str(study.patient_name) == "TESTPATIENT^Again"
    assert workstation.store.read_bytes(again) == encoded_again
    assert not workstation.store.contains(first)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
@pytest.mark.parametrize("attribute", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
@pytest.mark.parametrize(
    "bad_uid",
    ["../../x", "1." + "2" * 63, "1.2.840.abc"],
    ids=["path traversal", "65 characters", "letters"],
)
def test_invalid_uid_is_refused_and_nothing_is_written(
    workstation: Workstation, tmp_path: Path, attribute: str, bad_uid: str
) -> None:
    dataset = make_instance()
    setattr(dataset, attribute, bad_uid)
    before = snapshot(tmp_path)

    with pytest.raises(InvalidDicomValue, match="not a valid UID"):
        workstation.store.put(encode(dataset), dataset)

    assert snapshot(tmp_path) == before
    assert not (tmp_path.parent / "x").exists()
    assert workstation.store.list_studies() == []


def test_uid_of_exactly_64_characters_is_accepted(workstation: Workstation) -> None:
    longest = "1." + "2" * 62
    assert len(longest) == 64
    sop_uid, encoded = put(workstation, sop_uid=longest)
    assert workstation.store.read_bytes(sop_uid) == encoded


def test_flipped_byte_in_an_object_file_is_detected(workstation: Workstation) -> None:
    sop_uid, _ = put(workstation)
    path = object_file(workstation, sop_uid)
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    path.write_bytes(bytes(damaged))

    with pytest.raises(IntegrityError, match="integrity"):
        workstation.store.read_bytes(sop_uid)
    with pytest.raises(IntegrityError):
        workstation.store.open_instance(sop_uid)


def test_truncated_object_file_is_detected(workstation: Workstation) -> None:
    sop_uid, _ = put(workstation)
    path = object_file(workstation, sop_uid)
    path.write_bytes(path.read_bytes()[:-1])

    with pytest.raises(IntegrityError):
        workstation.store.read_bytes(sop_uid)


@pytest.mark.parametrize("same_study", [False, True], ids=["between studies", "within a study"])
def test_swapped_object_files_are_detected(workstation: Workstation, same_study: bool) -> None:
    study_uid = generate_uid()
    first, _ = put(workstation, study_uid=study_uid, patient_id="PATIENT-A")
    second, _ = put(
        workstation, study_uid=study_uid if same_study else generate_uid(), patient_id="PATIENT-B"
    )
    path_a, path_b = object_file(workstation, first), object_file(workstation, second)
    blob_a, blob_b = path_a.read_bytes(), path_b.read_bytes()
    path_a.write_bytes(blob_b)
    path_b.write_bytes(blob_a)

    with pytest.raises(IntegrityError):
        workstation.store.read_bytes(first)
    with pytest.raises(IntegrityError):
        workstation.store.read_bytes(second)


def test_unknown_instance_is_a_store_error(workstation: Workstation) -> None:
    with pytest.raises(StoreError, match="not in the store"):
        workstation.store.read_bytes("1.2.3.4")


def test_stored_instances_survive_reopening_the_profile(tmp_path: Path) -> None:
    first = open_workstation(tmp_path / "profile")
    sop_uid, encoded = put(first)
    first.close()

    reopened = open_workstation(tmp_path / "profile")
    assert reopened.store.read_bytes(sop_uid) == encoded
    reopened.close()


def _crash(workstation: Workstation) -> None:
    """Stop writing the way a power cut does: no clean close, the running marker stays."""
    marker = workstation.paths.root / "writer.running"
    assert marker.exists(), "a writing store marks the profile as being written"
    workstation.close()
    marker.touch()


def test_file_half_written_before_a_crash_is_quarantined_and_never_served(
    tmp_path: Path,
) -> None:
    """A crash mid-write leaves bytes in a file no index row names: never acknowledged."""
    first = open_workstation(tmp_path / "profile")
    kept, encoded = put(first)
    stray = first.paths.objects / "ab" / ("ab" + "0" * 30)
    stray.write_bytes(b"TRD1" + b"\x5a" * 1000)
    _crash(first)

    reopened = open_workstation(tmp_path / "profile")
    after, _ = put(reopened)  # the node is receiving again
    (quarantined,) = reopened.store.quarantined
    assert reopened.paths.quarantine in quarantined.parents
    assert quarantined.read_bytes().startswith(b"TRD1")
    assert not stray.exists()
    assert unacknowledged_data(reopened) == []
    assert reopened.store.read_bytes(kept) == encoded
    assert reopened.store.contains(after)
    reopened.close()


def test_node_start_audits_what_recovery_set_aside(tmp_path: Path) -> None:
    first = open_workstation(tmp_path / "profile")
    put(first)
    stray = first.paths.objects / "ab" / ("ab" + "1" * 30)
    stray.write_bytes(b"TRD1" + b"\x5a" * 100)
    _crash(first)

    reopened = open_workstation(tmp_path / "profile")
    node = StorageNode(reopened.store, reopened.audit, reopened.settings)
    node.start(host="127.0.0.1", port=0)
    node.stop()
    details = [str(event["detail"]) for event in reopened.audit.events()]
    assert any("1 file(s) from an interrupted run set aside in quarantine: " + stray.name
               in detail for detail in details)
    reopened.close()


def test_indexed_instance_whose_file_did_not_reach_the_disk_is_set_aside_after_a_crash(
    tmp_path: Path,
) -> None:
    """The index commit and the file fsync overlap; a crash between them can leave a row
    whose file is short. That instance was never acknowledged: recovery removes it."""
    first = open_workstation(tmp_path / "profile")
    kept, encoded = put(first)
    lost, _ = put(first)
    (name,) = [row["object_name"] for row in first.database.query(
        "SELECT object_name FROM instances WHERE sop_instance_uid = ?", (lost,))]
    path = first.paths.objects / name[:2] / name
    path.write_bytes(path.read_bytes()[:100])
    _crash(first)

    reopened = open_workstation(tmp_path / "profile")
    reopened.store.open_for_writing()
    assert not reopened.store.contains(lost)
    assert [q.name for q in reopened.store.quarantined] == [name]
    assert reopened.store.read_bytes(kept) == encoded
    reopened.close()


def test_a_clean_close_needs_no_recovery(tmp_path: Path) -> None:
    first = open_workstation(tmp_path / "profile")
    put(first)
    first.close()
    assert not (first.paths.root / "writer.running").exists()


def _disk_full(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_refuses_the_instance_and_leaves_nothing_half_written(
    workstation: Workstation, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = make_instance()
    encoded = encode(dataset)
    monkeypatch.setattr(os, "fsync", _disk_full)

    with pytest.raises(OutOfResources, match="out of space"):
        workstation.store.put(encoded, dataset)

    assert unacknowledged_data(workstation) == []
    assert object_files_with_data(workstation) == []
    assert workstation.store.list_studies() == []
    assert not workstation.store.contains(dataset.SOPInstanceUID)

    monkeypatch.undo()  # space is back: the sender's retry is stored
    assert workstation.store.put(encoded, dataset) is PutResult.STORED
    assert workstation.store.read_bytes(dataset.SOPInstanceUID) == encoded


def test_full_index_refuses_the_instance_as_out_of_resources(workstation: Workstation) -> None:
    """A quota on the index (SQLITE_FULL) is "out of resources" too, with no orphan file."""
    put(workstation)
    connection = workstation.database._connection
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(OutOfResources):
        for _ in range(500):  # new studies until the index has no page left
            put(workstation)

    assert len(object_files_with_data(workstation)) == len(indexed_object_names(workstation))
    assert unacknowledged_data(workstation) == []


def test_second_receiver_on_the_same_profile_is_refused(tmp_path: Path) -> None:
    """One node writes into a profile; a second one is told so instead of racing it."""
    receiving = open_workstation(tmp_path / "profile")
    put(receiving)
    second = open_workstation(tmp_path / "profile")
    dataset = make_instance()

    with pytest.raises(StoreError, match="already receiving"):
        second.store.put(encode(dataset), dataset)

    assert not receiving.store.contains(dataset.SOPInstanceUID)
    second.close()
    receiving.close()
