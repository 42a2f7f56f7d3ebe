"""Signed reports reach the trust: SR in a real Orthanc, ORU^R01 at an MLLP RIS.

The PACS is Orthanc (Debian package) on loopback with a temporary storage directory; the
RIS is an MLLP listener built on hl7apy answering AA, AE, AR or nothing. The crash test
kills a real `telerad outbox send` process mid-delivery and restarts it.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pyotp
import pytest

from app.config import Peer
from app.delivery import DeliveryWorker
from app.workstation import Workstation, open_workstation
from reporting.model import PartKind, ReportState
from reporting.outbox import DeliveryStatus
from tests.helpers import eventually, small_plan
from tests.integration.test_cli import PASSPHRASE, environment
from tests.orthanc import Orthanc
from tests.reading_room import store_plan
from tests.report_desk import PASSWORD, Desk, later, open_desk
from tests.ris import RecordingRis

FINDINGS = "Spiculated right upper lobe nodule, 14 mm."


@pytest.fixture
def ris() -> Iterator[RecordingRis]:
    listener = RecordingRis("AA", timeout=30).start()
    yield listener
    listener.stop()


def _point_at_trust(workstation: Workstation, orthanc: Orthanc, ris: RecordingRis, *,
                    ack_timeout: int = 5) -> None:
    settings = workstation.settings.with_peers((
        Peer(orthanc.ae_title, orthanc.host, orthanc.dicom_port, "pacs"),))
    for key, value in (("ris.host", ris.host), ("ris.port", ris.port),
                       ("ris.ack_timeout_seconds", ack_timeout),
                       ("outbox.retry_first_seconds", 1), ("outbox.retry_max_seconds", 2)):
        settings = settings.with_value(key, value)
    workstation.save_settings(settings)


def _sign_report(desk: Desk, study_uid: str, minute: float) -> None:
    draft = desk.desk.open_draft(study_uid, PartKind.REPORT, now=later(minute))
    draft = draft.edited(sections=dict(draft.sections, findings=FINDINGS,
                                       impression="Suspicious nodule. PET-CT advised."))
    desk.desk.sign(draft, desk.code(later(minute + 1)), now=later(minute + 1))


def _sign_addendum(desk: Desk, minute: float) -> None:
    draft = desk.desk.open_draft(desk.study_uid, PartKind.ADDENDUM, now=later(minute))
    draft = draft.edited(sections={"addendum": "Nodule measures 15 mm on review."},
                         reason="Measurement revised")
    desk.desk.sign(draft, desk.code(later(minute + 1)), now=later(minute + 1))


def _deliver_until_settled(worker: DeliveryWorker, desk: Desk) -> None:
    def settled() -> bool:
        worker.deliver_due()
        return not desk.desk.outbox.pending()
    eventually(settled, within=30, what="the outbox to settle")


def _stored_sr(pacs: Orthanc, sop_instance_uid: str) -> pydicom.Dataset:
    found = pacs.find_sop(sop_instance_uid)
    assert found, f"SR {sop_instance_uid} is not in the PACS"
    return pydicom.dcmread(io.BytesIO(pacs.instance_file(found)))


def test_report_and_addendum_arrive_at_pacs_and_ris(
        workstation: Workstation, orthanc: Orthanc, ris: RecordingRis) -> None:
    desk = open_desk(workstation)
    _point_at_trust(workstation, orthanc, ris)
    _sign_report(desk, desk.study_uid, 1)
    _sign_addendum(desk, 60)
    _deliver_until_settled(DeliveryWorker(workstation), desk)

    report = desk.desk.report(desk.study_uid)
    assert report.state is ReportState.ADDENDED
    entries = desk.desk.outbox.entries(study_uid=desk.study_uid)
    assert [e.status for e in entries] == [DeliveryStatus.ACKNOWLEDGED] * 4
    first, second = (_stored_sr(orthanc, part.sr_sop_instance_uid) for part in report.parts)
    assert first.StudyInstanceUID == second.StudyInstanceUID == desk.study_uid
    assert first.PatientID == second.PatientID and first.VerificationFlag == "VERIFIED"
    predecessor = second.PredecessorDocumentsSequence[0]
    referenced = predecessor.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == first.SOPInstanceUID
    statuses = [m.split("\r")[3].split("|")[25] for m in ris.received]  # OBR-25
    assert statuses == ["F", "C"]
    assert all(FINDINGS in message for message in ris.received)
    assert workstation.store.list_studies()[0].study_uid  # the store still serves the study
    delivered = workstation.database.query(
        "SELECT report_delivered_at FROM studies WHERE study_uid = ?", (desk.study_uid,))
    assert delivered[0]["report_delivered_at"]  # turnaround stops, retention may start
    exports = [e for e in workstation.audit.events() if e["event_id"] == "110106"]
    assert len(exports) == 4 and all(e["outcome"] == 0 for e in exports)


def test_ris_answering_ar_or_nothing_gets_the_same_message_again(
        workstation: Workstation, orthanc: Orthanc, ris: RecordingRis) -> None:
    desk = open_desk(workstation)
    _point_at_trust(workstation, orthanc, ris, ack_timeout=1)
    ris.behaviour = ["AR", "silent", "AA"]
    _sign_report(desk, desk.study_uid, 1)
    _deliver_until_settled(DeliveryWorker(workstation), desk)
    assert len(ris.received) == 3
    assert len(set(ris.received)) == 1  # byte-identical, same MSH-10 each time
    ris_entry = next(e for e in desk.desk.outbox.entries() if e.destination == "ris")
    assert ris_entry.status is DeliveryStatus.ACKNOWLEDGED and ris_entry.attempts == 3


def test_ris_answering_ae_stops_and_shows_why(
        workstation: Workstation, orthanc: Orthanc, ris: RecordingRis) -> None:
    desk = open_desk(workstation)
    _point_at_trust(workstation, orthanc, ris)
    ris.behaviour = "AE"
    _sign_report(desk, desk.study_uid, 1)
    worker = DeliveryWorker(workstation)
    _deliver_until_settled(worker, desk)
    ris_entry = next(e for e in desk.desk.outbox.entries() if e.destination == "ris")
    assert ris_entry.status is DeliveryStatus.FAILED
    assert ris_entry.shown_status.startswith("failed:") and len(ris.received) == 1
    worker.deliver_due()
    assert len(ris.received) == 1  # not resent unchanged
    assert "failed" in desk.desk.delivery_lines(desk.study_uid)[1]


def test_sealed_outbox_is_delivered_once_a_reader_signs_in(
        tmp_path: Path, orthanc: Orthanc, ris: RecordingRis,
        passphrase_profile: Path) -> None:
    root = passphrase_profile
    workstation = open_workstation(root)
    try:
        desk = open_desk(workstation)
        for reader in ("alice", "bob"):  # every reader holds a slot: the profile is protected
            workstation.grant_reading_key(reader, PASSWORD)
        _point_at_trust(workstation, orthanc, ris)
        _sign_report(desk, desk.study_uid, 1)
        sr_uid = desk.desk.report(desk.study_uid).original.sr_sop_instance_uid
        secret = desk.directory.credentials("alice").totp_secret  # type: ignore[union-attr]
    finally:
        workstation.close()
    env = {**environment(tmp_path), "TELERAD_PASSPHRASE": PASSPHRASE}
    command = [sys.executable, "-m", "app.cli", "--profile", str(root), "outbox", "send"]
    locked = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert locked.returncode == 1 and "sign in" in locked.stderr
    signed_in = {**env, "TELERAD_PASSWORD": PASSWORD, "TELERAD_CODE": pyotp.TOTP(secret).now()}
    sent = subprocess.run([*command, "--user", "alice", "--wait", "30"], env=signed_in,
                          capture_output=True, text=True, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert orthanc.find_sop(sr_uid) and FINDINGS in ris.received[0]


def test_killed_outbox_process_delivers_everything_exactly_once_after_restart(
        tmp_path: Path, orthanc: Orthanc, ris: RecordingRis,
        passphrase_profile: Path) -> None:
    root = passphrase_profile
    workstation = open_workstation(root)
    try:
        desk = open_desk(workstation)
        _point_at_trust(workstation, orthanc, ris, ack_timeout=30)
        plans = [small_plan("CT_HEAD", 1), small_plan("CR_CHEST", 1)]
        for plan in plans:
            store_plan(workstation.store, plan, reporter="alice")
        study_uids = [desk.study_uid, *(p.study_uid for p in plans)]
        for number, study_uid in enumerate(study_uids):
            _sign_report(desk, study_uid, 2 * number + 1)
    finally:
        workstation.close()
    ris.behaviour = ["AA", "silent", "AA"]  # the second report's ORU hangs: kill then
    env = {**environment(tmp_path), "TELERAD_PASSPHRASE": PASSPHRASE}
    command = [sys.executable, "-m", "app.cli", "--profile", str(root), "outbox", "send",
               "--wait", "60"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    eventually(lambda: len(ris.received) >= 2, within=60, what="the second ORU to arrive")
    first.send_signal(signal.SIGKILL)
    first.communicate()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    ids = ris.control_ids()
    assert len(set(ids)) == 3  # every report reached the RIS
    acknowledged = ids[:1] + ids[2:]  # the copy that hung was never acknowledged
    assert sorted(acknowledged) == sorted(set(ids))  # each acknowledged exactly once
    srs = [i for i in orthanc.instances()
           if pydicom.dcmread(io.BytesIO(orthanc.instance_file(i))).Modality == "SR"]
    assert len(srs) == 3
