"""The sending PACS of the robustness tests: one association, each instance C-STOREd in
turn, and the answer to each one recorded (PS3.4 B.2.3 statuses, PS3.7 C.4.2.1.4 Error
Comment). A node that dies mid-series leaves the rest unanswered, never wrongly answered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import CTImageStorage

from reporting.dicom_send import send_without_delay
from tests.helpers import dataset_bytes_without_meta, encode

SUCCESS = 0x0000
NETWORK_TIMEOUT = 30.0  # bounds a hang of one association, not a performance figure


@dataclass(frozen=True)
class Answer:
    """The node's answer to one C-STORE; ``status`` None: none came (the node died)."""

    sop_instance_uid: str
    status: int | None
    comment: str = ""

    @property
    def out_of_resources(self) -> bool:
        return self.status is not None and 0xA700 <= self.status <= 0xA7FF


def sent_digest(dataset: Dataset) -> str:
    """SHA-256 of the data set as it travels (the File Meta group differs at each end)."""
    return hashlib.sha256(dataset_bytes_without_meta(encode(dataset))).hexdigest()


def stored_digest(stored: bytes) -> str:
    return hashlib.sha256(dataset_bytes_without_meta(stored)).hexdigest()


def send_series(host: str, port: int, called_ae: str, datasets: list[Dataset],
                *, calling_ae: str = "TESTSCU") -> list[Answer]:
    """C-STORE ``datasets`` in order over one association. The list of answers ends early
    when the association is lost: its last entry is then the unanswered instance (status
    None), or it is empty if the association never came up."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate(host, port, ae_title=called_ae,
                               evt_handlers=[(evt.EVT_CONN_OPEN, send_without_delay)])
    answers: list[Answer] = []
    if not association.is_established:
        return answers
    try:
        for dataset in datasets:
            answer = _store_one(association, dataset)
            answers.append(answer)
            if answer.status is None:
                break
    finally:
        if association.is_established:
            association.release()
    return answers


def _store_one(association: Association, dataset: Dataset) -> Answer:
    uid = str(dataset.SOPInstanceUID)
    try:
        response = association.send_c_store(dataset)
    except RuntimeError:  # the association ended between two C-STOREs
        return Answer(uid, None)
    status = getattr(response, "Status", None)
    return Answer(uid, None if status is None else int(status),
                  str(getattr(response, "ErrorComment", "")))
