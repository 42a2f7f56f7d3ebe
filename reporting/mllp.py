"""MLLP client: one ORU^R01 out, one ACK back (HL7 v2.5.1 Appendix C; STANDARDS §4).

A block is 0x0B, the message in UTF-8 (MSH-18 ``UNICODE UTF-8``), then 0x1C 0x0D. Optional
TLS wraps the connection; the ACK decides what the outbox does next: AA delivered, AE
rejected (do not resend unchanged), AR, timeout or a broken connection retried.
"""

from __future__ import annotations

import socket
import ssl
import time

from reporting.errors import RejectedDelivery, RetryableDeliveryError
from reporting.hl7 import Ack, Hl7Error, message_control_id, parse_ack

START_BLOCK = "\x0b"
END_BLOCK = "\x1c\r"
ENCODING = "utf-8"


def frame(message: str) -> bytes:
    """``message`` as one MLLP block."""
    return f"{START_BLOCK}{message}{END_BLOCK}".encode(ENCODING)


def _read_block(connection: socket.socket, deadline: float) -> str:
    """Read up to the end of one block, within ``deadline`` (time.monotonic) for all of it."""
    received = b""
    end = END_BLOCK.encode(ENCODING)
    while end not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer in time")
        connection.settimeout(remaining)
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the connection closed without an answer")
        received += chunk
    block = received[:received.index(end)]
    start = block.find(START_BLOCK.encode(ENCODING))
    if start < 0:
        raise ConnectionError("the answer is not an MLLP block (no start byte 0x0B)")
    return block[start + 1:].decode(ENCODING, errors="replace")


def exchange(host: str, port: int, message: str, *, timeout: float,
             ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> str:
    """Send ``message`` in one MLLP block and return the one block answered.

    ``timeout`` bounds connecting, and separately the whole of sending and reading the answer.
    With ``ssl_context`` the connection is TLS; the certificate is checked against
    ``server_hostname`` (default ``host``) when the context checks host names.
    """
    with socket.create_connection((host, port), timeout=timeout) as plain:
        connection = plain
        if ssl_context is not None:
            connection = ssl_context.wrap_socket(plain, server_hostname=server_hostname or host)
        with connection:
            deadline = time.monotonic() + timeout
            connection.sendall(frame(message))
            return _read_block(connection, deadline)


def deliver_oru(host: str, port: int, message: str, *, timeout: float,
                ssl_context: ssl.SSLContext | None = None,
                server_hostname: str | None = None) -> Ack:
    """Deliver an ORU^R01 and return the RIS's AA (STANDARDS §4).

    Raises RetryableDeliveryError for a network failure, a timeout, no or a garbled answer,
    an ACK for another message (MSA-2 is not our MSH-10) or AR; RejectedDelivery for AE.
    """
    where = f"RIS {host}:{port}"
    try:
        sent_id = message_control_id(message)
    except Hl7Error as error:
        raise RejectedDelivery(f"{where}: the message to send is not HL7 ({error})") from error
    try:
        answer = exchange(host, port, message, timeout=timeout, ssl_context=ssl_context,
                          server_hostname=server_hostname)
    except TimeoutError as error:
        raise RetryableDeliveryError(f"{where}: no answer within {timeout:g} s") from error
    except ssl.SSLError as error:
        raise RetryableDeliveryError(f"{where}: TLS failed: {error.reason or error}") from error
    except OSError as error:
        raise RetryableDeliveryError(f"{where}: {error.strerror or error}") from error
    try:
        ack = parse_ack(answer)
    except RetryableDeliveryError as error:
        raise RetryableDeliveryError(f"{where}: {error}") from error
    return _judged(ack, sent_id, where)


def _judged(ack: Ack, sent_id: str, where: str) -> Ack:
    """The AA for ``sent_id``, or the delivery error its ACK means (STANDARDS §4)."""
    if ack.control_id != sent_id:
        raise RetryableDeliveryError(
            f"{where}: the ACK is for message {ack.control_id!r}, not {sent_id!r}; "
            "sending again")
    reason = f": {ack.text}" if ack.text else ""
    if ack.code == "AR":
        raise RetryableDeliveryError(f"{where} could not take the message now (AR){reason}")
    if ack.code == "AE":
        raise RejectedDelivery(f"{where} refused the message (AE){reason}")
    return ack
