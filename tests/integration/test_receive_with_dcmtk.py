"""Real senders against the running node: DCMTK storescu/dcmsend and a pynetdicom SCU.

Every instance must come back from the store exactly as it travelled; whatever the node
refuses must leave no trace outside the store (STANDARDS §1, PS3.4 B.2.3 statuses).
"""

from __future__ import annotations

import errno
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from app.import_ledger import ImportLedger
from app.synthetic import StudyPlan, write_study
from tests.conftest import RunningNode
from tests.helpers import (
    dataset_bytes_without_meta,
    encode,
    eventually,
    files_below,
    import_events,
    make_instance,
    object_files_with_data,
    run_dcmtk,
    small_plan,
    unacknowledged_data,
)

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000 = "1.2.840.10008.1.2.4.91"
UNCOMPRESSED = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


def is_failure(status: int) -> bool:
    """Failure classes of a C-STORE response: A7xx, A9xx, Cxxx (PS3.4 B.2.3)."""
    return status >> 12 in (0xA, 0xC)


@dataclass(frozen=True)
class Sent:
    """The files our senders transmit, grouped by how they travel."""

    ct: StudyPlan
    mr: StudyPlan
    ct_files: list[Path]
    mr_files: list[Path]
    jpeg_ls: Path
    jpeg_2000: Path
    report: Path


def basic_text_report(plan: StudyPlan) -> Dataset:
    """A verified Basic Text SR for ``plan``'s study (TID 2000 sections as TEXT items)."""

    def code(value: str, scheme: str, meaning: str) -> list[Dataset]:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
        return [item]

    def text(meaning_code: tuple[str, str, str], value: str) -> Dataset:
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        item.ConceptNameCodeSequence = code(*meaning_code)
        item.TextValue = value
        return item

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = BasicTextSRStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = plan.study_uid, generate_uid()
    ds.PatientName, ds.PatientID = plan.patient.name, plan.patient.patient_id
    ds.PatientBirthDate, ds.PatientSex = plan.patient.birth_date, plan.patient.sex
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = plan.study_date, "120000", plan.accession
    ds.ReferringPhysicianName, ds.StudyID, ds.Manufacturer = "", "1", "telerad tests"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 900, 1
    ds.ContentDate, ds.ContentTime = plan.study_date, "133000"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = code("18748-4", "LN", "Diagnostic Imaging Report")
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "TESTREPORTER^Home"
    observer.VerifyingOrganization = "Synthetic Teleradiology"
    observer.VerificationDateTime = f"{plan.study_date}133000"
    observer.VerifyingObserverIdentificationCodeSequence = []
    ds.VerifyingObserverSequence = [observer]
    ds.ContentSequence = [
        text(("121071", "DCM", "Finding"), "No acute intracranial haemorrhage."),
        text(("121073", "DCM", "Impression"), "Normal CT head."),
    ]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    """A 12-slice CT head and 6-slice MR brain, one JPEG-LS and one JPEG 2000 instance, an SR.

    DCMTK re-encodes what it sends in its own way (explicit-length sequences, no trailing
    padding); the compressed files are therefore written by DCMTK itself, so the bytes on
    disk are the bytes on the wire.
    """
    root = tmp_path_factory.mktemp("sent")
    ct, mr = small_plan("CT_HEAD", 12), small_plan("MR_BRAIN", 6)
    ct_files, mr_files = write_study(ct, root / "ct"), write_study(mr, root / "mr")

    (source,) = write_study(small_plan("MR_BRAIN", 1, prior=True), root / "mr-prior")
    jpeg_ls = root / "jpeg-ls.dcm"
    result = run_dcmtk("dcmcjpls", source, jpeg_ls)
    assert result.returncode == 0, result.stderr

    jpeg_2000 = root / "jpeg-2000.dcm"
    result = run_dcmtk("dcmconv", get_testdata_file("JPEG2000.dcm"), jpeg_2000)
    assert result.returncode == 0, result.stderr

    report = root / "report.dcm"
    basic_text_report(ct).save_as(report, enforce_file_format=True)
    return Sent(ct, mr, ct_files, mr_files, jpeg_ls, jpeg_2000, report)


def storescu(node: RunningNode, *files: Path, calling: str = "STORESCU",
             called: str | None = None):  # type: ignore[no-untyped-def]
    return run_dcmtk("storescu", "-aet", calling, "-aec", called or node.ae_title,
                     node.host, str(node.port), *files)


def dcmsend(node: RunningNode, *files: Path):  # type: ignore[no-untyped-def]
    return run_dcmtk("dcmsend", "--decompress-never", "-aet", "DCMSEND",
                     "-aec", node.ae_title, node.host, str(node.port), *files)


def assert_stored_as_sent(node: RunningNode, files: list[Path]) -> None:
    """Each file is listed under its study and reads back with the very bytes that were sent."""
    store = node.workstation.store
    studies = {study.study_uid for study in store.list_studies()}
    for path in files:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert header.StudyInstanceUID in studies, f"{path.name}: study not listed"
        listed = {i.sop_instance_uid: i for i in store.list_instances(header.StudyInstanceUID)}
        instance = listed.get(header.SOPInstanceUID)
        assert instance is not None, f"{path.name}: instance not listed"
        assert instance.transfer_syntax_uid == header.file_meta.TransferSyntaxUID
        received = store.read_bytes(header.SOPInstanceUID)
        assert dataset_bytes_without_meta(received) == dataset_bytes_without_meta(path), (
            f"{path.name} did not come back bit-identical"
        )


@pytest.fixture
def association(running_node: RunningNode) -> Iterator[Association]:
    """An association from the configured pynetdicom peer TESTSCU."""
    ae = AE("TESTSCU")
    for sop_class in (CTImageStorage, MRImageStorage):
        ae.add_requested_context(sop_class, UNCOMPRESSED)
    ae.add_requested_context(Verification)
    assoc = ae.associate(running_node.host, running_node.port, ae_title=running_node.ae_title)
    assert assoc.is_established
    yield assoc
    if assoc.is_established:
        assoc.release()


# ---- what a PACS sends arrives whole ----------------------------------------------------


def test_ct_and_mr_series_sent_by_storescu_read_back_bit_identical(
    running_node: RunningNode, sent: Sent
) -> None:
    result = storescu(running_node, *sent.ct_files, *sent.mr_files)
    assert result.returncode == 0, result.stderr

    studies = {s.study_uid: s for s in running_node.workstation.store.list_studies()}
    assert set(studies) == {sent.ct.study_uid, sent.mr.study_uid}
    ct = studies[sent.ct.study_uid]
    assert (ct.instances, ct.modalities, ct.patient_name) == (12, ("CT",), sent.ct.patient.name)
    assert (ct.patient_id, ct.study_date) == (sent.ct.patient.patient_id, sent.ct.study_date)
    assert studies[sent.mr.study_uid].instances == 6
    assert_stored_as_sent(running_node, sent.ct_files + sent.mr_files)


def test_compressed_instances_are_stored_as_received(running_node: RunningNode, sent: Sent) -> None:
    result = dcmsend(running_node, sent.jpeg_ls, sent.jpeg_2000)
    assert result.returncode == 0, result.stderr

    assert_stored_as_sent(running_node, [sent.jpeg_ls, sent.jpeg_2000])
    syntaxes = {
        pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        for path in (sent.jpeg_ls, sent.jpeg_2000)
    }
    assert syntaxes == {JPEG_LS_LOSSLESS, JPEG_2000}


def test_sr_report_sent_by_dcmsend_reads_back_bit_identical(
    running_node: RunningNode, sent: Sent
) -> None:
    result = dcmsend(running_node, sent.report)
    assert result.returncode == 0, result.stderr

    assert_stored_as_sent(running_node, [sent.report])
    (study,) = running_node.workstation.store.list_studies()
    assert study.modalities == ("SR",)
    report = running_node.workstation.store.open_instance(
        pydicom.dcmread(sent.report).SOPInstanceUID
    )
    assert report.VerificationFlag == "VERIFIED"


def test_import_is_audited_once_per_study_when_the_association_ends(
    running_node: RunningNode, sent: Sent
) -> None:
    result = storescu(running_node, *sent.ct_files, *sent.mr_files)
    assert result.returncode == 0, result.stderr
    audit = running_node.workstation.audit

    eventually(lambda: len(import_events(audit)) >= 2,
               what="two Import events after the association")
    by_study = {json.loads(str(e["objects"]))[0][1]: e for e in import_events(audit)}
    assert set(by_study) == {sent.ct.study_uid, sent.mr.study_uid}
    assert len(import_events(audit)) == 2
    for event in by_study.values():
        assert (event["actor"], event["outcome"], event["source"]) == ("STORESCU", 0, "127.0.0.1")
    assert by_study[sent.ct.study_uid]["detail"].startswith("12 instance(s) stored")
    assert sent.ct.patient.name not in json.dumps(import_events(audit))
    assert audit.verify() is None
    assert ImportLedger(audit).interrupted() == []  # closed with its events


def test_stopping_the_node_aborts_an_open_association_and_records_its_import(
    running_node: RunningNode, sent: Sent
) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate(running_node.host, running_node.port,
                               ae_title=running_node.ae_title)
    assert association.is_established
    assert association.send_c_store(pydicom.dcmread(sent.ct_files[0])).Status == 0x0000

    running_node.node.stop()

    eventually(lambda: association.is_aborted, what="the sender's association aborted")
    audit = running_node.workstation.audit
    (event,) = import_events(audit)
    assert json.loads(str(event["objects"])) == [["study", sent.ct.study_uid]]
    assert str(event["detail"]).startswith("1 instance(s) stored"), event["detail"]
    assert ImportLedger(audit).interrupted() == []


# ---- who may send -----------------------------------------------------------------------


def test_unknown_calling_ae_is_rejected_and_audited(running_node: RunningNode, sent: Sent) -> None:
    result = storescu(running_node, sent.ct_files[0], calling="INTRUDER")

    assert result.returncode != 0
    assert "Association Rejected" in result.stdout + result.stderr
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr
    alerts = eventually(
        lambda: [e for e in running_node.workstation.audit.events() if e["event_id"] == "110113"],
        what="a Security Alert for the rejected caller",
    )
    assert alerts[0]["actor"] == "INTRUDER"
    assert alerts[0]["outcome"] == 4
    assert "INTRUDER" in str(alerts[0]["detail"])
    assert running_node.workstation.store.list_studies() == []


def test_wrong_called_ae_is_rejected(running_node: RunningNode, sent: Sent) -> None:
    result = storescu(running_node, sent.ct_files[0], called="SOMEONE_ELSE")

    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stdout + result.stderr
    assert running_node.workstation.store.list_studies() == []


# ---- what the node refuses leaves no trace ----------------------------------------------


def every_path(directory: Path) -> set[Path]:
    return set(directory.rglob("*"))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("attribute", ["SOPInstanceUID", "StudyInstanceUID"])
def test_uid_that_looks_like_a_path_is_refused_and_nothing_is_written_outside_the_store(
    running_node: RunningNode, association: Association, tmp_path: Path, attribute: str
) -> None:
    dataset = make_instance()
    setattr(dataset, attribute, "../../x")
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    outside_before = every_path(tmp_path.parent)
    beside_cwd = Path.cwd().parent.parent / "x"  # where a relative ../../x would land
    existed = beside_cwd.exists()
    profile = running_node.workstation.paths

    status = association.send_c_store(dataset)

    assert status.Status == 0xC001
    assert "not a valid UID" in status.ErrorComment
    created = every_path(tmp_path.parent) - outside_before
    assert not [path for path in created if path.name == "x"]
    assert all(profile.root in path.parents for path in created), created
    assert beside_cwd.exists() == existed
    assert unacknowledged_data(running_node.workstation) == []
    assert object_files_with_data(running_node.workstation) == []
    assert running_node.workstation.store.list_studies() == []
    assert not running_node.workstation.store.contains("../../x")


@pytest.fixture
def raw_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``send_c_store(path)`` send the file's bytes as they are, not a re-encoding."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)


def broken_file(directory: Path, damage: str) -> tuple[Path, str]:
    """A file with valid file meta whose data set is cut short or is noise."""
    dataset = make_instance()
    whole = encode(dataset)
    body_start = len(whole) - len(dataset_bytes_without_meta(whole))
    body = {
        "cut in the header": whole[body_start : body_start + 150],
        "cut in the pixel data": whole[body_start:-50],
        "garbage": random.Random(7).randbytes(4096),
    }[damage]
    path = directory / f"{damage.replace(' ', '-')}.dcm"
    path.write_bytes(whole[:body_start] + body)
    return path, dataset.SOPInstanceUID


@pytest.mark.usefixtures("raw_sending")
@pytest.mark.parametrize("damage", ["cut in the header", "cut in the pixel data", "garbage"])
def test_broken_dataset_is_refused_and_the_node_keeps_serving(
    running_node: RunningNode, association: Association, tmp_path: Path, damage: str
) -> None:
    path, sop_uid = broken_file(tmp_path, damage)

    status = association.send_c_store(path)

    assert is_failure(status.Status), f"answered 0x{status.Status:04X} to a {damage} dataset"
    assert not running_node.workstation.store.contains(sop_uid)
    assert association.send_c_echo().Status == 0x0000
    whole = make_instance()
    assert association.send_c_store(whole).Status == 0x0000
    assert running_node.workstation.store.contains(whole.SOPInstanceUID)


def test_dataset_that_contradicts_its_request_is_refused(
    running_node: RunningNode, association: Association, tmp_path: Path, raw_sending: None
) -> None:
    dataset = make_instance()
    # The file meta (and so the request) says MR Image Storage; the data set says CT.
    # Both UIDs have 25 characters, so the meta group keeps its length.
    whole = encode(dataset)
    meta_end = len(whole) - len(dataset_bytes_without_meta(whole))
    meta = whole[:meta_end].replace(CTImageStorage.encode(), MRImageStorage.encode(), 1)
    path = tmp_path / "contradiction.dcm"
    path.write_bytes(meta + whole[meta_end:])
    assert pydicom.dcmread(path).file_meta.MediaStorageSOPClassUID == MRImageStorage

    status = association.send_c_store(path)

    assert status.Status == 0xA900
    assert running_node.workstation.store.list_studies() == []


def test_duplicate_is_acknowledged_and_the_first_copy_kept(
    running_node: RunningNode, association: Association
) -> None:
    first = make_instance(pixel_value=1)
    again = make_instance(study_uid=first.StudyInstanceUID, sop_uid=first.SOPInstanceUID,
                          pixel_value=2)

    assert association.send_c_store(first).Status == 0x0000
    assert association.send_c_store(again).Status == 0x0000

    stored = running_node.workstation.store.open_instance(first.SOPInstanceUID)
    assert stored.pixel_array[0, 0] == 1
    assert running_node.workstation.store.list_studies()[0].instances == 1


def test_disk_full_answers_out_of_resources_and_the_retry_is_stored(
    running_node: RunningNode, association: Association, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    dataset = make_instance()
    monkeypatch.setattr(os, "fsync", disk_full)
    status = association.send_c_store(dataset)
    monkeypatch.undo()

    assert status.Status == 0xA700
    assert running_node.workstation.store.list_studies() == []
    assert object_files_with_data(running_node.workstation) == []
    assert unacknowledged_data(running_node.workstation) == []
    assert association.send_c_store(dataset).Status == 0x0000
    assert running_node.workstation.store.contains(dataset.SOPInstanceUID)


def test_full_index_answers_out_of_resources(
    running_node: RunningNode, association: Association
) -> None:
    """SQLITE_FULL is a quota: the sender must hear "retry later" (A7xx), not "unparseable"."""
    assert association.send_c_store(make_instance()).Status == 0x0000
    connection = running_node.workstation.database._connection
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")

    for _ in range(500):  # new studies until the index has no page left
        status = association.send_c_store(make_instance())
        if status.Status != 0x0000:
            break
    assert status.Status == 0xA700, f"0x{status.Status:04X} {status.get('ErrorComment')}"


# ---- no patient data in clear on disk ---------------------------------------------------


def test_no_file_in_the_profile_holds_a_patient_name_or_id(
    running_node: RunningNode, tmp_path: Path
) -> None:
    plans = [small_plan(kind, 6) for kind in ("CT_CHEST", "CT_HEAD", "MR_BRAIN", "CR_CHEST")]
    files = [path for n, plan in enumerate(plans) for path in write_study(plan, tmp_path / str(n))]
    result = storescu(running_node, *files)
    assert result.returncode == 0, result.stderr
    assert len(running_node.workstation.store.list_studies()) == 4

    identifiers = set()
    for plan in plans:
        patient = plan.patient
        identifiers |= {patient.name, patient.name.split("^")[0], patient.patient_id,
                        patient.nhs_number}
    profile_files = files_below(running_node.workstation.paths.root)
    assert any(path.name.endswith("-wal") for path in profile_files), "the WAL is checked too"
    assert len(object_files_with_data(running_node.workstation)) == len(files)
    for path in profile_files:
        content = path.read_bytes()
        leaked = [i for i in identifiers if i.encode() in content]
        assert not leaked, f"{leaked} in clear in {path.relative_to(tmp_path)}"
