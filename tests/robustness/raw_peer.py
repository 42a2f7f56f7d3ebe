"""A peer that writes raw bytes to the node, and a well-behaved one that times a C-ECHO.

The raw peer builds its PDUs by hand (PS3.8 §9.3) so it can break them; its A-ASSOCIATE-RQ
is the one a real pynetdicom requestor sends, captured off a loopback socket.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

from pynetdicom import AE
from pynetdicom.sop_class import Verification

ECHO_BOUND = 2.0  # the "within 2 s": every timeout of the echoing peer


def association_request(calling_ae: str, called_ae: str) -> bytes:
    """The A-ASSOCIATE-RQ PDU (Verification only) a pynetdicom requestor sends."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        ae = AE(calling_ae)
        ae.add_requested_context(Verification)
        ae.acse_timeout = 1
        requestor = threading.Thread(
            target=lambda: ae.associate("127.0.0.1", port, ae_title=called_ae), daemon=True)
        requestor.start()
        connection, _ = listener.accept()
        with connection:
            header = _read_exactly(connection, 6)
            (length,) = struct.unpack(">L", header[2:])
            pdu = header + _read_exactly(connection, length)
        requestor.join(timeout=5)
        return pdu


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def pdu(pdu_type: int, body: bytes, *, declared: int | None = None) -> bytes:
    """A PDU with ``body``; ``declared`` overrides the length field (PS3.8 §9.3.1)."""
    length = len(body) if declared is None else declared
    return struct.pack(">BBL", pdu_type, 0, length) + body


def pdv_item(context_id: int, control: int, value: bytes, *, declared: int | None = None
             ) -> bytes:
    """One PDV item (PS3.8 §9.3.5.1); the item length counts context ID and control."""
    length = len(value) + 2 if declared is None else declared
    return struct.pack(">LBB", length, context_id, control) + value


@dataclass
class Closed:
    """How the node ended a raw connection."""

    after: float  # seconds from the offending byte to the end of the connection
    received: bytes  # what the node sent before closing


class RawPeer:
    """One TCP connection to the node, written byte by byte if need be."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = socket.create_connection((host, port), timeout=10)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> bool:
        """Send ``data``; False when the node had already closed the connection."""
        try:
            self.connection.sendall(data)
        except OSError:
            return False
        return True

    def associate(self, calling_ae: str, called_ae: str) -> bytes:
        """Send a real A-ASSOCIATE-RQ and return the node's answer PDU."""
        self.send(association_request(calling_ae, called_ae))
        header = _read_exactly(self.connection, 6)
        (length,) = struct.unpack(">L", header[2:])
        return header + _read_exactly(self.connection, length)

    def wait_closed(self, *, since: float, within: float) -> Closed:
        """Read until the node closes; raises if it has not closed ``within`` seconds."""
        received = bytearray()
        self.connection.settimeout(within)
        try:
            while chunk := self.connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"the node kept the connection open for {within} s") from None
        return Closed(time.monotonic() - since, bytes(received))

    def closed_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the node to end the connection (an A-ABORT or
        end of stream); False if it is still open then."""
        self.connection.settimeout(seconds)
        try:
            self.connection.recv(65536)  # the node sends nothing to a peer before the RQ
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.connection.close()


def timed_echo(host: str, port: int, calling_ae: str = "TESTSCU", called_ae: str = "TELERAD",
               tls_args: tuple | None = None) -> float:
    """A C-ECHO from a configured peer whose every timeout is ECHO_BOUND; returns its
    duration in seconds, raises AssertionError when it did not succeed."""
    ae = AE(calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ECHO_BOUND
    ae.connection_timeout = ECHO_BOUND
    began = time.monotonic()
    association = ae.associate(host, port, ae_title=called_ae, tls_args=tls_args)
    assert association.is_established, "the node did not accept a configured peer"
    try:
        status = association.send_c_echo()
    finally:
        association.release()
    assert status and status.Status == 0x0000, f"C-ECHO answered {status}"
    return time.monotonic() - began
