"""Patient data opens only after a reader signs in; the node stores it regardless."""

from __future__ import annotations

import pytest

from app.crypto import KeyHierarchy, encrypt_blob
from app.errors import AuthError, StoreLocked
from app.synthetic import iter_instances
from app.users import UserDirectory
from app.workstation import Workstation, master_key, open_workstation
from tests.helpers import encode, small_plan
from tests.reading_room import store_plan

PASSWORD = "correct horse battery staple"


def _enrol(workstation: Workstation, username: str = "alice") -> None:
    UserDirectory(workstation.database, workstation.audit).add_user(
        username, "Dr Alice Smith", "reporter", PASSWORD, "7654321")
    workstation.grant_reading_key(username, PASSWORD)


def _reopen(workstation: Workstation) -> Workstation:
    root = workstation.paths.root
    workstation.close()
    return open_workstation(root)


def test_new_profile_is_open_until_its_first_reader_is_enrolled(
        workstation: Workstation) -> None:
    assert not workstation.store.locked  # before accounts exist, as before
    _enrol(workstation)
    reopened = _reopen(workstation)
    try:
        assert reopened.store.locked
    finally:
        reopened.close()


def test_locked_node_stores_what_arrives_and_a_reader_opens_it(
        workstation: Workstation) -> None:
    plan = small_plan("CT_CHEST", 2)
    store_plan(workstation.store, plan, reporter="alice")
    _enrol(workstation)
    workstation = _reopen(workstation)
    try:
        late = next(iter_instances(small_plan("CT_CHEST", 3)))  # instance 1 again: duplicate
        late.SOPInstanceUID = late.SOPInstanceUID + ".9"
        late.file_meta.MediaStorageSOPInstanceUID = late.SOPInstanceUID
        workstation.store.put(encode(late), late, reporter="alice")  # while locked
        with pytest.raises(StoreLocked, match="sign in"):
            workstation.store.list_studies()
        with pytest.raises(StoreLocked):
            workstation.store.read_bytes(late.SOPInstanceUID)
        workstation.unlock("alice", PASSWORD)
        assert workstation.store.list_studies()[0].patient_name == "TESTPATIENT^Alice"
        assert workstation.store.read_bytes(late.SOPInstanceUID)  # a second key version
        versions = workstation.database.query(
            "SELECT version FROM study_keys WHERE study_uid = ?", (plan.study_uid,))
        assert [row["version"] for row in versions] == [1, 2]
    finally:
        workstation.close()


def test_with_the_node_key_alone_the_index_names_no_patient(workstation: Workstation) -> None:
    """What a thief who also has the OS keyring finds: no patient, anywhere in the index."""
    store_plan(workstation.store, small_plan("CT_CHEST", 2), reporter="alice")
    _enrol(workstation)
    workstation = _reopen(workstation)
    try:
        for table in ("studies", "series", "instances", "study_keys", "audit_events",
                      "key_slots", "reading_key"):
            for row in workstation.database.query(f"SELECT * FROM {table}"):
                for value in row.values():
                    data = value if isinstance(value, bytes) else str(value).encode()
                    assert b"TESTPATIENT" not in data, f"{table} holds a patient name"
                    assert b"RX1000001" not in data, f"{table} holds a patient ID"
    finally:
        workstation.close()


def test_wrong_password_opens_no_slot(workstation: Workstation) -> None:
    _enrol(workstation)
    with pytest.raises(AuthError, match="does not open"):
        workstation.unlock("alice", "not the password at all")


def test_second_reader_needs_a_signed_in_reader_to_get_a_key(
        workstation: Workstation) -> None:
    _enrol(workstation)
    workstation = _reopen(workstation)
    try:
        UserDirectory(workstation.database, workstation.audit).add_user(
            "bob", "Dr Bob Jones", "reporter", PASSWORD, "1234567")
        with pytest.raises(AuthError, match="--by"):
            workstation.grant_reading_key("bob", PASSWORD)
        workstation.unlock("alice", PASSWORD)
        workstation.grant_reading_key("bob", PASSWORD)
        assert workstation.reading_keys.has_slot("bob")
    finally:
        workstation.close()


def test_revoked_reader_can_no_longer_open_patient_data(workstation: Workstation) -> None:
    _enrol(workstation)
    workstation.reading_keys.revoke("alice")
    with pytest.raises(AuthError, match="holds no key"):
        workstation.unlock("alice", PASSWORD)


def test_profile_made_before_the_reading_key_is_sealed_when_opened(
        workstation: Workstation) -> None:
    plan = small_plan("CR_CHEST", 1)
    store_plan(workstation.store, plan, reporter="alice")
    uid = plan.study_uid
    data_key = workstation.store._keys.for_reading(uid, 1)
    keys = KeyHierarchy.from_master(master_key(workstation.paths, workstation.settings))
    with workstation.database.transaction() as cursor:  # the layout of migration 7
        cursor.execute("DELETE FROM study_keys")
        cursor.execute("DELETE FROM reading_key")
        cursor.execute("UPDATE instances SET key_version = 0")
        cursor.execute(
            "UPDATE studies SET identity = NULL, identity_version = 0, wrapped_key = ?, "
            "patient_name = 'TESTPATIENT^Carol', patient_id = 'RX1000003'",
            (encrypt_blob(keys.wrapping_key, data_key, uid.encode("ascii")),))
    workstation = _reopen(workstation)
    try:
        study = workstation.store.list_studies()[0]
        assert (study.patient_name, study.patient_id) == ("TESTPATIENT^Carol", "RX1000003")
        instance = workstation.store.list_instances(uid)[0]
        assert workstation.store.read_bytes(instance.sop_instance_uid)
        clear = workstation.database.query("SELECT patient_name, wrapped_key FROM studies")
        assert clear == [{"patient_name": "", "wrapped_key": b""}]
    finally:
        workstation.close()


def test_sign_in_opens_patient_data_for_readers_only(workstation: Workstation) -> None:
    directory = UserDirectory(workstation.database, workstation.audit)
    directory.add_user("carol", "Trust IT", "it-auditor", PASSWORD)
    directory.add_user("alice", "Dr Alice Smith", "reporter", PASSWORD, "7654321")
    # a profile from before the reading key: Alice's first sign-in gives her a slot
    workstation.open_for("alice", "reporter", PASSWORD)
    assert workstation.reading_keys.has_slot("alice")
    assert not workstation.reading_keys.enrolment_open()  # every reader now holds a slot
    workstation = _reopen(workstation)
    try:
        workstation.open_for("carol", "it-auditor", PASSWORD)
        assert workstation.store.locked and not workstation.reading_keys.has_slot("carol")
        workstation.open_for("alice", "reporter", PASSWORD)
        assert not workstation.store.locked
    finally:
        workstation.close()
