"""The node's guarded transport: how we drive pynetdicom's server so hostile peers cannot
starve it.

Measured on stock pynetdicom 3.0.4: it reads a PDU by its declared length (memory grows
with whatever is sent, 4 GiB may be declared), keeps a 1-byte-per-second sender forever
(its socket reads have no deadline), counts sockets that never associate against the
association limit, and performs the TLS handshake on the accept thread, so one idle TLS
socket stalls every later connection. Each fault is fixed here, in the hooks pynetdicom
offers (a server class, a request handler, the association socket), without patching it:

- every received byte passes through ``PduFraming`` (app/pdu_framing.py): PDU type and
  length, PDV items and message size are checked before anything is kept;
- a PDU must keep arriving: no read may stall longer than ``stall_seconds``, and the
  whole PDU must arrive at ``MINIMUM_RATE`` after that allowance (ARTIM's intent,
  PS3.8 §9.1.5, applied to reads);
- a connection gets threads only once its peer sends something, and connections without
  a complete A-ASSOCIATE-RQ are held in bounded numbers, the oldest giving way
  (app/pending_connections.py), so junk sockets cannot lock out a peer;
- the TLS handshake runs on the connection's own thread with a deadline.

A refused connection gets an A-ABORT (PS3.8 §9.3.8) and is closed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynetdicom import AE, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from app.pdu_framing import AbortReason, FramingLimits, PduFraming, PduRefused, abort_pdu
from app.pending_connections import OpeningConnections, QuietConnections, close, shut
from app.prompt_association import PromptAssociation

LOG = logging.getLogger(__name__)

MINIMUM_RATE = 32 * 1024  # bytes/s a PDU must average after the stall allowance
READ_CHUNK = 64 * 1024
SEND_TIMEOUT = 30.0  # a peer that stops reading our responses is dropped after this
GC_INTERVAL = 10.0

RefusalHandler = Callable[[str, str], None]  # (peer address, reason)


@dataclass(frozen=True)
class TransportLimits:
    framing: FramingLimits
    stall_seconds: float
    handshake_seconds: float
    pending_connections: int


def _abort(connection: Any, reason: AbortReason) -> None:
    """Send an A-ABORT (best effort) and shut the connection."""
    with contextlib.suppress(OSError):
        connection.settimeout(0.2)
        connection.sendall(abort_pdu(reason))
    shut(connection)


class GuardedSocket(AssociationSocket):
    """An AssociationSocket whose reads are framed, bounded in size and in time."""

    def __init__(self, assoc: Association, connection: Any, address: str,
                 server: GuardedServer) -> None:
        super().__init__(assoc, client_socket=connection)
        self._address = address
        self._server = server
        self._framing = PduFraming(server.limits.framing)
        self._pdu_started = 0.0
        self._refused = False
        self._associated = False  # counted out of the opening connections
        connection.settimeout(SEND_TIMEOUT)

    def recv(self, nr_bytes: int) -> bytearray:
        """Read ``nr_bytes`` as pynetdicom's DUL asks; a short result means the connection
        ended (pynetdicom then treats it as closed, PS3.8 §9.2 Evt17). Read straight into
        the buffer returned: a PDU is not copied on its way in."""
        received = bytearray(nr_bytes)
        filled = 0
        with memoryview(received) as buffer:
            while filled < nr_bytes and not self._refused:
                window = buffer[filled:filled + READ_CHUNK]
                try:
                    count = self._read_into(window)
                    self._framing.feed(window[:count])
                except PduRefused as refusal:
                    self._refuse(str(refusal), refusal.reason)
                    break
                if not count:
                    break
                filled += count
                if self._framing.association_requested and not self._associated:
                    self._associated = True
                    self._server.opening.forget(self.socket)
        if filled < nr_bytes:  # the connection ended (rare): a short copy
            received = received[:filled]
            if not self._framing.association_requested:
                self._end_before_association()
        return received

    def _end_before_association(self) -> None:
        """The connection ended before its A-ASSOCIATE-RQ: stop its threads now. Left to
        pynetdicom, its reactor polls until the ARTIM wait runs out, and a burst of junk
        connections becomes thousands of spinning threads."""
        dul = self.assoc.dul
        dul.kill_dul()
        dul.to_user_queue.put(None)  # ends the association's wait for the request
        self._server.opening.forget(self.socket)
        self.close()

    def _read_into(self, window: memoryview) -> int:
        now = time.monotonic()
        if self._framing.at_boundary:
            self._pdu_started = now
        stall = self._server.limits.stall_seconds
        budget = min(stall, self._deadline() - now)
        if budget <= 0:
            raise PduRefused(f"PDU not complete after {now - self._pdu_started:.1f} s",
                             AbortReason.NOT_SPECIFIED)
        connection = self.socket
        try:
            connection.settimeout(budget)
            return connection.recv_into(window)
        except TimeoutError:
            raise PduRefused(f"no data for {budget:.1f} s in the middle of a PDU",
                             AbortReason.NOT_SPECIFIED) from None
        except (OSError, AttributeError):  # closed meanwhile (AttributeError: socket is None)
            return 0
        finally:
            with contextlib.suppress(OSError, AttributeError):
                connection.settimeout(SEND_TIMEOUT)

    def _deadline(self) -> float:
        """The stall allowance, plus the declared length at the minimum rate once known."""
        length = self._framing.declared_length or 0
        return self._pdu_started + self._server.limits.stall_seconds + length / MINIMUM_RATE

    def _refuse(self, reason: str, abort: AbortReason) -> None:
        self._refused = True
        LOG.warning("connection from %s aborted: %s", self._address, reason)
        _abort(self.socket, abort)
        self._server.opening.forget(self.socket)
        self._server.on_refused(self._address, reason)


class GuardedRequestHandler(RequestHandler):
    """Runs on the connection's own thread: TLS handshake with a deadline, then the
    association with a GuardedSocket."""

    server: GuardedServer

    def handle(self) -> None:
        if isinstance(self.request, ssl.SSLSocket) and not self._handshake():
            return
        super().handle()

    def _handshake(self) -> bool:
        connection: ssl.SSLSocket = self.request
        try:
            connection.settimeout(self.server.limits.handshake_seconds)
            connection.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError and timeouts are OSErrors
            reason = f"TLS handshake failed: {exc}"
            LOG.warning("connection from %s closed: %s", self.client_address[0], reason)
            self.server.opening.forget(connection)
            close(connection)
            self.server.on_refused(self.client_address[0], reason)
            return False
        return True

    def _create_association(self) -> Association:
        """pynetdicom 3.0's RequestHandler._create_association with a PromptAssociation
        and a GuardedSocket (the socket can be set only once, and setting it queues the
        transport indication)."""
        assoc = PromptAssociation(self.ae, MODE_ACCEPTOR)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        assoc.set_socket(GuardedSocket(assoc, self.request, self.client_address[0], self.server))
        acceptor = assoc.acceptor
        acceptor.maximum_length = self.ae.maximum_pdu_size
        acceptor.ae_title = self.server.ae_title
        acceptor.address_info = self.local
        acceptor.implementation_class_uid = self.ae.implementation_class_uid
        acceptor.implementation_version_name = self.ae.implementation_version_name
        # pynetdicom deep-copies its ~170 contexts here, 16 ms per association; negotiation
        # (negotiate_as_acceptor) only reads them and builds the accepted ones afresh
        acceptor.supported_contexts = list(self.server.contexts)
        assoc.requestor.address_info = self.remote
        for event, handlers in self.server._handlers.items():
            if event.is_intervention and handlers:
                assoc.bind(event, *handlers)
            elif isinstance(event, evt.NotificationEvent):
                for handler, args in handlers:
                    assoc.bind(event, handler, args)
        assoc.unbind_silent_log_handlers()
        return assoc


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with our accept path: silent connections wait without
    threads, TLS handshakes run off the accept thread, pending connections are bounded."""

    # socketserver listens with a backlog of 5: under a burst of connections the kernel
    # drops SYNs, and a real peer's connect then waits for its 1 s SYN retry.
    request_queue_size = 128

    def __init__(self, *args: Any, limits: TransportLimits, on_refused: RefusalHandler,
                 **kwargs: Any) -> None:
        self.limits = limits
        self.on_refused = on_refused
        self.quiet = QuietConnections(limits.pending_connections, limits.handshake_seconds,
                                      self._talking)
        self.opening = OpeningConnections(limits.pending_connections)
        self._collected = time.monotonic()
        super().__init__(*args, request_handler=GuardedRequestHandler, **kwargs)

    def get_request(self) -> tuple[Any, tuple[str, int]]:
        connection, address = self.socket.accept()
        if self.ssl_context:
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        self.quiet.add(request, client_address)

    def _talking(self, request: Any, client_address: Any) -> None:
        """The peer sent its first bytes: give the connection its threads."""
        displaced = self.opening.admit(request)
        if displaced is not None:
            LOG.warning("%d connections opening: dropping the oldest for %s",
                        self.limits.pending_connections, client_address[0])
            shut(displaced)
        super().process_request(request, client_address)

    def service_actions(self) -> None:
        """pynetdicom collects garbage after every 60 connections, on the accept thread;
        under a burst of connections that is several full collections a second, each
        holding the interpreter. Once every GC_INTERVAL seconds is enough to clear the
        reference cycles finished associations leave."""
        now = time.monotonic()
        if now - self._collected > GC_INTERVAL:
            self._collected = now
            gc.collect()

    def shutdown_request(self, request: Any) -> None:
        self.opening.forget(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        self.quiet.stop()
        super().server_close()


def start_guarded_server(ae: AE, address: tuple[str, int], handlers: list,
                         ssl_context: ssl.SSLContext | None, limits: TransportLimits,
                         on_refused: RefusalHandler) -> GuardedServer:
    """Listen on ``address`` in a background thread, as ``AE.start_server(block=False)``
    does, with the guarded server in place of pynetdicom's own."""
    server = ae.make_server(address, ssl_context=ssl_context, evt_handlers=handlers,
                            server_class=GuardedServer, limits=limits, on_refused=on_refused)
    threading.Thread(target=server.serve_forever, name="DicomAcceptor", daemon=True).start()
    ae._servers.append(server)  # as start_server does: AE.shutdown() stops it
    return server
