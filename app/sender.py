"""A C-STORE SCU (PS3.4 B.2.2) used by the demo to send synthetic studies over the network."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.presentation import build_context

from app.errors import TeleradError
from reporting.dicom_send import send_without_delay

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


class SendError(TeleradError):
    """The peer refused the association or an instance."""


def send_study(
    datasets: Iterable[Dataset],
    sop_classes: Iterable[str],
    *,
    host: str,
    port: int,
    called_ae: str,
    calling_ae: str,
    on_sent: Callable[[Dataset], None] = lambda _dataset: None,
) -> int:
    """Send ``datasets`` over one association; returns how many were accepted."""
    ae = AE(ae_title=calling_ae)
    ae.requested_contexts = [
        build_context(uid, [EXPLICIT_VR_LITTLE_ENDIAN]) for uid in sorted(set(sop_classes))
    ]
    association = ae.associate(host, port, ae_title=called_ae,
                               evt_handlers=[(evt.EVT_CONN_OPEN, send_without_delay)])
    if not association.is_established:
        raise SendError(f"{called_ae} at {host}:{port} did not accept the association")
    sent = 0
    try:
        for dataset in datasets:
            status = association.send_c_store(dataset)
            code = getattr(status, "Status", None)
            if code != 0x0000:
                comment = getattr(status, "ErrorComment", "no response")
                raise SendError(f"{called_ae} refused an instance: 0x{code or 0:04X} {comment}")
            sent += 1
            on_sent(dataset)
    finally:
        association.release()
    return sent
