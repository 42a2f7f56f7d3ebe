"""Send one report SR to the trust's PACS by C-STORE (PS3.4 Annex B, PS3.7 9.1.1, PS3.8).

The outbox acts on the error class (STANDARDS §4): a ``RetryableDeliveryError`` is sent again
unchanged later (no connection, transient association rejection, abort, timeout, PACS out
of resources); a ``RejectedDelivery`` is shown to the reporter and IT and not resent
unchanged (permanent rejection, SOP class or transfer syntax refused, failure status).
"""

from __future__ import annotations

import io
import socket
import ssl

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.status import (
    GENERAL_STATUS,
    STATUS_SUCCESS,
    STATUS_WARNING,
    STORAGE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from reporting.errors import DeliveryError, RejectedDelivery, RetryableDeliveryError

TRANSIENT_REJECTION = 0x02  # A-ASSOCIATE-RJ Result "rejected-transient" (PS3.8 9.3.4)
RESOURCE_LIMITATION = 0x0213  # PS3.7 C.5.x: the peer has no capacity right now


def send_without_delay(event: evt.Event) -> None:
    """EVT_CONN_OPEN: TCP_NODELAY on the association's socket. With Nagle's algorithm and
    the peer's delayed ACK every small PDU waits ~40 ms for the ACK of the one before
    (STANDARDS §1); pynetdicom 3.0 does not set it."""
    transport = event.assoc.dul.socket
    if transport is not None and transport.socket is not None:
        transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def store_sr(sr_bytes: bytes, *, host: str, port: int, called_ae: str, calling_ae: str,
             timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
    """C-STORE the PS3.10 file ``sr_bytes`` to ``called_ae`` at ``host:port``.

    Proposes one presentation context: the SR's SOP Class in the file's transfer syntax.
    Returns once the PACS answers success or a warning (0xB000, 0xB006, 0xB007: stored,
    PS3.4 B.2.3); raises ``RetryableDeliveryError`` or ``RejectedDelivery`` otherwise.
    ``timeout`` bounds the TCP connect, the association and the wait for each response.
    """
    dataset = _read(sr_bytes)
    peer = f"{called_ae} at {host}:{port}"
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(dataset.SOPClassUID, dataset.file_meta.TransferSyntaxUID)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    connected: list[bool] = []
    association = ae.associate(
        host, port, ae_title=called_ae, tls_args=(ssl_context, host) if ssl_context else None,
        evt_handlers=[(evt.EVT_CONN_OPEN, lambda event: connected.append(True)),
                      (evt.EVT_CONN_OPEN, send_without_delay)])
    if not association.is_established:
        raise _not_established(association, peer, dataset, connected=bool(connected))
    try:
        status = association.send_c_store(dataset)
    except RuntimeError as exc:  # the association ended between acceptance and sending
        raise RetryableDeliveryError(f"the association with {peer} ended before the SR "
                                     f"was sent ({exc}); will retry") from exc
    finally:
        if association.is_established:
            association.release()
    _check_status(status, peer, timeout)


def _read(sr_bytes: bytes) -> Dataset:
    dataset = dcmread(io.BytesIO(sr_bytes))
    if "TransferSyntaxUID" not in getattr(dataset, "file_meta", {}):
        raise ValueError("the SR bytes have no File Meta Information (PS3.10 7.1)")
    return dataset


def _not_established(association: Association, peer: str, dataset: Dataset, *,
                     connected: bool) -> DeliveryError:
    """Why no association came up, as the error class the outbox acts on (PS3.8 7.1)."""
    if association.is_rejected:
        answer = association.acceptor.primitive
        reason = f"{answer.result_str} by {answer.source_str}: {answer.reason_str}"
        if answer.result == TRANSIENT_REJECTION:
            return RetryableDeliveryError(f"{peer} is busy and rejected the association "
                                          f"({reason}); will retry")
        return RejectedDelivery(f"{peer} rejected the association ({reason}): check the "
                                "AE titles configured on both sides")
    if association.rejected_contexts:
        refused = association.rejected_contexts[0]
        return RejectedDelivery(
            f"{peer} does not accept {UID(dataset.SOPClassUID).name} in "
            f"{UID(dataset.file_meta.TransferSyntaxUID).name} ({refused.status}): "
            "ask the PACS team to accept Enhanced SR")
    if not connected:
        return RetryableDeliveryError(f"cannot connect to {peer} (refused, unreachable, timed "
                                      "out or TLS failed); will retry")
    return RetryableDeliveryError(f"{peer} aborted or did not answer the association "
                                  "request; will retry")


def _check_status(status: Dataset, peer: str, timeout: float) -> None:
    """Map the C-STORE response status (PS3.4 B.2.3, PS3.7 Annex C) to stored or an error."""
    if "Status" not in status:
        raise RetryableDeliveryError(f"no C-STORE response from {peer} within {timeout:g} s, "
                                     "or the association was aborted; will retry")
    code = int(status.Status)
    if code_to_category(code) in (STATUS_SUCCESS, STATUS_WARNING):
        return
    detail = f"status 0x{code:04X} ({_meaning(code)})"
    comment = str(status.get("ErrorComment", "") or "").strip()
    if comment:
        detail += f": {comment}"
    if code >> 8 == 0xA7 or code == RESOURCE_LIMITATION:
        raise RetryableDeliveryError(f"{peer} is out of resources, {detail}; will retry")
    raise RejectedDelivery(f"{peer} refused the SR, {detail}")


def _meaning(code: int) -> str:
    known = STORAGE_SERVICE_CLASS_STATUS.get(code) or GENERAL_STATUS.get(code)
    return known[1] if known and known[1] else "unknown status"
